package crdt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// orsetSpec drives ORSets of small ints, so that replicas often add and
// remove the same elements.
var orsetSpec = opSpec[*ORSet[int]]{
	New: func() *ORSet[int] { return &ORSet[int]{} },
	Op: func(r *rand.Rand, replica ReplicaID, s *ORSet[int]) *ORSet[int] {
		e := r.IntN(6)
		if r.IntN(3) == 0 {
			return s.Remove(e)
		}
		return s.Add(replica, e)
	},
	Value: func(s *ORSet[int]) any { return sortedElements(s) },
}

func sortedElements[E interface{ ~int | ~string }](s *ORSet[E]) []E {
	elements := s.Elements()
	slices.Sort(elements)
	return elements
}

func TestORSetLaws(t *testing.T) {
	checkLaws(t, "ORSet", historyGen(orsetSpec))
	checkConvergence(t, "ORSet", orsetSpec)
}

func TestORSetZeroValue(t *testing.T) {
	var s ORSet[string]
	assert.Zero(t, s.Len())
	assert.False(t, s.Contains("x"))
	assert.Empty(t, s.Elements())
	assert.True(t, s.Equal(&ORSet[string]{}))
	assert.True(t, s.Remove("x").Equal(&ORSet[string]{}), "removing from an empty set gives an empty delta")
	assert.False(t, s.Merge(&ORSet[string]{}))
	assert.True(t, s.Clone().Equal(&s))
	data, err := s.MarshalBinary()
	require.NoError(t, err)
	assert.Empty(t, data)
	var decoded ORSet[string]
	require.NoError(t, decoded.UnmarshalBinary(data))
	assert.True(t, decoded.Equal(&s))

	s.Add("a", "x")
	assert.True(t, s.Contains("x"))
	assert.Equal(t, []string{"x"}, s.Elements())
	assert.Equal(t, "ORSet(1 elements, context {a:1} cloud[])", s.String())
}

func TestORSetAddReplacesOlderDots(t *testing.T) {
	var a, b ORSet[string]
	a.Add("a", "x")
	b.Merge(&a)
	b.Add("b", "x")
	a.Add("a", "x")
	a.Merge(&b)
	// a's second add replaced its first dot (a:1) only: b's concurrent add
	// (b:1) stays, since a had not seen it.
	assert.Equal(t, []Dot{{"a", 2}, {"b", 1}}, a.kernel.Dots("x"))

	delta := a.Add("a", "x")
	assert.Equal(t, []Dot{{"a", 3}}, a.kernel.Dots("x"), "an add replaces every dot it has seen")
	assert.Equal(t, []Dot{{"a", 3}}, delta.kernel.Dots("x"))
	// The delta's context holds the new dot and the replaced ones, and no
	// other: a:1 was replaced earlier.
	assert.Equal(t, "{b:1} cloud[a:2, a:3]", delta.Context().String())
}

// sync merges every set into every other.
func sync[E comparable](sets ...*ORSet[E]) {
	for _, s := range sets {
		for _, other := range sets {
			s.Merge(other)
		}
	}
}

