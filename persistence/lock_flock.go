//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package persistence

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDir takes the exclusive lock of dir: flock(2) on dir/LOCK, held by
// the returned file until it is closed (or the process dies: the kernel
// releases a flock with the last descriptor, so a crashed member never
// leaves a stale lock). flock locks belong to an open file, not to a
// process, so a second store in the same process is refused like a store
// in another process.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFileName)
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		// A read-only directory still locks (flock needs no write
		// access), so that a member can read its data from it.
		readOnly, roErr := os.Open(path)
		if roErr != nil {
			return nil, fmt.Errorf("persistence: lock %s: %w", dir, err)
		}
		file = readOnly
	}
	if err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := lockHolder(file)
		_ = file.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("persistence: lock %s: %w (lock file %s%s)", dir, ErrLocked, path, holder)
		}
		return nil, fmt.Errorf("persistence: lock %s: flock %s: %w", dir, path, err)
	}
	// Best effort: the PID tells an operator which process holds the
	// directory. A read-only directory just goes without it.
	if err := file.Truncate(0); err == nil {
		_, _ = file.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return file, nil
}

// lockHolder names the process that last wrote its PID into the lock file,
// for the ErrLocked message ("" when the file holds none). It is a hint: a
// store clears it on Close, but a crashed one cannot, and a tool such as
// flock(1) writes none.
func lockHolder(file *os.File) string {
	buf := make([]byte, 32)
	n, _ := file.ReadAt(buf, 0)
	pid := strings.TrimSpace(string(buf[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return ""
	}
	return "; the last store to take it was in process " + pid
}
