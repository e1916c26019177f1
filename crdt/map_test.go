package crdt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

var allKinds = []Kind{KindORSet, KindGCounter, KindPNCounter, KindLWWRegister, KindMVRegister, KindEWFlag, KindDWFlag, KindMap}

// randomMapOp applies one random update or remove of replica to a random
// field of m, nested maps included down to depth 3, and returns its delta.
// Some updates make several changes inside the field.
func randomMapOp(r *rand.Rand, replica ReplicaID, m *Map, depth int) *Map {
	name := []string{"a", "b", "c"}[r.IntN(3)]
	kind := allKinds[r.IntN(len(allKinds))]
	if kind == KindMap && depth >= 3 {
		kind = KindORSet
	}
	if r.IntN(5) == 0 {
		return m.Remove(name, kind)
	}
	switch kind {
	case KindORSet:
		return m.UpdateORSet(replica, name, func(s *ORSet[string]) {
			for range 1 + r.IntN(3) {
				element := string(rune('x' + r.IntN(3)))
				if r.IntN(3) == 0 {
					s.Remove(element)
				} else {
					s.Add(replica, element)
				}
			}
		})
	case KindGCounter:
		return m.UpdateGCounter(replica, name, func(c *GCounter) { c.Increment(replica, 1+r.Uint64N(3)) })
	case KindPNCounter:
		return m.UpdatePNCounter(replica, name, func(c *PNCounter) {
			if r.IntN(2) == 0 {
				c.Increment(replica, 1+r.Uint64N(3))
			} else {
				c.Decrement(replica, 1+r.Uint64N(3))
			}
		})
	case KindLWWRegister:
		return m.UpdateLWWRegister(replica, name, func(reg *LWWRegister[[]byte]) {
			reg.Set(replica, r.Int64N(4), []byte{byte(r.IntN(3))})
		})
	case KindMVRegister:
		return m.UpdateMVRegister(replica, name, func(reg *MVRegister[[]byte]) {
			reg.Set(replica, []byte{byte(r.IntN(3))})
		})
	case KindEWFlag:
		return m.UpdateEWFlag(replica, name, func(f *EWFlag) {
			if r.IntN(2) == 0 {
				f.Enable(replica)
			} else {
				f.Disable()
			}
		})
	case KindDWFlag:
		return m.UpdateDWFlag(replica, name, func(f *DWFlag) {
			if r.IntN(2) == 0 {
				f.Disable(replica)
			} else {
				f.Enable()
			}
		})
	default:
		return m.UpdateMap(replica, name, func(nested *Map) {
			for range 1 + r.IntN(2) {
				randomMapOp(r, replica, nested, depth+1)
			}
		})
	}
}

// mapView returns what a user sees of m, comparable with assert.Equal.
func mapView(m *Map) map[string]any {
	view := make(map[string]any, m.Len())
	for _, key := range m.Keys() {
		var v any
		switch key.Kind {
		case KindORSet:
			s, _ := m.ORSet(key.Name)
			elements := s.Elements()
			slices.Sort(elements)
			v = elements
		case KindGCounter:
			c, _ := m.GCounter(key.Name)
			v = c.Value()
		case KindPNCounter:
			c, _ := m.PNCounter(key.Name)
			v = c.Value()
		case KindLWWRegister:
			reg, _ := m.LWWRegister(key.Name)
			value, ok := reg.Value()
			v = fmt.Sprint(value, ok)
		case KindMVRegister:
			reg, _ := m.MVRegister(key.Name)
			values := reg.Values()
			slices.SortFunc(values, func(a, b []byte) int { return slices.Compare(a, b) })
			v = values
		case KindEWFlag:
			f, _ := m.EWFlag(key.Name)
			v = f.Value()
		case KindDWFlag:
			f, _ := m.DWFlag(key.Name)
			v = f.Value()
		case KindMap:
			nested, _ := m.Map(key.Name)
			v = mapView(nested)
		}
		view[key.String()] = v
	}
	return view
}