func TestORSetClassicCases(t *testing.T) {
	t.Run("concurrent add and remove: add wins", func(t *testing.T) {
		var a, b ORSet[string]
		a.Add("a", "x")
		sync(&a, &b)
		a.Remove("x")
		b.Add("b", "x")
		ab, ba := a.Clone(), b.Clone()
		ab.Merge(&b)
		ba.Merge(&a)
		assert.True(t, ab.Contains("x"))
		assert.True(t, ab.Equal(ba))
		assert.Equal(t, []Dot{{"b", 1}}, ab.kernel.Dots("x"))
	})
	t.Run("concurrent re-add by the same replica wins over a remove", func(t *testing.T) {
		var a, b ORSet[string]
		a.Add("a", "x")
		sync(&a, &b)
		b.Remove("x")
		a.Add("a", "x")
		sync(&a, &b)
		assert.True(t, a.Contains("x"))
		assert.True(t, b.Contains("x"))
	})
	t.Run("remove then re-add", func(t *testing.T) {
		var a, b ORSet[string]
		a.Add("a", "x")
		sync(&a, &b)
		a.Remove("x")
		sync(&a, &b)
		assert.False(t, b.Contains("x"))
		b.Add("b", "x")
		sync(&a, &b)
		assert.True(t, a.Contains("x"))
		assert.True(t, b.Contains("x"))
		a.Remove("x")
		sync(&a, &b)
		assert.False(t, a.Contains("x"))
		assert.False(t, b.Contains("x"))
	})
	t.Run("a remove does not remove adds its replica never saw", func(t *testing.T) {
		var a, b ORSet[string]
		a.Add("a", "x")
		b.Add("b", "x")
		b.Remove("x")
		sync(&a, &b)
		assert.True(t, a.Contains("x"))
		assert.True(t, b.Contains("x"))
		assert.Equal(t, []Dot{{"a", 1}}, b.kernel.Dots("x"))
	})
	t.Run("no tombstone", func(t *testing.T) {
		var a, b ORSet[string]
		for _, e := range []string{"x", "y", "z"} {
			a.Add("a", e)
		}
		sync(&a, &b)
		b.Remove("x")
		b.Remove("y")
		a.Merge(&b)
		assert.Equal(t, []string{"z"}, sortedElements(&a))
		assert.Equal(t, 1, len(a.kernel.entries), "a removed element leaves no entry")
		m, err := a.ToProto()
		require.NoError(t, err)
		require.Len(t, m.GetEntries(), 1)
		assert.Equal(t, []byte("z"), m.GetEntries()[0].GetElement())
		assert.Empty(t, m.GetContext().GetCloud(), "full states carry a compact context")
		assert.Equal(t, []*messages.Dot{{Replica: "a", Counter: 3}}, slicesOfDots(m.GetContext().GetClock().GetEntries()))
	})
	t.Run("a stale state does not resurrect a removed element", func(t *testing.T) {
		var a, b ORSet[string]
		a.Add("a", "x")
		stale := a.Clone()
		a.Remove("x")
		b.Merge(&a)
		b.Merge(stale)
		a.Merge(stale)
		assert.False(t, a.Contains("x"))
		assert.False(t, b.Contains("x"))
	})
}

// slicesOfDots copies dot messages into plain ones so assert can compare
// them without protobuf's internal state.
func slicesOfDots(ms []*messages.Dot) []*messages.Dot {
	out := make([]*messages.Dot, len(ms))
	for i, m := range ms {
		out[i] = &messages.Dot{Replica: m.GetReplica(), Counter: m.GetCounter()}
	}
	return out
}

func TestORSetDeltaEqualsFullStateMerge(t *testing.T) {
	type op struct {
		remove  bool
		replica ReplicaID
		element string
	}
	tests := []struct {
		name    string
		history []op // applied to the updater, then seen by the observer
		update  op
		extra   []op // applied to the observer only, concurrently
	}{
		{"first add", nil, op{false, "a", "x"}, nil},
		{"re-add", []op{{false, "a", "x"}}, op{false, "a", "x"}, nil},
		{"add over another replica's add", []op{{false, "b", "x"}}, op{false, "a", "x"}, nil},
		{"remove", []op{{false, "a", "x"}, {false, "b", "y"}}, op{true, "", "x"}, nil},
		{"remove of an absent element", []op{{false, "a", "y"}}, op{true, "", "x"}, nil},
		{"add concurrent with the observer's add", []op{{false, "a", "x"}}, op{false, "a", "x"}, []op{{false, "b", "x"}}},
		{"remove concurrent with the observer's add", []op{{false, "a", "x"}}, op{true, "", "x"}, []op{{false, "b", "x"}}},
		{"add concurrent with the observer's remove", []op{{false, "a", "x"}}, op{false, "a", "x"}, []op{{true, "", "x"}}},
	}
	apply := func(s *ORSet[string], o op) *ORSet[string] {
		if o.remove {
			return s.Remove(o.element)
		}
		return s.Add(o.replica, o.element)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The updater is one replica's set; ops of other replicas reach
			// it by merge, as they would by gossip.
			var updater ORSet[string]
			for _, o := range tt.history {
				var origin ORSet[string]
				origin.Merge(&updater)
				apply(&origin, o)
				updater.Merge(&origin)
			}
			observer := updater.Clone()
			for _, o := range tt.extra {
				apply(observer, o)
			}
			delta := apply(&updater, tt.update)
			viaDelta, viaState := observer.Clone(), observer.Clone()
			viaDelta.Merge(delta)
			viaState.Merge(&updater)
			assert.True(t, viaDelta.Equal(viaState), "delta %v gives %v, full state gives %v", delta, viaDelta, viaState)
			assert.Equal(t, sortedElements(viaState), sortedElements(viaDelta))
		})
	}
}

