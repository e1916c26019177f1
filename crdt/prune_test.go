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

// prunableCRDT is a CRDT that can be pruned.
type prunableCRDT[P any] interface {
	CRDT[P]
	Prunable[P]
}

// withPruning returns spec whose updates, one time in four, prune a replica
// of the state into the acting one, as Prunable's contract wants (the
// survivor prunes into itself). When there is nothing to prune, or the
// acting replica is pruned itself, it makes an ordinary update. The pruned
// replica may go on writing in its own state, as a member that does not
// know it was removed would: its later writes must be ignored everywhere
// the mark is, and the laws must hold all the same.
func withPruning[P prunableCRDT[P]](spec opSpec[P]) opSpec[P] {
	pruning := spec
	pruning.Op = func(r *rand.Rand, replica ReplicaID, state P) P {
		if r.IntN(4) == 0 {
			candidates := slices.DeleteFunc(state.Replicas(), func(c ReplicaID) bool { return c == replica })
			if len(candidates) > 0 {
				delta, err := state.Prune(candidates[r.IntN(len(candidates))], replica)
				if err == nil {
					return delta
				}
			}
		}
		return spec.Op(r, replica, state)
	}
	return pruning
}

func TestPruningKeepsTheLaws(t *testing.T) {
	checkPrunableLaws(t, "GCounter", gcounterSpec)
	checkPrunableLaws(t, "PNCounter", pncounterSpec)
	checkPrunableLaws(t, "VClock", vclockSpec)
	checkPrunableLaws(t, "CausalContext", contextSpec)
	checkPrunableLaws(t, "ORSet", orsetSpec)
	checkPrunableLaws(t, "EWFlag", ewflagSpec)
	checkPrunableLaws(t, "DWFlag", dwflagSpec)
	checkPrunableLaws(t, "MVRegister", mvregisterSpec)
	checkPrunableLaws(t, "Map", mapSpec)
}

func TestMapPrune(t *testing.T) {
	var survivor, gone Map
	survivor.UpdatePNCounter("kept", "visits", func(c *PNCounter) { c.Increment("kept", 2) })
	gone.Merge(&survivor)
	gone.UpdatePNCounter("gone", "visits", func(c *PNCounter) { c.Increment("gone", 5) })
	gone.UpdateORSet("gone", "tags", func(s *ORSet[string]) { s.Add("gone", "x") })
	gone.UpdateMap("gone", "nested", func(n *Map) {
		n.UpdateEWFlag("gone", "on", func(f *EWFlag) { f.Enable("gone") })
	})
	gone.UpdateLWWRegister("gone", "name", func(r *LWWRegister[[]byte]) { r.Set("gone", 1, []byte("n")) })
	survivor.Merge(&gone)
	survivor.UpdateGCounter("kept", "untouched", func(c *GCounter) { c.Increment("kept", 1) })
	stale := survivor.Clone()
	peer := survivor.Clone()
	view := mapView(&survivor)

	delta, err := survivor.Prune("gone", "kept")
	require.NoError(t, err)
	assert.Equal(t, view, mapView(&survivor), "pruning keeps every value")
	assert.Equal(t, []ReplicaID{"kept"}, survivor.Replicas(), "no entry of the removed replica is left")
	assert.Equal(t, []PruneMark{{Removed: "gone", Into: "kept"}}, survivor.Pruned())
	assert.False(t, survivor.Merge(stale), "a state from before the pruning changes nothing")
	require.True(t, peer.Merge(delta))
	assert.True(t, peer.Equal(&survivor), "the delta brings a peer to the same state")

	// The removed replica, still writing, is ignored; once it has the mark
	// it cannot write.
	gone.UpdatePNCounter("gone", "visits", func(c *PNCounter) { c.Increment("gone", 100) })
	assert.False(t, survivor.Merge(&gone))
	gone.Merge(&survivor)
	assert.Equal(t, 0, gone.UpdateGCounter("gone", "more", func(c *GCounter) { c.Increment("gone", 1) }).Len())

	assert.True(t, survivor.ForgetPruned("gone"))
	assert.Empty(t, survivor.Pruned())

	// An error leaves the map as it was.
	var full Map
	full.UpdateGCounter("gone", "c", func(c *GCounter) { c.Increment("gone", 1) })
	full.ctx.Add(Dot{Replica: "kept", Counter: MaxCounter})
	before := full.Clone()
	_, err = full.Prune("gone", "kept")
	require.ErrorIs(t, err, ErrLimit)
	assert.True(t, full.Equal(before))

	var overflow Map
	overflow.UpdateGCounter("kept", "c", func(c *GCounter) { c.Increment("kept", 1) })
	overflow.UpdateGCounter("kept", "d", func(c *GCounter) { c.Increment("kept", 1) })
	overflow.UpdateGCounter("gone", "d", func(c *GCounter) { c.Increment("gone", MaxCounter) })
	before = overflow.Clone()
	_, err = overflow.Prune("gone", "kept")
	require.ErrorIs(t, err, ErrLimit, "the nested counter would pass MaxCounter")
	assert.True(t, overflow.Equal(before))
}

