package crdt

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// Kind names the CRDT type of a Map field. Its values are those of
// messages.CRDTKind.
type Kind int32

// The kinds of Map fields.
const (
	KindORSet       = Kind(messages.CRDTKind_CRDT_KIND_ORSET)        // *ORSet[string]
	KindGCounter    = Kind(messages.CRDTKind_CRDT_KIND_GCOUNTER)     // *GCounter
	KindPNCounter   = Kind(messages.CRDTKind_CRDT_KIND_PNCOUNTER)    // *PNCounter
	KindLWWRegister = Kind(messages.CRDTKind_CRDT_KIND_LWW_REGISTER) // *LWWRegister[[]byte]
	KindMVRegister  = Kind(messages.CRDTKind_CRDT_KIND_MV_REGISTER)  // *MVRegister[[]byte]
	KindEWFlag      = Kind(messages.CRDTKind_CRDT_KIND_EW_FLAG)      // *EWFlag
	KindDWFlag      = Kind(messages.CRDTKind_CRDT_KIND_DW_FLAG)      // *DWFlag
	KindMap         = Kind(messages.CRDTKind_CRDT_KIND_MAP)          // *Map
)

// String returns the kind's name: "orset", "gcounter", ...
func (k Kind) String() string {
	if k.valid() {
		return kinds[k].name
	}
	return fmt.Sprintf("Kind(%d)", int32(k))
}

func (k Kind) valid() bool { return k >= KindORSet && k <= KindMap }

// MaxMapDepth is how deeply Maps may nest: a Map is at depth 1, a Map in
// one of its fields at depth 2, and so on. Decoding fails on deeper
// nesting, so that hostile input cannot exhaust the stack, and so does
// encoding, so that a Map that encodes also decodes.
const MaxMapDepth = 32

// MapKey names a Map field: two fields of different kinds may share a name.
type MapKey struct {
	Name string
	Kind Kind
}

// String formats the key as name:kind.
func (k MapKey) String() string { return k.Name + ":" + k.Kind.String() }

func compareKeys(a, b MapKey) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Kind, b.Kind)
}

// Map is a map of named CRDT fields (riak_dt_map, made delta-capable).
// Its keys have observed-remove semantics: updating a field mints a dot of
// the updating replica for its key, and removing it removes the dots it
// observed, so an update concurrent with a remove wins and the field stays.
// Field values are CRDTs of the kind in their key and merge recursively.
//
// Each dot of a key carries the field's value as written by the update
// that minted it (riak_dt_map keeps concurrent field values per dot the
// same way). Merges keep the dots that survive the observed-remove join,
// with their values, and the field's value is the join of them all. So a
// remove drops the state it observed: a field removed and updated
// concurrently keeps the value the updater wrote, and a field that is
// removed and then updated again starts from an empty value.
//
// Use the Update methods, one per kind, to change a field, and the getters
// of the same names to read one (they return copies):
//
//	var m crdt.Map
//	delta := m.UpdatePNCounter(replica, "visits", func(c *crdt.PNCounter) {
//		c.Increment(replica, 1)
//	})
//	visits, _ := m.PNCounter("visits") // visits.Value() == 1
//
// The function given to an Update method must update the value with the
// same replica (embedded causal types mint dots of it), and must not keep
// the value. If it panics, the map is unchanged. A replica that is
// exhausted or pruned in the map's context (see CausalContext.Next) cannot
// update: the function is not called, and the delta is empty.
//
// One anomaly remains, as in riak_dt_map: counters have no causality, so
// a counter field removed and updated again by one replica while another
// replica concurrently updates the old field merges the two by slot
// maximum, and the first replica's new increments show only once its slot
// exceeds the old one. Causal fields (sets, flags, MV registers, maps) have
// no such anomaly: a field a replica creates afresh has seen every dot that
// replica minted in earlier fields.
//
// The zero value is an empty map, ready to use. A Map is not safe for
// concurrent use.
type Map struct {
	// fields holds, for each present key, its dots sorted by compareDots,
	// each with the value of the update that minted it; never empty.
	fields map[MapKey][]fieldDot
	ctx    CausalContext
}

