package crdt

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
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
// and the replaced ones. An exhausted or pruned replica cannot add (see
// DotKernel.Add): the set is unchanged and the delta empty.
func (s *ORSet[E]) Add(replica ReplicaID, e E) *ORSet[E] {
	return &ORSet[E]{kernel: *s.kernel.Add(replica, e)}
}

// Prune replaces the dots of removed by new dots of into and marks removed
// as pruned (see Prunable and DotKernel.Prune), and returns the delta.
func (s *ORSet[E]) Prune(removed, into ReplicaID) (*ORSet[E], error) {
	delta, err := s.kernel.Prune(removed, into)
	return &ORSet[E]{kernel: *delta}, err
}

// Pruned returns the prune marks, sorted by removed replica.
func (s *ORSet[E]) Pruned() []PruneMark { return s.kernel.Pruned() }

// ForgetPruned drops the mark of removed (see Prunable).
func (s *ORSet[E]) ForgetPruned(removed ReplicaID) bool { return s.kernel.ForgetPruned(removed) }

// Replicas returns the replicas of the set's context, sorted.
func (s *ORSet[E]) Replicas() []ReplicaID { return s.kernel.Replicas() }

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

// New returns a new empty ORSet; it reads nothing of its receiver, so
// it may be called on a nil *ORSet (the ring makes payloads so).
func (*ORSet[E]) New() *ORSet[E] { return new(ORSet[E]) }

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
	entries, replicas, err := kernelEntriesToProto(&s.kernel)
	if err != nil {
		return nil, fmt.Errorf("orset: %w", err)
	}
	return &messages.ORSet{Context: s.kernel.ctx.toProtoOrNil(), Entries: entries, Replicas: replicas}, nil
}

// ORSetFromProto decodes a set under DefaultLimits. It fails, with an
// error wrapping ErrDecode, on an element that does not decode, a
// duplicate element, an element without dots, a dot with counter 0, a dot
// listed twice for an element, a dot the context does not cover or of a
// pruned replica, or (wrapping ErrLimit too) a value beyond the limits.
func ORSetFromProto[E comparable](m *messages.ORSet) (*ORSet[E], error) {
	return orsetFromProto[E](m, defaultBudget())
}

func orsetFromProto[E comparable](m *messages.ORSet, b *budget) (*ORSet[E], error) {
	s := &ORSet[E]{}
	if err := kernelFromProto(&s.kernel, m.GetContext(), m.GetEntries(), m.GetReplicas(), b); err != nil {
		return nil, fmt.Errorf("orset: %w", err)
	}
	return s, nil
}

// MarshalBinary encodes the set as a messages.ORSet, deterministically:
// the bytes are those of proto.Marshal(ToProto()), written directly.
func (s *ORSet[E]) MarshalBinary() ([]byte, error) {
	data, err := appendKernelWire(nil, &s.kernel)
	if err != nil {
		return nil, fmt.Errorf("orset: %w", err)
	}
	return data, nil
}

// UnmarshalBinary replaces the set with the decoded one, under
// DefaultLimits; on error s is unchanged. It accepts any encoding of a
// messages.ORSet that ORSetFromProto accepts.
func (s *ORSet[E]) UnmarshalBinary(data []byte) error {
	return s.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (s *ORSet[E]) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	b := newBudget(limits)
	if err := b.bytes(len(data), "orset"); err != nil {
		return err
	}
	decoded := &ORSet[E]{}
	if handled, err := kernelFromWire(&decoded.kernel, data, b); handled {
		if err != nil {
			return fmt.Errorf("orset: %w", err)
		}
		*s = *decoded
		return nil
	}
	return s.unmarshalProto(data, limits)
}

// unmarshalProto is UnmarshalBinaryLimits through the generated protobuf
// code: the reference that kernelFromWire's fast path must agree with.
func (s *ORSet[E]) unmarshalProto(data []byte, limits Limits) error {
	return unmarshalLimited(data, limits, "orset", s, orsetFromProto[E])
}

// encodedEntry is one key of a kernel, encoded with the element codec,
// with its dots.
type encodedEntry struct {
	element []byte
	dots    []Dot
}

