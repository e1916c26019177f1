package ringactor

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

// startPayloadMember starts a member of ring with behaviour on the test's
// localNet.
func startPayloadMember[P Payload[P]](t *testing.T, ring string, behaviour Behaviour[P], store persistence.Store, opts ...Option) (*Client, string) {
	t.Helper()
	n, node := netFor(t), newNode()
	all := append(append([]Option{WithStore(store), WithLogger(memberLogger(t, slog.LevelDebug)), n.member(node)}, testOptions...), opts...)
	client, err := Start[P](n.system, ring, behaviour, all...)
	require.NoError(t, err)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { _ = n.system.Root.StopFuture(client.PID()).Wait() }) })
	return client, node
}

// A change that would make the payload larger than MaxStateBytes is
// refused with ErrPayloadTooLarge: the payload stays as it was, nothing
// reaches the log or the other member, the counter moves, and the ring
// goes on sharing changes that fit.
func TestChangeOverMaxStateBytesIsRefused(t *testing.T) {
	const limit = 64 << 10
	opts := []Option{WithChunks(16<<10, limit)}
	stores := []*persistence.MemoryStore{persistence.NewMemoryStore(), persistence.NewMemoryStore()}
	a, _ := startPayloadMember[*crdt.LWWRegister[[]byte]](t, "toolarge", blobBehaviour{}, stores[0], opts...)
	b, nodeB := startPayloadMember[*crdt.LWWRegister[[]byte]](t, "toolarge", blobBehaviour{}, stores[1], opts...)
	require.NoError(t, a.AddNode(within(waitFor), nodeB))
	length := func(c *Client) int {
		n, err := c.Call(within(time.Second), get{})
		require.NoError(t, err)
		return n.(int)
	}
	set := func(size int) error {
		_, err := a.Call(within(5*time.Second), setBlob{data: bytes.Repeat([]byte("x"), size)})
		return err
	}

	require.NoError(t, set(32<<10))
	require.Eventually(t, func() bool { return length(b) == 32<<10 }, waitFor, tick)

	err := set(128 << 10)
	require.ErrorIs(t, err, ErrPayloadTooLarge)
	assert.Contains(t, err.Error(), "MaxStateBytes")
	assert.NotContains(t, err.Error(), "could not be put back")
	assert.Equal(t, 32<<10, length(a), "the payload is as it was")
	stats, err := a.Stats(within(time.Second))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), stats.RefusedTooLarge)
	log, err := stores[0].LoadPayload()
	require.NoError(t, err)
	for i, delta := range log.Deltas {
		assert.Less(t, len(delta), limit, "log record %d", i)
	}
	// The other member hears a few more gossips from it and stays with
	// what they share; neither sees the other down.
	require.Eventually(t, func() bool {
		now, err := a.Stats(within(time.Second))
		return err == nil && now.DigestsSent >= stats.DigestsSent+3
	}, waitFor, tick)
	assert.Equal(t, 32<<10, length(b))
	for _, c := range []*Client{a, b} {
		up, err := c.Up(within(time.Second))
		require.NoError(t, err)
		assert.Len(t, up, 2)
	}

	require.NoError(t, set(40<<10), "a change that fits is taken")
	require.Eventually(t, func() bool { return length(b) == 40<<10 }, waitFor, tick)
}

// growingSetBehaviour adds an element of 4 KiB per call to an OR-set, so the
// payload grows change by change.
type growingSetBehaviour struct {
	DefaultBehaviour[*crdt.ORSet[string]]
}

type addElement struct{ n int }

func (growingSetBehaviour) HandleCall(ctx *Context[*crdt.ORSet[string]], _ From, msg any) CallResult {
	switch m := msg.(type) {
	case addElement:
		ctx.Update(func(s *crdt.ORSet[string]) *crdt.ORSet[string] {
			return s.Add(ctx.Replica(), fmt.Sprintf("%06d%s", m.n, strings.Repeat("y", 4<<10)))
		})
		return ReplyWith(ctx.Payload().Len())
	case get:
		return ReplyWith(ctx.Payload().Len())
	}
	return ReplyWithError(ErrUnhandledCall)
}

// A payload that grows by small changes is refused at the change that
// would pass the limit, whatever its estimate said before, and every
// later one too; the elements taken before stay.
// With durability off the changes under a quarter of the limit are
// measured per batch, the later ones one by one, so the refusal is the
// same.
func TestGrowingPayloadStopsAtMaxStateBytes(t *testing.T) {
	for _, durability := range []Durability{DurabilityDisk, DurabilityNone} {
		t.Run(durability.String(), func(t *testing.T) { testGrowingPayloadStops(t, durability) })
	}
}

func testGrowingPayloadStops(t *testing.T, durability Durability) {
	const limit = 64 << 10
	c, _ := startPayloadMember[*crdt.ORSet[string]](t, "growing", growingSetBehaviour{}, persistence.NewMemoryStore(), WithChunks(16<<10, limit), WithDurability(durability))
	taken := 0
	for i := range 100 {
		n, err := c.Call(within(time.Second), addElement{n: i})
		if err != nil {
			require.ErrorIs(t, err, ErrPayloadTooLarge)
			break
		}
		taken = n.(int)
	}
	require.Positive(t, taken)
	assert.Greater(t, taken, limit/(5<<10), "refused only near the limit")
	assert.Less(t, taken, limit/(4<<10), "refused before the limit")
	_, err := c.Call(within(time.Second), addElement{n: 1000})
	require.ErrorIs(t, err, ErrPayloadTooLarge)
	n, err := c.Call(within(time.Second), get{})
	require.NoError(t, err)
	assert.Equal(t, taken, n, "the refused elements are not in the set")
	stats, err := c.Stats(within(time.Second))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), stats.RefusedTooLarge)
}

// With durability off, a single local change that takes a small payload
// over the limit is not refused (changes under a quarter of the limit are
// measured per batch, payload_size.go): its commit catches it, counts it
// and logs it, and the next change is measured on its own and refused.
func TestDurabilityNoneCatchesAnOversizedBatchAtCommit(t *testing.T) {
	const limit = 64 << 10
	c, _ := startPayloadMember[*crdt.LWWRegister[[]byte]](t, "toolarge-none", blobBehaviour{}, persistence.NewMemoryStore(), WithChunks(16<<10, limit), WithDurability(DurabilityNone))
	set := func(size int) error {
		_, err := c.Call(within(5*time.Second), setBlob{data: bytes.Repeat([]byte("x"), size)})
		return err
	}
	require.NoError(t, set(1<<10))
	require.NoError(t, set(128<<10), "answered before its batch is measured")
	require.Eventually(t, func() bool {
		stats, err := c.Stats(within(time.Second))
		return err == nil && stats.RefusedTooLarge == 1
	}, waitFor, tick)
	require.ErrorIs(t, set(129<<10), ErrPayloadTooLarge, "measured one by one from now on")
}
