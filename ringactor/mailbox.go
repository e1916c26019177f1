package ringactor

import (
	"log/slog"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// The ring actor's mailbox is bounded for what comes from the network, and
// only for that. Proto.Actor's own bounded mailboxes either block the
// sender when full (the remote's receive goroutine, the timers, and the
// ring actor itself when it sends its own flush token: a deadlock) or drop
// the oldest message whatever it is (a flush token, a probe deadline, a
// Call's request, silently). So the mailbox stays unbounded, and the
// receive guard (guard.go), which sees every message from another process
// before Proto.Actor delivers it, refuses those to a ring actor whose
// mailbox holds Security.MaxQueued messages already. The ring's own
// messages (timers, flush tokens) and the calls of this process are never
// refused; a refused request of another process is answered ErrBusy at
// once, so its caller does not wait for its timeout; everything refused is
// counted (Stats.DroppedBusy) and logged at most once a second.

// DefaultMaxQueued is the default of Security.MaxQueued.
const DefaultMaxQueued = 8192

// ringMailbox returns the mailbox of the ring actor named name: unbounded,
// taken in batches (mailbox_batch.go), run on a warm dispatcher of its own
// (dispatcher.go), and known to the receive guards, who read how many
// messages wait in it.
// No mailbox middleware counts them: a middleware is called twice for
// every message, local casts included, on two goroutines that then share
// its counter's cache line, and the mailbox counts its messages already.
func ringMailbox(name string) actor.PropsOption {
	entry := ringEntryOf(name)
	return actor.WithMailbox(onWarmDispatcher(func() actor.Mailbox {
		mailbox := newBatchMailbox()
		entry.mailbox.Store(&mailbox)
		return mailbox
	}))
}

// ringEntry is what the receive guards of this process know of one ring
// actor name (see localRings in guard.go).
type ringEntry struct {
	// registered: a ring actor of this name was started here (an entry
	// can exist before, made by the props' mailbox).
	registered atomic.Bool
	keyed      atomic.Bool
	// mailbox is the mailbox of the ring actor spawned last under this
	// name; nil before the first spawn.
	mailbox atomic.Pointer[actor.Mailbox]
	// maxQueued is Security.MaxQueued of the ring started last under this
	// name; 0 until one started (nothing is refused for being busy).
	maxQueued atomic.Int64
	// busy counts the messages refused because the mailbox was full.
	busy atomic.Uint64
	// answer, set by the ring's boundary, answers a refused request.
	answer atomic.Pointer[busyAnswer]
}

// busyAnswer answers the refused requests of one ring member: through its
// actor system, sealed for the request when the ring has a keyring.
type busyAnswer struct {
	system *actor.ActorSystem
	seal   func(reply proto.Message, requestNonce []byte) proto.Message
}

// queued returns how many messages wait in the ring actor's mailbox.
func (e *ringEntry) queued() int64 {
	mailbox := e.mailbox.Load()
	if mailbox == nil {
		return 0
	}
	return int64((*mailbox).UserMessageCount())
}

// full reports whether the ring's mailbox holds as many messages as it may
// take from the network.
func (e *ringEntry) full() bool {
	limit := e.maxQueued.Load()
	return limit > 0 && e.queued() >= limit
}

// refuseBusy counts and logs env, refused because the mailbox of the ring
// actor target is full, and answers it with ErrBusy when it is a request
// that waits for an answer.
func refuseBusy(entry *ringEntry, batch *remote.MessageBatch, env *remote.MessageEnvelope, typeName, target string, peer *streamPeer, drops *dropLog) {
	entry.busy.Add(1)
	guardStats.busy.Add(1)
	drops.warn("mailbox full", "refused a remote message to a busy ring actor", slog.String("type", truncate(typeName)), slog.String("ring", truncate(target)), slog.String("peer", truncate(peer.claimed)), slog.Int64("queued", entry.queued()))
	answerRefused(entry, batch, env, typeName, ErrBusy)
}

// answerRefused answers env, a message to the ring of entry that the
// receive guard refused, with err when it is a request that waits for an
// answer: sealed for the request when it came sealed.
func answerRefused(entry *ringEntry, batch *remote.MessageBatch, env *remote.MessageEnvelope, typeName string, err error) {
	answer := entry.answer.Load()
	sender := envelopeSender(batch, env)
	if answer == nil || sender == nil {
		return
	}
	requestType, nonce := typeName, []byte(nil)
	if typeName == messagesPackage+".Sealed" {
		msg, err := remote.Deserialize(env.MessageData, typeName, env.SerializerId)
		sealed, ok := msg.(*messages.Sealed)
		if err != nil || !ok {
			return
		}
		requestType, nonce = sealed.GetType(), sealed.GetNonce()
	}
	reply := errorAnswer(requestType, err)
	if reply == nil {
		return
	}
	if nonce != nil {
		if reply = answer.seal(reply, nonce); reply == nil {
			return
		}
	}
	answer.system.Root.Send(sender, reply)
}

// envelopeSender returns the sender of env as Proto.Actor's endpoint reader
// would deliver it, or nil.
func envelopeSender(batch *remote.MessageBatch, env *remote.MessageEnvelope) *actor.PID {
	index := int(env.Sender)
	if index <= 0 || index > len(batch.Senders) || batch.Senders[index-1] == nil {
		return nil
	}
	sender := batch.Senders[index-1]
	if env.SenderRequestId > 0 {
		sender = proto.Clone(sender).(*actor.PID)
		sender.RequestId = env.SenderRequestId
	}
	return sender
}
