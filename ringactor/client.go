package ringactor

import (
	"errors"
	"fmt"
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
}

// Start spawns this process's ring actor named name on system and returns a
// Client for it, once Init has run. It fails with Init's error, with the
// error of a ring file that cannot be read (naming the file), or when the
// name is taken. system must have a remote started (StartActorSystem).
func Start[T any, P Payload[T, P]](system *actor.ActorSystem, name string, behaviour Behaviour[P], opts ...Option) (*Client, error) {
	if _, err := Props[T, P](name, behaviour, opts...); err != nil {
		return nil, err
	}
	cfg, _ := buildConfig(opts)
	outcome := make(chan error, 1)
	props := newProps[T, P](name, behaviour, cfg, func(err error) {
		select {
		case outcome <- err: // the first start's outcome; restarts are not waited for
		default:
		}
	})
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
	return (&Client{system: system, pid: pid, ring: name, timeout: cfg.RequestTimeout}).WithKeyring(cfg.Security.Keyring), nil
}

// NewClient returns a Client for the ring member named ring on node (a
// host:port address; this process's own address for the local member).
// Requests other than Call time out after 5 s (see WithTimeout).
func NewClient(system *actor.ActorSystem, node, ring string) *Client {
	return &Client{system: system, pid: actor.NewPID(node, ring), ring: ring, timeout: DefaultConfig().RequestTimeout}
}

// WithTimeout returns a copy of the client whose requests (other than Call)
// time out after d.
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

// Call sends msg to the member's HandleCall and waits up to timeout for the
// reply. To a member in another process, msg must be a proto.Message and so
// is the reply. Errors: ErrTimeout (no answer in time: the member hangs,
// the network is cut, or the callback did not reply), ErrMemberGone, the
// error the behaviour replied with (across processes a *CallError with its
// text, matching with errors.Is the sentinels it wrapped), or
// ErrCallbackPanic.
func (c *Client) Call(msg any, timeout time.Duration) (any, error) {
	if c.local() {
		res, err := c.request(&callEnvelope{msg: msg}, timeout)
		if err != nil {
			return nil, err
		}
		r, ok := res.(*callReply)
		if !ok {
			return nil, fmt.Errorf("ringactor: unexpected answer %T", res)
		}
		return r.value, r.err
	}
	body, err := packBody(msg)
	if err != nil {
		return nil, err
	}
	res, err := c.request(&messages.CallRequest{Body: body}, timeout)
	if err != nil {
		return nil, err
	}
	r, ok := res.(*messages.CallReply)
	if !ok {
		return nil, fmt.Errorf("ringactor: unexpected answer %T", res)
	}
	if err := answerError(r.GetError(), r.GetErrorCodes()); err != nil {
		return nil, err
	}
	if r.GetBody() == nil {
		return nil, nil
	}
	return unpackBody(r.GetBody())
}

// Cast sends msg to the member's HandleCast and does not wait. To a member
// in another process, msg must be a proto.Message.
func (c *Client) Cast(msg any) error {
	if c.local() {
		c.system.Root.Send(c.pid, &castEnvelope{msg: msg})
		return nil
	}
	body, err := packBody(msg)
	if err != nil {
		return err
	}
	sealed, _, err := c.sealRequest(&messages.CastRequest{Body: body})
	if err != nil {
		return err
	}
	c.system.Root.Send(c.pid, sealed)
	return nil
}

// Send sends msg as is to the ring actor: it reaches HandleInfo unless it is
// a message of the ring itself. To another process, msg must be a
// proto.Message, and a ring with a keyring refuses it there: from outside,
// only sealed ring messages get in.
func (c *Client) Send(msg any) { c.system.Root.Send(c.pid, msg) }

// The membership requests below return nil or a *CallError that keeps the
// member's text and matches with errors.Is the sentinels its error wrapped
// (ErrInvalidNode, ErrUnknownNode, ErrSelf, ErrStopped), or the Client's own
// ErrTimeout or ErrMemberGone.

// AddNode adds node (host:port) to the ring through this member.
func (c *Client) AddNode(node string) error { return c.op(&messages.AddNode{Node: node}) }

// DelNode removes node from the ring through this member. The removed
// member deletes its ring file and stops its ring actor when it learns it.
func (c *Client) DelNode(node string) error { return c.op(&messages.DelNode{Node: node}) }

// ForceDown makes the ring ignore node: no gossip to it, gossip from it
// dropped, out of the up set, until UnforceDown.
func (c *Client) ForceDown(node string) error { return c.op(&messages.ForceDown{Node: node}) }

// UnforceDown undoes ForceDown.
func (c *Client) UnforceDown(node string) error { return c.op(&messages.UnforceDown{Node: node}) }

// Stop stops the ring actor on every up member (Terminate gets a reason
// wrapping ErrStopped).
func (c *Client) Stop() error { return c.op(&messages.StopRing{}) }

// LocalStop stops this member's ring actor only.
func (c *Client) LocalStop() error { return c.op(&messages.LocalStop{}) }

// All returns every member of the ring, sorted.
func (c *Client) All() ([]string, error) { return c.nodes(&messages.GetAll{}) }

// Up returns the members believed up by this member (itself included),
// sorted.
func (c *Client) Up() ([]string, error) { return c.nodes(&messages.GetUp{}) }

// Owner returns the member that owns key among the members this member
// believes up: it asks for the up set (as Up does) and applies Owner, so
// it agrees with the member's Context.Owner for the same up set. Two
// members whose up sets differ, until gossip settles, may disagree.
func (c *Client) Owner(key string) (string, error) {
	up, err := c.Up()
	if err != nil {
		return "", err
	}
	owner, ok := Owner(key, up)
	if !ok {
		return "", fmt.Errorf("ringactor: no member up at %s to own key %q", c.Node(), key)
	}
	return owner, nil
}

// Stats returns the member's counters; only for a member in this process.
func (c *Client) Stats() (Stats, error) {
	if !c.local() {
		return Stats{}, errors.New("ringactor: Stats is only for the member in this process")
	}
	res, err := c.request(&statsRequest{}, c.timeout)
	if err != nil {
		return Stats{}, err
	}
	stats, ok := res.(Stats)
	if !ok {
		return Stats{}, fmt.Errorf("ringactor: unexpected answer %T", res)
	}
	return stats, nil
}

func (c *Client) op(msg proto.Message) error {
	res, err := c.request(msg, c.timeout)
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

func (c *Client) nodes(msg proto.Message) ([]string, error) {
	res, err := c.request(msg, c.timeout)
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

func (c *Client) request(msg any, timeout time.Duration) (any, error) {
	out, nonce, err := c.sealRequest(msg)
	if err != nil {
		return nil, err
	}
	res, err := c.system.Root.RequestFuture(c.pid, out, timeout).Result()
	if err == nil {
		res, err = c.openAnswer(res, nonce)
	}
	if err != nil {
		err = explainUnreachable(c.system, c.pid.GetAddress(), err)
	}
	switch {
	case errors.Is(err, actor.ErrTimeout):
		return nil, fmt.Errorf("%w: %T to %s after %v", ErrTimeout, msg, c.pid, timeout)
	case errors.Is(err, actor.ErrDeadLetter):
		return nil, fmt.Errorf("%w: %s", ErrMemberGone, c.pid)
	case err != nil:
		return nil, err
	}
	return res, nil
}

func packBody(msg any) (*anypb.Any, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrNotProto, msg)
	}
	return anypb.New(m)
}
