package crdt

import (
	"iter"
	"maps"
	"slices"
)

// DotKernel is the dot store of the causal CRDTs (Almeida, Shoker and
// Baquero, "Delta State Replicated Data Types", 2018): a map from key to the
// set of dots of the updates that keep the key present, plus the causal
// context of every dot the kernel has seen. A key is present while it holds
// at least one dot; removing it leaves nothing but its dots in the context
// (no tombstone).
//
// The join (Merge) keeps a dot of a key if both sides hold it, or if one
// side holds it and the other side's context has not seen it: a dot the
// other side has seen but no longer holds was removed there. Adds win over
// concurrent removes because a remove only covers the dots it observed.
//
// ORSet is a DotKernel over its elements; a Map keeps the presence of its
// fields in one. The zero value is an empty kernel, ready to use.
type DotKernel[K comparable] struct {
	// entries maps each present key to its dots: non-empty, sorted by
	// compareDots, and never written after being stored (copy on write), so
	// that merges and clones may share them.
	entries map[K][]Dot
	ctx     CausalContext
}

// Contains reports whether key is present.
func (k *DotKernel[K]) Contains(key K) bool {
	_, ok := k.entries[key]
	return ok
}

// Len returns the number of present keys.
func (k *DotKernel[K]) Len() int {
	return len(k.entries)
}

// Dots returns a copy of the dots of key, sorted by replica then counter;
// nil if key is absent.
func (k *DotKernel[K]) Dots(key K) []Dot {
	return slices.Clone(k.entries[key])
}

// Keys iterates over the present keys in no particular order.
func (k *DotKernel[K]) Keys() iter.Seq[K] {
	return maps.Keys(k.entries)
}

// Context returns a copy of the kernel's causal context.
func (k *DotKernel[K]) Context() *CausalContext {
	return k.ctx.Clone()
}

// Add makes key present with a new dot of replica that replaces the key's
// older dots, and returns the delta: the key with the new dot, and a
// context holding the new dot and the replaced ones, so that merging the
// delta replaces them everywhere too. A replica that is exhausted or pruned
// (see CausalContext.Next) cannot add: Add changes nothing and returns an
// empty delta.
func (k *DotKernel[K]) Add(replica ReplicaID, key K) *DotKernel[K] {
	dot := k.ctx.Next(replica)
	if dot.Counter == 0 {
		return &DotKernel[K]{}
	}
	old := k.entries[key]
	delta := &DotKernel[K]{entries: map[K][]Dot{key: {dot}}}
	delta.ctx.AddAll(old)
	delta.ctx.Add(dot)
	if k.entries == nil {
		k.entries = make(map[K][]Dot)
	}
	k.entries[key] = []Dot{dot}
	k.ctx.Add(dot)
	return delta
}

// Remove makes key absent and returns the delta: no keys, and a context
// holding the dots key had here. Adds of key that this kernel has not seen
// survive the remove. Removing an absent key returns an empty delta.
func (k *DotKernel[K]) Remove(key K) *DotKernel[K] {
	delta := &DotKernel[K]{}
	old, ok := k.entries[key]
	if !ok {
		return delta
	}
	delta.ctx.AddAll(old)
	delete(k.entries, key)
	return delta
}

// RemoveAll makes every key absent and returns the delta: no keys, and a
// context holding every dot the kernel's keys had.
func (k *DotKernel[K]) RemoveAll() *DotKernel[K] {
	delta := &DotKernel[K]{}
	for _, dots := range k.entries {
		delta.ctx.AddAll(dots)
	}
	clear(k.entries)
	return delta
}

