package crdt

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

func vclockOf(counters map[ReplicaID]uint64) *VClock {
	var v VClock
	for replica, counter := range counters {
		v.Advance(replica, counter)
	}
	return &v
}

func TestDotString(t *testing.T) {
	assert.Equal(t, "a:3", Dot{Replica: "a", Counter: 3}.String())
}

func TestCompareDots(t *testing.T) {
	tests := []struct {
		a, b Dot
		want int
	}{
		{Dot{"a", 1}, Dot{"a", 1}, 0},
		{Dot{"a", 1}, Dot{"a", 2}, -1},
		{Dot{"a", 9}, Dot{"b", 1}, -1},
		{Dot{"b", 1}, Dot{"a", 9}, 1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, compareDots(tt.a, tt.b), "%v vs %v", tt.a, tt.b)
	}
}

func TestVClockZeroValue(t *testing.T) {
	var v VClock
	assert.Zero(t, v.Get("a"))
	assert.Zero(t, v.Len())
	assert.Equal(t, "{}", v.String())
	assert.True(t, v.Equal(&VClock{}))
	assert.True(t, v.Descends(&VClock{}))
	assert.False(t, v.Contains(Dot{"a", 1}))

	var nilClock *VClock
	assert.Zero(t, nilClock.Get("a"))
	assert.Zero(t, nilClock.Len())
	assert.Equal(t, "{}", nilClock.String())
	assert.True(t, nilClock.Equal(&v))
	assert.True(t, v.Descends(nilClock))
	assert.True(t, nilClock.Clone().Equal(&v))
	assert.False(t, v.Merge(nilClock))
	assert.Empty(t, nilClock.ToProto().GetEntries())
	for range nilClock.All() {
		t.Fatal("a nil clock has no entries")
	}
}

func TestVClockAdvanceAndIncrement(t *testing.T) {
	var v VClock
	assert.False(t, v.Advance("a", 0), "counter 0 is no event")
	assert.True(t, v.Advance("b", 3))
	assert.False(t, v.Advance("b", 2))
	assert.False(t, v.Advance("b", 3))
	assert.True(t, v.Advance("b", 4))
	assert.Equal(t, Dot{"a", 1}, v.Increment("a"))
	assert.Equal(t, Dot{"b", 5}, v.Increment("b"))
	assert.Equal(t, Dot{"c", 1}, v.Increment("c"))
	assert.Equal(t, "{a:1, b:5, c:1}", v.String())
	assert.True(t, v.Contains(Dot{"b", 5}))
	assert.False(t, v.Contains(Dot{"b", 6}))
	assert.False(t, v.Contains(Dot{"b", 0}))

	var replicas []ReplicaID
	for replica, counter := range v.All() {
		replicas = append(replicas, replica)
		assert.Equal(t, v.Get(replica), counter)
	}
	assert.Equal(t, []ReplicaID{"a", "b", "c"}, replicas)
	for range v.All() {
		break // stopping early is allowed
	}
}

func TestVClockManyReplicas(t *testing.T) {
	// Beyond eight replicas the clock searches by bisection.
	var v VClock
	r := rand.New(rand.NewPCG(1, 1))
	want := map[ReplicaID]uint64{}
	for _, i := range r.Perm(40) {
		replica := ReplicaID(string(rune('A' + i)))
		want[replica] = uint64(i + 1)
		v.Advance(replica, uint64(i+1))
	}
	require.Equal(t, 40, v.Len())
	for replica, counter := range want {
		assert.Equal(t, counter, v.Get(replica))
	}
	assert.Zero(t, v.Get("~"))
	assert.True(t, slices.IsSortedFunc(v.entries, compareDots))
}

