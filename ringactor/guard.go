package ringactor

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/genserverring/genserverring-go/messages"
)

// The receive guard sees every batch a peer's remote sends this process
// before Proto.Actor delivers it (remote.go installs it on the gRPC
// server). For the envelopes addressed to a ring actor it refuses:
//
//   - Stop and PoisonPill: Proto.Actor would stop the ring actor on any
//     process's word. A ring actor is stopped through the ring's own
//     requests (Stop, LocalStop), which the ring key and mTLS cover.
//   - Terminated that does not come from the member it names: Proto.Actor
//     turns a Terminated received from the network into a watch notice
//     whatever connection it came on, and a watch notice takes a member
//     out of the up set at once. The guard passes a Terminated only on the
//     stream that the named member's own remote opened (the address in the
//     stream's connect request), and, with mTLS, only if the peer's
//     certificate names that address. A ring with a keyring and no mTLS
//     refuses every Terminated from the network: nothing authenticates a
//     system message there, and the member whose ring actor stopped is
//     found by the probes within ProbeInterval + 1.5 × ProbeTimeout (a
//     member whose process or connection ends still gives a watch notice
//     at once: Proto.Actor makes that one locally). An open ring trusts
//     the connect request's address, which anyone can claim: see the
//     threat model in the README, "Security".
//   - With mTLS, a ring message whose from is not a name of the peer's
//     certificate.
//   - With a keyring, any message that is neither sealed nor one of the
//     ring's requests (which the ring actor answers with ErrKeyRequired),
//     so the behaviour's HandleInfo gets nothing from outside either. An
//     unsealed call sent as the user's message is a request too: the ring
//     actor's boundary answers it with ErrKeyRequired.

// localRings holds the names of the ring actors started in this process,
// keyed or not; a name stays once registered (a Stop to a ring that has
// stopped is refused too, which is harmless). Proto.Actor finds the target
// of a system message by name only, whatever address its PID names, so
// the guard must too.
var localRings sync.Map // name -> *ringEntry (mailbox.go)

// ringEntryOf returns the entry of the ring actor name, made on first use.
func ringEntryOf(name string) *ringEntry {
	if entry, ok := localRings.Load(name); ok {
		return entry.(*ringEntry)
	}
	entry, _ := localRings.LoadOrStore(name, &ringEntry{})
	return entry.(*ringEntry)
}

// registerRing tells the receive guards that a ring actor named name runs
// here, whether it has a keyring, and how many messages its mailbox may
// hold before messages from the network are refused.
func registerRing(name string, keyed bool, maxQueued int) *ringEntry {
	entry := ringEntryOf(name)
	entry.registered.Store(true)
	if keyed {
		entry.keyed.Store(true)
	}
	entry.maxQueued.Store(int64(maxQueued))
	return entry
}

func lookupRing(name string) (*ringEntry, bool) {
	entry, ok := localRings.Load(name)
	if !ok || !entry.(*ringEntry).registered.Load() {
		return nil, false
	}
	return entry.(*ringEntry), true
}

// tlsSystems holds the actor systems that StartActorSystem started with
// mTLS, so that their rings do not warn that they are open.
var tlsSystems sync.Map // *actor.ActorSystem -> certSource

func transportAuthenticated(system *actor.ActorSystem) bool {
	_, ok := tlsSystems.Load(system)
	return ok
}

// messageLimits holds the MaxMessageBytes of the actor systems that
// StartActorSystem started; others have the default.
var messageLimits sync.Map // *actor.ActorSystem -> int

func maxMessageBytes(system *actor.ActorSystem) int {
	if limit, ok := messageLimits.Load(system); ok {
		return limit.(int)
	}
	return DefaultMaxMessageBytes
}

// GuardStats counts what the receive guards of this process refused.
type GuardStats struct {
	// UnknownTypes counts messages of a protobuf type this binary lacks.
	UnknownTypes uint64
	// SystemMessages counts Stop and PoisonPill sent to a ring actor from
	// another process.
	SystemMessages uint64
	// Terminated counts Terminated notices refused because they did not
	// come from the member they name.
	Terminated uint64
	// ForgedFrom counts ring messages whose from was not a name of the
	// peer's certificate (mTLS).
	ForgedFrom uint64
	// Unsealed counts messages to a ring with a keyring that were neither
	// sealed nor a request of the ring.
	Unsealed uint64
	// BadTargets counts envelopes whose target or type index is out of
	// range.
	BadTargets uint64
	// Busy counts messages refused because the ring actor's mailbox was
	// full (Security.MaxQueued).
	Busy uint64
}

var guardStats struct {
	unknownTypes, systemMessages, terminated, forgedFrom, unsealed, badTargets, busy atomic.Uint64
}

// RemoteGuardStats returns the counters of the receive guards of this
// process (every remote that RemoteConfig configured).
func RemoteGuardStats() GuardStats {
	return GuardStats{
		UnknownTypes:   guardStats.unknownTypes.Load(),
		SystemMessages: guardStats.systemMessages.Load(),
		Terminated:     guardStats.terminated.Load(),
		ForgedFrom:     guardStats.forgedFrom.Load(),
		Unsealed:       guardStats.unsealed.Load(),
		BadTargets:     guardStats.badTargets.Load(),
		Busy:           guardStats.busy.Load(),
	}
}

// Proto.Actor's own message types that the guard looks at.
const (
	typeStop       = "actor.Stop"
	typePoisonPill = "actor.PoisonPill"
	typeTerminated = "actor.Terminated"
	typeWatch      = "actor.Watch"
	typeUnwatch    = "actor.Unwatch"
)