func TestORSetDeltasOutOfOrder(t *testing.T) {
	var a ORSet[string]
	d1 := a.Add("a", "x")
	d2 := a.Remove("x")
	d3 := a.Add("a", "y")
	var b ORSet[string]
	b.Merge(d3)
	assert.Equal(t, "{} cloud[a:2]", b.kernel.ctx.String(), "dots seen out of order wait in the cloud")
	b.Merge(d2)
	assert.Equal(t, "{a:2} cloud[]", b.kernel.ctx.String(), "the context compacts once the gap is filled")
	b.Merge(d1)
	assert.False(t, b.Contains("x"), "the late add was removed before it arrived")
	assert.True(t, b.Equal(&a))
}

func TestORSetCloneIsIndependent(t *testing.T) {
	var s ORSet[string]
	s.Add("a", "x")
	s.Add("a", "y")
	clone := s.Clone()
	clone.Remove("x")
	clone.Add("b", "y")
	clone.Add("b", "z")
	assert.Equal(t, []string{"x", "y"}, sortedElements(&s))
	assert.Equal(t, []Dot{{"a", 2}}, s.kernel.Dots("y"))
	assert.Equal(t, "{a:2} cloud[]", s.Context().String())
}

func TestORSetElementsAndAll(t *testing.T) {
	var s ORSet[int]
	for i := range 5 {
		s.Add("a", i)
	}
	assert.ElementsMatch(t, []int{0, 1, 2, 3, 4}, s.Elements())
	var seen []int
	for e := range s.All() {
		seen = append(seen, e)
	}
	assert.ElementsMatch(t, []int{0, 1, 2, 3, 4}, seen)
}

func TestORSetEncodingIsDeterministic(t *testing.T) {
	var a, b ORSet[string]
	for i := range 50 {
		a.Add("a", fmt.Sprint(i))
	}
	b.Merge(&a)
	first, err := a.MarshalBinary()
	require.NoError(t, err)
	for range 5 {
		again, err := b.Clone().MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, first, again)
	}
}

// point is an element type with its own binary encoding.
type point struct{ X, Y int32 }

func (p point) MarshalBinary() ([]byte, error) {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(p.X)), uint32(p.Y)), nil
}

func (p *point) UnmarshalBinary(data []byte) error {
	if len(data) != 8 {
		return errors.New("point needs 8 bytes")
	}
	p.X, p.Y = int32(binary.BigEndian.Uint32(data)), int32(binary.BigEndian.Uint32(data[4:]))
	return nil
}

func TestORSetElementTypes(t *testing.T) {
	t.Run("BinaryMarshaler", func(t *testing.T) {
		var s ORSet[point]
		s.Add("a", point{1, 2})
		s.Add("a", point{-3, 4})
		data, err := s.MarshalBinary()
		require.NoError(t, err)
		var decoded ORSet[point]
		require.NoError(t, decoded.UnmarshalBinary(data))
		assert.True(t, decoded.Equal(&s))
		assert.True(t, decoded.Contains(point{-3, 4}))
	})
	t.Run("unsupported", func(t *testing.T) {
		type opaque struct{ n int }
		var s ORSet[opaque]
		s.Add("a", opaque{1})
		_, err := s.MarshalBinary()
		require.ErrorIs(t, err, ErrUnsupportedElement)
		_, err = s.ToProto()
		require.ErrorIs(t, err, ErrUnsupportedElement)

		m := &messages.ORSet{
			Context: &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "a", Counter: 1}}}},
			Entries: []*messages.ORSetEntry{{Element: []byte{1}, Dots: []*messages.Dot{{Replica: "a", Counter: 1}}}},
		}
		_, err = ORSetFromProto[opaque](m)
		require.ErrorIs(t, err, ErrDecode)
		require.ErrorIs(t, err, ErrUnsupportedElement)
	})
}