func TestVClockDescendsAndMerge(t *testing.T) {
	tests := []struct {
		name             string
		a, b             map[ReplicaID]uint64
		aDescendsB       bool
		bDescendsA       bool
		merged           map[ReplicaID]uint64
		mergeChangesA    bool
		mergeAllocatesOK bool
	}{
		{"empty", nil, nil, true, true, nil, false, false},
		{"equal", map[ReplicaID]uint64{"a": 2}, map[ReplicaID]uint64{"a": 2}, true, true, map[ReplicaID]uint64{"a": 2}, false, false},
		{"a ahead", map[ReplicaID]uint64{"a": 3, "b": 1}, map[ReplicaID]uint64{"a": 2}, true, false, map[ReplicaID]uint64{"a": 3, "b": 1}, false, false},
		{"b ahead same replicas", map[ReplicaID]uint64{"a": 1, "b": 1}, map[ReplicaID]uint64{"a": 1, "b": 4}, false, true, map[ReplicaID]uint64{"a": 1, "b": 4}, true, false},
		{"concurrent", map[ReplicaID]uint64{"a": 2, "c": 1}, map[ReplicaID]uint64{"b": 1, "c": 1, "d": 5}, false, false, map[ReplicaID]uint64{"a": 2, "b": 1, "c": 1, "d": 5}, true, true},
		{"b has a higher and a new replica", map[ReplicaID]uint64{"b": 1, "d": 1}, map[ReplicaID]uint64{"a": 7, "d": 2}, false, false, map[ReplicaID]uint64{"a": 7, "b": 1, "d": 2}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := vclockOf(tt.a), vclockOf(tt.b)
			assert.Equal(t, tt.aDescendsB, a.Descends(b))
			assert.Equal(t, tt.bDescendsA, b.Descends(a))
			assert.Equal(t, !tt.aDescendsB && !tt.bDescendsA, a.Concurrent(b))
			snapshot := b.Clone()
			assert.Equal(t, tt.mergeChangesA, a.Merge(b))
			assert.True(t, a.Equal(vclockOf(tt.merged)), "got %v", a)
			assert.True(t, b.Equal(snapshot))
			assert.False(t, a.Merge(a))
			if !tt.mergeAllocatesOK {
				x, y := vclockOf(tt.a), vclockOf(tt.b)
				assert.Zero(t, testing.AllocsPerRun(10, func() { x.Merge(y) }))
			}
		})
	}
}

func TestVClockProto(t *testing.T) {
	v := vclockOf(map[ReplicaID]uint64{"b": 2, "a": 1})
	decoded, err := VClockFromProto(v.ToProto())
	require.NoError(t, err)
	assert.True(t, decoded.Equal(v))

	unsorted := &messages.VClock{Entries: []*messages.Dot{{Replica: "b", Counter: 2}, {Replica: "a", Counter: 1}}}
	decoded, err = VClockFromProto(unsorted)
	require.NoError(t, err, "entries in any order are accepted")
	assert.True(t, decoded.Equal(v))

	decoded, err = VClockFromProto(nil)
	require.NoError(t, err)
	assert.Zero(t, decoded.Len())

	bad := []struct {
		name string
		m    *messages.VClock
		want string
	}{
		{"zero counter", &messages.VClock{Entries: []*messages.Dot{{Replica: "a"}}}, "counter 0"},
		{"duplicate replica", &messages.VClock{Entries: []*messages.Dot{{Replica: "a", Counter: 1}, {Replica: "a", Counter: 2}}}, "duplicate replica"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VClockFromProto(tt.m)
			require.ErrorIs(t, err, ErrDecode)
			assert.Contains(t, err.Error(), tt.want)
			data, err := proto.Marshal(tt.m)
			require.NoError(t, err)
			receiver := v.Clone()
			require.ErrorIs(t, receiver.UnmarshalBinary(data), ErrDecode)
			assert.True(t, receiver.Equal(v), "a failed decode leaves the receiver unchanged")
		})
	}
	var receiver VClock
	require.ErrorIs(t, receiver.UnmarshalBinary([]byte{0xff}), ErrDecode)
}

var vclockSpec = opSpec[*VClock]{
	New: func() *VClock { return &VClock{} },
	Op: func(r *rand.Rand, replica ReplicaID, v *VClock) *VClock {
		dot := v.Increment(replica)
		delta := &VClock{}
		delta.Advance(dot.Replica, dot.Counter)
		return delta
	},
	Value: func(v *VClock) any { return v.String() },
}

func TestVClockLaws(t *testing.T) {
	checkLaws(t, "VClock", historyGen(vclockSpec))
	checkConvergence(t, "VClock", vclockSpec)
}

func FuzzVClockDecode(f *testing.F) {
	causalSeedCorpus(f, historyGen(vclockSpec))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, func() *VClock { return &VClock{} })
	})
}
