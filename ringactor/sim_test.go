package ringactor

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
)

// A simulated network of ring cores: no actors, no sockets, no clock. Each
// round every member gossips, rejoins and probes; messages are delivered
// until none is left; then the probes' indirect and final deadlines fire.
// Links can be cut and members can hang (receive nothing, send nothing) or
// crash (their watchers get a watch notice).

// counterPayload adapts a PN-counter to the core's payloadState.
type counterPayload struct{ crdt.PNCounter }

func (p *counterPayload) mergeEncoded(data []byte) (bool, error) {
	var remote crdt.PNCounter
	if err := remote.UnmarshalBinary(data); err != nil {
		return false, err
	}
	return p.Merge(&remote), nil
}

func (p *counterPayload) encode() ([]byte, error) { return p.MarshalBinary() }

type simMember struct {
	node     string
	core     *ringCore
	payload  *counterPayload
	hung     bool
	crashed  bool
	watches  map[string]bool
	changes  []RingChange
	removed  bool
	persists int
	timers   []probeTimer
}

type simNet struct {
	t       testing.TB
	rng     *rand.Rand
	members map[string]*simMember
	order   []string
	cut     map[[2]string]bool
	// lose, if set, drops the messages it returns true for, as a cut
	// drops those of a link.
	lose  func(simEnvelope) bool
	queue []simEnvelope
	sent  int
}

type simEnvelope struct {
	from, to string
	msg      any
}

func newSimNet(t testing.TB, seed uint64) *simNet {
	return &simNet{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), members: map[string]*simMember{}, cut: map[[2]string]bool{}}
}

func simNode(i int) string { return fmt.Sprintf("10.0.%d.%d:4000", i/250, i%250+1) }

// add starts a member with an empty ring (persisted == nil) or a persisted one.
func (n *simNet) add(node string, persisted *messages.PersistedRing) *simMember {
	n.t.Helper()
	payload := &counterPayload{}
	cfg := coreConfig{ring: "sim", self: node, replica: crdt.ReplicaID(fmt.Sprintf("%s#%d", node, n.rng.Uint64())), indirectChecks: 2}
	core, err := newCore(cfg, persisted, payload, rand.New(rand.NewPCG(n.rng.Uint64(), 1)), quietLogger())
	require.NoError(n.t, err)
	m := &simMember{node: node, core: core, payload: payload, watches: map[string]bool{}}
	if _, exists := n.members[node]; !exists {
		n.order = append(n.order, node)
	}
	n.members[node] = m
	core.start()
	n.collect(m)
	core.finishInit()
	n.collect(m)
	return m
}

// collect takes a member's effects: sends are queued, the rest recorded.
func (n *simNet) collect(m *simMember) {
	eff := m.core.takeEffects()
	for _, out := range eff.sends {
		n.queue = append(n.queue, simEnvelope{from: m.node, to: out.to, msg: out.msg})
	}
	for _, w := range eff.watch {
		m.watches[w] = true
	}
	if eff.persist {
		m.persists++
	}
	m.changes = append(m.changes, eff.ringChanges...)
	m.timers = append(m.timers, eff.probeTimers...)
	if eff.removed {
		m.removed = true
	}
}

func (n *simNet) live(node string) (*simMember, bool) {
	m, ok := n.members[node]
	return m, ok && !m.hung && !m.crashed && !m.removed
}

// deliver delivers queued messages until none is left.
func (n *simNet) deliver() {
	for len(n.queue) > 0 {
		env := n.queue[0]
		n.queue = n.queue[1:]
		to, ok := n.live(env.to)
		if !ok || n.cut[[2]string{env.from, env.to}] || (n.lose != nil && n.lose(env)) {
			continue
		}
		n.sent++
		if !to.core.step(env.msg) {
			n.t.Fatalf("unexpected message %T", env.msg)
		}
		n.collect(to)
	}
}

// each runs f on every live member in a fixed order.
func (n *simNet) each(f func(*simMember)) {
	for _, node := range n.order {
		if m, ok := n.live(node); ok {
			f(m)
			n.collect(m)
		}
	}
}