func checkPrunableLaws[P prunableCRDT[P]](t *testing.T, name string, spec opSpec[P]) {
	t.Helper()
	pruning := withPruning(spec)
	checkLaws(t, name+"/pruning", historyGen(pruning))
	checkConvergence(t, name+"/pruning", pruning)
	checkMergeDecodes(t, name+"/pruning", historyGen(pruning))
}

func TestGCounterPrune(t *testing.T) {
	c := gcounterOf(map[ReplicaID]uint64{"gone": 5, "kept": 3, "other": 1})
	stale := c.Clone()

	delta, err := c.Prune("gone", "kept")
	require.NoError(t, err)
	assert.Equal(t, uint64(9), c.Value(), "pruning keeps the value")
	assert.Equal(t, uint64(8), c.Slot("kept"))
	assert.Zero(t, c.Slot("gone"))
	assert.Equal(t, []ReplicaID{"kept", "other"}, c.Replicas())
	assert.Equal(t, []PruneMark{{Removed: "gone", Into: "kept"}}, c.Pruned())

	// The delta brings a stale replica to the same state.
	peer := stale.Clone()
	assert.True(t, peer.Merge(delta))
	assert.True(t, peer.Equal(c))

	// Late gossip that still carries the removed slot changes nothing, in
	// either order.
	assert.False(t, c.Merge(stale), "a state from before the pruning brings the slot back")
	assert.True(t, merged(stale, c).Equal(c))
	stale.Increment("gone", 100) // the removed replica goes on writing
	assert.False(t, c.Merge(stale))
	assert.Equal(t, uint64(9), c.Value())

	// Once the mark is known, the removed replica cannot write.
	assert.True(t, c.Increment("gone", 1).Equal(&GCounter{}))
	assert.Equal(t, uint64(9), c.Value())

	// Pruning again is a no-op.
	again, err := c.Prune("gone", "kept")
	require.NoError(t, err)
	assert.True(t, again.Equal(&GCounter{}))

	// A replica that was never seen can be pruned: only the mark remains.
	_, err = c.Prune("never", "kept")
	require.NoError(t, err)
	assert.Equal(t, uint64(9), c.Value())
	assert.Len(t, c.Pruned(), 2)

	assert.True(t, c.ForgetPruned("never"))
	assert.False(t, c.ForgetPruned("never"))
	assert.Len(t, c.Pruned(), 1)
}

func TestPruneArgumentErrors(t *testing.T) {
	c := gcounterOf(map[ReplicaID]uint64{"a": 1, "b": 2})
	_, err := c.Prune("a", "b")
	require.NoError(t, err)
	before := c.Clone()
	long := ReplicaID(make([]byte, MaxReplicaIDLen+1))
	for _, args := range [][2]ReplicaID{{"", "b"}, {"b", ""}, {"b", "b"}, {"b", "a"}, {long, "b"}} {
		_, err := c.Prune(args[0], args[1])
		require.ErrorIs(t, err, ErrPrune, "Prune(%q, %q)", args[0], args[1])
		assert.NotErrorIs(t, err, ErrLimit)
		assert.True(t, c.Equal(before), "a failed Prune changed the state")
	}
}

