package crdt

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
)

// ReplicaID names one replica for as long as its data lives: the updates it
// makes are tagged with dots (replica, counter) or counter slots keyed by
// it. A process that restarts with its data intact (the highest dot it
// issued is on disk before anyone sees it) keeps its ID; one whose data is
// lost must take a new one: its counters would start again from zero, so
// reusing the ID would mint dots that peers already hold, and a merge
// would swallow the new updates. A replica ID is at most MaxReplicaIDLen
// bytes.
type ReplicaID string

// NewReplicaID returns a fresh replica ID for node (a host:port address): the
// node followed by '#' and 64 random bits, so that a process on the same
// address that lost its data gets an ID no earlier life used.
func NewReplicaID(node string) ReplicaID {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ panics
		// inside rand.Read instead); keep the error path for clarity.
		panic("crdt: crypto/rand failed: " + err.Error())
	}
	return ReplicaID(node + "#" + hex.EncodeToString(b[:]))
}

// CRDT is the small contract every type of this package satisfies and that
// the ring is generic over: a user's own type that satisfies it can serve as
// a ring payload too. P is the pointer type itself, e.g. *PNCounter.
//
// Implementations must make Merge commutative, associative and idempotent up
// to Equal.
type CRDT[P any] interface {
	// New returns a new empty state of the same type. It must not read its
	// receiver, so that it can be called on a nil P: the ring makes its
	// payloads (the empty initial state, states decoded from gossip) from
	// P's zero value, as riak_dt's behaviour has new().
	New() P
	// Merge folds other into the receiver, leaving other unchanged, and
	// reports whether the receiver's state changed.
	Merge(other P) (changed bool)
	// Equal reports whether the two states are the same.
	Equal(other P) bool
	// Clone returns a deep copy that shares nothing with the receiver.
	Clone() P
	// MarshalBinary encodes the state (a protobuf message of package
	// messages for the types of this package).
	MarshalBinary() ([]byte, error)
	// UnmarshalBinary replaces the receiver's state with the decoded one,
	// refusing input beyond DefaultLimits. On error the receiver is left
	// unchanged.
	UnmarshalBinary(data []byte) error
}

// ErrDecode is wrapped by every decoding error of this package.
var ErrDecode = errors.New("crdt: decode")

// ErrUnsupportedElement is returned when an element or register value type
// has no encoding: see the element codec rules in the package documentation.
var ErrUnsupportedElement = errors.New("crdt: unsupported element type")
