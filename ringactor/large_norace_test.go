//go:build !race

package ringactor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
)

// Too slow under the race detector, which multiplies the cost of every
// byte copied, hashed and decoded: .ci/run runs it without -race.

func TestPayloadOf64MBIsShared(t *testing.T) {
	// The default limits: gRPC's 4 MiB message on the peer, the ring's
	// default ChunkBytes and MaxStateBytes on both members. 64 MB, not
	// MiB: a payload decodes only within crdt.DefaultLimits().MaxBytes,
	// 64 MiB with its encoding.
	const size = 64_000_000
	require.Less(t, size+1<<10, crdt.DefaultLimits().MaxBytes)
	stats := shareBlob(t, DefaultMaxMessageBytes, size)
	assert.GreaterOrEqual(t, stats.ChunksSent, uint64(size/DefaultConfig().ChunkBytes))
	assert.Zero(t, stats.Security.OversizedSends, "no message over the transport's limit")
	assert.Zero(t, stats.Dropped)
}
