package counternode

import (
	"fmt"
	"time"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/ringactor"
)

// Inc is a call that adds N to the counter; the reply is the new value
// (int64).
type Inc struct{ N uint64 }

// Dec is a call that subtracts N from the counter; the reply is the new
// value (int64).
type Dec struct{ N uint64 }

// Get is a call whose reply is the counter's value (int64).
type Get struct{}

// Counter is the ring behaviour of a shared PN-counter. Calls (from this
// process: the messages are plain Go values) are Inc, Dec and Get; every
// other call gets an error.
//
// The On* hooks, when set, observe the ring. They run on the ring actor's
// goroutine, like every callback, so they must not block: hand the event
// to another goroutine (Run queues a line for its writer).
type Counter struct {
	ringactor.DefaultBehaviour[*crdt.PNCounter]

	// OnRingChange is called when the set of up members changed.
	OnRingChange func(change ringactor.RingChange)
	// OnStateChange is called with the counter's value after gossip
	// changed it.
	OnStateChange func(value int64)
	// OnTerminate is called once, when the member's ring actor stops.
	OnTerminate func(reason error)
}

// HandleCall answers Inc, Dec and Get with the counter's value.
func (c *Counter) HandleCall(ctx *ringactor.Context[*crdt.PNCounter], _ ringactor.From, msg any) ringactor.CallResult {
	counter := ctx.Payload()
	switch m := msg.(type) {
	case Inc:
		ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter { return p.Increment(ctx.Replica(), m.N) })
	case Dec:
		ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter { return p.Decrement(ctx.Replica(), m.N) })
	case Get:
	default:
		return ringactor.ReplyWithError(fmt.Errorf("%w: %T", ringactor.ErrUnhandledCall, msg))
	}
	return ringactor.ReplyWith(counter.Value())
}

// Hold is a cast that keeps the ring actor busy, as a slow callback would,
// until Release is closed or D has passed: the hostile-peer tests flood a
// member meanwhile.
type Hold struct {
	D       time.Duration
	Release <-chan struct{}
}

// HandleCast runs Hold.
func (c *Counter) HandleCast(_ *ringactor.Context[*crdt.PNCounter], msg any) {
	if h, ok := msg.(Hold); ok {
		timer := time.NewTimer(h.D)
		defer timer.Stop()
		select {
		case <-h.Release:
		case <-timer.C:
		}
	}
}

// HandleStateChange reports the merged value to OnStateChange.
func (c *Counter) HandleStateChange(_ *ringactor.Context[*crdt.PNCounter], payload *crdt.PNCounter) {
	if c.OnStateChange != nil {
		c.OnStateChange(payload.Value())
	}
}

// HandleRingChange reports the change to OnRingChange.
func (c *Counter) HandleRingChange(_ *ringactor.Context[*crdt.PNCounter], change ringactor.RingChange) {
	if c.OnRingChange != nil {
		c.OnRingChange(change)
	}
}

// Terminate reports the reason to OnTerminate.
func (c *Counter) Terminate(_ *ringactor.Context[*crdt.PNCounter], reason error) {
	if c.OnTerminate != nil {
		c.OnTerminate(reason)
	}
}
