package ringactor

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

// The first request after ActorSystem.Shutdown is refused: the ring does
// not answer for its system after it is gone, and stops.
func TestRingRefusesRequestsOnceItsSystemIsShutDown(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger() }))
	n := &localNet{system: system}
	b := &counterBehaviour{}
	client, err := Start[*crdt.PNCounter](system, "refuse-after-shutdown", b, append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger()), n.member(newNode())}, testOptions...)...)
	require.NoError(t, err)
	_, err = client.Up(context.Background())
	require.NoError(t, err)

	system.Shutdown()
	_, err = client.Up(context.Background())
	require.ErrorIs(t, err, ErrStopped)
	require.ErrorContains(t, err, "actor system was shut down")
	require.Eventually(t, func() bool { return errors.Is(b.terminatedWith(), ErrStopped) }, waitFor, tick)
}
