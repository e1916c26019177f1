package crdt

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// CausalContext is the set of dots a replica (or a delta) has seen: a
// compact version vector (every counter from 1 to clock[r] of each replica
// r) plus a dot cloud (the dots seen out of order, beyond a gap).
//
// A CausalContext is always kept compact: a cloud dot that becomes
// contiguous with the clock moves into it, so the cloud holds only dots
// above a gap, and a context whose dots are contiguous has an empty cloud.
// Compaction changes the representation, never the set of dots, so two
// contexts holding the same dots are Equal. The deltas of the update methods
// hold exactly the dots they mention (old dots of a key, the new dot), which
// usually leaves them in the cloud; full states built by updates and merges
// of complete histories end with an empty cloud.
//
// The zero value is an empty context, ready to use. *CausalContext
// satisfies CRDT[*CausalContext] (merge is set union).
type CausalContext struct {
	clock VClock
	// cloud is sorted by compareDots and holds no dot d with
	// d.Counter <= clock.Get(d.Replica)+1.
	cloud []Dot
}

// Contains reports whether the context has seen dot d.
func (c *CausalContext) Contains(d Dot) bool {
	if c == nil || d.Counter == 0 {
		return false
	}
	if d.Counter <= c.clock.Get(d.Replica) {
		return true
	}
	if len(c.cloud) == 0 {
		return false
	}
	_, found := slices.BinarySearchFunc(c.cloud, d, compareDots)
	return found
}

// Max returns the highest counter of replica the context has seen.
func (c *CausalContext) Max(replica ReplicaID) uint64 {
	if c == nil {
		return 0
	}
	highest := c.clock.Get(replica)
	for _, d := range c.cloud {
		if d.Replica == replica {
			highest = max(highest, d.Counter)
		}
	}
	return highest
}

// Next returns the dot of replica's next update: one above the highest
// counter of replica the context has seen. It does not record it.
func (c *CausalContext) Next(replica ReplicaID) Dot {
	return Dot{Replica: replica, Counter: c.Max(replica) + 1}
}

// Add records dot d and reports whether the context changed.
func (c *CausalContext) Add(d Dot) bool {
	if d.Counter == 0 || c.Contains(d) {
		return false
	}
	if d.Counter == c.clock.Get(d.Replica)+1 {
		c.clock.Advance(d.Replica, d.Counter)
		if len(c.cloud) > 0 {
			c.compact()
		}
		return true
	}
	i, _ := slices.BinarySearchFunc(c.cloud, d, compareDots)
	c.cloud = slices.Insert(c.cloud, i, d)
	return true
}

// AddAll records every dot of dots and reports whether the context changed.
func (c *CausalContext) AddAll(dots []Dot) bool {
	changed := false
	for _, d := range dots {
		if c.Add(d) {
			changed = true
		}
	}
	return changed
}

// Merge adds every dot other has seen and reports whether c changed. With
// empty clouds on both sides (the usual case for full states) it allocates
// only when other knows replicas that c does not.
func (c *CausalContext) Merge(other *CausalContext) bool {
	if other == nil || c == other {
		return false
	}
	changed := false
	for _, d := range other.cloud {
		if !c.Contains(d) {
			changed = true
			break
		}
	}
	clockChanged := c.clock.Merge(&other.clock)
	if len(other.cloud) > 0 {
		// Union of two sorted lists; the compaction below drops the dots that
		// the merged clock covers.
		union := make([]Dot, 0, len(c.cloud)+len(other.cloud))
		i, j := 0, 0
		for i < len(c.cloud) && j < len(other.cloud) {
			switch k := compareDots(c.cloud[i], other.cloud[j]); {
			case k < 0:
				union = append(union, c.cloud[i])
				i++
			case k > 0:
				union = append(union, other.cloud[j])
				j++
			default:
				union = append(union, c.cloud[i])
				i++
				j++
			}
		}
		union = append(union, c.cloud[i:]...)
		union = append(union, other.cloud[j:]...)
		c.cloud = union
	}
	if len(c.cloud) > 0 && (clockChanged || len(other.cloud) > 0) {
		c.compact()
	}
	return changed || clockChanged
}

// compact moves cloud dots that are contiguous with the clock into it and
// drops those the clock covers. The cloud is sorted by replica then
// counter, so one pass suffices: within a replica, once a gap is met every
// later dot is above it too.
func (c *CausalContext) compact() {
	kept := c.cloud[:0]
	for i := 0; i < len(c.cloud); {
		replica := c.cloud[i].Replica
		start := c.clock.Get(replica)
		top := start
		for ; i < len(c.cloud) && c.cloud[i].Replica == replica; i++ {
			d := c.cloud[i]
			switch {
			case d.Counter <= top:
			case d.Counter == top+1:
				top++
			default:
				kept = append(kept, d)
			}
		}
		if top != start {
			c.clock.Advance(replica, top)
		}
	}
	clear(c.cloud[len(kept):])
	if len(kept) == 0 {
		kept = nil
	}
	c.cloud = kept
}

