package ringactor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
)

// largeDelta returns an encoded counter delta of many writers, larger than
// lazyPushBytes, and the value it adds.
func largeDelta(t *testing.T, tag string) ([]byte, int64) {
	t.Helper()
	var delta crdt.PNCounter
	const writers = 200
	for i := range writers {
		delta.Increment(crdt.ReplicaID(fmt.Sprintf("%s-writer-%03d-%s", tag, i, strings.Repeat("w", 40))), 1)
	}
	data, err := delta.MarshalBinary()
	require.NoError(t, err)
	require.Greater(t, len(data), lazyPushBytes)
	return data, writers
}

// pushRing is a converged ring with the default push configuration.
func pushRing(t *testing.T, size int, seed uint64) (*simNet, []string) {
	cfg := DefaultConfig()
	net, all := convergedRing(t, size, seed)
	for _, m := range net.members {
		m.core.cfg.pushFanout, m.core.cfg.pushHops = cfg.PushFanout, uint32(cfg.PushHops)
		m.core.cfg.maxStateBytes = cfg.MaxStateBytes
	}
	return net, all
}

// originate makes a change of member m's own with the encoded delta data
// and pushes it, as the commit pipeline does.
func originate(t *testing.T, net *simNet, m *simMember, data []byte) {
	t.Helper()
	changed, err := m.payload.mergeEncoded(data)
	require.NoError(t, err)
	require.True(t, changed)
	m.core.payloadTouched()
	m.core.pushDelta(data)
	net.collect(m)
	net.deliver()
}

func sumStats(net *simNet, f func(*Stats) uint64) (n uint64) {
	net.each(func(m *simMember) { n += f(&m.core.stats) })
	return n
}

func TestSimLargeDeltaReachesEveryMemberOnce(t *testing.T) {
	const size = 32
	net, all := pushRing(t, size, 11)
	data, value := largeDelta(t, "big")
	gossipBefore := sumStats(net, func(s *Stats) uint64 { return s.GossipSent })

	originate(t, net, net.members[all[5]], data)

	assert.True(t, net.allLive(func(m *simMember) bool { return m.payload.Value() == value }),
		"the announcements and pulls alone bring the delta to every member")
	assert.Equal(t, uint64(size-1), sumStats(net, func(s *Stats) uint64 { return s.DeltasSent }),
		"each member receives the large delta once (eager push would send it PushFanout times per member)")
	assert.NotZero(t, sumStats(net, func(s *Stats) uint64 { return s.DeltaAnnouncementsSent }))
	assert.Equal(t, uint64(size-1-DefaultConfig().PushFanout), sumStats(net, func(s *Stats) uint64 { return s.DeltaPullsSent }),
		"every member but the origin's first receivers pulls it, once")

	for range 3 {
		net.round()
	}
	assert.Equal(t, gossipBefore, sumStats(net, func(s *Stats) uint64 { return s.GossipSent }),
		"no state copied after a large delta that lazy push carried everywhere")
}

func TestSimSmallDeltaIsStillPushedEagerly(t *testing.T) {
	net, all := pushRing(t, 16, 12)
	var delta crdt.PNCounter
	delta.Increment("small-writer", 1)
	data, err := delta.MarshalBinary()
	require.NoError(t, err)

	originate(t, net, net.members[all[0]], data)

	assert.True(t, net.allLive(func(m *simMember) bool { return m.payload.Value() == 1 }))
	assert.Zero(t, sumStats(net, func(s *Stats) uint64 { return s.DeltaAnnouncementsSent + s.DeltaPullsSent }))
}

func TestSimLazyPushMessagesOutOfPlaceChangeNothing(t *testing.T) {
	net, all := pushRing(t, 2, 13)
	a, b := net.members[all[0]], net.members[all[1]]
	data, _ := largeDelta(t, "bad")
	delta := func(d *messages.Delta) *messages.Delta {
		d.Ring, d.From = "sim", a.node
		return d
	}

	b.core.onDelta(delta(&messages.Delta{Id: 42, Want: true}))
	assert.Equal(t, uint64(1), b.core.stats.DeltaPullsUnserved, "a pull of a delta not held is not served")
	assert.Empty(t, b.core.takeEffects().sends)

	for name, d := range map[string]*messages.Delta{
		"a pull without an id":               {Want: true},
		"a pull carrying a payload":          {Id: deltaID(data), Want: true, Payload: data},
		"a delta that does not match its id": {Id: deltaID(data) + 1, Payload: data},
	} {
		before := b.core.stats.DroppedMalformed
		b.core.onDelta(delta(d))
		assert.Equal(t, before+1, b.core.stats.DroppedMalformed, name)
	}
	assert.Equal(t, int64(0), b.payload.Value(), "nothing reached the state")
}

