package ringactor

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// simPruning stands in for the shell's side of pruning in the simulation:
// a pruning is applied to the member's counter and its delta pushed, as
// the actor's change path does once the delta is logged.
type simPruning struct {
	m         *simMember
	snapshots int
}

func (s *simPruning) replicas() []crdt.ReplicaID   { return s.m.payload.Replicas() }
func (s *simPruning) pruneMarks() []crdt.PruneMark { return s.m.payload.Pruned() }
func (s *simPruning) marksChanged()                { s.snapshots++ }

func (s *simPruning) prune(removed, into crdt.ReplicaID) error {
	delta, err := s.m.payload.Prune(removed, into)
	if err != nil {
		return err
	}
	data, err := delta.MarshalBinary()
	if err != nil {
		return err
	}
	s.m.core.pushDelta(data)
	return nil
}

func (s *simPruning) forgetPruned(removed crdt.ReplicaID) bool {
	return s.m.payload.ForgetPruned(removed)
}

// withPruning turns pruning on for m, with delay and markTTL in rounds, and
// eager push as the ring's default.
func withPruning(m *simMember, delay, markTTL uint64) *simMember {
	m.core.pruning = newPruning(&simPruning{m: m}, delay, markTTL)
	m.core.cfg.pushFanout, m.core.cfg.pushHops = 6, 6
	return m
}

// addWithData restarts a member that kept its data: its replica and its
// counter (the simulation's add gives a new replica and an empty counter).
func (n *simNet) addWithData(node string, persisted *messages.PersistedRing, replica crdt.ReplicaID, counter *crdt.PNCounter) *simMember {
	n.t.Helper()
	payload := &counterPayload{PNCounter: *counter.Clone()}
	cfg := coreConfig{ring: "sim", self: node, replica: replica, indirectChecks: 2}
	core, err := newCore(cfg, persisted, payload, rand.New(rand.NewPCG(n.rng.Uint64(), 1)), quietLogger())
	require.NoError(n.t, err)
	m := &simMember{node: node, core: core, payload: payload, watches: map[string]bool{}}
	n.members[node] = m
	core.start()
	n.collect(m)
	core.finishInit()
	n.collect(m)
	return m
}

// increment changes m's counter through the path of a change: applied,
// then its delta pushed.
func (n *simNet) increment(m *simMember, by uint64) {
	n.t.Helper()
	delta := m.payload.Increment(m.core.cfg.replica, by)
	m.core.payloadTouched()
	data, err := delta.MarshalBinary()
	require.NoError(n.t, err)
	m.core.pushDelta(data)
	n.collect(m)
	n.deliver()
}

// prunedEverywhere reports whether no live member holds an entry of
// replica.
func (n *simNet) prunedEverywhere(replica crdt.ReplicaID) bool {
	return n.allLive(func(m *simMember) bool { return !slices.Contains(m.payload.Replicas(), replica) })
}

// requireNoLiveReplicaPruned fails if a mark names the current replica of a
// live member: its later writes would be ignored.
func (n *simNet) requireNoLiveReplicaPruned() {
	n.t.Helper()
	n.each(func(m *simMember) {
		for _, mark := range m.payload.Pruned() {
			for _, other := range n.members {
				if !other.crashed && !other.removed {
					require.NotEqual(n.t, other.core.cfg.replica, mark.Removed, "%s holds a mark of live member %s", m.node, other.node)
				}
			}
		}
	})
}