// fieldDot is one dot of a field's key and the value written with it: a
// pointer of the type that kinds[key.Kind] handles, owned by the map.
type fieldDot struct {
	dot   Dot
	value any
}

// Len returns the number of fields.
func (m *Map) Len() int { return len(m.fields) }

// Contains reports whether the field (name, kind) is present.
func (m *Map) Contains(name string, kind Kind) bool {
	_, ok := m.fields[MapKey{Name: name, Kind: kind}]
	return ok
}

// Keys returns the keys of the fields, sorted by name then kind.
func (m *Map) Keys() []MapKey {
	keys := make([]MapKey, 0, len(m.fields))
	for key := range m.fields {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

// Context returns a copy of the map's causal context (the dots of its
// keys, not those of the embedded values).
func (m *Map) Context() *CausalContext { return m.ctx.Clone() }

// Remove removes the field (name, kind) and returns the delta: no field,
// and a context holding the dots the field had here. Updates of the field
// that this map has not seen survive the remove. Removing an absent field
// returns an empty delta.
func (m *Map) Remove(name string, kind Kind) *Map {
	key := MapKey{Name: name, Kind: kind}
	delta := &Map{}
	for _, fd := range m.fields[key] {
		delta.ctx.Add(fd.dot)
	}
	delete(m.fields, key)
	return delta
}

// UpdateGCounter applies update to the GCounter field name (an empty one if
// absent) and returns the delta. See Map for the contract of update.
func (m *Map) UpdateGCounter(replica ReplicaID, name string, update func(*GCounter)) *Map {
	return updateField(m, replica, MapKey{Name: name, Kind: KindGCounter}, update)
}

// UpdatePNCounter applies update to the PNCounter field name (an empty one
// if absent) and returns the delta. See Map for the contract of update.
func (m *Map) UpdatePNCounter(replica ReplicaID, name string, update func(*PNCounter)) *Map {
	return updateField(m, replica, MapKey{Name: name, Kind: KindPNCounter}, update)
}

// UpdateLWWRegister applies update to the LWWRegister field name (an unset
// one if absent) and returns the delta. See Map for the contract of update.
func (m *Map) UpdateLWWRegister(replica ReplicaID, name string, update func(*LWWRegister[[]byte])) *Map {
	return updateField(m, replica, MapKey{Name: name, Kind: KindLWWRegister}, update)
}

// UpdateMVRegister applies update to the MVRegister field name (an empty
// one if absent) and returns the delta. See Map for the contract of update.
func (m *Map) UpdateMVRegister(replica ReplicaID, name string, update func(*MVRegister[[]byte])) *Map {
	return updateField(m, replica, MapKey{Name: name, Kind: KindMVRegister}, update)
}

// UpdateEWFlag applies update to the EWFlag field name (a disabled one if
// absent) and returns the delta. See Map for the contract of update.
func (m *Map) UpdateEWFlag(replica ReplicaID, name string, update func(*EWFlag)) *Map {
	return updateField(m, replica, MapKey{Name: name, Kind: KindEWFlag}, update)
}

// UpdateDWFlag applies update to the DWFlag field name (an enabled one if
// absent) and returns the delta. See Map for the contract of update.
func (m *Map) UpdateDWFlag(replica ReplicaID, name string, update func(*DWFlag)) *Map {
	return updateField(m, replica, MapKey{Name: name, Kind: KindDWFlag}, update)
}

// UpdateORSet applies update to the ORSet field name (an empty one if
// absent) and returns the delta. See Map for the contract of update.
func (m *Map) UpdateORSet(replica ReplicaID, name string, update func(*ORSet[string])) *Map {
	return updateField(m, replica, MapKey{Name: name, Kind: KindORSet}, update)
}

// UpdateMap applies update to the nested Map field name (an empty one if
// absent) and returns the delta. See Map for the contract of update.
func (m *Map) UpdateMap(replica ReplicaID, name string, update func(*Map)) *Map {
	return updateField(m, replica, MapKey{Name: name, Kind: KindMap}, update)
}

// GCounter returns a copy of the GCounter field name, if present.
func (m *Map) GCounter(name string) (*GCounter, bool) {
	return getField[*GCounter](m, MapKey{Name: name, Kind: KindGCounter})
}

// PNCounter returns a copy of the PNCounter field name, if present.
func (m *Map) PNCounter(name string) (*PNCounter, bool) {
	return getField[*PNCounter](m, MapKey{Name: name, Kind: KindPNCounter})
}

// LWWRegister returns a copy of the LWWRegister field name, if present.
func (m *Map) LWWRegister(name string) (*LWWRegister[[]byte], bool) {
	return getField[*LWWRegister[[]byte]](m, MapKey{Name: name, Kind: KindLWWRegister})
}

// MVRegister returns a copy of the MVRegister field name, if present.
func (m *Map) MVRegister(name string) (*MVRegister[[]byte], bool) {
	return getField[*MVRegister[[]byte]](m, MapKey{Name: name, Kind: KindMVRegister})
}

// EWFlag returns a copy of the EWFlag field name, if present.
func (m *Map) EWFlag(name string) (*EWFlag, bool) {
	return getField[*EWFlag](m, MapKey{Name: name, Kind: KindEWFlag})
}

// DWFlag returns a copy of the DWFlag field name, if present.
func (m *Map) DWFlag(name string) (*DWFlag, bool) {
	return getField[*DWFlag](m, MapKey{Name: name, Kind: KindDWFlag})
}

// ORSet returns a copy of the ORSet field name, if present.
func (m *Map) ORSet(name string) (*ORSet[string], bool) {
	return getField[*ORSet[string]](m, MapKey{Name: name, Kind: KindORSet})
}

// Map returns a copy of the nested Map field name, if present.
func (m *Map) Map(name string) (*Map, bool) {
	return getField[*Map](m, MapKey{Name: name, Kind: KindMap})
}

// fieldValue returns a copy of the join of the values of a field's dots.
func (m *Map) fieldValue(key MapKey) (any, bool) {
	dots, ok := m.fields[key]
	if !ok {
		return nil, false
	}
	ops := &kinds[key.Kind]
	value := ops.clone(dots[0].value)
	for _, fd := range dots[1:] {
		ops.merge(value, fd.value)
	}
	return value, true
}

func getField[P any](m *Map, key MapKey) (P, bool) {
	value, ok := m.fieldValue(key)
	if !ok {
		var zero P
		return zero, false
	}
	return value.(P), true
}

// updateField applies update to a copy of the field's value, stores the
// result under a new dot of replica that replaces the field's dots, and
// returns the delta: the field with the new dot and value, and a context
// holding the replaced dots and the new ones.
func updateField[P any](m *Map, replica ReplicaID, key MapKey, update func(P)) *Map {
	mustBeLocalReplica(replica, "Map update")
	ops := &kinds[key.Kind]
	outerMax := m.ctx.Max(replica)
	if m.ctx.Next(replica).Counter == 0 {
		// Exhausted or pruned (see CausalContext.Next): refuse the update.
		return &Map{}
	}
	value, ok := m.fieldValue(key)
	if !ok {
		value = ops.newValue()
		// A fresh value has seen every dot replica minted below this map,
		// in earlier lives of the field too (see the jump below), so it
		// will not mint them again and old dots that replica removed stay
		// removed.
		if ctx := ops.context(value); ctx != nil {
			var seen CausalContext
			seen.clock.Advance(replica, outerMax)
			ctx.Merge(&seen)
		}
	}
	update(value.(P))

	// The new dot is above every dot replica minted in the value, so that
	// the map's context covers them all (the jump is marked as seen; it is
	// one dot less than the number of dots the update minted inside).
	top := outerMax + 1
	if ctx := ops.context(value); ctx != nil {
		top = max(top, ctx.Max(replica))
	}
	dot := Dot{Replica: replica, Counter: top}

	delta := &Map{}
	old := m.fields[key]
	for _, fd := range old {
		delta.ctx.Add(fd.dot)
	}
	for counter := outerMax + 1; counter <= top; counter++ {
		delta.ctx.Add(Dot{Replica: replica, Counter: counter})
	}
	delta.fields = map[MapKey][]fieldDot{key: {{dot: dot, value: ops.clone(value)}}}

	m.ctx.Merge(&delta.ctx)
	if m.fields == nil {
		m.fields = make(map[MapKey][]fieldDot)
	}
	m.fields[key] = []fieldDot{{dot: dot, value: value}}
	return delta
}

// Merge joins other into m and reports whether m changed. A field's dot
// survives if both maps hold it, or if one holds it and the other has not
// seen it, and keeps its value; a field's value is the join of the values
// of its dots. Merging maps that hold the same dots allocates nothing and
// costs a dot comparison per field, whatever the size of the values.
func (m *Map) Merge(other *Map) bool {
	if other == nil || m == other {
		return false
	}
	changed := joinKeyed(&m.fields, other.fields,
		func(key MapKey, mine, theirs []fieldDot) ([]fieldDot, bool) {
			return m.joinField(&kinds[key.Kind], mine, theirs, &other.ctx)
		},
		func(key MapKey, theirs []fieldDot) []fieldDot {
			ops := &kinds[key.Kind]
			var kept []fieldDot
			for _, fd := range theirs {
				if !m.ctx.Contains(fd.dot) {
					kept = append(kept, fieldDot{dot: fd.dot, value: ops.clone(fd.value)})
				}
			}
			return kept
		})
	if m.ctx.Merge(&other.ctx) {
		changed = true
	}
	return changed
}

// joinField joins the dots of one key: mine (m's, with m's context) and
// theirs (with theirCtx). The result is mine itself, unchanged, unless a
// dot is dropped or added.
//
// The values of a dot both sides hold are not merged: a dot names one
// update, whose value never changes once written (an update writes a new
// dot), so they are the same value. This is what makes a gossip round that
// brings nothing new cheap; riak_dt_map does the same. It relies on the
// rule that a replica never mints a dot twice (see ReplicaID).
func (m *Map) joinField(ops *kindOps, mine, theirs []fieldDot, theirCtx *CausalContext) ([]fieldDot, bool) {
	reshaped := false
	walkByDot(mine, theirs, fieldDotOf, func(i, j int) {
		switch {
		case j < 0:
			reshaped = reshaped || theirCtx.Contains(mine[i].dot)
		case i < 0:
			reshaped = reshaped || !m.ctx.Contains(theirs[j].dot)
		}
	})
	if !reshaped {
		return mine, false
	}
	joined := make([]fieldDot, 0, len(mine)+len(theirs))
	walkByDot(mine, theirs, fieldDotOf, func(i, j int) {
		switch {
		case j < 0:
			if !theirCtx.Contains(mine[i].dot) {
				joined = append(joined, mine[i])
			}
		case i < 0:
			if !m.ctx.Contains(theirs[j].dot) {
				joined = append(joined, fieldDot{dot: theirs[j].dot, value: ops.clone(theirs[j].value)})
			}
		default:
			joined = append(joined, mine[i])
		}
	})
	return joined, true
}

// Equal reports whether the two maps have the same state: the same fields
// with the same dots and Equal values per dot, and the same context.
func (m *Map) Equal(other *Map) bool {
	if m == nil || other == nil {
		return m.isEmpty() && other.isEmpty()
	}
	if len(m.fields) != len(other.fields) || !m.ctx.Equal(&other.ctx) {
		return false
	}
	for key, mine := range m.fields {
		theirs, ok := other.fields[key]
		if !ok || len(mine) != len(theirs) {
			return false
		}
		ops := &kinds[key.Kind]
		for i := range mine {
			if mine[i].dot != theirs[i].dot || !ops.equal(mine[i].value, theirs[i].value) {
				return false
			}
		}
	}
	return true
}

func (m *Map) isEmpty() bool {
	return m == nil || len(m.fields) == 0 && m.ctx.IsEmpty()
}

// New returns a new empty Map; it reads nothing of its receiver, so
// it may be called on a nil *Map (the ring makes payloads so).
func (*Map) New() *Map { return new(Map) }

// Clone returns a deep copy.
func (m *Map) Clone() *Map {
	clone := &Map{}
	m.ctx.cloneInto(&clone.ctx)
	if len(m.fields) > 0 {
		clone.fields = make(map[MapKey][]fieldDot, len(m.fields))
		for key, dots := range m.fields {
			ops := &kinds[key.Kind]
			copied := make([]fieldDot, len(dots))
			for i, fd := range dots {
				copied[i] = fieldDot{dot: fd.dot, value: ops.clone(fd.value)}
			}
			clone.fields[key] = copied
		}
	}
	return clone
}

// String formats the map for logs: its keys and context.
func (m *Map) String() string {
	var sb strings.Builder
	sb.WriteString("Map{")
	for i, key := range m.Keys() {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(key.String())
	}
	sb.WriteString("} context ")
	sb.WriteString(m.ctx.String())
	return sb.String()
}

// ToProto returns the protobuf encoding of the map: one entry per dot of
// each field (a field updated concurrently has several), sorted by name,
// kind and dot, each dot in the compact form (an index into the map's
// replica table, and a counter). It fails if a value has no encoding or if Maps nest deeper
// than MaxMapDepth.
func (m *Map) ToProto() (*messages.Map, error) {
	return m.toProto(1)
}

func (m *Map) toProto(depth int) (*messages.Map, error) {
	if depth > MaxMapDepth {
		return nil, fmt.Errorf("crdt: Map nested deeper than MaxMapDepth (%d)", MaxMapDepth)
	}
	pb := &messages.Map{Context: m.ctx.ToProto()}
	if len(m.fields) == 0 {
		return pb, nil
	}
	total := 0
	var table []ReplicaID
	for _, dots := range m.fields {
		total += len(dots)
		for _, fd := range dots {
			if !slices.Contains(table, fd.dot.Replica) {
				table = append(table, fd.dot.Replica)
			}
		}
	}
	slices.Sort(table)
	indexOf := tableIndexer(table)
	pb.Replicas = make([]string, len(table))
	for i, r := range table {
		pb.Replicas[i] = string(r)
	}
	entryBlock := make([]messages.MapEntry, total)
	refBlock := make([]uint64, 2*total)
	pb.Entries = make([]*messages.MapEntry, 0, total)
	n := 0
	for _, key := range m.Keys() {
		ops := &kinds[key.Kind]
		for _, fd := range m.fields[key] {
			value, err := ops.toProto(fd.value, depth)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", key, err)
			}
			refs := refBlock[2*n : 2*n+2 : 2*n+2]
			refs[0], refs[1] = indexOf(fd.dot.Replica), fd.dot.Counter
			entry := &entryBlock[n]
			entry.Name = key.Name
			entry.Kind = messages.CRDTKind(key.Kind)
			entry.DotRefs = refs
			entry.Value = value
			pb.Entries = append(pb.Entries, entry)
			n++
		}
	}
	return pb, nil
}

// MapFromProto decodes a map under DefaultLimits (MaxEntries counts the
// entries of nested values too). Several entries may share a key (one per
// concurrent dot), and an entry with several dots gives each the same
// value. It fails, with an error wrapping ErrDecode, on an unknown kind, a
// value missing or of another kind than the key's, an entry without dots,
// a dot with counter 0, not covered by the context or listed twice for a
// key or of a pruned replica, a value that does not decode, Maps nested
// deeper than MaxMapDepth, or (wrapping ErrLimit too) values beyond the
// limits.
func MapFromProto(pb *messages.Map) (*Map, error) {
	return mapFromProto(pb, 1, defaultBudget())
}

func mapFromProto(pb *messages.Map, depth int, b *budget) (*Map, error) {
	if depth > MaxMapDepth {
		return nil, fmt.Errorf("%w: Map nested deeper than MaxMapDepth (%d)", ErrDecode, MaxMapDepth)
	}
	ctx, err := contextFromProto(pb.GetContext(), b)
	if err != nil {
		return nil, fmt.Errorf("map: %w", err)
	}
	if err := b.take(len(pb.GetEntries()), "map"); err != nil {
		return nil, err
	}
	table, err := replicaTableFromProto(pb.GetReplicas(), b)
	if err != nil {
		return nil, fmt.Errorf("map: %w", err)
	}
	m := &Map{ctx: *ctx}
	for i, entry := range pb.GetEntries() {
		key := MapKey{Name: entry.GetName(), Kind: Kind(entry.GetKind())}
		if !key.Kind.valid() {
			return nil, fmt.Errorf("%w: map entry %d (%q): unknown kind %d", ErrDecode, i, key.Name, int32(key.Kind))
		}
		if len(entry.GetDots()) == 0 && len(entry.GetDotRefs()) == 0 {
			return nil, fmt.Errorf("%w: map entry %d (%s): no dots", ErrDecode, i, key)
		}
		ops := &kinds[key.Kind]
		if err := b.take(len(entry.GetDots())+len(entry.GetDotRefs())/2, "map dots"); err != nil {
			return nil, err
		}
		entryDots := make([]Dot, 0, len(entry.GetDots())+len(entry.GetDotRefs())/2)
		for _, d := range entry.GetDots() {
			entryDots = append(entryDots, Dot{Replica: ReplicaID(d.GetReplica()), Counter: d.GetCounter()})
		}
		if entryDots, err = appendDotRefs(entryDots, entry.GetDotRefs(), table); err != nil {
			return nil, fmt.Errorf("%w: map entry %d (%s): %v", ErrDecode, i, key, err)
		}
		value, err := ops.fromProto(entry.GetValue(), depth, b)
		if err != nil {
			return nil, fmt.Errorf("map entry %d (%s): %w", i, key, err)
		}
		dots := m.fields[key]
		for j, dot := range entryDots {
			if dot.Counter == 0 {
				return nil, fmt.Errorf("%w: map entry %d (%s): dot of replica %q has counter 0", ErrDecode, i, key, dot.Replica)
			}
			if !m.ctx.Contains(dot) || m.ctx.clock.pruned.has(dot.Replica) {
				return nil, fmt.Errorf("%w: map entry %d (%s): dot %v is not covered by the context or is of a pruned replica", ErrDecode, i, key, dot)
			}
			if j > 0 {
				value = ops.clone(value)
			}
			dots = append(dots, fieldDot{dot: dot, value: value})
		}
		if m.fields == nil {
			m.fields = make(map[MapKey][]fieldDot)
		}
		m.fields[key] = dots
	}
	for key, dots := range m.fields {
		slices.SortFunc(dots, func(a, b fieldDot) int { return compareDots(a.dot, b.dot) })
		for i := 1; i < len(dots); i++ {
			if dots[i].dot == dots[i-1].dot {
				return nil, fmt.Errorf("%w: map field %s: dot %v listed twice", ErrDecode, key, dots[i].dot)
			}
		}
	}
	return m, nil
}

// MarshalBinary encodes the map as a messages.Map.
func (m *Map) MarshalBinary() ([]byte, error) {
	pb, err := m.ToProto()
	if err != nil {
		return nil, err
	}
	return proto.Marshal(pb)
}

// UnmarshalBinary replaces the map with the decoded messages.Map, under
// DefaultLimits. On error the map is unchanged.
func (m *Map) UnmarshalBinary(data []byte) error {
	return m.UnmarshalBinaryLimits(data, DefaultLimits())
}

// UnmarshalBinaryLimits is UnmarshalBinary under limits.
func (m *Map) UnmarshalBinaryLimits(data []byte, limits Limits) error {
	return unmarshalLimited(data, limits, "map", m, func(pb *messages.Map, b *budget) (*Map, error) {
		return mapFromProto(pb, 1, b)
	})
}

// CheckTimestamps runs LWWRegister.CheckTimestamp on every LWWRegister
// field, nested Maps included, and returns the first error, naming the
// field.
func (m *Map) CheckTimestamps(now time.Time, maxSkew time.Duration) error {
	for _, key := range m.Keys() {
		for _, fd := range m.fields[key] {
			var err error
			switch v := fd.value.(type) {
			case *LWWRegister[[]byte]:
				err = v.CheckTimestamp(now, maxSkew)
			case *Map:
				err = v.CheckTimestamps(now, maxSkew)
			}
			if err != nil {
				return fmt.Errorf("map field %s: %w", key, err)
			}
		}
	}
	return nil
}

// kindOps is what the Map needs to handle the values of one kind, stored
// as any: a pointer of the kind's type.
type kindOps struct {
	name      string
	newValue  func() any
	merge     func(dst, src any) bool
	equal     func(a, b any) bool
	clone     func(v any) any
	toProto   func(v any, depth int) (*messages.CRDTValue, error)
	fromProto func(pb *messages.CRDTValue, depth int, b *budget) (any, error)
	// context returns the causal context of a value of a causal kind, to
	// seed and read; nil for the other kinds.
	context func(v any) *CausalContext
}

// kinds is indexed by Kind. It is filled by init, because the Map's own
// entry refers back to the Map's methods.
var kinds [KindMap + 1]kindOps

// embedded returns the kindOps of P. wrap and unwrap convert between P
// and its CRDTValue; unwrap reports a CRDTValue of another kind with
// ok false.
func embedded[P CRDT[P]](
	name string,
	newValue func() P,
	wrap func(v P, depth int) (*messages.CRDTValue, error),
	unwrap func(pb *messages.CRDTValue, depth int, b *budget) (v P, ok bool, err error),
	context func(v P) *CausalContext,
) kindOps {
	ops := kindOps{
		name:     name,
		newValue: func() any { return newValue() },
		merge:    func(dst, src any) bool { return dst.(P).Merge(src.(P)) },
		equal:    func(a, b any) bool { return a.(P).Equal(b.(P)) },
		clone:    func(v any) any { return v.(P).Clone() },
		toProto:  func(v any, depth int) (*messages.CRDTValue, error) { return wrap(v.(P), depth) },
		fromProto: func(pb *messages.CRDTValue, depth int, b *budget) (any, error) {
			v, ok, err := unwrap(pb, depth, b)
			if err != nil {
				return nil, err
			}
			if !ok {
				if pb.GetValue() == nil {
					return nil, fmt.Errorf("%w: missing value", ErrDecode)
				}
				return nil, fmt.Errorf("%w: kind/value mismatch: %s field holds %T", ErrDecode, name, pb.GetValue())
			}
			return v, nil
		},
	}
	if context != nil {
		ops.context = func(v any) *CausalContext { return context(v.(P)) }
	} else {
		ops.context = func(any) *CausalContext { return nil }
	}
	return ops
}

func init() {
	kinds[KindORSet] = embedded("orset",
		func() *ORSet[string] { return &ORSet[string]{} },
		func(v *ORSet[string], _ int) (*messages.CRDTValue, error) {
			pb, err := v.ToProto()
			return &messages.CRDTValue{Value: &messages.CRDTValue_Orset{Orset: pb}}, err
		},
		func(pb *messages.CRDTValue, _ int, b *budget) (*ORSet[string], bool, error) {
			x, ok := pb.GetValue().(*messages.CRDTValue_Orset)
			if !ok {
				return nil, false, nil
			}
			v, err := orsetFromProto[string](x.Orset, b)
			return v, true, err
		},
		func(v *ORSet[string]) *CausalContext { return &v.kernel.ctx },
	)
	kinds[KindGCounter] = embedded("gcounter",
		func() *GCounter { return &GCounter{} },
		func(v *GCounter, _ int) (*messages.CRDTValue, error) {
			return &messages.CRDTValue{Value: &messages.CRDTValue_Gcounter{Gcounter: v.ToProto()}}, nil
		},
		func(pb *messages.CRDTValue, _ int, b *budget) (*GCounter, bool, error) {
			x, ok := pb.GetValue().(*messages.CRDTValue_Gcounter)
			if !ok {
				return nil, false, nil
			}
			v, err := gcounterFromProto(x.Gcounter, b)
			return v, true, err
		},
		nil,
	)
	kinds[KindPNCounter] = embedded("pncounter",
		func() *PNCounter { return &PNCounter{} },
		func(v *PNCounter, _ int) (*messages.CRDTValue, error) {
			return &messages.CRDTValue{Value: &messages.CRDTValue_Pncounter{Pncounter: v.ToProto()}}, nil
		},
		func(pb *messages.CRDTValue, _ int, b *budget) (*PNCounter, bool, error) {
			x, ok := pb.GetValue().(*messages.CRDTValue_Pncounter)
			if !ok {
				return nil, false, nil
			}
			v, err := pncounterFromProto(x.Pncounter, b)
			return v, true, err
		},
		nil,
	)
	kinds[KindLWWRegister] = embedded("lwwregister",
		func() *LWWRegister[[]byte] { return &LWWRegister[[]byte]{} },
		func(v *LWWRegister[[]byte], _ int) (*messages.CRDTValue, error) {
			pb, err := v.ToProto()
			return &messages.CRDTValue{Value: &messages.CRDTValue_LwwRegister{LwwRegister: pb}}, err
		},
		func(pb *messages.CRDTValue, _ int, b *budget) (*LWWRegister[[]byte], bool, error) {
			x, ok := pb.GetValue().(*messages.CRDTValue_LwwRegister)
			if !ok {
				return nil, false, nil
			}
			v, err := lwwregisterFromProto[[]byte](x.LwwRegister, b)
			return v, true, err
		},
		nil,
	)
	kinds[KindMVRegister] = embedded("mvregister",
		func() *MVRegister[[]byte] { return &MVRegister[[]byte]{} },
		func(v *MVRegister[[]byte], _ int) (*messages.CRDTValue, error) {
			pb, err := v.ToProto()
			return &messages.CRDTValue{Value: &messages.CRDTValue_MvRegister{MvRegister: pb}}, err
		},
		func(pb *messages.CRDTValue, _ int, b *budget) (*MVRegister[[]byte], bool, error) {
			x, ok := pb.GetValue().(*messages.CRDTValue_MvRegister)
			if !ok {
				return nil, false, nil
			}
			v, err := mvregisterFromProto[[]byte](x.MvRegister, b)
			return v, true, err
		},
		func(v *MVRegister[[]byte]) *CausalContext { return &v.ctx },
	)
	kinds[KindEWFlag] = embedded("ewflag",
		func() *EWFlag { return &EWFlag{} },
		func(v *EWFlag, _ int) (*messages.CRDTValue, error) {
			return &messages.CRDTValue{Value: &messages.CRDTValue_EwFlag{EwFlag: v.ToProto()}}, nil
		},
		func(pb *messages.CRDTValue, _ int, b *budget) (*EWFlag, bool, error) {
			x, ok := pb.GetValue().(*messages.CRDTValue_EwFlag)
			if !ok {
				return nil, false, nil
			}
			v, err := ewflagFromProto(x.EwFlag, b)
			return v, true, err
		},
		func(v *EWFlag) *CausalContext { return &v.flag.ctx },
	)
	kinds[KindDWFlag] = embedded("dwflag",
		func() *DWFlag { return &DWFlag{} },
		func(v *DWFlag, _ int) (*messages.CRDTValue, error) {
			return &messages.CRDTValue{Value: &messages.CRDTValue_DwFlag{DwFlag: v.ToProto()}}, nil
		},
		func(pb *messages.CRDTValue, _ int, b *budget) (*DWFlag, bool, error) {
			x, ok := pb.GetValue().(*messages.CRDTValue_DwFlag)
			if !ok {
				return nil, false, nil
			}
			v, err := dwflagFromProto(x.DwFlag, b)
			return v, true, err
		},
		func(v *DWFlag) *CausalContext { return &v.flag.ctx },
	)
	kinds[KindMap] = embedded("map",
		func() *Map { return &Map{} },
		func(v *Map, depth int) (*messages.CRDTValue, error) {
			pb, err := v.toProto(depth + 1)
			return &messages.CRDTValue{Value: &messages.CRDTValue_Map{Map: pb}}, err
		},
		func(pb *messages.CRDTValue, depth int, b *budget) (*Map, bool, error) {
			x, ok := pb.GetValue().(*messages.CRDTValue_Map)
			if !ok {
				return nil, false, nil
			}
			v, err := mapFromProto(x.Map, depth+1, b)
			return v, true, err
		},
		func(v *Map) *CausalContext { return &v.ctx },
	)
}

// fieldDotOf is the dot of a field's entry, to walk field dots in order.
func fieldDotOf(fd fieldDot) Dot { return fd.dot }
