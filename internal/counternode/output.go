package counternode

import (
	"io"
	"sync"
)

// lineWriter writes lines to an io.Writer from its own goroutine, in the
// order they were queued. Println never blocks on the writer, so the ring's
// callbacks can print events: a reader that does not keep up with stdout
// must not stall the ring actor (and get this member declared down).
type lineWriter struct {
	out  io.Writer
	mu   sync.Mutex
	cond *sync.Cond
	// queue holds the lines not yet written; closed is set by close.
	queue  []string
	closed bool
	done   chan struct{}
}

func newLineWriter(out io.Writer) *lineWriter {
	w := &lineWriter{out: out, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Println queues line (without its newline). Lines queued after close are
// dropped.
func (w *lineWriter) Println(line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.queue = append(w.queue, line+"\n")
	w.cond.Signal()
}

// close writes the lines queued so far and stops the writer.
func (w *lineWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.cond.Signal()
	w.mu.Unlock()
	<-w.done
}

func (w *lineWriter) run() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closed {
			w.cond.Wait()
		}
		batch := w.queue
		w.queue = nil
		closed := w.closed
		w.mu.Unlock()
		for _, line := range batch {
			// A write error (the reader is gone) leaves nothing to do but
			// drop the line; the member keeps serving the ring.
			_, _ = io.WriteString(w.out, line)
		}
		if closed && len(batch) == 0 {
			return
		}
	}
}
