package crdt

import (
	"math/rand/v2"
	"testing"
)

var mvregisterSpec = opSpec[*MVRegister[string]]{
	New: func() *MVRegister[string] { return &MVRegister[string]{} },
	Op: func(r *rand.Rand, replica ReplicaID, reg *MVRegister[string]) *MVRegister[string] {
		return reg.Set(replica, string(rune('a'+r.IntN(26))))
	},
	Value: func(reg *MVRegister[string]) any { return reg.Values() },
}

func TestMVRegisterLaws(t *testing.T) {
	checkLaws(t, "MVRegister", historyGen(mvregisterSpec))
	checkConvergence(t, "MVRegister", mvregisterSpec)
}
