package ringactor

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

// Short intervals keep the actor tests fast; the probe timeout leaves room
// for the race detector on a loaded 2-core machine.
var testOptions = []Option{
	WithGossipInterval(50 * time.Millisecond),
	WithProbe(100*time.Millisecond, 600*time.Millisecond),
	WithRejoinInterval(100 * time.Millisecond),
	WithInitTimeout(200 * time.Millisecond),
	WithRequestTimeout(3 * time.Second),
}

const waitFor = 10 * time.Second
const tick = 10 * time.Millisecond

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// counterBehaviour is a PN-counter ring that records its callbacks.
type counterBehaviour struct {
	DefaultBehaviour[*crdt.PNCounter]
	mu           sync.Mutex
	ringChanges  []RingChange
	stateChanges int
	infos        []any
	casts        []any
	terminated   error
}

type incr struct{ n uint64 }
type get struct{}
type boom struct{}

func (b *counterBehaviour) HandleCall(ctx *Context[*crdt.PNCounter], from From, msg any) CallResult {
	switch m := msg.(type) {
	case incr:
		ctx.Payload().Increment(ctx.Replica(), m.n)
		return ReplyWith(ctx.Payload().Value())
	case get:
		return ReplyWith(ctx.Payload().Value())
	case boom:
		panic("boom")
	}
	return ReplyWithError(ErrUnhandledCall)
}

func (b *counterBehaviour) HandleCast(ctx *Context[*crdt.PNCounter], msg any) {
	b.mu.Lock()
	b.casts = append(b.casts, msg)
	b.mu.Unlock()
	if m, ok := msg.(incr); ok {
		ctx.Payload().Increment(ctx.Replica(), m.n)
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

// member is one ring member in its own actor system with its own remote.
type member struct {
	system    *actor.ActorSystem
	client    *Client
	behaviour *counterBehaviour
	store     persistence.Store
	node      string
	shutdown  func()
}

func newSystem(t *testing.T) (*actor.ActorSystem, func()) {
	t.Helper()
	system, r, err := StartActorSystem(RemoteOptions{Logger: quietLogger()})
	require.NoError(t, err)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			r.Shutdown(false)
			system.Shutdown()
		})
	}
	t.Cleanup(stop)
	return system, stop
}

// startMember starts a member with store (a fresh MemoryStore when nil).
func startMember(t *testing.T, ring string, store persistence.Store, opts ...Option) *member {
	t.Helper()
	system, stop := newSystem(t)
	if store == nil {
		store = persistence.NewMemoryStore()
	}
	b := &counterBehaviour{}
	all := append(append([]Option{WithStore(store), WithLogger(quietLogger())}, testOptions...), opts...)
	client, err := Start[crdt.PNCounter](system, ring, b, all...)
	require.NoError(t, err)
	return &member{system: system, client: client, behaviour: b, store: store, node: system.Address(), shutdown: stop}
}

func (m *member) value(t *testing.T) int64 {
	t.Helper()
	v, err := m.client.Call(get{}, 2*time.Second)
	require.NoError(t, err)
	return v.(int64)
}

func (m *member) up(t *testing.T) []string {
	t.Helper()
	up, err := m.client.Up()
	require.NoError(t, err)
	return up
}
