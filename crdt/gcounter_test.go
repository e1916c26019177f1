package crdt

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// gcounterSpec describes GCounter's updates to the law harness.
var gcounterSpec = opSpec[*GCounter]{
	New: func() *GCounter { return &GCounter{} },
	Op: func(r *rand.Rand, replica ReplicaID, c *GCounter) *GCounter {
		return c.Increment(replica, r.Uint64N(5)) // zero included
	},
	Value: func(c *GCounter) any { return c.Value() },
}

func TestGCounterLaws(t *testing.T) {
	checkLaws(t, "GCounter", historyGen(gcounterSpec))
	checkConvergence(t, "GCounter", gcounterSpec)
}

// addStates adds the encodings of n states from gen to a fuzz corpus.
func addStates[P CRDT[P]](f *testing.F, n int, gen func(r *rand.Rand) P) {
	f.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		data, err := gen(r).MarshalBinary()
		require.NoError(f, err)
		f.Add(data)
	}
}

func gcounterOf(slots map[ReplicaID]uint64) *GCounter {
	var c GCounter
	for replica, n := range slots {
		c.Increment(replica, n)
	}
	return &c
}

func TestGCounterIncrement(t *testing.T) {
	tests := []struct {
		name      string
		ops       []counterSlot
		wantValue uint64
		wantSlots map[ReplicaID]uint64
		wantDelta map[ReplicaID]uint64
	}{
		{name: "zero value", wantSlots: map[ReplicaID]uint64{}},
		{
			name:      "one replica",
			ops:       []counterSlot{{"a", 2}, {"a", 3}},
			wantValue: 5,
			wantSlots: map[ReplicaID]uint64{"a": 5},
			wantDelta: map[ReplicaID]uint64{"a": 5},
		},
		{
			name:      "replicas out of order",
			ops:       []counterSlot{{"c", 1}, {"a", 2}, {"b", 4}, {"a", 1}},
			wantValue: 8,
			wantSlots: map[ReplicaID]uint64{"a": 3, "b": 4, "c": 1},
			wantDelta: map[ReplicaID]uint64{"a": 3},
		},
		{
			name:      "increment by zero adds no slot",
			ops:       []counterSlot{{"a", 0}},
			wantSlots: map[ReplicaID]uint64{},
			wantDelta: map[ReplicaID]uint64{},
		},
		{
			name:      "increment by zero of an existing slot",
			ops:       []counterSlot{{"a", 4}, {"a", 0}},
			wantValue: 4,
			wantSlots: map[ReplicaID]uint64{"a": 4},
			wantDelta: map[ReplicaID]uint64{"a": 4},
		},
		{
			name:      "slot saturates at MaxCounter",
			ops:       []counterSlot{{"a", MaxCounter - 1}, {"a", 5}},
			wantValue: MaxCounter,
			wantSlots: map[ReplicaID]uint64{"a": MaxCounter},
			wantDelta: map[ReplicaID]uint64{"a": MaxCounter},
		},
		{
			name:      "an increment by MaxUint64 saturates",
			ops:       []counterSlot{{"a", 3}, {"a", math.MaxUint64}},
			wantValue: MaxCounter,
			wantSlots: map[ReplicaID]uint64{"a": MaxCounter},
			wantDelta: map[ReplicaID]uint64{"a": MaxCounter},
		},
		{
			name:      "sum saturates",
			ops:       []counterSlot{{"a", MaxCounter}, {"b", MaxCounter}, {"c", MaxCounter}, {"d", MaxCounter}},
			wantValue: math.MaxUint64,
			wantSlots: map[ReplicaID]uint64{"a": MaxCounter, "b": MaxCounter, "c": MaxCounter, "d": MaxCounter},
			wantDelta: map[ReplicaID]uint64{"d": MaxCounter},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c GCounter
			var delta *GCounter
			for _, op := range tt.ops {
				delta = c.Increment(op.replica, op.value)
			}
			assert.Equal(t, tt.wantValue, c.Value())
			assert.Equal(t, len(tt.wantSlots), c.Len())
			for replica, n := range tt.wantSlots {
				assert.Equal(t, n, c.Slot(replica), "slot %s", replica)
			}
			if delta != nil {
				assert.True(t, delta.Equal(gcounterOf(tt.wantDelta)), "delta %v", delta.slots)
			}
			assert.Zero(t, c.Slot("no such replica"))
			assert.Equal(t, fmt.Sprintf("GCounter(%d)", tt.wantValue), c.String())
		})
	}
}

