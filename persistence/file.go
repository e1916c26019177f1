package persistence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

const (
	// RingFileName is the name of the ring file inside a FileStore's
	// directory.
	RingFileName = "ring.pb"

	// LockFileName is the name of the file a FileStore locks to own its
	// directory. It stays when the store is closed or deleted: removing a
	// lock file that another store may be about to lock would let two
	// stores hold "the" lock at once.
	LockFileName = "LOCK"

	// FormatVersion is the version of the ring file's body encoding that
	// this build writes and reads (messages.RingFile.format_version).
	FormatVersion uint32 = 1

	// DirMode is the permission NewFileStore creates missing directories
	// with (before the umask).
	DirMode fs.FileMode = 0o755

	// FileMode is the permission of the files a FileStore writes.
	FileMode fs.FileMode = 0o644
)

// tempPrefix starts the name of the temporary file a Save writes before
// renaming it over the ring file. Load never reads such files; Save and
// Delete remove the ones a crash left behind.
var tempPrefix = tempPrefixOf(RingFileName)

// FileStore is a PayloadStore that keeps a member's files in a directory of
// its own: the ring file (RingFileName), the payload snapshot
// (SnapshotFileName), the payload log (LogFileName) and the lock
// (LockFileName). See the package documentation for the formats, recovery
// and disk faults.
//
// A FileStore owns its directory: NewFileStore locks it, and Close releases
// it. A FileStore is safe for concurrent use; its methods serialise.
type FileStore struct {
	dir          string
	path         string
	snapshotPath string

	mu     sync.Mutex // serialises every method: they share files
	lock   *os.File   // holds the directory's flock; nil where there is none
	log    *deltaLog
	closed bool
}

var _ PayloadStore = (*FileStore)(nil)

// NewFileStore returns a store for the files in dir, creating dir (and its
// parents) with DirMode if it is missing, and takes the directory's
// exclusive lock. When another store holds dir, in this process or in
// another, it fails with an error wrapping ErrLocked that names the
// directory. It reads no file: call Load and LoadPayload for that. Close the
// store to release the lock.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("persistence: new file store: directory is empty")
	}
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return nil, fmt.Errorf("persistence: new file store: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// Make the new directory's entry durable, so that the first Save's
		// file is not lost with it.
		if err := syncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, fmt.Errorf("persistence: new file store %s: %w", dir, err)
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	return &FileStore{
		dir:          dir,
		path:         filepath.Join(dir, RingFileName),
		snapshotPath: filepath.Join(dir, SnapshotFileName),
		lock:         lock,
		log:          newDeltaLog(dir),
	}, nil
}

// Dir returns the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// Path returns the path of the ring file.
func (s *FileStore) Path() string { return s.path }

// SnapshotPath returns the path of the payload snapshot.
func (s *FileStore) SnapshotPath() string { return s.snapshotPath }

// LogPath returns the path of the payload log.
func (s *FileStore) LogPath() string { return s.log.path }

// String returns the path of the ring file.
func (s *FileStore) String() string { return s.path }

// Load reads, checks and decodes the ring file. See Store.Load for the
// contract. Temporary files a crashed Save left behind are ignored.
func (s *FileStore) Load() (*messages.PersistedRing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("load"); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("persistence: load %s: %w", s.path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("persistence: load: %w", err)
	}
	return decodeRingFile(s.path, data)
}

// Save writes ring atomically and durably: a temporary file in the same
// directory is written, fsynced, closed and renamed over the ring file, and
// the directory is fsynced. See Store.Save for the contract.
func (s *FileStore) Save(ring *messages.PersistedRing) error {
	if err := validateForSave(s.path, ring); err != nil {
		return err
	}
	data, err := encodeRingFile(ring)
	if err != nil {
		return fmt.Errorf("persistence: save %s: %w", s.path, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("save"); err != nil {
		return err
	}
	s.removeStaleTemps()
	if err := writeFileAtomically(s.dir, RingFileName, data); err != nil {
		return fmt.Errorf("persistence: save %s: %w", s.path, err)
	}
	return nil
}

// Delete removes the ring file, the payload snapshot and the payload log,
// and fsyncs the directory: the member was removed from the ring, and a
// later start must begin afresh. Deleting missing files is not an error.
// The lock file stays (see LockFileName), and so does the lock: the store
// may be used again. See Store.Delete for the contract.
func (s *FileStore) Delete() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("delete"); err != nil {
		return err
	}
	s.removeStaleTemps()
	if err := s.log.remove(); err != nil {
		return fmt.Errorf("persistence: delete %s: %w", s.log.path, err)
	}
	for _, path := range []string{s.snapshotPath, s.path} {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("persistence: delete: %w", err)
		}
	}
	if err := syncDir(s.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("persistence: delete %s: %w", s.path, err)
	}
	return nil
}

