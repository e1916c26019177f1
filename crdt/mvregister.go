package crdt

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// MVRegister is a multi-value register (riak_dt_mvreg, made
// delta-capable): a write replaces every value it has seen, and concurrent
// writes are all kept until a later write replaces them. Each value is
// tagged with the dot of its write.
//
// Values follow the value codec rules of the package documentation. They
// are stored as given: do not modify a value (the bytes of a []byte, what a
// pointer points to) after passing it to Set or reading it from Values.
// Clone copies []byte values; other values are copied by assignment. The
// zero value is an empty register, ready to use.
type MVRegister[V any] struct {
	entries []mvEntry[V] // sorted by dot
	ctx     CausalContext
}

type mvEntry[V any] struct {
	dot   Dot
	value V
}

func compareEntries[V any](a, b mvEntry[V]) int {
	return compareDots(a.dot, b.dot)
}

// Set writes v with a new dot of replica, replacing every value the
// register holds, and returns the delta: v with the new dot, and a context
// holding the new dot and the replaced ones. An exhausted or pruned
// replica cannot write (see CausalContext.Next): the register is unchanged
// and the delta empty.
func (r *MVRegister[V]) Set(replica ReplicaID, v V) *MVRegister[V] {
	dot := r.ctx.Next(replica)
	if dot.Counter == 0 {
		return &MVRegister[V]{}
	}
	delta := &MVRegister[V]{entries: []mvEntry[V]{{dot: dot, value: v}}}
	for _, e := range r.entries {
		delta.ctx.Add(e.dot)
	}
	delta.ctx.Add(dot)
	r.entries = []mvEntry[V]{{dot: dot, value: v}}
	r.ctx.Add(dot)
	return delta
}

// Prune gives each value written by removed a new dot of into and marks
// removed as pruned (see Prunable and DotKernel.Prune), and returns the
// delta: the re-tagged values and a context holding their new dots and the
// mark.
func (r *MVRegister[V]) Prune(removed, into ReplicaID) (*MVRegister[V], error) {
	delta := &MVRegister[V]{}
	skip, err := r.ctx.clock.pruned.checkPruneArgs(removed, into)
	if err != nil || skip {
		return delta, err
	}
	n := 0
	for _, e := range r.entries {
		if e.dot.Replica == removed {
			n++
		}
	}
	if err := checkRetag(&r.ctx, into, n); err != nil {
		return delta, err
	}
	if n > 0 {
		entries := make([]mvEntry[V], 0, len(r.entries))
		for _, e := range r.entries {
			if e.dot.Replica == removed {
				e.dot = r.ctx.Next(into)
				r.ctx.Add(e.dot)
				delta.ctx.Add(e.dot)
				delta.entries = append(delta.entries, e)
			}
			entries = append(entries, e)
		}
		slices.SortFunc(entries, compareEntries[V])
		r.entries = entries
	}
	mark, _ := r.ctx.Prune(removed, into)
	delta.ctx.Merge(mark)
	return delta, nil
}

// Pruned returns the prune marks, sorted by removed replica.
func (r *MVRegister[V]) Pruned() []PruneMark { return r.ctx.Pruned() }

// ForgetPruned drops the mark of removed (see Prunable).
func (r *MVRegister[V]) ForgetPruned(removed ReplicaID) bool { return r.ctx.ForgetPruned(removed) }

// Replicas returns the replicas of the register's context, sorted.
func (r *MVRegister[V]) Replicas() []ReplicaID { return r.ctx.Replicas() }

// Values returns the concurrent values, ordered by the dot of their write
// (replica, then counter); none if the register was never written.
func (r *MVRegister[V]) Values() []V {
	values := make([]V, len(r.entries))
	for i, e := range r.entries {
		values[i] = e.value
	}
	return values
}

// Context returns a copy of the register's causal context.
func (r *MVRegister[V]) Context() *CausalContext {
	return r.ctx.Clone()
}

// Merge joins other into r and reports whether r changed: a value survives
// if both sides hold it, or if one side holds it and the other side has not
// seen its write.
func (r *MVRegister[V]) Merge(other *MVRegister[V]) bool {
	if r == other {
		return false
	}
	// joined is built only from the first change on: until then it would
	// equal a prefix of r.entries.
	var joined []mvEntry[V]
	changed := false
	startJoined := func(i int) {
		if !changed {
			joined = append(make([]mvEntry[V], 0, len(r.entries)+len(other.entries)), r.entries[:i]...)
			changed = true
		}
	}
	i, j := 0, 0
	for i < len(r.entries) || j < len(other.entries) {
		var order int
		switch {
		case j == len(other.entries):
			order = -1
		case i == len(r.entries):
			order = 1
		default:
			order = compareDots(r.entries[i].dot, other.entries[j].dot)
		}
		switch {
		case order < 0:
			if other.ctx.Contains(r.entries[i].dot) {
				startJoined(i)
			} else if changed {
				joined = append(joined, r.entries[i])
			}
			i++
		case order > 0:
			if !r.ctx.Contains(other.entries[j].dot) {
				startJoined(i)
				joined = append(joined, other.entries[j])
			}
			j++
		default:
			if changed {
				joined = append(joined, r.entries[i])
			}
			i++
			j++
		}
	}
	if changed {
		if len(joined) == 0 {
			joined = nil
		}
		r.entries = joined
	}
	if r.ctx.Merge(&other.ctx) {
		changed = true
	}
	return changed
}

