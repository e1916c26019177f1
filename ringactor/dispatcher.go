package ringactor

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// warmDispatcher runs one ring actor's mailbox on a long-lived goroutine
// instead of a new goroutine each time the mailbox wakes, which is what
// Proto.Actor's default dispatcher does. A new goroutine starts with a
// small stack, and the ring's path through a call (Proto.Actor's invoker,
// the boundary, the callback with its recover, Context.Update, the reply)
// is deeper than that: every call that found the mailbox idle grew and
// copied the stack, a quarter of the CPU of a local call with one caller
// (BenchmarkDurableCall/none/callers=1, BenchmarkLocalCallVsBare). The
// worker keeps its stack between runs.
//
// One dispatcher serves one mailbox (warmMailbox makes it at each spawn),
// never two actors: an actor whose callback waits for another actor's
// answer must not wait behind it on one goroutine. A mailbox schedules a
// run only when it goes from idle to running, so runs never overlap and at
// most one waits while the last one finishes; the channel holds more to be
// safe, and a run that finds it full gets a goroutine of its own, as with
// the default dispatcher. The worker ends after warmIdle without a run (the
// actor stopped, or sleeps), and the next run starts a new one: nothing has
// to stop it.
type warmDispatcher struct {
	mu      sync.Mutex
	running bool
	work    chan func()
}

// mailboxThroughput is how many messages a mailbox run handles before it
// yields to other goroutines: Proto.Actor's default.
const mailboxThroughput = 300

// warmIdle is how long the worker waits for a run before it ends. A ring
// actor has a timer well within it (gossip, probes), so a live ring keeps
// its worker.
const warmIdle = 5 * time.Second

func newWarmDispatcher() *warmDispatcher {
	return &warmDispatcher{work: make(chan func(), 4)}
}

// Schedule implements actor.Dispatcher.
func (d *warmDispatcher) Schedule(run func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case d.work <- run:
		// Queued under the lock, so a worker deciding to end sees it.
		if !d.running {
			d.running = true
			go d.serve()
		}
	default:
		go run()
	}
}

// Throughput implements actor.Dispatcher.
func (d *warmDispatcher) Throughput() int { return mailboxThroughput }

func (d *warmDispatcher) serve() {
	idle := time.NewTimer(warmIdle)
	defer idle.Stop()
	for {
		select {
		case run := <-d.work:
			run()
			idle.Reset(warmIdle)
		case <-idle.C:
			d.mu.Lock()
			if len(d.work) == 0 {
				d.running = false
				d.mu.Unlock()
				return
			}
			d.mu.Unlock()
			idle.Reset(warmIdle)
		}
	}
}

// warmMailbox is a mailbox that runs on a warmDispatcher of its own,
// whatever dispatcher the Props name.
type warmMailbox struct {
	actor.Mailbox
}

// RegisterHandlers implements actor.Mailbox.
func (m warmMailbox) RegisterHandlers(invoker actor.MessageInvoker, _ actor.Dispatcher) {
	m.Mailbox.RegisterHandlers(invoker, newWarmDispatcher())
}

// onWarmDispatcher wraps a mailbox producer so that each mailbox it makes
// runs on its own warmDispatcher.
func onWarmDispatcher(produce actor.MailboxProducer) actor.MailboxProducer {
	return func() actor.Mailbox { return warmMailbox{produce()} }
}

var _ actor.Dispatcher = (*warmDispatcher)(nil)