func TestORSetFromProtoErrors(t *testing.T) {
	clock := func(dots ...*messages.Dot) *messages.CausalContext {
		return &messages.CausalContext{Clock: &messages.VClock{Entries: dots}}
	}
	dot := func(replica string, counter uint64) *messages.Dot {
		return &messages.Dot{Replica: replica, Counter: counter}
	}
	entry := func(element int64, dots ...*messages.Dot) *messages.ORSetEntry {
		return &messages.ORSetEntry{Element: binary.AppendVarint(nil, element), Dots: dots}
	}
	tests := []struct {
		name string
		m    *messages.ORSet
		want string
	}{
		{"bad element encoding", &messages.ORSet{Context: clock(dot("a", 1)), Entries: []*messages.ORSetEntry{{Element: []byte{0x80}, Dots: []*messages.Dot{dot("a", 1)}}}}, "bad varint"},
		{"element out of range", &messages.ORSet{Context: clock(dot("a", 1)), Entries: []*messages.ORSetEntry{entry(1<<40, dot("a", 1))}}, "out of range"},
		{"duplicate element", &messages.ORSet{Context: clock(dot("a", 2)), Entries: []*messages.ORSetEntry{entry(1, dot("a", 1)), entry(1, dot("a", 2))}}, "duplicate element 1"},
		{"element without dots", &messages.ORSet{Context: clock(dot("a", 1)), Entries: []*messages.ORSetEntry{entry(1)}}, "no dots"},
		{"zero counter", &messages.ORSet{Context: clock(dot("a", 1)), Entries: []*messages.ORSetEntry{entry(1, dot("a", 0))}}, "counter 0"},
		{"dot not covered", &messages.ORSet{Context: clock(dot("a", 1)), Entries: []*messages.ORSetEntry{entry(1, dot("a", 2))}}, "a:2 is not covered by the context"},
		{"dot of an unknown replica", &messages.ORSet{Context: clock(dot("a", 1)), Entries: []*messages.ORSetEntry{entry(1, dot("b", 1))}}, "b:1 is not covered"},
		{"dot listed twice", &messages.ORSet{Context: clock(dot("a", 1)), Entries: []*messages.ORSetEntry{entry(1, dot("a", 1), dot("a", 1))}}, "listed twice"},
		{"bad context", &messages.ORSet{Context: clock(dot("a", 0))}, "counter 0"},
		{"odd number of dot refs", &messages.ORSet{Context: clock(dot("a", 1)), Replicas: []string{"a"},
			Entries: []*messages.ORSetEntry{{Element: binary.AppendVarint(nil, 1), DotRefs: []uint64{0, 1, 0}}}}, "odd number of dot refs"},
		{"dot ref beyond the table", &messages.ORSet{Context: clock(dot("a", 1)), Replicas: []string{"a"},
			Entries: []*messages.ORSetEntry{{Element: binary.AppendVarint(nil, 1), DotRefs: []uint64{1, 1}}}}, "replica 1 of a table of 1"},
		{"dot in both forms", &messages.ORSet{Context: clock(dot("a", 1)), Replicas: []string{"a"},
			Entries: []*messages.ORSetEntry{{Element: binary.AppendVarint(nil, 1), Dots: []*messages.Dot{dot("a", 1)}, DotRefs: []uint64{0, 1}}}}, "listed twice"},
		{"dot ref not covered", &messages.ORSet{Context: clock(dot("a", 1)), Replicas: []string{"b"},
			Entries: []*messages.ORSetEntry{{Element: binary.AppendVarint(nil, 1), DotRefs: []uint64{0, 1}}}}, "b:1 is not covered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ORSetFromProto[int32](tt.m)
			require.ErrorIs(t, err, ErrDecode)
			assert.Contains(t, err.Error(), tt.want)

			data, err := proto.Marshal(tt.m)
			require.NoError(t, err)
			var receiver ORSet[int32]
			receiver.Add("z", 7)
			before := receiver.Clone()
			require.ErrorIs(t, receiver.UnmarshalBinary(data), ErrDecode)
			assert.True(t, receiver.Equal(before), "a failed decode leaves the receiver unchanged")
		})
	}
}

func TestORSetFromProtoAcceptsUnsortedDots(t *testing.T) {
	m := &messages.ORSet{
		Context: &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "b", Counter: 1}, {Replica: "a", Counter: 1}}}},
		Entries: []*messages.ORSetEntry{{Element: []byte("x"), Dots: []*messages.Dot{{Replica: "b", Counter: 1}, {Replica: "a", Counter: 1}}}},
	}
	s, err := ORSetFromProto[string](m)
	require.NoError(t, err)
	assert.Equal(t, []Dot{{"a", 1}, {"b", 1}}, s.kernel.Dots("x"))
}

func FuzzORSetDecode(f *testing.F) {
	causalSeedCorpus(f, historyGen(orsetSpec))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, func() *ORSet[int] { return &ORSet[int]{} })
		checkORSetDecodersAgree[int](t, data)
	})
}