func TestGCounterIncrementEmptyReplicaPanics(t *testing.T) {
	var c GCounter
	assert.Panics(t, func() { c.Increment("", 1) })
}

func TestGCounterDeltaIsDetached(t *testing.T) {
	var c GCounter
	delta := c.Increment("a", 1)
	c.Increment("a", 1)
	assert.Equal(t, uint64(1), delta.Value())
}

func TestGCounterMerge(t *testing.T) {
	tests := []struct {
		name        string
		receiver    map[ReplicaID]uint64
		other       map[ReplicaID]uint64
		want        map[ReplicaID]uint64
		wantChanged bool
	}{
		{name: "both empty", want: map[ReplicaID]uint64{}},
		{
			name:     "other empty",
			receiver: map[ReplicaID]uint64{"a": 1},
			want:     map[ReplicaID]uint64{"a": 1},
		},
		{
			name:        "receiver empty",
			other:       map[ReplicaID]uint64{"a": 1, "b": 2},
			want:        map[ReplicaID]uint64{"a": 1, "b": 2},
			wantChanged: true,
		},
		{
			name:     "other smaller",
			receiver: map[ReplicaID]uint64{"a": 5, "b": 2},
			other:    map[ReplicaID]uint64{"a": 3, "b": 2},
			want:     map[ReplicaID]uint64{"a": 5, "b": 2},
		},
		{
			name:        "per-replica max",
			receiver:    map[ReplicaID]uint64{"a": 5, "b": 2},
			other:       map[ReplicaID]uint64{"a": 3, "b": 7},
			want:        map[ReplicaID]uint64{"a": 5, "b": 7},
			wantChanged: true,
		},
		{
			name:        "interleaved new replicas",
			receiver:    map[ReplicaID]uint64{"b": 1, "d": 4},
			other:       map[ReplicaID]uint64{"a": 2, "c": 3, "d": 1, "e": 9},
			want:        map[ReplicaID]uint64{"a": 2, "b": 1, "c": 3, "d": 4, "e": 9},
			wantChanged: true,
		},
		{
			name:        "new replica after all of the receiver's",
			receiver:    map[ReplicaID]uint64{"a": 1, "b": 1},
			other:       map[ReplicaID]uint64{"c": 1},
			want:        map[ReplicaID]uint64{"a": 1, "b": 1, "c": 1},
			wantChanged: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			receiver := gcounterOf(tt.receiver)
			other := gcounterOf(tt.other)
			otherBefore := other.Clone()
			assert.Equal(t, tt.wantChanged, receiver.Merge(other))
			assert.True(t, receiver.Equal(gcounterOf(tt.want)), "got %v", receiver.slots)
			assert.True(t, other.Equal(otherBefore), "merge changed its argument")
		})
	}
	t.Run("nil other", func(t *testing.T) {
		c := gcounterOf(map[ReplicaID]uint64{"a": 1})
		assert.False(t, c.Merge(nil))
	})
}

func TestGCounterEqual(t *testing.T) {
	var empty GCounter
	one := gcounterOf(map[ReplicaID]uint64{"a": 1})
	tests := []struct {
		name string
		a, b *GCounter
		want bool
	}{
		{"nil and nil", nil, nil, true},
		{"nil and empty", nil, &empty, true},
		{"empty and nil", &empty, nil, true},
		{"nil and non-empty", nil, one, false},
		{"same slots", one, gcounterOf(map[ReplicaID]uint64{"a": 1}), true},
		{"different value", one, gcounterOf(map[ReplicaID]uint64{"a": 2}), false},
		{"different replica", one, gcounterOf(map[ReplicaID]uint64{"b": 1}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.a.Equal(tt.b))
		})
	}
}

func TestGCounterCloneIsDeep(t *testing.T) {
	c := gcounterOf(map[ReplicaID]uint64{"a": 1, "b": 2})
	clone := c.Clone()
	c.Increment("a", 10)
	assert.Equal(t, uint64(1), clone.Slot("a"))
	assert.Equal(t, uint64(3), clone.Value())
}

func TestGCounterProtoRoundTrip(t *testing.T) {
	for _, slots := range []map[ReplicaID]uint64{
		nil,
		{"a": 1},
		{"node-1:7000#00ff": math.MaxUint64, "b": 3, "a": 9},
	} {
		c := gcounterOf(slots)
		data, err := c.MarshalBinary()
		require.NoError(t, err)
		var decoded GCounter
		require.NoError(t, decoded.UnmarshalBinary(data))
		assert.True(t, c.Equal(&decoded), "slots %v", slots)
	}
}

