package persistence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

const (
	// SnapshotFileName is the name of the payload snapshot in a
	// FileStore's directory.
	SnapshotFileName = "snapshot.pb"

	// SnapshotFormatVersion is the version of the snapshot file's framing
	// (messages.SnapshotFile.format_version) that this build writes and
	// reads.
	SnapshotFormatVersion uint32 = 1
)

// readSnapshot returns the body of the snapshot at path, nil when there is
// none. A snapshot that cannot be trusted is an error wrapping ErrCorrupt
// or ErrUnsupportedVersion that names the file; the file is not touched.
func readSnapshot(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("persistence: load snapshot %s: %w", path, err)
	}
	body, err := snapshotKind.open(path, data)
	if err != nil {
		return nil, err
	}
	if body == nil {
		body = []byte{} // an empty snapshot is not the absence of one
	}
	return body, nil
}

// writeSnapshot replaces the snapshot in dir with body, atomically and
// durably.
func writeSnapshot(dir string, body []byte) error {
	data, err := snapshotKind.seal(body)
	if err != nil {
		return err
	}
	return writeFileAtomically(dir, SnapshotFileName, data)
}
