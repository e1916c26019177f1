package crdt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/messages"
)

// pncounterSpec describes PNCounter's updates to the law harness.
var pncounterSpec = opSpec[*PNCounter]{
	New: func() *PNCounter { return &PNCounter{} },
	Op: func(r *rand.Rand, replica ReplicaID, c *PNCounter) *PNCounter {
		if r.IntN(2) == 0 {
			return c.Increment(replica, r.Uint64N(5)+1)
		}
		return c.Decrement(replica, r.Uint64N(5)+1)
	},
	Value: func(c *PNCounter) any { return c.Value() },
}

func TestPNCounterLaws(t *testing.T) {
	checkLaws(t, "PNCounter", historyGen(pncounterSpec))
	checkConvergence(t, "PNCounter", pncounterSpec)
}

// pnOp is one operation on a PNCounter: an increment, or a decrement if n
// is negative.
type pnOp struct {
	replica ReplicaID
	n       int64
}

func pnCounterOf(ops ...pnOp) *PNCounter {
	var c PNCounter
	for _, op := range ops {
		c.apply(op)
	}
	return &c
}

func (c *PNCounter) apply(op pnOp) *PNCounter {
	if op.n < 0 {
		return c.Decrement(op.replica, uint64(-op.n))
	}
	return c.Increment(op.replica, uint64(op.n))
}

func TestPNCounterValue(t *testing.T) {
	tests := []struct {
		name string
		ops  []pnOp
		want int64
	}{
		{name: "zero value", want: 0},
		{name: "increments", ops: []pnOp{{"a", 3}, {"b", 4}}, want: 7},
		{name: "decrements", ops: []pnOp{{"a", -3}, {"b", -4}}, want: -7},
		{name: "both", ops: []pnOp{{"a", 3}, {"a", -5}, {"b", 1}}, want: -1},
		{name: "clamped above", ops: []pnOp{{"a", math.MaxInt64}, {"b", math.MaxInt64}}, want: math.MaxInt64},
		{name: "exactly MaxInt64", ops: []pnOp{{"a", int64(MaxCounter)}, {"b", int64(MaxCounter) - 1}}, want: math.MaxInt64},
		{name: "exactly MinInt64", ops: []pnOp{{"a", -int64(MaxCounter)}, {"b", -int64(MaxCounter)}}, want: math.MinInt64},
		{name: "slot saturates at MaxCounter", ops: []pnOp{{"a", math.MaxInt64}}, want: int64(MaxCounter)},
		{name: "clamped below", ops: []pnOp{{"a", -math.MaxInt64}, {"b", -math.MaxInt64}}, want: math.MinInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pnCounterOf(tt.ops...)
			assert.Equal(t, tt.want, c.Value())
			assert.Equal(t, fmt.Sprintf("PNCounter(%d)", tt.want), c.String())
		})
	}
}

func TestPNCounterDeltas(t *testing.T) {
	var c PNCounter
	c.Increment("a", 5)
	c.Decrement("b", 1)
	inc := c.Increment("a", 2)
	dec := c.Decrement("a", 3)

	assert.True(t, inc.Equal(pnCounterOf(pnOp{"a", 7})), "increment delta")
	assert.Equal(t, 0, inc.Decrements().Len())
	assert.Equal(t, uint64(3), dec.Decrements().Slot("a"))
	assert.Equal(t, 0, dec.Increments().Len())

	// Deltas merged in any order rebuild the state of the replica that made
	// them, given the earlier state.
	var peer PNCounter
	peer.Merge(dec)
	peer.Merge(inc)
	peer.Merge(pnCounterOf(pnOp{"b", -1}))
	assert.True(t, peer.Equal(&c))
	assert.Equal(t, int64(3), peer.Value())
}

func TestPNCounterMerge(t *testing.T) {
	tests := []struct {
		name        string
		receiver    []pnOp
		other       []pnOp
		want        int64
		wantChanged bool
	}{
		{name: "both empty"},
		{name: "other empty", receiver: []pnOp{{"a", 1}}, want: 1},
		{name: "increments only", receiver: []pnOp{{"a", 1}}, other: []pnOp{{"a", 3}}, want: 3, wantChanged: true},
		{name: "decrements only", receiver: []pnOp{{"a", -1}}, other: []pnOp{{"b", -3}}, want: -4, wantChanged: true},
		{name: "halves merge separately", receiver: []pnOp{{"a", 5}, {"a", -1}}, other: []pnOp{{"a", 2}, {"a", -4}}, want: 1, wantChanged: true},
		{name: "nothing new", receiver: []pnOp{{"a", 5}, {"a", -4}}, other: []pnOp{{"a", 2}, {"a", -4}}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			receiver := pnCounterOf(tt.receiver...)
			assert.Equal(t, tt.wantChanged, receiver.Merge(pnCounterOf(tt.other...)))
			assert.Equal(t, tt.want, receiver.Value())
		})
	}
	t.Run("nil other", func(t *testing.T) {
		assert.False(t, pnCounterOf(pnOp{"a", 1}).Merge(nil))
	})
}

