package ringactor

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// Each test below attacks one member from outside its process, over the
// member's real remote (the test process's shared remote, or a guarded peer
// process's), and checks that the attempt changed nothing and showed in a
// counter.

// requireIntact checks that the member still serves: it answers, its value
// and its node set are as they were.
func requireIntact(t *testing.T, m *member, all []string, value int64) {
	t.Helper()
	got, err := m.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, slices.Sorted(slices.Values(all)), got, "node set")
	assert.Equal(t, value, m.value(t), "payload")
	assert.Nil(t, m.behaviour.terminatedWith(), "the ring actor must not have stopped")
}

func TestRemoteStopAndPoisonPillDoNotStopTheRing(t *testing.T) {
	ring := uniqueRing("sysmsg")
	m := startGuardedMember(t, ring)
	_, err := m.client.Call(within(time.Second), incr{3})
	require.NoError(t, err)
	// A plain actor beside the ring: the guard leaves the rest of the
	// process to Proto.Actor's rules.
	plainName := uniqueRing("plain")
	plain, err := m.system.Root.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), plainName)
	require.NoError(t, err)

	attacker, err := dialRaw(t, m.node, "127.0.0.1:1")
	require.NoError(t, err)
	before := RemoteGuardStats().SystemMessages
	attacker.send(t, actor.NewPID(m.node, ring), &actor.Stop{}, &actor.PoisonPill{})
	// Proto.Actor finds a system message's target by name alone: a PID
	// naming another address must not get past the guard either.
	attacker.send(t, actor.NewPID("10.9.9.9:1", ring), &actor.Stop{})
	require.Eventually(t, func() bool { return RemoteGuardStats().SystemMessages == before+3 }, waitFor, tick)
	requireIntact(t, m, []string{m.node}, 3)

	attacker.send(t, plain, &actor.Stop{})
	require.Eventually(t, func() bool {
		_, alive := m.system.ProcessRegistry.GetLocal(plainName)
		return !alive
	}, waitFor, tick, "a remote Stop to an actor that is not a ring is Proto.Actor's business")
}

// A Terminated from the network is a watch notice: it takes a member out of
// the up set at once. The guard believes one only from the stream of the
// member it names, and, with a keyring and no mTLS, not at all.
func TestForgedTerminatedIsRefused(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		name := map[bool]string{false: "open", true: "keyed"}[keyed]
		t.Run(name, func(t *testing.T) {
			var opts []Option
			if keyed {
				opts = append(opts, WithKeyring(testKeyring(t, testKey(t))))
			}
			ring := uniqueRing("terminated-" + name)
			m := startGuardedMember(t, ring, opts...)
			peer := startFakePeer(t)
			require.NoError(t, m.client.AddNode(context.Background(), peer.addr))
			require.Eventually(t, func() bool { return len(m.up(t)) == 2 }, waitFor, tick)

			notice := &actor.Terminated{Who: actor.NewPID(peer.addr, ring), Why: actor.TerminatedReason_Stopped}
			before := RemoteGuardStats().Terminated
			outsider, err := dialRaw(t, m.node, "127.0.0.1:1")
			require.NoError(t, err)
			outsider.send(t, actor.NewPID(m.node, ring), notice)
			require.Eventually(t, func() bool { return RemoteGuardStats().Terminated == before+1 }, waitFor, tick)
			assert.Len(t, m.up(t), 2, "a notice from another stream changes nothing")

			// The same notice on a stream that claims the peer's address.
			claimant, err := dialRaw(t, m.node, peer.addr)
			require.NoError(t, err)
			claimant.send(t, actor.NewPID(m.node, ring), notice)
			if keyed {
				require.Eventually(t, func() bool { return RemoteGuardStats().Terminated == before+2 }, waitFor, tick)
				assert.Len(t, m.up(t), 2, "a keyed ring without mTLS believes no Terminated from the network")
				return
			}
			// Open ring: the claim is believed (the documented limit of a
			// ring without mTLS or key: anyone can claim an address).
			require.Eventually(t, func() bool { return len(m.up(t)) == 1 }, waitFor, tick)
			assert.Equal(t, before+1, RemoteGuardStats().Terminated)
		})
	}
}