func TestGCounterFromProto(t *testing.T) {
	dot := func(replica string, n uint64) *messages.Dot { return &messages.Dot{Replica: replica, Counter: n} }
	tests := []struct {
		name    string
		pb      *messages.GCounter
		want    map[ReplicaID]uint64
		wantErr string
	}{
		{name: "nil message", pb: nil, want: map[ReplicaID]uint64{}},
		{name: "unsorted slots", pb: &messages.GCounter{Slots: []*messages.Dot{dot("b", 2), dot("a", 1)}}, want: map[ReplicaID]uint64{"a": 1, "b": 2}},
		{name: "empty replica", pb: &messages.GCounter{Slots: []*messages.Dot{dot("", 2)}}, wantErr: "empty replica"},
		{name: "zero slot", pb: &messages.GCounter{Slots: []*messages.Dot{dot("a", 0)}}, wantErr: "zero slot"},
		{name: "nil slot", pb: &messages.GCounter{Slots: []*messages.Dot{nil}}, wantErr: "empty replica"},
		{name: "duplicate replica", pb: &messages.GCounter{Slots: []*messages.Dot{dot("a", 1), dot("b", 1), dot("a", 2)}}, wantErr: `duplicate replica slot "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := GCounterFromProto(tt.pb)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrDecode)
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.True(t, c.Equal(gcounterOf(tt.want)))
		})
	}
}

func TestGCounterUnmarshalErrorLeavesReceiver(t *testing.T) {
	c := gcounterOf(map[ReplicaID]uint64{"a": 1})
	before := c.Clone()
	dup, err := proto.Marshal(&messages.GCounter{Slots: []*messages.Dot{{Replica: "x", Counter: 1}, {Replica: "x", Counter: 2}}})
	require.NoError(t, err)
	for _, data := range [][]byte{{0xff}, dup} {
		require.ErrorIs(t, c.UnmarshalBinary(data), ErrDecode)
		assert.True(t, c.Equal(before))
	}
}

// checkDecodeRoundTrip is the property of every decode fuzz target: data
// decodes into a value or an error wrapping ErrDecode that leaves the
// receiver as it was, and a decoded value re-encodes and decodes to an
// Equal value.
func checkDecodeRoundTrip[P CRDT[P]](t *testing.T, data []byte, fresh func() P) {
	t.Helper()
	decoded := fresh()
	before := decoded.Clone()
	if err := decoded.UnmarshalBinary(data); err != nil {
		require.ErrorIs(t, err, ErrDecode)
		require.True(t, decoded.Equal(before), "a failed decode changed the receiver")
		return
	}
	encoded, err := decoded.MarshalBinary()
	require.NoError(t, err)
	again := fresh()
	require.NoError(t, again.UnmarshalBinary(encoded))
	require.True(t, decoded.Equal(again), "decode(encode(decode(data))) differs from decode(data)")
}

// addEncodings adds the encodings of protobuf messages to a fuzz corpus.
func addEncodings(f *testing.F, msgs ...proto.Message) {
	f.Helper()
	for _, m := range msgs {
		data, err := proto.Marshal(m)
		require.NoError(f, err)
		f.Add(data)
	}
}

// junkSeeds are inputs that are not the encoding of anything in particular.
var junkSeeds = [][]byte{
	nil,
	{0x00},
	{0xff},
	{0x0a},
	{0x0a, 0x05, 0x0a, 0x01},
	{0x0a, 0x80, 0x80, 0x80, 0x80, 0x10},
	[]byte("not a protobuf message"),
	{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
}

func FuzzGCounterDecode(f *testing.F) {
	addStates(f, 8, historyGen(gcounterSpec))
	for _, junk := range junkSeeds {
		f.Add(junk)
	}
	addEncodings(f,
		&messages.GCounter{Slots: []*messages.Dot{{Replica: "a", Counter: 1}, {Replica: "a", Counter: 2}}},
		&messages.GCounter{Slots: []*messages.Dot{{Replica: "", Counter: 1}}},
		&messages.GCounter{Slots: []*messages.Dot{{Replica: "a", Counter: 0}}},
		&messages.GCounter{Slots: []*messages.Dot{{Replica: "b", Counter: 1}, {Replica: "a", Counter: math.MaxUint64}}},
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeRoundTrip(t, data, func() *GCounter { return gcounterOf(map[ReplicaID]uint64{"z": 1}) })
	})
}