func TestPNCounterEqualAndClone(t *testing.T) {
	var empty PNCounter
	c := pnCounterOf(pnOp{"a", 1}, pnOp{"b", -1})
	assert.True(t, (*PNCounter)(nil).Equal(&empty))
	assert.True(t, empty.Equal(nil))
	assert.False(t, c.Equal(nil))
	assert.False(t, c.Equal(pnCounterOf(pnOp{"a", 1})))
	assert.False(t, c.Equal(pnCounterOf(pnOp{"a", 1}, pnOp{"b", 1})), "same value is not same state")

	clone := c.Clone()
	assert.True(t, clone.Equal(c))
	c.Increment("a", 1)
	c.Decrement("b", 1)
	assert.Equal(t, int64(0), clone.Value())
}

func TestPNCounterFromProto(t *testing.T) {
	slot := func(replica string, n uint64) *messages.GCounter {
		return &messages.GCounter{Slots: []*messages.Dot{{Replica: replica, Counter: n}}}
	}
	tests := []struct {
		name    string
		pb      *messages.PNCounter
		want    int64
		wantErr string
	}{
		{name: "nil message"},
		{name: "nil halves", pb: &messages.PNCounter{}},
		{name: "both halves", pb: &messages.PNCounter{Inc: slot("a", 5), Dec: slot("a", 2)}, want: 3},
		{name: "bad increments", pb: &messages.PNCounter{Inc: slot("a", 0)}, wantErr: "PNCounter increments"},
		{name: "bad decrements", pb: &messages.PNCounter{Dec: slot("", 1)}, wantErr: "PNCounter decrements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := PNCounterFromProto(tt.pb)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrDecode)
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.Value())
		})
	}
}

func TestPNCounterBinaryRoundTrip(t *testing.T) {
	c := pnCounterOf(pnOp{"a", 5}, pnOp{"b", -7}, pnOp{"c", 1})
	data, err := c.MarshalBinary()
	require.NoError(t, err)
	var decoded PNCounter
	require.NoError(t, decoded.UnmarshalBinary(data))
	assert.True(t, c.Equal(&decoded))

	require.ErrorIs(t, decoded.UnmarshalBinary([]byte{0xff}), ErrDecode)
	assert.True(t, c.Equal(&decoded), "a failed decode changed the receiver")
}

func FuzzPNCounterDecode(f *testing.F) {
	addStates(f, 8, historyGen(pncounterSpec))
	for _, junk := range junkSeeds {
		f.Add(junk)
	}
	addEncodings(f,
		&messages.PNCounter{Inc: &messages.GCounter{Slots: []*messages.Dot{{Replica: "a", Counter: 0}}}},
		&messages.PNCounter{Dec: &messages.GCounter{Slots: []*messages.Dot{{Replica: "a", Counter: 1}, {Replica: "a", Counter: 1}}}},
		&messages.PNCounter{Inc: &messages.GCounter{}, Dec: &messages.GCounter{}},
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeRoundTrip(t, data, func() *PNCounter { return pnCounterOf(pnOp{"z", 1}, pnOp{"y", -2}) })
	})
}

// benchReplicas returns n replica IDs shaped like the ring's.
func benchReplicas(n int) []ReplicaID {
	replicas := make([]ReplicaID, n)
	for i := range replicas {
		replicas[i] = NewReplicaID(fmt.Sprintf("10.0.%d.%d:7000", i/256, i%256))
	}
	return replicas
}

// benchPNCounter returns a counter in which every one of replicas has
// incremented and decremented.
func benchPNCounter(replicas []ReplicaID, seed uint64) *PNCounter {
	r := rand.New(rand.NewPCG(seed, 0))
	var c PNCounter
	for _, replica := range replicas {
		c.Increment(replica, 1+r.Uint64N(1000))
		c.Decrement(replica, 1+r.Uint64N(1000))
	}
	return &c
}

// BenchmarkPNCounterMerge merges a 100-replica counter the way gossip does.
// "unchanged": a state the receiver already covers (the common case of a
// gossip round). "one-new-increment": the sender made one increment since.
// "half-new-replicas": the receiver knows only half the replicas, so the
// merge grows it (the clone of the receiver is part of the figure).
func BenchmarkPNCounterMerge(b *testing.B) {
	replicas := benchReplicas(100)
	b.Run("unchanged", func(b *testing.B) {
		receiver := benchPNCounter(replicas, 1)
		other := benchPNCounter(replicas, 2)
		receiver.Merge(other)
		b.ReportAllocs()
		for b.Loop() {
			receiver.Merge(other)
		}
	})
	b.Run("one-new-increment", func(b *testing.B) {
		receiver := benchPNCounter(replicas, 1)
		other := benchPNCounter(replicas, 2)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			other.Increment(replicas[i%len(replicas)], 1)
			i++
			receiver.Merge(other)
		}
	})
	b.Run("half-new-replicas", func(b *testing.B) {
		half := benchPNCounter(replicas[:50], 1)
		other := benchPNCounter(replicas, 2)
		b.ReportAllocs()
		for b.Loop() {
			receiver := half.Clone()
			receiver.Merge(other)
		}
	})
}

func BenchmarkPNCounterEncode(b *testing.B) {
	c := benchPNCounter(benchReplicas(100), 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPNCounterDecode(b *testing.B) {
	data, err := benchPNCounter(benchReplicas(100), 1).MarshalBinary()
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var c PNCounter
		if err := c.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}
