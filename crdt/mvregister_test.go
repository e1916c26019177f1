package crdt

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

var mvregisterSpec = opSpec[*MVRegister[string]]{
	New: func() *MVRegister[string] { return &MVRegister[string]{} },
	Op: func(r *rand.Rand, replica ReplicaID, reg *MVRegister[string]) *MVRegister[string] {
		return reg.Set(replica, string(rune('a'+r.IntN(26))))
	},
	Value: func(reg *MVRegister[string]) any { return reg.Values() },
}

func TestMVRegisterLaws(t *testing.T) {
	checkLaws(t, "MVRegister", historyGen(mvregisterSpec))
	checkConvergence(t, "MVRegister", mvregisterSpec)
}

func TestMVRegister(t *testing.T) {
	var a, b MVRegister[string]
	assert.Empty(t, a.Values())
	a.Set("a", "one")
	assert.Equal(t, []string{"one"}, a.Values())
	b.Merge(&a)
	assert.Equal(t, []string{"one"}, b.Values())

	// Concurrent writes are all kept, ordered by dot.
	a.Set("a", "two")
	b.Set("b", "three")
	ab, ba := a.Clone(), b.Clone()
	assert.True(t, ab.Merge(&b))
	ba.Merge(&a)
	assert.Equal(t, []string{"two", "three"}, ab.Values())
	assert.True(t, ab.Equal(ba))

	// A write that has seen them replaces them all.
	delta := ab.Set("b", "four")
	assert.Equal(t, []string{"four"}, ab.Values())
	assert.Equal(t, "{b:2} cloud[a:2]", delta.Context().String(), "the delta covers the replaced writes and the new one")
	ba.Merge(delta)
	assert.True(t, ba.Equal(ab))
	a.Merge(delta)
	assert.Equal(t, []string{"four"}, a.Values())
	assert.False(t, a.Merge(ab))
	assert.False(t, a.Merge(&a))
}

func TestMVRegisterMergeKeepsUnseenWrites(t *testing.T) {
	var a, b, c MVRegister[int]
	a.Set("a", 1)
	b.Set("b", 2)
	c.Set("c", 3)
	b.Merge(&c)
	b.Set("b", 4) // replaces b:1 and c:1, not a:1
	a.Merge(&b)
	assert.Equal(t, []int{1, 4}, a.Values())
	c.Merge(&a)
	assert.Equal(t, []int{1, 4}, c.Values())
	assert.True(t, c.Equal(&a))
}

func TestMVRegisterEqual(t *testing.T) {
	var a, b MVRegister[float64]
	a.Set("a", 1.5)
	b.Set("a", 2.5)
	assert.False(t, a.Equal(&b), "same dot and context, different value")
	var c MVRegister[float64]
	c.Set("b", 1.5)
	assert.False(t, a.Equal(&c), "different dot")

	type opaque struct{ n int }
	var x, y MVRegister[opaque]
	x.Set("a", opaque{1})
	y.Set("a", opaque{1})
	assert.True(t, x.Equal(&y), "values without an encoding compare deeply")
	_, err := x.MarshalBinary()
	require.ErrorIs(t, err, ErrUnsupportedElement)
}

func TestMVRegisterCloneCopiesBytes(t *testing.T) {
	var r MVRegister[[]byte]
	r.Set("a", []byte("abc"))
	clone := r.Clone()
	clone.Values()[0][0] = 'X'
	assert.Equal(t, [][]byte{[]byte("abc")}, r.Values())
	clone.Set("b", []byte("def"))
	assert.Equal(t, [][]byte{[]byte("abc")}, r.Values())
	assert.True(t, (&MVRegister[[]byte]{}).Clone().Equal(&MVRegister[[]byte]{}))
}

func TestMVRegisterFromProtoErrors(t *testing.T) {
	context := &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "a", Counter: 2}}}}
	entry := func(replica string, counter uint64) *messages.MVRegisterEntry {
		return &messages.MVRegisterEntry{Dot: &messages.Dot{Replica: replica, Counter: counter}, Value: []byte{1}}
	}
	tests := []struct {
		name string
		m    *messages.MVRegister
		want string
	}{
		{"entry without a dot", &messages.MVRegister{Context: context, Entries: []*messages.MVRegisterEntry{{Value: []byte("x")}}}, "has no dot"},
		{"zero counter", &messages.MVRegister{Context: context, Entries: []*messages.MVRegisterEntry{entry("a", 0)}}, "counter 0"},
		{"dot not covered", &messages.MVRegister{Context: context, Entries: []*messages.MVRegisterEntry{entry("a", 3)}}, "not covered"},
		{"duplicate dot", &messages.MVRegister{Context: context, Entries: []*messages.MVRegisterEntry{entry("a", 1), entry("a", 1)}}, "two entries with dot a:1"},
		{"bad value", &messages.MVRegister{Context: context, Entries: []*messages.MVRegisterEntry{{Dot: &messages.Dot{Replica: "a", Counter: 1}, Value: []byte{1, 2}}}}, "bool needs one byte"},
		{"bad context", &messages.MVRegister{Context: &messages.CausalContext{Cloud: []*messages.Dot{{Replica: "a"}}}}, "counter 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MVRegisterFromProto[bool](tt.m)
			require.ErrorIs(t, err, ErrDecode)
			assert.Contains(t, err.Error(), tt.want)

			data, err := proto.Marshal(tt.m)
			require.NoError(t, err)
			var receiver MVRegister[bool]
			receiver.Set("z", true)
			require.ErrorIs(t, receiver.UnmarshalBinary(data), ErrDecode)
			assert.Equal(t, []bool{true}, receiver.Values(), "a failed decode leaves the receiver unchanged")
		})
	}
	var r MVRegister[string]
	require.ErrorIs(t, r.UnmarshalBinary([]byte{0xff}), ErrDecode)
	type opaque struct{}
	_, err := MVRegisterFromProto[opaque](&messages.MVRegister{Context: context, Entries: []*messages.MVRegisterEntry{entry("a", 1)}})
	require.ErrorIs(t, err, ErrDecode)
	require.ErrorIs(t, err, ErrUnsupportedElement)
}

func TestMVRegisterFromProtoSortsEntries(t *testing.T) {
	var a, b MVRegister[string]
	a.Set("b", "from b")
	b.Set("a", "from a")
	a.Merge(&b)
	m, err := a.ToProto()
	require.NoError(t, err)
	m.Entries[0], m.Entries[1] = m.Entries[1], m.Entries[0]
	decoded, err := MVRegisterFromProto[string](m)
	require.NoError(t, err)
	assert.Equal(t, []string{"from a", "from b"}, decoded.Values())
	assert.True(t, decoded.Equal(&a))
}

func FuzzMVRegisterDecode(f *testing.F) {
	causalSeedCorpus(f, historyGen(mvregisterSpec))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, func() *MVRegister[string] { return &MVRegister[string]{} })
	})
}
