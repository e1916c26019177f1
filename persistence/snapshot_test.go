package persistence_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// snapshotFileBytes encodes a snapshot file by hand: version, the
// documented checksum (CRC-32C of the version, little endian, and the body)
// and body.
func snapshotFileBytes(t testing.TB, version uint32, body []byte) []byte {
	t.Helper()
	crc := crc32c(append([]byte{byte(version), byte(version >> 8), byte(version >> 16), byte(version >> 24)}, body...))
	data, err := proto.Marshal(&messages.SnapshotFile{FormatVersion: version, Crc32C: crc, Body: body})
	require.NoError(t, err)
	return data
}

func TestFileStoreSnapshotFormat(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, store.SaveSnapshot([]byte("state")))
	data, err := os.ReadFile(store.SnapshotPath())
	require.NoError(t, err)
	assert.Equal(t, snapshotFileBytes(t, persistence.SnapshotFormatVersion, []byte("state")), data)
	assert.Equal(t, []string{persistence.SnapshotFileName}, dirNames(t, store.Dir()), "no log until the first append")
}

// A snapshot that cannot be trusted stops the load with an error that names
// the file, and nothing is rewritten: not the snapshot, not the log (whose
// deltas make sense only on top of it).
func TestFileStoreBadSnapshot(t *testing.T) {
	good := snapshotFileBytes(t, persistence.SnapshotFormatVersion, []byte("the payload"))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 0x01
	tests := []struct {
		name    string
		data    []byte
		want    error
		message string
	}{
		{"flipped byte", flipped, persistence.ErrCorrupt, "checksum mismatch"},
		{"truncated", good[:len(good)-3], persistence.ErrCorrupt, "truncated"},
		{"cut after its version", good[:2], persistence.ErrCorrupt, "checksum mismatch"},
		{"empty file", []byte{}, persistence.ErrCorrupt, "empty"},
		{"no version", snapshotFileBytes(t, 0, []byte("x")), persistence.ErrCorrupt, "no format version"},
		{"newer version", snapshotFileBytes(t, persistence.SnapshotFormatVersion+1, []byte("x")), persistence.ErrUnsupportedVersion,
			fmt.Sprintf("version %d", persistence.SnapshotFormatVersion+1)},
		{"not a snapshot", []byte("\xff\xff\xff"), persistence.ErrCorrupt, "not a snapshot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newFileStore(t)
			require.NoError(t, os.WriteFile(store.SnapshotPath(), tc.data, persistence.FileMode))
			torn := append(logBytes(deltasOf(0, 2)...), 1, 2, 3)
			writeLog(t, store, torn)

			_, err := store.LoadPayload()
			require.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, store.SnapshotPath())
			assert.ErrorContains(t, err, tc.message)

			after, err := os.ReadFile(store.SnapshotPath())
			require.NoError(t, err)
			assert.Equal(t, tc.data, after, "the snapshot is not rewritten")
			assert.Equal(t, torn, readLog(t, store), "the log is not touched")
		})
	}
}

// No single damaged byte and no truncation of a snapshot loads as one.
func TestFileStoreSnapshotDetectsEveryFlipAndTruncation(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, store.SaveSnapshot([]byte("a snapshot of some payload")))
	good, err := os.ReadFile(store.SnapshotPath())
	require.NoError(t, err)
	for offset := range good {
		damaged := bytes.Clone(good)
		damaged[offset] ^= 0x01
		require.NoError(t, os.WriteFile(store.SnapshotPath(), damaged, persistence.FileMode))
		_, err := store.LoadPayload()
		assert.Error(t, err, "byte %d", offset)
	}
	for length := range len(good) {
		require.NoError(t, os.WriteFile(store.SnapshotPath(), good[:length], persistence.FileMode))
		_, err := store.LoadPayload()
		assert.ErrorIs(t, err, persistence.ErrCorrupt, "truncated to %d of %d bytes", length, len(good))
	}
}

// SaveSnapshot writes the snapshot, then empties the log. A crash between
// the two leaves the new snapshot and the old deltas, which it already
// covers: the load returns both, and the member applies them again
// (deltas are idempotent).
func TestFileStoreCrashBetweenSnapshotAndLogTruncation(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, store.AppendDeltas(deltasOf(0, 3)))
	oldLog := readLog(t, store)
	require.NoError(t, store.SaveSnapshot([]byte("covers 0..2")))
	require.NoError(t, store.Close())
	writeLog(t, store, oldLog) // the truncation never reached the disk

	restarted := openFileStore(t, store.Dir())
	loaded := loadPayload(t, restarted)
	assert.Equal(t, []byte("covers 0..2"), loaded.Snapshot)
	assertDeltas(t, deltasOf(0, 3), loaded.Deltas)
	assert.Zero(t, loaded.CutBytes)

	// The next snapshot empties the log as usual.
	require.NoError(t, restarted.AppendDeltas(deltasOf(3, 1)))
	require.NoError(t, restarted.SaveSnapshot([]byte("covers 0..3")))
	loaded = loadPayload(t, restarted)
	assert.Equal(t, []byte("covers 0..3"), loaded.Snapshot)
	assert.Empty(t, loaded.Deltas)
	assert.Equal(t, logHeader(), readLog(t, restarted))
}

// A crash in the middle of writing a snapshot leaves a temporary file: the
// load ignores it (the old snapshot and the log stand) and the next
// snapshot removes it.
func TestFileStoreCrashDuringSnapshotWrite(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, store.SaveSnapshot([]byte("old")))
	require.NoError(t, store.AppendDeltas(deltasOf(0, 2)))
	half := snapshotFileBytes(t, persistence.SnapshotFormatVersion, []byte("new and long"))
	stale := filepath.Join(store.Dir(), "."+persistence.SnapshotFileName+".tmp-77")
	require.NoError(t, os.WriteFile(stale, half[:len(half)/2], persistence.FileMode))

	loaded := loadPayload(t, store)
	assert.Equal(t, []byte("old"), loaded.Snapshot)
	assertDeltas(t, deltasOf(0, 2), loaded.Deltas)

	require.NoError(t, store.SaveSnapshot([]byte("newer")))
	assert.ElementsMatch(t, []string{persistence.SnapshotFileName, persistence.LogFileName}, dirNames(t, store.Dir()))
}

// A failed snapshot write keeps the old snapshot and the whole log.
func TestFileStoreSnapshotWriteFailureKeepsEverything(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, store.SaveSnapshot([]byte("old")))
	require.NoError(t, store.AppendDeltas(deltasOf(0, 2)))
	require.NoError(t, os.Remove(store.SnapshotPath()))
	require.NoError(t, os.Mkdir(store.SnapshotPath(), 0o700)) // a rename over a non-empty directory fails
	require.NoError(t, os.WriteFile(filepath.Join(store.SnapshotPath(), "keep"), nil, 0o600))

	err := store.SaveSnapshot([]byte("new"))
	require.Error(t, err)
	assert.ErrorContains(t, err, store.SnapshotPath())
	assert.Equal(t, logBytes(deltasOf(0, 2)...), readLog(t, store), "the log is kept when the snapshot failed")
	assert.Equal(t, int64(len(logBytes(deltasOf(0, 2)...))-8), store.LogSize())
}
