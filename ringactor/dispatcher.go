package ringactor

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// warmDispatcher runs the ring actor's mailbox on one long-lived goroutine
// instead of a new one each time the mailbox wakes, which is what
// Proto.Actor's default dispatcher does. A new goroutine starts with a
// small stack, and the ring's path through a call (Proto.Actor's invoker,
// the boundary, the callback with its recover, the reply) is deeper than
// it: every call that found the mailbox idle grew and copied the stack, a
// quarter of the CPU of a local call in BenchmarkLocalCallVsBare. The
// worker keeps its stack between calls (until a garbage collection shrinks
// it).
//
// A mailbox schedules itself only when it goes from idle to running, so
// the worker runs one mailbox run at a time, in order, as goroutines
// would. After stop, or if the queue is full (several actors spawned from
// one Props), it falls back to a goroutine per run.
type warmDispatcher struct {
	throughput int
	start      sync.Once
	mu         sync.RWMutex
	stopped    bool
	work       chan func()
}

// mailboxThroughput is how many messages a mailbox run handles before it
// yields, Proto.Actor's default.
const mailboxThroughput = 300

func newWarmDispatcher() *warmDispatcher {
	return &warmDispatcher{throughput: mailboxThroughput, work: make(chan func(), 16)}
}

// Schedule implements actor.Dispatcher.
func (d *warmDispatcher) Schedule(fn func()) {
	d.start.Do(func() { go d.run() })
	d.mu.RLock()
	defer d.mu.RUnlock()
	if !d.stopped {
		select {
		case d.work <- fn:
			return
		default:
		}
	}
	go fn()
}

// Throughput implements actor.Dispatcher.
func (d *warmDispatcher) Throughput() int { return d.throughput }

func (d *warmDispatcher) run() {
	for fn := range d.work {
		fn()
	}
}

// stop ends the worker once the runs already queued are done; later runs
// get goroutines of their own.
func (d *warmDispatcher) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped {
		d.stopped = true
		close(d.work)
	}
}

var _ actor.Dispatcher = (*warmDispatcher)(nil)
