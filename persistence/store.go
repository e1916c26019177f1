package persistence

import (
	"errors"
	"fmt"

	"github.com/genserverring/genserverring-go/messages"
)

// Errors a caller branches on. Every error a Store returns for one of these
// cases wraps the sentinel with %w, so test for it with [errors.Is]; the
// message names the file (or the store) and the details.
var (
	// ErrNotFound means nothing was persisted yet (or it was deleted): a
	// member starting with no ring to restore. It is not a failure.
	ErrNotFound = errors.New("no persisted ring")

	// ErrCorrupt means a persisted file (the ring file, the payload
	// snapshot, or the payload log's header) exists but cannot be trusted:
	// it is empty, truncated, fails its checksum, or does not decode. The
	// file is left as it is for a person to inspect. (A bad record in the
	// payload log is not an error but a cut: see PayloadLog.CutReason,
	// which wraps ErrCorrupt for a record that fails its checks.)
	ErrCorrupt = errors.New("persisted data is corrupt")

	// ErrUnsupportedVersion means the file was written in a format version
	// this build does not read, most likely by a newer build.
	ErrUnsupportedVersion = errors.New("unsupported file format version")

	// ErrClosed means the store was closed: a closed store is not used
	// again (a new one is opened on the directory).
	ErrClosed = errors.New("store is closed")
)

// Store is where a ring member keeps its membership between runs.
//
// The ring calls a Store from the ring actor's goroutine only, one call at a
// time, so an implementation need not be safe for concurrent use (both
// implementations here are, all the same). A call may block on I/O; the
// ring accepts that, since a change of membership is not durable until Save
// returns.
type Store interface {
	// Load returns the persisted ring. When nothing was persisted yet (or
	// it was deleted) the error wraps ErrNotFound. A ring that exists but
	// cannot be read gives an error wrapping ErrCorrupt or
	// ErrUnsupportedVersion; Load never repairs, resets or rewrites it.
	// A returned ring has a non-empty Ring name and belongs to the caller.
	Load() (*messages.PersistedRing, error)

	// Save persists ring, replacing what was persisted before. When Save
	// returns nil the ring is durable: a crash or power loss afterwards
	// loads it (or a later save). When it returns an error the previous
	// ring is still the one persisted. ring must be non-nil with a
	// non-empty Ring name. Save does not retain or modify ring.
	Save(ring *messages.PersistedRing) error

	// Delete removes the persisted ring, durably, so that the next Load
	// gives ErrNotFound. Deleting when nothing is persisted is not an
	// error.
	Delete() error

	// String describes where the ring is kept (a file path for a file
	// store), for log lines and error messages.
	String() string
}

// validateForSave rejects a ring that Load would reject, so that a Save can
// never write something the member cannot restart from.
func validateForSave(where string, ring *messages.PersistedRing) error {
	if ring == nil {
		return fmt.Errorf("persistence: save %s: ring is nil", where)
	}
	if ring.GetRing() == "" {
		return fmt.Errorf("persistence: save %s: ring name is empty", where)
	}
	return nil
}
