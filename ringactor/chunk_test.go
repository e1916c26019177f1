package ringactor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// chunkedPair is two simulated members with a tiny chunk size.
func chunkedPair(t *testing.T, chunkBytes, maxStateBytes int) (*simNet, *simMember, *simMember) {
	net, all := bootstrap(t, 2, 77)
	net.roundsUntil(20, "membership", func() bool {
		return net.allLive(func(m *simMember) bool { return len(m.core.up) == 2 })
	})
	for _, m := range net.members {
		m.core.cfg.chunkBytes, m.core.cfg.maxStateBytes = chunkBytes, maxStateBytes
	}
	return net, net.members[all[0]], net.members[all[1]]
}

func TestSimLargeStateTravelsInChunks(t *testing.T) {
	net, a, b := chunkedPair(t, 64, 1<<20)
	for i := range 50 {
		a.payload.Increment(crdt.ReplicaID(fmt.Sprintf("writer-%d", i)), 1)
	}
	a.core.payloadTouched()
	net.roundsUntil(10, "the chunked state", func() bool { return b.payload.Value() == 50 })
	assert.NotZero(t, a.core.stats.ChunksSent+b.core.stats.ChunksSent)
	assert.Empty(t, b.core.transfers, "a finished transfer is forgotten")
}

func TestSimChunksOutOfPlaceOrTooLargeAreDropped(t *testing.T) {
	_, a, b := chunkedPair(t, 64, 256)
	chunk := func(id uint64, index, total uint32, data []byte) *messages.StateChunk {
		return &messages.StateChunk{Ring: "sim", From: a.node, TransferId: id, Index: index, Total: total, Kind: chunkGossip, Data: data}
	}
	before := b.core.stats.Dropped
	b.core.onChunk(chunk(1, 1, 2, []byte{1})) // a part without its start
	assert.Equal(t, before+1, b.core.stats.Dropped)

	b.core.onChunk(chunk(2, 0, 100, []byte{1})) // more parts than MaxStateBytes allows
	assert.Equal(t, before+2, b.core.stats.Dropped)

	b.core.onChunk(chunk(3, 0, 3, bytes.Repeat([]byte{1}, 200)))
	b.core.onChunk(chunk(3, 1, 3, bytes.Repeat([]byte{1}, 200))) // over 256 bytes in all
	assert.Equal(t, before+3, b.core.stats.Dropped)
	assert.Empty(t, b.core.transfers)

	b.core.onChunk(chunk(4, 0, 1, []byte{0xff, 0xff})) // joins into garbage
	assert.Equal(t, before+4, b.core.stats.Dropped)
	assert.Equal(t, int64(0), b.payload.Value(), "nothing reached the state")
}

// blobBehaviour holds one large byte string in an LWW register.
type blobBehaviour struct {
	DefaultBehaviour[*crdt.LWWRegister[[]byte]]
}

type setBlob struct{ data []byte }

func (blobBehaviour) HandleCall(ctx *Context[*crdt.LWWRegister[[]byte]], _ From, msg any) CallResult {
	switch m := msg.(type) {
	case setBlob:
		ctx.Update(func(p *crdt.LWWRegister[[]byte]) *crdt.LWWRegister[[]byte] {
			return p.Set(ctx.Replica(), time.Now().UnixNano(), m.data)
		})
		return ReplyWith(nil)
	case get:
		v, _ := ctx.Payload().Value()
		return ReplyWith(len(v))
	case *wrapperspb.StringValue: // "len", from another process
		v, _ := ctx.Payload().Value()
		return ReplyWith(wrapperspb.Int64(int64(len(v))))
	}
	return ReplyWithError(ErrUnhandledCall)
}

func TestPayloadOverTheTransportLimitIsShared(t *testing.T) {
	// The receiving member's transport, in a peer process, refuses messages
	// over 256 KiB (gRPC's default is 4 MB: the same test at a size the
	// race detector runs quickly).
	const limit = 256 << 10
	stats := shareBlob(t, limit, 4*limit, WithChunks(16<<10, 64<<20))
	assert.NotZero(t, stats.ChunksSent)
}

// shareBlob sets a payload of size bytes on a member of this process and
// awaits it on a peer process whose transport takes messages up to limit
// bytes; it returns the local member's stats.
func shareBlob(t *testing.T, limit, size int, opts ...Option) Stats {
	ring := uniqueRing("blob")
	p, startErr := startPeer(t, ring, peerBlobEnv+"="+fmt.Sprint(limit))
	require.Empty(t, startErr)
	client, err := Start[*crdt.LWWRegister[[]byte]](sharedRemote(t), ring, blobBehaviour{},
		append(append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(memberLogger(t, slog.LevelInfo))}, testOptions...), opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sharedRemote(t).Root.StopFuture(client.PID()).Wait()) })
	clients := []*Client{client, NewClient(sharedRemote(t), p.node, ring)}
	require.NoError(t, clients[0].AddNode(context.Background(), p.node))
	// The call makes a change of size bytes durable before it answers.
	_, err = clients[0].WithTimeout(time.Minute).Call(context.Background(), setBlob{data: bytes.Repeat([]byte("x"), size)})
	require.NoError(t, err)
	// Under the race detector a large state takes seconds to encode and
	// decode: wait in proportion to its size.
	wait := waitFor + time.Duration(size>>20)*time.Second
	require.Eventually(t, func() bool {
		n, err := clients[1].Call(within(5*time.Second), wrapperspb.String("len"))
		return err == nil && n.(*wrapperspb.Int64Value).GetValue() == int64(size)
	}, wait, 50*time.Millisecond, "a payload of %d bytes reaches the other member, whose transport takes %d", size, limit)
	stats, err := clients[0].Stats(context.Background())
	require.NoError(t, err)
	return stats
}

func TestStateFromTheFutureIsRefused(t *testing.T) {
	var clients []*Client
	net := netFor(t)
	nodes := []string{newNode(), newNode()}
	for _, node := range nodes {
		client, err := Start[*crdt.LWWRegister[[]byte]](net.system, "future", blobBehaviour{},
			append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(memberLogger(t, slog.LevelInfo)), net.member(node)}, testOptions...)...)
		require.NoError(t, err)
		clients = append(clients, client)
	}
	require.NoError(t, clients[0].AddNode(context.Background(), nodes[1]))
	require.Eventually(t, func() bool { up, _ := clients[1].Up(context.Background()); return len(up) == 2 }, waitFor, tick)

	// A gossip whose register is stamped a day ahead, as from the member.
	var future crdt.LWWRegister[[]byte]
	future.Set("forger#1", time.Now().Add(24*time.Hour).UnixNano(), []byte("mine forever"))
	data, err := future.MarshalBinary()
	require.NoError(t, err)
	clients[0].Send(&messages.Delta{Ring: "future", From: nodes[1], Payload: data})
	require.Eventually(t, func() bool {
		stats, err := clients[0].Stats(context.Background())
		return err == nil && stats.DroppedMalformed > 0
	}, waitFor, tick)
	n, err := clients[0].Call(within(time.Second), get{})
	require.NoError(t, err)
	assert.Equal(t, 0, n, "the register from the future did not win")
}
