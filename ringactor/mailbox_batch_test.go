package ringactor

import (
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingInvoker records what a mailbox hands it, and panics on the
// user message "panic".
type recordingInvoker struct {
	mu        sync.Mutex
	user      []any
	system    []any
	escalated []any
	// With a gate, each user message is announced on entered, then waits
	// for a token on gate.
	gate    chan struct{}
	entered chan any
}

func (r *recordingInvoker) InvokeSystemMessage(msg any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.system = append(r.system, msg)
}

func (r *recordingInvoker) InvokeUserMessage(msg any) {
	if r.gate != nil {
		r.entered <- msg
		<-r.gate
	}
	if msg == "panic" {
		panic("boom")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.user = append(r.user, msg)
}

func (r *recordingInvoker) EscalateFailure(_ any, msg any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.escalated = append(r.escalated, msg)
}

func (r *recordingInvoker) snapshot() (user, system, escalated []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.user...), append([]any(nil), r.system...), append([]any(nil), r.escalated...)
}

func newTestBatchMailbox(invoker actor.MessageInvoker) actor.Mailbox {
	m := newBatchMailbox()
	m.RegisterHandlers(invoker, newWarmDispatcher())
	m.Start()
	return m
}

// Each poster's messages arrive in the order it posted them, whatever the
// batches the mailbox takes them in.
func TestBatchMailboxKeepsEachPostersOrder(t *testing.T) {
	invoker := &recordingInvoker{}
	m := newTestBatchMailbox(invoker)
	const posters, each = 4, 5000
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m.PostUserMessage([2]int{p, i})
			}
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool { user, _, _ := invoker.snapshot(); return len(user) == posters*each }, waitFor, tick)
	user, _, _ := invoker.snapshot()
	next := make([]int, posters)
	for _, msg := range user {
		got := msg.([2]int)
		require.Equal(t, next[got[0]], got[1], "poster %d", got[0])
		next[got[0]]++
	}
	assert.Zero(t, m.UserMessageCount())
}

// While suspended (the actor restarts), the mailbox hands over system
// messages only; user messages wait, counted, until it resumes.
func TestBatchMailboxSuspends(t *testing.T) {
	invoker := &recordingInvoker{}
	m := newTestBatchMailbox(invoker)
	m.PostSystemMessage(&actor.SuspendMailbox{})
	m.PostUserMessage("a")
	m.PostUserMessage("b")
	m.PostSystemMessage("restarting")
	require.Eventually(t, func() bool { _, system, _ := invoker.snapshot(); return len(system) == 1 }, waitFor, tick)
	user, _, _ := invoker.snapshot()
	assert.Empty(t, user, "suspended: no user message handled")
	assert.Equal(t, 2, m.UserMessageCount())

	m.PostSystemMessage(&actor.ResumeMailbox{})
	require.Eventually(t, func() bool { user, _, _ := invoker.snapshot(); return len(user) == 2 }, waitFor, tick)
	user, _, _ = invoker.snapshot()
	assert.Equal(t, []any{"a", "b"}, user)
	assert.Zero(t, m.UserMessageCount())
}

// A system message posted while a batch is being handled goes before the
// rest of the batch.
func TestBatchMailboxSystemMessagesGoFirst(t *testing.T) {
	invoker := &recordingInvoker{gate: make(chan struct{}), entered: make(chan any, 4)}
	m := newTestBatchMailbox(invoker)
	for _, msg := range []string{"a", "b", "c"} {
		m.PostUserMessage(msg)
	}
	require.Equal(t, "a", <-invoker.entered)
	m.PostSystemMessage("system")
	invoker.gate <- struct{}{} // "a" ends
	require.Equal(t, "b", <-invoker.entered)
	_, system, _ := invoker.snapshot()
	assert.Equal(t, []any{"system"}, system, "handled before b")
	close(invoker.gate)
	require.Eventually(t, func() bool { user, _, _ := invoker.snapshot(); return len(user) == 3 }, waitFor, tick)
}

// A panic is escalated with the message that caused it; the messages
// after it in the same batch are handled, not lost.
func TestBatchMailboxPanicKeepsTheRestOfTheBatch(t *testing.T) {
	invoker := &recordingInvoker{gate: make(chan struct{}), entered: make(chan any, 4)}
	m := newTestBatchMailbox(invoker)
	for _, msg := range []any{"a", "panic", "b", "c"} {
		m.PostUserMessage(msg)
	}
	// a held the mailbox while the others were posted: panic, b and c
	// are one batch.
	require.Equal(t, "a", <-invoker.entered)
	close(invoker.gate)
	require.Eventually(t, func() bool { user, _, _ := invoker.snapshot(); return len(user) == 3 }, waitFor, tick)
	user, _, escalated := invoker.snapshot()
	assert.Equal(t, []any{"a", "b", "c"}, user)
	assert.Equal(t, []any{"panic"}, escalated)
	assert.Zero(t, m.UserMessageCount())
}