// round is one gossip interval: gossip, rejoin, probe (heartbeats),
// deliver, then the deadlines in time order: the ends of the waits for
// heartbeats armed in earlier rounds (a wait lasts a round and a quarter, so
// the heartbeats of this round's ticks have come), then the probes'
// indirect checks, verdicts, and the confirmations of the verdicts by the
// members that got them.
func (n *simNet) round() {
	due := map[*simMember][]probeTimer{}
	n.each(func(m *simMember) { due[m] = m.take(phaseHeartbeat) })
	n.each(func(m *simMember) { m.core.onGossipTick() })
	n.each(func(m *simMember) { m.core.onRejoinTick() })
	n.each(func(m *simMember) { m.core.onProbeTick() })
	n.deliver()
	n.each(func(m *simMember) {
		for _, timer := range due[m] {
			m.core.onProbeTimer(timer.seq, timer.phase)
		}
	})
	n.deliver()
	for _, phase := range []probePhase{phaseIndirect, phaseFinal, phaseConfirm} {
		n.each(func(m *simMember) { m.fire(phase) })
		n.deliver()
	}
}

// fire runs the member's probe deadlines of phase (the caller collects).
func (m *simMember) fire(phase probePhase) {
	for _, timer := range m.take(phase) {
		m.core.onProbeTimer(timer.seq, phase)
	}
}

// take removes the member's deadlines of phase and returns them.
func (m *simMember) take(phase probePhase) []probeTimer {
	var taken, kept []probeTimer
	for _, timer := range m.timers {
		if timer.phase == phase {
			taken = append(taken, timer)
		} else {
			kept = append(kept, timer)
		}
	}
	m.timers = kept
	return taken
}

// crash ends a member; its watchers get a watch notice.
func (n *simNet) crash(node string) {
	n.members[node].crashed = true
	n.each(func(m *simMember) {
		if m.watches[node] {
			m.core.onTerminated(node)
		}
	})
}

func (n *simNet) setCut(a, b []string, cut bool) {
	for _, x := range a {
		for _, y := range b {
			n.cut[[2]string{x, y}] = cut
			n.cut[[2]string{y, x}] = cut
		}
	}
}

// roundsUntil runs rounds until cond holds, failing after max rounds.
func (n *simNet) roundsUntil(max int, what string, cond func() bool) int {
	n.t.Helper()
	for r := 1; r <= max; r++ {
		n.round()
		if cond() {
			return r
		}
	}
	n.t.Fatalf("%s: not reached after %d rounds", what, max)
	return 0
}

func (n *simNet) allLive(pred func(*simMember) bool) bool {
	for _, node := range n.order {
		if m, ok := n.live(node); ok && !pred(m) {
			return false
		}
	}
	return true
}

func sortedNodes(nodes ...string) []string {
	s := slices.Clone(nodes)
	slices.Sort(s)
	return s
}

// bootstrap builds an n-member ring: the first member adds every other.
func bootstrap(t testing.TB, n int, seed uint64) (*simNet, []string) {
	net := newSimNet(t, seed)
	var nodes []string
	for i := range n {
		nodes = append(nodes, simNode(i))
		net.add(nodes[i], nil)
	}
	first := net.members[nodes[0]]
	for _, node := range nodes[1:] {
		require.NoError(t, first.core.addNode(node))
		net.collect(first)
	}
	net.deliver()
	return net, sortedNodes(nodes...)
}

func TestSimMembershipAndCounterConverge(t *testing.T) {
	for _, size := range []int{2, 5, 50} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			net, all := bootstrap(t, size, uint64(size))
			rounds := net.roundsUntil(100, "membership", func() bool {
				return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) && slices.Equal(m.core.all(), all) })
			})
			t.Logf("%d members: every member has all up after %d rounds", size, rounds)

			// Every member increments once; the total must reach everyone.
			net.each(func(m *simMember) {
				m.payload.Increment(m.core.cfg.replica, 1)
				m.core.payloadTouched()
			})
			rounds = net.roundsUntil(100, "counter", func() bool {
				return net.allLive(func(m *simMember) bool { return m.payload.Value() == int64(size) })
			})
			t.Logf("%d members: counter converged after %d rounds", size, rounds)
		})
	}
}

