package ringactor

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/genserverring/genserverring-go/messages"
)

// Casts to a member in another process leave in batches: Cast queues the
// cast and a sender goroutine, started by the first cast of a burst, sends
// everything queued by the time it runs as one CastBatch (a lone cast as a
// CastRequest). A burst of casts then costs the member one mailbox message,
// one decode of the batch's envelope and, with a ring key, one seal and
// one open, instead of one of each per cast: with a ring key, sealing
// alone cost more per cast than a bare actor's whole cast.
//
// Order: the casts, calls and raw sends of one process to one member, with
// one keyring (or none), share one queue, and a request or a raw send goes
// only after the casts queued before it (castQueue.send). Casts from
// different goroutines have no order between them, as with any actor.

// maxCastBatch is the most casts one CastBatch carries, and the most a
// member takes in one: a batch is one message to the receive guard's
// mailbox bound (Security.MaxQueued), so it stays small.
const maxCastBatch = 256

// castQueue holds the casts of this process to one member, with one
// keyring, that wait to be sent.
type castQueue struct {
	// system is held weakly: the registry below must not keep an actor
	// system, and all it holds, alive after its user let it go.
	system weak.Pointer[actor.ActorSystem]
	pid    *actor.PID
	sealer *sealer // nil: unsealed
	mu     sync.Mutex
	queued []*anypb.Any
	// sending is true from a cast that found the queue idle until the
	// sender goroutine has sent all it found: a request that sees it
	// false has no cast of its own waiting.
	sending atomic.Bool
}

type castQueueKey struct {
	system  weak.Pointer[actor.ActorSystem]
	pid     string
	keyring *Keyring
	ring    string // what the keyring seals for
}

// castQueues holds one castQueue per actor system, member and keyring:
// every Client of this process for the member shares it. Entries stay for
// the life of the process (some 200 bytes per member ever addressed),
// their actor systems do not.
var castQueues sync.Map // castQueueKey -> *castQueue

// castQueueFor returns the queue of system's casts to pid sealed by s
// (nil: unsealed).
func castQueueFor(system *actor.ActorSystem, pid *actor.PID, s *sealer) *castQueue {
	key := castQueueKey{system: weak.Make(system), pid: pid.GetAddress() + "/" + pid.GetId()}
	if s != nil {
		key.keyring, key.ring = s.keyring, s.ring
	}
	if q, ok := castQueues.Load(key); ok {
		return q.(*castQueue)
	}
	q, _ := castQueues.LoadOrStore(key, &castQueue{system: key.system, pid: pid, sealer: s})
	return q.(*castQueue)
}

// cast queues body and starts the sender if the queue was idle.
func (q *castQueue) cast(body *anypb.Any) {
	q.mu.Lock()
	q.queued = append(q.queued, body)
	start := !q.sending.Load()
	if start {
		q.sending.Store(true)
	}
	q.mu.Unlock()
	if start {
		go q.flush()
	}
}

// flush sends all that is queued, then marks the queue idle.
func (q *castQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sendQueued()
	q.sending.Store(false)
}

// send runs send (a request or a raw send to the member) after the casts
// queued before it have been handed to Proto.Actor, which keeps the order
// of what it is handed for one member.
func (q *castQueue) send(send func()) {
	if q == nil || !q.sending.Load() {
		send() // nothing queued: no lock on the path of every request
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sendQueued()
	send()
}

// sendQueued sends the queued casts, at most maxCastBatch to a message.
// Under q.mu, so that messages leave in the order they were queued.
func (q *castQueue) sendQueued() {
	system := q.system.Value()
	for system != nil && len(q.queued) > 0 {
		n := min(len(q.queued), maxCastBatch)
		var msg proto.Message
		if n == 1 {
			msg = &messages.CastRequest{Body: q.queued[0]}
		} else {
			// The batch keeps its slice: Proto.Actor encodes it later,
			// on its endpoint writer.
			msg = &messages.CastBatch{Bodies: q.queued[:n:n]}
		}
		q.queued = q.queued[n:]
		out := any(msg)
		if q.sealer != nil {
			sealed, err := q.sealer.seal(msg)
			if err != nil {
				system.Logger().Warn("ringactor: casts not sent: cannot seal them", slog.Int("casts", n), slog.String("member", q.pid.String()), slog.Any("error", err))
				continue
			}
			out = sealed
		}
		system.Root.Send(q.pid, out)
	}
	q.queued = nil // a fresh slice for the next casts: the batches keep theirs
}