// encodeKernelEntries encodes the keys of a kernel and returns them with
// the order that sorts them by encoding (so equal sets encode to equal
// bytes) and the number of dots. String keys share one buffer.
func encodeKernelEntries[K comparable](k *DotKernel[K]) (list []encodedEntry, order []int32, totalDots int, err error) {
	list = make([]encodedEntry, 0, len(k.entries))
	var buffer []byte
	if _, isString := any(*new(K)).(string); isString {
		size := 0
		for key := range k.entries {
			size += len(any(key).(string))
		}
		buffer = make([]byte, 0, size)
	}
	for key, dots := range k.entries {
		var element []byte
		if str, isString := any(key).(string); isString {
			start := len(buffer)
			buffer = append(buffer, str...)
			element = buffer[start:len(buffer):len(buffer)]
		} else if element, err = encodeValue(key); err != nil {
			return nil, nil, 0, err
		}
		list = append(list, encodedEntry{element: element, dots: dots})
		totalDots += len(dots)
	}
	// Sorting indices moves 4 bytes a swap instead of a whole entry: twice
	// as fast for large sets.
	order = make([]int32, len(list))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int { return bytes.Compare(list[x].element, list[y].element) })
	return list, order, totalDots, nil
}

// replicaTable returns the replicas of the entries' dots, each once,
// sorted: the table that the compact form of the dots indexes.
func replicaTable(list []encodedEntry) []ReplicaID {
	var table []ReplicaID
	for _, e := range list {
		for _, d := range e.dots {
			// Dots are sorted by replica and sets have few replicas: the
			// last one added and a short scan find most.
			if n := len(table); n > 0 && table[n-1] == d.Replica {
				continue
			}
			if !slices.Contains(table, d.Replica) {
				table = append(table, d.Replica)
			}
		}
	}
	slices.Sort(table)
	return table
}

// tableIndexer returns a function giving the index of a replica in a
// sorted table, remembering the last answer (dots of one entry are sorted
// by replica, and most share one).
func tableIndexer(table []ReplicaID) func(ReplicaID) uint64 {
	last, lastIndex := ReplicaID(""), uint64(0)
	hasLast := false
	return func(r ReplicaID) uint64 {
		if hasLast && r == last {
			return lastIndex
		}
		i, _ := slices.BinarySearch(table, r)
		last, lastIndex, hasLast = r, uint64(i), true
		return lastIndex
	}
}

// kernelEntriesToProto encodes the keys of a kernel with the element codec,
// sorted by encoding, with their dots in the compact form, and returns the
// replica table the dots index. The messages are allocated in blocks.
func kernelEntriesToProto[K comparable](k *DotKernel[K]) ([]*messages.ORSetEntry, []string, error) {
	n := len(k.entries)
	if n == 0 {
		return nil, nil, nil
	}
	list, order, totalDots, err := encodeKernelEntries(k)
	if err != nil {
		return nil, nil, err
	}
	table := replicaTable(list)
	indexOf := tableIndexer(table)
	entryBlock := make([]messages.ORSetEntry, n)
	entries := make([]*messages.ORSetEntry, n)
	refBlock := make([]uint64, 2*totalDots)
	for i, index := range order {
		e := &list[index]
		entry := &entryBlock[i]
		entry.Element = e.element
		refs := refBlock[: 2*len(e.dots) : 2*len(e.dots)]
		for j, d := range e.dots {
			refs[2*j] = indexOf(d.Replica)
			refs[2*j+1] = d.Counter
		}
		entry.DotRefs = refs
		refBlock = refBlock[len(refs):]
		entries[i] = entry
	}
	replicas := make([]string, len(table))
	for i, r := range table {
		replicas[i] = string(r)
	}
	return entries, replicas, nil
}

// kernelFromProto fills an empty kernel from a context, entries and a
// replica table encoded by kernelEntriesToProto (or entries in the verbose
// form), validating them (see ORSetFromProto).
func kernelFromProto[K comparable](k *DotKernel[K], context *messages.CausalContext, entries []*messages.ORSetEntry, replicas []string, b *budget) error {
	ctx, err := contextFromProto(context, b)
	if err != nil {
		return err
	}
	k.ctx = *ctx
	table, err := replicaTableFromProto(replicas, b)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if err := b.take(len(entries), "orset entries"); err != nil {
		return err
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
		count := len(entry.GetDots()) + len(entry.GetDotRefs())/2
		if err := b.take(count, "orset dots"); err != nil {
			return err
		}
		if len(dotBlock) < count {
			// Dot lists of successive entries share blocks of memory; each
			// list is capped so that it can never grow into the next.
			dotBlock = make([]Dot, max(count, len(entries)-i))
		}
		dots := dotBlock[:0:count]
		for _, m := range entry.GetDots() {
			d := Dot{Replica: ReplicaID(m.GetReplica()), Counter: m.GetCounter()}
			if d.Replica == replica {
				d.Replica = replica
			}
			replica = d.Replica
			dots = append(dots, d)
		}
		if dots, err = appendDotRefs(dots, entry.GetDotRefs(), table); err == nil {
			dots, err = checkDots(dots, &k.ctx)
		}
		if err != nil {
			return fmt.Errorf("%w: entry %d (element %v): %v", ErrDecode, i, key, err)
		}
		dotBlock = dotBlock[len(dots):]
		k.entries[key] = dots
	}
	return nil
}