func TestSimPullIsNotRepeatedWhileOnItsWay(t *testing.T) {
	net, all := pushRing(t, 3, 14)
	a, b, c := net.members[all[0]], net.members[all[1]], net.members[all[2]]
	data, _ := largeDelta(t, "once")
	id := deltaID(data)
	announce := func(from *simMember) {
		c.core.onDelta(&messages.Delta{Ring: "sim", From: from.node, Id: id})
	}
	pulls := func() (n int) {
		for _, out := range c.core.takeEffects().sends {
			if d, ok := out.msg.(*messages.Delta); ok && d.GetWant() {
				n++
			}
		}
		return n
	}
	announce(a)
	assert.Equal(t, 1, pulls())
	announce(b)
	assert.Zero(t, pulls(), "a second announcement while the pull is on its way")
	c.core.probeTicks += pullRetryTicks
	announce(b)
	assert.Equal(t, 1, pulls(), "a pull unanswered for long: the next announcer is asked")

	c.core.onDelta(&messages.Delta{Ring: "sim", From: b.node, Id: id, Payload: data})
	c.core.takeEffects()
	announce(a)
	assert.Zero(t, pulls(), "an announcement of a delta this member holds")
}

func TestSimHeldDeltasExpire(t *testing.T) {
	net, all := pushRing(t, 3, 15)
	a := net.members[all[0]]
	data, _ := largeDelta(t, "expire")
	a.core.announceDelta(deltaID(data), data, 2, "")
	require.Len(t, a.core.lazy.held, 1)
	for range heldDeltaTicks {
		a.core.onProbeTick()
	}
	assert.Empty(t, a.core.lazy.held)
	assert.Zero(t, a.core.lazy.heldBytes)
}

// largeRing is a converged ring whose members share a payload larger than
// lazyPushBytes.
func largeRing(t *testing.T, size int, seed uint64) (*simNet, []string) {
	net, all := pushRing(t, size, seed)
	data, _ := largeDelta(t, "shared")
	for _, m := range net.members {
		_, err := m.payload.mergeEncoded(data)
		require.NoError(t, err)
		m.core.payloadTouched()
	}
	return net, all
}

// payloadBytesSent returns the bytes of payload in the messages queued on
// the network.
func payloadBytesSent(net *simNet) (n int) {
	for _, env := range net.queue {
		switch m := env.msg.(type) {
		case *messages.Gossip:
			n += len(m.GetPayload())
		case *messages.Delta:
			n += len(m.GetPayload())
		}
	}
	return n
}

func TestSimMemberBackUpCostsNoCopyOfALargeState(t *testing.T) {
	net, all := largeRing(t, 2, 16)
	a, b := net.members[all[0]], net.members[all[1]]
	// b believed a down for a while (a false verdict under load): its
	// rejoin gossip and a's answer carry digests, not the payload.
	delete(b.core.alive, a.node)
	b.core.settle(ReasonNodeDown)
	b.core.onRejoinTick()
	net.collect(b)
	payload := 0
	for len(net.queue) > 0 {
		payload += payloadBytesSent(net)
		env := net.queue[0]
		net.queue = net.queue[1:]
		to := net.members[env.to]
		require.True(t, to.core.step(env.msg))
		net.collect(to)
	}
	assert.Zero(t, payload, "equal digests: no payload travels")
	assert.True(t, b.core.alive[a.node], "a is up again at b")
	assert.Less(t, net.sent, 10, "the greeting is answered once, not bounced")
}

func TestSimGreetingWithADifferentDigestStartsPushPull(t *testing.T) {
	net, all := largeRing(t, 2, 17)
	a, b := net.members[all[0]], net.members[all[1]]
	a.payload.Increment("writer-while-apart", 5)
	a.core.payloadTouched()
	delete(b.core.alive, a.node)
	b.core.settle(ReasonNodeDown)
	b.core.onRejoinTick()
	net.collect(b)
	net.deliver()
	assert.Equal(t, a.payload.Value(), b.payload.Value(), "the states differed: push-pull repaired them")
}
