// Package persistence keeps a ring member's state on disk: its membership,
// so that a member that restarts rejoins the ring it belonged to, and its
// payload, so that no write it acknowledged is lost.
//
// # Stores
//
// The ring actor talks to a [Store] for its membership: it saves a
// [messages.PersistedRing] (the ring's name, the member's address and
// replica ID, the node set and the forced-down set) on every change of
// membership, loads it once on start, and deletes it when it learns it was
// removed from the ring. A [PayloadStore] is a Store that also keeps the
// payload: a snapshot and a log of the deltas applied since.
//
// [FileStore] is the real store: a directory of its own per member
// ([DefaultDir] gives ./data/<ring name>/<host>_<port>/) holding
//
//	ring.pb      the ring file (RingFileName)
//	snapshot.pb  the payload snapshot (SnapshotFileName)
//	payload.log  the deltas since the snapshot (LogFileName)
//	LOCK         the directory's lock (LockFileName)
//
// [MemoryStore] is its in-memory twin with the same contract, for tests of
// the ring that should not touch the disk; it can be told to fail its
// writes as a full disk would ([MemoryStore.FailAppends],
// [MemoryStore.FailSnapshots], [MemoryStore.FailSaves]).
//
// # Files written whole
//
// The ring file is a [messages.RingFile] and the snapshot a
// [messages.SnapshotFile]: a format version and a CRC-32C checksum around
// the body. Both are written atomically (temporary file, fsync, rename,
// fsync of the directory), so a crash leaves either the old file or the new
// one. A file that fails its version or its checksum is an error that
// names the file ([ErrUnsupportedVersion], [ErrCorrupt]); the store never
// panics on it, never resets it to empty and never overwrites it on a
// load, so an operator can look at it. The ring refuses to start on it.
//
// # The payload log
//
// The log is an 8-byte header ("GSRLOG" and the format version,
// [LogFormatVersion]) followed by one record per delta:
//
//	length (uint32 LE) | CRC-32C of length and body (uint32 LE) | body
//
// [PayloadStore.AppendDeltas] frames all the deltas of a call into one
// buffer, writes it with one write at the end of the last durable record,
// and makes it durable with one fdatasync (fsync outside Linux). The ring
// calls it once per batch of mailbox messages, before any reply that
// depends on those deltas leaves: group commit, so many concurrent callers
// share one sync. [PayloadStore.SaveSnapshot] writes a new snapshot (which
// covers every delta so far), then cuts the log back to its header.
//
// # Recovery
//
// [PayloadStore.LoadPayload] reads the snapshot, then the log's records in
// order up to the first that is short (a torn write: the crash came in the
// middle of an append) or fails its checks (a length over [MaxDeltaSize],
// a checksum mismatch). It truncates the file there, durably, and returns
// the records before it with CutBytes and CutReason, which the ring logs.
// Only an append that never returned nil can be torn, so a cut at the tail
// loses nothing acknowledged. A bad record in the middle of the log (a
// flipped bit on the disk) is cut the same way, with every record after
// it: a log cannot tell it from a torn write. Those deltas are lost from
// this member's disk, though not from the ring if gossip carried them.
//
// A crash between writing a snapshot and emptying the log leaves the new
// snapshot and the old deltas; the load returns both, and applying the
// deltas again changes nothing (deltas are idempotent). A bad snapshot,
// or a log header that is not this build's, is an error that names the
// file, and nothing is cut or rewritten.
//
// # Locking
//
// One member per data directory: [NewFileStore] takes an exclusive flock(2)
// on the LOCK file, and fails with an error wrapping [ErrLocked] that names
// the directory when another store holds it, in this process or in another
// (flock locks belong to open files, not to processes). Close releases it;
// the kernel releases it when a process dies, so a crashed member leaves
// no stale lock. flock(1) sees the lock, so an operator can test it. On
// platforms without flock (Windows, Solaris) there is no lock: two members
// on one directory must be kept apart by their configuration.
//
// # Disk faults
//
// A failed write or sync never reports success, and never costs what was
// durable before it. AppendDeltas returns an error that names the log and
// the step (write, sync, cut back) and wraps the system's error, so
// errors.Is(err, syscall.ENOSPC) tells a full disk and syscall.EROFS a
// read-only one. It cuts the file back to the last durable record and
// reopens it before the next write (a descriptor that saw a write error
// may report later syncs as good for pages the kernel dropped); when even
// the cut fails, the next append cuts first or fails. The next successful
// append goes on right after the last durable record: once the disk
// recovers (space freed, remounted writable), the store recovers with it,
// and the caller appends the failed deltas again. Save and SaveSnapshot
// keep the old file on any failure. On a read-only directory a member can
// still open its store and load everything; a tail it cannot cut yet is
// cut by the first append once the disk is writable.
package persistence
