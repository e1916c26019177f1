package persistence

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// The files a FileStore writes whole (the ring file, the snapshot, a new
// log's header) are written atomically: a temporary file in the same
// directory is written, fsynced, closed and renamed over the target, and the
// directory is fsynced. A crash leaves either the old file or the new one,
// and perhaps a temporary file, which no reader opens and the next write
// removes.

// tempPrefixOf is the prefix of the temporary files written for the file
// named name.
func tempPrefixOf(name string) string { return "." + name + ".tmp-" }

// writeFileAtomically replaces dir/name with data, durably. On error the old
// file (if any) is still in place and the temporary file is removed.
func writeFileAtomically(dir, name string, data []byte) (err error) {
	temp, err := os.CreateTemp(dir, tempPrefixOf(name)+"*")
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
	if err = os.Rename(tempName, filepath.Join(dir, name)); err != nil {
		return err
	}
	// The rename is done: the temp file no longer exists to be removed, and
	// the new file is in place even if the directory sync fails.
	if syncErr := syncDir(dir); syncErr != nil {
		return fmt.Errorf("%s written but not durable: %w", name, syncErr)
	}
	return nil
}

// removeStaleTemps removes the temporary files a crashed write of any of
// names left in dir. It is best effort: a leftover file costs disk space,
// not correctness, since no reader opens it. Only the store that holds the
// directory's lock calls it, so it never removes a file another store is
// writing.
func removeStaleTemps(dir string, names ...string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, entry := range entries {
		if !entry.Type().IsRegular() {
			continue
		}
		for _, name := range names {
			if strings.HasPrefix(entry.Name(), tempPrefixOf(name)) {
				_ = os.Remove(filepath.Join(dir, entry.Name()))
			}
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
