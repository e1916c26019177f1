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
	mu   sync.Mutex
	ring *messages.PersistedRing // nil when nothing is stored
}

var _ Store = (*MemoryStore)(nil)

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
	s.ring = nil
	return nil
}

// String returns "memory store".
func (s *MemoryStore) String() string { return "memory store" }