// TestSimPruningKeepsPayloadBounded runs a guest member through 1,000 lives
// beside two members that stay, each life with a new replica ID: even
// lives end with DelNode, odd ones with a crash, after which the guest
// comes back from its ring file with an empty payload (as with
// DurabilityNone, or a lost disk). Each life writes; the counter must keep
// every increment on every member, and the encoded payload must stay
// bounded: the replicas of past lives are folded into the lowest member's.
func TestSimPruningKeepsPayloadBounded(t *testing.T) {
	const (
		lives   = 1000
		delay   = 2 // rounds a replica stays retired before it is pruned
		markTTL = 8 // rounds a mark is kept
	)
	net, _ := bootstrap(t, 2, 42)
	stayers := []*simMember{net.members[simNode(0)], net.members[simNode(1)]}
	for _, m := range stayers {
		withPruning(m, delay, markTTL)
	}
	decider := stayers[0] // simNode(0) is the lowest address
	guestNode := simNode(2)
	var (
		want      int64
		restarted *messages.PersistedRing // the guest's ring file after a crash
		sizeAt50  int
		maxRounds int
	)
	for _, m := range stayers {
		net.increment(m, 5)
		want += 5
	}
	var crashedReplica crdt.ReplicaID // the replica of the guest's last life, ended by a crash
	for life := range lives {
		var guest *simMember
		if restarted != nil {
			// Back from its ring file with an empty payload: a new replica.
			guest = withPruning(net.add(guestNode, restarted), delay, markTTL)
			restarted = nil
		} else {
			guest = withPruning(net.add(guestNode, nil), delay, markTTL)
			require.NoError(t, decider.core.addNode(guestNode))
			net.collect(decider)
			net.deliver()
		}
		all := sortedNodes(stayers[0].node, stayers[1].node, guestNode)
		rounds := net.roundsUntil(30, "guest up", func() bool {
			return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
		})
		if crashedReplica != "" {
			// The node is up again with a new replica: its old one is
			// retired, and pruned with everyone up.
			rounds += net.roundsUntil(60, "earlier life pruned", func() bool { return net.prunedEverywhere(crashedReplica) })
			crashedReplica = ""
		}
		n := uint64(life%7 + 1)
		net.increment(guest, n)
		want += int64(n)
		rounds += net.roundsUntil(30, "guest's increment", func() bool {
			return net.allLive(func(m *simMember) bool { return m.payload.Value() == want })
		})
		if life%2 == 0 {
			replica := guest.core.cfg.replica
			require.NoError(t, decider.core.delNode(guestNode))
			net.collect(decider)
			net.deliver()
			require.True(t, guest.removed, "life %d: the removed guest is told at once", life)
			rounds += net.roundsUntil(60, "removed member pruned", func() bool { return net.prunedEverywhere(replica) })
		} else {
			var err error
			restarted, err = guest.core.persisted()
			require.NoError(t, err)
			crashedReplica = guest.core.cfg.replica
			net.crash(guestNode)
		}
		maxRounds = max(maxRounds, rounds)
		net.requireNoLiveReplicaPruned()
		net.each(func(m *simMember) {
			require.Equal(t, want, m.payload.Value(), "life %d: %s lost or doubled an increment", life, m.node)
		})
		if life == 50 {
			data, err := decider.payload.MarshalBinary()
			require.NoError(t, err)
			sizeAt50 = len(data)
		}
	}
	for _, m := range stayers {
		data, err := m.payload.MarshalBinary()
		require.NoError(t, err)
		assert.LessOrEqual(t, len(data), sizeAt50+64, "%s: the payload grows with the lives", m.node)
		assert.Less(t, len(data), 1024, "%s: %d bytes after %d lives", m.node, len(data), lives)
		assert.LessOrEqual(t, len(m.payload.Replicas()), 3, "%s: replicas %v", m.node, m.payload.Replicas())
		assert.LessOrEqual(t, len(m.payload.Pruned()), 4, "%s: marks are forgotten", m.node)
		assert.Equal(t, want, m.payload.Value())
	}
	assert.Positive(t, decider.core.stats.Prunes)
	assert.Zero(t, stayers[1].core.stats.Prunes, "only the lowest member decides")
	assert.Positive(t, decider.core.stats.PruneMarksForgotten)
	t.Logf("%d lives: value %d, payload %d bytes (%d at life 50), at most %d rounds per life",
		lives, want, mustLen(t, decider.payload), sizeAt50, maxRounds)
}

func mustLen(t *testing.T, p *counterPayload) int {
	data, err := p.MarshalBinary()
	require.NoError(t, err)
	return len(data)
}

