package ringactor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// awaitCall runs call on a goroutine and returns a channel with its error.
func awaitCall(call func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- call() }()
	return done
}

func TestCallEndsAtTheContextDeadline(t *testing.T) {
	m := startMember(t, "ctx-deadline", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// later{} is answered only by a release cast: the deadline must end it.
	_, err := m.client.Call(ctx, later{})
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the context's deadline, not the client's 5 s, ended the call")
}

func TestCallEndsWhenTheContextIsCancelled(t *testing.T) {
	m := startMember(t, "ctx-cancel", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := awaitCall(func() error { _, err := m.client.WithTimeout(0).Call(ctx, later{}); return err })
	require.Eventually(t, func() bool { return m.behaviour.pendingCount() == 1 }, waitFor, tick, "the call reached the member")
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrTimeout)
	case <-time.After(waitFor):
		t.Fatal("a cancelled call under a client with no timeout did not return")
	}
	// The member is unharmed: the next call is answered.
	_, err := m.client.Call(context.Background(), get{})
	require.NoError(t, err)
}

func TestRequestUnderADoneContextIsNotSent(t *testing.T) {
	m := startMember(t, "ctx-done", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.client.Call(ctx, incr{5})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, m.client.AddNode(ctx, newNode()), context.Canceled)
	_, err = m.client.Up(ctx)
	require.ErrorIs(t, err, context.Canceled)

	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelExpired()
	_, err = m.client.Call(expired, incr{5})
	require.ErrorIs(t, err, context.DeadlineExceeded)

	value, err := m.client.Call(context.Background(), get{})
	require.NoError(t, err)
	assert.Equal(t, int64(0), value, "no increment reached the member")
	all, err := m.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{m.node}, all, "no AddNode reached the member")
}

func TestClientTimeoutBoundsAContextWithoutDeadline(t *testing.T) {
	m := startMember(t, "ctx-client-bound", nil)
	_, err := m.client.WithTimeout(100*time.Millisecond).Call(context.Background(), later{})
	require.ErrorIs(t, err, ErrTimeout)
	require.False(t, errors.Is(err, context.DeadlineExceeded), "the client's bound ended the call, not a context: %v", err)
}

func TestCastToAStoppedLocalRingFails(t *testing.T) {
	m := startMember(t, "cast-stopped", nil)
	require.NoError(t, m.client.Cast(incr{1}))
	m.shutdown()
	require.ErrorIs(t, m.client.Cast(incr{1}), ErrMemberGone)
}

// The Client that Start returned reads its ring actor's running flag
// instead of the process registry; once the actor stopped, it asks the
// registry again, so a ring started anew under the same name is reached
// through the old Client too.
func TestClientReachesARingStartedAgainUnderItsName(t *testing.T) {
	m := startMember(t, "started-again", nil)
	_, err := m.client.Call(within(time.Second), incr{2})
	require.NoError(t, err)
	m.shutdown()
	require.ErrorIs(t, m.client.Cast(incr{1}), ErrMemberGone)

	again := startMemberOn(t, m.node, "started-again", m.store)
	require.Equal(t, again.client.PID().String(), m.client.PID().String())
	require.NoError(t, m.client.Cast(incr{3}))
	value, err := m.client.Call(within(time.Second), get{})
	require.NoError(t, err)
	assert.Equal(t, int64(5), value, "the old client's cast and call reached the new ring actor, which kept the state")
}