func FuzzORSetDecodeStrings(f *testing.F) {
	causalSeedCorpus(f, func(r *rand.Rand) *ORSet[string] {
		var s ORSet[string]
		for range r.IntN(20) {
			s.Add(ReplicaID(fmt.Sprint("r", r.IntN(3))), fmt.Sprint(r.IntN(10)))
			if r.IntN(3) == 0 {
				s.Remove(fmt.Sprint(r.IntN(10)))
			}
		}
		return &s
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, func() *ORSet[string] { return &ORSet[string]{} })
		checkORSetDecodersAgree[string](t, data)
	})
}

// benchmarkSets returns two sets of n elements each, half of them common
// (added by one replica and gossiped to the other), the other half added
// by each replica on its own: the shape of two members between gossips.
func benchmarkSets(n int) (a, b *ORSet[string]) {
	replicaA := ReplicaID("10.0.0.1:7001#3f2a9c0d11e4b6a7")
	replicaB := ReplicaID("10.0.0.2:7001#9b1e5d7c20a4f3e8")
	var common ORSet[string]
	for i := range n / 2 {
		common.Add(replicaA, fmt.Sprintf("element-%06d", i))
	}
	a, b = common.Clone(), common.Clone()
	for i := n / 2; i < n; i++ {
		a.Add(replicaA, fmt.Sprintf("element-%06d", i))
		b.Add(replicaB, fmt.Sprintf("element-%06d", i+n/2))
	}
	return a, b
}

func BenchmarkORSetMerge(b *testing.B) {
	x, y := benchmarkSets(10_000)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		receiver := x.Clone()
		b.StartTimer()
		receiver.Merge(y)
	}
}

func BenchmarkORSetMergeUnchanged(b *testing.B) {
	x, y := benchmarkSets(10_000)
	x.Merge(y)
	y = x.Clone()
	b.ReportAllocs()
	for b.Loop() {
		x.Merge(y)
	}
}

func BenchmarkORSetMarshal(b *testing.B) {
	x, _ := benchmarkSets(10_000)
	var data []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if data, err = x.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bytes")
}

func BenchmarkORSetUnmarshal(b *testing.B) {
	x, _ := benchmarkSets(10_000)
	data, err := x.MarshalBinary()
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		var decoded ORSet[string]
		if err := decoded.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bytes")
}

func BenchmarkORSetAdd(b *testing.B) {
	var s ORSet[string]
	elements := make([]string, 1024)
	for i := range elements {
		elements[i] = fmt.Sprint("element-", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Add("10.0.0.1:7001#3f2a9c0d11e4b6a7", elements[i%len(elements)])
		i++
	}
}

func TestORSetWireEncodingMatchesGeneratedCode(t *testing.T) {
	gen := historyGen(orsetSpec)
	r := rand.New(rand.NewPCG(3, 3))
	check := func(t *testing.T, data []byte, m proto.Message) {
		t.Helper()
		want, err := proto.Marshal(m)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(want, data), "direct encoding %x, generated code %x", data, want)
	}
	for range 100 {
		s := gen(r)
		data, err := s.MarshalBinary()
		require.NoError(t, err)
		m, err := s.ToProto()
		require.NoError(t, err)
		check(t, data, m)
	}
	var strings ORSet[string]
	strings.Add("", "") // an empty replica and an empty element are omitted fields
	strings.Add("b", "y")
	x, _ := benchmarkSets(100)
	strings.Merge(x)
	var points ORSet[point]
	points.Add("a", point{1, 2})
	for _, s := range []interface {
		MarshalBinary() ([]byte, error)
	}{&strings, &points} {
		data, err := s.MarshalBinary()
		require.NoError(t, err)
		var m proto.Message
		switch s := s.(type) {
		case *ORSet[string]:
			m, err = s.ToProto()
		case *ORSet[point]:
			m, err = s.ToProto()
		}
		require.NoError(t, err)
		check(t, data, m)
	}
	var decoded ORSet[string]
	data, err := strings.MarshalBinary()
	require.NoError(t, err)
	require.NoError(t, decoded.UnmarshalBinary(data))
	assert.True(t, decoded.Equal(&strings))
	assert.True(t, decoded.Contains(""))
}

