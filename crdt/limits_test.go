package crdt

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// requireLimit requires err to refuse a value beyond the limit named
// limit, as a decode error.
func requireLimit(t *testing.T, err error, limit string) *LimitError {
	t.Helper()
	require.ErrorIs(t, err, ErrDecode)
	require.ErrorIs(t, err, ErrLimit)
	var le *LimitError
	require.True(t, errors.As(err, &le), "%v is not a *LimitError", err)
	assert.Equal(t, limit, le.Limit, "%v", err)
	assert.Greater(t, le.Value, le.Max, "%v", err)
	assert.Contains(t, err.Error(), limit)
	return le
}

func encode(t *testing.T, m proto.Message) []byte {
	t.Helper()
	data, err := proto.Marshal(m)
	require.NoError(t, err)
	return data
}

func dotsOf(n int, replica func(i int) string, counter uint64) []*messages.Dot {
	dots := make([]*messages.Dot, n)
	for i := range dots {
		dots[i] = &messages.Dot{Replica: replica(i), Counter: counter}
	}
	return dots
}

// TestHostileGossip replays the attacks of the security issue on the
// decoders: each is refused with the limit it exceeds.
func TestHostileGossip(t *testing.T) {
	t.Run("PN-counter slot at 2^64-1", func(t *testing.T) {
		data := encode(t, &messages.PNCounter{Inc: &messages.GCounter{Slots: []*messages.Dot{{Replica: "a", Counter: math.MaxUint64}}}})
		var c PNCounter
		le := requireLimit(t, c.UnmarshalBinary(data), "counter")
		assert.Equal(t, uint64(math.MaxUint64), le.Value)
		assert.Equal(t, MaxCounter, le.Max)
		assert.True(t, c.Equal(&PNCounter{}), "a refused decode changed the receiver")
	})
	t.Run("version vector entry at 2^64-1", func(t *testing.T) {
		data := encode(t, &messages.VClock{Entries: []*messages.Dot{{Replica: "a", Counter: math.MaxUint64}}})
		requireLimit(t, new(VClock).UnmarshalBinary(data), "counter")
		orset := encode(t, &messages.ORSet{Context: &messages.CausalContext{
			Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "a", Counter: math.MaxUint64}}}}})
		requireLimit(t, new(ORSet[string]).UnmarshalBinary(orset), "counter")
		_, err := ORSetFromProto[string](&messages.ORSet{Context: &messages.CausalContext{
			Cloud: []*messages.Dot{{Replica: "a", Counter: MaxCounter + 1}}}})
		requireLimit(t, err, "counter")
	})
	t.Run("55,000 fake replicas", func(t *testing.T) {
		fake := func(i int) string { return fmt.Sprintf("fake-%d", i) }
		context := &messages.CausalContext{Clock: &messages.VClock{Entries: dotsOf(55_000, fake, 1)}}
		le := requireLimit(t, new(ORSet[string]).UnmarshalBinary(encode(t, &messages.ORSet{Context: context})), "replicas")
		assert.Equal(t, uint64(55_000), le.Value)
		requireLimit(t, new(GCounter).UnmarshalBinary(encode(t, &messages.GCounter{Slots: dotsOf(55_000, fake, 1)})), "replicas")
		cloud := &messages.CausalContext{Cloud: dotsOf(55_000, fake, 5)}
		requireLimit(t, new(CausalContext).UnmarshalBinary(encode(t, cloud)), "replicas")
		_, err := ORSetFromProto[string](&messages.ORSet{Context: context})
		requireLimit(t, err, "replicas")
	})
	t.Run("replica ID of 1 MiB", func(t *testing.T) {
		huge := strings.Repeat("h", 1<<20)
		requireLimit(t, new(GCounter).UnmarshalBinary(encode(t, &messages.GCounter{
			Slots: []*messages.Dot{{Replica: huge, Counter: 1}}})), "replica ID length")
		requireLimit(t, new(LWWRegister[string]).UnmarshalBinary(encode(t, &messages.LWWRegister{
			Replica: huge, Set: true})), "replica ID length")
		requireLimit(t, new(VClock).UnmarshalBinary(encode(t, &messages.VClock{
			Pruned: []*messages.PruneMark{{Removed: huge, Into: "b"}}})), "replica ID length")
		requireLimit(t, new(CausalContext).UnmarshalBinary(encode(t, &messages.CausalContext{
			Cloud: []*messages.Dot{{Replica: huge, Counter: 3}}})), "replica ID length")
	})
}