// An outsider with raw access to a keyed member's port, no key: whatever
// it sends, unsealed or sealed with a wrong key, is refused and counted.
func TestKeyedRingRefusesOutsiders(t *testing.T) {
	key := testKey(t)
	name := uniqueRing("keyed")
	m := startGuardedMember(t, name, WithKeyring(testKeyring(t, key)))
	_, err := m.client.Call(within(time.Second), incr{5})
	require.NoError(t, err)
	ring := actor.NewPID(m.node, name)
	outsider := "127.0.0.1:1"
	attacker, err := dialRaw(t, m.node, outsider)
	require.NoError(t, err)
	fake := fakeNodes(t, 300)

	t.Run("unsealed gossip with 300 fake nodes", func(t *testing.T) {
		before := m.stats(t).Security.Unsealed
		attacker.send(t, ring, &messages.Gossip{Ring: name, From: outsider, NodeSet: fake})
		require.Eventually(t, func() bool { return m.stats(t).Security.Unsealed == before+1 }, waitFor, tick)
		requireIntact(t, m, []string{m.node}, 5)
	})
	t.Run("unsealed membership request", func(t *testing.T) {
		before := m.stats(t).Security.RefusedRequests
		attacker.send(t, ring, &messages.AddNode{Node: outsider}, &messages.StopRing{})
		require.Eventually(t, func() bool { return m.stats(t).Security.RefusedRequests == before+2 }, waitFor, tick)
		requireIntact(t, m, []string{m.node}, 5)
	})
	t.Run("sealed with a wrong key", func(t *testing.T) {
		before := m.stats(t).Security.BadSeal
		wrong := newSealer(name, outsider, testKeyring(t, testKey(t)), 0, 0)
		attacker.send(t, ring, mustSeal(t, wrong, &messages.AddNode{Node: outsider}))
		require.Eventually(t, func() bool { return m.stats(t).Security.BadSeal == before+1 }, waitFor, tick)
		requireIntact(t, m, []string{m.node}, 5)
	})
	t.Run("unsealed message for HandleInfo", func(t *testing.T) {
		before := RemoteGuardStats().Unsealed
		attacker.send(t, ring, wrapperspb.String("hello"))
		require.Eventually(t, func() bool { return RemoteGuardStats().Unsealed == before+1 }, waitFor, tick)
		assert.Zero(t, m.behaviour.infoCount())
	})
	t.Run("Stop and PoisonPill", func(t *testing.T) {
		before := RemoteGuardStats().SystemMessages
		attacker.send(t, ring, &actor.Stop{}, &actor.PoisonPill{})
		require.Eventually(t, func() bool { return RemoteGuardStats().SystemMessages == before+2 }, waitFor, tick)
		requireIntact(t, m, []string{m.node}, 5)
	})
}

// A key holder's message, captured on the wire and sent again, is refused:
// the nonce was seen. So is one that names another sender than it was
// sealed by.
func TestKeyedRingRefusesReplayAndForgedSender(t *testing.T) {
	key := testKey(t)
	name := uniqueRing("replay")
	m := startGuardedMember(t, name, WithKeyring(testKeyring(t, key)))
	ring := actor.NewPID(m.node, name)
	stream, err := dialRaw(t, m.node, "127.0.0.1:1")
	require.NoError(t, err)
	peer := startFakePeer(t)

	admin := newSealer(name, "127.0.0.1:1", testKeyring(t, key), 0, 0)
	captured := mustSeal(t, admin, &messages.AddNode{Node: peer.addr})
	stream.send(t, ring, proto.Clone(captured))
	require.Eventually(t, func() bool { all, _ := m.client.All(context.Background()); return len(all) == 2 }, waitFor, tick)
	require.NoError(t, m.client.DelNode(context.Background(), peer.addr))

	before := m.stats(t).Security.Replayed
	stream.send(t, ring, captured)
	require.Eventually(t, func() bool { return m.stats(t).Security.Replayed == before+1 }, waitFor, tick)
	requireIntact(t, m, []string{m.node}, 0)

	// A key holder that claims another member's address inside the seal.
	liar := newSealer(name, "127.0.0.1:1", testKeyring(t, key), 0, 0)
	beforeForged := m.stats(t).Security.ForgedFrom
	stream.send(t, ring, mustSeal(t, liar, &messages.NodeDown{Ring: name, From: peer.addr, Node: m.node}))
	require.Eventually(t, func() bool { return m.stats(t).Security.ForgedFrom == beforeForged+1 }, waitFor, tick)
	requireIntact(t, m, []string{m.node}, 0)
}

