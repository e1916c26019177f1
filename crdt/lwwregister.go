package crdt

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// LWWRegister is a last-writer-wins register (riak_dt_lwwreg): it holds the
// value of the write with the greatest (timestamp, replica) pair. The
// timestamp is the caller's (typically Unix nanoseconds); the replica breaks
// ties between equal timestamps.
//
// Two writes with the same timestamp and replica but different values (a
// replica that reuses a timestamp) are ordered by their encoded values,
// compared bytewise: the greater encoding wins. The order (timestamp,
// replica, encoding) is total, so merges are deterministic and commutative
// whatever the writers did.
//
// V follows the element codec rules of this package (see encodeValue):
// strings, []byte, bools, integers, float64, or a type that implements
// encoding.BinaryMarshaler and, on its pointer, encoding.BinaryUnmarshaler.
//
// Values are treated as immutable: the register keeps the value given to Set
// and Value returns it without copying, so do not modify a []byte (or other
// reference value) after Set or after reading it. Clone copies.
//
// The zero value is an unset register, ready to use. An LWWRegister is not
// safe for concurrent use.
type LWWRegister[V any] struct {
	value     V
	encoded   []byte // encodeValue(value), the tie-break and the wire form
	encodeErr error  // why value could not be encoded, if it could not
	timestamp int64
	replica   ReplicaID
	set       bool
}

// Set writes v at timestamp on behalf of replica, if (timestamp, replica,
// encoding of v) is greater than the current write, and returns the delta:
// a register holding this write (merge it anywhere the full state would go).
//
// If v cannot be encoded (a type outside the codec rules, or a marshaler
// that fails), the register still holds it, and MarshalBinary and ToProto
// report the error until a later write replaces it.
//
// Set panics if replica is empty or longer than MaxReplicaIDLen: such a
// write could not be decoded.
func (r *LWWRegister[V]) Set(replica ReplicaID, timestamp int64, v V) *LWWRegister[V] {
	mustBeLocalReplica(replica, "LWWRegister.Set")
	encoded, err := encodeValue(v)
	write := &LWWRegister[V]{
		value:     v,
		encoded:   encoded,
		encodeErr: err,
		timestamp: timestamp,
		replica:   replica,
		set:       true,
	}
	r.Merge(write)
	return write
}

// Value returns the register's value and whether any write was made.
func (r *LWWRegister[V]) Value() (V, bool) {
	return r.value, r.set
}

// Timestamp returns the timestamp of the winning write, or 0 if unset.
func (r *LWWRegister[V]) Timestamp() int64 { return r.timestamp }

// Replica returns the replica of the winning write, or "" if unset.
func (r *LWWRegister[V]) Replica() ReplicaID { return r.replica }

// CheckTimestamp fails, with an error wrapping ErrLimit (a *LimitError
// whose Value and Max are nanoseconds), if the register's write is dated
// more than maxSkew after now, reading the timestamp as Unix nanoseconds.
// An unset register passes.
//
// The package has no clock, so decoding cannot check this; whoever
// receives a state from a peer and has a clock (the ring) checks it before
// merging. Without the check, one write from a peer whose clock is far
// ahead, or that lies, would beat every write made until then.
func (r *LWWRegister[V]) CheckTimestamp(now time.Time, maxSkew time.Duration) error {
	if !r.set {
		return nil
	}
	return checkFutureTimestamp(r.timestamp, now, maxSkew, "LWWRegister")
}

// compare orders two set registers by (timestamp, replica, encoding).
func (r *LWWRegister[V]) compare(other *LWWRegister[V]) int {
	if c := cmp.Compare(r.timestamp, other.timestamp); c != 0 {
		return c
	}
	if c := cmp.Compare(r.replica, other.replica); c != 0 {
		return c
	}
	return bytes.Compare(r.encoded, other.encoded)
}

// Merge keeps the greater write and reports whether the receiver changed.
// The receiver then shares other's value (see the note on immutability).
func (r *LWWRegister[V]) Merge(other *LWWRegister[V]) bool {
	if other == nil || !other.set {
		return false
	}
	if r.set && r.compare(other) >= 0 {
		return false
	}
	*r = *other
	return true
}

// Equal reports whether both registers are unset, or hold the same write
// (the same timestamp, replica and encoded value).
func (r *LWWRegister[V]) Equal(other *LWWRegister[V]) bool {
	rSet := r != nil && r.set
	otherSet := other != nil && other.set
	if !rSet || !otherSet {
		return rSet == otherSet
	}
	return r.compare(other) == 0
}

