package ringactor

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

type failingInit struct {
	DefaultBehaviour[*crdt.PNCounter]
}

func (failingInit) Init(*Context[*crdt.PNCounter]) (*crdt.PNCounter, error) {
	return nil, errors.New("no config")
}

func newLocalSystem(t *testing.T) *actor.ActorSystem {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger() }))
	t.Cleanup(system.Shutdown)
	return system
}

func TestDeferredReply(t *testing.T) {
	m := startMember(t, "deferred", nil)
	answer := make(chan any, 1)
	go func() {
		v, err := m.client.Call(within(5*time.Second), later{})
		if err != nil {
			v = err
		}
		answer <- v
	}()
	require.Eventually(t, func() bool { return m.behaviour.pendingCount() == 1 }, waitFor, tick, "the call is pending")
	require.NoError(t, m.client.Cast(release{value: "done"}))
	assert.Equal(t, "done", <-answer)
}

func TestStopWithRepliesThenStops(t *testing.T) {
	m := startMember(t, "stopwith", nil)
	v, err := m.client.Call(within(time.Second), stopWith{})
	require.NoError(t, err)
	assert.Equal(t, "bye", v)
	require.Eventually(t, func() bool { return errors.Is(m.behaviour.terminatedWith(), ErrStopped) }, waitFor, tick)
	awaitStopped(t, m.client)
	_, err = m.client.Call(within(time.Second), get{})
	require.ErrorIs(t, err, ErrMemberGone)
}

func TestStopStopsEveryUpMember(t *testing.T) {
	members, _ := startRing(t, "stop-all", 3)
	require.NoError(t, members[1].client.Stop(context.Background()))
	for _, m := range members {
		require.Eventually(t, func() bool { return errors.Is(m.behaviour.terminatedWith(), ErrStopped) }, waitFor, tick, m.node)
		awaitStopped(t, m.client)
		_, err := m.client.Call(within(time.Second), get{})
		require.ErrorIs(t, err, ErrMemberGone)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	n := netFor(t)
	system := n.system
	_, err := Start[*crdt.PNCounter](system, "cfg", DefaultBehaviour[*crdt.PNCounter]{}, WithGossipInterval(0))
	require.ErrorContains(t, err, "GossipInterval must be positive")
	_, err = Start[*crdt.PNCounter](system, "", DefaultBehaviour[*crdt.PNCounter]{})
	require.ErrorContains(t, err, "empty ring name")
	for _, name := range []string{"..", "a/b", `a\b`} {
		_, err = Start[*crdt.PNCounter](system, name, DefaultBehaviour[*crdt.PNCounter]{})
		require.ErrorContains(t, err, "path separators", name)
	}
}

func TestInitErrorFailsStart(t *testing.T) {
	n := netFor(t)
	_, err := Start[*crdt.PNCounter](n.system, "init-error", failingInit{}, WithDataDir(t.TempDir()), WithLogger(quietLogger()), n.member(newNode()))
	require.ErrorContains(t, err, "no config")
}

func TestStartWithoutRemoteFails(t *testing.T) {
	system := newLocalSystem(t)
	_, err := Start[*crdt.PNCounter](system, "no-remote", DefaultBehaviour[*crdt.PNCounter]{}, WithLogger(quietLogger()))
	require.ErrorIs(t, err, ErrNoRemote)
}

// twiceBehaviour answers a call twice: with Reply, then with its result.
type twiceBehaviour struct {
	DefaultBehaviour[*crdt.PNCounter]
}

func (twiceBehaviour) HandleCall(ctx *Context[*crdt.PNCounter], from From, msg any) CallResult {
	if err := ctx.Reply(from, "first"); err != nil {
		return ReplyWithError(err)
	}
	return ReplyWith("second")
}

// A call answered twice gets the first answer; the second is dropped and
// the ring goes on answering (a local call's reply channel holds one).
func TestSecondReplyIsDropped(t *testing.T) {
	client, _ := startPayloadMember[*crdt.PNCounter](t, "twice", twiceBehaviour{}, persistence.NewMemoryStore())
	for range 3 {
		v, err := client.Call(within(time.Second), get{})
		require.NoError(t, err)
		assert.Equal(t, "first", v)
	}
}
