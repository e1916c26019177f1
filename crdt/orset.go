package crdt

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// ORSet is an observed-remove set without tombstones (riak_dt_orswot, made
// delta-capable): each element holds the dots of the adds that keep it in
// the set, and a remove drops the dots it observed. An add concurrent with a
// remove wins, because the remove did not observe the add's dot. A removed
// element leaves nothing behind but its dots in the causal context.
//
// Elements follow the element codec rules of the package documentation. The
// zero value is an empty set, ready to use. An ORSet is not safe for
// concurrent use; Clone it to hand it to another goroutine.
type ORSet[E comparable] struct {
	kernel DotKernel[E]
}

// Add adds e with a new dot of replica, which replaces e's older dots, and
// returns the delta: e with the new dot, and a context holding the new dot
// and the replaced ones.
func (s *ORSet[E]) Add(replica ReplicaID, e E) *ORSet[E] {
	return &ORSet[E]{kernel: *s.kernel.Add(replica, e)}
}

// Remove removes e and returns the delta: no element, and a context holding
// the dots e had here. Removing an absent element returns an empty delta.
func (s *ORSet[E]) Remove(e E) *ORSet[E] {
	return &ORSet[E]{kernel: *s.kernel.Remove(e)}
}

// Contains reports whether e is in the set.
func (s *ORSet[E]) Contains(e E) bool {
	return s.kernel.Contains(e)
}

// Len returns the number of elements.
func (s *ORSet[E]) Len() int {
	return s.kernel.Len()
}

// Elements returns the elements in no particular order.
func (s *ORSet[E]) Elements() []E {
	return slices.AppendSeq(make([]E, 0, s.kernel.Len()), s.kernel.Keys())
}

// All iterates over the elements in no particular order.
func (s *ORSet[E]) All() iter.Seq[E] {
	return s.kernel.Keys()
}

// Context returns a copy of the set's causal context.
func (s *ORSet[E]) Context() *CausalContext {
	return s.kernel.Context()
}

// Merge joins other into s and reports whether s changed. Merging two sets
// that hold the same elements with the same dots allocates nothing.
func (s *ORSet[E]) Merge(other *ORSet[E]) bool {
	return s.kernel.Merge(&other.kernel)
}

// Equal reports whether the two sets have the same state: the same
// elements with the same dots, and the same causal context.
func (s *ORSet[E]) Equal(other *ORSet[E]) bool {
	return s.kernel.Equal(&other.kernel)
}

// Clone returns a copy that shares nothing mutable with s.
func (s *ORSet[E]) Clone() *ORSet[E] {
	clone := &ORSet[E]{}
	s.kernel.cloneInto(&clone.kernel)
	return clone
}

// String formats the set for debugging: its size and context.
func (s *ORSet[E]) String() string {
	return fmt.Sprintf("ORSet(%d elements, context %s)", s.Len(), s.kernel.ctx.String())
}

// ToProto returns the set as a protobuf message. Entries are sorted by
// their encoded element, so that equal sets give equal encodings. It fails
// only if an element has no encoding.
func (s *ORSet[E]) ToProto() (*messages.ORSet, error) {
	entries, err := kernelEntriesToProto(&s.kernel)
	if err != nil {
		return nil, fmt.Errorf("orset: %w", err)
	}
	return &messages.ORSet{Context: s.kernel.ctx.toProtoOrNil(), Entries: entries}, nil
}

// ORSetFromProto decodes a set. It fails, with an error wrapping ErrDecode,
// on an element that does not decode, a duplicate element, an element
// without dots, a dot with counter 0, a dot listed twice for an element or
// a dot the context does not cover.
func ORSetFromProto[E comparable](m *messages.ORSet) (*ORSet[E], error) {
	s := &ORSet[E]{}
	if err := kernelFromProto(&s.kernel, m.GetContext(), m.GetEntries()); err != nil {
		return nil, fmt.Errorf("orset: %w", err)
	}
	return s, nil
}

// MarshalBinary encodes the set as a messages.ORSet.
func (s *ORSet[E]) MarshalBinary() ([]byte, error) {
	m, err := s.ToProto()
	if err != nil {
		return nil, err
	}
	return proto.Marshal(m)
}

// UnmarshalBinary replaces the set with the decoded one; on error s is
// unchanged.
func (s *ORSet[E]) UnmarshalBinary(data []byte) error {
	var m messages.ORSet
	if err := proto.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%w: orset: %v", ErrDecode, err)
	}
	decoded, err := ORSetFromProto[E](&m)
	if err != nil {
		return err
	}
	*s = *decoded
	return nil
}