var mapSpec = opSpec[*Map]{
	New: func() *Map { return &Map{} },
	Op: func(r *rand.Rand, replica ReplicaID, m *Map) *Map {
		return randomMapOp(r, replica, m, 1)
	},
	Value: func(m *Map) any { return mapView(m) },
}

func TestMapLaws(t *testing.T) {
	checkLaws(t, "Map", historyGen(mapSpec))
	checkConvergence(t, "Map", mapSpec)
}

func incrementBy(replica ReplicaID, n uint64) func(*PNCounter) {
	return func(c *PNCounter) { c.Increment(replica, n) }
}

func pnValue(t *testing.T, m *Map, name string) int64 {
	t.Helper()
	c, ok := m.PNCounter(name)
	require.True(t, ok, "field %q absent", name)
	return c.Value()
}

func TestMapZeroValue(t *testing.T) {
	var m Map
	assert.Equal(t, 0, m.Len())
	assert.Empty(t, m.Keys())
	assert.False(t, m.Contains("x", KindGCounter))
	_, ok := m.GCounter("x")
	assert.False(t, ok)
	assert.True(t, m.Equal(&Map{}))
	assert.True(t, m.Remove("x", KindGCounter).Equal(&Map{}), "removing an absent field gives an empty delta")
	assert.False(t, m.Merge(&Map{}))
	assert.Equal(t, "Map{} context {} cloud[]", m.String())
}

func TestMapUpdateWinsOverConcurrentRemove(t *testing.T) {
	var a Map
	a.UpdatePNCounter("A", "hits", incrementBy("A", 5))
	b := a.Clone()

	removal := a.Remove("hits", KindPNCounter)
	update := b.UpdatePNCounter("B", "hits", incrementBy("B", 1))
	assert.False(t, a.Contains("hits", KindPNCounter))

	// Full states, both ways.
	ab, ba := a.Clone(), b.Clone()
	assert.True(t, ab.Merge(b))
	assert.False(t, ba.Merge(&a), "the remove did not observe B's update: nothing changes at B")
	assert.True(t, ab.Equal(ba))
	assert.Equal(t, int64(6), pnValue(t, ab, "hits"), "the updater's value survives")

	// Deltas, both orders.
	x, y := a.Clone(), b.Clone()
	x.Merge(update)
	y.Merge(removal)
	assert.True(t, x.Equal(y))
	assert.Equal(t, int64(6), pnValue(t, x, "hits"))
}

func TestMapObservedRemove(t *testing.T) {
	var a Map
	a.UpdatePNCounter("A", "hits", incrementBy("A", 5))
	a.UpdateEWFlag("A", "on", func(f *EWFlag) { f.Enable("A") })
	b := a.Clone()
	b.UpdatePNCounter("B", "hits", incrementBy("B", 1))
	a.Merge(b)
	removal := a.Remove("hits", KindPNCounter)

	b.Merge(removal)
	assert.False(t, b.Contains("hits", KindPNCounter), "a remove that observed every update wins")
	assert.True(t, b.Contains("on", KindEWFlag))
	assert.True(t, a.Equal(b))
	assert.Equal(t, []MapKey{{Name: "on", Kind: KindEWFlag}}, b.Keys())
}

func TestMapRemoveThenUpdateStartsEmpty(t *testing.T) {
	var a Map
	a.UpdatePNCounter("A", "hits", incrementBy("A", 5))
	b := a.Clone()
	a.Remove("hits", KindPNCounter)
	a.UpdatePNCounter("A", "hits", incrementBy("A", 2))
	assert.Equal(t, int64(2), pnValue(t, &a, "hits"))

	b.Merge(&a)
	assert.Equal(t, int64(2), pnValue(t, b, "hits"), "the removed increments do not come back")
}

