package persistence_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

func TestDefaultDir(t *testing.T) {
	tests := []struct{ name, ring, node, want string }{
		{"ipv4", "orders", "127.0.0.1:8001", filepath.Join("data", "orders", "127.0.0.1_8001")},
		{"host name", "ring-1", "node-a.example:9000", filepath.Join("data", "ring-1", "node-a.example_9000")},
		{"ipv6", "orders", "[::1]:8001", filepath.Join("data", "orders", "%5B__1%5D_8001")},
		{"underscore in ring kept, in node escaped", "my_ring", "a_b:1", filepath.Join("data", "my_ring", "a%5Fb_1")},
		{"separators escaped", "a/b", `x\y:1`, filepath.Join("data", "a%2Fb", "x%5Cy_1")},
		{"parent ring", "..", "127.0.0.1:1", filepath.Join("data", "%2E%2E", "127.0.0.1_1")},
		{"parent node", "orders", "..", filepath.Join("data", "orders", "%2E%2E")},
		{"dot", ".", ".", filepath.Join("data", "%2E", "%2E")},
		{"climbing path", "../../etc", "../x:1", filepath.Join("data", "..%2F..%2Fetc", "..%2Fx_1")},
		{"empty", "", "", filepath.Join("data", "%00", "%00")},
		{"percent and space", "50% off", "h 1:2", filepath.Join("data", "50%25%20off", "h%201_2")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := persistence.DefaultDir(tc.ring, tc.node)
			assert.Equal(t, tc.want, got)
			// Whatever the names, the directory is two levels below ./data.
			rel, err := filepath.Rel("data", got)
			require.NoError(t, err)
			assert.Len(t, strings.Split(rel, string(filepath.Separator)), 2, "exactly <ring>/<node> below data: %s", got)
		})
	}
	assert.NotEqual(t, persistence.DefaultDir("r", "a_b:1"), persistence.DefaultDir("r", "a:b_1"), "one directory per node")
}

func TestNewFileStoreCreatesDirectories(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "orders")
	store, err := persistence.NewFileStore(dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, persistence.SnapshotFileName), store.SnapshotPath())
	assert.Equal(t, filepath.Join(dir, persistence.LogFileName), store.LogPath())

	info, err := os.Stat(dir)
	require.NoError(t, err)
	assert.True(t, info.IsDir())
	assert.Zero(t, info.Mode().Perm()&^persistence.DirMode, "no permission beyond DirMode")
	assert.Equal(t, dir, store.Dir())
	assert.Equal(t, filepath.Join(dir, persistence.RingFileName), store.Path())
	assert.Equal(t, store.Path(), store.String())
	assert.Empty(t, dirNames(t, dir), "creating a store writes no file but its lock")
	assert.FileExists(t, filepath.Join(dir, persistence.LockFileName))
	require.NoError(t, store.Close())
}

func TestNewFileStoreExistingDirectoryKeepsItsFile(t *testing.T) {
	dir := t.TempDir()
	first, err := persistence.NewFileStore(dir)
	require.NoError(t, err)
	require.NoError(t, first.Save(sampleRing()))
	require.NoError(t, first.Close())

	second := openFileStore(t, dir)
	loaded, err := second.Load()
	require.NoError(t, err)
	assert.True(t, proto.Equal(sampleRing(), loaded))
}

func TestNewFileStoreRejectsBadDirectory(t *testing.T) {
	aFile := filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(aFile, nil, 0o600))

	tests := []struct{ name, dir string }{
		{"empty", ""},
		{"a file", aFile},
		{"under a file", filepath.Join(aFile, "ring")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store, err := persistence.NewFileStore(tc.dir)
			assert.Error(t, err)
			assert.Nil(t, store)
		})
	}
}

func TestFileStoreSaveWritesExactlyTheRingFile(t *testing.T) {
	store := newFileStore(t)
	for i := range 3 {
		ring := sampleRing()
		ring.UnixNanos += int64(i)
		require.NoError(t, store.Save(ring))
		assert.Equal(t, []string{persistence.RingFileName}, dirNames(t, store.Dir()))
	}
	info, err := os.Stat(store.Path())
	require.NoError(t, err)
	assert.Zero(t, info.Mode().Perm()&^persistence.FileMode, "no permission beyond FileMode")
}

func TestFileStoreFileFormat(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, store.Save(sampleRing()))

	data, err := os.ReadFile(store.Path())
	require.NoError(t, err)
	var file messages.RingFile
	require.NoError(t, proto.Unmarshal(data, &file))
	assert.Equal(t, persistence.FormatVersion, file.GetFormatVersion())
	assert.Equal(t, crc32c(file.GetBody()), file.GetCrc32C())
	var body messages.PersistedRing
	require.NoError(t, proto.Unmarshal(file.GetBody(), &body))
	assert.True(t, proto.Equal(sampleRing(), &body))

	// The encoding is deterministic: the same ring gives the same bytes.
	require.NoError(t, store.Save(sampleRing()))
	again, err := os.ReadFile(store.Path())
	require.NoError(t, err)
	assert.Equal(t, data, again)
}

