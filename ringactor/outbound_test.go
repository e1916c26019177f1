package ringactor

import (
	"context"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutboundCreditCountsRefusesAndRestores(t *testing.T) {
	c := newOutboundCredit(8)
	var grants []creditGrant
	for range 8 {
		grants = append(grants, c.take("b"))
	}
	assert.Equal(t, []creditGrant{creditGranted, creditGranted, creditGranted, creditAskAnswer, creditGranted, creditGranted, creditGranted, creditGranted}, grants,
		"granted up to the limit, with an ask for an answer at half of it")
	assert.Equal(t, creditRefused, c.take("b"), "the ninth is refused")
	assert.Equal(t, creditGranted, c.take("c"), "each node has a credit of its own")

	c.giveBack("b", 2)
	assert.Equal(t, 6, c.outstanding("b"), "what the transport dropped does not count")
	c.giveBack("b", 100)
	assert.Equal(t, 0, c.outstanding("b"), "never below zero")

	for range 8 {
		c.take("b")
	}
	require.Equal(t, creditRefused, c.take("b"))
	c.restore("b")
	assert.Equal(t, 0, c.outstanding("b"))
	assert.Equal(t, creditGranted, c.take("b"), "heard from: full credit")

	one := newOutboundCredit(1)
	assert.Equal(t, creditAskAnswer, one.take("b"), "a limit of one asks at once")
	assert.Equal(t, creditRefused, one.take("b"))
}

func TestMaxUnansweredMustNotBeNegative(t *testing.T) {
	_, err := buildConfig([]Option{WithSecurity(Security{MaxUnanswered: -1})})
	require.ErrorContains(t, err, "Security.MaxUnanswered must not be negative")
	cfg, err := buildConfig(nil)
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxUnanswered, cfg.Security.maxUnanswered(), "0 is the default")
}

// A member whose peer stops reading (a stalled node of the in-process
// network stands for a process stopped with SIGSTOP: what is sent to it is
// held, as Proto.Actor's endpoint writer queues it) hands it at most
// MaxUnanswered messages and drops the rest, counted; once the peer reads
// again, its answers restore the credit and both see each other up.
func TestStalledPeerIsHandedAtMostMaxUnanswered(t *testing.T) {
	const limit = 8
	n := netFor(t)
	ring := "stalled"
	a := startMember(t, ring, nil, WithSecurity(Security{MaxUnanswered: limit}))
	b := startMember(t, ring, nil)
	require.NoError(t, a.client.AddNode(context.Background(), b.node))
	both := sortedNodes(a.node, b.node)
	require.Eventually(t, func() bool { return slices.Equal(a.up(t), both) && slices.Equal(b.up(t), both) }, waitFor, tick)
	require.Zero(t, a.stats(t).DroppedOutbound, "a live peer is not silenced")

	n.stall(b.node)
	require.Eventually(t, func() bool { return a.stats(t).DroppedOutbound > 0 }, waitFor, tick, "a drops what it sends the stalled peer past the limit")
	held, dropped := n.held(b.node), a.stats(t).DroppedOutbound
	require.Eventually(t, func() bool { return a.stats(t).DroppedOutbound >= dropped+20 }, waitFor, tick, "a goes on dropping")
	assert.Equal(t, held, n.held(b.node), "nothing more is handed to the stalled peer")
	assert.LessOrEqual(t, held, 2*limit, "what waits for the stalled peer is bounded")
	t.Logf("held for the stalled peer: %d (limit %d); dropped: %d", n.held(b.node), limit, a.stats(t).DroppedOutbound)

	n.resume(b.node)
	require.Eventually(t, func() bool { return slices.Equal(a.up(t), both) && slices.Equal(b.up(t), both) }, waitFor, tick, "both see each other up again")
	_, err := a.client.Call(within(waitFor), incr{5})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.value(t) == 5 }, waitFor, tick, "a's changes reach b again")
	requireSendsWithoutDrops(t, a, limit, "b answers: a sends it many times the limit and drops nothing")
}

