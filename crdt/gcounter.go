package crdt

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// GCounter is a grow-only counter (riak_dt_gcounter): one slot per replica,
// each slot counting the increments that replica made. Its value is the sum
// of the slots; a merge keeps the greater of each replica's slots.
//
// The zero value is an empty counter, ready to use. A GCounter is not safe
// for concurrent use.
//
// Overflow: a slot, and the sum Value returns, saturate at math.MaxUint64
// rather than wrap. Wrapping would make a slot smaller, and the per-replica
// max of a merge would then discard the increments made since; an error or a
// panic would turn an increment that cannot matter in practice (2^64 events)
// into a failure of the ring. Saturation keeps every slot monotone, so merges
// stay correct.
type GCounter struct {
	// slots is sorted by replica, with no duplicate and no zero value, so
	// that a merge is one linear walk and the encoding needs no sort.
	slots []counterSlot
}

// counterSlot is one replica's count.
type counterSlot struct {
	replica ReplicaID
	value   uint64
}

func compareSlot(s counterSlot, replica ReplicaID) int {
	return cmp.Compare(s.replica, replica)
}

// Increment adds n to replica's slot and returns the delta: a counter that
// holds only replica's new slot, for delta propagation (merge it anywhere
// the full state would go). Incrementing by zero changes nothing and
// returns the current slot, or an empty counter. The slot saturates at
// math.MaxUint64.
//
// Increment panics if replica is empty: such a slot could not be decoded.
func (c *GCounter) Increment(replica ReplicaID, n uint64) *GCounter {
	if replica == "" {
		panic("crdt: GCounter.Increment with an empty replica ID")
	}
	i, found := slices.BinarySearchFunc(c.slots, replica, compareSlot)
	if !found {
		if n == 0 {
			return &GCounter{}
		}
		c.slots = slices.Insert(c.slots, i, counterSlot{replica: replica})
	}
	c.slots[i].value = saturatingAdd(c.slots[i].value, n)
	return &GCounter{slots: []counterSlot{c.slots[i]}}
}

// saturatingAdd returns a+b, or math.MaxUint64 if that overflows.
func saturatingAdd(a, b uint64) uint64 {
	if sum := a + b; sum >= a {
		return sum
	}
	return math.MaxUint64
}

// Value returns the sum of all slots, saturated at math.MaxUint64.
func (c *GCounter) Value() uint64 {
	var sum uint64
	for _, s := range c.slots {
		sum = saturatingAdd(sum, s.value)
	}
	return sum
}

// Slot returns replica's slot: the count of its increments seen here.
func (c *GCounter) Slot(replica ReplicaID) uint64 {
	if i, found := slices.BinarySearchFunc(c.slots, replica, compareSlot); found {
		return c.slots[i].value
	}
	return 0
}

// Len returns the number of replicas with a slot.
func (c *GCounter) Len() int { return len(c.slots) }

// Merge keeps, for every replica, the greater of the two slots, and reports
// whether the receiver changed. It allocates only when other holds replicas
// that the receiver lacks.
func (c *GCounter) Merge(other *GCounter) bool {
	if other == nil || len(other.slots) == 0 {
		return false
	}
	// First pass, in place: raise the slots both hold and count the
	// replicas only other has.
	changed := false
	missing := 0
	mine := c.slots
	i := 0
	for _, theirs := range other.slots {
		// Equality first: counters of one ring mostly hold the same
		// replicas, and equal strings often share their bytes.
		for i < len(mine) && mine[i].replica != theirs.replica && mine[i].replica < theirs.replica {
			i++
		}
		if i < len(mine) && mine[i].replica == theirs.replica {
			if theirs.value > mine[i].value {
				mine[i].value = theirs.value
				changed = true
			}
			i++
			continue
		}
		missing++
	}
	if missing == 0 {
		return changed
	}
	// Second pass: a sorted merge into a new slice that holds the missing
	// replicas too; the common slots are already raised.
	merged := make([]counterSlot, 0, len(mine)+missing)
	i = 0
	for _, theirs := range other.slots {
		for i < len(mine) && mine[i].replica < theirs.replica {
			merged = append(merged, mine[i])
			i++
		}
		if i < len(mine) && mine[i].replica == theirs.replica {
			merged = append(merged, mine[i])
			i++
			continue
		}
		merged = append(merged, theirs)
	}
	merged = append(merged, mine[i:]...)
	c.slots = merged
	return true
}

