package ringactor

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// localNet runs the members of rings inside one actor system with no
// remote, the way memberlist's MockNetwork stands in for its transport: a
// member gets a made-up node address, its ring actor is spawned as
// "<ring>@<node>", and the ring's messages and watches between members are
// local sends and watches. Proto.Actor's remote cannot be used for this:
// each Remote.Start writes gRPC's process-wide logger, a data race under
// -race as soon as a second one starts in the process.
//
// Messages are cloned on the way, as the wire would copy them, so a member
// never shares a protobuf message with another.
type localNet struct {
	system *actor.ActorSystem
	// aliases map other names of a node to it, as DNS names or other
	// spellings of an address reach the member there (alias).
	aliases sync.Map // alias -> node
	// stalled holds the nodes whose member stands for a process stopped
	// with SIGSTOP (stall): node -> *heldMessages.
	stalled sync.Map
}

// heldMessages are the messages sent to a stalled node, in order, as
// Proto.Actor's endpoint writer would queue them for a peer that does not
// read.
type heldMessages struct {
	mu   sync.Mutex
	msgs []heldMessage
	// resumed: the messages were delivered; a sender that found the node
	// stalled just before delivers its own.
	resumed bool
}

type heldMessage struct {
	to  *actor.PID
	msg proto.Message
}

// stall makes node's member stand for a stopped process: what is sent to
// it is held until resume, and what it sends is lost (a stopped process
// sends nothing). Its actor runs on, as a process's timers would fire all
// at once on SIGCONT.
func (n *localNet) stall(node string) { n.stalled.Store(node, &heldMessages{}) }

// resume delivers what was held for node, in order, and ends its stall.
func (n *localNet) resume(node string) {
	held, ok := n.stalled.Load(node)
	if !ok {
		return
	}
	h := held.(*heldMessages)
	h.mu.Lock()
	defer h.mu.Unlock()
	n.stalled.Delete(node)
	for _, m := range h.msgs {
		n.system.Root.Send(m.to, m.msg)
	}
	h.msgs, h.resumed = nil, true
}

// held returns how many messages wait for the stalled node.
func (n *localNet) held(node string) int {
	held, ok := n.stalled.Load(node)
	if !ok {
		return 0
	}
	h := held.(*heldMessages)
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}

// alias makes messages to name reach the member of node.
func (n *localNet) alias(name, node string) { n.aliases.Store(name, node) }

// member returns the option that makes a member node of this network.
func (n *localNet) member(node string) Option {
	return func(c *Config) { c.seam = localSeam{net: n, node: node} }
}

// nextLocalNode numbers the made-up node addresses of the process.
var nextLocalNode atomic.Uint32

// newNode returns a node address no other member of the process has.
func newNode() string {
	n := nextLocalNode.Add(1)
	return fmt.Sprintf("127.1.%d.%d:7000", n/250, n%250+1)
}

type localSeam struct {
	net  *localNet
	node string
}

func (s localSeam) actorName(ring string) string { return ring + "@" + s.node }

func (s localSeam) transport(system *actor.ActorSystem, ring string, _ Config, credit *outboundCredit) transport {
	return &localTransport{system: system, ring: ring, node: s.node, net: s.net, credit: credit}
}

// localTransport is a member's transport on a localNet.
type localTransport struct {
	system *actor.ActorSystem
	ring   string
	node   string
	net    *localNet
	credit *outboundCredit
}

func (t *localTransport) self() string { return t.node }

func (t *localTransport) start(*slog.Logger) {}

func (t *localTransport) stop() {}

func (t *localTransport) pid(node string) *actor.PID {
	if real, ok := t.net.aliases.Load(node); ok {
		node = real.(string)
	}
	return actor.NewPID(t.system.Address(), t.ring+"@"+node)
}

func (t *localTransport) send(ctx actor.Context, node string, msg proto.Message) {
	if _, stalled := t.net.stalled.Load(t.node); stalled {
		t.credit.giveBack(node, 1) // never handed: the sender is stopped
		return
	}
	if held, stalled := t.net.stalled.Load(node); stalled {
		h := held.(*heldMessages)
		h.mu.Lock()
		defer h.mu.Unlock()
		if !h.resumed {
			h.msgs = append(h.msgs, heldMessage{to: t.pid(node), msg: proto.Clone(msg)})
			return
		}
	}
	ctx.Send(t.pid(node), proto.Clone(msg))
}

func (t *localTransport) watch(ctx actor.Context, node string) { ctx.Watch(t.pid(node)) }

func (t *localTransport) nodeOf(pid *actor.PID) (string, bool) {
	if pid.GetAddress() != t.system.Address() {
		return "", false
	}
	return strings.CutPrefix(pid.GetId(), t.ring+"@")
}