// replicaTableFromProto decodes a replica table. Each replica counts as an
// entry and towards MaxReplicas, and must be within MaxReplicaIDLen.
func replicaTableFromProto(replicas []string, b *budget) ([]ReplicaID, error) {
	if len(replicas) == 0 {
		return nil, nil
	}
	table := make([]ReplicaID, len(replicas))
	for i, r := range replicas {
		table[i] = ReplicaID(r)
	}
	return table, checkReplicaTable(table, b)
}

// checkReplicaTable counts a replica table against the limits.
func checkReplicaTable(table []ReplicaID, b *budget) error {
	const where = "orset replica table"
	if len(table) == 0 {
		return nil
	}
	if err := b.take(len(table), where); err != nil {
		return err
	}
	if err := b.replicas(len(table), where); err != nil {
		return err
	}
	for _, r := range table {
		if err := b.replica(string(r), where); err != nil {
			return err
		}
	}
	return nil
}

// appendDotRefs appends to dst the dots of the compact form: pairs
// (replica index, counter). Errors do not wrap ErrDecode: the caller adds
// the context.
func appendDotRefs(dst []Dot, refs []uint64, table []ReplicaID) ([]Dot, error) {
	if len(refs)%2 != 0 {
		return nil, fmt.Errorf("odd number of dot refs (%d)", len(refs))
	}
	for i := 0; i < len(refs); i += 2 {
		if refs[i] >= uint64(len(table)) {
			return nil, fmt.Errorf("dot ref to replica %d of a table of %d", refs[i], len(table))
		}
		dst = append(dst, Dot{Replica: table[refs[i]], Counter: refs[i+1]})
	}
	return dst, nil
}

// dotsFromProto appends the dots of ms to dst and checks them (see
// checkDots). A dot whose replica equals *replica shares its string, and
// *replica becomes the last dot's: a state holds many dots of few replicas.
// Errors do not wrap ErrDecode: the caller adds the context.
func dotsFromProto(dst []Dot, ms []*messages.Dot, ctx *CausalContext, replica *ReplicaID) ([]Dot, error) {
	for _, m := range ms {
		d := Dot{Replica: ReplicaID(m.GetReplica()), Counter: m.GetCounter()}
		if d.Replica == *replica {
			d.Replica = *replica
		}
		*replica = d.Replica
		dst = append(dst, d)
	}
	return checkDots(dst, ctx)
}

// checkDots sorts the dots of one key and checks that there is at least
// one, that none has counter 0 or repeats, and that ctx covers each and
// has not pruned its replica. Covered dots are within the limits the
// context was decoded under.
func checkDots(dots []Dot, ctx *CausalContext) ([]Dot, error) {
	if len(dots) == 0 {
		return nil, fmt.Errorf("no dots")
	}
	for _, d := range dots {
		if d.Counter == 0 {
			return nil, fmt.Errorf("dot of replica %q has counter 0", d.Replica)
		}
		if ctx.clock.pruned.has(d.Replica) {
			return nil, fmt.Errorf("dot %v of a pruned replica", d)
		}
		if !ctx.Contains(d) {
			return nil, fmt.Errorf("dot %v is not covered by the context", d)
		}
	}
	if !slices.IsSortedFunc(dots, compareDots) {
		slices.SortFunc(dots, compareDots)
	}
	for i := 1; i < len(dots); i++ {
		if dots[i] == dots[i-1] {
			return nil, fmt.Errorf("dot %v listed twice", dots[i])
		}
	}
	return dots, nil
}

// asDecodeError makes err wrap ErrDecode, which every decoding error of the
// package wraps: decodeValue's errors do, except ErrUnsupportedElement.
func asDecodeError(err error) error {
	if errors.Is(err, ErrDecode) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrDecode, err)
}

// Wire format of a DotKernel as a messages.ORSet, written and read directly
// with protowire: going through the generated messages costs one object per
// entry and per dot, which dominates the encoding and decoding of large sets.