// A Client in another process: without the key, or with the wrong one, it
// gets ErrKeyRequired, not silence; with it, it is served.
func TestClientNeedsTheRingKey(t *testing.T) {
	key := testKey(t)
	ring := uniqueRing("clientkey")
	m := startGuardedMember(t, ring, WithKeyring(testKeyring(t, key)))
	peer := startFakePeer(t)
	ops := []string{"add " + peer.addr, "all", "call", "stop"}

	// runClientProcess prefixes "ErrKeyRequired: " to an error that
	// matches ErrKeyRequired with errors.Is.
	before := m.stats(t).Security.RefusedRequests
	for _, outcome := range runClientProcess(t, clientSpec{Node: m.node, Ring: ring, Ops: ops}) {
		assert.True(t, strings.HasPrefix(outcome, "ErrKeyRequired: "), outcome)
		assert.True(t, strings.HasSuffix(outcome, "ringactor: ring requires a key"), outcome)
	}
	wrong := EncodeKey(testKey(t))
	for _, outcome := range runClientProcess(t, clientSpec{Node: m.node, Ring: ring, Key: wrong, Ops: ops}) {
		assert.True(t, strings.HasPrefix(outcome, "ErrKeyRequired: "), outcome)
		assert.Contains(t, outcome, "ringactor: ring requires a key: sealed with a key this member does not hold")
	}
	stats := m.stats(t)
	assert.Equal(t, before+4, stats.Security.RefusedRequests)
	assert.Equal(t, uint64(4), stats.Security.BadSeal)
	requireIntact(t, m, []string{m.node}, 0)

	// A call of a type the member cannot decode, unsealed: the key is
	// what is missing, so that is what the caller hears.
	unknown := runClientProcess(t, clientSpec{Node: m.node, Ring: ring, Ops: []string{"call-form unknown"}})
	require.Len(t, unknown, 1)
	assert.True(t, strings.HasPrefix(unknown[0], "ErrKeyRequired: "), unknown[0])

	outcomes := runClientProcess(t, clientSpec{Node: m.node, Ring: ring, Key: EncodeKey(key), Ops: []string{"add " + peer.addr, "all", "call"}})
	assert.Equal(t, []string{"ok", "ok", "ok"}, outcomes)
	assert.Equal(t, int64(1), m.value(t))
}

// Sealed, a call travels as its message and is answered as the behaviour
// replied, as unsealed (TestRemoteCallCarriesEveryMessageAndReply).
func TestSealedCallsCarryEveryMessageAndReply(t *testing.T) {
	key := testKey(t)
	ring := uniqueRing("sealedforms")
	m := startGuardedMember(t, ring, WithKeyring(testKeyring(t, key)))
	outcomes := runClientProcess(t, clientSpec{Node: m.node, Ring: ring, Key: EncodeKey(key), Ops: []string{
		"call-form nil", "call-form call-reply", "call-form nodes", "call-form get-up", "call-form unknown", "call",
	}})
	require.Len(t, outcomes, 6)
	assert.Equal(t, []string{"ok <nil>", "ok *messages.CallReply", "ok *messages.Nodes"}, outcomes[:3])
	assert.Contains(t, outcomes[3], ErrUnhandledCall.Error())
	assert.Contains(t, outcomes[4], `cannot decode message of type "genserverring.unknowntest.Stranger": unknown to the member`)
	assert.NotContains(t, outcomes[4], "ErrKeyRequired", "no key would help")
	assert.Equal(t, "ok", outcomes[5])
	assert.Equal(t, int64(1), m.value(t))
	assert.Zero(t, m.stats(t).Security.BadSeal)
}

