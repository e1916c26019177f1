package persistence_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/persistence"
)

// writeLog puts data in store's log file, as a crash would have left it.
func writeLog(t testing.TB, store *persistence.FileStore, data []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(store.LogPath(), data, persistence.FileMode))
}

func readLog(t testing.TB, store *persistence.FileStore) []byte {
	t.Helper()
	data, err := os.ReadFile(store.LogPath())
	require.NoError(t, err)
	return data
}

// The log's bytes are the documented format: a header, then one record per
// delta.
func TestFileStoreLogFormat(t *testing.T) {
	store := newFileStore(t)
	deltas := deltasOf(0, 5)
	require.NoError(t, store.AppendDeltas(deltas[:2]))
	require.NoError(t, store.AppendDeltas(deltas[2:]))
	assert.Equal(t, logBytes(deltas...), readLog(t, store))
	assert.Equal(t, int64(len(logBytes(deltas...))-8), store.LogSize())
}

// A crash in the middle of an append leaves any prefix of its record on
// disk. Whatever the prefix, the earlier records load, the torn bytes are
// cut (and counted), and the next append continues after the last good
// record.
func TestFileStoreTornTailAtEveryOffset(t *testing.T) {
	durable := deltasOf(1, 3)
	last := bytes.Repeat([]byte("torn"), 10)
	good := logBytes(durable...)
	whole := logBytes(append(durable, last)...)
	store := newFileStore(t)

	for length := len(good) + 1; length < len(whole); length++ {
		writeLog(t, store, whole[:length])

		loaded := loadPayload(t, store)
		assertDeltas(t, durable, loaded.Deltas, "torn at %d", length)
		assert.Equal(t, int64(length-len(good)), loaded.CutBytes, "torn at %d", length)
		require.ErrorIs(t, loaded.CutReason, io.ErrUnexpectedEOF, "torn at %d", length)
		assert.ErrorContains(t, loaded.CutReason, store.LogPath())
		assert.Equal(t, good, readLog(t, store), "the torn tail is cut from the file")

		require.NoError(t, store.AppendDeltas([][]byte{[]byte("next")}))
		assertDeltas(t, append(durable, []byte("next")), loadPayload(t, store).Deltas, "torn at %d", length)
	}
}

// A flipped bit anywhere in a record cuts the log there: that record and
// every one after it (a log cannot tell a flipped bit from a torn write),
// and never loads a damaged delta.
func TestFileStoreLogBitFlips(t *testing.T) {
	deltas := deltasOf(1, 4)
	whole := logBytes(deltas...)
	starts := []int{8} // where each record begins
	for _, delta := range deltas {
		starts = append(starts, starts[len(starts)-1]+8+len(delta))
	}
	store := newFileStore(t)

	for offset := 8; offset < len(whole); offset++ {
		record := 0
		for offset >= starts[record+1] {
			record++
		}
		for _, mask := range []byte{0x01, 0x80} {
			damaged := bytes.Clone(whole)
			damaged[offset] ^= mask
			writeLog(t, store, damaged)

			loaded := loadPayload(t, store)
			assertDeltas(t, deltas[:record], loaded.Deltas, "byte %d xor %#x", offset, mask)
			assert.Equal(t, int64(len(whole)-starts[record]), loaded.CutBytes, "byte %d xor %#x", offset, mask)
			assert.Error(t, loaded.CutReason)
			assert.Equal(t, whole[:starts[record]], readLog(t, store))
		}
	}
}

