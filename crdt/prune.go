package crdt

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/genserverring/genserverring-go/messages"
)

// Prunable is implemented by the types whose entries of a replica that
// will never write again can be folded away (pruning, after Akka
// Distributed Data's pruning of removed nodes): GCounter, PNCounter,
// VClock, CausalContext, DotKernel, ORSet, EWFlag, DWFlag, MVRegister and
// Map. LWWRegister is not (see the package documentation, "Pruning").
//
// Pruning replica removed into replica into moves removed's contribution
// to into (a counter slot is added to into's slot; a live dot of removed
// is replaced by a new dot of into), drops every entry of removed, and
// records the decision as a PruneMark in the state. Marks are merged like
// the rest of the state (a grow-only set): a state that holds the mark
// ignores removed's entries in every state merged into it, so gossip from
// before the pruning never brings them back.
//
// Contract, which the ring keeps and other callers must keep too:
//
//   - Prune is called on the state of replica into itself, by the member
//     that owns into: into's own slot and dots are then complete there, and
//     the delta's new slot or dots are above what any other member holds.
//   - It is called once removed's member is gone for good and after into's
//     member has merged the state of every member, so that it holds all
//     that removed wrote (Akka waits for every member to have seen the
//     decision for the same reason). An entry of removed that reaches
//     nobody before the mark is lost.
//   - One member decides each pruning. Two members pruning the same
//     replica into themselves concurrently would count its slot twice.
type Prunable[P any] interface {
	// Prune folds removed into into and returns the delta to spread (the
	// mark and into's new entries). Pruning a replica already pruned here
	// changes nothing and returns an empty delta. It fails, changing
	// nothing, if removed or into is empty, if they are equal, if into is
	// itself pruned, or (wrapping ErrLimit) if a counter would pass
	// MaxCounter.
	Prune(removed, into ReplicaID) (delta P, err error)
	// Pruned returns the marks of the state, sorted by removed replica.
	Pruned() []PruneMark
	// ForgetPruned drops the mark of removed and reports whether there was
	// one: a mark costs a few dozen bytes, kept until every state that
	// could still carry removed's entries is gone. Forget only then (Akka
	// keeps marks for maxPruningDissemination, 300 s by default, and bans
	// the removed node from gossip): a state merged after the mark is
	// forgotten brings removed's entries back.
	ForgetPruned(removed ReplicaID) bool
	// Replicas returns the replicas that have entries in the state, sorted,
	// without duplicates: the candidates for pruning.
	Replicas() []ReplicaID
}

// The types that implement Prunable.
var (
	_ Prunable[*GCounter]           = (*GCounter)(nil)
	_ Prunable[*PNCounter]          = (*PNCounter)(nil)
	_ Prunable[*VClock]             = (*VClock)(nil)
	_ Prunable[*CausalContext]      = (*CausalContext)(nil)
	_ Prunable[*DotKernel[string]]  = (*DotKernel[string])(nil)
	_ Prunable[*ORSet[string]]      = (*ORSet[string])(nil)
	_ Prunable[*EWFlag]             = (*EWFlag)(nil)
	_ Prunable[*DWFlag]             = (*DWFlag)(nil)
	_ Prunable[*MVRegister[string]] = (*MVRegister[string])(nil)
	_ Prunable[*Map]                = (*Map)(nil)
)

// PruneMark records that Removed was pruned into Into.
type PruneMark struct {
	Removed ReplicaID
	Into    ReplicaID
}

func comparePruneMarks(a, b PruneMark) int {
	if c := cmp.Compare(a.Removed, b.Removed); c != 0 {
		return c
	}
	return cmp.Compare(a.Into, b.Into)
}

// ErrPrune is wrapped by the errors of Prune methods whose arguments break
// the contract of Prunable (an empty replica, a replica pruned into itself,
// into already pruned).
var ErrPrune = errors.New("crdt: prune")

// pruneSet is the set of the marks of a state: sorted by comparePruneMarks,
// no duplicates, never written once stored (copy on write), so that clones
// and merges share it. Two members that prune one replica into different
// replicas (which the contract forbids) leave two marks for it.
type pruneSet []PruneMark

// has reports whether replica is pruned.
func (s pruneSet) has(replica ReplicaID) bool {
	if len(s) == 0 {
		return false
	}
	i, _ := slices.BinarySearchFunc(s, replica, func(m PruneMark, r ReplicaID) int { return cmp.Compare(m.Removed, r) })
	return i < len(s) && s[i].Removed == replica
}

