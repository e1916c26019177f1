package ringactor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/genserverring/genserverring-go/messages"
)

// Client talks to one ring member, in this process or another: it is the
// handle Start returns, and NewClient makes one for any member. It is safe
// for concurrent use.
type Client struct {
	system *actor.ActorSystem
	pid    *actor.PID
	// ring is the ring's name, which requests are sealed for: the name of
	// the member's ring actor, except in tests that run several members in
	// one actor system (Config.seam).
	ring    string
	timeout time.Duration
	sealer  *sealer // nil: requests go unsealed (see WithKeyring)
	// casts queues the casts to a member in another process
	// (client_casts.go).
	casts *castQueue
	// running, in the Client that Start returned (and its copies), is
	// true while its ring actor runs: read on every local Call and Cast
	// before the process registry, a hashed lookup of the PID. nil: ask
	// the registry.
	running *atomic.Bool
}

// Start spawns this process's ring actor named name on system and returns a
// Client for it, once Init has run. It fails with Init's error, with the
// error of a ring file that cannot be read (naming the file), or when the
// name is taken. system must have a remote started (StartActorSystem).
func Start[P Payload[P]](system *actor.ActorSystem, name string, behaviour Behaviour[P], opts ...Option) (*Client, error) {
	if _, err := Props[P](name, behaviour, opts...); err != nil {
		return nil, err
	}
	cfg, _ := buildConfig(opts)
	outcome := make(chan error, 1)
	running := &atomic.Bool{}
	running.Store(true)
	props := newProps[P](name, behaviour, cfg, func(err error) {
		select {
		case outcome <- err: // the first start's outcome; restarts are not waited for
		default:
		}
	}, running)
	pid, err := system.Root.SpawnNamed(props, cfg.actorName(name))
	if err != nil {
		return nil, fmt.Errorf("ringactor: spawn ring %q: %w", name, err)
	}
	select {
	case err = <-outcome:
	case <-time.After(cfg.RequestTimeout):
		err = fmt.Errorf("%w: ring %q did not start within %v", ErrTimeout, name, cfg.RequestTimeout)
	}
	if err != nil {
		return nil, err
	}
	return (&Client{system: system, pid: pid, ring: name, timeout: cfg.RequestTimeout, running: running}).WithKeyring(cfg.Security.Keyring), nil
}

// NewClient returns a Client for the ring member named ring on node (a
// host:port address, normalized as NormalizeNode does; this process's own
// address, in any spelling, for the local member). A request waits at most
// 5 s, or less if its context says so (see WithTimeout).
func NewClient(system *actor.ActorSystem, node, ring string) *Client {
	c := &Client{system: system, pid: actor.NewPID(clientNode(system, node), ring), ring: ring, timeout: DefaultConfig().RequestTimeout}
	if !c.local() {
		c.casts = castQueueFor(system, c.pid, nil)
	}
	return c
}

// WithTimeout returns a copy of the client whose requests wait at most d
// (5 s by default; for the client Start returns, Config.RequestTimeout),
// even under a context with no deadline or a later one, so that a request
// to a hung member cannot wait for good by mistake. d <= 0 removes this
// bound: then only the context ends the wait.
func (c *Client) WithTimeout(d time.Duration) *Client {
	copied := *c
	copied.timeout = d
	return &copied
}

// PID returns the member's ring actor PID.
func (c *Client) PID() *actor.PID { return c.pid }

// Node returns the member's node address.
func (c *Client) Node() string { return c.pid.GetAddress() }

func (c *Client) local() bool {
	address := c.pid.GetAddress()
	return address == c.system.Address() || address == "nonhost"
}

// Call sends msg to the member's HandleCall and waits for the reply until
// ctx is done or the client's timeout (WithTimeout) passes. To a member in
// another process, msg must be a proto.Message and so is the reply.
// Errors: ErrTimeout (no answer in time: the member hangs, the network is
// cut, or the callback did not reply; it also matches
// context.DeadlineExceeded when ctx's deadline ended the wait),
// context.Canceled, ErrMemberGone, the error the behaviour replied with
// (across processes a *CallError with its text, matching with errors.Is the
// sentinels it wrapped), or ErrCallbackPanic. A call abandoned by its
// context may still run: the member does not learn that nobody waits.
func (c *Client) Call(ctx context.Context, msg any) (any, error) {
	if c.local() {
		return c.localCall(ctx, msg)
	}
	request, err := callRequest(msg)
	if err != nil {
		return nil, err
	}
	res, err := c.request(ctx, request)
	if err != nil {
		return nil, err
	}
	return decodeCallAnswer(res)
}