func TestSimCrashSeenByWatchAtOnce(t *testing.T) {
	net, all := bootstrap(t, 5, 1)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	crashed := all[2]
	net.crash(crashed)
	want := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == crashed })
	require.True(t, net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), want) }),
		"a watch notice removes the member without waiting for a round")
	net.each(func(m *simMember) {
		last := m.changes[len(m.changes)-1]
		require.Equal(t, ReasonNodeDown, last.Reason)
		require.Equal(t, all, last.Old)
		require.Equal(t, want, last.New)
	})
}

func TestSimHungMemberSeenDownWithinOneRound(t *testing.T) {
	for _, size := range []int{3, 10, 50} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			net, all := bootstrap(t, size, uint64(size)+7)
			net.roundsUntil(100, "membership", func() bool {
				return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
			})
			hung := all[size/2]
			net.members[hung].hung = true
			want := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == hung })
			// The hung member's predecessor probes it every round, and its
			// verdict reaches every up member in the same round.
			net.round()
			require.True(t, net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), want) }))

			// It resumes: its gossip brings it back everywhere.
			net.members[hung].hung = false
			rounds := net.roundsUntil(50, "back up", func() bool {
				return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
			})
			t.Logf("%d members: hung member down after 1 round, back up after %d rounds", size, rounds)
		})
	}
}

func TestSimAdjacentHungMembersSeenDown(t *testing.T) {
	net, all := bootstrap(t, 8, 3)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	net.members[all[3]].hung = true
	net.members[all[4]].hung = true
	want := slices.Concat(all[:3], all[5:])
	rounds := net.roundsUntil(3, "both down", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), want) })
	})
	require.LessOrEqual(t, rounds, 2, "one round per adjacent hung member at most")
}

func TestSimSlowLinkDoesNotBringMemberDown(t *testing.T) {
	net, all := bootstrap(t, 5, 4)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	// One link is cut in both directions; indirect probes through the
	// others keep both ends up.
	net.setCut([]string{all[0]}, []string{all[1]}, true)
	for range 10 {
		net.round()
		require.True(t, net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) }))
	}
}

func TestSimPartitionHeals(t *testing.T) {
	net, all := bootstrap(t, 6, 5)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	left, right := all[:3], all[3:]
	net.setCut(left, right, true)
	net.roundsUntil(10, "sides apart", func() bool {
		return net.allLive(func(m *simMember) bool {
			if slices.Contains(left, m.node) {
				return slices.Equal(m.core.upNodes(), left)
			}
			return slices.Equal(m.core.upNodes(), right)
		})
	})
	// Both sides take writes.
	for _, node := range all {
		m := net.members[node]
		m.payload.Increment(m.core.cfg.replica, 2)
		m.core.payloadTouched()
	}
	net.setCut(left, right, false)
	rounds := net.roundsUntil(50, "healed", func() bool {
		return net.allLive(func(m *simMember) bool {
			return slices.Equal(m.core.upNodes(), all) && m.payload.Value() == 12
		})
	})
	t.Logf("partition healed in %d rounds", rounds)
}

func TestSimDelNodeRemovesMember(t *testing.T) {
	net, all := bootstrap(t, 4, 6)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	gone := all[1]
	first := net.members[all[0]]
	require.NoError(t, first.core.delNode(gone))
	net.collect(first)
	net.deliver()
	require.True(t, net.members[gone].removed, "the removed member is told at once")
	last := net.members[gone].changes[len(net.members[gone].changes)-1]
	require.Equal(t, ReasonRemoved, last.Reason)
	require.Empty(t, last.New)

	rest := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == gone })
	net.roundsUntil(50, "dropped", func() bool {
		return net.allLive(func(m *simMember) bool {
			return slices.Equal(m.core.all(), rest) && slices.Equal(m.core.upNodes(), rest)
		})
	})
	require.ErrorIs(t, first.core.delNode(gone), ErrUnknownNode)
}

func TestSimRemovedWhileAwayStopsOnReturn(t *testing.T) {
	net, all := bootstrap(t, 3, 8)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	away := all[2]
	persisted, err := net.members[away].core.persisted()
	require.NoError(t, err)
	net.crash(away)
	require.NoError(t, net.members[all[0]].core.delNode(away))
	net.collect(net.members[all[0]])
	net.roundsUntil(10, "removal known", func() bool {
		return net.allLive(func(m *simMember) bool { return !slices.Contains(m.core.all(), away) })
	})
	// It restarts from its old ring file and learns it was removed.
	back := net.add(away, persisted)
	require.Contains(t, back.core.all(), away)
	net.roundsUntil(10, "removed", func() bool { return back.removed })
}

