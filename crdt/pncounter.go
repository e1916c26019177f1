package crdt

import (
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// PNCounter is a counter that counts up and down (riak_dt_pncounter): two
// grow-only counters, one of increments and one of decrements, whose
// difference is the value.
//
// The zero value is a counter at zero, ready to use. A PNCounter is not safe
// for concurrent use. Slots saturate as GCounter's do (at MaxCounter), and
// Value clamps to the range of int64. A PNCounter is Prunable: both halves
// are pruned together.
type PNCounter struct {
	inc GCounter
	dec GCounter
}

// Increment adds n for replica and returns the delta (replica's new
// increment slot). It panics if replica is empty or too long; a pruned
// replica changes nothing.
func (c *PNCounter) Increment(replica ReplicaID, n uint64) *PNCounter {
	return &PNCounter{inc: *c.inc.Increment(replica, n)}
}

// Decrement subtracts n for replica and returns the delta (replica's new
// decrement slot). It panics if replica is empty or too long; a pruned
// replica changes nothing.
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
	return c == nil || c.inc.isEmpty() && c.dec.isEmpty()
}

// Prune moves removed's increments and decrements into into's and marks
// removed as pruned in both halves (see Prunable for the contract), and
// returns the delta. It fails, changing nothing, where GCounter.Prune
// fails on either half.
func (c *PNCounter) Prune(removed, into ReplicaID) (*PNCounter, error) {
	// Check both halves before changing either.
	for _, half := range []*GCounter{&c.inc, &c.dec} {
		if _, err := half.checkPrune(removed, into); err != nil {
			return &PNCounter{}, fmt.Errorf("PNCounter: %w", err)
		}
	}
	inc, _ := c.inc.Prune(removed, into)
	dec, _ := c.dec.Prune(removed, into)
	return &PNCounter{inc: *inc, dec: *dec}, nil
}

// Pruned returns the prune marks of either half, sorted by removed replica.
func (c *PNCounter) Pruned() []PruneMark {
	marks, _ := c.inc.pruned.union(c.dec.pruned)
	return slices.Clone(marks)
}

// ForgetPruned drops the mark of removed in both halves (see Prunable).
func (c *PNCounter) ForgetPruned(removed ReplicaID) bool {
	inc := c.inc.ForgetPruned(removed)
	dec := c.dec.ForgetPruned(removed)
	return inc || dec
}

// Replicas returns the replicas with a slot in either half, sorted.
func (c *PNCounter) Replicas() []ReplicaID {
	replicas := append(c.inc.Replicas(), c.dec.Replicas()...)
	slices.Sort(replicas)
	return slices.Compact(replicas)
}

// New returns a new empty PNCounter; it reads nothing of its receiver, so
// it may be called on a nil *PNCounter (the ring makes payloads so).
func (*PNCounter) New() *PNCounter { return new(PNCounter) }

// Clone returns a deep copy.
func (c *PNCounter) Clone() *PNCounter {
	return &PNCounter{inc: *c.inc.Clone(), dec: *c.dec.Clone()}
}

// ToProto returns the protobuf encoding of the counter. An empty half is
// left out (nil).
func (c *PNCounter) ToProto() *messages.PNCounter {
	var pb messages.PNCounter
	if !c.inc.isEmpty() {
		pb.Inc = c.inc.ToProto()
	}
	if !c.dec.isEmpty() {
		pb.Dec = c.dec.ToProto()
	}
	return &pb
}

// PNCounterFromProto decodes a counter under DefaultLimits; a nil message
// or half is empty. It fails, with an error wrapping ErrDecode, where
// GCounterFromProto fails on either half (the entries of both halves count
// towards one MaxEntries).
func PNCounterFromProto(pb *messages.PNCounter) (*PNCounter, error) {
	return pncounterFromProto(pb, defaultBudget())
}

func pncounterFromProto(pb *messages.PNCounter, b *budget) (*PNCounter, error) {
	inc, err := gcounterFromProto(pb.GetInc(), b)
	if err != nil {
		return nil, fmt.Errorf("PNCounter increments: %w", err)
	}
	dec, err := gcounterFromProto(pb.GetDec(), b)
	if err != nil {
		return nil, fmt.Errorf("PNCounter decrements: %w", err)
	}
	return &PNCounter{inc: *inc, dec: *dec}, nil
}

// MarshalBinary encodes the counter as a messages.PNCounter.
func (c *PNCounter) MarshalBinary() ([]byte, error) {
	return proto.Marshal(c.ToProto())
}

// UnmarshalBinary replaces the counter with the decoded messages.PNCounter,
// under DefaultLimits. On error the counter is unchanged.
func (c *PNCounter) UnmarshalBinary(data []byte) error {
	return c.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (c *PNCounter) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	return unmarshalLimited(data, limits, "PNCounter", c, pncounterFromProto)
}

// String returns the counter's value, for logs.
func (c *PNCounter) String() string {
	return fmt.Sprintf("PNCounter(%d)", c.Value())
}
