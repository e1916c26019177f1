package ringactor

import (
	"context"
	"errors"
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
// just accepted a plain TCP connection, and hands it nothing more until the
// connection is made. Per node it follows the remote's endpoint writer
// (from the remote's endpoint events):
//
//   - absent: no writer. The first message or watch dials the node's
//     address on a goroutine (timeout dialTimeout); what comes meanwhile
//     waits, in order (dialing). If the port refuses, the messages are
//     dropped and each watch is answered at once with an *actor.Terminated
//     (AddressTerminated), as Proto.Actor would after its sleep.
//   - connecting: the port accepted; the first waiting message or watch
//     went to Proto.Actor, whose new writer connects, and the rest waits
//     for its EndpointConnectedEvent, or connectCheck at most. Should the
//     node die during the handshake, the writer sleeps 2 s; the transport
//     sees the port refuse again (it dials after connectCheck), answers
//     the node's watches at once and drops what comes (stuck), until the
//     writer's EndpointTerminatedEvent, or maxStuck at most. The events
//     name an address, not a writer, so the writer handed the first
//     message may be one connected before, unseen (a message sent between
//     the endpoint manager's handling of a terminated event and this
//     transport's starts one), which publishes nothing more: if only the
//     check's dial was lost (packet loss, a loaded machine), a link stuck
//     for good would drop everything sent to a live node. After maxStuck
//     the next message or watch dials again, as for an absent link.
//   - open: connected: messages and watches go straight to Proto.Actor.
//
// An address that accepts TCP connections but where Proto.Actor's writer
// fails to connect (not a ring member, a TLS handshake that fails, a
// process that is stopped and leaves connections in its backlog) is backed
// off: after the writer's EndpointTerminatedEvent with no
// EndpointConnectedEvent before it, what comes for the node is dropped
// (its watches answered at once) for connectBackoff, doubling with each
// failure in a row up to maxConnectBackoff, and only then is the node
// dialled again. Otherwise the ring's rejoin gossip would make the writer
// try, and Proto.Actor log two ERROR lines, every couple of seconds for
// as long as the address is in the ring. A member behind such an address
// that becomes healthy is reached within maxConnectBackoff.
//
// What the transport drops without handing it to Proto.Actor gives its
// outbound credit back, and the end of a node's writer (its
// EndpointTerminatedEvent) restores the node's credit: Proto.Actor drops
// what the writer held (outbound.go).
//
// Cost: one TCP connect and close per link opening and per message to a
// node that does not accept connections (rejoin gossip: one per
// RejoinInterval), on goroutines; none on an open link. A remote whose gRPC
// dialer does not dial the node address over TCP (a proxy dialer, a Unix
// socket) is not supported.
type remoteTransport struct {
	system       *actor.ActorSystem
	ring         string
	dialTimeout  time.Duration
	connectCheck time.Duration

	// credit bounds what is handed to Proto.Actor per node (outbound.go).
	credit *outboundCredit

	// log is set by start, before any goroutine of the transport runs.
	log *slog.Logger
	// reach checks that a node accepts TCP connections (reachable; tests
	// replace it).
	reach func(node string) error
	// ctx ends pending dials at stop.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	links   map[string]*link // absent: no writer
	sub     *eventstream.Subscription
	stopped bool
	// failed holds the nodes whose last connects failed (see above).
	failed map[string]*connectFailures
	now    func() time.Time
}

// errConnectFailed is why what waited for a link whose connect failed is
// dropped.
var errConnectFailed = errors.New("Proto.Actor's writer failed to connect")

// connectFailures counts a node's failed connects in a row; nothing is
// handed to Proto.Actor for it before until.
type connectFailures struct {
	count int
	until time.Time
}

// connectBackoff is the wait after a first failed connect; it doubles
// with each failure in a row, up to maxConnectBackoff.
const (
	connectBackoff    = time.Second
	maxConnectBackoff = 10 * time.Second
)

// linkState is where a node's endpoint writer is.
type linkState int

const (
	linkDialing    linkState = iota // a reachability dial is in flight
	linkConnecting                  // Proto.Actor's writer is connecting
	linkOpen                        // the writer is connected
	linkStuck                       // the writer failed to connect and sleeps
)

// maxStuck bounds how long a link stays stuck without an endpoint event:
// Proto.Actor's writer publishes its EndpointTerminatedEvent 2 s after a
// failed connect, so a link stuck for longer most likely has no writer
// asleep, and dropping what is sent to the node would go on for good.
const maxStuck = 3 * time.Second

// link is the state of a node that is not absent.
type link struct {
	state linkState
	// stuckSince is when the link became stuck.
	stuckSince time.Time
	// pending waits, in order, while dialing, connecting or stuck.
	pending []pendingSend
	// watchers watched the node through the transport while it connected.
	watchers []*actor.PID
	// connected: the writer published EndpointConnectedEvent.
	connected bool
}

// pendingSend is a message, or a watch when msg is nil, waiting for the
// link.
type pendingSend struct {
	msg     proto.Message
	watcher *actor.PID
}

// maxPending bounds what waits for one link; beyond it the oldest message
// is dropped (the ring repairs losses).
const maxPending = 64

func newRemoteTransport(system *actor.ActorSystem, ring string, dialTimeout time.Duration, credit *outboundCredit) *remoteTransport {
	ctx, cancel := context.WithCancel(context.Background())
	t := &remoteTransport{
		system: system, ring: ring, dialTimeout: dialTimeout, connectCheck: min(dialTimeout, 100*time.Millisecond), credit: credit,
		ctx: ctx, cancel: cancel, links: map[string]*link{}, failed: map[string]*connectFailures{}, now: time.Now,
	}
	t.reach = t.reachable
	return t
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
	// Not SubscribeWithPredicate: it sets the predicate after the
	// subscription is visible to Publish, a data race (see
	// protoactor-patches/0003-*.patch).
	t.sub = t.system.EventStream.Subscribe(t.onEndpointEvent)
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
// goroutine that publishes the event (the writer's), after the remote's
// own endpoint manager has handled it.
func (t *remoteTransport) onEndpointEvent(evt any) {
	switch evt.(type) {
	case *remote.EndpointConnectedEvent, *remote.EndpointTerminatedEvent:
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e := evt.(type) {
	case *remote.EndpointConnectedEvent:
		delete(t.failed, e.Address)
		l, known := t.links[e.Address]
		if known {
			l.connected = true
		}
		switch {
		case !known:
			t.links[e.Address] = &link{state: linkOpen, connected: true}
		case l.state == linkConnecting || l.state == linkStuck:
			t.handOver(e.Address, l)
			l.state, l.watchers = linkOpen, nil
		case l.state == linkDialing:
			// The dial hands over what waits when it ends.
			l.state = linkOpen
		}
	case *remote.EndpointTerminatedEvent:
		// The writer is gone (its connection broke, or it failed to
		// connect), and what it held with it: what comes next dials
		// first, with the node's full credit.
		t.credit.restore(e.Address)
		l, known := t.links[e.Address]
		if known && l.state != linkDialing && !l.connected {
			t.backOff(e.Address)
		}
		switch {
		case !known || l.state == linkDialing:
		case len(l.pending) > 0 && !t.stopped && t.failed[e.Address] == nil:
			l.state, l.watchers = linkDialing, nil
			go t.dial(e.Address)
		default:
			t.dropPending(e.Address, l, errConnectFailed)
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

// direct reports whether op may go to Proto.Actor now; if not, op waits,
// and a dial starts if the node was absent.
func (t *remoteTransport) direct(node string, op pendingSend) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, known := t.links[node]
	switch {
	case known && l.state == linkOpen:
		return true
	case t.stopped:
		if op.msg != nil {
			t.credit.giveBack(node, 1)
		}
		return false
	case !known && t.backingOff(node):
		t.dropOne(node, op)
		return false
	case known && l.state == linkStuck && t.now().Sub(l.stuckSince) < maxStuck:
		// The node refused connections when last checked.
		t.dropOne(node, op)
		return false
	case known && l.state == linkStuck:
		// No endpoint event came in the time a failed writer sleeps: the
		// writer the check took for failed was most likely connected
		// already. Check the node again, as for a new link.
		t.log.Debug("no endpoint event since the link got stuck: dialing again", slog.String("to", node), slog.Duration("stuck", t.now().Sub(l.stuckSince)))
		l.state = linkDialing
		go t.dial(node)
	case !known:
		l = &link{state: linkDialing}
		t.links[node] = l
		go t.dial(node)
	}
	if len(l.pending) == maxPending {
		if l.pending[0].msg != nil {
			t.credit.giveBack(node, 1)
		}
		l.pending = l.pending[1:]
	}
	l.pending = append(l.pending, op)
	return false
}

// dial checks that node accepts connections, then hands the first waiting
// operation to Proto.Actor (its writer then connects), or drops what waits.
func (t *remoteTransport) dial(node string) {
	err := t.reach(node)
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.links[node]
	switch {
	case t.stopped:
		delete(t.links, node)
	case l.state == linkOpen:
		// A writer connected meanwhile (for another ring of the system).
		t.handOver(node, l)
	case err != nil:
		delete(t.links, node)
		t.dropPending(node, l, err)
	default:
		first := l.pending[0]
		l.pending = l.pending[1:]
		if first.msg == nil {
			l.watchers = append(l.watchers, first.watcher)
		}
		l.state = linkConnecting
		t.hand(node, first)
		go t.checkConnect(node)
	}
}

// checkConnect settles a link still connecting after connectCheck (a
// connect takes milliseconds). If the node refuses connections, the writer
// failed and sleeps: the link is stuck. If it accepts, the link opens: the
// writer connected (a writer that was already connected, made before this
// transport, publishes no event) or is connecting to a live node.
func (t *remoteTransport) checkConnect(node string) {
	select {
	case <-t.ctx.Done():
		return
	case <-time.After(t.connectCheck):
	}
	t.mu.Lock()
	l, known := t.links[node]
	connecting := known && l.state == linkConnecting && !t.stopped
	t.mu.Unlock()
	if !connecting {
		return
	}
	err := t.reach(node)
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, known := t.links[node]; !known || l.state != linkConnecting || t.stopped {
		return
	}
	if err == nil {
		t.handOver(node, l)
		l.state, l.watchers = linkOpen, nil
		return
	}
	l.state, l.stuckSince = linkStuck, t.now()
	for _, watcher := range l.watchers {
		t.terminated(node, watcher)
	}
	l.watchers = nil
	t.dropPending(node, l, err)
}

// reachable dials node's address and closes the connection.
func (t *remoteTransport) reachable(node string) error {
	dialer := net.Dialer{Timeout: t.dialTimeout}
	conn, err := dialer.DialContext(t.ctx, "tcp", node)
	if err == nil {
		_ = conn.Close()
	}
	return err
}

// handOver gives what waits for the link to Proto.Actor, in order; called
// with the lock held, so that nothing sent directly overtakes it.
func (t *remoteTransport) handOver(node string, l *link) {
	for _, op := range l.pending {
		t.hand(node, op)
	}
	l.pending = nil
}

func (t *remoteTransport) hand(node string, op pendingSend) {
	pid := t.pid(node)
	if op.msg != nil {
		t.system.Root.Send(pid, op.msg)
		return
	}
	if process, ok := t.system.ProcessRegistry.Get(pid); ok {
		process.SendSystemMessage(pid, &actor.Watch{Watcher: op.watcher})
	}
}

// dropPending drops what waits for node, answering its watches.
func (t *remoteTransport) dropPending(node string, l *link, err error) {
	messages := 0
	for _, op := range l.pending {
		if op.msg != nil {
			messages++
		}
	}
	if messages > 0 {
		t.credit.giveBack(node, messages)
		t.log.Debug("not sent: the node does not accept connections", slog.String("to", node), slog.Int("messages", messages), slog.Any("error", err))
	}
	for _, op := range l.pending {
		if op.msg == nil {
			t.terminated(node, op.watcher)
		}
	}
	l.pending = nil
}

// dropOne drops op for a stuck link: Proto.Actor's writer failed to
// connect, the node refused connections since, and the writer sleeps.
func (t *remoteTransport) dropOne(node string, op pendingSend) {
	if op.msg == nil {
		t.terminated(node, op.watcher)
		return
	}
	t.credit.giveBack(node, 1)
	t.log.Debug("not sent: the connection to the node failed; Proto.Actor's writer waits 2 s before it can try again", slog.String("to", node))
}

// terminated tells watcher that node's ring actor cannot be reached.
func (t *remoteTransport) terminated(node string, watcher *actor.PID) {
	t.system.Root.Send(watcher, &actor.Terminated{Who: t.pid(node), Why: actor.TerminatedReason_AddressTerminated})
}

// backOff records a failed connect to node; called with the lock held.
func (t *remoteTransport) backOff(node string) {
	f := t.failed[node]
	if f == nil {
		f = &connectFailures{}
		t.failed[node] = f
	}
	f.count++
	wait := min(connectBackoff<<min(f.count-1, 16), maxConnectBackoff)
	f.until = t.now().Add(wait)
	t.log.Debug("connecting to the node failed; backing off", slog.String("to", node), slog.Int("failures", f.count), slog.Duration("wait", wait))
}

// backingOff reports whether node's last connects failed and its wait is
// not over; called with the lock held.
func (t *remoteTransport) backingOff(node string) bool {
	f := t.failed[node]
	return f != nil && t.now().Before(f.until)
}
