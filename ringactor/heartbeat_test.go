package ringactor

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/messages"
)

// heartbeatBetween reports whether env is a heartbeat from one member to another.
func heartbeatBetween(env simEnvelope, from, to string) bool {
	p, ok := env.msg.(*messages.Ping)
	return ok && p.GetSeq() == 0 && env.from == from && env.to == to
}

// In a steady ring each member sends one heartbeat per probe interval, to
// its predecessor, and pings no one but the gossip round's random member:
// no heartbeat is late, so no successor is pinged.
func TestSimSteadyRingSendsOneHeartbeatPerMemberAndInterval(t *testing.T) {
	const size, rounds = 10, 10
	net, all := convergedRing(t, size, 31)
	net.roundsUntil(3, "a round passes", func() bool { return true })
	before := map[string]Stats{}
	net.each(func(m *simMember) { before[m.node] = m.core.stats })
	heartbeats := map[[2]string]int{}
	net.lose = func(env simEnvelope) bool {
		if p, ok := env.msg.(*messages.Ping); ok && p.GetSeq() == 0 {
			heartbeats[[2]string{env.from, env.to}]++
		}
		return false
	}
	for range rounds {
		net.round()
	}
	for i, node := range all {
		predecessor := all[(i+size-1)%size]
		assert.Equal(t, rounds, heartbeats[[2]string{node, predecessor}], "%s heartbeats to its predecessor each round", node)
		m := net.members[node]
		assert.Equal(t, uint64(rounds), m.core.stats.HeartbeatsSent-before[node].HeartbeatsSent)
		assert.Zero(t, m.core.stats.HeartbeatsLate-before[node].HeartbeatsLate, "%s: no heartbeat was late", node)
		assert.Equal(t, uint64(rounds), m.core.stats.ProbesSent-before[node].ProbesSent, "%s: one ping a round, the gossip round's", node)
	}
	assert.Len(t, heartbeats, size, "to no one but the predecessor")
}

// A successor that answers pings but sends no heartbeat here (a member of
// an earlier version pings its successor instead; one whose up set differs
// heartbeats to another member) is pinged each time the wait for its
// heartbeat ends: it stays up, and its hang is still found in one round.
func TestSimSuccessorWithoutHeartbeatsIsWatchedByPings(t *testing.T) {
	net, all := convergedRing(t, 5, 32)
	a, b := net.members[all[0]], net.members[all[1]]
	net.lose = func(env simEnvelope) bool { return heartbeatBetween(env, b.node, a.node) }
	for range 10 {
		net.round()
		require.True(t, net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) }))
	}
	assert.GreaterOrEqual(t, a.core.stats.HeartbeatsLate, uint64(9), "a pinged b each round")
	assert.Positive(t, a.core.stats.ProbeAcks)

	b.hung = true
	net.round()
	want := without(all, b.node)
	require.True(t, net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), want) }), "b seen down everywhere in one round")
}

// A member whose heartbeats cannot reach its predecessor over a cut link
// is pinged by it, and the indirect probes through the others keep it up.
func TestSimHeartbeatsLostOverACutLinkBringNoOneDown(t *testing.T) {
	net, all := convergedRing(t, 5, 33)
	a, b := net.members[all[0]], net.members[all[1]]
	net.cut[[2]string{b.node, a.node}] = true // b's messages to a are lost
	for range 10 {
		net.round()
		require.True(t, net.allLive(func(m *simMember) bool { return slices.Equal(m.core.upNodes(), all) }))
	}
	assert.GreaterOrEqual(t, a.core.stats.HeartbeatsLate, uint64(9))
	assert.GreaterOrEqual(t, a.core.stats.ProbeSuspects, uint64(9), "a asked others to probe b")
	assert.Zero(t, a.core.stats.ProbeFailures)
}

// A new successor, which may not know this member yet, is pinged at once,
// and its heartbeats are awaited from then on; the wait for the old
// successor's heartbeat ends with nothing done once it is no longer
// watched.
func TestSimWaitForAHeartbeatFollowsTheSuccessor(t *testing.T) {
	net, all := convergedRing(t, 4, 34)
	net.round()
	a, b, c := net.members[all[0]], net.members[all[1]], net.members[all[2]]
	b.crashed = true
	net.each(func(m *simMember) { m.core.onTerminated(b.node) }) // the watch notices
	successor, ok := a.core.successor()
	require.True(t, ok)
	require.Equal(t, c.node, successor, "c follows b")
	require.True(t, a.core.probes.probing(c.node, probeCheck), "a pings its new successor at once")
	for range 5 {
		net.round()
	}
	assert.Zero(t, a.core.stats.HeartbeatsLate, "c heartbeats to a from its first tick after b's crash")
	assert.Zero(t, a.core.stats.ProbeFailures)
	assert.False(t, a.core.probes.probing(b.node, probeAwait, probeCheck), "nothing waits for b")
}