// Equal reports whether both counters hold the same slots.
func (c *GCounter) Equal(other *GCounter) bool {
	if c == nil || other == nil {
		return (c == nil || len(c.slots) == 0) && (other == nil || len(other.slots) == 0)
	}
	return slices.Equal(c.slots, other.slots)
}

// Clone returns a deep copy.
func (c *GCounter) Clone() *GCounter {
	return &GCounter{slots: slices.Clone(c.slots)}
}

// ToProto returns the protobuf encoding of the counter, slots sorted by
// replica.
func (c *GCounter) ToProto() *messages.GCounter {
	if len(c.slots) == 0 {
		return &messages.GCounter{}
	}
	// One allocation for all the dots rather than one per slot.
	dots := make([]messages.Dot, len(c.slots))
	ptrs := make([]*messages.Dot, len(c.slots))
	for i, s := range c.slots {
		dots[i].Replica = string(s.replica)
		dots[i].Counter = s.value
		ptrs[i] = &dots[i]
	}
	return &messages.GCounter{Slots: ptrs}
}

// GCounterFromProto decodes a counter. The slots may come in any order; a
// nil message is an empty counter. It fails, with an error wrapping
// ErrDecode, on a slot with no replica, a slot of zero, or two slots of one
// replica.
func GCounterFromProto(pb *messages.GCounter) (*GCounter, error) {
	pbSlots := pb.GetSlots()
	if len(pbSlots) == 0 {
		return &GCounter{}, nil
	}
	slots := make([]counterSlot, len(pbSlots))
	for i, d := range pbSlots {
		if d.GetReplica() == "" {
			return nil, fmt.Errorf("%w: GCounter slot %d: empty replica", ErrDecode, i)
		}
		if d.GetCounter() == 0 {
			return nil, fmt.Errorf("%w: GCounter slot %d (replica %q): zero slot", ErrDecode, i, d.GetReplica())
		}
		slots[i] = counterSlot{replica: ReplicaID(d.GetReplica()), value: d.GetCounter()}
	}
	byReplica := func(a, b counterSlot) int { return cmp.Compare(a.replica, b.replica) }
	if !slices.IsSortedFunc(slots, byReplica) {
		slices.SortFunc(slots, byReplica)
	}
	for i := 1; i < len(slots); i++ {
		if slots[i].replica == slots[i-1].replica {
			return nil, fmt.Errorf("%w: GCounter: duplicate replica slot %q", ErrDecode, slots[i].replica)
		}
	}
	return &GCounter{slots: slots}, nil
}

// MarshalBinary encodes the counter as a messages.GCounter.
func (c *GCounter) MarshalBinary() ([]byte, error) {
	return proto.Marshal(c.ToProto())
}

// UnmarshalBinary replaces the counter with the decoded messages.GCounter.
// On error the counter is unchanged.
func (c *GCounter) UnmarshalBinary(data []byte) error {
	var pb messages.GCounter
	if err := proto.Unmarshal(data, &pb); err != nil {
		return fmt.Errorf("%w: GCounter: %v", ErrDecode, err)
	}
	decoded, err := GCounterFromProto(&pb)
	if err != nil {
		return err
	}
	*c = *decoded
	return nil
}

// String returns the counter's value, for logs.
func (c *GCounter) String() string {
	return fmt.Sprintf("GCounter(%d)", c.Value())
}
