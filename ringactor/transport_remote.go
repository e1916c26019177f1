package ringactor

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"
)

// remoteTransport reaches node X's ring actor at actor.NewPID(X, ring)
// through the actor system's remote, and works around a trait of
// Proto.Actor's remote as the module proxy serves it (see
// protoactor-patches/0002-*.patch): after a failed connect, the endpoint
// writer for that address sleeps 2 s holding its mailbox, and everything
// sent to the address meanwhile is dropped. A ring keeps sending to members
// it believes down (rejoin gossip, revive pings), so without care a peer's
// writer to a down member is nearly always in that sleep, and a member that
// comes back loses the first answers of its peers for up to 2 s.
//
// So the transport lets Proto.Actor connect only to an address that has
// just accepted a plain TCP connection. It tracks, per node, whether the
// remote has an endpoint writer for it (from the remote's endpoint events):
//
//   - open: a writer exists (connected, or connecting to a port that
//     accepted): messages and watches go straight to Proto.Actor.
//   - idle (no entry): no writer. The first message dials the node's
//     address on a goroutine (net.Dialer, timeout dialTimeout); messages
//     and watches that come meanwhile wait, in order. If the port accepts,
//     they go to Proto.Actor, whose writer then connects; if not, the
//     messages are dropped and each watch is answered at once with an
//     *actor.Terminated (AddressTerminated), as Proto.Actor would after its
//     sleep.
//
// Cost: one TCP connect and close per idle-to-open transition, on a
// goroutine, and one per message sent to a node that does not accept
// connections (rejoin gossip: one per RejoinInterval); none on an open
// link. A remote configured with a custom gRPC dialer (a proxy, a Unix
// socket) that a plain TCP dial of the node address does not match is not
// supported.
type remoteTransport struct {
	system      *actor.ActorSystem
	ring        string
	dialTimeout time.Duration

	// log is set by start, before any goroutine of the transport runs.
	log *slog.Logger
	// ctx ends pending dials at stop.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	links   map[string]*link
	sub     *eventstream.Subscription
	stopped bool
}

// link is the state of a node that is not idle.
type link struct {
	open    bool
	pending []pendingSend // while a dial is in flight, in order
}

// pendingSend is a message, or a watch when msg is nil, waiting for a dial.
type pendingSend struct {
	msg     proto.Message
	watcher *actor.PID
}

// maxPending bounds what waits for one dial; beyond it the oldest message
// is dropped (the ring repairs losses).
const maxPending = 64

func newRemoteTransport(system *actor.ActorSystem, ring string, dialTimeout time.Duration) *remoteTransport {
	ctx, cancel := context.WithCancel(context.Background())
	return &remoteTransport{system: system, ring: ring, dialTimeout: dialTimeout, ctx: ctx, cancel: cancel, links: map[string]*link{}}
}

func (t *remoteTransport) self() string { return t.system.Address() }

func (t *remoteTransport) pid(node string) *actor.PID { return actor.NewPID(node, t.ring) }

func (t *remoteTransport) nodeOf(pid *actor.PID) (string, bool) {
	if pid.GetId() != t.ring {
		return "", false
	}
	return pid.GetAddress(), true
}

func (t *remoteTransport) start(log *slog.Logger) {
	t.log = log
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.sub = t.system.EventStream.SubscribeWithPredicate(t.onEndpointEvent, func(evt any) bool {
		switch evt.(type) {
		case *remote.EndpointConnectedEvent, *remote.EndpointTerminatedEvent:
			return true
		}
		return false
	})
}

func (t *remoteTransport) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	t.cancel()
	if t.sub != nil {
		t.system.EventStream.Unsubscribe(t.sub)
	}
}

// onEndpointEvent follows the remote's endpoint writers. It runs on the
// goroutine that publishes the event, after the remote's own endpoint
// manager has handled it.
func (t *remoteTransport) onEndpointEvent(evt any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e := evt.(type) {
	case *remote.EndpointConnectedEvent:
		if _, known := t.links[e.Address]; !known {
			t.links[e.Address] = &link{open: true}
		}
	case *remote.EndpointTerminatedEvent:
		// The writer is gone (its connection broke, or it failed to
		// connect after all): the next message dials first. A dial in
		// flight decides for itself.
		if l, known := t.links[e.Address]; known && l.open {
			delete(t.links, e.Address)
		}
	}
}

func (t *remoteTransport) send(ctx actor.Context, node string, msg proto.Message) {
	if t.direct(node, pendingSend{msg: msg}) {
		ctx.Send(t.pid(node), msg)
	}
}

func (t *remoteTransport) watch(ctx actor.Context, node string) {
	if t.direct(node, pendingSend{watcher: ctx.Self()}) {
		ctx.Watch(t.pid(node))
	}
}

// direct reports whether op may go to Proto.Actor now; if not, op waits
// for a dial, started here if none is in flight.
func (t *remoteTransport) direct(node string, op pendingSend) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, known := t.links[node]
	switch {
	case known && l.open:
		return true
	case t.stopped:
		return false
	case !known:
		l = &link{}
		t.links[node] = l
		go t.dial(node)
	}
	if len(l.pending) == maxPending {
		l.pending = l.pending[1:]
	}
	l.pending = append(l.pending, op)
	return false
}

// dial checks that node accepts connections, then hands what waited to
// Proto.Actor, or drops it.
func (t *remoteTransport) dial(node string) {
	dialer := net.Dialer{Timeout: t.dialTimeout}
	conn, err := dialer.DialContext(t.ctx, "tcp", node)
	if err == nil {
		_ = conn.Close()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.links[node]
	pending := l.pending
	l.pending = nil
	if err != nil || t.stopped {
		delete(t.links, node)
		t.log.Debug("not sent: the node does not accept connections", slog.String("to", node), slog.Int("messages", len(pending)), slog.Any("error", err))
		for _, op := range pending {
			if op.msg == nil && !t.stopped {
				t.system.Root.Send(op.watcher, &actor.Terminated{Who: t.pid(node), Why: actor.TerminatedReason_AddressTerminated})
			}
		}
		return
	}
	// Under the lock, so that nothing sent directly once the link is open
	// overtakes what waited.
	l.open = true
	for _, op := range pending {
		pid := t.pid(node)
		if op.msg != nil {
			t.system.Root.Send(pid, op.msg)
			continue
		}
		if process, ok := t.system.ProcessRegistry.Get(pid); ok {
			process.SendSystemMessage(pid, &actor.Watch{Watcher: op.watcher})
		}
	}
}