func TestMapReAddedSetKeepsItsElements(t *testing.T) {
	// A removes a set field and makes it again while B concurrently adds to
	// the old one. The new field must not reuse the dots of A's old adds, or
	// B's copy of those adds would hide A's new element.
	var a Map
	a.UpdateORSet("A", "s", func(s *ORSet[string]) { s.Add("A", "x") })
	b := a.Clone()
	b.UpdateORSet("B", "s", func(s *ORSet[string]) { s.Add("B", "z") })
	a.Remove("s", KindORSet)
	a.UpdateORSet("A", "s", func(s *ORSet[string]) { s.Add("A", "y") })

	ab, ba := a.Clone(), b.Clone()
	ab.Merge(b)
	ba.Merge(&a)
	require.True(t, ab.Equal(ba))
	s, ok := ab.ORSet("s")
	require.True(t, ok)
	elements := s.Elements()
	slices.Sort(elements)
	assert.Equal(t, []string{"y", "z"}, elements, "x was removed with the field; y and z are concurrent with it")
}

func TestMapConcurrentUpdatesOfOneField(t *testing.T) {
	var a Map
	a.UpdatePNCounter("A", "hits", incrementBy("A", 1))
	b := a.Clone()
	a.UpdatePNCounter("A", "hits", incrementBy("A", 2))
	b.UpdatePNCounter("B", "hits", incrementBy("B", 3))
	a.Merge(b)
	assert.Len(t, a.fields[MapKey{Name: "hits", Kind: KindPNCounter}], 2, "one dot per concurrent update")
	assert.Equal(t, int64(6), pnValue(t, &a, "hits"), "the value is the join of both")

	data, err := a.MarshalBinary()
	require.NoError(t, err)
	var decoded Map
	require.NoError(t, decoded.UnmarshalBinary(data))
	assert.True(t, decoded.Equal(&a))

	delta := a.UpdatePNCounter("A", "hits", incrementBy("A", 1))
	assert.Len(t, a.fields[MapKey{Name: "hits", Kind: KindPNCounter}], 1, "an update folds the concurrent values")
	assert.Equal(t, int64(7), pnValue(t, &a, "hits"))
	b.Merge(delta)
	assert.True(t, a.Equal(b))
}

func TestMapNested(t *testing.T) {
	var a Map
	a.UpdateMap("A", "user", func(user *Map) {
		user.UpdateLWWRegister("A", "name", func(reg *LWWRegister[[]byte]) { reg.Set("A", 1, []byte("ann")) })
		user.UpdateMap("A", "prefs", func(prefs *Map) {
			prefs.UpdateEWFlag("A", "dark", func(f *EWFlag) { f.Enable("A") })
		})
	})
	b := a.Clone()
	deltaA := a.UpdateMap("A", "user", func(user *Map) {
		user.UpdateORSet("A", "tags", func(s *ORSet[string]) { s.Add("A", "admin") })
	})
	deltaB := b.UpdateMap("B", "user", func(user *Map) {
		user.Remove("name", KindLWWRegister)
		user.UpdateGCounter("B", "logins", func(c *GCounter) { c.Increment("B", 1) })
	})
	a.Merge(deltaB)
	b.Merge(deltaA)
	require.True(t, a.Equal(b))
	want := map[string]any{
		"user:map": map[string]any{
			"logins:gcounter": uint64(1),
			"prefs:map":       map[string]any{"dark:ewflag": true},
			"tags:orset":      []string{"admin"},
		},
	}
	assert.Equal(t, want, mapView(&a))

	data, err := a.MarshalBinary()
	require.NoError(t, err)
	var decoded Map
	require.NoError(t, decoded.UnmarshalBinary(data))
	assert.True(t, decoded.Equal(&a))
	assert.Equal(t, want, mapView(&decoded))
}

