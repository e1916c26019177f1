package ringactor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// A port of the original's single-node test.
func TestSingleMember(t *testing.T) {
	m := startMember(t, "single", nil)
	b := m.behaviour

	require.Eventually(t, func() bool {
		return b.hasChange(ReasonInit, func(c RingChange) bool { return slices.Equal(c.New, []string{m.node}) })
	}, waitFor, tick, "HandleRingChange(init) with this member up")

	v, err := m.client.Call(within(time.Second), incr{2})
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)

	require.NoError(t, m.client.Cast(incr{3}))
	require.Eventually(t, func() bool { return m.value(t) == 5 }, waitFor, tick, "cast applied")

	m.client.Send("stray message")
	require.Eventually(t, func() bool { return b.infoCount() == 1 }, waitFor, tick, "HandleInfo got the stray message")

	_, err = m.client.Call(within(time.Second), "unknown request")
	require.ErrorIs(t, err, ErrUnhandledCall)

	// A gossip whose payload holds increments of another replica changes
	// the payload: HandleStateChange.
	var remote crdt.PNCounter
	remote.Increment("elsewhere#1", 10)
	payload, err := remote.MarshalBinary()
	require.NoError(t, err)
	m.client.Send(&messages.Gossip{Ring: "single", From: closedAddress(t), Payload: payload, NodeSet: &messages.ORSet{}, ForcedDown: &messages.ORSet{}})
	require.Eventually(t, func() bool { return b.stateChangeCount() == 1 && m.value(t) == 15 }, waitFor, tick)

	// A node that does not exist: added (reason request), then seen down.
	ghost := closedAddress(t)
	require.NoError(t, m.client.AddNode(context.Background(), ghost))
	all, err := m.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, sortedNodes(m.node, ghost), all)
	require.True(t, b.hasChange(ReasonRequest, func(c RingChange) bool { return slices.Contains(c.New, ghost) }))
	require.Eventually(t, func() bool {
		return b.hasChange(ReasonNodeDown, func(c RingChange) bool {
			return slices.Contains(c.Old, ghost) && slices.Equal(c.New, []string{m.node})
		})
	}, waitFor, tick, "the ghost is seen down")
	assert.Equal(t, []string{m.node}, m.up(t))

	require.NoError(t, m.client.LocalStop(context.Background()))
	require.Eventually(t, func() bool { return errors.Is(b.terminatedWith(), ErrStopped) }, waitFor, tick)
	awaitStopped(t, m.client)
	_, err = m.client.Call(within(time.Second), get{})
	require.ErrorIs(t, err, ErrMemberGone)
}

// startRing starts n members and has the first add the others.
func startRing(t *testing.T, ring string, n int, opts ...Option) ([]*member, []string) {
	t.Helper()
	var members []*member
	var nodes []string
	for range n {
		m := startMember(t, ring, nil, opts...)
		members = append(members, m)
		nodes = append(nodes, m.node)
	}
	for _, m := range members[1:] {
		require.NoError(t, members[0].client.AddNode(context.Background(), m.node))
	}
	all := sortedNodes(nodes...)
	require.Eventually(t, func() bool {
		for _, m := range members {
			// Changes before the init notice are folded into it: wait for
			// it, so that tests see every later change.
			if !slices.Equal(m.up(t), all) || !m.behaviour.hasChange(ReasonInit, nil) {
				return false
			}
		}
		return true
	}, waitFor, tick, "every member sees every member up")
	return members, all
}

func TestFourMembers(t *testing.T) {
	members, all := startRing(t, "four", 4)
	for i, m := range members {
		_, err := m.client.Call(within(time.Second), incr{uint64(i + 1)})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		for _, m := range members {
			if m.value(t) != 10 {
				return false
			}
		}
		return true
	}, waitFor, tick, "the counter converges to 1+2+3+4 everywhere")
	for _, m := range members {
		got, err := m.client.All(context.Background())
		require.NoError(t, err)
		assert.Equal(t, all, got)
		assert.Equal(t, all, m.up(t))
	}
}

func TestShutdownMemberSeenDownByOthers(t *testing.T) {
	members, all := startRing(t, "shutdown", 3)
	gone := members[1]
	gone.shutdown()
	rest := without(all, gone.node)
	for _, m := range []*member{members[0], members[2]} {
		if !assert.Eventually(t, func() bool {
			return slices.Equal(m.up(t), rest) && m.behaviour.hasChange(ReasonNodeDown, func(c RingChange) bool {
				return slices.Contains(c.Old, gone.node) && !slices.Contains(c.New, gone.node)
			})
		}, waitFor, tick) {
			t.Fatalf("%s: ring changes: %v", m.node, m.behaviour.changes())
		}
	}
	// The others keep working.
	_, err := members[0].client.Call(within(time.Second), incr{4})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return members[2].value(t) == 4 }, waitFor, tick)
}