// fakeNodes is a node set of n made-up members.
func fakeNodes(t *testing.T, n int) *messages.ORSet {
	t.Helper()
	set := &crdt.ORSet[string]{}
	for i := range n {
		set.Add(crdt.ReplicaID("127.0.0.1:1"), "10.0.0.1:"+strconv.Itoa(1000+i))
	}
	encoded, err := set.ToProto()
	require.NoError(t, err)
	return encoded
}

func TestBoundsAtTheRingBoundary(t *testing.T) {
	name := uniqueRing("bounds")
	m := startGuardedMember(t, name, WithSecurity(Security{MaxNodes: 10}))
	ring := actor.NewPID(m.node, name)
	outsider := "127.0.0.1:1"
	stream, err := dialRaw(t, m.node, outsider)
	require.NoError(t, err)

	t.Run("a gossip naming more than MaxNodes nodes", func(t *testing.T) {
		stream.send(t, ring, &messages.Gossip{Ring: name, From: outsider, NodeSet: fakeNodes(t, 11)})
		require.Eventually(t, func() bool { return m.stats(t).Security.TooLarge == 1 }, waitFor, tick)
		requireIntact(t, m, []string{m.node}, 0)
	})
	t.Run("a host name longer than 253 bytes", func(t *testing.T) {
		err := m.client.AddNode(context.Background(), strings.Repeat("a", 254)+":1")
		require.ErrorContains(t, err, "longer than 253 bytes")
		assert.Less(t, len(err.Error()), 400, "the error quotes a truncated name")
		require.NoError(t, m.client.AddNode(context.Background(), strings.Repeat("a", 253)+":1"))
		require.NoError(t, m.client.DelNode(context.Background(), strings.Repeat("a", 253)+":1"))
	})
}

// A message larger than RemoteOptions.MaxMessageBytes is refused by the
// member's gRPC server before it is read: the sender's stream ends, the
// member is untouched. (The member needs a remote with that limit: a
// guarded peer.)
func TestMessageOverMaxMessageBytesIsRefused(t *testing.T) {
	name := uniqueRing("maxbytes")
	p := startGuardedPeer(t, guardedSpec{Ring: name, MaxMessageBytes: 64 << 10})
	big, err := dialRaw(t, p.node, "127.0.0.1:1")
	require.NoError(t, err)
	body := mustAny(t, wrapperspb.Bytes(make([]byte, 100<<10)))
	big.send(t, actor.NewPID(p.node, name), &messages.CastRequest{Body: body})
	require.ErrorContains(t, big.recv(), "larger than max")
	state := p.requireIntact(t, []string{p.node}, 0)
	assert.Zero(t, state.Casts)

	// Under the limit, the same cast gets in.
	small, err := dialRaw(t, p.node, "127.0.0.1:1")
	require.NoError(t, err)
	small.send(t, actor.NewPID(p.node, name), &messages.CastRequest{Body: mustAny(t, wrapperspb.Bytes(make([]byte, 10<<10)))})
	require.Eventually(t, func() bool { return p.state(t).Casts == 1 }, waitFor, tick)
}

func mustAny(t *testing.T, msg proto.Message) *anypb.Any {
	t.Helper()
	packed, err := anypb.New(msg)
	require.NoError(t, err)
	return packed
}