func TestLimitsAtTheBoundaryAreAccepted(t *testing.T) {
	id := strings.Repeat("r", MaxReplicaIDLen)
	var c GCounter
	require.NoError(t, c.UnmarshalBinary(encode(t, &messages.GCounter{Slots: []*messages.Dot{{Replica: id, Counter: MaxCounter}}})))
	assert.Equal(t, MaxCounter, c.Value())

	limits := Limits{MaxReplicas: 3, MaxEntries: 3}
	three := encode(t, &messages.VClock{Entries: dotsOf(3, func(i int) string { return fmt.Sprint(i) }, 1)})
	require.NoError(t, new(VClock).UnmarshalBinaryLimits(three, limits))
	requireLimit(t, new(VClock).UnmarshalBinaryLimits(three, Limits{MaxReplicas: 2}), "replicas")
	requireLimit(t, new(VClock).UnmarshalBinaryLimits(three, Limits{MaxEntries: 2}), "entries")
}

func TestLimitsDefaults(t *testing.T) {
	d := DefaultLimits()
	assert.Equal(t, d, Limits{}.withDefaults(), "zero fields take the defaults")
	capped := Limits{MaxCounter: math.MaxUint64, MaxReplicaIDLen: 1 << 30}.withDefaults()
	assert.Equal(t, MaxCounter, capped.MaxCounter, "MaxCounter cannot be raised")
	assert.Equal(t, MaxReplicaIDLen, capped.MaxReplicaIDLen, "MaxReplicaIDLen cannot be raised")
	tight := Limits{MaxBytes: 10, MaxCounter: 5}.withDefaults()
	assert.Equal(t, 10, tight.MaxBytes)
	assert.Equal(t, uint64(5), tight.MaxCounter)
	assert.Equal(t, d.MaxEntries, tight.MaxEntries)
}

// TestEveryDecoderEnforcesEachLimit decodes a state of each type under
// limits just below what it holds, one limit at a time.
func TestEveryDecoderEnforcesEachLimit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	states := map[string]struct {
		data   []byte
		decode func(data []byte, l Limits) error
	}{}
	add := func(name string, state interface{ MarshalBinary() ([]byte, error) }, decode func([]byte, Limits) error) {
		data, err := state.MarshalBinary()
		require.NoError(t, err)
		states[name] = struct {
			data   []byte
			decode func(data []byte, l Limits) error
		}{data, decode}
	}
	var set ORSet[string]
	var ctx CausalContext
	var gc GCounter
	var pn PNCounter
	var clock VClock
	var ew EWFlag
	var dw DWFlag
	var mv MVRegister[string]
	var m Map
	var lww LWWRegister[string]
	for i := range 6 {
		replica := ReplicaID(fmt.Sprintf("replica-%d-%s", i, strings.Repeat("x", 20)))
		set.Add(replica, fmt.Sprint(r.IntN(100)))
		set.Add(replica, fmt.Sprint(r.IntN(100)))
		ctx.Add(Dot{Replica: replica, Counter: 1000 + uint64(i)})
		gc.Increment(replica, 1000)
		pn.Decrement(replica, 1000)
		clock.Advance(replica, 1000)
		other := ew.Clone()
		other.Enable(replica)
		other.Enable(replica)
		ew.Merge(other)
		dw.Disable(replica)
		dw.Disable(replica)
		mvOther := mv.Clone()
		mvOther.Set(replica, "v")
		mvOther.Set(replica, "w")
		mv.Merge(mvOther)
		m.UpdateORSet(replica, "s", func(s *ORSet[string]) { s.Add(replica, "e") })
		m.UpdateORSet(replica, "s", func(s *ORSet[string]) { s.Add(replica, "f") })
		lww.Set(replica, int64(i), "v")
	}
	add("ORSet", &set, func(d []byte, l Limits) error { return new(ORSet[string]).UnmarshalBinaryLimits(d, l) })
	add("CausalContext", &ctx, func(d []byte, l Limits) error { return new(CausalContext).UnmarshalBinaryLimits(d, l) })
	add("GCounter", &gc, func(d []byte, l Limits) error { return new(GCounter).UnmarshalBinaryLimits(d, l) })
	add("PNCounter", &pn, func(d []byte, l Limits) error { return new(PNCounter).UnmarshalBinaryLimits(d, l) })
	add("VClock", &clock, func(d []byte, l Limits) error { return new(VClock).UnmarshalBinaryLimits(d, l) })
	add("EWFlag", &ew, func(d []byte, l Limits) error { return new(EWFlag).UnmarshalBinaryLimits(d, l) })
	add("DWFlag", &dw, func(d []byte, l Limits) error { return new(DWFlag).UnmarshalBinaryLimits(d, l) })
	add("MVRegister", &mv, func(d []byte, l Limits) error { return new(MVRegister[string]).UnmarshalBinaryLimits(d, l) })
	add("Map", &m, func(d []byte, l Limits) error { return new(Map).UnmarshalBinaryLimits(d, l) })
	add("LWWRegister", &lww, func(d []byte, l Limits) error { return new(LWWRegister[string]).UnmarshalBinaryLimits(d, l) })

	for name, s := range states {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, s.decode(s.data, DefaultLimits()))
			requireLimit(t, s.decode(s.data, Limits{MaxBytes: len(s.data) - 1}), "bytes")
			requireLimit(t, s.decode(s.data, Limits{MaxReplicaIDLen: 10}), "replica ID length")
			if name == "LWWRegister" {
				return // one write: no entries, replicas or counters to bound
			}
			requireLimit(t, s.decode(s.data, Limits{MaxEntries: 5}), "entries")
			requireLimit(t, s.decode(s.data, Limits{MaxReplicas: 5}), "replicas")
			requireLimit(t, s.decode(s.data, Limits{MaxCounter: 1}), "counter")
		})
	}
}

