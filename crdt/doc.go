// Package crdt holds the conflict-free replicated data types that the ring
// shares between its members: its membership (OR-sets of nodes) and the
// user's payload. They are plain Go values: no actors, no goroutines, no
// I/O, no clock. The ring moves them between members as bytes and merges
// them; a test can do the same in a loop.
//
// # The contract
//
// Every type T of the package satisfies CRDT[*T]: Merge folds another
// state into the receiver and reports whether it changed; Merge is
// commutative, associative and idempotent up to Equal, so replicas that
// have merged the same states hold Equal states whatever the order, the
// grouping and the repetitions of the merges. Clone makes an independent
// copy; MarshalBinary and UnmarshalBinary encode a state as a protobuf
// message of package messages, and decoding bytes that do not make a valid
// state returns an error wrapping ErrDecode (it never panics, and leaves the
// receiver unchanged). Values are not safe for concurrent use: a goroutine
// that hands a state to another hands it a Clone.
//
// # Replica IDs
//
// Updates are tagged with the ReplicaID of the replica that makes them:
// dots (replica, counter) for the causal types, a counter slot per replica
// for the counters. A replica must never mint a dot or count in a slot
// that its peers may already hold under the same ID, or merges would
// silently drop its new updates. So a replica ID lives as long as the
// data that knows what it issued: a member whose data is intact keeps its
// ID across restarts (the ring persists the ID, and its payload, with
// every dot it issued, before anyone sees them), and a member whose data
// is lost or unreadable takes a new one (NewReplicaID), as does a process
// that keeps nothing on disk.
//
// The entries of IDs that will never write again (a member removed from
// the ring, a member that lost its data) are folded away by pruning: see
// below.
//
// # Limits
//
// Every decoder (UnmarshalBinary, the *FromProto functions) refuses input
// beyond DefaultLimits, and UnmarshalBinaryLimits takes explicit Limits:
// the length of the encoding, the number of entries of a state (elements,
// keys, dots, slots, prune marks, nested values included), the replicas of
// one clock or counter, the greatest counter (MaxCounter, 2^62) and the
// longest replica ID (MaxReplicaIDLen). A refusal is an error wrapping
// ErrDecode and ErrLimit, a *LimitError that names the limit, the value
// and the maximum, and the receiver is unchanged. So a peer cannot make a
// member allocate without bound, nor push a counter so close to 2^64 that
// the next update wraps. Timestamps of LWW registers are checked where a
// clock is: LWWRegister.CheckTimestamp and Map.CheckTimestamps.
//
// Local updates stay within the value limits, so that a member never holds
// a state that it could not decode after a restart: counter slots saturate
// at MaxCounter, and a replica whose dots reached MaxCounter (only hostile
// input can do that) cannot write: its updates change nothing and return
// an empty delta (VClock.Increment and CausalContext.Next return a dot
// with counter 0), and it should take a new ID. Replica IDs that are empty
// or longer than MaxReplicaIDLen make the update methods panic: they come
// from the program, not from peers. Merges keep the value limits too. The
// size limits (bytes, entries, replicas) cannot be kept by a merge (the
// union of two sets is larger than either): they are set far above what a
// payload may reach, and the ring bounds the payload where it grows.
//
// # Pruning
//
// GCounter, PNCounter, VClock, CausalContext, ORSet, EWFlag, DWFlag,
// MVRegister, Map (and DotKernel) are Prunable: Prune(removed, into) moves the
// contribution of a replica that will never write again into a surviving
// replica, as Akka Distributed Data prunes removed nodes. A counter slot is
// added to into's slot; a live dot of removed (an element of a set, a
// flag's enable, a register's value) is replaced by a new dot of into; a
// version vector or causal context drops removed's entries. The decision
// is part of the state, a PruneMark merged as a grow-only set, and a state
// that holds it ignores removed's entries in every state merged into it
// (a causal context counts every dot of removed as seen), so gossip from
// before the pruning never brings them back and a remove of a re-tagged
// element still works. Merges stay commutative, associative and idempotent
// with pruning interleaved. Prunable states the contract (who prunes, and
// when), and ForgetPruned drops a mark once no older state can arrive, so
// that the state stays bounded as members come and go. A Map prunes by
// having into write again every field that mentions removed (see
// Map.Prune). LWWRegister is not Prunable: it holds the one replica ID of
// its last write, replaced by the next write.
//
// # Deltas
//
// The update methods (ORSet.Add, PNCounter.Increment, MVRegister.Set, ...)
// change the receiver and return a delta: a small state of the same type
// that holds only the effect of the update (Almeida, Shoker and Baquero,
// "Delta State Replicated Data Types", 2018). Merging the delta into any
// replica that has seen the state before the update gives the same result
// as merging the whole new state; deltas merged in another order, or
// grouped by merging them together, still converge once all are delivered.
// A full state is always a valid delta, so code that ignores deltas and
// gossips full states stays correct.
//
// # Causal types
//
// ORSet, EWFlag, DWFlag and MVRegister are built on dots: each update gets a
// new Dot of its replica, a state holds the dots of the updates that are
// still live, and a CausalContext records every dot the state has seen. A
// dot the other side has seen but no longer holds was removed there: that
// is how removes travel without tombstones (DotKernel has the join). A
// CausalContext is a version vector plus a cloud of dots seen out of order;
// it is kept compact, so full states normally have an empty cloud, while
// deltas and states that received deltas out of order may carry one.
//
// # Element and value codec
//
// ORSet elements and register values are encoded one by one: string,
// []byte, bool, the signed and unsigned integer types (varints) and float64
// have a fixed encoding; any other type must implement
// encoding.BinaryMarshaler, and its pointer encoding.BinaryUnmarshaler
// (other types give ErrUnsupportedElement when encoded). The encoding of
// an element must be deterministic and two equal elements must encode
// alike; an ORSet encoding lists its elements sorted by their encoding, so
// equal sets encode to equal bytes. An ORSet writes the replicas of its
// elements' dots once, in a table, and each dot as a pair of varints
// (replica index, counter): some 23 bytes for an element of 14 bytes,
// where a dot that names its replica (about 30 bytes) costs 55.
//
// # Types
//
//   - ORSet: observed-remove set without tombstones, add wins (riak_dt_orswot).
//   - EWFlag and DWFlag: enable-wins and disable-wins flags (riak_dt od_flag
//     and its dual).
//   - MVRegister: multi-value register keeping concurrent writes (riak_dt_mvreg).
//   - GCounter and PNCounter: grow-only and up-down counters.
//   - LWWRegister: last-writer-wins register.
//   - Map: a map of named CRDT fields with observed-remove keys.
//   - VClock, CausalContext, DotKernel: the building blocks of the causal
//     types, exported for user-defined CRDTs.
package crdt
