package crdt

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// PNCounter is a counter that counts up and down (riak_dt_pncounter): two
// grow-only counters, one of increments and one of decrements, whose
// difference is the value.
//
// The zero value is a counter at zero, ready to use. A PNCounter is not safe
// for concurrent use. Slots saturate as GCounter's do, and Value clamps to
// the range of int64.
type PNCounter struct {
	inc GCounter
	dec GCounter
}

// Increment adds n for replica and returns the delta (replica's new
// increment slot). It panics if replica is empty.
func (c *PNCounter) Increment(replica ReplicaID, n uint64) *PNCounter {
	return &PNCounter{inc: *c.inc.Increment(replica, n)}
}

// Decrement subtracts n for replica and returns the delta (replica's new
// decrement slot). It panics if replica is empty.
func (c *PNCounter) Decrement(replica ReplicaID, n uint64) *PNCounter {
	return &PNCounter{dec: *c.dec.Increment(replica, n)}
}

// Value returns the increments minus the decrements, clamped to
// [math.MinInt64, math.MaxInt64].
func (c *PNCounter) Value() int64 {
	up, down := c.inc.Value(), c.dec.Value()
	if up >= down {
		return int64(min(up-down, math.MaxInt64))
	}
	if d := down - up; d < 1<<63 {
		return -int64(d)
	}
	return math.MinInt64
}

// Increments returns the grow-only counter of the increments. It is the
// counter's own state: do not modify it.
func (c *PNCounter) Increments() *GCounter { return &c.inc }

// Decrements returns the grow-only counter of the decrements. It is the
// counter's own state: do not modify it.
func (c *PNCounter) Decrements() *GCounter { return &c.dec }

// Merge merges the increments and the decrements separately and reports
// whether the receiver changed.
func (c *PNCounter) Merge(other *PNCounter) bool {
	if other == nil {
		return false
	}
	incChanged := c.inc.Merge(&other.inc)
	decChanged := c.dec.Merge(&other.dec)
	return incChanged || decChanged
}

// Equal reports whether both counters hold the same slots.
func (c *PNCounter) Equal(other *PNCounter) bool {
	if c == nil || other == nil {
		return c.isEmpty() && other.isEmpty()
	}
	return c.inc.Equal(&other.inc) && c.dec.Equal(&other.dec)
}

func (c *PNCounter) isEmpty() bool {
	return c == nil || len(c.inc.slots) == 0 && len(c.dec.slots) == 0
}

// Clone returns a deep copy.
func (c *PNCounter) Clone() *PNCounter {
	return &PNCounter{inc: *c.inc.Clone(), dec: *c.dec.Clone()}
}

// ToProto returns the protobuf encoding of the counter. An empty half is
// left out (nil).
func (c *PNCounter) ToProto() *messages.PNCounter {
	var pb messages.PNCounter
	if len(c.inc.slots) > 0 {
		pb.Inc = c.inc.ToProto()
	}
	if len(c.dec.slots) > 0 {
		pb.Dec = c.dec.ToProto()
	}
	return &pb
}

// PNCounterFromProto decodes a counter; a nil message or half is empty. It
// fails, with an error wrapping ErrDecode, where GCounterFromProto fails on
// either half.
func PNCounterFromProto(pb *messages.PNCounter) (*PNCounter, error) {
	inc, err := GCounterFromProto(pb.GetInc())
	if err != nil {
		return nil, fmt.Errorf("PNCounter increments: %w", err)
	}
	dec, err := GCounterFromProto(pb.GetDec())
	if err != nil {
		return nil, fmt.Errorf("PNCounter decrements: %w", err)
	}
	return &PNCounter{inc: *inc, dec: *dec}, nil
}

// MarshalBinary encodes the counter as a messages.PNCounter.
func (c *PNCounter) MarshalBinary() ([]byte, error) {
	return proto.Marshal(c.ToProto())
}

// UnmarshalBinary replaces the counter with the decoded messages.PNCounter.
// On error the counter is unchanged.
func (c *PNCounter) UnmarshalBinary(data []byte) error {
	var pb messages.PNCounter
	if err := proto.Unmarshal(data, &pb); err != nil {
		return fmt.Errorf("%w: PNCounter: %v", ErrDecode, err)
	}
	decoded, err := PNCounterFromProto(&pb)
	if err != nil {
		return err
	}
	*c = *decoded
	return nil
}

// String returns the counter's value, for logs.
func (c *PNCounter) String() string {
	return fmt.Sprintf("PNCounter(%d)", c.Value())
}