// prunedRing is a ring of three pruning members in which the highest one
// wrote 7 and was then removed with DelNode; it returns the ring, the two
// that stay (the decider first), the removed one, and stale messages
// carrying its entries from before the pruning.
func prunedRing(t *testing.T, seed, markTTL uint64) (net *simNet, stay []*simMember, gone *simMember, stale []any) {
	net, all := bootstrap(t, 3, seed)
	for _, node := range all {
		withPruning(net.members[node], 1, markTTL)
	}
	net.roundsUntil(30, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	stay = []*simMember{net.members[all[0]], net.members[all[1]]}
	gone = net.members[all[2]]
	net.increment(stay[0], 2)
	net.increment(gone, 7)
	net.roundsUntil(30, "converged", func() bool {
		return net.allLive(func(m *simMember) bool { return m.payload.Value() == 9 })
	})
	for _, m := range []*simMember{stay[1], gone} {
		g, err := m.core.gossipMessage()
		require.NoError(t, err)
		stale = append(stale, g)
	}
	// The removed member's own increment, as a push still on its way.
	delta := (&crdt.PNCounter{}).Increment(gone.core.cfg.replica, 7)
	data, err := delta.MarshalBinary()
	require.NoError(t, err)
	stale = append(stale, &messages.Delta{Ring: "sim", From: gone.node, Payload: data})

	require.NoError(t, stay[0].core.delNode(gone.node))
	net.collect(stay[0])
	net.deliver()
	net.roundsUntil(30, "pruned", func() bool { return net.prunedEverywhere(gone.core.cfg.replica) })
	return net, stay, gone, stale
}

func TestSimLateGossipDoesNotBringPrunedEntryBack(t *testing.T) {
	net, stay, gone, stale := prunedRing(t, 21, 1000)
	for _, m := range stay {
		require.Equal(t, int64(9), m.payload.Value())
		require.Equal(t, []crdt.PruneMark{{Removed: gone.core.cfg.replica, Into: stay[0].core.cfg.replica}}, m.payload.Pruned())
	}
	// Gossip and a push from before the pruning arrive late, at both
	// members (the removed member's own gossip too: a member that was
	// removed while it was away gossips its old state when it comes back).
	for _, m := range stay {
		for _, msg := range stale {
			require.True(t, m.core.step(msg))
			net.collect(m)
		}
	}
	net.deliver()
	for range 5 {
		net.round()
	}
	for _, m := range stay {
		assert.Equal(t, int64(9), m.payload.Value(), "%s: the pruned slot came back", m.node)
		assert.NotContains(t, m.payload.Replicas(), gone.core.cfg.replica)
	}
}

func TestSimMarksAreForgottenOnceEveryMemberHoldsThem(t *testing.T) {
	const markTTL = 6
	net, stay, gone, _ := prunedRing(t, 22, markTTL)
	mark := stay[0].payload.Pruned()
	require.Len(t, mark, 1)
	// The second member would keep the mark far longer (as a member that
	// saw it late would): it forgets it when the first one's gossip says
	// it forgot it.
	stay[1].core.pruning.markTTL = 1000
	withMark, err := stay[1].core.gossipMessage()
	require.NoError(t, err)
	net.roundsUntil(2*markTTL, "marks forgotten", func() bool {
		return net.allLive(func(m *simMember) bool { return len(m.payload.Pruned()) == 0 })
	})
	// A copy of the mark still on its way is dropped again.
	require.True(t, stay[0].core.step(withMark))
	net.collect(stay[0])
	require.Equal(t, mark, stay[0].payload.Pruned(), "merged like any state")
	for range 3 * markTTL {
		net.round()
	}
	for _, m := range stay {
		assert.Empty(t, m.payload.Pruned(), "%s: a forgotten mark came back", m.node)
		assert.Equal(t, int64(9), m.payload.Value())
		assert.NotContains(t, m.payload.Replicas(), gone.core.cfg.replica)
		assert.Positive(t, m.core.pruning.payload.(*simPruning).snapshots, "the marks' changes are made durable")
		assert.Positive(t, m.core.stats.PruneMarksForgotten)
	}
	assert.Equal(t, stay[0].core.digest(), stay[1].core.digest(), "the members converge")
}

func TestSimNoPruningWhileAMemberIsDown(t *testing.T) {
	net, all := bootstrap(t, 4, 23)
	for _, node := range all {
		withPruning(net.members[node], 1, 1000)
	}
	net.roundsUntil(30, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	decider, away, gone := net.members[all[0]], net.members[all[1]], net.members[all[3]]
	net.increment(gone, 4)
	net.increment(away, 1)
	net.roundsUntil(30, "converged", func() bool {
		return net.allLive(func(m *simMember) bool { return m.payload.Value() == 5 })
	})
	// away crashes: it keeps its data (DurabilityDisk), so its replica is
	// still live, and it may hold entries of gone that nobody else has.
	persisted, err := away.core.persisted()
	require.NoError(t, err)
	awayReplica := away.core.cfg.replica
	net.crash(away.node)
	require.NoError(t, decider.core.delNode(gone.node))
	net.collect(decider)
	net.deliver()
	for range 20 {
		net.round()
	}
	require.Contains(t, decider.payload.Replicas(), gone.core.cfg.replica, "pruned while a member was down")
	require.Contains(t, decider.payload.Replicas(), awayReplica, "a down member's replica was pruned")
	require.Zero(t, decider.core.stats.Prunes)

	// It comes back with its data: the same replica, and its counter.
	back := net.addWithData(away.node, persisted, awayReplica, &away.payload.PNCounter)
	withPruning(back, 1, 1000)
	net.roundsUntil(30, "pruned", func() bool { return net.prunedEverywhere(gone.core.cfg.replica) })
	net.requireNoLiveReplicaPruned()
	net.each(func(m *simMember) {
		assert.Equal(t, int64(5), m.payload.Value())
		assert.Contains(t, m.payload.Replicas(), awayReplica)
	})
}

func TestSimPruningWaitsForEveryMembersState(t *testing.T) {
	net, all := bootstrap(t, 3, 24)
	for _, node := range all {
		withPruning(net.members[node], 1, 1000)
	}
	net.roundsUntil(30, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	decider, holder, gone := net.members[all[0]], net.members[all[1]], net.members[all[2]]
	net.increment(gone, 1)
	net.roundsUntil(30, "converged", func() bool {
		return net.allLive(func(m *simMember) bool { return m.payload.Value() == 1 })
	})
	// gone's last increment reaches holder only, then gone is removed.
	holder.payload.Merge(gone.payload.Increment(gone.core.cfg.replica, 4))
	holder.core.payloadTouched()
	require.NoError(t, decider.core.delNode(gone.node))
	net.collect(decider)
	net.deliver()

	// Time passes at the decider, but nothing reaches it: holder has not
	// shown it holds nothing more of gone, so nothing is pruned.
	for range 10 {
		decider.core.onGossipTick()
		decider.core.onProbeTick()
		net.collect(decider)
		net.queue = nil
	}
	require.Zero(t, decider.core.stats.Prunes, "pruned without holder's state")
	require.Contains(t, decider.payload.Replicas(), gone.core.cfg.replica)

	net.roundsUntil(30, "pruned", func() bool { return net.prunedEverywhere(gone.core.cfg.replica) })
	net.each(func(m *simMember) { assert.Equal(t, int64(5), m.payload.Value(), "%s", m.node) })
}

// replicasQuery asks a pruneBehaviour for the replicas of its payload;
// replicaQuery for its own replica.
type (
	replicasQuery struct{}
	replicaQuery  struct{}
)

// pruneBehaviour is the test counter, with questions about replicas.
type pruneBehaviour struct{ counterBehaviour }

func (b *pruneBehaviour) HandleCall(ctx *Context[*crdt.PNCounter], from From, msg any) CallResult {
	switch msg.(type) {
	case replicasQuery:
		return ReplyWith(ctx.Payload().Replicas())
	case replicaQuery:
		return ReplyWith(ctx.Replica())
	}
	return b.counterBehaviour.HandleCall(ctx, from, msg)
}

func startPruningMember(t *testing.T, ring string, opts ...Option) *member {
	t.Helper()
	return startPruningMemberOn(t, newNode(), ring, persistence.NewMemoryStore(), opts...)
}

// startPruningMemberOn starts a member of pruneBehaviour on node with store.
func startPruningMemberOn(t *testing.T, node, ring string, store persistence.Store, opts ...Option) *member {
	t.Helper()
	n := netFor(t)
	b := &pruneBehaviour{}
	all := append(append([]Option{WithStore(store), WithLogger(memberLogger(t, slog.LevelDebug)), n.member(node)}, testOptions...), opts...)
	client, err := Start[*crdt.PNCounter](n.system, ring, b, all...)
	require.NoError(t, err)
	stop := func() { require.NoError(t, n.system.Root.StopFuture(client.PID()).Wait()) }
	return &member{system: n.system, client: client, behaviour: &b.counterBehaviour, store: store, node: node, shutdown: stop}
}

func (m *member) replica(t *testing.T) crdt.ReplicaID {
	t.Helper()
	v, err := m.client.Call(within(2*time.Second), replicaQuery{})
	require.NoError(t, err)
	return v.(crdt.ReplicaID)
}

func (m *member) replicas(t *testing.T) []crdt.ReplicaID {
	t.Helper()
	v, err := m.client.Call(within(2*time.Second), replicasQuery{})
	require.NoError(t, err)
	return v.([]crdt.ReplicaID)
}

func TestDelNodedMembersSlotIsFoldedOnEveryMember(t *testing.T) {
	const ring = "prune"
	var members []*member
	for range 3 {
		members = append(members, startPruningMember(t, ring, WithPruning(100*time.Millisecond, time.Hour)))
	}
	slices.SortFunc(members, func(a, b *member) int { return strings.Compare(a.node, b.node) })
	decider, other, gone := members[0], members[1], members[2]
	for _, m := range []*member{other, gone} {
		require.NoError(t, decider.client.AddNode(context.Background(), m.node))
	}
	all := sortedNodes(decider.node, other.node, gone.node)
	require.Eventually(t, func() bool { return slices.Equal(gone.up(t), all) && slices.Equal(other.up(t), all) }, waitFor, tick)
	for i, m := range members {
		_, err := m.client.Call(within(time.Second), incr{uint64(i + 1)})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return decider.value(t) == 6 && other.value(t) == 6 }, waitFor, tick)
	goneReplica := gone.replica(t)
	require.Contains(t, decider.replicas(t), goneReplica)

	start := time.Now()
	require.NoError(t, other.client.DelNode(context.Background(), gone.node))
	require.Eventually(t, func() bool { return errors.Is(gone.behaviour.terminatedWith(), ErrRemoved) }, waitFor, tick)
	for _, m := range []*member{decider, other} {
		require.Eventually(t, func() bool { return !slices.Contains(m.replicas(t), goneReplica) }, waitFor, tick,
			"%s still holds the removed member's slot", m.node)
		t.Logf("%s: the removed member's slot folded %v after DelNode (prune delay 100 ms, gossip interval 50 ms)", m.node, time.Since(start).Round(time.Millisecond))
		assert.Equal(t, int64(6), m.value(t), "%s: the removed member's increments are kept", m.node)
		require.Eventually(t, func() bool { return m.stats(t).Snapshots > 0 }, waitFor, tick, "%s: the mark is made durable", m.node)
	}
	assert.Equal(t, uint64(1), decider.stats(t).Prunes)
	assert.Zero(t, other.stats(t).Prunes, "only the lowest member decides")
}

func TestPruningIsOffForAPayloadThatIsNotPrunable(t *testing.T) {
	a := &ringActor[*crdt.LWWRegister[string]]{cfg: DefaultConfig(), log: quietLogger()}
	a.view.payload = &crdt.LWWRegister[string]{}
	core := &ringCore{}
	a.startPruning(core)
	assert.Nil(t, core.pruning)

	b := &ringActor[*crdt.PNCounter]{cfg: DefaultConfig(), log: quietLogger()}
	b.view.payload = &crdt.PNCounter{}
	b.startPruning(core)
	require.NotNil(t, core.pruning, "on by default")
	assert.Equal(t, uint64(12), core.pruning.delay, "a minute of 5 s gossip ticks")

	core.pruning = nil
	b.cfg.Pruning = false
	b.startPruning(core)
	assert.Nil(t, core.pruning)
}

func TestPruningOptionsAreChecked(t *testing.T) {
	for name, opt := range map[string]Option{
		"no delay": WithPruning(0, time.Hour),
		"no TTL":   WithPruning(time.Second, -time.Second),
	} {
		_, err := buildConfig([]Option{opt})
		require.ErrorContains(t, err, "PruneDelay and PruneMarkTTL must be positive", name)
	}
	cfg, err := buildConfig([]Option{WithoutPruning(), WithPruning(time.Second, time.Minute)})
	require.NoError(t, err)
	assert.True(t, cfg.Pruning)
	cfg, err = buildConfig([]Option{WithoutPruning()})
	require.NoError(t, err)
	assert.False(t, cfg.Pruning)
}

// TestEarlierLivesOfAMemberArePruned restarts a DurabilityNone member on
// the same node: each life takes a new replica ID, and the earlier ones
// are folded into the lowest member's while the member is up again.
func TestEarlierLivesOfAMemberArePruned(t *testing.T) {
	const ring = "lives"
	opts := []Option{WithDurability(DurabilityNone), WithPruning(100*time.Millisecond, time.Hour)}
	var members []*member
	for range 3 {
		members = append(members, startPruningMember(t, ring, opts...))
	}
	slices.SortFunc(members, func(a, b *member) int { return strings.Compare(a.node, b.node) })
	for _, m := range members[1:] {
		require.NoError(t, members[0].client.AddNode(context.Background(), m.node))
	}
	all := sortedNodes(members[0].node, members[1].node, members[2].node)
	want := int64(0)
	for life := range 3 {
		restarting := members[2]
		require.Eventually(t, func() bool { return slices.Equal(restarting.up(t), all) && slices.Equal(members[0].up(t), all) }, waitFor, tick)
		_, err := restarting.client.Call(within(time.Second), incr{uint64(life + 1)})
		require.NoError(t, err)
		want += int64(life + 1)
		require.Eventually(t, func() bool { return members[0].value(t) == want && members[1].value(t) == want }, waitFor, tick)
		old := restarting.replica(t)
		restarting.shutdown()
		members[2] = startPruningMemberOn(t, restarting.node, ring, restarting.store, opts...)
		require.NotEqual(t, old, members[2].replica(t), "a new replica each life")
		for _, m := range members {
			require.Eventually(t, func() bool { return !slices.Contains(m.replicas(t), old) && m.value(t) == want }, waitFor, tick,
				"life %d: %s still holds the earlier life's slot, or lost its increments", life, m.node)
		}
	}
	folded := []crdt.ReplicaID{members[0].replica(t)}
	for _, m := range members {
		assert.Equal(t, folded, m.replicas(t), "%s: only the lowest member's slot, which holds the earlier lives'", m.node)
	}
	assert.Equal(t, uint64(3), members[0].stats(t).Prunes)
}

func TestSimRemovedDeciderIsPrunedByTheNextLowest(t *testing.T) {
	net, all := bootstrap(t, 3, 25)
	for _, node := range all {
		withPruning(net.members[node], 1, 1000)
	}
	net.roundsUntil(30, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	first, next, last := net.members[all[0]], net.members[all[1]], net.members[all[2]]
	for i, m := range []*simMember{first, next, last} {
		net.increment(m, uint64(i+1))
	}
	net.roundsUntil(30, "converged", func() bool {
		return net.allLive(func(m *simMember) bool { return m.payload.Value() == 6 })
	})
	require.NoError(t, last.core.delNode(first.node))
	net.collect(last)
	net.deliver()
	require.True(t, first.removed)
	net.roundsUntil(30, "pruned", func() bool { return net.prunedEverywhere(first.core.cfg.replica) })
	net.requireNoLiveReplicaPruned()
	net.each(func(m *simMember) {
		assert.Equal(t, int64(6), m.payload.Value(), "%s", m.node)
		assert.Equal(t, []crdt.PruneMark{{Removed: first.core.cfg.replica, Into: next.core.cfg.replica}}, m.payload.Pruned())
	})
	assert.Equal(t, uint64(1), next.core.stats.Prunes, "the lowest remaining member decides")
	assert.Zero(t, last.core.stats.Prunes)
}

func TestSimNoPruningWhileAMemberIsForcedDown(t *testing.T) {
	net, all := bootstrap(t, 4, 26)
	for _, node := range all {
		withPruning(net.members[node], 1, 1000)
	}
	net.roundsUntil(30, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	decider, ignored, gone := net.members[all[0]], net.members[all[1]], net.members[all[3]]
	net.increment(gone, 3)
	net.roundsUntil(30, "converged", func() bool {
		return net.allLive(func(m *simMember) bool { return m.payload.Value() == 3 })
	})
	require.NoError(t, decider.core.forceDown(ignored.node))
	net.collect(decider)
	require.NoError(t, decider.core.delNode(gone.node))
	net.collect(decider)
	net.deliver()
	for range 20 {
		net.round()
	}
	require.Zero(t, decider.core.stats.Prunes, "pruned while a member was forced down")

	require.NoError(t, decider.core.unforceDown(ignored.node))
	net.collect(decider)
	net.roundsUntil(30, "pruned", func() bool { return net.prunedEverywhere(gone.core.cfg.replica) })
	net.each(func(m *simMember) { assert.Equal(t, int64(3), m.payload.Value(), "%s", m.node) })
}

func TestSimMemberNotYetAddedNeverPrunes(t *testing.T) {
	net := newSimNet(t, 27)
	lone := withPruning(net.add(simNode(0), nil), 1, 1000)
	// A delta of a ring it has not joined reaches it (a member of that ring
	// still believes this address up, from an earlier life of it).
	delta := (&crdt.PNCounter{}).Increment("10.0.9.9:4000#1", 3)
	data, err := delta.MarshalBinary()
	require.NoError(t, err)
	require.True(t, lone.core.step(&messages.Delta{Ring: "sim", From: "10.0.9.9:4000", Payload: data}))
	net.collect(lone)
	for range 10 {
		net.round()
	}
	assert.Zero(t, lone.core.stats.Prunes)
	assert.Equal(t, int64(3), lone.payload.Value())
	assert.Empty(t, lone.payload.Pruned())
}

// A heartbeat carries its sender's replica whole once in replicaEvery
// and a tag of it otherwise; a tag counts as a report only if it matches
// the replica the sender last reported whole.
func TestHeartbeatsReportTheReplicaByTag(t *testing.T) {
	net, all := convergedRing(t, 2, 7)
	a, b := net.members[all[0]], withPruning(net.members[all[1]], 5, 50)
	ping := func() *messages.Ping {
		t.Helper()
		a.core.onProbeTick()
		eff := a.core.takeEffects()
		require.Len(t, eff.sends, 1)
		p, ok := eff.sends[0].msg.(*messages.Ping)
		require.True(t, ok, "a probe tick sends a heartbeat to the predecessor")
		require.Zero(t, p.GetSeq(), "a heartbeat wants no Ack")
		return p
	}
	reportTick := func() (uint64, crdt.ReplicaID) {
		r, ok := b.core.pruning.reports[a.node]
		if !ok {
			return 0, ""
		}
		return r.tick, r.replica
	}

	tagged := &messages.Ping{Ring: "sim", From: a.node, Seq: 2, Digest: a.core.digest(), ReplicaTag: replicaTag(a.core.cfg.replica)}
	b.core.onPing(tagged)
	_, replica := reportTick()
	assert.Empty(t, replica, "a tag before the replica was heard whole is no report")

	first := ping()
	assert.Equal(t, string(a.core.cfg.replica), first.GetReplica(), "the first heartbeat of a life carries the replica whole")
	assert.Zero(t, first.GetReplicaTag())
	b.core.onPing(first)
	tick, replica := reportTick()
	assert.Equal(t, a.core.cfg.replica, replica)

	whole := 0
	for i := 2; i <= 2*replicaEvery; i++ {
		b.core.prunePass() // a gossip tick passes: a new report has a new tick
		p := ping()
		if p.GetReplica() != "" {
			whole++
			assert.Zero(t, p.GetReplicaTag())
		} else {
			assert.Equal(t, replicaTag(a.core.cfg.replica), p.GetReplicaTag())
		}
		b.core.onPing(p)
		next, replica := reportTick()
		assert.Greater(t, next, tick, "heartbeat %d counts as a report", i)
		assert.Equal(t, a.core.cfg.replica, replica)
		tick = next
	}
	assert.Equal(t, 1, whole, "one heartbeat in replicaEvery after the first carries the replica whole")

	// A new life of the member (another replica) is no report of the old
	// one until its replica arrives whole.
	b.core.prunePass()
	newLife := &messages.Ping{Ring: "sim", From: a.node, Seq: 99, Digest: a.core.digest(), ReplicaTag: replicaTag("another life")}
	b.core.onPing(newLife)
	after, replica := reportTick()
	assert.Equal(t, tick, after, "a tag of another replica is no report")
	assert.Equal(t, a.core.cfg.replica, replica)
}

// The gossip tick's ping goes to a member other than the predecessor
// (which gets the heartbeats) and carries the replica whole: it is how
// reports reach members other than the predecessor.
func TestGossipTickPingsAnotherMemberWithTheReplica(t *testing.T) {
	net, all := convergedRing(t, 3, 9)
	a := net.members[all[0]]
	predecessor, ok := a.core.neighbour(-1)
	require.True(t, ok)
	for range 5 {
		a.core.onGossipTick()
		eff := a.core.takeEffects()
		require.Len(t, eff.sends, 1)
		p, ok := eff.sends[0].msg.(*messages.Ping)
		require.True(t, ok, "the anti-entropy round is a ping")
		assert.NotEqual(t, predecessor, eff.sends[0].to)
		assert.Equal(t, string(a.core.cfg.replica), p.GetReplica())
		assert.Equal(t, a.core.digest(), p.GetDigest())
		delete(a.core.probes.pending, p.GetSeq())
	}
}
