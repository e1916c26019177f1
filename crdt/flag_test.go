package crdt

import (
	"math/rand/v2"
	"testing"
)

var ewflagSpec = opSpec[*EWFlag]{
	New: func() *EWFlag { return &EWFlag{} },
	Op: func(r *rand.Rand, replica ReplicaID, f *EWFlag) *EWFlag {
		if r.IntN(2) == 0 {
			return f.Disable()
		}
		return f.Enable(replica)
	},
	Value: func(f *EWFlag) any { return f.Value() },
}

var dwflagSpec = opSpec[*DWFlag]{
	New: func() *DWFlag { return &DWFlag{} },
	Op: func(r *rand.Rand, replica ReplicaID, f *DWFlag) *DWFlag {
		if r.IntN(2) == 0 {
			return f.Enable()
		}
		return f.Disable(replica)
	},
	Value: func(f *DWFlag) any { return f.Value() },
}

func TestFlagLaws(t *testing.T) {
	checkLaws(t, "EWFlag", historyGen(ewflagSpec))
	checkConvergence(t, "EWFlag", ewflagSpec)
	checkLaws(t, "DWFlag", historyGen(dwflagSpec))
	checkConvergence(t, "DWFlag", dwflagSpec)
}