// Field numbers of messages.ORSet, ORSetEntry and Dot.
const (
	orsetContextField  protowire.Number = 1
	orsetEntriesField  protowire.Number = 2
	orsetReplicasField protowire.Number = 3
	entryElementField  protowire.Number = 1
	entryDotsField     protowire.Number = 2
	entryDotRefsField  protowire.Number = 3
	dotReplicaField    protowire.Number = 1
	dotCounterField    protowire.Number = 2
	wireTagSize                         = 1 // every field number here is below 16
)

// appendKernelWire appends to b the encoding of k as a messages.ORSet, the
// same bytes as proto.Marshal of the message kernelEntriesToProto and the
// context build: fields in number order, empty scalars omitted, entries
// sorted by encoded element, dots in the compact form (packed pairs of
// replica index and counter) and the replica table last.
func appendKernelWire[K comparable](b []byte, k *DotKernel[K]) ([]byte, error) {
	list, order, _, err := encodeKernelEntries(k)
	if err != nil {
		return nil, err
	}
	table := replicaTable(list)
	indexOf := tableIndexer(table)
	sizes := make([]int, 2*len(list)) // of each entry's body, then of its packed dots
	total := 0
	for i, e := range list {
		size := 0
		if len(e.element) > 0 {
			size += wireTagSize + protowire.SizeBytes(len(e.element))
		}
		if len(e.dots) > 0 {
			refs := 0
			for _, d := range e.dots {
				refs += protowire.SizeVarint(indexOf(d.Replica)) + protowire.SizeVarint(d.Counter)
			}
			sizes[2*i+1] = refs
			size += wireTagSize + protowire.SizeBytes(refs)
		}
		sizes[2*i] = size
		total += wireTagSize + protowire.SizeBytes(size)
	}
	for _, r := range table {
		total += wireTagSize + protowire.SizeBytes(len(r))
	}

	var context []byte
	if m := k.ctx.toProtoOrNil(); m != nil {
		if context, err = proto.Marshal(m); err != nil {
			return nil, err
		}
		total += wireTagSize + protowire.SizeBytes(len(context))
	}
	b = slices.Grow(b, total)
	if context != nil {
		b = protowire.AppendTag(b, orsetContextField, protowire.BytesType)
		b = protowire.AppendBytes(b, context)
	}
	for _, i := range order {
		e := &list[i]
		b = protowire.AppendTag(b, orsetEntriesField, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[2*i]))
		if len(e.element) > 0 {
			b = protowire.AppendTag(b, entryElementField, protowire.BytesType)
			b = protowire.AppendBytes(b, e.element)
		}
		if len(e.dots) > 0 {
			b = protowire.AppendTag(b, entryDotRefsField, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(sizes[2*i+1]))
			for _, d := range e.dots {
				b = protowire.AppendVarint(b, indexOf(d.Replica))
				b = protowire.AppendVarint(b, d.Counter)
			}
		}
	}
	for _, r := range table {
		b = protowire.AppendTag(b, orsetReplicasField, protowire.BytesType)
		b = protowire.AppendString(b, string(r))
	}
	return b, nil
}

