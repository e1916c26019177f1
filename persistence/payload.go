package persistence

import (
	"errors"
	"fmt"
)

// ErrLocked means another store (in this process or another) holds the
// directory: two ring members must never share one data directory.
var ErrLocked = errors.New("data directory is in use by another member")

// PayloadStore is a Store that also keeps the ring's payload durably: a
// snapshot, and a log of the deltas applied since that snapshot. A member
// appends the deltas of a batch of changes with one AppendDeltas (one sync:
// group commit) before it answers any caller whose call made one of them,
// and now and then folds the log into a new snapshot.
//
// Like Store, it is called from the ring actor's goroutine only.
type PayloadStore interface {
	Store

	// LoadPayload returns the snapshot (nil when there is none) and the
	// deltas appended after it, oldest first. A torn or corrupt tail of the
	// log (a crash in the middle of an append) is cut off: the records
	// before it are returned, and CutBytes/CutReason say how many bytes
	// were cut and why (the ring logs it). A bad record in the middle of
	// the log is cut the same way, with everything after it: a log cannot
	// tell a flipped bit from a torn write. A snapshot (or a log header)
	// that fails its checksum or version is an error wrapping ErrCorrupt or
	// ErrUnsupportedVersion that names the file, and nothing is rewritten.
	// When nothing was ever stored, both are empty and the error is nil.
	// The returned slices belong to the caller.
	LoadPayload() (PayloadLog, error)

	// AppendDeltas appends deltas (each an encoded payload delta) to the
	// log and makes them durable with a single sync. When it returns nil,
	// every one of them survives a crash or power loss. When it returns an
	// error, none of them may be assumed durable, and the log is left so
	// that the next AppendDeltas continues after the last durable record
	// (the caller appends the failed deltas again). A disk fault is an
	// error that names the file and the step and wraps the system's error
	// (errors.Is(err, syscall.ENOSPC) for a full disk, syscall.EROFS for a
	// read-only one). Appending no delta does nothing and syncs nothing;
	// a delta larger than MaxDeltaSize is refused before anything is
	// written. AppendDeltas does not retain deltas.
	AppendDeltas(deltas [][]byte) error

	// SaveSnapshot durably replaces the snapshot with snapshot (which must
	// cover every delta appended so far), then empties the log. A crash at
	// any point leaves either the old snapshot and log or the new snapshot
	// (with or without the old log, whose deltas it covers: deltas are
	// idempotent). When it returns an error the old snapshot is still in
	// place, or (the error says so) the new one is and the log could not
	// be emptied yet. An empty snapshot is a snapshot, not the absence of
	// one. SaveSnapshot does not retain snapshot.
	SaveSnapshot(snapshot []byte) error

	// LogSize returns the bytes appended to the log since the last
	// snapshot (each delta and its 8-byte record header): the member
	// compacts when it grows past its threshold.
	LogSize() int64

	// Close releases the store (and the directory's lock). A closed store
	// must not be used again: its calls fail with ErrClosed. Whoever opened
	// the store closes it: the ring closes a store it opened itself from
	// its data directory, and leaves one the application passed in to the
	// application (which may hand it to the next member it starts).
	Close() error
}

// PayloadLog is what LoadPayload found.
type PayloadLog struct {
	// Snapshot is the last snapshot, nil when there is none.
	Snapshot []byte
	// Deltas are the deltas appended after Snapshot, oldest first.
	Deltas [][]byte
	// CutBytes is how many bytes of a torn or corrupt log tail were cut
	// off; CutReason says why (nil when CutBytes is 0).
	CutBytes  int64
	CutReason error
}

// checkDeltas refuses a batch that the log could not frame, before anything
// is written: no delta may exceed MaxDeltaSize.
func checkDeltas(where string, deltas [][]byte) error {
	for i, delta := range deltas {
		if len(delta) > MaxDeltaSize {
			return fmt.Errorf("persistence: append to %s: delta %d of %d is %d bytes, more than the maximum %d; nothing was written",
				where, i+1, len(deltas), len(delta), MaxDeltaSize)
		}
	}
	return nil
}
