package persistence

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// MemoryStore is a Store that keeps the ring in memory: the in-memory twin
// of FileStore, with the same contract, for tests of the ring that should
// not touch the disk. It stores and returns deep copies, so neither the
// saver nor a loader can change what is stored by changing its value.
//
// The zero value is an empty store, ready to use. A MemoryStore is safe for
// concurrent use.
type MemoryStore struct {
	mu       sync.Mutex
	ring     *messages.PersistedRing // nil when nothing is stored
	snapshot []byte
	deltas   [][]byte
	logSize  int64
}

var _ PayloadStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Load returns a copy of the stored ring, or an error wrapping ErrNotFound
// when nothing is stored.
func (s *MemoryStore) Load() (*messages.PersistedRing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring == nil {
		return nil, fmt.Errorf("persistence: load %s: %w", s, ErrNotFound)
	}
	return proto.Clone(s.ring).(*messages.PersistedRing), nil
}

// Save stores a copy of ring. It rejects what FileStore.Save rejects,
// including a ring that does not encode (a string that is not UTF-8), so
// that a test of the ring sees the errors a real member would.
func (s *MemoryStore) Save(ring *messages.PersistedRing) error {
	if err := validateForSave(s.String(), ring); err != nil {
		return err
	}
	if _, err := proto.Marshal(ring); err != nil {
		return fmt.Errorf("persistence: save %s: encode ring: %w", s, err)
	}
	clone := proto.Clone(ring).(*messages.PersistedRing)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring = clone
	return nil
}

// Delete forgets the stored ring. Deleting an empty store is not an error.
func (s *MemoryStore) Delete() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring, s.snapshot, s.deltas, s.logSize = nil, nil, nil, 0
	return nil
}

// LoadPayload returns copies of the stored snapshot and deltas.
func (s *MemoryStore) LoadPayload() (PayloadLog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := PayloadLog{Snapshot: cloneBytes(s.snapshot)}
	for _, d := range s.deltas {
		out.Deltas = append(out.Deltas, cloneBytes(d))
	}
	return out, nil
}

// AppendDeltas stores copies of deltas.
func (s *MemoryStore) AppendDeltas(deltas [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range deltas {
		s.deltas = append(s.deltas, cloneBytes(d))
		s.logSize += int64(len(d))
	}
	return nil
}

// SaveSnapshot replaces the snapshot and empties the log.
func (s *MemoryStore) SaveSnapshot(snapshot []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshot, s.deltas, s.logSize = cloneBytes(snapshot), nil, 0
	return nil
}

// LogSize returns the bytes appended since the last snapshot.
func (s *MemoryStore) LogSize() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logSize
}

// Close does nothing: a MemoryStore holds no lock.
func (s *MemoryStore) Close() error { return nil }

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// String returns "memory store".
func (s *MemoryStore) String() string { return "memory store" }