// Cast sends msg to the member's HandleCast and does not wait, so it takes
// no context. To a member in another process, msg must be a proto.Message;
// it is queued and leaves with the casts around it as one message
// (client_casts.go), before any later request or Send of this process to
// that member.
// A Cast to a member of this process whose ring actor has stopped fails
// with ErrMemberGone; one to another process cannot know (use Call when the
// answer matters).
func (c *Client) Cast(msg any) error {
	if c.local() {
		if !c.alive() {
			return fmt.Errorf("%w: %s", ErrMemberGone, c.pid)
		}
		c.system.Root.Send(c.pid, &castEnvelope{msg: msg})
		return nil
	}
	body, err := packBody(msg)
	if err != nil {
		return err
	}
	c.casts.cast(body)
	return nil
}

// Send sends msg as is to the ring actor: it reaches HandleInfo unless it is
// a message of the ring itself. To another process, msg must be a
// proto.Message, and a ring with a keyring refuses it there: from outside,
// only sealed ring messages get in.
func (c *Client) Send(msg any) { c.casts.send(func() { c.system.Root.Send(c.pid, msg) }) }

// The membership requests below return nil or a *CallError that keeps the
// member's text and matches with errors.Is the sentinels its error wrapped
// (ErrInvalidNode, ErrUnknownNode, ErrSelf, ErrStopped), or the Client's own
// ErrTimeout or ErrMemberGone.

// AddNode adds node (host:port) to the ring through this member.
func (c *Client) AddNode(ctx context.Context, node string) error {
	return c.op(ctx, &messages.AddNode{Node: node})
}

// DelNode removes node from the ring through this member. The removed
// member deletes its ring file and stops its ring actor when it learns it.
func (c *Client) DelNode(ctx context.Context, node string) error {
	return c.op(ctx, &messages.DelNode{Node: node})
}

// ForceDown makes the ring ignore node: no gossip to it, gossip from it
// dropped, out of the up set, until UnforceDown.
func (c *Client) ForceDown(ctx context.Context, node string) error {
	return c.op(ctx, &messages.ForceDown{Node: node})
}

// UnforceDown undoes ForceDown.
func (c *Client) UnforceDown(ctx context.Context, node string) error {
	return c.op(ctx, &messages.UnforceDown{Node: node})
}

// Stop stops the ring actor on every up member (Terminate gets a reason
// wrapping ErrStopped).
func (c *Client) Stop(ctx context.Context) error { return c.op(ctx, &messages.StopRing{}) }

// LocalStop stops this member's ring actor only.
func (c *Client) LocalStop(ctx context.Context) error { return c.op(ctx, &messages.LocalStop{}) }

// All returns every member of the ring, sorted.
func (c *Client) All(ctx context.Context) ([]string, error) { return c.nodes(ctx, &messages.GetAll{}) }

// Up returns the members believed up by this member (itself included),
// sorted.
func (c *Client) Up(ctx context.Context) ([]string, error) { return c.nodes(ctx, &messages.GetUp{}) }

// Owner returns the member that owns key among the members this member
// believes up: it asks for the up set (as Up does) and applies Owner, so
// it agrees with the member's Context.Owner for the same up set. Two
// members whose up sets differ, until gossip settles, may disagree.
func (c *Client) Owner(ctx context.Context, key string) (string, error) {
	up, err := c.Up(ctx)
	if err != nil {
		return "", err
	}
	owner, ok := Owner(key, up)
	if !ok {
		return "", fmt.Errorf("ringactor: no member up at %s to own key %q", c.Node(), key)
	}
	return owner, nil
}

// Stats returns the member's counters, in this process or another (a
// GetStats request, sealed like the others when the client holds a
// keyring). A member of an older version leaves the counters it lacks at
// zero.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	if c.local() {
		res, err := c.request(ctx, &statsRequest{})
		if err != nil {
			return Stats{}, err
		}
		if stats, ok := res.(Stats); ok {
			return stats, nil
		}
		return Stats{}, fmt.Errorf("ringactor: unexpected answer %T", res)
	}
	res, err := c.request(ctx, &messages.GetStats{})
	if err != nil {
		return Stats{}, err
	}
	switch r := res.(type) {
	case *messages.StatsReply:
		return statsFromCounters(r.GetCounters()), nil
	case *messages.OpReply:
		if err := answerError(r.GetError(), r.GetErrorCodes()); err != nil {
			return Stats{}, err
		}
	}
	return Stats{}, fmt.Errorf("ringactor: unexpected answer %T", res)
}