// LoadPayload reads the snapshot and the log. See PayloadStore.LoadPayload
// for the contract. A bad record cuts the log there: a torn tail and a
// corrupt record in the middle look the same, so the records after the
// first bad one are cut with it (CutBytes counts them).
func (s *FileStore) LoadPayload() (PayloadLog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("load payload"); err != nil {
		return PayloadLog{}, err
	}
	snapshot, err := readSnapshot(s.snapshotPath)
	if err != nil {
		return PayloadLog{}, err
	}
	deltas, cut, reason, err := s.log.load()
	if err != nil {
		return PayloadLog{}, err
	}
	return PayloadLog{Snapshot: snapshot, Deltas: deltas, CutBytes: cut, CutReason: reason}, nil
}

// AppendDeltas appends deltas to the log with one write and one fdatasync.
// See PayloadStore.AppendDeltas for the contract. Appending no delta does
// nothing; a delta larger than MaxDeltaSize is refused before anything is
// written.
func (s *FileStore) AppendDeltas(deltas [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("append"); err != nil {
		return err
	}
	if err := checkDeltas(s.log.path, deltas); err != nil || len(deltas) == 0 {
		return err
	}
	return s.log.append(deltas)
}

// SaveSnapshot writes snapshot atomically (temporary file, fsync, rename,
// fsync of the directory), then cuts the log back to its header and syncs
// it. See PayloadStore.SaveSnapshot for the contract. When the snapshot is
// written but the log cannot be emptied, the error says so; the log's
// deltas are then applied again on load, which the snapshot makes
// harmless.
func (s *FileStore) SaveSnapshot(snapshot []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOpen("save snapshot"); err != nil {
		return err
	}
	s.removeStaleTemps()
	if err := writeSnapshot(s.dir, snapshot); err != nil {
		return fmt.Errorf("persistence: save snapshot %s: %w", s.snapshotPath, err)
	}
	if err := s.log.empty(); err != nil {
		return fmt.Errorf("persistence: snapshot %s saved, but: %w", s.snapshotPath, err)
	}
	return nil
}

// LogSize returns the bytes of records in the log: the bytes appended since
// the last snapshot (the log's 8-byte header not counted).
func (s *FileStore) LogSize() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.size()
}

// Close closes the log and releases the directory's lock. Closing twice is
// not an error; any other call after Close fails with ErrClosed.
func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	logErr := s.log.closeFile()
	var lockErr error
	if s.lock != nil {
		_ = s.lock.Truncate(0)   // best effort: the PID in it is no longer the holder's
		lockErr = s.lock.Close() // closing the last descriptor releases the flock
	}
	if err := errors.Join(logErr, lockErr); err != nil {
		return fmt.Errorf("persistence: close %s: %w", s.dir, err)
	}
	return nil
}

func (s *FileStore) checkOpen(op string) error {
	if s.closed {
		return fmt.Errorf("persistence: %s %s: %w", op, s.dir, ErrClosed)
	}
	return nil
}

func (s *FileStore) removeStaleTemps() {
	removeStaleTemps(s.dir, RingFileName, SnapshotFileName, LogFileName)
}

// encodeRingFile encodes ring as the bytes of a ring file.
func encodeRingFile(ring *messages.PersistedRing) ([]byte, error) {
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(ring)
	if err != nil {
		return nil, fmt.Errorf("encode ring: %w", err)
	}
	return ringFileKind.seal(body)
}

// decodeRingFile checks and decodes the bytes of the ring file at path.
func decodeRingFile(path string, data []byte) (*messages.PersistedRing, error) {
	body, err := ringFileKind.open(path, data)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return nil, ringFileKind.corrupt(path, "body is empty (truncated?)")
	}
	ring := &messages.PersistedRing{}
	if err := proto.Unmarshal(body, ring); err != nil {
		return nil, ringFileKind.corrupt(path, "body does not decode: %v", err)
	}
	if ring.GetRing() == "" {
		return nil, ringFileKind.corrupt(path, "ring name is empty")
	}
	return ring, nil
}
