package ringactor

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// timers sends the ring actor its ticks and deadlines. They fire on their
// own goroutines and send through the actor system's root context, never
// through the actor's context, which is only valid on the actor's goroutine
// (and is torn down when it stops).
//
// Proto.Actor's scheduler is not used: its repeating timer reads its state
// without synchronisation while the cancel function writes it, a data race
// whenever a ring stops.
type timers struct {
	root *actor.RootContext
	self *actor.PID

	mu      sync.Mutex
	stopped bool
	done    chan struct{}
}

func newTimers(root *actor.RootContext, self *actor.PID) *timers {
	return &timers{root: root, self: self, done: make(chan struct{})}
}

// every sends msg every interval until stop.
func (t *timers) every(interval time.Duration, msg any) {
	ticker := time.NewTicker(interval)
	go func() {
		defer ticker.Stop()
		for {
			select {
			case <-t.done:
				return
			case <-ticker.C:
				t.root.Send(t.self, msg)
			}
		}
	}()
}

// once sends msg after delay, unless stop came first. A late one that
// races with stop reaches a stopped actor and is dropped.
func (t *timers) once(delay time.Duration, msg any) {
	time.AfterFunc(delay, func() {
		select {
		case <-t.done:
		default:
			t.root.Send(t.self, msg)
		}
	})
}

// stop ends every timer; it may be called more than once.
func (t *timers) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		close(t.done)
	}
}