// Equal reports whether the two registers have the same state: the same
// writes with the same values, and the same causal context. Values are
// compared by their encoding, or with reflect.DeepEqual if they have none.
func (r *MVRegister[V]) Equal(other *MVRegister[V]) bool {
	if len(r.entries) != len(other.entries) || !r.ctx.Equal(&other.ctx) {
		return false
	}
	for i, e := range r.entries {
		if e.dot != other.entries[i].dot || !valuesEqual(e.value, other.entries[i].value) {
			return false
		}
	}
	return true
}

func valuesEqual[V any](a, b V) bool {
	ea, errA := encodeValue(a)
	eb, errB := encodeValue(b)
	if errA != nil || errB != nil {
		return reflect.DeepEqual(a, b)
	}
	return bytes.Equal(ea, eb)
}

// New returns a new empty MVRegister; it reads nothing of its receiver, so
// it may be called on a nil *MVRegister (the ring makes payloads so).
func (*MVRegister[V]) New() *MVRegister[V] { return new(MVRegister[V]) }

// Clone returns a copy of r (see MVRegister for what is copied).
func (r *MVRegister[V]) Clone() *MVRegister[V] {
	clone := &MVRegister[V]{}
	r.ctx.cloneInto(&clone.ctx)
	if len(r.entries) > 0 {
		clone.entries = slices.Clone(r.entries)
		for i, e := range clone.entries {
			if b, ok := any(e.value).([]byte); ok {
				clone.entries[i].value = any(bytes.Clone(b)).(V)
			}
		}
	}
	return clone
}

// ToProto returns the register as a protobuf message. It fails only if a
// value has no encoding.
func (r *MVRegister[V]) ToProto() (*messages.MVRegister, error) {
	m := &messages.MVRegister{Context: r.ctx.toProtoOrNil()}
	dots := dotsToProto(r.dotList())
	for i, e := range r.entries {
		value, err := encodeValue(e.value)
		if err != nil {
			return nil, fmt.Errorf("mvregister: %w", err)
		}
		m.Entries = append(m.Entries, &messages.MVRegisterEntry{Dot: dots[i], Value: value})
	}
	return m, nil
}

func (r *MVRegister[V]) dotList() []Dot {
	dots := make([]Dot, len(r.entries))
	for i, e := range r.entries {
		dots[i] = e.dot
	}
	return dots
}

// MVRegisterFromProto decodes a register under DefaultLimits. It fails,
// with an error wrapping ErrDecode, on an entry without a dot, a dot with
// counter 0, two entries with the same dot, a dot the context does not
// cover or of a pruned replica, a value that does not decode, or (wrapping
// ErrLimit too) a value beyond the limits.
func MVRegisterFromProto[V any](m *messages.MVRegister) (*MVRegister[V], error) {
	return mvregisterFromProto[V](m, defaultBudget())
}

func mvregisterFromProto[V any](m *messages.MVRegister, b *budget) (*MVRegister[V], error) {
	ctx, err := contextFromProto(m.GetContext(), b)
	if err != nil {
		return nil, fmt.Errorf("mvregister: %w", err)
	}
	if err := b.take(len(m.GetEntries()), "mvregister"); err != nil {
		return nil, err
	}
	r := &MVRegister[V]{ctx: *ctx}
	for i, entry := range m.GetEntries() {
		if entry.GetDot() == nil {
			return nil, fmt.Errorf("%w: mvregister: entry %d has no dot", ErrDecode, i)
		}
		dot := Dot{Replica: ReplicaID(entry.GetDot().GetReplica()), Counter: entry.GetDot().GetCounter()}
		if dot.Counter == 0 {
			return nil, fmt.Errorf("%w: mvregister: entry %d: dot of replica %q has counter 0", ErrDecode, i, dot.Replica)
		}
		if !r.ctx.Contains(dot) || r.ctx.clock.pruned.has(dot.Replica) {
			return nil, fmt.Errorf("%w: mvregister: entry %d: dot %v is not covered by the context or is of a pruned replica", ErrDecode, i, dot)
		}
		value, err := decodeValue[V](entry.GetValue())
		if err != nil {
			return nil, fmt.Errorf("mvregister: entry %d: %w", i, asDecodeError(err))
		}
		r.entries = append(r.entries, mvEntry[V]{dot: dot, value: value})
	}
	slices.SortFunc(r.entries, compareEntries[V])
	for i := 1; i < len(r.entries); i++ {
		if r.entries[i].dot == r.entries[i-1].dot {
			return nil, fmt.Errorf("%w: mvregister: two entries with dot %v", ErrDecode, r.entries[i].dot)
		}
	}
	return r, nil
}

// MarshalBinary encodes the register as a messages.MVRegister.
func (r *MVRegister[V]) MarshalBinary() ([]byte, error) {
	m, err := r.ToProto()
	if err != nil {
		return nil, err
	}
	return proto.Marshal(m)
}

// UnmarshalBinary replaces the register with the decoded one, under
// DefaultLimits; on error r is unchanged.
func (r *MVRegister[V]) UnmarshalBinary(data []byte) error {
	return r.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (r *MVRegister[V]) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	return unmarshalLimited(data, limits, "mvregister", r, mvregisterFromProto[V])
}