// TestMapEntriesCountNestedValues: MaxEntries bounds a Map with its nested
// fields, not each value on its own.
func TestMapEntriesCountNestedValues(t *testing.T) {
	var m Map
	for i := range 3 {
		m.UpdateORSet("r", fmt.Sprint("set", i), func(s *ORSet[string]) {
			for j := range 10 {
				s.Add("r", fmt.Sprint(j))
			}
		})
	}
	data, err := m.MarshalBinary()
	require.NoError(t, err)
	require.NoError(t, new(Map).UnmarshalBinaryLimits(data, Limits{MaxEntries: 100}))
	requireLimit(t, new(Map).UnmarshalBinaryLimits(data, Limits{MaxEntries: 40}), "entries")
}

func TestCheckTimestamp(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var r LWWRegister[string]
	require.NoError(t, r.CheckTimestamp(now, time.Second), "an unset register passes")
	r.Set("a", now.Add(time.Second).UnixNano(), "x")
	require.NoError(t, r.CheckTimestamp(now, time.Second))
	r.Set("a", now.Add(time.Hour).UnixNano(), "y")
	err := r.CheckTimestamp(now, time.Second)
	require.ErrorIs(t, err, ErrLimit)
	assert.NotErrorIs(t, err, ErrDecode, "a clock check is not a decode error")
	var le *LimitError
	require.True(t, errors.As(err, &le))
	assert.Equal(t, uint64(time.Hour), le.Value)
	assert.Equal(t, uint64(time.Second), le.Max)

	var m Map
	m.UpdateMap("a", "nested", func(n *Map) {
		n.UpdateLWWRegister("a", "reg", func(r *LWWRegister[[]byte]) { r.Set("a", now.UnixNano(), []byte("ok")) })
	})
	require.NoError(t, m.CheckTimestamps(now, time.Second))
	m.UpdateMap("a", "nested", func(n *Map) {
		n.UpdateLWWRegister("a", "reg", func(r *LWWRegister[[]byte]) { r.Set("a", math.MaxInt64, []byte("future")) })
	})
	err = m.CheckTimestamps(now, time.Second)
	require.ErrorIs(t, err, ErrLimit)
	assert.Contains(t, err.Error(), "nested")
}

// exhausted returns a context whose replica r is at MaxCounter, as only
// input at the limit can make it.
func exhausted(r ReplicaID) *CausalContext {
	var c CausalContext
	c.clock.Advance(r, MaxCounter)
	return &c
}

