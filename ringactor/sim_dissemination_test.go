package ringactor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
)

// The dissemination of one change in the simulation: rounds of push-pull
// anti-entropy alone, and the reach of one eager push.

// roundsToSpread changes the payload of one member of a converged ring of
// size members and returns the anti-entropy rounds until every member has
// it. With push, the change is also pushed at once (fanout, hops).
func roundsToSpread(t testing.TB, size int, seed uint64, fanout, hops int) (rounds int, reachedByPush float64) {
	net, all := convergedRing(t, size, seed)
	for _, m := range net.members {
		m.core.cfg.pushFanout, m.core.cfg.pushHops = fanout, uint32(hops)
	}
	origin := net.members[all[net.rng.IntN(len(all))]]
	delta := origin.payload.Increment(origin.core.cfg.replica, 1)
	origin.core.payloadTouched()
	if fanout > 0 {
		data, err := delta.MarshalBinary()
		require.NoError(t, err)
		origin.core.pushDelta(data)
		net.collect(origin)
		net.deliver()
	}
	reached := 0
	net.each(func(m *simMember) {
		if m.payload.Value() == 1 {
			reached++
		}
	})
	if reached == size {
		return 0, 1 // the push alone reached everyone
	}
	rounds = net.roundsUntil(200, "one change", func() bool {
		return net.allLive(func(m *simMember) bool { return m.payload.Value() == 1 })
	})
	return rounds, float64(reached) / float64(size)
}

// convergedRing starts size members that share one persisted ring and
// believe each other up: a converged ring, without the rounds it takes to
// form one (TestSimMembershipAndCounterConverge covers those).
func convergedRing(t testing.TB, size int, seed uint64) (*simNet, []string) {
	net := newSimNet(t, seed)
	nodes := make([]string, size)
	for i := range nodes {
		nodes[i] = simNode(i)
	}
	var nodeSet crdt.ORSet[string]
	for _, node := range nodes {
		nodeSet.Add("founder#1", node)
	}
	pb, err := nodeSet.ToProto()
	require.NoError(t, err)
	for _, node := range nodes {
		cfg := coreConfig{ring: "sim", self: node, replica: crdt.ReplicaID(node + "#1"), indirectChecks: 2}
		persisted := &messages.PersistedRing{Ring: "sim", Self: node, NodeSet: pb, ForcedDown: &messages.ORSet{}}
		core, err := newCore(cfg, persisted, &counterPayload{}, rand.New(rand.NewPCG(net.rng.Uint64(), 1)), quietLogger())
		require.NoError(t, err)
		for _, other := range nodes {
			if other != node {
				core.alive[other] = true
			}
		}
		core.initDone = true
		core.settle(ReasonInit)
		core.takeEffects()        // the watches of a converged ring
		core.probes = newProber() // and its first ping of the successor, answered
		net.members[node] = &simMember{node: node, core: core, payload: core.payload.(*counterPayload), watches: map[string]bool{}}
		net.order = append(net.order, node)
	}
	return net, sortedNodes(nodes...)
}

// The tests stop at 200 members to stay fast under -race; BenchmarkSimOneChange
// runs 1,000.
func TestSimPushPullSpreadsInLog3NRounds(t *testing.T) {
	for _, size := range []int{10, 100, 200} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			const trials = 3
			total := 0
			for i := range trials {
				rounds, _ := roundsToSpread(t, size, uint64(size*100+i), 0, 0)
				total += rounds
			}
			mean := float64(total) / trials
			bound := 1.5 * math.Log(float64(size)) / math.Log(3)
			t.Logf("%d members: %.1f rounds (log3 N = %.2f)", size, mean, math.Log(float64(size))/math.Log(3))
			assert.LessOrEqual(t, mean, bound, "push-pull must spread a change within 1.5 log3 N rounds")
		})
	}
}

func TestSimEagerPushReachesNearlyEveryone(t *testing.T) {
	cfg := DefaultConfig()
	for _, size := range []int{10, 100, 200} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			const trials = 3
			var reach float64
			for i := range trials {
				_, reached := roundsToSpread(t, size, uint64(size*100+i), cfg.PushFanout, cfg.PushHops)
				reach += reached
			}
			reach /= trials
			t.Logf("%d members: the push alone reaches %.2f%%", size, 100*reach)
			// e^-6 of the members (0.25%) are expected to be missed and
			// wait for anti-entropy.
			assert.GreaterOrEqual(t, reach, 0.98)
		})
	}
}