// A ring file that cannot be trusted is an error that names the file and
// wraps the sentinel a caller branches on; Load leaves the file as it was.
func TestFileStoreLoadRejectsBadFiles(t *testing.T) {
	goodBody := bodyBytes(t, sampleRing())
	good := ringFileBytes(t, persistence.FormatVersion, crc32c(goodBody), goodBody)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 0x01 // the last byte is the body's
	noNameBody := bodyBytes(t, &messages.PersistedRing{Self: "a:1"})
	notARing := []byte{0xff, 0xff, 0xff} // an unterminated varint tag

	tests := []struct {
		name    string
		data    []byte
		wantErr error
		wantMsg []string
	}{
		{"body byte flipped", flipped, persistence.ErrCorrupt,
			[]string{"checksum mismatch", fmt.Sprintf("%#08x", crc32c(goodBody)), fmt.Sprintf("%#08x", crc32c(flipped[len(flipped)-len(goodBody):]))}},
		{"checksum wrong", ringFileBytes(t, persistence.FormatVersion, crc32c(goodBody)+1, goodBody), persistence.ErrCorrupt,
			[]string{"checksum mismatch"}},
		{"newer version", ringFileBytes(t, persistence.FormatVersion+1, crc32c(goodBody), goodBody), persistence.ErrUnsupportedVersion,
			[]string{fmt.Sprintf("version %d", persistence.FormatVersion+1), fmt.Sprintf("version %d", persistence.FormatVersion)}},
		{"newer version with another checksum", ringFileBytes(t, 7, 12345, []byte("a future body")), persistence.ErrUnsupportedVersion,
			[]string{"version 7"}},
		{"no version", ringFileBytes(t, 0, crc32c(goodBody), goodBody), persistence.ErrCorrupt,
			[]string{"no format version"}},
		{"empty file", []byte{}, persistence.ErrCorrupt, []string{"empty"}},
		{"truncated in the body", good[:len(good)-10], persistence.ErrCorrupt, []string{"truncated"}},
		{"truncated to the header", good[:2], persistence.ErrCorrupt, []string{"body is empty"}},
		{"garbage", []byte("this is not a ring file\n"), persistence.ErrCorrupt, nil},
		{"garbage that is not protobuf", notARing, persistence.ErrCorrupt, []string{"not a ring file"}},
		{"body is not a ring", ringFileBytes(t, persistence.FormatVersion, crc32c(notARing), notARing), persistence.ErrCorrupt,
			[]string{"body does not decode"}},
		{"ring without a name", ringFileBytes(t, persistence.FormatVersion, crc32c(noNameBody), noNameBody), persistence.ErrCorrupt,
			[]string{"ring name is empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newFileStore(t)
			require.NoError(t, os.WriteFile(store.Path(), tc.data, 0o600))

			ring, err := store.Load()
			assert.Nil(t, ring)
			require.ErrorIs(t, err, tc.wantErr)
			assert.NotErrorIs(t, err, persistence.ErrNotFound)
			assert.ErrorContains(t, err, store.Path())
			for _, want := range tc.wantMsg {
				assert.ErrorContains(t, err, want)
			}

			after, err := os.ReadFile(store.Path())
			require.NoError(t, err)
			assert.Equal(t, tc.data, after, "Load must leave a bad file as it was")
			assert.Equal(t, []string{persistence.RingFileName}, dirNames(t, store.Dir()))
		})
	}
}

// No damage of a single byte, anywhere in the file, and no truncation loads
// as a ring: the checksum and the framing catch all of them.
func TestFileStoreLoadDetectsEveryFlipAndTruncation(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, store.Save(sampleRing()))
	good, err := os.ReadFile(store.Path())
	require.NoError(t, err)

	for offset := range good {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			damaged := bytes.Clone(good)
			damaged[offset] ^= mask
			require.NoError(t, os.WriteFile(store.Path(), damaged, 0o600))
			_, err := store.Load()
			assert.Error(t, err, "byte %d xor %#x", offset, mask)
		}
	}
	for length := range len(good) {
		require.NoError(t, os.WriteFile(store.Path(), good[:length], 0o600))
		_, err := store.Load()
		assert.ErrorIs(t, err, persistence.ErrCorrupt, "truncated to %d of %d bytes", length, len(good))
	}
}

