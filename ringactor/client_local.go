package ringactor

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// localCall is Call to a ring actor of this process: the call and its reply
// travel as Go values, the reply on a channel of the call's own instead of
// a Proto.Actor future (see callEnvelope). It ends as request does: the
// reply, the client's timeout or ctx's deadline (ErrTimeout), ctx's
// cancellation, or ErrMemberGone when the ring actor is not running.
func (c *Client) localCall(ctx context.Context, msg any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ringactor: %T to %s not sent: %w", msg, c.pid, err)
	}
	wait, byContext := c.waitFor(ctx)
	if wait <= 0 {
		return nil, fmt.Errorf("%w: %T to %s not sent: %w", ErrTimeout, msg, c.pid, context.DeadlineExceeded)
	}
	// A message to an actor that is gone goes to Proto.Actor's dead
	// letters, which answer only a future: ask the registry first. An
	// actor that stops after this answers what its mailbox holds with
	// ErrStopped (respondStopped).
	if c.system.IsStopped() || !c.alive() {
		return nil, fmt.Errorf("%w: %s", ErrMemberGone, c.pid)
	}
	reply := make(chan *callReply, 1)
	c.system.Root.Send(c.pid, &callEnvelope{msg: msg, reply: reply})
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case r := <-reply:
		return r.value, r.err
	case <-timer.C:
		if byContext {
			return nil, fmt.Errorf("%w: %T to %s after %v: %w", ErrTimeout, msg, c.pid, wait, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("%w: %T to %s after %v", ErrTimeout, msg, c.pid, wait)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %T to %s after %v: %w", ErrTimeout, msg, c.pid, wait, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("ringactor: %T to %s abandoned: %w", msg, c.pid, context.Cause(ctx))
	}
}