func (c *Client) op(ctx context.Context, msg proto.Message) error {
	res, err := c.request(ctx, msg)
	if err != nil {
		return err
	}
	switch r := res.(type) {
	case *messages.OpReply:
		return answerError(r.GetError(), r.GetErrorCodes())
	case *callReply:
		return r.err
	}
	return fmt.Errorf("ringactor: unexpected answer %T", res)
}

func (c *Client) nodes(ctx context.Context, msg proto.Message) ([]string, error) {
	res, err := c.request(ctx, msg)
	if err != nil {
		return nil, err
	}
	r, ok := res.(*messages.Nodes)
	if refused, isOp := res.(*messages.OpReply); isOp && refused.GetError() != "" {
		return nil, answerError(refused.GetError(), refused.GetErrorCodes())
	}
	if !ok {
		return nil, fmt.Errorf("ringactor: unexpected answer %T", res)
	}
	return r.GetNodes(), nil
}

// request sends msg and waits for the answer until ctx is done or the
// client's timeout passes, whichever comes first.
func (c *Client) request(ctx context.Context, msg any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ringactor: %T to %s not sent: %w", msg, c.pid, err)
	}
	out, nonce, err := c.sealRequest(msg)
	if err != nil {
		return nil, err
	}
	wait, byContext := c.waitFor(ctx)
	if wait <= 0 {
		return nil, fmt.Errorf("%w: %T to %s not sent: %w", ErrTimeout, msg, c.pid, context.DeadlineExceeded)
	}
	var future *actor.Future
	c.casts.send(func() { future = c.system.Root.RequestFuture(c.pid, out, wait) })
	// Cancellation completes the future at once (with no answer), so the
	// caller returns and the future's process goes away. A context that is
	// never done (Background, TODO) needs no watch.
	var res any
	cancelled := false
	if ctx.Done() == nil {
		res, err = future.Result()
	} else {
		stop := context.AfterFunc(ctx, func() { c.abandon(future) })
		res, err = future.Result()
		if !stop() {
			cancelled = res == nil && err == nil
		}
	}
	if err == nil && res != nil {
		res, err = c.openAnswer(res, nonce)
	}
	if err != nil {
		err = explainUnreachable(c.system, c.pid.GetAddress(), err)
	}
	// The context's deadline and the future's timer, set to the same
	// instant, race: either way the deadline ended the wait.
	deadlinePassed := cancelled && errors.Is(ctx.Err(), context.DeadlineExceeded)
	switch {
	case cancelled && !deadlinePassed:
		return nil, fmt.Errorf("ringactor: %T to %s abandoned: %w", msg, c.pid, context.Cause(ctx))
	case deadlinePassed, errors.Is(err, actor.ErrTimeout) && byContext:
		return nil, fmt.Errorf("%w: %T to %s after %v: %w", ErrTimeout, msg, c.pid, wait, context.DeadlineExceeded)
	case errors.Is(err, actor.ErrTimeout):
		return nil, fmt.Errorf("%w: %T to %s after %v", ErrTimeout, msg, c.pid, wait)
	case errors.Is(err, actor.ErrDeadLetter):
		return nil, fmt.Errorf("%w: %s", ErrMemberGone, c.pid)
	case err != nil:
		return nil, err
	}
	return res, nil
}

// noClientBound is the wait of a request under a client without a timeout
// and a context without a deadline: long enough to mean "until the context
// is done", short enough for a timer.
const noClientBound = 100 * 365 * 24 * time.Hour

// waitFor returns how long a request may wait: the client's timeout or the
// time left to ctx's deadline, whichever is shorter, and whether the
// deadline was the shorter.
func (c *Client) waitFor(ctx context.Context) (wait time.Duration, byContext bool) {
	wait = c.timeout
	if wait <= 0 {
		wait = noClientBound
	}
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline); left < wait {
			return left, true
		}
	}
	return wait, false
}

// abandon completes a request's future with no answer: its caller's
// context is done. An answer that arrives later is dropped with the
// future's process, as one after a timeout is.
func (c *Client) abandon(future *actor.Future) {
	if process, ok := c.system.ProcessRegistry.Get(future.PID()); ok {
		process.Stop(future.PID())
	}
}

// alive reports whether the member's ring actor, in this process, is
// running.
func (c *Client) alive() bool {
	if c.running != nil && c.running.Load() {
		return true
	}
	// Stopped, or a Client of NewClient: a ring actor may run under the
	// PID again (Start once more with the same name).
	_, ok := c.system.ProcessRegistry.Get(c.pid)
	return ok
}

func packBody(msg any) (*anypb.Any, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrNotProto, msg)
	}
	return anypb.New(m)
}
