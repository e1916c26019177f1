package persistence

import (
	"bytes"
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

// FuzzDecodeRecords drives the log decoder alone, without the disk, so it
// runs fast: on any bytes it returns a prefix of whole records (framed
// again, exactly the bytes it says it read) and a reason exactly when it
// stopped short.
func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendRecord(appendRecord(nil, []byte("a")), nil))
	f.Add(append(appendRecord(nil, []byte("abc")), 1, 2, 3))
	f.Add(make([]byte, 24))
	f.Fuzz(func(t *testing.T, data []byte) {
		bodies, good, reason := decodeRecords(data)
		require.LessOrEqual(t, good, len(data))
		framed := []byte{}
		for _, body := range bodies {
			framed = appendRecord(framed, body)
		}
		require.True(t, bytes.Equal(data[:good], framed), "the records read are not the bytes they span")
		assert.Equal(t, good < len(data), reason != nil)
	})
}