// checkORSetDecodersAgree decodes data with the fast path and with the
// generated code, and requires the same outcome.
func checkORSetDecodersAgree[E comparable](t *testing.T, data []byte) {
	t.Helper()
	var fast, reference ORSet[E]
	fastErr := fast.UnmarshalBinary(data)
	referenceErr := reference.unmarshalProto(data, DefaultLimits())
	if referenceErr != nil {
		require.Error(t, fastErr, "the fast decoder accepts what the generated code rejects (%v)", referenceErr)
		require.ErrorIs(t, fastErr, ErrDecode)
		return
	}
	require.NoError(t, fastErr, "the fast decoder rejects what the generated code accepts")
	require.True(t, fast.Equal(&reference), "the decoders disagree")
}

func TestORSetDecodeNonCanonicalEncodings(t *testing.T) {
	var s ORSet[string]
	s.Add("a", "x")
	s.Add("b", "y")
	s.Remove("x")
	s.Add("a", "z")
	m, err := s.ToProto()
	require.NoError(t, err)
	canonical, err := proto.Marshal(m)
	require.NoError(t, err)
	context, err := proto.Marshal(m.GetContext())
	require.NoError(t, err)
	entries := canonical[len(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), context)):]
	contextField := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), context)
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 5)
	badUTF8Dot := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0xff})
	badUTF8Entry := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), badUTF8Dot)
	badUTF8 := append(slices.Clone(canonical), protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), badUTF8Entry)...)

	// The same set with the dots of its entries written in other forms.
	rewrite := func(dots func(entry *messages.ORSetEntry) []byte) []byte {
		var data []byte
		data = append(data, contextField...)
		for _, entry := range m.GetEntries() {
			body := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), entry.GetElement())
			body = append(body, dots(entry)...)
			data = protowire.AppendBytes(protowire.AppendTag(data, 2, protowire.BytesType), body)
		}
		for _, r := range m.GetReplicas() {
			data = protowire.AppendString(protowire.AppendTag(data, 3, protowire.BytesType), r)
		}
		return data
	}
	unpacked := rewrite(func(entry *messages.ORSetEntry) []byte {
		var b []byte
		for _, v := range entry.GetDotRefs() {
			b = protowire.AppendVarint(protowire.AppendTag(b, 3, protowire.VarintType), v)
		}
		return b
	})
	verbose := rewrite(func(entry *messages.ORSetEntry) []byte {
		var b []byte
		refs := entry.GetDotRefs()
		for i := 0; i < len(refs); i += 2 {
			dot, err := proto.Marshal(&messages.Dot{Replica: m.GetReplicas()[refs[i]], Counter: refs[i+1]})
			require.NoError(t, err)
			b = protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), dot)
		}
		return b
	})

	tests := []struct {
		name  string
		data  []byte
		valid bool
	}{
		{"canonical", canonical, true},
		{"entries before the context", append(slices.Clone(entries), contextField...), true},
		// Protobuf merges the two contexts: their clocks repeat replicas.
		{"context twice", append(slices.Clone(contextField), canonical...), false},
		{"unknown field", append(slices.Clone(canonical), unknown...), true},
		{"replica not UTF-8", badUTF8, false},
		{"replica table not UTF-8", append(slices.Clone(canonical), protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), []byte{0xff})...), false},
		{"dot refs not packed", unpacked, true},
		{"dots in the verbose form", verbose, true},
		{"truncated", canonical[:len(canonical)-1], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkORSetDecodersAgree[string](t, tt.data)
			var decoded ORSet[string]
			err := decoded.UnmarshalBinary(tt.data)
			if tt.valid {
				require.NoError(t, err)
				assert.True(t, decoded.Equal(&s))
			} else {
				require.ErrorIs(t, err, ErrDecode)
			}
		})
	}
}

// TestORSetCompactEncoding: the replicas of the dots are written once per
// set, in a table, and the dots refer to them by index.
func TestORSetCompactEncoding(t *testing.T) {
	set, _ := benchmarkSets(10_000)
	m, err := set.ToProto()
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1:7001#3f2a9c0d11e4b6a7"}, m.GetReplicas())
	for _, entry := range m.GetEntries() {
		require.Empty(t, entry.GetDots(), "the verbose form is not written")
		require.Len(t, entry.GetDotRefs(), 2)
	}
	data, err := set.MarshalBinary()
	require.NoError(t, err)
	perElement := float64(len(data)) / float64(set.Len())
	t.Logf("%d elements: %d bytes, %.1f bytes per element", set.Len(), len(data), perElement)
	assert.Less(t, perElement, 25.0, "an element of 14 bytes costs at most 11 more")
}
