package crdt

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
)

// MaxCounter is the greatest dot counter and the greatest counter slot a
// state may hold. Decoders refuse anything above it, and local updates
// never go past it (see Limits.MaxCounter for why it is 2^62 and not
// 2^64-1).
const MaxCounter uint64 = 1 << 62

// MaxReplicaIDLen is the longest replica ID, in bytes, that a state may
// hold: a host name of 253 bytes, a port and the 17 bytes NewReplicaID
// adds fit with room to spare.
const MaxReplicaIDLen = 512

// Limits bounds what a decoder accepts, so that bytes from a peer (or a
// damaged file) cannot make a member allocate without bound, nor hold a
// counter so close to 2^64 that the next update wraps.
//
// A zero field means the value of DefaultLimits for it, so that a caller
// sets only what it changes:
//
//	limits := crdt.Limits{MaxBytes: 1 << 20}
//	err := set.UnmarshalBinaryLimits(data, limits)
//
// Every UnmarshalBinary and every *FromProto function of the package
// enforces DefaultLimits; UnmarshalBinaryLimits (see LimitedUnmarshaler)
// takes explicit ones. A refused input gives an error wrapping both
// ErrDecode and ErrLimit, as a *LimitError that names the limit.
//
// The value limits (MaxCounter, MaxReplicaIDLen, MaxMapDepth) are closed
// under Merge: the merge of states that decode is a state that decodes,
// and local updates stay within them too, so a member never holds a state
// that it could not read back after a restart. The size limits (MaxBytes,
// MaxEntries, MaxReplicas) are not: a set grows with every Add and the
// merge of two sets holds the elements of both. Keep them well above what
// a payload may legitimately reach, and bound the payload where it grows
// (the ring refuses an update whose payload would not fit in a message).
type Limits struct {
	// MaxBytes is the longest encoding UnmarshalBinaryLimits accepts, in
	// bytes. It is checked before anything is allocated. *FromProto
	// functions receive an already decoded message and do not check it.
	// Default 64 MiB: above the transport's largest message (gRPC's 4 MB
	// by default), so it only matters for files.
	MaxBytes int
	// MaxEntries is the largest number of entries in one state, counted
	// over the whole state, nested Map fields included: elements and keys,
	// dots (of elements, keys, registers, flags, causal context clocks and
	// clouds), counter slots and pruning marks. Default 1<<20 (about a
	// million: a set of a million elements encodes to some 60 MB).
	MaxEntries int
	// MaxReplicas is the largest number of distinct replicas in one
	// version vector, causal context (clock and cloud together) or
	// grow-only counter (each half of a PNCounter), pruning marks
	// included. Default 4096: a ring holds one replica per member life
	// that has written and not yet been pruned.
	MaxReplicas int
	// MaxCounter is the greatest dot counter or counter slot accepted.
	// Default, and greatest value that has an effect, the constant
	// MaxCounter (2^62). The margin below 2^64 is what keeps a hostile
	// value from breaking the member that accepts it: a counter is only
	// ever raised (a merge keeps the greater slot, a new dot is the
	// highest seen plus one), so a slot at 2^64-1 could never be
	// incremented again, or would wrap to 0 and make the new dot look
	// older than every dot its peers hold. Below 2^62, 2^62 more updates
	// fit (146 years at a billion a second), sums of a few slots still fit
	// in an int64, and a local update never produces a state that a
	// decoder refuses.
	MaxCounter uint64
	// MaxReplicaIDLen is the longest replica ID accepted, in bytes.
	// Default, and greatest value that has an effect, the constant
	// MaxReplicaIDLen (512).
	MaxReplicaIDLen int
}

// DefaultLimits returns the limits that UnmarshalBinary and the
// *FromProto functions enforce: see each field of Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:        64 << 20,
		MaxEntries:      1 << 20,
		MaxReplicas:     4096,
		MaxCounter:      MaxCounter,
		MaxReplicaIDLen: MaxReplicaIDLen,
	}
}

// withDefaults fills the zero fields from DefaultLimits and caps the value
// limits at the package's constants.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxReplicas <= 0 {
		l.MaxReplicas = d.MaxReplicas
	}
	if l.MaxCounter == 0 || l.MaxCounter > MaxCounter {
		l.MaxCounter = MaxCounter
	}
	if l.MaxReplicaIDLen <= 0 || l.MaxReplicaIDLen > MaxReplicaIDLen {
		l.MaxReplicaIDLen = MaxReplicaIDLen
	}
	return l
}

// ErrLimit is wrapped by every error that refuses a value beyond a limit:
// a decoder's (with ErrDecode, see Limits), CheckTimestamp's, and Prune's
// when a counter would pass MaxCounter.
var ErrLimit = errors.New("crdt: limit exceeded")

// LimitError says which limit a value exceeded. It wraps ErrLimit, and
// ErrDecode too when a decoder refused the value.
type LimitError struct {
	// Limit names the limit: "bytes", "entries", "replicas", "counter",
	// "replica ID length", "timestamp skew".
	Limit string
	// Where names what held the value: "GCounter", "causal context", ...
	Where string
	// Value is the value found and Max the greatest allowed, in the unit
	// of the limit (bytes, entries, nanoseconds, ...).
	Value, Max uint64
	// Decode is true when a decoder refused the value.
	Decode bool
}

