// Package persistence keeps a ring member's membership on disk, so that a
// member that restarts rejoins the ring it belonged to.
//
// The ring actor talks to a [Store]: it saves a [messages.PersistedRing]
// (the ring's name, the member's own address, the node set and the
// forced-down set) on every change of membership, loads it once on start,
// and deletes it when it learns it was removed from the ring.
//
// [FileStore] is the real store: one file, ring.pb, in a directory of its
// own ([DefaultDir] gives ./data/<ring name>/). The file is a
// [messages.RingFile]: a format version and a CRC-32C checksum around the
// encoded PersistedRing. Saves are atomic (temporary file, fsync, rename,
// fsync of the directory), so a crash leaves either the old file or the new
// one. A file that fails its version or its checksum is an error that names
// the file ([ErrUnsupportedVersion], [ErrCorrupt]); the store never panics
// on it, never resets it to empty and never overwrites it on Load, so an
// operator can look at it.
//
// [MemoryStore] is its in-memory twin with the same contract, for tests of
// the ring that should not touch the disk.
package persistence