func TestMapEachKindRoundTrips(t *testing.T) {
	tests := []struct {
		kind   Kind
		update func(m *Map) *Map
		want   any
	}{
		{KindORSet, func(m *Map) *Map {
			return m.UpdateORSet("A", "f", func(s *ORSet[string]) { s.Add("A", "e") })
		}, []string{"e"}},
		{KindGCounter, func(m *Map) *Map {
			return m.UpdateGCounter("A", "f", func(c *GCounter) { c.Increment("A", 3) })
		}, uint64(3)},
		{KindPNCounter, func(m *Map) *Map {
			return m.UpdatePNCounter("A", "f", func(c *PNCounter) { c.Decrement("A", 3) })
		}, int64(-3)},
		{KindLWWRegister, func(m *Map) *Map {
			return m.UpdateLWWRegister("A", "f", func(reg *LWWRegister[[]byte]) { reg.Set("A", 7, []byte("v")) })
		}, "[118] true"},
		{KindMVRegister, func(m *Map) *Map {
			return m.UpdateMVRegister("A", "f", func(reg *MVRegister[[]byte]) { reg.Set("A", []byte("v")) })
		}, [][]byte{[]byte("v")}},
		{KindEWFlag, func(m *Map) *Map {
			return m.UpdateEWFlag("A", "f", func(f *EWFlag) { f.Enable("A") })
		}, true},
		{KindDWFlag, func(m *Map) *Map {
			return m.UpdateDWFlag("A", "f", func(f *DWFlag) { f.Disable("A") })
		}, false},
		{KindMap, func(m *Map) *Map {
			return m.UpdateMap("A", "f", func(n *Map) { n.UpdateGCounter("A", "g", func(c *GCounter) { c.Increment("A", 1) }) })
		}, map[string]any{"g:gcounter": uint64(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			var m Map
			delta := tt.update(&m)
			require.True(t, m.Contains("f", tt.kind))
			key := MapKey{Name: "f", Kind: tt.kind}
			assert.Equal(t, tt.want, mapView(&m)[key.String()])

			for _, x := range []*Map{&m, delta} {
				data, err := x.MarshalBinary()
				require.NoError(t, err)
				var decoded Map
				require.NoError(t, decoded.UnmarshalBinary(data))
				assert.True(t, decoded.Equal(x))
			}
			var peer Map
			assert.True(t, peer.Merge(delta))
			assert.True(t, peer.Equal(&m), "the delta of the first update is the whole state")
		})
	}
}

func TestMapGettersReturnCopies(t *testing.T) {
	var m Map
	m.UpdatePNCounter("A", "hits", incrementBy("A", 1))
	c, ok := m.PNCounter("hits")
	require.True(t, ok)
	c.Increment("A", 10)
	assert.Equal(t, int64(1), pnValue(t, &m, "hits"))
	_, ok = m.GCounter("hits")
	assert.False(t, ok, "a field of another kind")
}

func TestMapUpdatePanicsLeaveMapUnchanged(t *testing.T) {
	var m Map
	m.UpdatePNCounter("A", "hits", incrementBy("A", 1))
	before := m.Clone()
	assert.Panics(t, func() {
		m.UpdatePNCounter("A", "hits", func(c *PNCounter) {
			c.Increment("A", 5)
			panic("user code")
		})
	})
	assert.True(t, m.Equal(before))
	assert.Panics(t, func() { m.UpdatePNCounter("", "hits", incrementBy("A", 1)) })
}

func TestMapEqual(t *testing.T) {
	var a, b Map
	a.UpdateGCounter("A", "x", func(c *GCounter) { c.Increment("A", 1) })
	b.UpdateGCounter("A", "x", func(c *GCounter) { c.Increment("A", 2) })
	assert.False(t, a.Equal(&b), "same dot, different value")
	assert.False(t, a.Equal(nil))
	assert.True(t, (*Map)(nil).Equal(&Map{}))

	var c Map
	c.UpdateGCounter("A", "y", func(c *GCounter) { c.Increment("A", 1) })
	assert.False(t, a.Equal(&c), "same context, different key")

	var d Map
	d.UpdateGCounter("B", "x", func(c *GCounter) { c.Increment("A", 1) })
	d.ctx = a.ctx // same context, different dot
	assert.False(t, a.Equal(&d))

	var f Map
	f.UpdateGCounter("B", "x", func(c *GCounter) { c.Increment("B", 1) })
	e := a.Clone()
	e.Merge(&f)
	e.ctx = a.ctx
	assert.False(t, a.Equal(e), "same context and key, different number of dots")

	// A dot names one update, so Merge does not merge the values of a dot
	// both maps hold: states that break that rule stay apart.
	assert.False(t, a.Clone().Merge(&b))
}

func TestMapKeysAndStrings(t *testing.T) {
	var m Map
	m.UpdateGCounter("A", "b", func(c *GCounter) { c.Increment("A", 1) })
	m.UpdateEWFlag("A", "a", func(f *EWFlag) { f.Enable("A") })
	m.UpdateORSet("A", "b", func(s *ORSet[string]) { s.Add("A", "e") })
	assert.Equal(t, []MapKey{{"a", KindEWFlag}, {"b", KindORSet}, {"b", KindGCounter}}, m.Keys())
	assert.Equal(t, 3, m.Len())
	assert.Equal(t, "Map{a:ewflag, b:orset, b:gcounter} context {A:3} cloud[]", m.String())
	assert.Equal(t, "Kind(0)", Kind(0).String())
	assert.Equal(t, "Kind(9)", Kind(9).String())
	assert.True(t, m.Context().Contains(Dot{Replica: "A", Counter: 3}))
	for _, kind := range allKinds {
		assert.Equal(t, messages.CRDTKind(kind).String(), "CRDT_KIND_"+map[Kind]string{
			KindORSet: "ORSET", KindGCounter: "GCOUNTER", KindPNCounter: "PNCOUNTER",
			KindLWWRegister: "LWW_REGISTER", KindMVRegister: "MV_REGISTER", KindEWFlag: "EW_FLAG",
			KindDWFlag: "DW_FLAG", KindMap: "MAP",
		}[kind], "Kind values follow messages.CRDTKind")
	}
}

// nestedMap returns a map with depth levels of nesting (depth 1: no nested
// map).
func nestedMap(depth int) *Map {
	var m Map
	if depth == 1 {
		m.UpdateGCounter("A", "leaf", func(c *GCounter) { c.Increment("A", 1) })
		return &m
	}
	m.UpdateMap("A", "child", func(child *Map) { *child = *nestedMap(depth - 1) })
	return &m
}

func TestMapDepthLimit(t *testing.T) {
	deepest := nestedMap(MaxMapDepth)
	data, err := deepest.MarshalBinary()
	require.NoError(t, err)
	var decoded Map
	require.NoError(t, decoded.UnmarshalBinary(data))
	assert.True(t, decoded.Equal(deepest))

	_, err = nestedMap(MaxMapDepth + 1).MarshalBinary()
	assert.ErrorContains(t, err, "deeper than MaxMapDepth")

	// The same nesting built by hand is refused at decode.
	pb := &messages.Map{}
	for range MaxMapDepth {
		pb = &messages.Map{
			Context: &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "A", Counter: 1}}}},
			Entries: []*messages.MapEntry{{
				Name: "child", Kind: messages.CRDTKind_CRDT_KIND_MAP,
				Dots:  []*messages.Dot{{Replica: "A", Counter: 1}},
				Value: &messages.CRDTValue{Value: &messages.CRDTValue_Map{Map: pb}},
			}},
		}
	}
	_, err = MapFromProto(pb)
	require.ErrorIs(t, err, ErrDecode)
	assert.ErrorContains(t, err, "nested deeper than MaxMapDepth")
}

