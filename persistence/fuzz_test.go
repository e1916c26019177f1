package persistence_test

import (
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
