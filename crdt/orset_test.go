package crdt

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// orsetSpec drives ORSets of small ints, so that replicas often add and
// remove the same elements.
var orsetSpec = opSpec[*ORSet[int]]{
	New: func() *ORSet[int] { return &ORSet[int]{} },
	Op: func(r *rand.Rand, replica ReplicaID, s *ORSet[int]) *ORSet[int] {
		e := r.IntN(6)
		if r.IntN(3) == 0 {
			return s.Remove(e)
		}
		return s.Add(replica, e)
	},
	Value: func(s *ORSet[int]) any {
		elements := s.Elements()
		slices.Sort(elements)
		return elements
	},
}

func TestORSetLaws(t *testing.T) {
	checkLaws(t, "ORSet", historyGen(orsetSpec))
	checkConvergence(t, "ORSet", orsetSpec)
}