func TestDelNodeStopsRemovedMember(t *testing.T) {
	dir := t.TempDir()
	store, err := persistence.NewFileStore(dir)
	require.NoError(t, err)
	a := startMember(t, "del", nil)
	b := startMember(t, "del", store)
	c := startMember(t, "del", nil)
	require.NoError(t, a.client.AddNode(context.Background(), b.node))
	require.NoError(t, a.client.AddNode(context.Background(), c.node))
	all := sortedNodes(a.node, b.node, c.node)
	require.Eventually(t, func() bool { return slices.Equal(c.up(t), all) && slices.Equal(b.up(t), all) }, waitFor, tick)
	_, err = os.Stat(filepath.Join(dir, persistence.RingFileName))
	require.NoError(t, err, "the member persisted its ring")

	require.NoError(t, c.client.DelNode(context.Background(), b.node))
	require.Eventually(t, func() bool { return errors.Is(b.behaviour.terminatedWith(), ErrRemoved) }, waitFor, tick)
	assert.True(t, b.behaviour.hasChange(ReasonRemoved, func(c RingChange) bool { return len(c.New) == 0 }))
	_, err = os.Stat(filepath.Join(dir, persistence.RingFileName))
	require.ErrorIs(t, err, os.ErrNotExist, "the removed member deleted its ring file")

	rest := sortedNodes(a.node, c.node)
	for _, m := range []*member{a, c} {
		require.Eventually(t, func() bool {
			got, err := m.client.All(context.Background())
			require.NoError(t, err)
			return slices.Equal(got, rest) && slices.Equal(m.up(t), rest)
		}, waitFor, tick)
	}
	require.ErrorIs(t, a.client.DelNode(context.Background(), b.node), ErrUnknownNode)
}

func TestForceDownThenUnforceDown(t *testing.T) {
	members, all := startRing(t, "force", 3)
	a, c := members[0], members[2]
	require.ErrorIs(t, a.client.ForceDown(context.Background(), a.node), ErrSelf)
	require.NoError(t, a.client.ForceDown(context.Background(), c.node))
	others := without(all, c.node)
	require.Eventually(t, func() bool {
		return slices.Equal(members[0].up(t), others) && slices.Equal(members[1].up(t), others)
	}, waitFor, tick)

	_, err := c.client.Call(within(time.Second), incr{7})
	require.NoError(t, err)
	_, err = a.client.Call(within(time.Second), incr{1})
	require.NoError(t, err)
	// c's gossip keeps arriving and is dropped; nothing crosses.
	dropped := a.stats(t).DroppedForcedDown
	require.Eventually(t, func() bool { return a.stats(t).DroppedForcedDown > dropped+2 }, waitFor, tick)
	assert.Equal(t, int64(1), a.value(t))
	assert.Equal(t, int64(1), members[1].value(t))
	assert.Equal(t, int64(7), c.value(t))

	require.NoError(t, members[1].client.UnforceDown(context.Background(), c.node))
	require.Eventually(t, func() bool {
		for _, m := range members {
			if m.value(t) != 8 || !slices.Equal(m.up(t), all) {
				return false
			}
		}
		return true
	}, waitFor, tick, "after UnforceDown the payloads converge")
}

// A port of the original's restart test: a member starts from a hand-made
// ring file; the listed members that answer are up in the init notice.
func TestRestartFromHandMadeRingFile(t *testing.T) {
	members, _ := startRing(t, "restart", 2)
	ghost := closedAddress(t)
	var nodeSet crdt.ORSet[string]
	for _, node := range []string{members[0].node, members[1].node, ghost} {
		nodeSet.Add("hand-made", node)
	}
	encoded, err := nodeSet.ToProto()
	require.NoError(t, err)
	store, err := persistence.NewFileStore(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, store.Save(&messages.PersistedRing{Ring: "restart", NodeSet: encoded, ForcedDown: &messages.ORSet{}}))

	m := startMember(t, "restart", store, WithInitTimeout(time.Second))
	want := sortedNodes(m.node, members[0].node, members[1].node)
	require.Eventually(t, func() bool {
		return m.behaviour.hasChange(ReasonInit, nil)
	}, waitFor, tick)
	init := m.behaviour.changes()[0]
	assert.Equal(t, ReasonInit, init.Reason)
	assert.Equal(t, want, init.New, "the members that answered are up, the ghost is not")
	all, err := m.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, sortedNodes(m.node, members[0].node, members[1].node, ghost), all)
	require.Eventually(t, func() bool {
		return slices.Equal(members[0].up(t), want) && slices.Equal(members[1].up(t), want)
	}, waitFor, tick, "the others see the newcomer up")
}

func TestRestartLosesNoIncrement(t *testing.T) {
	members, all := startRing(t, "incr", 3)
	store := members[1].store
	for _, m := range members {
		_, err := m.client.Call(within(time.Second), incr{1})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return members[0].value(t) == 3 && members[1].value(t) == 3 }, waitFor, tick)

	members[1].shutdown()
	require.Eventually(t, func() bool { return slices.Equal(members[0].up(t), without(all, members[1].node)) }, waitFor, tick)
	_, err := members[0].client.Call(within(time.Second), incr{1})
	require.NoError(t, err)

	// Same address, same ring file; its counter starts from zero again.
	back := startMemberOn(t, members[1].node, "incr", store)
	_, err = back.client.Call(within(time.Second), incr{5})
	require.NoError(t, err)
	for _, m := range []*member{members[0], back, members[2]} {
		require.Eventually(t, func() bool { return m.value(t) == 9 && slices.Equal(m.up(t), all) }, waitFor, tick,
			"3 before, 1 while away, 5 after the restart")
	}
}

