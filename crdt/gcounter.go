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
// Overflow: a slot saturates at MaxCounter (2^62) rather than wrap or go
// beyond it, and Value saturates at math.MaxUint64. Wrapping would make a
// slot smaller, and the per-replica max of a merge would then discard the
// increments made since; a slot above MaxCounter would be refused by every
// decoder, the member's own after a restart included; an error or a panic
// would turn an increment that cannot happen in practice (2^62 events, 146
// years at a billion a second) into a failure of the ring. Saturation
// keeps every slot monotone and decodable, so merges stay correct. A slot
// can reach MaxCounter only through a caller that increments by huge
// amounts: Increment of a large n is the case to guard against.
//
// A GCounter is Prunable: the slot of a replica that will never write
// again moves into a surviving replica's slot.
type GCounter struct {
	// slots is sorted by replica, with no duplicate and no zero value, so
	// that a merge is one linear walk and the encoding needs no sort.
	slots []counterSlot
	// pruned marks the replicas whose slots were folded into others:
	// none of them has a slot.
	pruned pruneSet
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
// MaxCounter. A replica that was pruned never writes again: incrementing
// it changes nothing and returns an empty counter.
//
// Increment panics if replica is empty or longer than MaxReplicaIDLen:
// such a slot could not be decoded.
func (c *GCounter) Increment(replica ReplicaID, n uint64) *GCounter {
	mustBeLocalReplica(replica, "GCounter.Increment")
	if c.pruned.has(replica) {
		return &GCounter{}
	}
	i, found := slices.BinarySearchFunc(c.slots, replica, compareSlot)
	if !found {
		if n == 0 {
			return &GCounter{}
		}
		c.slots = slices.Insert(c.slots, i, counterSlot{replica: replica})
	}
	c.slots[i].value = min(saturatingAdd(c.slots[i].value, n), MaxCounter)
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
// whether the receiver changed. The prune marks are joined, and no replica
// pruned on either side keeps a slot. It allocates only when other holds
// replicas or marks that the receiver lacks.
func (c *GCounter) Merge(other *GCounter) bool {
	if other == nil {
		return false
	}
	var marksChanged bool
	c.pruned, marksChanged = c.pruned.union(other.pruned)
	changed := c.mergeSlots(other)
	if marksChanged {
		c.dropPruned()
		changed = true
	}
	return changed
}

// dropPruned removes the slots of pruned replicas.
func (c *GCounter) dropPruned() {
	if len(c.pruned) == 0 {
		return
	}
	kept := c.slots[:0:0]
	for _, s := range c.slots {
		if !c.pruned.has(s.replica) {
			kept = append(kept, s)
		}
	}
	if len(kept) == len(c.slots) {
		return
	}
	c.slots = kept
}

// mergeSlots raises c's slots to other's, skipping replicas c has pruned.
func (c *GCounter) mergeSlots(other *GCounter) bool {
	if len(other.slots) == 0 {
		return false
	}
	skip := func(replica ReplicaID) bool { return len(c.pruned) > 0 && c.pruned.has(replica) }
	// First pass, in place: raise the slots both hold and count the
	// replicas only other has.
	changed := false
	missing := 0
	mine := c.slots
	i := 0
	for _, theirs := range other.slots {
		if skip(theirs.replica) {
			continue
		}
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
		if skip(theirs.replica) {
			continue
		}
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

// Equal reports whether both counters hold the same slots and prune marks.
func (c *GCounter) Equal(other *GCounter) bool {
	if c == nil || other == nil {
		return c.isEmpty() && other.isEmpty()
	}
	return slices.Equal(c.slots, other.slots) && slices.Equal(c.pruned, other.pruned)
}

func (c *GCounter) isEmpty() bool {
	return c == nil || len(c.slots) == 0 && len(c.pruned) == 0
}

// New returns a new empty GCounter; it reads nothing of its receiver, so
// it may be called on a nil *GCounter (the ring makes payloads so).
func (*GCounter) New() *GCounter { return new(GCounter) }

// Clone returns a deep copy.
func (c *GCounter) Clone() *GCounter {
	return &GCounter{slots: slices.Clone(c.slots), pruned: c.pruned}
}

// Prune moves removed's slot into into's and marks removed as pruned (see
// Prunable for the contract), and returns the delta: into's new slot and
// the mark. It fails, changing nothing, on the argument errors of
// Prunable, or with an error wrapping ErrLimit if into's slot would pass
// MaxCounter.
func (c *GCounter) Prune(removed, into ReplicaID) (*GCounter, error) {
	skip, err := c.checkPrune(removed, into)
	if err != nil || skip {
		return &GCounter{}, err
	}
	sum := c.Slot(into) + c.Slot(removed)
	mark := PruneMark{Removed: removed, Into: into}
	c.pruned = c.pruned.with(mark)
	c.dropPruned()
	delta := &GCounter{pruned: pruneSet{mark}}
	if sum > 0 {
		delta.slots = []counterSlot{{replica: into, value: sum}}
		c.mergeSlots(delta)
	}
	return delta, nil
}

// checkPrune is Prune's validation, without the change.
func (c *GCounter) checkPrune(removed, into ReplicaID) (skip bool, err error) {
	skip, err = c.pruned.checkPruneArgs(removed, into)
	if err != nil || skip {
		return skip, err
	}
	// Both slots are at most MaxCounter (2^62): the sum cannot wrap.
	if sum := c.Slot(into) + c.Slot(removed); sum > MaxCounter {
		return false, &LimitError{Limit: "counter", Where: "GCounter.Prune", Value: sum, Max: MaxCounter}
	}
	return false, nil
}

// Pruned returns the prune marks, sorted by removed replica.
func (c *GCounter) Pruned() []PruneMark { return slices.Clone(c.pruned) }

// ForgetPruned drops the mark of removed (see Prunable).
func (c *GCounter) ForgetPruned(removed ReplicaID) bool {
	var found bool
	c.pruned, found = c.pruned.without(removed)
	return found
}

// Replicas returns the replicas with a slot, sorted.
func (c *GCounter) Replicas() []ReplicaID {
	replicas := make([]ReplicaID, len(c.slots))
	for i, s := range c.slots {
		replicas[i] = s.replica
	}
	return replicas
}

// ToProto returns the protobuf encoding of the counter, slots sorted by
// replica.
func (c *GCounter) ToProto() *messages.GCounter {
	if len(c.slots) == 0 {
		return &messages.GCounter{Pruned: c.pruned.toProto()}
	}
	// One allocation for all the dots rather than one per slot.
	dots := make([]messages.Dot, len(c.slots))
	ptrs := make([]*messages.Dot, len(c.slots))
	for i, s := range c.slots {
		dots[i].Replica = string(s.replica)
		dots[i].Counter = s.value
		ptrs[i] = &dots[i]
	}
	return &messages.GCounter{Slots: ptrs, Pruned: c.pruned.toProto()}
}

// GCounterFromProto decodes a counter under DefaultLimits. The slots may
// come in any order; a nil message is an empty counter. It fails, with an
// error wrapping ErrDecode, on a slot with no replica, a slot of zero, two
// slots of one replica, a slot of a pruned replica, a bad prune mark, or
// (wrapping ErrLimit too) a value beyond DefaultLimits.
func GCounterFromProto(pb *messages.GCounter) (*GCounter, error) {
	return gcounterFromProto(pb, defaultBudget())
}

func gcounterFromProto(pb *messages.GCounter, b *budget) (*GCounter, error) {
	const where = "GCounter"
	pruned, err := pruneSetFromProto(pb.GetPruned(), b, where)
	if err != nil {
		return nil, err
	}
	pbSlots := pb.GetSlots()
	if err := b.replicas(len(pbSlots)+len(pruned), where); err != nil {
		return nil, err
	}
	if len(pbSlots) == 0 {
		return &GCounter{pruned: pruned}, nil
	}
	if err := b.take(len(pbSlots), where); err != nil {
		return nil, err
	}
	slots := make([]counterSlot, len(pbSlots))
	for i, d := range pbSlots {
		if d.GetReplica() == "" {
			return nil, fmt.Errorf("%w: GCounter slot %d: empty replica", ErrDecode, i)
		}
		if d.GetCounter() == 0 {
			return nil, fmt.Errorf("%w: GCounter slot %d (replica %q): zero slot", ErrDecode, i, d.GetReplica())
		}
		if err := b.replica(d.GetReplica(), where); err != nil {
			return nil, err
		}
		if err := b.counter(d.GetCounter(), where); err != nil {
			return nil, err
		}
		slots[i] = counterSlot{replica: ReplicaID(d.GetReplica()), value: d.GetCounter()}
		if pruned.has(slots[i].replica) {
			return nil, fmt.Errorf("%w: GCounter slot %d: replica %q is pruned", ErrDecode, i, d.GetReplica())
		}
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
	return &GCounter{slots: slots, pruned: pruned}, nil
}

// MarshalBinary encodes the counter as a messages.GCounter.
func (c *GCounter) MarshalBinary() ([]byte, error) {
	return proto.Marshal(c.ToProto())
}

// UnmarshalBinary replaces the counter with the decoded messages.GCounter,
// under DefaultLimits. On error the counter is unchanged.
func (c *GCounter) UnmarshalBinary(data []byte) error {
	return c.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (c *GCounter) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	return unmarshalLimited(data, limits, "GCounter", c, gcounterFromProto)
}

// String returns the counter's value, for logs.
func (c *GCounter) String() string {
	return fmt.Sprintf("GCounter(%d)", c.Value())
}
