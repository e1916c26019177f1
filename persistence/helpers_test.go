package persistence_test

import (
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// sampleRing is a ring of three nodes, one of them forced down, as the ring
// actor would persist it.
func sampleRing() *messages.PersistedRing {
	dot := func(replica string, counter uint64) *messages.Dot {
		return &messages.Dot{Replica: replica, Counter: counter}
	}
	return &messages.PersistedRing{
		Ring: "orders",
		Self: "127.0.0.1:8001",
		NodeSet: &messages.ORSet{
			Context: &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{
				dot("127.0.0.1:8001", 3), dot("127.0.0.1:8002", 1),
			}}},
			Entries: []*messages.ORSetEntry{
				{Element: []byte("127.0.0.1:8001"), Dots: []*messages.Dot{dot("127.0.0.1:8001", 1)}},
				{Element: []byte("127.0.0.1:8002"), Dots: []*messages.Dot{dot("127.0.0.1:8001", 2)}},
				{Element: []byte("127.0.0.1:8003"), Dots: []*messages.Dot{dot("127.0.0.1:8001", 3), dot("127.0.0.1:8002", 1)}},
			},
		},
		ForcedDown: &messages.ORSet{
			Context: &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{dot("127.0.0.1:8002", 2)}}},
			Entries: []*messages.ORSetEntry{
				{Element: []byte("127.0.0.1:8003"), Dots: []*messages.Dot{dot("127.0.0.1:8002", 2)}},
			},
		},
		UnixNanos: 1_700_000_000_123_456_789,
	}
}

// ringFileBytes encodes a ring file by hand, so that a test can write one
// with any version, checksum and body.
func ringFileBytes(t testing.TB, version, checksum uint32, body []byte) []byte {
	t.Helper()
	data, err := proto.Marshal(&messages.RingFile{FormatVersion: version, Crc32C: checksum, Body: body})
	require.NoError(t, err)
	return data
}

// bodyBytes encodes ring as a ring file's body.
func bodyBytes(t testing.TB, ring *messages.PersistedRing) []byte {
	t.Helper()
	body, err := proto.Marshal(ring)
	require.NoError(t, err)
	return body
}

func crc32c(body []byte) uint32 {
	return crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
}

// newFileStore returns a FileStore in a fresh temporary directory, closed
// when the test ends.
func newFileStore(t testing.TB) *persistence.FileStore {
	t.Helper()
	return openFileStore(t, t.TempDir())
}

// openFileStore opens a FileStore on dir, closed when the test ends.
func openFileStore(t testing.TB, dir string) *persistence.FileStore {
	t.Helper()
	store, err := persistence.NewFileStore(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// dirNames lists the names in dir but the lock file, which every open
// store has.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, entry := range entries {
		if entry.Name() != persistence.LockFileName {
			names = append(names, entry.Name())
		}
	}
	return names
}

// plantStaleTemp writes a temporary file as a crash in the middle of a Save
// would leave it: half a ring file.
func plantStaleTemp(t testing.TB, dir string) string {
	t.Helper()
	data := ringFileBytes(t, persistence.FormatVersion, 0, []byte("half a ri"))
	path := filepath.Join(dir, persistence.TempPrefix+"4242")
	require.NoError(t, os.WriteFile(path, data[:len(data)/2], 0o600))
	return path
}
