package ringactor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// Short intervals keep the actor tests fast; the probe timeout leaves room
// for the race detector on a loaded 2-core machine.
var testOptions = []Option{
	WithGossipInterval(50 * time.Millisecond),
	WithProbe(200*time.Millisecond, time.Second),
	WithRejoinInterval(100 * time.Millisecond),
	WithInitTimeout(200 * time.Millisecond),
	WithRequestTimeout(3 * time.Second),
}

const waitFor = 10 * time.Second
const tick = 10 * time.Millisecond

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testLog keeps the log lines of a test's members and prints the last ones
// when the test fails.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var testLogs sync.Map // *testing.T -> *testLog

// logFor returns the test's log, dumped (its last 300 lines) if it fails.
func logFor(t *testing.T) *testLog {
	if l, ok := testLogs.Load(t); ok {
		return l.(*testLog)
	}
	l := &testLog{}
	testLogs.Store(t, l)
	t.Cleanup(func() {
		testLogs.Delete(t)
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("last log lines:\n%s", strings.Join(l.lines[max(0, len(l.lines)-300):], "\n"))
		}
	})
	return l
}

// memberLogger logs at level into the test's log.
func memberLogger(t *testing.T, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(logFor(t), &slog.HandlerOptions{Level: level}))
}

// counterBehaviour is a PN-counter ring that records its callbacks.
type counterBehaviour struct {
	DefaultBehaviour[*crdt.PNCounter]
	mu           sync.Mutex
	ringChanges  []RingChange
	stateChanges int
	infos        []any
	casts        []any
	terminated   error
	pending      []From
}

type incr struct{ n uint64 }
type get struct{}
type boom struct{}
type later struct{}              // a call answered by the next release cast
type release struct{ value any } // answers the pending later calls
type stopWith struct{}           // StopWith: reply, then stop

func (b *counterBehaviour) HandleCall(ctx *Context[*crdt.PNCounter], from From, msg any) CallResult {
	switch m := msg.(type) {
	case incr:
		ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter { return p.Increment(ctx.Replica(), m.n) })
		return ReplyWith(ctx.Payload().Value())
	case get:
		return ReplyWith(ctx.Payload().Value())
	case boom:
		panic("boom")
	case later:
		b.mu.Lock()
		b.pending = append(b.pending, from)
		b.mu.Unlock()
		return NoReply()
	case stopWith:
		return StopWith(nil, "bye")
	case *wrapperspb.StringValue:
		// The protobuf forms of the calls above, for callers in another
		// process, and questions about this process.
		switch text := m.GetValue(); {
		case text == "later":
			b.mu.Lock()
			b.pending = append(b.pending, from)
			b.mu.Unlock()
			return NoReply()
		case text == "pending":
			return ReplyWith(wrapperspb.Int64(int64(b.pendingCount())))
		case text == "boom":
			panic("boom")
		case text == "cast-log":
			// The Int64Value casts received so far, in order.
			var values []string
			for _, c := range b.castsSoFar() {
				if v, ok := c.(*wrapperspb.Int64Value); ok {
					values = append(values, strconv.FormatInt(v.GetValue(), 10))
				}
			}
			return ReplyWith(wrapperspb.String(strings.Join(values, ",")))
		case text == "dropped-unknown":
			return ReplyWith(wrapperspb.UInt64(DroppedUnknownMessages()))
		case text == "init-up":
			// The members up in the init notice, or "" before it.
			for _, c := range b.changes() {
				if c.Reason == ReasonInit {
					return ReplyWith(wrapperspb.String(strings.Join(c.New, ",")))
				}
			}
			return ReplyWith(wrapperspb.String(""))
		case text == "nil":
			return ReplyWith(nil)
		case text == "call-reply":
			// A reply of the type that also answers failed calls.
			return ReplyWith(&messages.CallReply{Error: "not an error: a reply"})
		case strings.HasPrefix(text, "error:"):
			// Answer with an error wrapping the sentinel of a wire code.
			return ReplyWithError(fmt.Errorf("asked for %s: %w", text, errorOf(strings.TrimPrefix(text, "error:"))))
		}
	case *wrapperspb.Int64Value:
		ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter { return p.Increment(ctx.Replica(), uint64(m.GetValue())) })
		return ReplyWith(wrapperspb.Int64(ctx.Payload().Value()))
	case *messages.Nodes:
		// A call whose message is of the ring's own package: echoed.
		return ReplyWith(m)
	}
	return ReplyWithError(ErrUnhandledCall)
}

func (b *counterBehaviour) HandleCast(ctx *Context[*crdt.PNCounter], msg any) {
	b.mu.Lock()
	b.casts = append(b.casts, msg)
	b.mu.Unlock()
	if m, ok := msg.(*wrapperspb.StringValue); ok {
		// "release:TEXT" answers the pending calls with TEXT in a
		// StringValue; "release-int" with a plain int, which cannot cross
		// processes.
		if text, ok := strings.CutPrefix(m.GetValue(), "release:"); ok {
			msg = release{value: wrapperspb.String(text)}
		} else if m.GetValue() == "release-int" {
			msg = release{value: 42}
		}
	}
	switch m := msg.(type) {
	case incr:
		ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter { return p.Increment(ctx.Replica(), m.n) })
	case release:
		b.mu.Lock()
		pending := b.pending
		b.pending = nil
		b.mu.Unlock()
		for _, from := range pending {
			if err := ctx.Reply(from, m.value); err != nil {
				ctx.Logger().Error("reply", "error", err)
			}
		}
	}
}