// kernelFromWire is the fast path of decoding a messages.ORSet into an
// empty kernel. It handles the encodings that appendKernelWire writes, and
// any other that has each singular field at most once and no unknown
// field; for anything else (or malformed bytes) it reports handled false,
// and the caller decodes through the generated code, which knows every rule
// of protobuf and gives the error. When handled, err is the same validation
// error (wrapping ErrDecode) that kernelFromProto would give.
func kernelFromWire[K comparable](k *DotKernel[K], data []byte, b *budget) (handled bool, err error) {
	// Pass 1: find the context and the replica table, and count the
	// entries.
	var (
		context []byte
		table   []ReplicaID
	)
	entries := 0
	for rest := data; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 || typ != protowire.BytesType {
			return false, nil
		}
		rest = rest[n:]
		value, n := protowire.ConsumeBytes(rest)
		if n < 0 {
			return false, nil
		}
		rest = rest[n:]
		switch num {
		case orsetContextField:
			if context != nil {
				return false, nil
			}
			context = value
		case orsetEntriesField:
			entries++
		case orsetReplicasField:
			if !utf8.Valid(value) {
				return false, nil
			}
			table = append(table, ReplicaID(value))
		default:
			return false, nil
		}
	}
	var m messages.CausalContext
	if err := proto.Unmarshal(context, &m); err != nil {
		return false, nil
	}
	ctx, err := contextFromProto(&m, b)
	if err != nil {
		return true, err
	}
	k.ctx = *ctx
	if err := checkReplicaTable(table, b); err != nil {
		return true, err
	}
	if entries == 0 {
		return true, nil
	}
	if err := b.take(entries, "orset entries"); err != nil {
		return true, err
	}
	k.entries = make(map[K][]Dot, entries)

	// Pass 2: the entries.
	var (
		dotBlock []Dot
		replica  ReplicaID // the last replica seen, shared by later dots
		i        int
	)
	for rest := data; len(rest) > 0; {
		num, _, n := protowire.ConsumeTag(rest)
		rest = rest[n:]
		entry, n := protowire.ConsumeBytes(rest)
		rest = rest[n:]
		if num != orsetEntriesField {
			continue
		}
		element, dots, ok := parseEntryWire(entry, dotBlock[:0], &replica, table)
		if !ok {
			return false, nil
		}
		if err := b.take(len(dots), "orset dots"); err != nil {
			return true, err
		}
		// Dot lists share blocks of memory; each list is capped so that it
		// can never grow into the next.
		if len(dotBlock) < len(dots) {
			dotBlock = make([]Dot, max(len(dots), entries-i))
			copy(dotBlock, dots)
		}
		dots = dotBlock[:len(dots):len(dots)]
		dotBlock = dotBlock[len(dots):]

		var key K
		if str, isString := any(&key).(*string); isString {
			*str = string(element) // what decodeValue does, without boxing key
		} else if key, err = decodeValue[K](element); err != nil {
			return true, fmt.Errorf("entry %d: %w", i, asDecodeError(err))
		}
		if _, dup := k.entries[key]; dup {
			return true, fmt.Errorf("%w: entry %d: duplicate element %v", ErrDecode, i, key)
		}
		if dots, err = checkDots(dots, &k.ctx); err != nil {
			return true, fmt.Errorf("%w: entry %d (element %v): %v", ErrDecode, i, key, err)
		}
		k.entries[key] = dots
		i++
	}
	return true, nil
}

// parseEntryWire parses an ORSetEntry message, appending its dots to dst
// (which may grow past its capacity: the caller copies them then). ok is
// false for anything but fields 1 (once), 2 and 3 (packed) with the right
// wire types, for malformed bytes or replica names that are not UTF-8, and
// for dot refs that appendDotRefs refuses (the generated code's path then
// gives the error).
func parseEntryWire(entry []byte, dst []Dot, replica *ReplicaID, table []ReplicaID) (element []byte, dots []Dot, ok bool) {
	seenElement := false
	dots = dst
	for len(entry) > 0 {
		num, typ, n := protowire.ConsumeTag(entry)
		if n < 0 || typ != protowire.BytesType {
			return nil, nil, false
		}
		entry = entry[n:]
		value, n := protowire.ConsumeBytes(entry)
		if n < 0 {
			return nil, nil, false
		}
		entry = entry[n:]
		switch num {
		case entryElementField:
			if seenElement {
				return nil, nil, false
			}
			seenElement = true
			element = value
		case entryDotsField:
			d, ok := parseDotWire(value, replica)
			if !ok {
				return nil, nil, false
			}
			dots = append(dots, d)
		case entryDotRefsField:
			for len(value) > 0 {
				index, n := protowire.ConsumeVarint(value)
				if n < 0 || index >= uint64(len(table)) {
					return nil, nil, false
				}
				value = value[n:]
				counter, n := protowire.ConsumeVarint(value)
				if n < 0 {
					return nil, nil, false
				}
				value = value[n:]
				dots = append(dots, Dot{Replica: table[index], Counter: counter})
			}
		default:
			return nil, nil, false
		}
	}
	return element, dots, true
}

// parseDotWire parses a Dot message; see parseEntryWire.
func parseDotWire(data []byte, replica *ReplicaID) (d Dot, ok bool) {
	seenReplica, seenCounter := false, false
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return Dot{}, false
		}
		data = data[n:]
		switch {
		case num == dotReplicaField && typ == protowire.BytesType && !seenReplica:
			value, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return Dot{}, false
			}
			data = data[n:]
			seenReplica = true
			if string(value) == string(*replica) {
				d.Replica = *replica // no allocation for a replica seen before
				continue
			}
			if !utf8.Valid(value) {
				return Dot{}, false
			}
			d.Replica = ReplicaID(value)
			*replica = d.Replica
		case num == dotCounterField && typ == protowire.VarintType && !seenCounter:
			value, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return Dot{}, false
			}
			data = data[n:]
			seenCounter = true
			d.Counter = value
		default:
			return Dot{}, false
		}
	}
	return d, true
}
