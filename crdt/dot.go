package crdt

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// Dot names one update event: the Counter-th update made by Replica.
// Counters start at 1; a Dot with Counter 0 names no event.
type Dot struct {
	Replica ReplicaID
	Counter uint64
}

// String formats the dot as replica:counter.
func (d Dot) String() string {
	return string(d.Replica) + ":" + strconv.FormatUint(d.Counter, 10)
}

// compareDots orders dots by replica, then counter: the order in which every
// dot list of this package is kept.
func compareDots(a, b Dot) int {
	if a.Replica != b.Replica {
		return strings.Compare(string(a.Replica), string(b.Replica))
	}
	return cmp.Compare(a.Counter, b.Counter)
}

// dotsEqual reports whether two dot lists are the same.
func dotsEqual(a, b []Dot) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) > 0 && &a[0] == &b[0] {
		return true // shared, as after a merge or a clone
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// VClock is a version vector: for each replica, the highest counter seen,
// meaning that every counter from 1 to it has been seen. Replicas absent
// from the clock have counter 0. The zero value is an empty clock, ready to
// use.
//
// A VClock is itself a CRDT (a join semilattice under pointwise maximum):
// *VClock satisfies CRDT[*VClock]. It is Prunable: a pruned replica loses
// its entry, and the clock counts every dot of it as seen (Contains).
//
// Counters never pass MaxCounter: Advance refuses a greater counter, and
// Increment of a replica at MaxCounter refuses to mint (see Increment).
type VClock struct {
	// entries is sorted by replica; every counter is greater than zero
	// and at most MaxCounter; no replica of pruned has one.
	entries []Dot
	pruned  pruneSet
}

// search returns the index of replica in v.entries, or where it would go.
func (v *VClock) search(replica ReplicaID) (int, bool) {
	// Linear scan for the small clocks of a ring, binary search beyond.
	if len(v.entries) <= 8 {
		for i, e := range v.entries {
			if e.Replica >= replica {
				return i, e.Replica == replica
			}
		}
		return len(v.entries), false
	}
	return slices.BinarySearchFunc(v.entries, replica, func(e Dot, r ReplicaID) int {
		return strings.Compare(string(e.Replica), string(r))
	})
}

// Get returns the counter of replica: 0 if the clock has not seen it.
func (v *VClock) Get(replica ReplicaID) uint64 {
	if v == nil {
		return 0
	}
	if i, ok := v.search(replica); ok {
		return v.entries[i].Counter
	}
	return 0
}

// Len returns the number of replicas with a counter above zero.
func (v *VClock) Len() int {
	if v == nil {
		return 0
	}
	return len(v.entries)
}

// All iterates over the replicas and their counters in replica order.
func (v *VClock) All() iter.Seq2[ReplicaID, uint64] {
	return func(yield func(ReplicaID, uint64) bool) {
		if v == nil {
			return
		}
		for _, e := range v.entries {
			if !yield(e.Replica, e.Counter) {
				return
			}
		}
	}
}

// Advance raises the counter of replica to counter if it is lower, and
// reports whether it changed. It refuses (false) a counter above
// MaxCounter and a pruned replica.
func (v *VClock) Advance(replica ReplicaID, counter uint64) bool {
	if counter == 0 || counter > MaxCounter || v.pruned.has(replica) {
		return false
	}
	i, ok := v.search(replica)
	if ok {
		if v.entries[i].Counter >= counter {
			return false
		}
		v.entries[i].Counter = counter
		return true
	}
	v.entries = slices.Insert(v.entries, i, Dot{Replica: replica, Counter: counter})
	return true
}

// Increment adds one to the counter of replica and returns the new dot.
//
// It never wraps and never passes MaxCounter: a replica whose counter is
// MaxCounter (which only input at the limit can cause: 2^62 updates take
// 146 years at a billion a second), or that is pruned, is exhausted, and
// Increment refuses: it changes nothing and returns a dot with counter 0,
// which names no event. A replica that gets it must stop writing under
// this ID and take a new one (NewReplicaID), as after a loss of its data.
// A panic would let a peer that sends such a counter stop a member; a
// wrapped counter would mint dots its peers hold already.
func (v *VClock) Increment(replica ReplicaID) Dot {
	current := v.Get(replica)
	if current >= MaxCounter || v.pruned.has(replica) {
		return Dot{Replica: replica}
	}
	d := Dot{Replica: replica, Counter: current + 1}
	v.Advance(replica, d.Counter)
	return d
}

// Contains reports whether the clock has seen dot d. Every dot of a pruned
// replica counts as seen.
func (v *VClock) Contains(d Dot) bool {
	if d.Counter == 0 {
		return false
	}
	return d.Counter <= v.Get(d.Replica) || (v != nil && v.pruned.has(d.Replica))
}

// Descends reports whether v has seen everything other has: every counter of
// other is at most v's. Every clock descends from itself and from the empty
// clock.
func (v *VClock) Descends(other *VClock) bool {
	if other == nil {
		return true
	}
	for _, e := range other.entries {
		if v.Get(e.Replica) < e.Counter && !v.prunedHas(e.Replica) {
			return false
		}
	}
	for _, m := range other.pruned {
		if !v.prunedHas(m.Removed) {
			return false
		}
	}
	return true
}

func (v *VClock) prunedHas(replica ReplicaID) bool {
	return v != nil && v.pruned.has(replica)
}

// Concurrent reports whether neither clock descends from the other.
func (v *VClock) Concurrent(other *VClock) bool {
	return !v.Descends(other) && !other.Descends(v)
}

// Merge raises each counter of v to other's where other's is higher, and
// reports whether v changed. The prune marks are joined, and no replica
// pruned on either side keeps an entry. It allocates only when other holds
// replicas or marks that v lacks.
func (v *VClock) Merge(other *VClock) bool {
	if other == nil || v == other {
		return false
	}
	var marksChanged bool
	v.pruned, marksChanged = v.pruned.union(other.pruned)
	changed := v.mergeEntries(other)
	if marksChanged {
		v.dropPruned()
		changed = true
	}
	return changed
}

// dropPruned removes the entries of pruned replicas.
func (v *VClock) dropPruned() {
	if len(v.pruned) == 0 {
		return
	}
	kept := v.entries[:0:0]
	for _, e := range v.entries {
		if !v.pruned.has(e.Replica) {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	v.entries = kept
}

// mergeEntries raises v's entries to other's, skipping replicas v has
// pruned.
func (v *VClock) mergeEntries(other *VClock) bool {
	if len(other.entries) == 0 {
		return false
	}
	if len(v.pruned) > 0 {
		var theirs []Dot
		for _, o := range other.entries {
			if !v.pruned.has(o.Replica) {
				theirs = append(theirs, o)
			}
		}
		if len(theirs) < len(other.entries) {
			other = &VClock{entries: theirs}
		}
	}
	// Count the replicas that other adds; when there are none, merge in place.
	missing := 0
	i := 0
	for _, o := range other.entries {
		for i < len(v.entries) && v.entries[i].Replica < o.Replica {
			i++
		}
		if i == len(v.entries) || v.entries[i].Replica != o.Replica {
			missing++
		}
	}
	changed := false
	if missing == 0 {
		i = 0
		for _, o := range other.entries {
			for v.entries[i].Replica != o.Replica {
				i++
			}
			if o.Counter > v.entries[i].Counter {
				v.entries[i].Counter = o.Counter
				changed = true
			}
		}
		return changed
	}
	merged := make([]Dot, 0, len(v.entries)+missing)
	i = 0
	for _, o := range other.entries {
		for i < len(v.entries) && v.entries[i].Replica < o.Replica {
			merged = append(merged, v.entries[i])
			i++
		}
		if i < len(v.entries) && v.entries[i].Replica == o.Replica {
			merged = append(merged, Dot{Replica: o.Replica, Counter: max(o.Counter, v.entries[i].Counter)})
			i++
			continue
		}
		merged = append(merged, o)
	}
	merged = append(merged, v.entries[i:]...)
	v.entries = merged
	return true
}

// Equal reports whether the two clocks hold the same counters and prune
// marks.
func (v *VClock) Equal(other *VClock) bool {
	var a, b []Dot
	var ma, mb pruneSet
	if v != nil {
		a, ma = v.entries, v.pruned
	}
	if other != nil {
		b, mb = other.entries, other.pruned
	}
	return dotsEqual(a, b) && slices.Equal(ma, mb)
}

// New returns a new empty VClock; it reads nothing of its receiver, so
// it may be called on a nil *VClock (the ring makes payloads so).
func (*VClock) New() *VClock { return new(VClock) }

// Clone returns a copy that shares nothing mutable with v.
func (v *VClock) Clone() *VClock {
	if v == nil {
		return &VClock{}
	}
	return &VClock{entries: slices.Clone(v.entries), pruned: v.pruned}
}

// Prune drops removed's entry and marks it as pruned (see Prunable), and
// returns the delta: the mark. A version vector cannot add removed's
// counter to into's (dots of one replica are not dots of another), so
// into only names the survivor; the clock counts every dot of removed as
// seen from now on.
func (v *VClock) Prune(removed, into ReplicaID) (*VClock, error) {
	skip, err := v.pruned.checkPruneArgs(removed, into)
	if err != nil || skip {
		return &VClock{}, err
	}
	mark := PruneMark{Removed: removed, Into: into}
	v.pruned = v.pruned.with(mark)
	v.dropPruned()
	return &VClock{pruned: pruneSet{mark}}, nil
}

// Pruned returns the prune marks, sorted by removed replica.
func (v *VClock) Pruned() []PruneMark { return slices.Clone(v.pruned) }

// ForgetPruned drops the mark of removed (see Prunable).
func (v *VClock) ForgetPruned(removed ReplicaID) bool {
	var found bool
	v.pruned, found = v.pruned.without(removed)
	return found
}

// Replicas returns the replicas with an entry, sorted.
func (v *VClock) Replicas() []ReplicaID {
	replicas := make([]ReplicaID, 0, v.Len())
	for r := range v.All() {
		replicas = append(replicas, r)
	}
	return replicas
}

// String formats the clock as {replica:counter, ...} in replica order.
func (v *VClock) String() string {
	var sb strings.Builder
	sb.WriteByte('{')
	if v != nil {
		for i, e := range v.entries {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(e.String())
		}
	}
	sb.WriteByte('}')
	return sb.String()
}

// ToProto returns the clock as a protobuf message.
func (v *VClock) ToProto() *messages.VClock {
	if v == nil {
		return &messages.VClock{}
	}
	return &messages.VClock{Entries: dotsToProto(v.entries), Pruned: v.pruned.toProto()}
}

// VClockFromProto decodes a clock under DefaultLimits. Entries must have
// distinct replicas that are not pruned and counters above zero; they may
// come in any order. Values beyond the limits give an error wrapping
// ErrDecode and ErrLimit.
func VClockFromProto(m *messages.VClock) (*VClock, error) {
	return vclockFromProto(m, defaultBudget(), "vclock")
}

// vclockFromProto decodes a clock; where names it in errors. The budget
// counts its entries, its marks and its replicas (the caller checks the
// replicas again if it adds some, as a causal context's cloud does).
func vclockFromProto(m *messages.VClock, b *budget, where string) (*VClock, error) {
	pruned, err := pruneSetFromProto(m.GetPruned(), b, where)
	if err != nil {
		return nil, err
	}
	if err := b.replicas(len(m.GetEntries())+len(pruned), where); err != nil {
		return nil, err
	}
	if err := b.take(len(m.GetEntries()), where); err != nil {
		return nil, err
	}
	entries := make([]Dot, 0, len(m.GetEntries()))
	for _, e := range m.GetEntries() {
		if e.GetCounter() == 0 {
			return nil, fmt.Errorf("%w: %s: replica %q has counter 0", ErrDecode, where, e.GetReplica())
		}
		if err := b.counter(e.GetCounter(), where); err != nil {
			return nil, err
		}
		if err := b.replica(e.GetReplica(), where); err != nil {
			return nil, err
		}
		if pruned.has(ReplicaID(e.GetReplica())) {
			return nil, fmt.Errorf("%w: %s: replica %q is pruned", ErrDecode, where, e.GetReplica())
		}
		entries = append(entries, Dot{Replica: ReplicaID(e.GetReplica()), Counter: e.GetCounter()})
	}
	slices.SortFunc(entries, compareDots)
	for i := 1; i < len(entries); i++ {
		if entries[i].Replica == entries[i-1].Replica {
			return nil, fmt.Errorf("%w: %s: duplicate replica %q", ErrDecode, where, entries[i].Replica)
		}
	}
	if len(entries) == 0 {
		entries = nil
	}
	return &VClock{entries: entries, pruned: pruned}, nil
}

// MarshalBinary encodes the clock as a messages.VClock.
func (v *VClock) MarshalBinary() ([]byte, error) {
	return proto.Marshal(v.ToProto())
}

// UnmarshalBinary replaces the clock with the decoded one, under
// DefaultLimits; on error v is unchanged.
func (v *VClock) UnmarshalBinary(data []byte) error {
	return v.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (v *VClock) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	return unmarshalLimited(data, limits, "vclock", v, func(m *messages.VClock, b *budget) (*VClock, error) {
		return vclockFromProto(m, b, "vclock")
	})
}

// dotsToProto converts dots to their messages, allocating them in one block.
func dotsToProto(dots []Dot) []*messages.Dot {
	if len(dots) == 0 {
		return nil
	}
	block := make([]messages.Dot, len(dots))
	out := make([]*messages.Dot, len(dots))
	for i, d := range dots {
		block[i].Replica = string(d.Replica)
		block[i].Counter = d.Counter
		out[i] = &block[i]
	}
	return out
}