// A keyed ring of three members (in one actor system, on the in-process
// network): it converges with every message sealed, its state travelling in
// sealed chunks, and rotates its key with no refusal.
func TestKeyedRingConvergesAndRotates(t *testing.T) {
	oldKey, newKey := testKey(t), testKey(t)
	var members []*member
	var keyrings []*Keyring
	for range 3 {
		keyring := testKeyring(t, oldKey)
		keyrings = append(keyrings, keyring)
		// Chunks of 64 bytes: the state travels in sealed parts too.
		members = append(members, startMember(t, "keyed-ring", nil, WithKeyring(keyring), WithChunks(64, 1<<20)))
	}
	for _, m := range members[1:] {
		require.NoError(t, members[0].client.AddNode(context.Background(), m.node))
	}
	converged := func(want int64) func() bool {
		return func() bool {
			for _, m := range members {
				if len(m.up(t)) != len(members) || m.value(t) != want {
					return false
				}
			}
			return true
		}
	}
	_, err := members[1].client.Call(within(time.Second), incr{2})
	require.NoError(t, err)
	require.Eventually(t, converged(2), waitFor, tick)

	for _, k := range keyrings {
		require.NoError(t, k.AddKey(newKey))
	}
	require.NoError(t, keyrings[0].UseKey(newKey)) // one member seals with the new key first
	_, err = members[0].client.Call(within(time.Second), incr{3})
	require.NoError(t, err)
	require.Eventually(t, converged(5), waitFor, tick)
	for _, k := range keyrings {
		require.NoError(t, k.UseKey(newKey))
	}
	for _, k := range keyrings {
		require.NoError(t, k.RemoveKey(oldKey))
	}
	_, err = members[2].client.Call(within(time.Second), incr{4})
	require.NoError(t, err)
	require.Eventually(t, converged(9), waitFor, tick)
	chunks := uint64(0)
	for _, m := range members {
		stats := m.stats(t)
		assert.Equal(t, SecurityStats{}, stats.Security, "no member refused another")
		chunks += stats.ChunksReceived
	}
	assert.Positive(t, chunks, "state travelled in sealed chunks")
}

// A keyed ring without mTLS believes no Terminated from the network: when
// the ring actor of a member in another process stops, the notice its
// remote sends is refused, and the member is seen down by the probes.
func TestKeyedRingDetectsAStoppedMemberByItsProbes(t *testing.T) {
	key := testKey(t)
	ring := uniqueRing("keyed-detect")
	system := sharedRemote(t)
	b := &counterBehaviour{}
	all := append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(memberLogger(t, slog.LevelDebug)), WithKeyring(testKeyring(t, key))}, testOptions...)
	client, err := Start[*crdt.PNCounter](system, ring, b, all...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, system.Root.StopFuture(client.PID()).Wait()) })
	m := &member{system: system, client: client, behaviour: b, node: system.Address()}
	p := startGuardedPeer(t, guardedSpec{Ring: ring, Key: EncodeKey(key), Probes: true})

	require.NoError(t, m.client.AddNode(context.Background(), p.node))
	require.Eventually(t, func() bool { return len(m.up(t)) == 2 && len(p.state(t).Up) == 2 }, waitFor, tick)
	_, err = m.client.Call(within(time.Second), incr{2})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return p.state(t).Value == 2 }, waitFor, tick, "sealed gossip crosses the processes")

	before := RemoteGuardStats().Terminated
	failures := m.stats(t).ProbeFailures
	require.Empty(t, p.request(t, "localstop"))
	require.Eventually(t, func() bool { return RemoteGuardStats().Terminated == before+1 }, waitFor, tick,
		"the stopped member's remote's Terminated notice is refused")
	require.Eventually(t, func() bool { return len(m.up(t)) == 1 }, waitFor, tick, "the stopped member is seen down")
	assert.Greater(t, m.stats(t).ProbeFailures, failures, "by a probe's verdict, not a watch notice")
	assert.Equal(t, SecurityStats{}, m.stats(t).Security, "no sealed message was refused")
}