func BenchmarkSimOneChange(b *testing.B) {
	cfg := DefaultConfig()
	for _, size := range []int{10, 100, 1000} {
		for _, mode := range []struct {
			name         string
			fanout, hops int
		}{{"push-pull", 0, 0}, {"push+push-pull", cfg.PushFanout, cfg.PushHops}} {
			b.Run(fmt.Sprintf("%s/%d", mode.name, size), func(b *testing.B) {
				var rounds, reach float64
				for i := range b.N {
					r, reached := roundsToSpread(b, size, uint64(i+1), mode.fanout, mode.hops)
					rounds += float64(r)
					reach += reached
				}
				b.ReportMetric(rounds/float64(b.N), "rounds")
				b.ReportMetric(math.Log(float64(size))/math.Log(3), "log3N")
				b.ReportMetric(100*reach/float64(b.N), "%reached-before-any-round")
			})
		}
	}
}

func TestSimChangeSpreadByPushCopiesNoState(t *testing.T) {
	cfg := DefaultConfig()
	net, all := convergedRing(t, 32, 5)
	for _, m := range net.members {
		m.core.cfg.pushFanout, m.core.cfg.pushHops = cfg.PushFanout, uint32(cfg.PushHops)
	}
	gossipSent := func() (n uint64) {
		net.each(func(m *simMember) { n += m.core.stats.GossipSent })
		return n
	}
	before := gossipSent()
	origin := net.members[all[3]]
	delta := origin.payload.Increment(origin.core.cfg.replica, 1)
	origin.core.payloadTouched()
	data, err := delta.MarshalBinary()
	require.NoError(t, err)
	origin.core.pushDelta(data)
	net.collect(origin)
	net.deliver()
	for range 3 {
		net.round() // probes whose digests crossed the push
	}
	require.True(t, net.allLive(func(m *simMember) bool { return m.payload.Value() == 1 }))
	assert.Equal(t, before, gossipSent(), "a change the push carried everywhere costs no copy of the state")
}

func TestSimDigestMismatchRightAfterAChangeWaitsForThePush(t *testing.T) {
	net, all := convergedRing(t, 2, 6)
	a, b := net.members[all[0]], net.members[all[1]]
	for _, m := range net.members {
		m.core.cfg.pushFanout, m.core.cfg.pushHops = 6, 6
	}
	a.payload.Increment(a.core.cfg.replica, 1)
	a.core.payloadTouched() // its push is on its way to b
	stateSent := func() int {
		n := 0
		for _, out := range a.core.takeEffects().sends {
			if _, ok := out.msg.(*messages.Gossip); ok {
				n++
			}
		}
		return n
	}
	ping := func(seq uint64) *messages.Ping {
		return &messages.Ping{Ring: "sim", From: b.node, Seq: seq, Digest: b.core.digest()}
	}
	a.core.onPing(ping(1))
	assert.Zero(t, stateSent(), "a probe that crossed the push does not copy the state")
	assert.Equal(t, uint64(1), a.core.stats.MismatchesDeferred)
	a.core.onPing(ping(2))
	assert.Equal(t, 1, stateSent(), "the same mismatch again: the push was lost, anti-entropy repairs it")

	// Long after the change a mismatch is repaired at once.
	a.core.probeTicks += 2
	a.core.onPing(ping(3))
	assert.Equal(t, 1, stateSent())
}

// countingPayload counts the encodings of its counter.
type countingPayload struct {
	counterPayload
	encodes int
}

func (p *countingPayload) encode() ([]byte, error) {
	p.encodes++
	return p.counterPayload.encode()
}

// A large payload is encoded again only when it may have changed: not for
// a membership change (a flapping member causes many), and not at a
// gossip tick after callbacks when it was encoded after them.
func TestThePayloadIsEncodedOnlyWhenItMayHaveChanged(t *testing.T) {
	payload := &countingPayload{}
	core, err := newCore(coreConfig{ring: "encode", self: simNode(0), replica: "r0", indirectChecks: 2}, nil, payload, rand.New(rand.NewPCG(1, 1)), quietLogger())
	require.NoError(t, err)
	core.start()
	core.finishInit()
	first := core.digest()
	encodes := payload.encodes
	require.NotZero(t, first)

	core.nodeSet.Add(crdt.ReplicaID("r0"), simNode(1))
	core.membershipChanged()
	require.NotEqual(t, first, core.digest(), "the digest covers the membership")
	require.Equal(t, encodes, payload.encodes, "a membership change keeps the payload's encoding")

	// A callback may have changed the payload directly: the next gossip
	// tick encodes it again...
	core.callbackRan()
	core.onGossipTick()
	core.digest()
	require.Equal(t, encodes+1, payload.encodes)
	core.onGossipTick()
	core.digest()
	require.Equal(t, encodes+1, payload.encodes, "no callback since")

	// ...unless it was encoded after the callback.
	core.callbackRan()
	payload.Increment("r0", 1)
	core.payloadTouched()
	changed := core.digest()
	require.Equal(t, encodes+2, payload.encodes)
	core.onGossipTick()
	require.Equal(t, changed, core.digest())
	require.Equal(t, encodes+2, payload.encodes, "encoded after the last callback")
}