// TestUpdatesNeverPassMaxCounter: a replica whose counter a peer pushed to
// MaxCounter cannot mint a dot: the update is refused (no change, empty
// delta), nothing wraps or panics, and the state still decodes.
func TestUpdatesNeverPassMaxCounter(t *testing.T) {
	const r = ReplicaID("victim")
	var clock VClock
	require.True(t, clock.Advance(r, MaxCounter))
	assert.False(t, clock.Advance(r, MaxCounter+1), "Advance past MaxCounter")
	assert.False(t, clock.Advance("other", math.MaxUint64))
	assert.Equal(t, Dot{Replica: r}, clock.Increment(r))
	assert.Equal(t, MaxCounter, clock.Get(r))

	ctx := exhausted(r)
	assert.Equal(t, uint64(0), ctx.Next(r).Counter)
	assert.False(t, ctx.Add(Dot{Replica: "other", Counter: MaxCounter + 1}))

	checkStillDecodes := func(t *testing.T, state interface {
		MarshalBinary() ([]byte, error)
	}, decode func([]byte) error) {
		t.Helper()
		data, err := state.MarshalBinary()
		require.NoError(t, err)
		require.NoError(t, decode(data))
	}

	var set ORSet[string]
	set.kernel.ctx.Merge(ctx)
	assert.Equal(t, 0, set.Add(r, "x").Len())
	assert.False(t, set.Contains("x"))
	checkStillDecodes(t, &set, new(ORSet[string]).UnmarshalBinary)

	var ew EWFlag
	ew.flag.ctx.Merge(ctx)
	assert.True(t, ew.Enable(r).flag.ctx.IsEmpty())
	assert.False(t, ew.Value())
	var dw DWFlag
	dw.flag.ctx.Merge(ctx)
	dw.Disable(r)
	assert.True(t, dw.Value())

	var mv MVRegister[string]
	mv.ctx.Merge(ctx)
	assert.Empty(t, mv.Set(r, "v").Values())
	assert.Empty(t, mv.Values())

	var m Map
	m.ctx.Merge(ctx)
	delta := m.UpdatePNCounter(r, "c", func(c *PNCounter) { c.Increment(r, 1) })
	assert.Equal(t, 0, delta.Len())
	assert.Equal(t, 0, m.Len())
	checkStillDecodes(t, &m, new(Map).UnmarshalBinary)

	var gc GCounter
	gc.Increment(r, MaxCounter)
	gc.Increment(r, math.MaxUint64)
	assert.Equal(t, MaxCounter, gc.Slot(r), "a slot saturates at MaxCounter")
	checkStillDecodes(t, &gc, new(GCounter).UnmarshalBinary)
}

func TestLocalUpdatesRefuseReplicaIDsThatCannotDecode(t *testing.T) {
	long := ReplicaID(strings.Repeat("l", MaxReplicaIDLen+1))
	assert.PanicsWithValue(t, fmt.Sprintf("crdt: GCounter.Increment with a replica ID of %d bytes (at most %d)", len(long), MaxReplicaIDLen),
		func() { new(GCounter).Increment(long, 1) })
	assert.Panics(t, func() { new(LWWRegister[int]).Set(long, 1, 1) })
	assert.Panics(t, func() { new(Map).UpdateEWFlag(long, "f", func(*EWFlag) {}) })
}

// checkMergeDecodes proves that merging states that decode gives a state
// that decodes under DefaultLimits, so that a member never holds a state
// it could not read back after a restart. Some of the states are taken to
// the value limits first (a counter at MaxCounter, a replica ID of
// MaxReplicaIDLen bytes), as a peer at the limits would send them.
func checkMergeDecodes[P CRDT[P]](t *testing.T, name string, gen func(r *rand.Rand) P) {
	t.Helper()
	t.Run(name+"/merge decodes", func(t *testing.T) {
		seed, iterations := lawRand(t)
		for it := range iterations {
			r := iterationRand(seed, it)
			a, b := gen(r), gen(r)
			if r.IntN(2) == 0 {
				b = atTheLimits(t, b)
			}
			for _, state := range []P{merged(a, b), merged(b, a)} {
				data, err := state.MarshalBinary()
				require.NoError(t, err)
				decoded := gen(r)
				require.NoError(t, decoded.UnmarshalBinary(data), "seed %d iteration %d", seed, it)
				require.True(t, decoded.Equal(state))
			}
		}
	})
}

// atTheLimits returns state with one more replica at the value limits:
// its counter (or dot) at MaxCounter and an ID of MaxReplicaIDLen bytes.
func atTheLimits[P CRDT[P]](t *testing.T, state P) P {
	t.Helper()
	edge := ReplicaID(strings.Repeat("e", MaxReplicaIDLen))
	out := state.Clone()
	switch s := any(out).(type) {
	case *GCounter:
		s.Increment(edge, MaxCounter)
	case *PNCounter:
		s.Increment(edge, MaxCounter)
		s.Decrement(edge, math.MaxUint64)
	case *VClock:
		s.Advance(edge, MaxCounter)
	case *CausalContext:
		s.Add(Dot{Replica: edge, Counter: MaxCounter})
	case *ORSet[int]:
		s.kernel.ctx.Add(Dot{Replica: edge, Counter: MaxCounter - 1})
		s.Add(edge, 7)
	case *EWFlag:
		s.flag.ctx.Add(Dot{Replica: edge, Counter: MaxCounter - 1})
		s.Enable(edge)
	case *DWFlag:
		s.flag.ctx.Add(Dot{Replica: edge, Counter: MaxCounter - 1})
		s.Disable(edge)
	case *MVRegister[string]:
		s.ctx.Add(Dot{Replica: edge, Counter: MaxCounter - 1})
		s.Set(edge, "edge")
	}
	return out
}

