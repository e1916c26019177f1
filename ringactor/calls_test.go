package ringactor

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/genserverring/genserverring-go/crdt"
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
		v, err := m.client.Call(later{}, 5*time.Second)
		if err != nil {
			v = err
		}
		answer <- v
	}()
	require.Eventually(t, func() bool { return m.behaviour.pendingCount() == 1 }, waitFor, tick, "the call is pending")
	require.NoError(t, m.client.Cast(release{value: "done"}))
	assert.Equal(t, "done", <-answer)
}

func TestDeferredReplyToRemoteCaller(t *testing.T) {
	members, _ := startRing(t, "deferred-remote", 2)
	remote := NewClient(members[0].system, members[1].node, "deferred-remote")
	call := func() chan any {
		answer := make(chan any, 1)
		go func() {
			v, err := remote.Call(wrapperspb.String("later"), 5*time.Second)
			if err != nil {
				v = err
			}
			answer <- v
		}()
		require.Eventually(t, func() bool { return members[1].behaviour.pendingCount() == 1 }, waitFor, tick)
		return answer
	}

	answer := call()
	require.NoError(t, members[1].client.Cast(release{value: wrapperspb.String("done")}))
	assert.Equal(t, "done", (<-answer).(*wrapperspb.StringValue).GetValue())

	// A reply that is not a protobuf message cannot cross: the caller gets
	// an error at once instead of waiting for its timeout.
	answer = call()
	start := time.Now()
	require.NoError(t, members[1].client.Cast(release{value: 42}))
	var callErr *CallError
	require.ErrorAs(t, (<-answer).(error), &callErr)
	assert.Contains(t, callErr.Message, "proto.Message")
	assert.Less(t, time.Since(start), 4*time.Second)

	require.NoError(t, Reply(members[0].system.Root, From{}, "ignored"), "a From without a caller is a no-op")
}

func TestStopWithRepliesThenStops(t *testing.T) {
	m := startMember(t, "stopwith", nil)
	v, err := m.client.Call(stopWith{}, time.Second)
	require.NoError(t, err)
	assert.Equal(t, "bye", v)
	require.Eventually(t, func() bool { return errors.Is(m.behaviour.terminatedWith(), ErrStopped) }, waitFor, tick)
	_, err = m.client.Call(get{}, time.Second)
	require.ErrorIs(t, err, ErrMemberGone)
}

func TestStopStopsEveryUpMember(t *testing.T) {
	members, _ := startRing(t, "stop-all", 3)
	require.NoError(t, members[1].client.Stop())
	for _, m := range members {
		require.Eventually(t, func() bool { return errors.Is(m.behaviour.terminatedWith(), ErrStopped) }, waitFor, tick, m.node)
		_, err := m.client.Call(get{}, time.Second)
		require.ErrorIs(t, err, ErrMemberGone)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	system, _ := newSystem(t)
	_, err := Start[crdt.PNCounter](system, "cfg", DefaultBehaviour[*crdt.PNCounter]{}, WithGossipInterval(0))
	require.ErrorContains(t, err, "GossipInterval must be positive")
	_, err = Start[crdt.PNCounter](system, "", DefaultBehaviour[*crdt.PNCounter]{})
	require.ErrorContains(t, err, "empty ring name")
	for _, name := range []string{"..", "a/b", `a\b`} {
		_, err = Start[crdt.PNCounter](system, name, DefaultBehaviour[*crdt.PNCounter]{})
		require.ErrorContains(t, err, "path separators", name)
	}
}

func TestInitErrorFailsStart(t *testing.T) {
	system, _ := newSystem(t)
	_, err := Start[crdt.PNCounter](system, "init-error", failingInit{}, WithDataDir(t.TempDir()), WithLogger(quietLogger()))
	require.ErrorContains(t, err, "no config")
}

func TestStartWithoutRemoteFails(t *testing.T) {
	system := newLocalSystem(t)
	_, err := Start[crdt.PNCounter](system, "no-remote", DefaultBehaviour[*crdt.PNCounter]{}, WithLogger(quietLogger()))
	require.ErrorIs(t, err, ErrNoRemote)
}