func TestMapFromProto(t *testing.T) {
	ctxA2 := &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "A", Counter: 2}}}}
	dot := func(counter uint64) []*messages.Dot { return []*messages.Dot{{Replica: "A", Counter: counter}} }
	gcounter := &messages.CRDTValue{Value: &messages.CRDTValue_Gcounter{Gcounter: &messages.GCounter{}}}
	entry := func(kind messages.CRDTKind, dots []*messages.Dot, value *messages.CRDTValue) *messages.MapEntry {
		return &messages.MapEntry{Name: "f", Kind: kind, Dots: dots, Value: value}
	}
	gc := messages.CRDTKind_CRDT_KIND_GCOUNTER
	tests := []struct {
		name      string
		pb        *messages.Map
		wantErr   string
		wantDots  int
		wantValue uint64
	}{
		{name: "nil message"},
		{name: "one entry", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, dot(1), gcounter)}}, wantDots: 1},
		{name: "two entries of one key", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, dot(2), gcounter), entry(gc, dot(1), gcounter)}}, wantDots: 2},
		{name: "one entry, two dots", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, append(dot(1), dot(2)...), gcounter)}}, wantDots: 2},
		{name: "bad context", pb: &messages.Map{Context: &messages.CausalContext{Clock: &messages.VClock{Entries: dot(0)}}}, wantErr: "counter 0"},
		{name: "unknown kind", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(42, dot(1), gcounter)}}, wantErr: "unknown kind 42"},
		{name: "unspecified kind", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(0, dot(1), gcounter)}}, wantErr: "unknown kind 0"},
		{name: "missing value", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, dot(1), nil)}}, wantErr: "missing value"},
		{name: "empty oneof", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, dot(1), &messages.CRDTValue{})}}, wantErr: "missing value"},
		{name: "kind/value mismatch", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(messages.CRDTKind_CRDT_KIND_PNCOUNTER, dot(1), gcounter)}}, wantErr: "kind/value mismatch"},
		{name: "no dots", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, nil, gcounter)}}, wantErr: "no dots"},
		{name: "zero dot", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, dot(0), gcounter)}}, wantErr: "counter 0"},
		{name: "dot not covered", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, dot(3), gcounter)}}, wantErr: "not covered by the context"},
		{name: "dot listed twice", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, dot(1), gcounter), entry(gc, dot(1), gcounter)}}, wantErr: "listed twice"},
		{name: "bad value", pb: &messages.Map{Context: ctxA2, Entries: []*messages.MapEntry{entry(gc, dot(1), &messages.CRDTValue{Value: &messages.CRDTValue_Gcounter{Gcounter: &messages.GCounter{Slots: dot(0)}}})}}, wantErr: "zero slot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := MapFromProto(tt.pb)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrDecode)
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Len(t, m.fields[MapKey{Name: "f", Kind: KindGCounter}], tt.wantDots)
			// Whatever the input's shape, the state round-trips.
			data, err := m.MarshalBinary()
			require.NoError(t, err)
			var decoded Map
			require.NoError(t, decoded.UnmarshalBinary(data))
			assert.True(t, decoded.Equal(m))
		})
	}
}