// kernelEntriesToProto encodes the keys of a kernel with the element codec,
// sorted by encoding, with their dots. The messages are allocated in
// blocks, and string keys share one buffer.
func kernelEntriesToProto[K comparable](k *DotKernel[K]) ([]*messages.ORSetEntry, error) {
	n := len(k.entries)
	if n == 0 {
		return nil, nil
	}
	type encoded struct {
		element []byte
		dots    []Dot
	}
	list := make([]encoded, 0, n)
	var buffer []byte
	if _, isString := any(*new(K)).(string); isString {
		size := 0
		for key := range k.entries {
			size += len(any(key).(string))
		}
		buffer = make([]byte, 0, size)
	}
	totalDots := 0
	for key, dots := range k.entries {
		var element []byte
		if str, isString := any(key).(string); isString {
			start := len(buffer)
			buffer = append(buffer, str...)
			element = buffer[start:len(buffer):len(buffer)]
		} else {
			var err error
			if element, err = encodeValue(key); err != nil {
				return nil, err
			}
		}
		list = append(list, encoded{element: element, dots: dots})
		totalDots += len(dots)
	}
	slices.SortFunc(list, func(a, b encoded) int { return bytes.Compare(a.element, b.element) })

	entryBlock := make([]messages.ORSetEntry, n)
	entries := make([]*messages.ORSetEntry, n)
	dotBlock := make([]messages.Dot, totalDots)
	dotPointers := make([]*messages.Dot, totalDots)
	for i, e := range list {
		entry := &entryBlock[i]
		entry.Element = e.element
		entry.Dots = dotPointers[:len(e.dots):len(e.dots)]
		for j, d := range e.dots {
			dotBlock[j].Replica = string(d.Replica)
			dotBlock[j].Counter = d.Counter
			entry.Dots[j] = &dotBlock[j]
		}
		dotBlock = dotBlock[len(e.dots):]
		dotPointers = dotPointers[len(e.dots):]
		entries[i] = entry
	}
	return entries, nil
}

// kernelFromProto fills an empty kernel from a context and entries encoded
// by kernelEntriesToProto, validating them (see ORSetFromProto).
func kernelFromProto[K comparable](k *DotKernel[K], context *messages.CausalContext, entries []*messages.ORSetEntry) error {
	ctx, err := CausalContextFromProto(context)
	if err != nil {
		return err
	}
	k.ctx = *ctx
	if len(entries) == 0 {
		return nil
	}
	k.entries = make(map[K][]Dot, len(entries))
	var (
		dotBlock []Dot
		replica  ReplicaID // the last replica seen, shared by later dots
	)
	for i, entry := range entries {
		key, err := decodeValue[K](entry.GetElement())
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, asDecodeError(err))
		}
		if _, dup := k.entries[key]; dup {
			return fmt.Errorf("%w: entry %d: duplicate element %v", ErrDecode, i, key)
		}
		if len(dotBlock) < len(entry.GetDots()) {
			// Dot lists of successive entries share blocks of memory; each
			// list is capped so that it can never grow into the next.
			dotBlock = make([]Dot, max(len(entry.GetDots()), len(entries)-i))
		}
		dots := dotBlock[:0:len(entry.GetDots())]
		dots, err = dotsFromProto(dots, entry.GetDots(), &k.ctx, &replica)
		if err != nil {
			return fmt.Errorf("%w: entry %d (element %v): %v", ErrDecode, i, key, err)
		}
		dotBlock = dotBlock[len(dots):]
		k.entries[key] = dots
	}
	return nil
}

// dotsFromProto appends the dots of ms to dst, sorted, and checks that
// there is at least one, that none has counter 0 or repeats, and that ctx
// covers each. A dot whose replica equals *replica shares its string, and
// *replica becomes the last dot's: a state holds many dots of few replicas.
// Errors do not wrap ErrDecode: the caller adds the context.
func dotsFromProto(dst []Dot, ms []*messages.Dot, ctx *CausalContext, replica *ReplicaID) ([]Dot, error) {
	if len(ms) == 0 {
		return nil, fmt.Errorf("no dots")
	}
	for _, m := range ms {
		d := Dot{Replica: ReplicaID(m.GetReplica()), Counter: m.GetCounter()}
		if d.Replica == *replica {
			d.Replica = *replica
		}
		*replica = d.Replica
		if d.Counter == 0 {
			return nil, fmt.Errorf("dot of replica %q has counter 0", d.Replica)
		}
		if !ctx.Contains(d) {
			return nil, fmt.Errorf("dot %v is not covered by the context", d)
		}
		dst = append(dst, d)
	}
	if !slices.IsSortedFunc(dst, compareDots) {
		slices.SortFunc(dst, compareDots)
	}
	for i := 1; i < len(dst); i++ {
		if dst[i] == dst[i-1] {
			return nil, fmt.Errorf("dot %v listed twice", dst[i])
		}
	}
	return dst, nil
}

// asDecodeError makes err wrap ErrDecode, which every decoding error of the
// package wraps: decodeValue's errors do, except ErrUnsupportedElement.
func asDecodeError(err error) error {
	if errors.Is(err, ErrDecode) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrDecode, err)
}