// with returns the set with mark added (a new slice).
func (s pruneSet) with(mark PruneMark) pruneSet {
	i, found := slices.BinarySearchFunc(s, mark, comparePruneMarks)
	if found {
		return s
	}
	out := make(pruneSet, 0, len(s)+1)
	out = append(out, s[:i]...)
	out = append(out, mark)
	return append(out, s[i:]...)
}

// without returns the set without the marks of removed, and whether there
// were any.
func (s pruneSet) without(removed ReplicaID) (pruneSet, bool) {
	if !s.has(removed) {
		return s, false
	}
	out := make(pruneSet, 0, len(s))
	for _, m := range s {
		if m.Removed != removed {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	return out, true
}

// union returns the union of s and other, and whether it differs from s.
// It returns s itself when other adds nothing.
func (s pruneSet) union(other pruneSet) (pruneSet, bool) {
	if len(other) == 0 || slices.Equal(s, other) {
		return s, false
	}
	added := 0
	walkSorted(s, other, comparePruneMarks, func(i, j int) {
		if i < 0 {
			added++
		}
	})
	if added == 0 {
		return s, false
	}
	out := make(pruneSet, 0, len(s)+added)
	walkSorted(s, other, comparePruneMarks, func(i, j int) {
		if i >= 0 {
			out = append(out, s[i])
		} else {
			out = append(out, other[j])
		}
	})
	return out, true
}

// walkSorted walks two sorted lists together, calling visit with the
// indices of each item (-1 on the side that lacks it).
func walkSorted[T any](a, b []T, compare func(T, T) int, visit func(i, j int)) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var order int
		switch {
		case j == len(b):
			order = -1
		case i == len(a):
			order = 1
		default:
			order = compare(a[i], b[j])
		}
		switch {
		case order < 0:
			visit(i, -1)
			i++
		case order > 0:
			visit(-1, j)
			j++
		default:
			visit(i, j)
			i++
			j++
		}
	}
}

// checkPruneArgs validates Prune's arguments against the marks of the
// state: skip is true when removed is already pruned.
func (s pruneSet) checkPruneArgs(removed, into ReplicaID) (skip bool, err error) {
	switch {
	case removed == "" || into == "":
		return false, fmt.Errorf("%w: empty replica ID (removed %q, into %q)", ErrPrune, removed, into)
	case removed == into:
		return false, fmt.Errorf("%w: replica %q into itself", ErrPrune, removed)
	case len(removed) > MaxReplicaIDLen || len(into) > MaxReplicaIDLen:
		return false, fmt.Errorf("%w: replica ID longer than %d bytes", ErrPrune, MaxReplicaIDLen)
	case s.has(into):
		return false, fmt.Errorf("%w: %q into %q, which is pruned itself", ErrPrune, removed, into)
	}
	return s.has(removed), nil
}

func (s pruneSet) toProto() []*messages.PruneMark {
	if len(s) == 0 {
		return nil
	}
	out := make([]*messages.PruneMark, len(s))
	for i, m := range s {
		out[i] = &messages.PruneMark{Removed: string(m.Removed), Into: string(m.Into)}
	}
	return out
}

// pruneSetFromProto decodes and checks marks: non-empty, distinct replicas
// within the length limit, no replica pruned into itself; any order, no
// duplicate. A mark into a replica pruned later is valid (a chain).
func pruneSetFromProto(ms []*messages.PruneMark, b *budget, where string) (pruneSet, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	if err := b.take(len(ms), where); err != nil {
		return nil, err
	}
	s := make(pruneSet, len(ms))
	for i, m := range ms {
		mark := PruneMark{Removed: ReplicaID(m.GetRemoved()), Into: ReplicaID(m.GetInto())}
		if mark.Removed == "" || mark.Into == "" || mark.Removed == mark.Into {
			return nil, fmt.Errorf("%w: %s: bad prune mark %q into %q", ErrDecode, where, mark.Removed, mark.Into)
		}
		if err := b.replica(string(mark.Removed), where); err != nil {
			return nil, err
		}
		if err := b.replica(string(mark.Into), where); err != nil {
			return nil, err
		}
		s[i] = mark
	}
	if !slices.IsSortedFunc(s, comparePruneMarks) {
		slices.SortFunc(s, comparePruneMarks)
	}
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			return nil, fmt.Errorf("%w: %s: prune mark %q into %q listed twice", ErrDecode, where, s[i].Removed, s[i].Into)
		}
	}
	return s, nil
}