func TestBadRingFileFailsStart(t *testing.T) {
	valid := func(t *testing.T) (*persistence.FileStore, string) {
		store, err := persistence.NewFileStore(t.TempDir())
		require.NoError(t, err)
		require.NoError(t, store.Save(&messages.PersistedRing{Ring: "bad", NodeSet: mustORSet(t, "127.0.0.1:1"), ForcedDown: &messages.ORSet{}}))
		return store, store.Path()
	}
	cases := map[string]struct {
		edit func(t *testing.T, data []byte) []byte
		want error
	}{
		"corrupt": {func(_ *testing.T, data []byte) []byte { data[len(data)-1] ^= 0xff; return data }, persistence.ErrCorrupt},
		"unknown version": {func(t *testing.T, data []byte) []byte {
			return mustMarshal(t, &messages.RingFile{FormatVersion: 99, Body: []byte("future")})
		}, persistence.ErrUnsupportedVersion},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			store, path := valid(t)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			bad := tc.edit(t, data)
			require.NoError(t, os.WriteFile(path, bad, 0o644))

			n := netFor(t)
			_, err = Start[*crdt.PNCounter](n.system, "bad", &counterBehaviour{}, WithStore(store), WithLogger(quietLogger()), n.member(newNode()))
			require.ErrorIs(t, err, tc.want)
			require.ErrorContains(t, err, path, "the error names the file")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, bad, after, "nothing is overwritten")
		})
	}
	t.Run("other ring", func(t *testing.T) {
		store, path := valid(t)
		n := netFor(t)
		_, err := Start[*crdt.PNCounter](n.system, "not-bad", &counterBehaviour{}, WithStore(store), WithLogger(quietLogger()), n.member(newNode()))
		require.ErrorContains(t, err, `persisted ring is "bad"`)
		require.ErrorContains(t, err, path)
	})
}

func TestBadGossipIsDroppedAndCounted(t *testing.T) {
	members, all := startRing(t, "gossip", 2)
	a := members[0]
	_, err := a.client.Call(within(time.Second), incr{3})
	require.NoError(t, err)
	stranger := closedAddress(t)
	before := a.stats(t)

	a.client.Send(&messages.Gossip{Ring: "gossip", From: stranger, Payload: []byte{0xff, 0x01}, NodeSet: &messages.ORSet{}, ForcedDown: &messages.ORSet{}})
	a.client.Send(&messages.Gossip{Ring: "gossip", From: stranger, NodeSet: mustORSet(t, "no port"), ForcedDown: &messages.ORSet{}})
	a.client.Send(&messages.Gossip{Ring: "other-ring", From: stranger, NodeSet: mustORSet(t, stranger), ForcedDown: &messages.ORSet{}})
	require.Eventually(t, func() bool {
		s := a.stats(t)
		return s.DroppedMalformed == before.DroppedMalformed+2 && s.DroppedOtherRing == before.DroppedOtherRing+1
	}, waitFor, tick)
	assert.Equal(t, int64(3), a.value(t))
	got, err := a.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, all, got, "membership intact")
}

func TestHandleCallPanicKeepsState(t *testing.T) {
	members, all := startRing(t, "panic", 2)
	a := members[0]
	_, err := a.client.Call(within(time.Second), incr{2})
	require.NoError(t, err)

	_, err = a.client.Call(within(time.Second), boom{})
	require.ErrorIs(t, err, ErrCallbackPanic)
	require.ErrorContains(t, err, "boom")
	assert.Equal(t, uint64(1), a.stats(t).CallbackPanics)

	assert.Equal(t, int64(2), a.value(t), "payload intact")
	assert.Equal(t, all, a.up(t), "membership intact")
	_, err = a.client.Call(within(time.Second), incr{1})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return members[1].value(t) == 3 }, waitFor, tick, "still gossiping")
}

func mustMarshal(t *testing.T, m *messages.RingFile) []byte {
	t.Helper()
	data, err := protoMarshal(m)
	require.NoError(t, err)
	return data
}

// ActorSystem.Shutdown stops no actor; the ring notices and stops itself.
func TestActorSystemShutdownStopsRing(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger() }))
	n := &localNet{system: system}
	b := &counterBehaviour{}
	_, err := Start[*crdt.PNCounter](system, "system-shutdown", b, append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger()), n.member(newNode())}, testOptions...)...)
	require.NoError(t, err)
	system.Shutdown()
	require.Eventually(t, func() bool { return errors.Is(b.terminatedWith(), ErrStopped) }, waitFor, tick,
		"the ring actor of a shut-down actor system stops")
}