// Prune replaces, in each key, the dots of removed by one new dot of into,
// then drops removed from the context and marks it as pruned (see
// Prunable), and returns the delta: the keys with their new dots, and a
// context holding the new dots and the mark. A key re-tagged this way acts
// as if into had added it again: a remove concurrent with the pruning does
// not remove it. It fails, changing nothing, on Prunable's argument errors
// or, wrapping ErrLimit, when into has not enough counters left.
func (k *DotKernel[K]) Prune(removed, into ReplicaID) (*DotKernel[K], error) {
	delta := &DotKernel[K]{}
	skip, err := k.ctx.clock.pruned.checkPruneArgs(removed, into)
	if err != nil || skip {
		return delta, err
	}
	var keys []K
	for key, dots := range k.entries {
		if slices.ContainsFunc(dots, func(d Dot) bool { return d.Replica == removed }) {
			keys = append(keys, key)
		}
	}
	if err := checkRetag(&k.ctx, into, len(keys)); err != nil {
		return delta, err
	}
	for _, key := range keys {
		dot := k.ctx.Next(into)
		k.ctx.Add(dot)
		delta.ctx.Add(dot)
		k.entries[key] = retagDots(k.entries[key], removed, dot)
		if delta.entries == nil {
			delta.entries = make(map[K][]Dot, len(keys))
		}
		delta.entries[key] = []Dot{dot}
	}
	mark, _ := k.ctx.Prune(removed, into)
	delta.ctx.Merge(mark)
	return delta, nil
}

// checkRetag fails, wrapping ErrLimit, if into cannot mint n more dots.
func checkRetag(ctx *CausalContext, into ReplicaID, n int) error {
	if n == 0 {
		return nil
	}
	if highest := ctx.Max(into); highest > MaxCounter-uint64(n) {
		return &LimitError{Limit: "counter", Where: "Prune", Value: highest + uint64(n), Max: MaxCounter}
	}
	return nil
}

// retagDots returns a new list: dots without those of removed, plus dot.
func retagDots(dots []Dot, removed ReplicaID, dot Dot) []Dot {
	out := make([]Dot, 0, len(dots))
	for _, d := range dots {
		if d.Replica != removed {
			out = append(out, d)
		}
	}
	i, _ := slices.BinarySearchFunc(out, dot, compareDots)
	return slices.Insert(out, i, dot)
}

// Pruned returns the prune marks, sorted by removed replica.
func (k *DotKernel[K]) Pruned() []PruneMark { return k.ctx.Pruned() }

// ForgetPruned drops the mark of removed (see Prunable).
func (k *DotKernel[K]) ForgetPruned(removed ReplicaID) bool { return k.ctx.ForgetPruned(removed) }

// Replicas returns the replicas of the context (which covers every dot of
// the keys), sorted.
func (k *DotKernel[K]) Replicas() []ReplicaID { return k.ctx.Replicas() }

// Merge joins other into k (see DotKernel) and reports whether k changed.
// Keys and dots other shares with k cost no allocation; Merge allocates for
// map growth when other brings new keys, and for a key's dots only when the
// joined dots are neither k's nor other's.
func (k *DotKernel[K]) Merge(other *DotKernel[K]) bool {
	if other == nil || k == other {
		return false
	}
	changed := joinKeyed(&k.entries, other.entries,
		func(_ K, mine, theirs []Dot) ([]Dot, bool) { return joinDots(mine, &k.ctx, theirs, &other.ctx) },
		func(_ K, theirs []Dot) []Dot { return filterUnseen(theirs, &k.ctx) })
	if k.ctx.Merge(&other.ctx) {
		changed = true
	}
	return changed
}

// joinKeyed is the key-by-key part of a dot-store join, shared by
// DotKernel and Map, on maps from a key to its dots (D holds a dot): each
// key of mine is joined with other's dots for it (nil when other lacks it)
// and dropped when none is left; a key only other has is adopted with the
// dots that adopt keeps. Both callbacks see the contexts as they were
// before the merge. It reports whether mine changed.
func joinKeyed[K comparable, D any](mine *map[K][]D, other map[K][]D,
	join func(key K, mine, theirs []D) ([]D, bool), adopt func(key K, theirs []D) []D) bool {
	changed := false
	for key, dots := range *mine {
		joined, keyChanged := join(key, dots, other[key])
		if !keyChanged {
			continue
		}
		changed = true
		if len(joined) == 0 {
			delete(*mine, key)
		} else {
			(*mine)[key] = joined
		}
	}
	for key, theirs := range other {
		if _, ok := (*mine)[key]; ok {
			continue
		}
		// A key dropped by the loop above has no dot mine has not seen,
		// so adopt keeps nothing of it either.
		kept := adopt(key, theirs)
		if len(kept) == 0 {
			continue
		}
		if *mine == nil {
			*mine = make(map[K][]D, len(other))
		}
		(*mine)[key] = kept
		changed = true
	}
	return changed
}