func TestSimForceDownDropsGossipBothWays(t *testing.T) {
	net, all := bootstrap(t, 3, 9)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	a, c := net.members[all[0]], net.members[all[2]]
	require.ErrorIs(t, a.core.forceDown(a.node), ErrSelf)
	require.ErrorIs(t, a.core.forceDown("10.9.9.9:1"), ErrUnknownNode)
	require.NoError(t, a.core.forceDown(c.node))
	net.collect(a)
	others := all[:2]
	net.roundsUntil(10, "forced down everywhere", func() bool {
		return slices.Equal(net.members[all[0]].core.upNodes(), others) && slices.Equal(net.members[all[1]].core.upNodes(), others)
	})
	c.payload.Increment(c.core.cfg.replica, 5)
	c.core.payloadTouched()
	for range 5 {
		net.round()
	}
	require.Zero(t, a.payload.Value(), "gossip from a forced-down member is dropped")
	require.Positive(t, a.core.stats.DroppedForcedDown)

	require.NoError(t, a.core.unforceDown(c.node))
	net.collect(a)
	net.roundsUntil(20, "converged", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) && m.payload.Value() == 5 })
	})
}

func TestSimBadGossipChangesNothing(t *testing.T) {
	net, all := bootstrap(t, 2, 10)
	net.roundsUntil(20, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	a := net.members[all[0]]
	good, err := net.members[all[1]].core.gossipMessage()
	require.NoError(t, err)
	before, err := a.core.persisted()
	require.NoError(t, err)

	bad := func(edit func(g *messages.Gossip)) *messages.Gossip {
		g := &messages.Gossip{Ring: good.Ring, From: good.From, Replica: good.Replica, NodeSet: good.NodeSet, ForcedDown: good.ForcedDown, Payload: good.Payload}
		edit(g)
		return g
	}
	cases := map[string]struct {
		gossip  *messages.Gossip
		counter *uint64
	}{
		"other ring":    {bad(func(g *messages.Gossip) { g.Ring = "other" }), &a.core.stats.DroppedOtherRing},
		"payload bytes": {bad(func(g *messages.Gossip) { g.Payload = []byte{0xff, 0xff, 0xff} }), &a.core.stats.DroppedMalformed},
		"bad node":      {bad(func(g *messages.Gossip) { g.NodeSet = mustORSet(t, "not-an-address") }), &a.core.stats.DroppedMalformed},
		"broken set": {bad(func(g *messages.Gossip) {
			g.ForcedDown = &messages.ORSet{Entries: []*messages.ORSetEntry{{Element: []byte("x:1")}}}
		}), &a.core.stats.DroppedMalformed},
		"missing sender": {bad(func(g *messages.Gossip) { g.From = "" }), &a.core.stats.DroppedMalformed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dropped := *tc.counter
			a.core.onGossip(tc.gossip)
			require.Equal(t, dropped+1, *tc.counter)
			eff := a.core.takeEffects()
			require.False(t, eff.persist)
			require.False(t, eff.stateChanged)
			after, err := a.core.persisted()
			require.NoError(t, err)
			require.Equal(t, before.String(), after.String())
		})
	}
}

func mustORSet(t *testing.T, elements ...string) *messages.ORSet {
	var s crdt.ORSet[string]
	for _, e := range elements {
		s.Add("r", e)
	}
	m, err := s.ToProto()
	require.NoError(t, err)
	return m
}

func TestSimRestartLosesNoIncrement(t *testing.T) {
	net, all := bootstrap(t, 3, 11)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	node := all[1]
	m := net.members[node]
	m.payload.Increment(m.core.cfg.replica, 3)
	m.core.payloadTouched()
	net.roundsUntil(20, "first increments", func() bool {
		return net.allLive(func(m *simMember) bool { return m.payload.Value() == 3 })
	})
	persisted, err := m.core.persisted()
	require.NoError(t, err)
	net.crash(node)

	// Same address, same ring file, counters from zero: a new replica ID
	// keeps its increments apart from those of its earlier life.
	back := net.add(node, persisted)
	back.payload.Increment(back.core.cfg.replica, 2)
	back.core.payloadTouched()
	net.roundsUntil(20, "all increments", func() bool {
		return net.allLive(func(m *simMember) bool { return m.payload.Value() == 5 && slices.Equal(m.core.upNodes(), all) })
	})
}

