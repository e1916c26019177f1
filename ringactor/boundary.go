package ringactor

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/genserverring/genserverring-go/messages"
)

// boundary is the ring actor's side of the ring's boundary: it seals what
// the member sends and decides what it receives may reach the core. The
// remote's receive guard (guard.go) has already refused Proto.Actor system
// messages and senders that the transport shows to be forged; what is left
// here is the ring key and the bounds of a gossip.
type boundary struct {
	ring   string
	sealer *sealer // nil: the ring has no keyring
	// last is the last message outgoing took and what it made of it, for
	// the same message sent to the next member in the same batch of
	// effects (forgetLast ends it).
	last struct {
		in, out proto.Message
		size    int
	}
	stats    *Stats
	drops    *dropLog
	maxNodes int
	// maxSend is the largest message the member sends: the remote's
	// maximum less room for the batch around it. gRPC would refuse a
	// larger one, and Proto.Actor would drop the connection with it, so
	// the peer would be seen down; the boundary drops the message instead.
	maxSend int
	// entry is what the receive guards know of this ring (mailbox.go).
	entry *ringEntry
	// requestNonce is the nonce of the sealed request being handled, to
	// seal its answer for; nil while handling anything else.
	requestNonce []byte
	log          *slog.Logger
}

// batchOverhead is room for what Proto.Actor adds around a message in a
// batch (type name, target, sender, header).
const batchOverhead = 4 << 10

// newBoundary builds the boundary of ring's member self, counting into
// stats. It registers the ring with this process's receive guards, and
// warns once when nothing authenticates the ring's peers.
func newBoundary(ring, self string, sec Security, system *actor.ActorSystem, stats *Stats, log *slog.Logger) *boundary {
	b := &boundary{ring: ring, stats: stats, drops: newDropLog(log), maxNodes: sec.maxNodes(), maxSend: maxMessageBytes(system) - batchOverhead, log: log}
	if sec.Keyring != nil && sec.Keyring != transportKeyring(system) {
		// A keyring the transport does not hold: each message is sealed.
		// The transport's own keyring covers every message already.
		b.sealer = newSealer(ring, self, sec.Keyring, sec.ReplayWindow, sec.ReplayCacheSize)
	}
	b.entry = registerRing(ring, b.sealer != nil, sec.maxQueued())
	b.entry.answer.Store(&busyAnswer{system: system, seal: b.sealAnswer})
	if sec.Keyring == nil && !sec.TransportAuthenticated && !transportAuthenticated(system) {
		log.Warn("the ring is open: no ring key and no mTLS, so any process that reaches this member's port can change its membership, stop it and forge its gossip (see RemoteOptions.Keyring, Security.Keyring and RemoteOptions.TLS)")
	}
	return b
}

// outgoing returns what to send for msg: msg sealed with the primary key,
// or msg itself when the ring has no keyring.
func (b *boundary) outgoing(msg proto.Message) proto.Message {
	if msg == b.last.in {
		// The same message to another member (a pushed delta goes to
		// several): sealed and sized once.
		b.countSent(b.last.size)
		return b.last.out
	}
	out := msg
	if b.sealer != nil {
		sealed, err := b.sealer.seal(msg)
		if err != nil {
			b.drops.warn("seal failed", "cannot seal an outgoing message; not sent", slog.Any("error", err))
			return nil
		}
		out = sealed
	}
	size := proto.Size(out)
	if size > b.maxSend {
		b.stats.Security.OversizedSends++
		b.drops.warn("message too large", "not sent: larger than the remote's maximum message size", slog.String("type", string(msg.ProtoReflect().Descriptor().FullName())), slog.Int("bytes", size), slog.Int("max", b.maxSend))
		return nil
	}
	b.countSent(size)
	b.last.in, b.last.out, b.last.size = msg, out, size
	return out
}

// forgetLast ends the reuse of the last message outgoing sealed: the
// sends of one batch of effects share it, later ones seal again.
func (b *boundary) forgetLast() { b.last.in, b.last.out, b.last.size = nil, nil, 0 }