// Equal reports whether the two kernels hold the same keys with the same
// dots and the same context.
func (k *DotKernel[K]) Equal(other *DotKernel[K]) bool {
	if len(k.entries) != len(other.entries) || !k.ctx.Equal(&other.ctx) {
		return false
	}
	for key, mine := range k.entries {
		theirs, ok := other.entries[key]
		if !ok || !dotsEqual(mine, theirs) {
			return false
		}
	}
	return true
}

// New returns a new empty DotKernel; it reads nothing of its receiver, so
// it may be called on a nil *DotKernel (the ring makes payloads so).
func (*DotKernel[K]) New() *DotKernel[K] { return new(DotKernel[K]) }

// Clone returns a copy that shares nothing mutable with k.
func (k *DotKernel[K]) Clone() *DotKernel[K] {
	clone := &DotKernel[K]{}
	k.cloneInto(clone)
	return clone
}

// cloneInto overwrites dst with a copy of k. Dot lists are shared: they are
// never written once stored.
func (k *DotKernel[K]) cloneInto(dst *DotKernel[K]) {
	dst.entries = nil
	if len(k.entries) > 0 {
		dst.entries = maps.Clone(k.entries)
	}
	k.ctx.cloneInto(&dst.ctx)
}

// joinDots joins the dots one key holds on two sides: a dot survives if both
// sides hold it, or if one side holds it and the other side's context has
// not seen it. Both lists are sorted and never written. The result is a
// itself when unchanged (changed false), b itself when the join equals b,
// and a new list otherwise, so that the common cases do not allocate.
func joinDots(a []Dot, actx *CausalContext, b []Dot, bctx *CausalContext) (joined []Dot, changed bool) {
	if dotsEqual(a, b) {
		return a, false
	}
	keptA, keptB, total := 0, 0, 0
	walkJoin(a, actx, b, bctx, func(d Dot, inA, inB bool) {
		total++
		if inA {
			keptA++
		}
		if inB {
			keptB++
		}
	})
	switch {
	case keptA == len(a) && total == len(a):
		return a, false
	case total == 0:
		return nil, true
	case keptB == len(b) && total == len(b):
		return b, true
	}
	joined = make([]Dot, 0, total)
	walkJoin(a, actx, b, bctx, func(d Dot, _, _ bool) {
		joined = append(joined, d)
	})
	return joined, true
}

// walkJoin calls keep, in dot order, for each dot that survives the join of
// a and b, telling which sides hold it.
func walkJoin(a []Dot, actx *CausalContext, b []Dot, bctx *CausalContext, keep func(d Dot, inA, inB bool)) {
	walkByDot(a, b, func(d Dot) Dot { return d }, func(i, j int) {
		switch {
		case j < 0:
			if !bctx.Contains(a[i]) {
				keep(a[i], true, false)
			}
		case i < 0:
			if !actx.Contains(b[j]) {
				keep(b[j], false, true)
			}
		default:
			keep(a[i], true, true)
		}
	})
}

// walkByDot walks two lists sorted by dot together and calls visit, in dot
// order, with the indices of each dot: j is -1 for a dot only a holds, i is
// -1 for one only b holds. It is the one merge walk of every dot store.
func walkByDot[T any](a, b []T, dot func(T) Dot, visit func(i, j int)) {
	walkSorted(a, b, func(x, y T) int { return compareDots(dot(x), dot(y)) }, visit)
}

// filterUnseen returns the dots of dots that ctx has not seen: dots itself
// when ctx has seen none of them, so that the common case does not
// allocate.
func filterUnseen(dots []Dot, ctx *CausalContext) []Dot {
	unseen := 0
	for _, d := range dots {
		if !ctx.Contains(d) {
			unseen++
		}
	}
	switch unseen {
	case len(dots):
		return dots
	case 0:
		return nil
	}
	kept := make([]Dot, 0, unseen)
	for _, d := range dots {
		if !ctx.Contains(d) {
			kept = append(kept, d)
		}
	}
	return kept
}
