package persistence_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// FuzzLoad writes arbitrary bytes as the ring file and loads it. Load must
// give a ring or an ErrCorrupt/ErrUnsupportedVersion error, never panic,
// and never change the file; a ring it gives must save and load back equal.
// The seed corpus runs as part of go test.
func FuzzLoad(f *testing.F) {
	goodBody := bodyBytes(f, sampleRing())
	good := ringFileBytes(f, persistence.FormatVersion, crc32c(goodBody), goodBody)
	minimalBody := bodyBytes(f, &messages.PersistedRing{Ring: "r"})
	seeds := [][]byte{
		good,
		ringFileBytes(f, persistence.FormatVersion, crc32c(minimalBody), minimalBody),
		ringFileBytes(f, persistence.FormatVersion, crc32c(goodBody)^1, goodBody),
		ringFileBytes(f, persistence.FormatVersion+1, crc32c(goodBody), goodBody),
		ringFileBytes(f, persistence.FormatVersion, 0, nil),
		good[:len(good)/2],
		{},
		{0x08},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		[]byte("not a ring file"),
	}
	for _, seed := range seeds {
		f.Add(seed)
	}

	dir := f.TempDir()
	store, err := persistence.NewFileStore(dir)
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, data []byte) {
		require.NoError(t, os.WriteFile(store.Path(), data, 0o600))

		ring, err := store.Load()

		after, readErr := os.ReadFile(store.Path())
		require.NoError(t, readErr)
		require.Equal(t, data, after, "Load changed the file")
		if err != nil {
			assert.Nil(t, ring)
			assert.True(t, errors.Is(err, persistence.ErrCorrupt) || errors.Is(err, persistence.ErrUnsupportedVersion),
				"unexpected error kind: %v", err)
			return
		}
		require.NotNil(t, ring)
		require.NotEmpty(t, ring.GetRing())

		require.NoError(t, store.Save(ring))
		again, err := store.Load()
		require.NoError(t, err)
		assert.True(t, proto.Equal(ring, again), "a loaded ring must survive a save")
	})
}

// FuzzLoadPayload writes a log header followed by arbitrary bytes as the
// payload log and loads it. LoadPayload must never panic nor fail (a bad
// record is a cut, not an error); what it returns must be a prefix of
// valid records: encoded again, exactly the bytes that are left in the
// file, which are the file's first bytes; and the cut must be the rest.
// An append must then go on after them.
func FuzzLoadPayload(f *testing.F) {
	records := logBytes(deltasOf(0, 4)...)[8:]
	seeds := [][]byte{
		{},
		records,
		records[:len(records)-1],
		append(bytes.Clone(records), 0, 0, 0, 0, 0, 0, 0, 0),
		recordBytes(nil),
		recordBytes([]byte("one")),
		{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		{3, 0, 0, 0, 1, 2, 3, 4, 'a', 'b'},
		[]byte("not a log at all"),
	}
	flipped := bytes.Clone(records)
	flipped[12] ^= 0x10
	seeds = append(seeds, flipped)
	for _, seed := range seeds {
		f.Add(seed)
	}
	dir := f.TempDir()
	store, err := persistence.NewFileStore(dir)
	require.NoError(f, err)
	f.Cleanup(func() { _ = store.Close() })

	f.Fuzz(func(t *testing.T, data []byte) {
		written := append(logHeader(), data...)
		require.NoError(t, os.WriteFile(store.LogPath(), written, persistence.FileMode))

		loaded, err := store.LoadPayload()
		require.NoError(t, err)

		kept := logBytes(loaded.Deltas...)
		require.True(t, bytes.HasPrefix(written, kept), "the deltas are not a prefix of the log")
		assert.Equal(t, int64(len(written)-len(kept)), loaded.CutBytes)
		assert.Equal(t, loaded.CutBytes != 0, loaded.CutReason != nil, "a cut has a reason, and only a cut")
		after, err := os.ReadFile(store.LogPath())
		require.NoError(t, err)
		require.Equal(t, kept, after, "the file holds exactly the loaded records")

		require.NoError(t, store.AppendDeltas([][]byte{[]byte("next")}))
		again, err := store.LoadPayload()
		require.NoError(t, err)
		assertDeltas(t, append(loaded.Deltas, []byte("next")), again.Deltas)
		assert.Zero(t, again.CutBytes)
	})
}