// New returns a new empty LWWRegister; it reads nothing of its receiver, so
// it may be called on a nil *LWWRegister (the ring makes payloads so).
func (*LWWRegister[V]) New() *LWWRegister[V] { return new(LWWRegister[V]) }

// Clone returns a deep copy: the value is decoded afresh from its encoding,
// so that a []byte or a marshalable type shares no memory with the
// receiver. A value without an encoding is copied as is.
func (r *LWWRegister[V]) Clone() *LWWRegister[V] {
	c := *r
	c.encoded = bytes.Clone(r.encoded)
	if r.set && r.encodeErr == nil {
		if v, err := decodeValue[V](r.encoded); err == nil {
			c.value = v
		}
	}
	return &c
}

// ToProto returns the protobuf encoding of the register, or the error that
// kept its value from being encoded (wrapping ErrUnsupportedElement for a
// type outside the codec rules).
func (r *LWWRegister[V]) ToProto() (*messages.LWWRegister, error) {
	if !r.set {
		return &messages.LWWRegister{}, nil
	}
	if r.encodeErr != nil {
		return nil, fmt.Errorf("crdt: LWWRegister value: %w", r.encodeErr)
	}
	return &messages.LWWRegister{
		Value:     r.encoded,
		Timestamp: r.timestamp,
		Replica:   string(r.replica),
		Set:       true,
	}, nil
}

// LWWRegisterFromProto decodes a register under DefaultLimits; a nil
// message is unset. It fails, with an error wrapping ErrDecode, on a set
// register with no replica or (wrapping ErrLimit) one too long, an unset
// register that carries a value, timestamp or replica, or a value that
// does not decode as a V (also wrapping ErrUnsupportedElement if V has no
// codec). It does not check the timestamp: see CheckTimestamp.
func LWWRegisterFromProto[V any](pb *messages.LWWRegister) (*LWWRegister[V], error) {
	return lwwregisterFromProto[V](pb, defaultBudget())
}

func lwwregisterFromProto[V any](pb *messages.LWWRegister, b *budget) (*LWWRegister[V], error) {
	if !pb.GetSet() {
		if len(pb.GetValue()) != 0 || pb.GetTimestamp() != 0 || pb.GetReplica() != "" {
			return nil, fmt.Errorf("%w: LWWRegister: unset register carries a value, timestamp or replica", ErrDecode)
		}
		return &LWWRegister[V]{}, nil
	}
	if pb.GetReplica() == "" {
		return nil, fmt.Errorf("%w: LWWRegister: empty replica", ErrDecode)
	}
	if err := b.replica(pb.GetReplica(), "LWWRegister"); err != nil {
		return nil, err
	}
	if err := b.take(1, "LWWRegister"); err != nil {
		return nil, err
	}
	encoded := bytes.Clone(pb.GetValue())
	v, err := decodeValue[V](encoded)
	if err != nil {
		if !errors.Is(err, ErrDecode) {
			err = fmt.Errorf("%w: %w", ErrDecode, err)
		}
		return nil, fmt.Errorf("LWWRegister: %w", err)
	}
	return &LWWRegister[V]{
		value:     v,
		encoded:   encoded,
		timestamp: pb.GetTimestamp(),
		replica:   ReplicaID(pb.GetReplica()),
		set:       true,
	}, nil
}

// MarshalBinary encodes the register as a messages.LWWRegister.
func (r *LWWRegister[V]) MarshalBinary() ([]byte, error) {
	pb, err := r.ToProto()
	if err != nil {
		return nil, err
	}
	return proto.Marshal(pb)
}

// UnmarshalBinary replaces the register with the decoded
// messages.LWWRegister, under DefaultLimits. On error the register is
// unchanged.
func (r *LWWRegister[V]) UnmarshalBinary(data []byte) error {
	return r.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (r *LWWRegister[V]) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	return unmarshalLimited(data, limits, "LWWRegister", r, lwwregisterFromProto[V])
}

// String returns the register's value and write, for logs.
func (r *LWWRegister[V]) String() string {
	if !r.set {
		return "LWWRegister(unset)"
	}
	return fmt.Sprintf("LWWRegister(%v @%d by %s)", r.value, r.timestamp, r.replica)
}
