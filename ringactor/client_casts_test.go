package ringactor

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/messages"
)

// Casts to a member in another process leave in batches, and a call after
// them goes after all of them: the member handles every cast, in order,
// before it answers.
func TestRemoteCastsArriveInOrderBeforeTheNextCall(t *testing.T) {
	ring := uniqueRing("cast-order")
	p, _ := startPeer(t, ring)
	remote := NewClient(sharedRemote(t), p.node, ring)
	const n = 3*maxCastBatch + 7
	want := make([]string, n)
	for i := range n {
		require.NoError(t, remote.Cast(wrapperspb.Int64(int64(i))))
		want[i] = strconv.Itoa(i)
	}
	got, err := remote.Call(within(5*time.Second), wrapperspb.String("cast-log"))
	require.NoError(t, err)
	assert.Equal(t, strings.Join(want, ","), got.(*wrapperspb.StringValue).GetValue())
}

// The queue sends what waits in batches of at most maxCastBatch, in order,
// and a lone cast as a CastRequest.
func TestCastQueueSendsBatchesInOrder(t *testing.T) {
	system := sharedRemote(t)
	received := make(chan any, 16)
	pid, err := system.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *messages.CastBatch, *messages.CastRequest:
			received <- m
		}
	}), uniqueRing("cast-recorder"))
	require.NoError(t, err)
	t.Cleanup(func() { system.Root.Stop(pid) })

	q := &castQueue{system: weak.Make(system), pid: pid}
	q.sending.Store(true) // as if a sender were about to run: cast only queues
	const n = 2*maxCastBatch + 3
	for i := range n {
		body, err := anypb.New(wrapperspb.Int64(int64(i)))
		require.NoError(t, err)
		q.cast(body)
	}
	q.flush()
	assert.False(t, q.sending.Load())
	next := 0
	for _, size := range []int{maxCastBatch, maxCastBatch, 3} {
		batch := (<-received).(*messages.CastBatch)
		require.Len(t, batch.GetBodies(), size)
		for _, body := range batch.GetBodies() {
			v, err := unpackBody(body)
			require.NoError(t, err)
			require.Equal(t, int64(next), v.(*wrapperspb.Int64Value).GetValue())
			next++
		}
	}

	body, err := anypb.New(wrapperspb.Int64(-1))
	require.NoError(t, err)
	q.cast(body) // the queue is idle: the cast starts a sender of its own
	lone := (<-received).(*messages.CastRequest)
	v, err := unpackBody(lone.GetBody())
	require.NoError(t, err)
	assert.Equal(t, int64(-1), v.(*wrapperspb.Int64Value).GetValue())
	require.Eventually(t, func() bool { return !q.sending.Load() }, waitFor, tick)
}

// A member takes no batch of more than maxCastBatch casts: it is dropped
// whole, counted and logged, and no cast of it reaches HandleCast.
func TestOversizedCastBatchIsDropped(t *testing.T) {
	m := startMember(t, "cast-batch-too-large", nil)
	bodies := make([]*anypb.Any, maxCastBatch+1)
	for i := range bodies {
		body, err := anypb.New(wrapperspb.Int64(int64(i)))
		require.NoError(t, err)
		bodies[i] = body
	}
	m.system.Root.Send(m.client.PID(), &messages.CastBatch{Bodies: bodies})
	m.system.Root.Send(m.client.PID(), &messages.CastBatch{Bodies: bodies[:2]})
	require.Eventually(t, func() bool { return len(m.behaviour.castsSoFar()) == 2 }, waitFor, tick, "the batch within the bound is handled")
	stats, err := m.client.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(1), stats.Security.TooLarge)
	assert.Len(t, m.behaviour.castsSoFar(), 2, "nothing of the oversized batch was handled")
}

// The registry of cast queues holds actor systems weakly: a program that
// starts and drops actor systems (a test suite, the benchmark program) must
// not keep every one of them, and all their members hold, alive.
func TestCastQueuesDoNotKeepActorSystems(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger() }))
	q := NewClient(system, "127.0.0.1:1", "dropped-system").casts
	require.NotNil(t, q, "a client of a member in another process has a cast queue")
	system.Shutdown()
	system = nil
	require.Eventually(t, func() bool { runtime.GC(); return q.system.Value() == nil }, waitFor, tick, "the actor system was collected")
}