func BenchmarkSimRoundsToConverge(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var rounds, messages int
			for range b.N {
				net, all := bootstrap(b, size, uint64(size))
				r := net.roundsUntil(200, "membership", func() bool {
					return net.allLive(func(m *simMember) bool { return len(m.core.up) == len(all) })
				})
				net.each(func(m *simMember) { m.payload.Increment(m.core.cfg.replica, 1); m.core.payloadTouched() })
				sent := net.sent
				rounds += net.roundsUntil(200, "counter", func() bool {
					return net.allLive(func(m *simMember) bool { return m.payload.Value() == int64(size) })
				})
				messages += net.sent - sent
				_ = r
			}
			b.ReportMetric(float64(rounds)/float64(b.N), "rounds/update")
			b.ReportMetric(float64(messages)/float64(b.N)/float64(size), "msgs/member/update")
		})
	}
}

func TestSimStaleGossipAfterCrashDoesNotRevive(t *testing.T) {
	net, all := bootstrap(t, 3, 12)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	dead := net.members[all[1]]
	stale, err := dead.core.gossipMessage()
	require.NoError(t, err)
	net.crash(dead.node)
	rest := without(all, dead.node)
	a := net.members[all[0]]
	require.Equal(t, rest, a.core.upNodes())

	// Its last gossip arrives after the watch notice, over another
	// connection: a revive ping goes out, and nothing answers it.
	a.core.onGossip(stale)
	net.collect(a)
	net.round()
	require.Equal(t, rest, a.core.upNodes())
}

func TestSimFalseVerdictIsNotTakenOnTrust(t *testing.T) {
	net, all := bootstrap(t, 4, 13)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	// s cannot send for a while (as when it was forced down: the others
	// dropped its pings), then can again; its probes then time out.
	s := net.members[all[0]]
	net.setCut([]string{s.node}, without(all, s.node), true)
	s.core.onProbeTick()
	net.collect(s)
	net.deliver()
	for _, phase := range []probePhase{phaseHeartbeat, phaseIndirect, phaseFinal} {
		if phase == phaseFinal {
			net.setCut([]string{s.node}, without(all, s.node), false)
		}
		s.fire(phase)
		net.collect(s)
		net.deliver()
	}
	require.Positive(t, s.core.stats.ProbeFailures, "s declared someone down")

	// The others check the verdict, get answers, and keep everyone up; s
	// gets the accused member back when it answers s's verdict.
	net.roundsUntil(5, "everyone up everywhere", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	for _, node := range all[1:] {
		for _, change := range net.members[node].changes {
			require.NotEqual(t, ReasonNodeDown, change.Reason, "%s took a false verdict on trust", node)
		}
	}
}

// A member believes another down over a cut link while the rest see it up:
// that member, the hung one's predecessor, no longer probes it. The random
// pings of the gossip rounds still find the hang.
func TestSimHangFoundWhenItsPredecessorBelievesItDown(t *testing.T) {
	net, all := bootstrap(t, 4, 21)
	net.roundsUntil(50, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) })
	})
	a, b := net.members[all[0]], net.members[all[1]]
	net.setCut([]string{a.node}, []string{b.node}, true)
	a.core.onDown(b.node, "the test cut its link")
	net.collect(a)
	net.round()
	require.Equal(t, without(all, b.node), a.core.upNodes(), "a believes b down")
	for _, node := range all[2:] {
		require.Equal(t, all, net.members[node].core.upNodes(), "%s sees b up", node)
	}

	b.hung = true
	rounds := net.roundsUntil(20, "b down everywhere", func() bool {
		return net.allLive(func(m *simMember) bool { return !slices.Contains(m.core.upNodes(), b.node) })
	})
	t.Logf("b, probed by no predecessor, seen down after %d rounds", rounds)
}