func TestMapEmbeddedDecodeErrors(t *testing.T) {
	ctx := &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "A", Counter: 1}}}}
	badContext := &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "A", Counter: 0}}}}
	values := map[Kind]*messages.CRDTValue{
		KindORSet:       {Value: &messages.CRDTValue_Orset{Orset: &messages.ORSet{Context: badContext}}},
		KindGCounter:    {Value: &messages.CRDTValue_Gcounter{Gcounter: &messages.GCounter{Slots: []*messages.Dot{{Replica: "A"}}}}},
		KindPNCounter:   {Value: &messages.CRDTValue_Pncounter{Pncounter: &messages.PNCounter{Inc: &messages.GCounter{Slots: []*messages.Dot{{Replica: "A"}}}}}},
		KindLWWRegister: {Value: &messages.CRDTValue_LwwRegister{LwwRegister: &messages.LWWRegister{Set: true}}},
		KindMVRegister:  {Value: &messages.CRDTValue_MvRegister{MvRegister: &messages.MVRegister{Context: badContext}}},
		KindEWFlag:      {Value: &messages.CRDTValue_EwFlag{EwFlag: &messages.Flag{Context: badContext}}},
		KindDWFlag:      {Value: &messages.CRDTValue_DwFlag{DwFlag: &messages.Flag{Context: badContext}}},
		KindMap:         {Value: &messages.CRDTValue_Map{Map: &messages.Map{Context: badContext}}},
	}
	for _, kind := range allKinds {
		t.Run(kind.String(), func(t *testing.T) {
			for otherKind, value := range values {
				pb := &messages.Map{Context: ctx, Entries: []*messages.MapEntry{{
					Name: "f", Kind: messages.CRDTKind(kind), Dots: []*messages.Dot{{Replica: "A", Counter: 1}}, Value: value,
				}}}
				_, err := MapFromProto(pb)
				require.ErrorIs(t, err, ErrDecode, "kind %s, value of kind %s", kind, otherKind)
				if otherKind != kind {
					assert.ErrorContains(t, err, "kind/value mismatch")
				}
			}
		})
	}
}

