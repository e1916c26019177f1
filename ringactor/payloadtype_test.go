package ringactor

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// setBehaviour is an OR-set ring that records what HandleInfo gets.
type setBehaviour struct {
	DefaultBehaviour[*crdt.ORSet[string]]
	mu    sync.Mutex
	infos []any
}

func (b *setBehaviour) HandleInfo(_ *Context[*crdt.ORSet[string]], msg any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.infos = append(b.infos, msg)
}

// mismatches returns the PayloadMismatch notices a behaviour's HandleInfo
// got.
func mismatches(infos []any) []PayloadMismatch {
	var found []PayloadMismatch
	for _, info := range infos {
		if m, ok := info.(PayloadMismatch); ok {
			found = append(found, m)
		}
	}
	return found
}

func (b *setBehaviour) mismatches() []PayloadMismatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	return mismatches(b.infos)
}

func (b *counterBehaviour) mismatches() []PayloadMismatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	return mismatches(b.infos)
}

// startSetMember starts an OR-set member of ring on the test's localNet.
func startSetMember(t *testing.T, ring string) (*Client, *setBehaviour, string) {
	t.Helper()
	n := netFor(t)
	node := newNode()
	b := &setBehaviour{}
	opts := append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(memberLogger(t, slog.LevelDebug)), n.member(node)}, testOptions...)
	client, err := Start[*crdt.ORSet[string]](n.system, ring, b, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.system.Root.StopFuture(client.PID()).Wait() })
	return client, b, node
}

func TestPayloadTypeName(t *testing.T) {
	assert.Equal(t, "crdt.PNCounter", payloadTypeName(&crdt.PNCounter{}))
	assert.Equal(t, "crdt.ORSet[string]", payloadTypeName(&crdt.ORSet[string]{}))
	assert.Equal(t, "counter/v2", payloadTypeName(&namedPayload{}), "a PayloadTyper names itself")
}

type namedPayload struct{ crdt.GCounter }

func (*namedPayload) PayloadType() string { return "counter/v2" }

// One ring name, two payload types: AddNode fails with ErrPayloadMismatch
// and adds nothing, both behaviours are told, both members count it.
func TestAddNodeOfAnotherPayloadTypeFails(t *testing.T) {
	counter := startMember(t, "mixed", nil)
	set, setB, setNode := startSetMember(t, "mixed")

	err := counter.client.AddNode(context.Background(), setNode)
	require.ErrorIs(t, err, ErrPayloadMismatch)
	assert.ErrorContains(t, err, "crdt.ORSet[string]")
	all, err := counter.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{counter.node}, all, "nothing was added")
	want := PayloadMismatch{Node: setNode, Type: "crdt.ORSet[string]", Want: "crdt.PNCounter"}
	assert.Equal(t, []PayloadMismatch{want}, counter.behaviour.mismatches())
	assert.Equal(t, uint64(1), counter.stats(t).PayloadMismatches)

	require.Eventually(t, func() bool { return len(setB.mismatches()) == 1 }, waitFor, tick, "the other side is told too")
	assert.Equal(t, PayloadMismatch{Node: counter.node, Type: "crdt.PNCounter", Want: "crdt.ORSet[string]"}, setB.mismatches()[0])
	setStats, err := set.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(1), setStats.PayloadMismatches)

	// The other way round, and again: an error each time, one notice.
	err = set.AddNode(context.Background(), counter.node)
	require.ErrorIs(t, err, ErrPayloadMismatch)
	require.ErrorIs(t, counter.client.AddNode(context.Background(), setNode), ErrPayloadMismatch)
	assert.Len(t, counter.behaviour.mismatches(), 1, "one notice per member and type")
	assert.Len(t, setB.mismatches(), 1)
}

// State of another payload type is dropped before it is decoded, counted
// and reported once; the member that sent it leaves the up set, and comes
// back when it shows the ring's type again.
func TestStateOfAnotherPayloadTypeIsDropped(t *testing.T) {
	a := startMember(t, "mixed-state", nil)
	b := startMember(t, "mixed-state", nil)
	require.Eventually(t, func() bool { return a.behaviour.hasChange(ReasonInit, nil) }, waitFor, tick)
	require.NoError(t, a.client.AddNode(context.Background(), b.node))
	both := sortedNodes(a.node, b.node)
	require.Eventually(t, func() bool { return slices.Equal(a.up(t), both) }, waitFor, tick)
	_, err := b.client.Call(within(time.Second), incr{3})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.value(t) == 3 }, waitFor, tick)

	// What a member of another type at b's address would send: an OR-set's
	// state, which might even decode.
	set := &crdt.ORSet[string]{}
	set.Add(crdt.ReplicaID("x"), "element")
	payload, err := set.MarshalBinary()
	require.NoError(t, err)
	before := a.stats(t)
	for range 3 {
		a.client.Send(&messages.Gossip{Ring: "mixed-state", From: b.node, Payload: payload, PayloadType: "crdt.ORSet[string]"})
		a.client.Send(&messages.Delta{Ring: "mixed-state", From: b.node, Payload: payload, PayloadType: "crdt.ORSet[string]"})
	}
	require.Eventually(t, func() bool { return a.stats(t).PayloadMismatches-before.PayloadMismatches == 6 }, waitFor, tick)
	assert.Equal(t, int64(3), a.value(t), "nothing was merged")
	assert.Equal(t, before.Dropped+6, a.stats(t).Dropped)
	assert.Equal(t, []PayloadMismatch{{Node: b.node, Type: "crdt.ORSet[string]", Want: "crdt.PNCounter"}}, a.behaviour.mismatches())
	assert.True(t, a.behaviour.hasChange(ReasonPayloadMismatch, func(c RingChange) bool {
		return slices.Equal(c.Old, both) && slices.Equal(c.New, []string{a.node})
	}), "b left a's up set")

	// b's own gossip (the ring's type) brings it back.
	_, err = b.client.Call(within(time.Second), incr{1})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return slices.Equal(a.up(t), both) && a.value(t) == 4 }, waitFor, tick)
}

// A message that names no type (a member of an older build) is taken to
// carry the receiver's own.
func TestStateWithoutPayloadTypeIsMerged(t *testing.T) {
	a := startMember(t, "untyped", nil)
	counter := &crdt.PNCounter{}
	counter.Increment(crdt.ReplicaID("old"), 5)
	payload, err := counter.MarshalBinary()
	require.NoError(t, err)
	a.client.Send(&messages.Delta{Ring: "untyped", From: newNode(), Payload: payload})
	require.Eventually(t, func() bool { return a.value(t) == 5 }, waitFor, tick)
	assert.Zero(t, a.stats(t).PayloadMismatches)
	assert.Empty(t, a.behaviour.mismatches())
}

func TestPayloadMismatchMatchesAcrossTheWire(t *testing.T) {
	err := answerError("x", codesOf(errors.Join(errors.New("x"), ErrPayloadMismatch)))
	assert.ErrorIs(t, err, ErrPayloadMismatch)
}

// The metrics count state of another payload type among the drops.
func TestPayloadMismatchesAreADropReason(t *testing.T) {
	meter := newTestMeter(t)
	a := startMember(t, "mixed-metrics", nil, WithMeterProvider(meter.provider))
	a.client.Send(&messages.Delta{Ring: "mixed-metrics", From: newNode(), Payload: []byte{1}, PayloadType: "crdt.ORSet[string]"})
	require.Eventually(t, func() bool {
		drops, _ := meter.collect(t).value("genserverring.drops", a.node, attribute.String("reason", "payload_mismatch"))
		return drops == 1
	}, waitFor, tick)
}