func TestPruneRefusesToPassMaxCounter(t *testing.T) {
	c := gcounterOf(map[ReplicaID]uint64{"gone": MaxCounter, "kept": 1})
	before := c.Clone()
	_, err := c.Prune("gone", "kept")
	require.ErrorIs(t, err, ErrLimit)
	assert.True(t, c.Equal(before))

	var pn PNCounter
	pn.Increment("kept", 1)
	pn.Decrement("gone", MaxCounter)
	pn.Decrement("kept", 1)
	pnBefore := pn.Clone()
	_, err = pn.Prune("gone", "kept")
	require.ErrorIs(t, err, ErrLimit, "the decrements overflow")
	assert.True(t, pn.Equal(pnBefore), "PNCounter.Prune changed the increments although the decrements failed")

	var set ORSet[string]
	set.Add("gone", "x")
	set.kernel.ctx.Add(Dot{Replica: "kept", Counter: MaxCounter})
	setBefore := set.Clone()
	_, err = set.Prune("gone", "kept")
	require.ErrorIs(t, err, ErrLimit)
	assert.True(t, set.Equal(setBefore))
}

func TestPNCounterPrune(t *testing.T) {
	var c PNCounter
	c.Increment("gone", 10)
	c.Decrement("gone", 4)
	c.Increment("kept", 1)
	stale := c.Clone()
	delta, err := c.Prune("gone", "kept")
	require.NoError(t, err)
	assert.Equal(t, int64(7), c.Value())
	assert.Equal(t, []ReplicaID{"kept"}, c.Replicas())
	assert.Equal(t, []PruneMark{{Removed: "gone", Into: "kept"}}, c.Pruned())
	assert.True(t, merged(stale, delta).Equal(&c))
	assert.False(t, c.Merge(stale))
	assert.True(t, c.Decrement("gone", 1).Equal(&PNCounter{}))
	assert.True(t, c.ForgetPruned("gone"))
	assert.Empty(t, c.Pruned())
}

func TestVClockPrune(t *testing.T) {
	v := vclockOf(map[ReplicaID]uint64{"gone": 4, "kept": 2})
	stale := v.Clone()
	delta, err := v.Prune("gone", "kept")
	require.NoError(t, err)
	assert.Equal(t, []ReplicaID{"kept"}, v.Replicas())
	assert.True(t, v.Contains(Dot{Replica: "gone", Counter: 99}), "every dot of a pruned replica counts as seen")
	assert.True(t, v.Descends(stale))
	assert.False(t, stale.Descends(v), "a clock without the mark has not seen everything")
	assert.True(t, merged(stale, delta).Equal(v))
	assert.False(t, v.Merge(stale))
	assert.Equal(t, uint64(0), v.Increment("gone").Counter, "a pruned replica mints no dot")
	assert.False(t, v.Advance("gone", 7))
	assert.Equal(t, []PruneMark{{Removed: "gone", Into: "kept"}}, v.Pruned())
}

func TestORSetPrune(t *testing.T) {
	var survivor, gone ORSet[string]
	survivor.Add("kept", "a")
	gone.Merge(&survivor)
	gone.Add("gone", "b")
	gone.Add("gone", "c")
	survivor.Merge(&gone)
	stale := survivor.Clone()
	peer := survivor.Clone()

	delta, err := survivor.Prune("gone", "kept")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "b", "c"}, survivor.Elements(), "pruning keeps every element")
	assert.Equal(t, []ReplicaID{"kept"}, survivor.Replicas(), "no dot of the removed replica is left")
	for _, e := range []string{"b", "c"} {
		assert.Equal(t, "kept", string(survivor.kernel.Dots(e)[0].Replica), "the dots of %s are re-tagged", e)
	}

	assert.Equal(t, []PruneMark{{Removed: "gone", Into: "kept"}}, survivor.Pruned())

	// A late state changes nothing.
	assert.False(t, survivor.Merge(stale))

	// A peer that takes the delta can remove what the removed replica
	// added, and the remove reaches the survivor.
	require.True(t, peer.Merge(delta))
	require.True(t, peer.Equal(&survivor))
	removal := peer.Remove("b")
	survivor.Merge(removal)
	assert.ElementsMatch(t, []string{"a", "c"}, survivor.Elements())

	// The removed replica, still writing, is ignored.
	gone.Add("gone", "d")
	assert.False(t, survivor.Merge(&gone))
	assert.False(t, survivor.Contains("d"))
	// And once it has the mark, it cannot add.
	gone.Merge(&survivor)
	assert.Equal(t, 0, gone.Add("gone", "e").Len())
	assert.False(t, gone.Contains("e"))
	assert.True(t, gone.ForgetPruned("gone"))
	assert.Empty(t, gone.Pruned())
}