func TestMapUnmarshalErrorLeavesReceiver(t *testing.T) {
	var m Map
	m.UpdatePNCounter("A", "hits", incrementBy("A", 1))
	before := m.Clone()
	bad, err := proto.Marshal(&messages.Map{Entries: []*messages.MapEntry{{Name: "x", Kind: 99}}})
	require.NoError(t, err)
	for _, data := range [][]byte{{0xff}, bad} {
		require.ErrorIs(t, m.UnmarshalBinary(data), ErrDecode)
		assert.True(t, m.Equal(before))
	}
}

func TestMapUnencodableValue(t *testing.T) {
	var m Map
	m.UpdateLWWRegister("A", "r", func(reg *LWWRegister[[]byte]) { reg.Set("A", 1, []byte("ok")) })
	// No []byte or string fails to encode; force a failure through a nested
	// map that is too deep to encode.
	m.UpdateMap("A", "deep", func(n *Map) { *n = *nestedMap(MaxMapDepth) })
	_, err := m.MarshalBinary()
	assert.ErrorContains(t, err, "field deep:map")
}

func FuzzMapDecode(f *testing.F) {
	addStates(f, 16, historyGen(mapSpec))
	for _, junk := range junkSeeds {
		f.Add(junk)
	}
	ctx := &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "A", Counter: 2}}}}
	dots := []*messages.Dot{{Replica: "A", Counter: 1}}
	addEncodings(f,
		&messages.Map{Context: ctx, Entries: []*messages.MapEntry{{Name: "x", Kind: 99, Dots: dots}}},
		&messages.Map{Context: ctx, Entries: []*messages.MapEntry{{Name: "x", Kind: messages.CRDTKind_CRDT_KIND_GCOUNTER, Dots: dots}}},
		&messages.Map{Context: ctx, Entries: []*messages.MapEntry{{
			Name: "x", Kind: messages.CRDTKind_CRDT_KIND_MAP, Dots: dots,
			Value: &messages.CRDTValue{Value: &messages.CRDTValue_Gcounter{Gcounter: &messages.GCounter{}}},
		}}},
		&messages.Map{Context: ctx, Entries: []*messages.MapEntry{{
			Name: "x", Kind: messages.CRDTKind_CRDT_KIND_GCOUNTER, Dots: append(dots, &messages.Dot{Replica: "A", Counter: 2}),
			Value: &messages.CRDTValue{Value: &messages.CRDTValue_Gcounter{Gcounter: &messages.GCounter{Slots: dots}}},
		}}},
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeRoundTrip(t, data, func() *Map {
			var m Map
			m.UpdatePNCounter("z", "seed", incrementBy("z", 1))
			return &m
		})
	})
}

// benchMap returns a map shaped like a ring payload: fields of every kind
// but Map, each updated by every one of replicas, and one nested map.
func benchMap(replicas []ReplicaID) *Map {
	var m Map
	r := rand.New(rand.NewPCG(1, 1))
	for _, replica := range replicas {
		for i := range 3 {
			for range 2 {
				randomMapOpOfKind(r, replica, &m, fmt.Sprintf("f%d", i))
			}
		}
		m.UpdateMap(replica, "nested", func(n *Map) { randomMapOpOfKind(r, replica, n, "g") })
	}
	return &m
}