// admit returns the message to handle for message, just received (the
// inner message of a sealed one), or false when it is refused: counted,
// logged (rate-limited), and, for a request, answered with the reason.
// The refusals live in functions of their own so that admit's frame stays
// small: it runs on the hot path of every call, on a mailbox goroutine
// whose stack starts small.
func (b *boundary) admit(ctx actor.Context, message any) (any, bool) {
	b.requestNonce = nil
	// The receive guard counts the messages it refused for a full mailbox
	// on its own goroutines; the member's Stats (and its metrics) follow.
	b.stats.DroppedBusy = b.entry.busy.Load()
	msg, ok := message.(proto.Message)
	if !ok {
		return message, true // local Go values, timers
	}
	if !isRingMessage(msg) {
		if b.sealer != nil && isUserCall(msg, ctx.Sender()) && ctx.Sender().GetAddress() != ctx.Self().GetAddress() {
			b.refuseUnsealed(ctx, msg) // a call from another process without the key
			return nil, false
		}
		return message, true // system messages, the user's own messages
	}
	b.countReceived(msg)
	sealed, isSealed := msg.(*messages.Sealed)
	switch {
	case isSealed && b.sealer == nil:
		b.refuseSealed(ctx, sealed)
		return nil, false
	case isSealed:
		inner, err := b.sealer.open(sealed)
		if err != nil {
			b.refuseBadSeal(ctx, sealed, err)
			return nil, false
		}
		msg = inner
		if isRequest(sealed.GetType()) {
			b.requestNonce = sealed.GetNonce()
		}
	case b.sealer != nil:
		b.refuseUnsealed(ctx, msg)
		return nil, false
	}
	if g, ok := msg.(*messages.Gossip); ok && !b.admitGossip(g) {
		return nil, false
	}
	if casts, ok := msg.(*messages.CastBatch); ok && len(casts.GetBodies()) > maxCastBatch {
		b.stats.Security.TooLarge++
		b.stats.Dropped++
		b.drops.warn("too many casts", "dropped a batch of casts", slog.Int("casts", len(casts.GetBodies())), slog.Int("max", maxCastBatch))
		return nil, false
	}
	return msg, true
}

// refuseSealed refuses a sealed message to a ring without a keyring.
func (b *boundary) refuseSealed(ctx actor.Context, sealed *messages.Sealed) {
	b.stats.Security.Unsealed++
	b.refuse(ctx, sealed.GetType(), "sealed message to a ring without a keyring", errors.New("ringactor: the ring has no keyring; it takes unsealed requests"), sealed.GetFrom())
}

// refuseBadSeal refuses a sealed message that did not open.
func (b *boundary) refuseBadSeal(ctx actor.Context, sealed *messages.Sealed, err error) {
	if errors.Is(err, errUnknownType) {
		// Authentic, but of a type this binary lacks: no key would help.
		b.stats.Dropped++
		b.refuse(ctx, sealed.GetType(), "unknown type", err, sealed.GetFrom())
		return
	}
	b.countOpenError(err)
	b.refuse(ctx, sealed.GetType(), "sealed message refused", fmt.Errorf("%w: %v", ErrKeyRequired, err), sealed.GetFrom())
}

// refuseUnsealed refuses an unsealed message to a ring with a keyring.
func (b *boundary) refuseUnsealed(ctx actor.Context, msg proto.Message) {
	name := string(msg.ProtoReflect().Descriptor().FullName())
	if isRequest(name) {
		b.stats.Security.RefusedRequests++
	} else {
		b.stats.Security.Unsealed++
	}
	b.refuse(ctx, name, "unsealed message to a ring with a keyring", ErrKeyRequired, "")
}

// admitGossip refuses a gossip that names more than maxNodes nodes.
func (b *boundary) admitGossip(g *messages.Gossip) bool {
	n := len(g.GetNodeSet().GetEntries()) + len(g.GetForcedDown().GetEntries())
	if n <= b.maxNodes {
		return true
	}
	b.stats.Security.TooLarge++
	b.stats.Dropped++
	b.drops.warn("too many nodes", "dropped gossip", slog.String("from", truncate(g.GetFrom())), slog.Int("nodes", n), slog.Int("max", b.maxNodes))
	return false
}

func (b *boundary) countOpenError(err error) {
	switch {
	case errors.Is(err, errStale), errors.Is(err, errReplayed):
		b.stats.Security.Replayed++
	case errors.Is(err, errForgedFrom):
		b.stats.Security.ForgedFrom++
	case errors.Is(err, errOtherRing):
		b.stats.DroppedOtherRing++
	default:
		b.stats.Security.BadSeal++
	}
}

// refuse logs a refused message of type typeName and answers it with err
// when it is a request: a client with no key or the wrong key learns why,
// instead of waiting for its timeout.
func (b *boundary) refuse(ctx actor.Context, typeName, what string, err error, from string) {
	request := isRequest(typeName)
	if !request {
		b.stats.Dropped++
	}
	b.drops.warn(what, "refused "+truncate(typeName), slog.String("from", truncate(from)), slog.Any("error", err))
	if ctx.Sender() == nil {
		return
	}
	if answer := errorAnswer(typeName, err); answer != nil {
		ctx.Respond(answer)
	}
}

// errorAnswer is the answer to a refused request of type typeName, or nil
// for a message that waits for none (a cast, the protocol between
// members).
func errorAnswer(typeName string, err error) proto.Message {
	switch {
	case !isRequest(typeName), typeName == messagesPackage+".CastRequest", typeName == messagesPackage+".CastBatch":
		return nil
	case typeName == messagesPackage+".CallRequest", !strings.HasPrefix(typeName, messagesPackage+"."):
		return errorReply(err)
	default:
		return opReply(err)
	}
}