func (b *counterBehaviour) HandleInfo(_ *Context[*crdt.PNCounter], msg any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.infos = append(b.infos, msg)
}

func (b *counterBehaviour) HandleStateChange(*Context[*crdt.PNCounter], *crdt.PNCounter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stateChanges++
}

func (b *counterBehaviour) HandleRingChange(_ *Context[*crdt.PNCounter], change RingChange) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ringChanges = append(b.ringChanges, change)
}

func (b *counterBehaviour) Terminate(_ *Context[*crdt.PNCounter], reason error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.terminated = reason
}

func (b *counterBehaviour) changes() []RingChange {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]RingChange(nil), b.ringChanges...)
}

func (b *counterBehaviour) hasChange(reason Reason, pred func(RingChange) bool) bool {
	for _, c := range b.changes() {
		if c.Reason == reason && (pred == nil || pred(c)) {
			return true
		}
	}
	return false
}

func (b *counterBehaviour) terminatedWith() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.terminated
}

// member is one ring member of the test's localNet.
type member struct {
	system    *actor.ActorSystem
	client    *Client
	behaviour *counterBehaviour
	store     persistence.Store
	node      string
	// shutdown stops the member's ring actor, as the end of its process
	// would: the others get a watch notice.
	shutdown func()
}

var testNets sync.Map // *testing.T -> *localNet

// netFor returns the test's localNet: one actor system, no remote, shut
// down at the end of the test.
func netFor(t *testing.T) *localNet {
	if n, ok := testNets.Load(t); ok {
		return n.(*localNet)
	}
	log := memberLogger(t, slog.LevelWarn)
	n := &localNet{system: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))}
	testNets.Store(t, n)
	t.Cleanup(func() {
		testNets.Delete(t)
		n.system.Shutdown()
	})
	return n
}

// startMember starts a member on a new node with store (a fresh
// MemoryStore when nil).
func startMember(t *testing.T, ring string, store persistence.Store, opts ...Option) *member {
	t.Helper()
	return startMemberOn(t, newNode(), ring, store, opts...)
}

// startMemberOn starts a member on node.
func startMemberOn(t *testing.T, node, ring string, store persistence.Store, opts ...Option) *member {
	t.Helper()
	n := netFor(t)
	if store == nil {
		store = persistence.NewMemoryStore()
	}
	b := &counterBehaviour{}
	all := append(append([]Option{WithStore(store), WithLogger(memberLogger(t, slog.LevelDebug)), n.member(node)}, testOptions...), opts...)
	client, err := Start[*crdt.PNCounter](n.system, ring, b, all...)
	require.NoError(t, err)
	var once sync.Once
	stop := func() {
		once.Do(func() { require.NoError(t, n.system.Root.StopFuture(client.PID()).Wait()) })
	}
	return &member{system: n.system, client: client, behaviour: b, store: store, node: node, shutdown: stop}
}

func (m *member) value(t *testing.T) int64 {
	t.Helper()
	v, err := m.client.Call(within(2*time.Second), get{})
	require.NoError(t, err)
	return v.(int64)
}

func (m *member) up(t *testing.T) []string {
	t.Helper()
	up, err := m.client.Up(context.Background())
	require.NoError(t, err)
	return up
}

// closedAddress returns a 127.0.0.1 address nothing listens on.
func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	address := l.Addr().String()
	require.NoError(t, l.Close())
	return address
}

func (m *member) stats(t *testing.T) Stats {
	t.Helper()
	stats, err := m.client.Stats(context.Background())
	require.NoError(t, err)
	return stats
}

func (b *counterBehaviour) infoCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.infos)
}

func (b *counterBehaviour) stateChangeCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stateChanges
}

func without(nodes []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(nodes), func(s string) bool { return s == drop })
}

var protoMarshal = func(m proto.Message) ([]byte, error) { return proto.Marshal(m) }

func (b *counterBehaviour) castsSoFar() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.casts)
}

func (b *counterBehaviour) pendingCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// within returns a context whose deadline is d from now, for a request
// that a test bounds by a time. A timeout context on Background holds only
// its timer, released at the deadline: there is nothing for a caller to
// cancel earlier, so cancel runs once the context is done.
func within(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	context.AfterFunc(ctx, cancel)
	return ctx
}

// awaitStopped waits until the ring actor of client has stopped for good:
// Terminate runs while it is stopping, and until its process is gone a
// request can still land in its mailbox (and time out) rather than fail
// at once with ErrMemberGone.
func awaitStopped(t *testing.T, client *Client) {
	t.Helper()
	require.Eventually(t, func() bool { return !client.alive() }, waitFor, tick, "%s stops", client.PID())
}
