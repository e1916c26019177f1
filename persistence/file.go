package persistence

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

const (
	// RingFileName is the name of the ring file inside a FileStore's
	// directory.
	RingFileName = "ring.pb"

	// FormatVersion is the version of the ring file's body encoding that
	// this build writes and reads (messages.RingFile.format_version).
	FormatVersion uint32 = 1

	// DirMode is the permission NewFileStore creates missing directories
	// with (before the umask).
	DirMode fs.FileMode = 0o755

	// FileMode is the permission of the ring file.
	FileMode fs.FileMode = 0o644

	// tempPrefix starts the name of the temporary file a Save writes before
	// renaming it over the ring file. Load never reads such files; Save and
	// Delete remove the ones a crash left behind.
	tempPrefix = "." + RingFileName + ".tmp-"
)

// castagnoli is the CRC-32C table: the checksum of a RingFile's body.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DefaultDir is the directory a ring named ringName keeps its file in when
// the application does not choose one: data/<ringName> relative to the
// process's working directory (./data/<ringName>/). ringName is used as a
// path as it is; a ring name with path separators gives nested directories.
func DefaultDir(ringName string) string {
	return filepath.Join(".", "data", ringName)
}

// FileStore is a Store that keeps the ring in the file RingFileName in a
// directory of its own. Saves are atomic and durable. One FileStore (in one
// process) should own a directory: two stores writing the same directory
// may remove each other's temporary files.
//
// A FileStore is safe for concurrent use; its methods serialise.
type FileStore struct {
	dir  string
	path string
	mu   sync.Mutex // serialises Save and Delete, which share temp files
}

var _ Store = (*FileStore)(nil)

// NewFileStore returns a store for the ring file in dir, creating dir (and
// its parents) with DirMode if it is missing. It does not read the file;
// call Load for that.
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
	return &FileStore{dir: dir, path: filepath.Join(dir, RingFileName)}, nil
}

// Dir returns the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// Path returns the path of the ring file.
func (s *FileStore) Path() string { return s.path }

// String returns the path of the ring file.
func (s *FileStore) String() string { return s.path }

// Load reads, checks and decodes the ring file. See Store.Load for the
// contract. Temporary files a crashed Save left behind are ignored.
func (s *FileStore) Load() (*messages.PersistedRing, error) {
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
	s.removeStaleTemps()
	if err := s.writeAtomically(data); err != nil {
		return fmt.Errorf("persistence: save %s: %w", s.path, err)
	}
	return nil
}

// Delete removes the ring file and fsyncs the directory. Deleting a missing
// file is not an error. See Store.Delete for the contract.
func (s *FileStore) Delete() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeStaleTemps()
	err := os.Remove(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("persistence: delete: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("persistence: delete %s: %w", s.path, err)
	}
	return nil
}

func (s *FileStore) writeAtomically(data []byte) (err error) {
	temp, err := os.CreateTemp(s.dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	tempName := temp.Name()
	defer func() {
		if err != nil {
			_ = temp.Close() // may already be closed; the write's error matters
			_ = os.Remove(tempName)
		}
	}()
	if err = temp.Chmod(FileMode); err != nil {
		return err
	}
	if _, err = temp.Write(data); err != nil {
		return err
	}
	if err = temp.Sync(); err != nil {
		return err
	}
	if err = temp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tempName, s.path); err != nil {
		return err
	}
	// The rename is done: the temp file no longer exists to be removed, and
	// the new ring file is in place even if the directory sync fails.
	if syncErr := syncDir(s.dir); syncErr != nil {
		return fmt.Errorf("ring file written but not durable: %w", syncErr)
	}
	return nil
}

// removeStaleTemps removes temporary files a crashed Save left behind. It is
// best effort: a leftover file costs disk space, not correctness, since Load
// never reads it.
func (s *FileStore) removeStaleTemps() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, entry := range entries {
		if strings.HasPrefix(entry.Name(), tempPrefix) && entry.Type().IsRegular() {
			_ = os.Remove(filepath.Join(s.dir, entry.Name()))
		}
	}
}

// syncDir fsyncs a directory, making the creation, rename or removal of its
// entries durable. Windows cannot open a directory for syncing, and its
// renames need no such step.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// encodeRingFile encodes ring as the bytes of a ring file.
func encodeRingFile(ring *messages.PersistedRing) ([]byte, error) {
	deterministic := proto.MarshalOptions{Deterministic: true}
	body, err := deterministic.Marshal(ring)
	if err != nil {
		return nil, fmt.Errorf("encode ring: %w", err)
	}
	file := &messages.RingFile{
		FormatVersion: FormatVersion,
		Crc32C:        crc32.Checksum(body, castagnoli),
		Body:          body,
	}
	data, err := deterministic.Marshal(file)
	if err != nil {
		return nil, fmt.Errorf("encode ring file: %w", err)
	}
	return data, nil
}

// decodeRingFile checks and decodes the bytes of the ring file at path. The
// version is checked before the checksum, so that a file from a newer build
// is reported as such and not as corrupt.
func decodeRingFile(path string, data []byte) (*messages.PersistedRing, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("persistence: load %s: %w: %s", path, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(data) == 0 {
		return nil, corrupt("file is empty")
	}
	var file messages.RingFile
	if err := proto.Unmarshal(data, &file); err != nil {
		return nil, corrupt("not a ring file (truncated?): %v", err)
	}
	switch version := file.GetFormatVersion(); {
	case version == 0:
		// Every version this package ever wrote is non-zero, so a missing
		// version means bytes that merely happen to parse.
		return nil, corrupt("no format version (not a ring file?)")
	case version != FormatVersion:
		return nil, fmt.Errorf("persistence: load %s: %w: file has version %d, this build reads version %d",
			path, ErrUnsupportedVersion, version, FormatVersion)
	}
	body := file.GetBody()
	if len(body) == 0 {
		return nil, corrupt("body is empty (truncated?)")
	}
	if want, got := file.GetCrc32C(), crc32.Checksum(body, castagnoli); want != got {
		return nil, corrupt("checksum mismatch: file says crc32c %#08x, body has %#08x", want, got)
	}
	ring := &messages.PersistedRing{}
	if err := proto.Unmarshal(body, ring); err != nil {
		return nil, corrupt("body does not decode: %v", err)
	}
	if ring.GetRing() == "" {
		return nil, corrupt("ring name is empty")
	}
	return ring, nil
}