// streamPeer is what the guard knows of the peer at the other end of one
// receive stream.
type streamPeer struct {
	// claimed is the address the peer's remote gave in its connect
	// request: its own advertised address, unauthenticated by itself.
	claimed string
	// identity is the peer's certificate names; nil without mTLS.
	identity *peerIdentity
}

// screenBatch removes from batch the envelopes the guard refuses.
func screenBatch(batch *remote.MessageBatch, peer *streamPeer, drops *dropLog) {
	known := make([]bool, len(batch.TypeNames))
	for i, name := range batch.TypeNames {
		_, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
		known[i] = err == nil
	}
	kept := batch.Envelopes[:0]
	for _, env := range batch.Envelopes {
		if refused := screenEnvelope(batch, env, known, peer, drops); !refused {
			kept = append(kept, env)
		}
	}
	clear(batch.Envelopes[len(kept):])
	batch.Envelopes = kept
}

// screenEnvelope reports whether env is to be refused, and counts and logs
// it if so.
func screenEnvelope(batch *remote.MessageBatch, env *remote.MessageEnvelope, known []bool, peer *streamPeer, drops *dropLog) bool {
	typeID, targetID := int(env.TypeId), int(env.Target)
	if typeID < 0 || typeID >= len(known) || targetID < 0 || targetID >= len(batch.Targets) || batch.Targets[targetID] == nil {
		guardStats.badTargets.Add(1)
		drops.warn("bad index", "dropped a remote message whose type or target index is out of range", slog.String("peer", truncate(peer.claimed)))
		return true
	}
	typeName := batch.TypeNames[typeID]
	target := batch.Targets[targetID].GetId()
	entry, ring := lookupRing(target)
	if !known[typeID] {
		guardStats.unknownTypes.Add(1)
		drops.warn("unknown type", "dropped a remote message of a type this binary does not know", slog.String("type", truncate(typeName)), slog.String("peer", truncate(peer.claimed)))
		switch {
		case ring && entry.keyed.Load():
			// Every message to a keyed ring travels sealed, as a
			// ring-package type this member knows: what is missing
			// here is the key, and that is what the caller hears.
			answerRefused(entry, batch, env, typeName, ErrKeyRequired)
		case ring:
			// A call whose message this member cannot decode: the
			// caller learns why instead of waiting for its timeout.
			answerRefused(entry, batch, env, typeName, fmt.Errorf("ringactor: cannot decode message of type %q: unknown to the member", truncate(typeName)))
		}
		return true
	}
	if !ring {
		return false
	}
	keyed := entry.keyed.Load()
	refuse := func(counter *atomic.Uint64, reason string, attrs ...any) bool {
		counter.Add(1)
		attrs = append(attrs, slog.String("type", typeName), slog.String("ring", truncate(target)), slog.String("peer", truncate(peer.claimed)))
		drops.warn(reason, "refused a remote message to a ring actor", attrs...)
		return true
	}
	switch {
	case typeName == typeStop || typeName == typePoisonPill:
		return refuse(&guardStats.systemMessages, "system message from another process")
	case typeName == typeTerminated:
		who := terminatedWho(env)
		if !peer.vouchesForTerminated(who, keyed) {
			return refuse(&guardStats.terminated, "terminated notice not from the member it names", slog.String("who", truncate(who)))
		}
		return false
	case typeName == typeWatch || typeName == typeUnwatch:
		return false // members watch each other; a watch by anyone else only costs it a notice
	}
	ringType := strings.HasPrefix(typeName, messagesPackage+".")
	if keyed && !ringType && !(env.Sender > 0 && isUserType(protoreflect.FullName(typeName))) {
		return refuse(&guardStats.unsealed, "unsealed message to a keyed ring")
	}
	if peer.identity != nil && ringType {
		if from, ok := envelopeFrom(typeName, env); ok && !peer.identity.covers(from) {
			return refuse(&guardStats.forgedFrom, "sender is not the certificate's member", slog.String("from", truncate(from)), slog.String("certificate", truncate(peer.identity.String())))
		}
	}
	if entry.full() {
		refuseBusy(entry, batch, env, typeName, target, peer, drops)
		return true
	}
	return false
}

// vouchesForTerminated reports whether a Terminated naming the ring actor
// at address who may be believed on this stream (see the top of the file).
func (p *streamPeer) vouchesForTerminated(who string, keyed bool) bool {
	switch {
	case who == "" || who != p.claimed:
		return false
	case p.identity != nil:
		return p.identity.covers(who)
	default:
		return !keyed
	}
}

// terminatedWho returns the address of the actor a Terminated names, or ""
// if it does not decode.
func terminatedWho(env *remote.MessageEnvelope) string {
	msg, err := remote.Deserialize(env.MessageData, typeTerminated, env.SerializerId)
	if err != nil {
		return ""
	}
	t, ok := msg.(*actor.Terminated)
	if !ok {
		return ""
	}
	return t.GetWho().GetAddress()
}

// envelopeFrom returns the sender a ring message claims: its field "from",
// or a sealed message's sealed sender. A request of a client has none, and
// an Ack's from names the probed member, not its sender (claimedFrom); a
// sealed request's sender is a client, which its certificate need not
// name by port.
func envelopeFrom(typeName string, env *remote.MessageEnvelope) (string, bool) {
	msg, err := remote.Deserialize(env.MessageData, typeName, env.SerializerId)
	if err != nil {
		return "", false // Proto.Actor refuses it in turn
	}
	m, ok := msg.(proto.Message)
	if !ok {
		return "", false
	}
	if sealed, ok := m.(*messages.Sealed); ok {
		if isRequest(sealed.GetType()) {
			return "", false
		}
		return sealed.GetFrom(), true
	}
	return claimedFrom(m)
}
