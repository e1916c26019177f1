package persistence

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// After an append whose sync failed and whose bytes could not be cut, a
// load must not adopt those bytes, even when they read as whole records:
// they were never durable, and their caller was told so.
func TestDeltaLogLoadIgnoresBytesOfAFailedAppend(t *testing.T) {
	log := newDeltaLog(t.TempDir())
	require.NoError(t, log.append([][]byte{[]byte("durable")}))
	durableEnd := log.end

	// What a failed fsync followed by a failed truncate leaves behind.
	file, err := os.OpenFile(log.path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = file.Write(appendRecord(nil, []byte("never durable")))
	require.NoError(t, err)
	require.NoError(t, file.Close())
	log.closeFile()
	log.dirty = true

	deltas, cut, reason, err := log.load()
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("durable")}, deltas)
	assert.Equal(t, int64(8+len("never durable")), cut)
	assert.ErrorContains(t, reason, "failed append")
	assert.Equal(t, durableEnd, log.end)
	info, err := os.Stat(log.path)
	require.NoError(t, err)
	assert.Equal(t, durableEnd, info.Size(), "the bytes are cut")
	require.NoError(t, log.closeFile())
}
