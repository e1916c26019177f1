package persistence_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
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

// payloadStoreImplementations are the stores that must keep the
// PayloadStore contract. reopen plays a member's restart: it closes the
// store and opens it again on the same data.
var payloadStoreImplementations = []struct {
	name     string
	newStore func(t *testing.T) persistence.PayloadStore
	reopen   func(t *testing.T, store persistence.PayloadStore) persistence.PayloadStore
}{
	{
		"file",
		func(t *testing.T) persistence.PayloadStore { return newFileStore(t) },
		func(t *testing.T, store persistence.PayloadStore) persistence.PayloadStore {
			require.NoError(t, store.Close())
			return openFileStore(t, store.(*persistence.FileStore).Dir())
		},
	},
	{
		"memory",
		func(*testing.T) persistence.PayloadStore { return persistence.NewMemoryStore() },
		func(t *testing.T, store persistence.PayloadStore) persistence.PayloadStore {
			require.NoError(t, store.Close())
			store.(*persistence.MemoryStore).Reopen()
			return store
		},
	},
}

// forEachPayloadStore runs test against each PayloadStore implementation.
func forEachPayloadStore(t *testing.T, test func(t *testing.T, store persistence.PayloadStore,
	reopen func(persistence.PayloadStore) persistence.PayloadStore)) {
	for _, impl := range payloadStoreImplementations {
		t.Run(impl.name, func(t *testing.T) {
			test(t, impl.newStore(t), func(s persistence.PayloadStore) persistence.PayloadStore { return impl.reopen(t, s) })
		})
	}
}

// deltasOf returns n distinct deltas, from index first on, of varied sizes
// (empty included).
func deltasOf(first, n int) [][]byte {
	deltas := make([][]byte, n)
	for i := range deltas {
		deltas[i] = bytes.Repeat([]byte{byte(first + i)}, (first+i)%37)
	}
	return deltas
}

// logHeader is the header of a payload log, as the package documents it.
func logHeader() []byte {
	return binary.LittleEndian.AppendUint16([]byte("GSRLOG"), persistence.LogFormatVersion)
}

// recordBytes frames body as a log record, as the package documents it:
// length, CRC-32C of the length and the body, body.
func recordBytes(body []byte) []byte {
	length := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	crc := crc32.Update(crc32c(length), crc32.MakeTable(crc32.Castagnoli), body)
	return append(binary.LittleEndian.AppendUint32(length, crc), body...)
}

// logBytes is a whole log holding deltas.
func logBytes(deltas ...[]byte) []byte {
	data := logHeader()
	for _, delta := range deltas {
		data = append(data, recordBytes(delta)...)
	}
	return data
}

// loadPayload loads the payload of store and requires it to succeed.
func loadPayload(t testing.TB, store persistence.PayloadStore) persistence.PayloadLog {
	t.Helper()
	loaded, err := store.LoadPayload()
	require.NoError(t, err)
	return loaded
}

// assertDeltas checks deltas equal want, treating nil and empty alike.
func assertDeltas(t testing.TB, want, got [][]byte, msgAndArgs ...any) {
	t.Helper()
	require.Len(t, got, len(want), msgAndArgs...)
	for i := range want {
		assert.True(t, bytes.Equal(want[i], got[i]), "delta %d: want %x, got %x", i, want[i], got[i])
	}
}
