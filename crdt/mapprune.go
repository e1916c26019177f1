package crdt

import (
	"slices"
)

// replicaLister is what a Map field value that Prune can reach implements.
type replicaLister interface{ Replicas() []ReplicaID }

// Prune folds removed into into in every field (see Prunable for the
// contract): each field whose key has a dot of removed, or whose value
// holds entries of removed, is written again by into, as an update would:
// its values are joined, the join is pruned (counters move removed's slots
// into into's, causal values re-tag removed's dots, nested Maps recurse),
// and the result is stored under one new dot of into that replaces the
// field's dots. Then removed is marked as pruned in the map's context.
// LWWRegister fields keep the replica of their write (it is one ID per
// register, replaced by the next write). It returns the delta: the
// rewritten fields and the mark. A field rewritten this way acts as an
// update by into: a concurrent remove of it does not remove it. On error
// (see Prunable) the map is unchanged.
func (m *Map) Prune(removed, into ReplicaID) (*Map, error) {
	delta := &Map{}
	skip, err := m.ctx.clock.pruned.checkPruneArgs(removed, into)
	if err != nil || skip {
		return delta, err
	}
	// Work on a copy, so that an error halfway leaves m as it was.
	work := m.Clone()
	for _, key := range work.Keys() {
		if !fieldMentions(work.fields[key], removed) {
			continue
		}
		if work.ctx.Next(into).Counter == 0 {
			return &Map{}, &LimitError{Limit: "counter", Where: "Map.Prune", Value: MaxCounter + 1, Max: MaxCounter}
		}
		var pruneErr error
		fieldDelta := updateField(work, into, key, func(value any) {
			if p, ok := value.(interface {
				pruneAny(removed, into ReplicaID) error
			}); ok {
				pruneErr = p.pruneAny(removed, into)
			}
		})
		if pruneErr != nil {
			return &Map{}, pruneErr
		}
		delta.Merge(fieldDelta)
	}
	mark, err := work.ctx.Prune(removed, into)
	if err != nil {
		return &Map{}, err
	}
	delta.ctx.Merge(mark)
	*m = *work
	return delta, nil
}

// fieldMentions reports whether a field has a dot of replica, or a value
// with entries of it.
func fieldMentions(dots []fieldDot, replica ReplicaID) bool {
	for _, fd := range dots {
		if fd.dot.Replica == replica {
			return true
		}
		if v, ok := fd.value.(replicaLister); ok && slices.Contains(v.Replicas(), replica) {
			return true
		}
	}
	return false
}

// pruneAny adapts each prunable field type's Prune for Map.Prune, which
// holds values as any and discards the nested deltas (the rewritten
// field is the delta).
func (c *GCounter) pruneAny(removed, into ReplicaID) error {
	_, err := c.Prune(removed, into)
	return err
}

func (c *PNCounter) pruneAny(removed, into ReplicaID) error {
	_, err := c.Prune(removed, into)
	return err
}

func (s *ORSet[E]) pruneAny(removed, into ReplicaID) error {
	_, err := s.Prune(removed, into)
	return err
}

func (r *MVRegister[V]) pruneAny(removed, into ReplicaID) error {
	_, err := r.Prune(removed, into)
	return err
}

func (f *EWFlag) pruneAny(removed, into ReplicaID) error {
	_, err := f.Prune(removed, into)
	return err
}

func (f *DWFlag) pruneAny(removed, into ReplicaID) error {
	_, err := f.Prune(removed, into)
	return err
}

func (m *Map) pruneAny(removed, into ReplicaID) error {
	_, err := m.Prune(removed, into)
	return err
}

// Pruned returns the prune marks of the map's context, sorted by removed
// replica (nested values hold their own).
func (m *Map) Pruned() []PruneMark { return m.ctx.Pruned() }

// ForgetPruned drops the mark of removed from the map's context and from
// every field value (see Prunable).
func (m *Map) ForgetPruned(removed ReplicaID) bool {
	found := m.ctx.ForgetPruned(removed)
	for _, dots := range m.fields {
		for _, fd := range dots {
			if v, ok := fd.value.(interface{ ForgetPruned(ReplicaID) bool }); ok && v.ForgetPruned(removed) {
				found = true
			}
		}
	}
	return found
}

// Replicas returns the replicas of the map's context and of its field
// values (not the writers of LWWRegister fields), sorted.
func (m *Map) Replicas() []ReplicaID {
	replicas := m.ctx.Replicas()
	for _, dots := range m.fields {
		for _, fd := range dots {
			if v, ok := fd.value.(replicaLister); ok {
				replicas = append(replicas, v.Replicas()...)
			}
		}
	}
	slices.Sort(replicas)
	return slices.Compact(replicas)
}
