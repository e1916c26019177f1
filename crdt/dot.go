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
// *VClock satisfies CRDT[*VClock].
type VClock struct {
	// entries is sorted by replica; every counter is greater than zero.
	entries []Dot
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
// reports whether it changed.
func (v *VClock) Advance(replica ReplicaID, counter uint64) bool {
	if counter == 0 {
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
func (v *VClock) Increment(replica ReplicaID) Dot {
	d := Dot{Replica: replica, Counter: v.Get(replica) + 1}
	v.Advance(replica, d.Counter)
	return d
}

// Contains reports whether the clock has seen dot d.
func (v *VClock) Contains(d Dot) bool {
	return d.Counter != 0 && d.Counter <= v.Get(d.Replica)
}

// Descends reports whether v has seen everything other has: every counter of
// other is at most v's. Every clock descends from itself and from the empty
// clock.
func (v *VClock) Descends(other *VClock) bool {
	if other == nil {
		return true
	}
	for _, e := range other.entries {
		if v.Get(e.Replica) < e.Counter {
			return false
		}
	}
	return true
}

// Concurrent reports whether neither clock descends from the other.
func (v *VClock) Concurrent(other *VClock) bool {
	return !v.Descends(other) && !other.Descends(v)
}

// Merge raises each counter of v to other's where other's is higher, and
// reports whether v changed. It allocates only when other holds replicas
// that v lacks.
func (v *VClock) Merge(other *VClock) bool {
	if other == nil || v == other || len(other.entries) == 0 {
		return false
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

// Equal reports whether the two clocks hold the same counters.
func (v *VClock) Equal(other *VClock) bool {
	var a, b []Dot
	if v != nil {
		a = v.entries
	}
	if other != nil {
		b = other.entries
	}
	return dotsEqual(a, b)
}

// Clone returns a copy that shares nothing with v.
func (v *VClock) Clone() *VClock {
	if v == nil || len(v.entries) == 0 {
		return &VClock{}
	}
	return &VClock{entries: slices.Clone(v.entries)}
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
	return &messages.VClock{Entries: dotsToProto(v.entries)}
}

// VClockFromProto decodes a clock. Entries must have distinct replicas and
// counters above zero; they may come in any order.
func VClockFromProto(m *messages.VClock) (*VClock, error) {
	entries := make([]Dot, 0, len(m.GetEntries()))
	for _, e := range m.GetEntries() {
		if e.GetCounter() == 0 {
			return nil, fmt.Errorf("%w: vclock: replica %q has counter 0", ErrDecode, e.GetReplica())
		}
		entries = append(entries, Dot{Replica: ReplicaID(e.GetReplica()), Counter: e.GetCounter()})
	}
	slices.SortFunc(entries, compareDots)
	for i := 1; i < len(entries); i++ {
		if entries[i].Replica == entries[i-1].Replica {
			return nil, fmt.Errorf("%w: vclock: duplicate replica %q", ErrDecode, entries[i].Replica)
		}
	}
	if len(entries) == 0 {
		entries = nil
	}
	return &VClock{entries: entries}, nil
}

// MarshalBinary encodes the clock as a messages.VClock.
func (v *VClock) MarshalBinary() ([]byte, error) {
	return proto.Marshal(v.ToProto())
}

// UnmarshalBinary replaces the clock with the decoded one; on error v is
// unchanged.
func (v *VClock) UnmarshalBinary(data []byte) error {
	var m messages.VClock
	if err := proto.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%w: vclock: %v", ErrDecode, err)
	}
	decoded, err := VClockFromProto(&m)
	if err != nil {
		return err
	}
	*v = *decoded
	return nil
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