// The same with a real peer process stopped with SIGSTOP: its connection
// stays open, nothing ever tells the member, and without the bound
// everything the member sends it would pile up in Proto.Actor's endpoint
// writer for as long as the stop lasts. After SIGCONT the peer's answers
// restore the credit and both see each other up.
func TestStoppedPeerProcessIsHandedAtMostMaxUnanswered(t *testing.T) {
	const limit = 16
	ring := uniqueRing("sigstop")
	p, _ := startPeer(t, ring)
	remote := NewClient(sharedRemote(t), p.node, ring)
	local := startSharedMember(t, ring, WithSecurity(Security{MaxUnanswered: limit}))
	require.Eventually(t, func() bool { return local.behaviour.hasChange(ReasonInit, nil) }, waitFor, tick)
	require.NoError(t, local.client.AddNode(context.Background(), p.node))
	both := sortedNodes(local.node, p.node)
	bothUp := func() bool {
		up, err := remote.Up(within(time.Second))
		return err == nil && slices.Equal(up, both) && slices.Equal(local.up(t), both)
	}
	require.Eventually(t, bothUp, waitFor, tick)
	require.Zero(t, local.stats(t).DroppedOutbound, "a live peer is not silenced")

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGSTOP))
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGCONT))
		}
	}
	t.Cleanup(resume) // before the peer's own cleanup, which waits for it to end
	require.Eventually(t, func() bool { return local.stats(t).DroppedOutbound > 0 }, waitFor, tick, "the member drops what it sends the stopped peer past the limit")
	first := local.stats(t)
	require.Eventually(t, func() bool { return local.stats(t).DroppedOutbound >= first.DroppedOutbound+10 }, waitFor, tick, "and goes on dropping")
	later := local.stats(t)
	assert.Equal(t, first.MessagesSent, later.MessagesSent, "nothing more is handed to Proto.Actor for the stopped peer")
	t.Logf("dropped for the stopped peer: %d (limit %d)", later.DroppedOutbound, limit)

	resume()
	require.Eventually(t, bothUp, waitFor, tick, "after SIGCONT both see each other up again")
	requireSendsWithoutDrops(t, local, limit, "the peer answers: the member sends it many times the limit and drops nothing")
}

// What the remote transport never hands Proto.Actor takes no credit: a
// member rejoin-gossips to a node that refuses connections many times
// the limit and drops nothing, so when a member with no memory of the
// ring starts there (which only that gossip can bring in), it is reached.
func TestRefusedConnectionsTakeNoCredit(t *testing.T) {
	const limit = 4
	ring := uniqueRing("refused")
	ghost := closedAddress(t)
	local := startSharedMember(t, ring, WithSecurity(Security{MaxUnanswered: limit}))
	require.Eventually(t, func() bool { return local.behaviour.hasChange(ReasonInit, nil) }, waitFor, tick)
	require.NoError(t, local.client.AddNode(context.Background(), ghost))
	before := local.stats(t)
	require.Eventually(t, func() bool { return local.stats(t).MessagesSent >= before.MessagesSent+4*limit }, waitFor, tick, "rejoin gossip to the closed address")
	assert.Zero(t, local.stats(t).DroppedOutbound, "nothing reached the closed address, so nothing counts against it")

	_, port, err := net.SplitHostPort(ghost)
	require.NoError(t, err)
	p, startErr := startPeer(t, ring, peerPortEnv+"="+port)
	require.Empty(t, startErr)
	require.Equal(t, ghost, p.node)
	both := sortedNodes(local.node, p.node)
	remote := NewClient(sharedRemote(t), p.node, ring)
	require.Eventually(t, func() bool {
		up, err := remote.Up(within(time.Second))
		return err == nil && slices.Equal(up, both) && slices.Equal(local.up(t), both)
	}, waitFor, tick, "the new member is brought into the ring")
	assert.Zero(t, local.stats(t).DroppedOutbound)
}

// requireSendsWithoutDrops has m send four times limit more messages, its
// heartbeats and the pushes of changes it makes meanwhile, and checks that
// it dropped none for want of credit: its peer answers again.
func requireSendsWithoutDrops(t *testing.T, m *member, limit uint64, why string) {
	t.Helper()
	after := m.stats(t)
	require.Eventually(t, func() bool {
		_, err := m.client.Call(within(time.Second), incr{1}) // pushed to the peer
		return err == nil && m.stats(t).MessagesSent >= after.MessagesSent+4*limit
	}, waitFor, tick)
	assert.Equal(t, after.DroppedOutbound, m.stats(t).DroppedOutbound, why)
}