// Bad tails of each kind: the reason says which, and wraps ErrCorrupt for
// a record that fails its checks, io.ErrUnexpectedEOF for a short one.
func TestFileStoreLogCutReasons(t *testing.T) {
	good := logBytes(deltasOf(1, 2)...)
	bigLength := []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}
	tests := []struct {
		name    string
		tail    []byte
		want    error
		message string
	}{
		{"zeros (a torn append some file systems show)", make([]byte, 64), persistence.ErrCorrupt, "checksum mismatch"},
		{"short header", []byte{1, 0, 0}, io.ErrUnexpectedEOF, "3 of 8 header bytes"},
		{"impossible length", bigLength, persistence.ErrCorrupt, "exceeds the maximum"},
		{"short body", recordBytes([]byte("hello"))[:11], io.ErrUnexpectedEOF, "11 of 13 bytes"},
		{"garbage", []byte("garbage after the last record"), persistence.ErrCorrupt, "exceeds the maximum"},
		{"bad checksum", append(recordBytes([]byte("x"))[:8:8], 'y'), persistence.ErrCorrupt, "checksum mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newFileStore(t)
			writeLog(t, store, append(bytes.Clone(good), tc.tail...))

			loaded := loadPayload(t, store)
			assertDeltas(t, deltasOf(1, 2), loaded.Deltas)
			assert.Equal(t, int64(len(tc.tail)), loaded.CutBytes)
			require.ErrorIs(t, loaded.CutReason, tc.want)
			assert.ErrorContains(t, loaded.CutReason, tc.message)
			assert.ErrorContains(t, loaded.CutReason, "file offset 27", "the offset of the bad record in the file")
			assert.Equal(t, good, readLog(t, store))
		})
	}
}

// A log whose header is not this build's is an error naming the file, and
// the file is left as it is: cutting it would throw away data a newer
// build (or a person) could read.
func TestFileStoreLogBadHeader(t *testing.T) {
	records := logBytes(deltasOf(1, 2)...)[8:]
	newer := append([]byte("GSRLOG\x02\x00"), records...)
	tests := []struct {
		name    string
		data    []byte
		want    error
		message string
	}{
		{"not a log", []byte("some other file"), persistence.ErrCorrupt, "not a payload log"},
		{"short header", []byte("GSRL"), persistence.ErrCorrupt, "header"},
		{"newer version", newer, persistence.ErrUnsupportedVersion, "log has version 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newFileStore(t)
			writeLog(t, store, tc.data)

			_, err := store.LoadPayload()
			require.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, store.LogPath())
			assert.ErrorContains(t, err, tc.message)

			err = store.AppendDeltas(deltasOf(0, 1))
			require.ErrorIs(t, err, tc.want, "an append never writes over a log it cannot read")
			assert.Equal(t, tc.data, readLog(t, store), "the log is left as it was")
		})
	}
}

// An empty log file holds nothing (a log is created whole, header
// included, so only a person could leave one); the next append replaces
// it.
func TestFileStoreEmptyLogFile(t *testing.T) {
	store := newFileStore(t)
	writeLog(t, store, nil)
	loaded := loadPayload(t, store)
	assert.Empty(t, loaded.Deltas)
	assert.Zero(t, loaded.CutBytes)
	require.NoError(t, store.AppendDeltas(deltasOf(0, 2)))
	assert.Equal(t, logBytes(deltasOf(0, 2)...), readLog(t, store))
}

// An append before any LoadPayload (a member that does not read its
// payload back) still finds the last good record and cuts a torn tail.
func TestFileStoreAppendWithoutLoadCutsTornTail(t *testing.T) {
	store := newFileStore(t)
	good := logBytes(deltasOf(1, 2)...)
	writeLog(t, store, append(bytes.Clone(good), 9, 0, 0, 0, 1, 2))
	assert.Equal(t, int64(len(good)-8+6), store.LogSize(), "before a scan, the size on disk")

	require.NoError(t, store.AppendDeltas(deltasOf(3, 1)))
	assert.Equal(t, logBytes(deltasOf(1, 3)...), readLog(t, store))
	assert.Equal(t, int64(len(logBytes(deltasOf(1, 3)...))-8), store.LogSize())
}

// Delete removes every file of the member but the lock: the ring file, the
// snapshot, the log and stale temporary files.
func TestFileStoreDeleteRemovesFiles(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, store.Save(sampleRing()))
	require.NoError(t, store.SaveSnapshot([]byte("state")))
	require.NoError(t, store.AppendDeltas(deltasOf(0, 2)))
	plantStaleTemp(t, store.Dir())
	require.ElementsMatch(t, []string{persistence.RingFileName, persistence.SnapshotFileName, persistence.LogFileName,
		persistence.TempPrefix + "4242"}, dirNames(t, store.Dir()))

	require.NoError(t, store.Delete())
	assert.Empty(t, dirNames(t, store.Dir()))
	assert.FileExists(t, filepath.Join(store.Dir(), persistence.LockFileName), "the lock stays while the store is open")
}
