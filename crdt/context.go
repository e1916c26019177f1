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
// satisfies CRDT[*CausalContext] (merge is set union). It is Prunable: the
// prune marks live in its clock, and a context holds every dot of a pruned
// replica (Contains reports them seen), which is how a late state's dots of
// a pruned replica lose every join.
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
	if d.Counter <= c.clock.Get(d.Replica) || c.clock.pruned.has(d.Replica) {
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
//
// It never wraps: for a replica that is exhausted (its highest counter is
// MaxCounter) or pruned, Next returns a dot with counter 0, which names no
// event; the update methods of the causal types then refuse the update,
// changing nothing and returning an empty delta (see VClock.Increment for
// why this refuses rather than panics).
func (c *CausalContext) Next(replica ReplicaID) Dot {
	highest := c.Max(replica)
	if highest >= MaxCounter || (c != nil && c.clock.pruned.has(replica)) {
		return Dot{Replica: replica}
	}
	return Dot{Replica: replica, Counter: highest + 1}
}

// Add records dot d and reports whether the context changed. It refuses
// (false) a dot above MaxCounter; a dot of a pruned replica is already
// seen.
func (c *CausalContext) Add(d Dot) bool {
	if d.Counter == 0 || d.Counter > MaxCounter || c.Contains(d) {
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
		if c.clock.pruned.has(replica) {
			for i < len(c.cloud) && c.cloud[i].Replica == replica {
				i++
			}
			continue
		}
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
	return c == nil || (len(c.clock.entries) == 0 && len(c.cloud) == 0 && len(c.clock.pruned) == 0)
}

// Prune drops removed's clock entry and cloud dots and marks it as pruned
// (see Prunable), and returns the delta: the mark. From then on the
// context holds every dot of removed. The dots of removed that a causal
// type still holds must be replaced first (the types' Prune methods do).
func (c *CausalContext) Prune(removed, into ReplicaID) (*CausalContext, error) {
	markDelta, err := c.clock.Prune(removed, into)
	if err != nil || len(markDelta.pruned) == 0 {
		return &CausalContext{}, err
	}
	if len(c.cloud) > 0 {
		c.compact()
	}
	return &CausalContext{clock: *markDelta}, nil
}

// Pruned returns the prune marks, sorted by removed replica.
func (c *CausalContext) Pruned() []PruneMark { return c.clock.Pruned() }

// ForgetPruned drops the mark of removed (see Prunable).
func (c *CausalContext) ForgetPruned(removed ReplicaID) bool {
	return c.clock.ForgetPruned(removed)
}

// Replicas returns the replicas of the clock and the cloud, sorted.
func (c *CausalContext) Replicas() []ReplicaID {
	replicas := c.clock.Replicas()
	for _, d := range c.cloud {
		replicas = append(replicas, d.Replica)
	}
	slices.Sort(replicas)
	return slices.Compact(replicas)
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

// New returns a new empty CausalContext; it reads nothing of its receiver, so
// it may be called on a nil *CausalContext (the ring makes payloads so).
func (*CausalContext) New() *CausalContext { return new(CausalContext) }

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
	dst.clock.pruned = c.clock.pruned
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
	if len(c.clock.entries) > 0 || len(c.clock.pruned) > 0 {
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

// CausalContextFromProto decodes a context under DefaultLimits. A missing
// message is an empty context. Clock entries must have distinct replicas
// and non-zero counters, cloud dots non-zero counters; cloud dots may come
// in any order, repeat or be covered by the clock (or be of a pruned
// replica): the result is compacted. Values beyond the limits give an
// error wrapping ErrDecode and ErrLimit.
func CausalContextFromProto(m *messages.CausalContext) (*CausalContext, error) {
	return contextFromProto(m, defaultBudget())
}

func contextFromProto(m *messages.CausalContext, b *budget) (*CausalContext, error) {
	const where = "causal context"
	clock, err := vclockFromProto(m.GetClock(), b, where)
	if err != nil {
		return nil, err
	}
	c := &CausalContext{clock: *clock}
	if cloud := m.GetCloud(); len(cloud) > 0 {
		if err := b.take(len(cloud), where); err != nil {
			return nil, err
		}
		c.cloud = make([]Dot, 0, len(cloud))
		for _, d := range cloud {
			if d.GetCounter() == 0 {
				return nil, fmt.Errorf("%w: causal context: cloud dot of replica %q has counter 0", ErrDecode, d.GetReplica())
			}
			if err := b.counter(d.GetCounter(), where); err != nil {
				return nil, err
			}
			if err := b.replica(d.GetReplica(), where); err != nil {
				return nil, err
			}
			c.cloud = append(c.cloud, Dot{Replica: ReplicaID(d.GetReplica()), Counter: d.GetCounter()})
		}
		slices.SortFunc(c.cloud, compareDots)
		c.cloud = slices.Compact(c.cloud)
		c.compact()
		extra := 0
		for i, d := range c.cloud {
			if (i == 0 || c.cloud[i-1].Replica != d.Replica) && c.clock.Get(d.Replica) == 0 {
				extra++
			}
		}
		if err := b.replicas(len(c.clock.entries)+len(c.clock.pruned)+extra, where); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// MarshalBinary encodes the context as a messages.CausalContext.
func (c *CausalContext) MarshalBinary() ([]byte, error) {
	return proto.Marshal(c.ToProto())
}

// UnmarshalBinary replaces the context with the decoded one, under
// DefaultLimits; on error c is unchanged.
func (c *CausalContext) UnmarshalBinary(data []byte) error {
	return c.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (c *CausalContext) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	return unmarshalLimited(data, limits, "causal context", c, contextFromProto)
}