func (e *LimitError) Error() string {
	prefix := "crdt: "
	if e.Decode {
		prefix = "crdt: decode: "
	}
	return fmt.Sprintf("%s%s: %s %d exceeds the limit %d", prefix, e.Where, e.Limit, e.Value, e.Max)
}

// Unwrap makes errors.Is(err, ErrLimit) hold, and errors.Is(err,
// ErrDecode) for a decoder's refusal.
func (e *LimitError) Unwrap() []error {
	if e.Decode {
		return []error{ErrDecode, ErrLimit}
	}
	return []error{ErrLimit}
}

// LimitedUnmarshaler is implemented by every CRDT of the package:
// UnmarshalBinaryLimits is UnmarshalBinary with explicit limits instead of
// DefaultLimits. On error the receiver is unchanged.
type LimitedUnmarshaler interface {
	UnmarshalBinaryLimits(data []byte, limits Limits) error
}

// The types that implement LimitedUnmarshaler.
var (
	_ LimitedUnmarshaler = (*GCounter)(nil)
	_ LimitedUnmarshaler = (*PNCounter)(nil)
	_ LimitedUnmarshaler = (*VClock)(nil)
	_ LimitedUnmarshaler = (*CausalContext)(nil)
	_ LimitedUnmarshaler = (*ORSet[string])(nil)
	_ LimitedUnmarshaler = (*EWFlag)(nil)
	_ LimitedUnmarshaler = (*DWFlag)(nil)
	_ LimitedUnmarshaler = (*MVRegister[string])(nil)
	_ LimitedUnmarshaler = (*LWWRegister[string])(nil)
	_ LimitedUnmarshaler = (*Map)(nil)
)

// budget is what is left of the limits while one state is decoded: every
// decoder of the package takes one, and nested values share their
// parent's, so that MaxEntries bounds the whole state.
type budget struct {
	limits  Limits
	entries int // counted so far
}

func newBudget(limits Limits) *budget {
	return &budget{limits: limits.withDefaults()}
}

// defaultBudget is the budget of the *FromProto functions.
func defaultBudget() *budget { return newBudget(DefaultLimits()) }

func limitError(limit, where string, value, maximum uint64) error {
	return &LimitError{Limit: limit, Where: where, Value: value, Max: maximum, Decode: true}
}

// bytes checks the length of an encoding.
func (b *budget) bytes(n int, where string) error {
	if n > b.limits.MaxBytes {
		return limitError("bytes", where, uint64(n), uint64(b.limits.MaxBytes))
	}
	return nil
}

// take counts n more entries.
func (b *budget) take(n int, where string) error {
	b.entries += n
	if b.entries > b.limits.MaxEntries || b.entries < 0 {
		return limitError("entries", where, uint64(b.entries), uint64(b.limits.MaxEntries))
	}
	return nil
}

// replicas checks the number of distinct replicas of one clock or counter.
func (b *budget) replicas(n int, where string) error {
	if n > b.limits.MaxReplicas {
		return limitError("replicas", where, uint64(n), uint64(b.limits.MaxReplicas))
	}
	return nil
}

// counter checks one dot counter or counter slot.
func (b *budget) counter(v uint64, where string) error {
	if v > b.limits.MaxCounter {
		return limitError("counter", where, v, b.limits.MaxCounter)
	}
	return nil
}

// replica checks the length of one replica ID.
func (b *budget) replica(id string, where string) error {
	if len(id) > b.limits.MaxReplicaIDLen {
		return limitError("replica ID length", where, uint64(len(id)), uint64(b.limits.MaxReplicaIDLen))
	}
	return nil
}

// unmarshalLimited is the body of every UnmarshalBinaryLimits: check the
// length, decode the message M, convert it with fromProto under the
// limits, and overwrite *dst only on success.
func unmarshalLimited[M any, PM interface {
	*M
	proto.Message
}, T any](data []byte, limits Limits, where string, dst *T, fromProto func(PM, *budget) (*T, error)) error {
	b := newBudget(limits)
	if err := b.bytes(len(data), where); err != nil {
		return err
	}
	m := PM(new(M))
	if err := proto.Unmarshal(data, m); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrDecode, where, err)
	}
	decoded, err := fromProto(m, b)
	if err != nil {
		return err
	}
	*dst = *decoded
	return nil
}

// mustBeLocalReplica panics unless replica can tag a local update: an
// empty or too long ID could not be decoded again. Replica IDs come from
// the program (NewReplicaID), not from peers, so this is a programming
// error.
func mustBeLocalReplica(replica ReplicaID, what string) {
	if replica == "" {
		panic("crdt: " + what + " with an empty replica ID")
	}
	if len(replica) > MaxReplicaIDLen {
		panic(fmt.Sprintf("crdt: %s with a replica ID of %d bytes (at most %d)", what, len(replica), MaxReplicaIDLen))
	}
}

// checkFutureTimestamp refuses a timestamp (Unix nanoseconds) more than
// maxSkew after now.
func checkFutureTimestamp(timestamp int64, now time.Time, maxSkew time.Duration, where string) error {
	limit := now.Add(maxSkew).UnixNano()
	if timestamp > limit {
		return &LimitError{Limit: "timestamp skew", Where: where,
			Value: uint64(time.Duration(timestamp - now.UnixNano())), Max: uint64(maxSkew)}
	}
	return nil
}
