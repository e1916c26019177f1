package persistence

import (
	"bytes"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// MemoryStore is a PayloadStore that keeps everything in memory: the
// in-memory twin of FileStore, with the same contract, for tests of the
// ring that should not touch the disk. It stores and returns copies, so
// neither the saver nor a loader can change what is stored by changing its
// value. What it holds is what a FileStore would hold after a crash: every
// call that returned nil, nothing of one that failed.
//
// For tests of disk faults, FailSaves, FailAppends and FailSnapshots make
// the next calls fail with a given error (as a full or read-only disk
// would) until they are cleared, and Close / Reopen play a member's process
// stopping and starting on the same data.
//
// The zero value is an empty store, ready to use. A MemoryStore is safe for
// concurrent use.
type MemoryStore struct {
	mu   sync.Mutex
	ring *messages.PersistedRing // nil when nothing is stored

	snapshot []byte   // nil when there is none
	deltas   [][]byte // appended since the snapshot
	logSize  int64    // bytes a FileStore's log would hold for deltas

	failSaves, failAppends, failSnapshots error
	closed                                bool
}

var _ PayloadStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Load returns a copy of the stored ring, or an error wrapping ErrNotFound
// when nothing is stored.
func (s *MemoryStore) Load() (*messages.PersistedRing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("load"); err != nil {
		return nil, err
	}
	if s.ring == nil {
		return nil, fmt.Errorf("persistence: load %s: %w", s, ErrNotFound)
	}
	return proto.Clone(s.ring).(*messages.PersistedRing), nil
}

// Save stores a copy of ring. It rejects what FileStore.Save rejects,
// including a ring that does not encode (a string that is not UTF-8), so
// that a test of the ring sees the errors a real member would. While
// FailSaves is set it fails with that error and keeps the previous ring.
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
	if err := s.checkOpen("save"); err != nil {
		return err
	}
	if s.failSaves != nil {
		return fmt.Errorf("persistence: save %s: %w", s, s.failSaves)
	}
	s.ring = clone
	return nil
}

// Delete forgets the stored ring, snapshot and deltas. Deleting an empty
// store is not an error.
func (s *MemoryStore) Delete() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("delete"); err != nil {
		return err
	}
	s.ring, s.snapshot, s.deltas, s.logSize = nil, nil, nil, 0
	return nil
}

// LoadPayload returns copies of the snapshot and the deltas appended since.
// A MemoryStore never tears, so CutBytes is always 0.
func (s *MemoryStore) LoadPayload() (PayloadLog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("load payload"); err != nil {
		return PayloadLog{}, err
	}
	loaded := PayloadLog{Snapshot: bytes.Clone(s.snapshot)}
	for _, delta := range s.deltas {
		loaded.Deltas = append(loaded.Deltas, bytes.Clone(delta))
	}
	return loaded, nil
}

// AppendDeltas stores copies of deltas. While FailAppends is set it fails
// with that error and stores none of them.
func (s *MemoryStore) AppendDeltas(deltas [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("append"); err != nil {
		return err
	}
	if err := checkDeltas(s.String(), deltas); err != nil || len(deltas) == 0 {
		return err
	}
	if s.failAppends != nil {
		return fmt.Errorf("persistence: append to %s: %w", s, s.failAppends)
	}
	for _, delta := range deltas {
		s.deltas = append(s.deltas, bytes.Clone(delta))
		s.logSize += frameHeaderSize + int64(len(delta))
	}
	return nil
}

// SaveSnapshot replaces the snapshot with a copy of snapshot and empties
// the log. While FailSnapshots is set it fails with that error and changes
// nothing.
func (s *MemoryStore) SaveSnapshot(snapshot []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("save snapshot"); err != nil {
		return err
	}
	if s.failSnapshots != nil {
		return fmt.Errorf("persistence: save snapshot %s: %w", s, s.failSnapshots)
	}
	s.snapshot = append([]byte{}, snapshot...) // non-nil even when empty
	s.deltas, s.logSize = nil, 0
	return nil
}

// LogSize returns the bytes a FileStore's log would hold for the deltas
// appended since the last snapshot (each delta and its 8-byte record
// header), so that a ring's compaction threshold behaves the same on both.
func (s *MemoryStore) LogSize() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logSize
}

// Close marks the store closed: every call but Close and Reopen fails with
// ErrClosed until Reopen. What it holds is kept.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Reopen undoes Close, as a restarted member opens its data directory
// again: a test stops a member (which closes its store) and starts another
// on the same MemoryStore.
func (s *MemoryStore) Reopen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = false
}

// FailSaves makes every Save fail with an error wrapping err, as a full or
// read-only disk would, until FailSaves(nil).
func (s *MemoryStore) FailSaves(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failSaves = err
}

// FailAppends makes every AppendDeltas of at least one delta fail with an
// error wrapping err, storing none of its deltas, until FailAppends(nil).
func (s *MemoryStore) FailAppends(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAppends = err
}

// FailSnapshots makes every SaveSnapshot fail with an error wrapping err,
// changing nothing, until FailSnapshots(nil).
func (s *MemoryStore) FailSnapshots(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failSnapshots = err
}

// String returns "memory store".
func (s *MemoryStore) String() string { return "memory store" }

func (s *MemoryStore) checkOpen(op string) error {
	if s.closed {
		return fmt.Errorf("persistence: %s %s: %w", op, s, ErrClosed)
	}
	return nil
}
