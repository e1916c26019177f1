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
// for the counters. A replica's counters start from zero when its process
// starts, so a restarted process must take a new ID (NewReplicaID): with its
// old one it would mint dots that its peers have already seen, and the
// merges would silently drop its new updates. Replica IDs are never reused
// across lives; their entries accumulate in version vectors and counters
// (pruning them is future work).
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
// equal sets encode to equal bytes.
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