func TestFlagAndMVRegisterPrune(t *testing.T) {
	var ew EWFlag
	ew.Enable("gone")
	staleEW := ew.Clone()
	delta, err := ew.Prune("gone", "kept")
	require.NoError(t, err)
	assert.True(t, ew.Value(), "the enable survives, re-tagged")
	assert.Equal(t, []ReplicaID{"kept"}, ew.Replicas())
	assert.True(t, merged(staleEW, delta).Equal(&ew))
	assert.False(t, ew.Merge(staleEW))
	assert.Equal(t, []PruneMark{{Removed: "gone", Into: "kept"}}, ew.Pruned())
	assert.True(t, ew.ForgetPruned("gone"))

	var dw DWFlag
	dw.Disable("gone")
	_, err = dw.Prune("gone", "kept")
	require.NoError(t, err)
	assert.False(t, dw.Value())
	assert.Equal(t, []ReplicaID{"kept"}, dw.Replicas())
	assert.Len(t, dw.Pruned(), 1)
	assert.True(t, dw.ForgetPruned("gone"))

	var reg MVRegister[string]
	reg.Set("kept", "x")
	other := reg.Clone()
	other.Set("gone", "y")
	reg.Set("kept2", "z")
	reg.Merge(other) // two concurrent values: z (kept2) and y (gone)
	staleReg := reg.Clone()
	regDelta, err := reg.Prune("gone", "kept")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"y", "z"}, reg.Values())
	assert.NotContains(t, reg.Replicas(), ReplicaID("gone"))
	assert.True(t, merged(staleReg, regDelta).Equal(&reg))
	assert.False(t, reg.Merge(staleReg))
	assert.Len(t, reg.Pruned(), 1)
	assert.True(t, reg.ForgetPruned("gone"))
}

// TestMembersComeAndGo is the test: 1,000 members each write and
// are then removed and pruned into a survivor. The encoding stays small,
// every counter keeps its value, and a state from before a pruning, merged
// while the mark is known, changes nothing. Marks are forgotten ten
// members later (the dissemination time of the simulation).
func TestMembersComeAndGo(t *testing.T) {
	const (
		lives    = 1000
		keepMark = 10
		bound    = 2048 // bytes: ten marks, of two replica IDs each, in both halves of a PNCounter
	)
	survivor := ReplicaID("survivor#0000000000000001")
	var (
		gc      GCounter
		pn      PNCounter
		clock   VClock
		members ORSet[string]
		wantGC  uint64
		wantPN  int64
		// The PNCounter's encoding after 100 lives.
		sizeAt100 int
	)
	peer := &PNCounter{} // another survivor, fed only deltas
	gc.Increment(survivor, 1)
	wantGC++
	for life := range lives {
		replica := NewReplicaID(fmt.Sprintf("10.0.0.%d:8000", life%250))
		node := string(replica)
		// The member joins: it is added to the membership and takes the
		// state, then writes.
		members.Add(survivor, node)
		mine := pn.Clone()
		gcMine := gc.Clone()
		n := uint64(life%7 + 1)
		gcMine.Increment(replica, n)
		peer.Merge(mine.Increment(replica, n))
		peer.Merge(mine.Decrement(replica, 1))
		clock.Increment(replica)
		wantGC += n
		wantPN += int64(n) - 1
		// Its state reaches the survivor, then it is removed for good.
		gc.Merge(gcMine)
		pn.Merge(mine)
		members.Remove(node)
		stalePN := pn.Clone()

		_, err := gc.Prune(replica, survivor)
		require.NoError(t, err)
		delta, err := pn.Prune(replica, survivor)
		require.NoError(t, err)
		peer.Merge(delta)
		_, err = clock.Prune(replica, survivor)
		require.NoError(t, err)
		_, err = members.Prune(replica, survivor)
		require.NoError(t, err)

		require.False(t, pn.Merge(stalePN), "life %d: a stale state changed the counter", life)
		require.False(t, pn.Merge(mine), "life %d: the removed member's own state changed the counter", life)
		require.Equal(t, wantPN, pn.Value(), "life %d", life)
		require.Equal(t, wantGC, gc.Value(), "life %d", life)

		if life == 100 {
			early, err := pn.MarshalBinary()
			require.NoError(t, err)
			sizeAt100 = len(early)
		}
		if life >= keepMark {
			old := pn.Pruned()[0].Removed
			gc.ForgetPruned(old)
			pn.ForgetPruned(old)
			peer.ForgetPruned(old)
			clock.ForgetPruned(old)
			members.ForgetPruned(old)
		}
	}
	assert.True(t, peer.Equal(&pn), "a survivor fed only deltas converges")
	final, err := pn.MarshalBinary()
	require.NoError(t, err)
	assert.LessOrEqual(t, len(final), sizeAt100+32, "the encoding grows with the lives")
	for name, state := range map[string]interface{ MarshalBinary() ([]byte, error) }{
		"GCounter": &gc, "PNCounter": &pn, "VClock": &clock, "ORSet": &members,
	} {
		data, err := state.MarshalBinary()
		require.NoError(t, err)
		assert.Less(t, len(data), bound, "%s: encoding of %d bytes after %d lives", name, len(data), lives)
	}
	assert.Equal(t, []ReplicaID{survivor}, gc.Replicas())
	assert.Equal(t, 0, members.Len())
	assert.LessOrEqual(t, len(gc.Pruned()), keepMark)
}