// randomMapOpOfKind updates the fields named name of every kind but Map.
func randomMapOpOfKind(r *rand.Rand, replica ReplicaID, m *Map, name string) {
	m.UpdateORSet(replica, name, func(s *ORSet[string]) { s.Add(replica, fmt.Sprint(r.IntN(20))) })
	m.UpdateGCounter(replica, name, func(c *GCounter) { c.Increment(replica, 1) })
	m.UpdatePNCounter(replica, name, func(c *PNCounter) { c.Decrement(replica, 1) })
	m.UpdateLWWRegister(replica, name, func(reg *LWWRegister[[]byte]) { reg.Set(replica, r.Int64(), []byte("value")) })
	m.UpdateMVRegister(replica, name, func(reg *MVRegister[[]byte]) { reg.Set(replica, []byte("value")) })
	m.UpdateEWFlag(replica, name, func(f *EWFlag) { f.Enable(replica) })
	m.UpdateDWFlag(replica, name, func(f *DWFlag) { f.Disable(replica) })
}

// BenchmarkMapMerge merges a map of 22 fields updated by 10 replicas the
// way gossip does: "unchanged" is a state the receiver already has,
// "one-update" a state with one new field update since.
func BenchmarkMapMerge(b *testing.B) {
	replicas := benchReplicas(10)
	b.Run("unchanged", func(b *testing.B) {
		receiver := benchMap(replicas)
		other := receiver.Clone()
		b.ReportAllocs()
		for b.Loop() {
			receiver.Merge(other)
		}
	})
	b.Run("one-update", func(b *testing.B) {
		receiver := benchMap(replicas)
		other := receiver.Clone()
		b.ReportAllocs()
		for b.Loop() {
			other.UpdatePNCounter(replicas[0], "f0", incrementBy(replicas[0], 1))
			receiver.Merge(other)
		}
	})
}

func BenchmarkMapEncode(b *testing.B) {
	m := benchMap(benchReplicas(10))
	var data []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if data, err = m.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bytes")
}

func BenchmarkMapDecode(b *testing.B) {
	data, err := benchMap(benchReplicas(10)).MarshalBinary()
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var m Map
		if err := m.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMapCompactDots: a map writes the replicas of its fields' dots once,
// in a table, and accepts dots in the full form too.
func TestMapCompactDots(t *testing.T) {
	var m Map
	for r, replica := range []ReplicaID{"10.0.0.1:7001#3f2a9c0d11e4b6a7", "10.0.0.2:7001#9b1e5d7c20a4f3e8"} {
		for i := range 20 {
			m.UpdateGCounter(replica, fmt.Sprint("field", r, i), func(c *GCounter) { c.Increment(replica, 1) })
		}
	}
	pb, err := m.ToProto()
	require.NoError(t, err)
	assert.Len(t, pb.GetReplicas(), 2)
	for _, entry := range pb.GetEntries() {
		assert.Empty(t, entry.GetDots())
		assert.Len(t, entry.GetDotRefs(), 2)
	}

	// The same map with its dots in the full form decodes alike.
	verbose := proto.Clone(pb).(*messages.Map)
	for _, entry := range verbose.GetEntries() {
		refs := entry.GetDotRefs()
		entry.Dots = []*messages.Dot{{Replica: pb.GetReplicas()[refs[0]], Counter: refs[1]}}
		entry.DotRefs = nil
	}
	verbose.Replicas = nil
	decoded, err := MapFromProto(verbose)
	require.NoError(t, err)
	assert.True(t, decoded.Equal(&m))

	for name, mutate := range map[string]func(e *messages.MapEntry){
		"odd dot refs":     func(e *messages.MapEntry) { e.DotRefs = []uint64{0} },
		"beyond the table": func(e *messages.MapEntry) { e.DotRefs = []uint64{7, 1} },
		"dot in both forms": func(e *messages.MapEntry) {
			e.Dots = []*messages.Dot{{Replica: pb.GetReplicas()[e.DotRefs[0]], Counter: e.DotRefs[1]}}
		},
		"no dots in either form": func(e *messages.MapEntry) { e.DotRefs = nil },
	} {
		t.Run(name, func(t *testing.T) {
			bad := proto.Clone(pb).(*messages.Map)
			mutate(bad.GetEntries()[0])
			_, err := MapFromProto(bad)
			require.ErrorIs(t, err, ErrDecode)
		})
	}
}