// IsEmpty reports whether the context has seen no dot.
func (c *CausalContext) IsEmpty() bool {
	return c == nil || (len(c.clock.entries) == 0 && len(c.cloud) == 0)
}

// Clock returns a copy of the compact part of the context.
func (c *CausalContext) Clock() *VClock {
	if c == nil {
		return &VClock{}
	}
	return c.clock.Clone()
}

// Cloud returns a copy of the dots seen beyond a gap, sorted by replica then
// counter.
func (c *CausalContext) Cloud() []Dot {
	if c == nil {
		return nil
	}
	return slices.Clone(c.cloud)
}

// Equal reports whether the two contexts hold the same dots.
func (c *CausalContext) Equal(other *CausalContext) bool {
	if c == nil || other == nil {
		return c.IsEmpty() && other.IsEmpty()
	}
	return c.clock.Equal(&other.clock) && dotsEqual(c.cloud, other.cloud)
}

// Clone returns a copy that shares nothing with c.
func (c *CausalContext) Clone() *CausalContext {
	clone := &CausalContext{}
	c.cloneInto(clone)
	return clone
}

// cloneInto overwrites dst with a copy of c.
func (c *CausalContext) cloneInto(dst *CausalContext) {
	if c == nil {
		*dst = CausalContext{}
		return
	}
	dst.clock.entries = slices.Clone(c.clock.entries)
	dst.cloud = slices.Clone(c.cloud)
}

// String formats the context as its clock followed by its cloud.
func (c *CausalContext) String() string {
	var sb strings.Builder
	sb.WriteString(c.Clock().String())
	sb.WriteString(" cloud[")
	if c != nil {
		for i, d := range c.cloud {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(d.String())
		}
	}
	sb.WriteByte(']')
	return sb.String()
}

// ToProto returns the context as a protobuf message; the clock is omitted
// when empty.
func (c *CausalContext) ToProto() *messages.CausalContext {
	m := &messages.CausalContext{}
	if c == nil {
		return m
	}
	if len(c.clock.entries) > 0 {
		m.Clock = c.clock.ToProto()
	}
	m.Cloud = dotsToProto(c.cloud)
	return m
}

// toProtoOrNil is ToProto, but nil for an empty context, so that empty
// states encode to no bytes.
func (c *CausalContext) toProtoOrNil() *messages.CausalContext {
	if c.IsEmpty() {
		return nil
	}
	return c.ToProto()
}

// CausalContextFromProto decodes a context. A missing message is an empty
// context. Clock entries must have distinct replicas and non-zero counters,
// cloud dots non-zero counters; cloud dots may come in any order, repeat or
// be covered by the clock: the result is compacted.
func CausalContextFromProto(m *messages.CausalContext) (*CausalContext, error) {
	clock, err := VClockFromProto(m.GetClock())
	if err != nil {
		return nil, fmt.Errorf("causal context: %w", err)
	}
	c := &CausalContext{clock: *clock}
	if cloud := m.GetCloud(); len(cloud) > 0 {
		c.cloud = make([]Dot, 0, len(cloud))
		for _, d := range cloud {
			if d.GetCounter() == 0 {
				return nil, fmt.Errorf("%w: causal context: cloud dot of replica %q has counter 0", ErrDecode, d.GetReplica())
			}
			c.cloud = append(c.cloud, Dot{Replica: ReplicaID(d.GetReplica()), Counter: d.GetCounter()})
		}
		slices.SortFunc(c.cloud, compareDots)
		c.cloud = slices.Compact(c.cloud)
		c.compact()
	}
	return c, nil
}

// MarshalBinary encodes the context as a messages.CausalContext.
func (c *CausalContext) MarshalBinary() ([]byte, error) {
	return proto.Marshal(c.ToProto())
}

// UnmarshalBinary replaces the context with the decoded one; on error c is
// unchanged.
func (c *CausalContext) UnmarshalBinary(data []byte) error {
	var m messages.CausalContext
	if err := proto.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%w: causal context: %v", ErrDecode, err)
	}
	decoded, err := CausalContextFromProto(&m)
	if err != nil {
		return err
	}
	*c = *decoded
	return nil
}