func TestFileStoreLoadReadError(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, os.Mkdir(store.Path(), 0o700)) // a directory where the file should be

	_, err := store.Load()
	require.Error(t, err)
	assert.NotErrorIs(t, err, persistence.ErrNotFound)
	assert.NotErrorIs(t, err, persistence.ErrCorrupt)
	assert.ErrorContains(t, err, store.Path())
}

// A crash in the middle of a Save leaves a temporary file. Load ignores it,
// whether or not a ring file exists, and the next Save removes it.
func TestFileStoreStaleTempFile(t *testing.T) {
	t.Run("without a ring file", func(t *testing.T) {
		store := newFileStore(t)
		plantStaleTemp(t, store.Dir())

		_, err := store.Load()
		require.ErrorIs(t, err, persistence.ErrNotFound)

		require.NoError(t, store.Save(sampleRing()))
		loaded, err := store.Load()
		require.NoError(t, err)
		assert.True(t, proto.Equal(sampleRing(), loaded))
		assert.Equal(t, []string{persistence.RingFileName}, dirNames(t, store.Dir()))
	})
	t.Run("beside a ring file", func(t *testing.T) {
		store := newFileStore(t)
		require.NoError(t, store.Save(sampleRing()))
		plantStaleTemp(t, store.Dir())

		loaded, err := store.Load()
		require.NoError(t, err)
		assert.True(t, proto.Equal(sampleRing(), loaded))

		require.NoError(t, store.Save(sampleRing()))
		assert.Equal(t, []string{persistence.RingFileName}, dirNames(t, store.Dir()))
	})
	t.Run("removed by delete", func(t *testing.T) {
		store := newFileStore(t)
		require.NoError(t, store.Save(sampleRing()))
		plantStaleTemp(t, store.Dir())

		require.NoError(t, store.Delete())
		assert.Empty(t, dirNames(t, store.Dir()))
	})
}

func TestFileStoreSaveOverBadFileReplacesIt(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, os.WriteFile(store.Path(), []byte("garbage"), 0o600))
	_, err := store.Load()
	require.ErrorIs(t, err, persistence.ErrCorrupt)

	// Replacing a bad file is the caller's decision, made with Save.
	require.NoError(t, store.Save(sampleRing()))
	loaded, err := store.Load()
	require.NoError(t, err)
	assert.True(t, proto.Equal(sampleRing(), loaded))
}

func TestFileStoreSaveFailureKeepsNothingBehind(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, os.Mkdir(store.Path(), 0o700)) // rename over a directory fails
	marker := filepath.Join(store.Path(), "keep")
	require.NoError(t, os.WriteFile(marker, nil, 0o600))

	err := store.Save(sampleRing())
	require.Error(t, err)
	assert.ErrorContains(t, err, store.Path())
	assert.Equal(t, []string{persistence.RingFileName}, dirNames(t, store.Dir()), "the temporary file is removed")
	assert.FileExists(t, marker)
}

func TestFileStoreDirectoryGone(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, os.RemoveAll(store.Dir()))

	err := store.Save(sampleRing())
	require.Error(t, err)
	assert.ErrorContains(t, err, store.Path())

	_, err = store.Load()
	assert.ErrorIs(t, err, persistence.ErrNotFound)
	assert.NoError(t, store.Delete())
}

func TestFileStoreDeleteError(t *testing.T) {
	store := newFileStore(t)
	require.NoError(t, os.Mkdir(store.Path(), 0o700)) // a non-empty directory cannot be removed
	require.NoError(t, os.WriteFile(filepath.Join(store.Path(), "keep"), nil, 0o600))

	err := store.Delete()
	require.Error(t, err)
	assert.ErrorContains(t, err, store.Path())
}

// The ring calls a store from one goroutine, but a FileStore serialises its
// methods, so concurrent use is safe and the file is always one whole ring.
func TestFileStoreConcurrentSaves(t *testing.T) {
	store := newFileStore(t)
	const savers = 8
	done := make(chan error, savers)
	for i := range savers {
		go func() {
			ring := sampleRing()
			ring.UnixNanos = int64(i)
			done <- store.Save(ring)
		}()
	}
	for range savers {
		require.NoError(t, <-done)
	}

	loaded, err := store.Load()
	require.NoError(t, err)
	assert.Less(t, loaded.GetUnixNanos(), int64(savers))
	assert.Equal(t, []string{persistence.RingFileName}, dirNames(t, store.Dir()))
}

func BenchmarkFileStoreSave(b *testing.B) {
	store := newFileStore(b)
	ring := sampleRing()
	b.ReportAllocs()
	for b.Loop() {
		if err := store.Save(ring); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFileStoreLoad(b *testing.B) {
	store := newFileStore(b)
	require.NoError(b, store.Save(sampleRing()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.Load(); err != nil {
			b.Fatal(err)
		}
	}
}