func TestDecodeRefusesEntriesOfPrunedReplicas(t *testing.T) {
	mark := []*messages.PruneMark{{Removed: "gone", Into: "kept"}}
	context := &messages.CausalContext{Clock: &messages.VClock{
		Entries: []*messages.Dot{{Replica: "kept", Counter: 1}}, Pruned: mark}}
	cases := map[string]struct {
		msg    proto.Message
		decode func([]byte) error
	}{
		"GCounter slot": {
			&messages.GCounter{Slots: []*messages.Dot{{Replica: "gone", Counter: 1}}, Pruned: mark},
			new(GCounter).UnmarshalBinary,
		},
		"VClock entry": {
			&messages.VClock{Entries: []*messages.Dot{{Replica: "gone", Counter: 1}}, Pruned: mark},
			new(VClock).UnmarshalBinary,
		},
		"ORSet dot": {
			&messages.ORSet{Context: context, Entries: []*messages.ORSetEntry{
				{Element: []byte("x"), Dots: []*messages.Dot{{Replica: "gone", Counter: 1}}}}},
			new(ORSet[string]).UnmarshalBinary,
		},
		"flag dot": {
			&messages.Flag{Context: context, Dots: []*messages.Dot{{Replica: "gone", Counter: 1}}},
			new(EWFlag).UnmarshalBinary,
		},
		"MVRegister dot": {
			&messages.MVRegister{Context: context, Entries: []*messages.MVRegisterEntry{
				{Dot: &messages.Dot{Replica: "gone", Counter: 1}}}},
			new(MVRegister[[]byte]).UnmarshalBinary,
		},
		"Map dot": {
			&messages.Map{Context: context, Entries: []*messages.MapEntry{{Name: "f", Kind: messages.CRDTKind_CRDT_KIND_GCOUNTER,
				Dots: []*messages.Dot{{Replica: "gone", Counter: 1}}, Value: &messages.CRDTValue{
					Value: &messages.CRDTValue_Gcounter{Gcounter: &messages.GCounter{}}}}}},
			new(Map).UnmarshalBinary,
		},
		"mark into itself": {
			&messages.GCounter{Pruned: []*messages.PruneMark{{Removed: "a", Into: "a"}}},
			new(GCounter).UnmarshalBinary,
		},
		"mark without into": {
			&messages.VClock{Pruned: []*messages.PruneMark{{Removed: "a"}}},
			new(VClock).UnmarshalBinary,
		},
		"mark twice": {
			&messages.GCounter{Pruned: []*messages.PruneMark{{Removed: "a", Into: "b"}, {Removed: "a", Into: "b"}}},
			new(GCounter).UnmarshalBinary,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := proto.Marshal(tc.msg)
			require.NoError(t, err)
			require.ErrorIs(t, tc.decode(data), ErrDecode)
		})
	}

	// Cloud dots of a pruned replica are covered, like those below the
	// clock: they are dropped, not refused.
	c, err := CausalContextFromProto(&messages.CausalContext{Clock: context.Clock,
		Cloud: []*messages.Dot{{Replica: "gone", Counter: 5}}})
	require.NoError(t, err)
	assert.Empty(t, c.Cloud())
	// A chain of marks (a into b, then b into c) is valid.
	_, err = GCounterFromProto(&messages.GCounter{Pruned: []*messages.PruneMark{
		{Removed: "a", Into: "b"}, {Removed: "b", Into: "c"}}})
	require.NoError(t, err)
}