// respond answers the message being handled with msg: sealed for the
// request when it came sealed, as it is otherwise.
func (b *boundary) respond(ctx actor.Context, msg proto.Message) {
	if ctx.Sender() == nil {
		return
	}
	if b.requestNonce == nil {
		ctx.Respond(msg)
		return
	}
	if sealed := b.sealAnswer(msg, b.requestNonce); sealed != nil {
		ctx.Respond(sealed)
	}
}

// replySeal returns what seals a later answer to the request being handled
// (a call's reply, now or deferred), or nil when it came unsealed. It may
// be called from any goroutine (Reply).
func (b *boundary) replySeal() func(proto.Message) proto.Message {
	if b.requestNonce == nil {
		return nil
	}
	nonce := b.requestNonce
	return func(msg proto.Message) proto.Message { return b.sealAnswer(msg, nonce) }
}

// sealAnswer seals reply for the request whose nonce is requestNonce; nil,
// logged, if it cannot (the caller then times out rather than read an
// answer it cannot trust). Safe for concurrent use: sealing reads only
// the keyring, which has its own lock.
func (b *boundary) sealAnswer(reply proto.Message, requestNonce []byte) proto.Message {
	if b.sealer == nil {
		return reply // a ring without a keyring answers a sealed request in the clear, with an error
	}
	sealed, err := b.sealer.sealReply(reply, requestNonce)
	if err != nil {
		b.log.Warn("cannot seal an answer; not sent", slog.Any("error", err))
		return nil
	}
	return sealed
}

// withGuardCounts returns stats with the counts that the receive guards
// keep for this ring.
func (b *boundary) withGuardCounts(stats Stats) Stats {
	stats.DroppedBusy = b.entry.busy.Load()
	return stats
}

// isRingMessage reports whether msg is one of the ring's own messages
// (protocol and requests), which a keyring covers.
func isRingMessage(msg proto.Message) bool {
	return msg.ProtoReflect().Descriptor().FullName().Parent() == messagesPackage
}

// isRequest reports whether the message type named typeName is a request
// of a client rather than a message between members: one of the ring's
// requests, or a user's type (a call when it comes with a sender).
func isRequest(typeName string) bool {
	name, ok := strings.CutPrefix(typeName, messagesPackage+".")
	if !ok {
		return isUserType(protoreflect.FullName(typeName)) // a call sent as the user's message
	}
	switch name {
	case "AddNode", "DelNode", "ForceDown", "UnforceDown", "GetAll", "GetUp", "GetStats", "StopRing", "LocalStop", "CallRequest", "CastRequest", "CastBatch":
		return true
	}
	return false
}

// WithKeyring returns a copy of the client that seals its requests with
// the primary key of k, as a ring with a keyring requires. The Client that
// Start returns holds its ring's keyring already. A client whose actor
// system's remote holds k (RemoteOptions.Keyring) seals nothing: its
// transport covers its requests.
func (c *Client) WithKeyring(k *Keyring) *Client {
	copied := *c
	copied.sealer = nil
	if k != nil && k != transportKeyring(c.system) {
		copied.sealer = newSealer(c.ring, c.system.Address(), k, 0, 1)
	}
	if !copied.local() {
		copied.casts = castQueueFor(c.system, c.pid, copied.sealer)
	}
	return &copied
}

// sealRequest seals msg when the client holds a keyring and msg is a
// protobuf message (one of the ring's requests, or a call's message); the
// local Go values of a Client of the same process need no seal. It
// returns the nonce the answer must be sealed for (nil: none).
func (c *Client) sealRequest(msg any) (any, []byte, error) {
	m, ok := msg.(proto.Message)
	if c.sealer == nil || !ok {
		return msg, nil, nil
	}
	sealed, err := c.sealer.seal(m)
	if err != nil {
		return nil, nil, err
	}
	return sealed, sealed.GetNonce(), nil
}

// openAnswer opens the answer to a request sealed with nonce. A ring that
// could not open the request (no key, the wrong key, no keyring) answers
// unsealed, with the reason: an unsealed answer is taken when it carries
// an error, never when it says ok, so that whoever can reach this process
// cannot forge a success.
func (c *Client) openAnswer(res any, nonce []byte) (any, error) {
	if nonce == nil {
		return res, nil
	}
	switch r := res.(type) {
	case *messages.Sealed:
		msg, err := c.sealer.openReply(r, nonce)
		if err != nil {
			return nil, fmt.Errorf("%w: the answer of %s: %v", ErrKeyRequired, c.pid.GetAddress(), err)
		}
		return msg, nil
	case *messages.OpReply:
		if r.GetError() != "" {
			return r, nil
		}
	case *messages.CallReply:
		if r.GetError() != "" {
			return r, nil
		}
	case *callReply:
		return r, nil // this process's own answer: nothing crossed a network
	}
	return nil, fmt.Errorf("%w: %T from %s", errUnsealedReply, res, c.pid.GetAddress())
}
