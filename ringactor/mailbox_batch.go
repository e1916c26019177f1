package ringactor

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// batchMailbox is the ring actor's mailbox. It keeps the rules of
// Proto.Actor's default mailbox (system messages before user messages,
// suspension while the actor restarts, a yield every Throughput messages,
// a panic escalated with the message that caused it), but takes the user
// messages waiting in it all at once: the actor's goroutine locks the
// queue once per batch instead of once per message.
//
// Why: a busy ring actor is fed by other goroutines (local callers and
// casters, the remote's stream readers) while its own goroutine empties
// the mailbox. Proto.Actor's unbounded queue takes a mutex for every push
// and every pop, so the two sides contended for it on every message; with
// one caster on two cores, spinning on that mutex cost more than the
// ring's handling of the cast (BenchmarkLocalCallVsBare).
//
// The posters' fields and the run's are kept on cache lines of their own,
// and a post reads the running flag before it tries to set it: on two
// cores, writes to a line that the other side writes too cost more than
// the rest of a post.
type batchMailbox struct {
	// Written by posters.
	mu sync.Mutex
	// posted holds the user messages posted and not yet taken, system the
	// system messages; both under mu.
	posted, system []any
	postedCount    atomic.Int64 // user messages ever posted, counted under mu
	_              cacheLinePad

	// Written by the run. taken is the batch the run took from posted,
	// handled from next on; a run that ends (or panics) leaves the rest
	// for the next one.
	taken        []any
	next         int
	handledCount atomic.Int64 // user messages ever handed to the actor
	_            cacheLinePad

	// Written seldom.
	sysMessages atomic.Int32
	running     atomic.Bool
	suspended   atomic.Bool
	invoker     actor.MessageInvoker
	dispatcher  actor.Dispatcher
}

// cacheLinePad keeps the fields before it and after it on different cache
// lines.
type cacheLinePad struct{ _ [64]byte }

// maxKeptBatch is the capacity past which an emptied batch's buffer is
// left to the collector: a burst must not pin its memory for good.
const maxKeptBatch = 4096

func newBatchMailbox() actor.Mailbox { return &batchMailbox{} }

// PostUserMessage implements actor.Mailbox. Like Proto.Actor's default
// mailbox, it posts the messages of a MessageBatch one by one before the
// batch itself.
func (m *batchMailbox) PostUserMessage(message any) {
	if batch, ok := message.(actor.MessageBatch); ok {
		for _, msg := range batch.GetMessages() {
			m.PostUserMessage(msg)
		}
	}
	if env, ok := message.(*actor.MessageEnvelope); ok {
		if batch, ok := env.Message.(actor.MessageBatch); ok {
			for _, msg := range batch.GetMessages() {
				m.PostUserMessage(msg)
			}
		}
	}
	m.mu.Lock()
	m.posted = append(m.posted, message)
	m.postedCount.Add(1)
	m.mu.Unlock()
	m.schedule()
}

// PostSystemMessage implements actor.Mailbox.
func (m *batchMailbox) PostSystemMessage(message any) {
	m.mu.Lock()
	m.system = append(m.system, message)
	m.mu.Unlock()
	m.sysMessages.Add(1)
	m.schedule()
}

// RegisterHandlers implements actor.Mailbox.
func (m *batchMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

// Start implements actor.Mailbox.
func (m *batchMailbox) Start() {}

// UserMessageCount implements actor.Mailbox: the user messages posted and
// not yet handed to the actor, which the receive guard bounds.
func (m *batchMailbox) UserMessageCount() int {
	return int(m.postedCount.Load() - m.handledCount.Load())
}

func (m *batchMailbox) schedule() {
	if !m.running.Load() && m.running.CompareAndSwap(false, true) {
		m.dispatcher.Schedule(m.processMessages)
	}
}

func (m *batchMailbox) processMessages() {
	for {
		m.run()
		m.running.Store(false)
		// A message posted after the run found the mailbox empty, but
		// before it said so, scheduled nothing: look again.
		if m.sysMessages.Load() == 0 && (m.suspended.Load() || m.UserMessageCount() == 0) {
			return
		}
		if !m.running.CompareAndSwap(false, true) {
			return // a poster scheduled a run of its own
		}
	}
}

func (m *batchMailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	throughput := m.dispatcher.Throughput()
	for i := 0; ; i++ {
		if i > throughput {
			i = 0
			runtime.Gosched()
		}
		if m.sysMessages.Load() > 0 {
			if msg = m.popSystem(); msg != nil {
				m.sysMessages.Add(-1)
				switch msg.(type) {
				case *actor.SuspendMailbox:
					m.suspended.Store(true)
				case *actor.ResumeMailbox:
					m.suspended.Store(false)
				default:
					m.invoker.InvokeSystemMessage(msg)
				}
				continue
			}
		}
		if m.suspended.Load() {
			return
		}
		if msg = m.popUser(); msg == nil {
			return
		}
		m.handledCount.Add(1)
		m.invoker.InvokeUserMessage(msg)
	}
}

// popSystem returns the oldest system message, or nil.
func (m *batchMailbox) popSystem() any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.system) == 0 {
		return nil
	}
	msg := m.system[0]
	m.system[0] = nil
	m.system = m.system[1:]
	return msg
}

// popUser returns the oldest user message, or nil: from the batch taken,
// or, when that is done, from a new batch of all that was posted since.
func (m *batchMailbox) popUser() any {
	if m.next == len(m.taken) {
		spare := m.taken[:0]
		if cap(spare) > maxKeptBatch {
			spare = nil
		}
		m.mu.Lock()
		m.taken, m.posted = m.posted, spare
		m.mu.Unlock()
		m.next = 0
		if len(m.taken) == 0 {
			return nil
		}
	}
	msg := m.taken[m.next]
	m.taken[m.next] = nil
	m.next++
	return msg
}

var _ actor.Mailbox = (*batchMailbox)(nil)