func TestMergeDecodes(t *testing.T) {
	checkMergeDecodes(t, "GCounter", historyGen(gcounterSpec))
	checkMergeDecodes(t, "PNCounter", historyGen(pncounterSpec))
	checkMergeDecodes(t, "VClock", historyGen(vclockSpec))
	checkMergeDecodes(t, "CausalContext", historyGen(contextSpec))
	checkMergeDecodes(t, "ORSet", historyGen(orsetSpec))
	checkMergeDecodes(t, "EWFlag", historyGen(ewflagSpec))
	checkMergeDecodes(t, "DWFlag", historyGen(dwflagSpec))
	checkMergeDecodes(t, "MVRegister", historyGen(mvregisterSpec))
	checkMergeDecodes(t, "Map", historyGen(mapSpec))
	checkMergeDecodes(t, "LWWRegister", historyGen(lwwSpec))
}

// FuzzDecodeWithLimits feeds any bytes to every decoder under tight
// limits: a state or an error wrapping ErrDecode, never a panic; a refused
// limit is a *LimitError; what decodes is within the limits, so it
// decodes again under them after a re-encoding.
func FuzzDecodeWithLimits(f *testing.F) {
	for _, junk := range junkSeeds {
		f.Add(uint8(0), junk)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for kind := range uint8(10) {
		var state interface{ MarshalBinary() ([]byte, error) }
		switch kind {
		case 0:
			state = historyGen(gcounterSpec)(r)
		case 1:
			state = historyGen(pncounterSpec)(r)
		case 2:
			state = historyGen(vclockSpec)(r)
		case 3:
			state = historyGen(contextSpec)(r)
		case 4:
			state = historyGen(withPruning(orsetSpec))(r)
		case 5:
			state = historyGen(ewflagSpec)(r)
		case 6:
			state = historyGen(dwflagSpec)(r)
		case 7:
			state = historyGen(mvregisterSpec)(r)
		case 8:
			state = historyGen(mapSpec)(r)
		case 9:
			state = historyGen(withPruning(gcounterSpec))(r)
		}
		data, err := state.MarshalBinary()
		require.NoError(f, err)
		f.Add(kind, data)
	}
	limits := Limits{MaxBytes: 4096, MaxEntries: 64, MaxReplicas: 8, MaxCounter: 1000, MaxReplicaIDLen: 32}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		switch kind % 10 {
		case 0:
			checkDecodeLimits(t, data, limits, func() *GCounter { return &GCounter{} })
		case 1:
			checkDecodeLimits(t, data, limits, func() *PNCounter { return &PNCounter{} })
		case 2:
			checkDecodeLimits(t, data, limits, func() *VClock { return &VClock{} })
		case 3:
			checkDecodeLimits(t, data, limits, func() *CausalContext { return &CausalContext{} })
		case 4:
			checkDecodeLimits(t, data, limits, func() *ORSet[int] { return &ORSet[int]{} })
		case 5:
			checkDecodeLimits(t, data, limits, func() *EWFlag { return &EWFlag{} })
		case 6:
			checkDecodeLimits(t, data, limits, func() *DWFlag { return &DWFlag{} })
		case 7:
			checkDecodeLimits(t, data, limits, func() *MVRegister[string] { return &MVRegister[string]{} })
		case 8:
			checkDecodeLimits(t, data, limits, func() *Map { return &Map{} })
		case 9:
			checkDecodeLimits(t, data, limits, func() *LWWRegister[string] { return &LWWRegister[string]{} })
		}
	})
}

func checkDecodeLimits[P interface {
	CRDT[P]
	LimitedUnmarshaler
}](t *testing.T, data []byte, limits Limits, newP func() P) {
	t.Helper()
	decoded := newP()
	if err := decoded.UnmarshalBinaryLimits(data, limits); err != nil {
		require.ErrorIs(t, err, ErrDecode)
		if errors.Is(err, ErrLimit) {
			var le *LimitError
			require.True(t, errors.As(err, &le), "%v", err)
		}
		require.True(t, decoded.Equal(newP()), "a failed decode changed the receiver")
		return
	}
	again, err := decoded.MarshalBinary()
	require.NoError(t, err)
	relaxed := limits
	relaxed.MaxBytes = 0 // a canonical encoding may be longer than the input
	redecoded := newP()
	require.NoError(t, redecoded.UnmarshalBinaryLimits(again, relaxed), "a state within the limits re-encodes beyond them")
	require.True(t, redecoded.Equal(decoded))
}
