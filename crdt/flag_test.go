package crdt

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
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

func TestEWFlag(t *testing.T) {
	var a, b EWFlag
	assert.False(t, a.Value(), "an EWFlag starts disabled")
	assert.True(t, a.Disable().Equal(&EWFlag{}), "disabling a disabled flag gives an empty delta")

	a.Enable("a")
	assert.True(t, a.Value())
	b.Merge(&a)
	assert.True(t, b.Value())

	// Concurrent enable and disable: enable wins.
	a.Disable()
	b.Enable("b")
	assert.False(t, a.Value())
	ab, ba := a.Clone(), b.Clone()
	ab.Merge(&b)
	ba.Merge(&a)
	assert.True(t, ab.Value())
	assert.True(t, ab.Equal(ba))

	// A disable that has seen every enable wins.
	ab.Disable()
	ba.Merge(ab)
	assert.False(t, ba.Value())
	assert.True(t, ba.Equal(ab))
}

func TestDWFlag(t *testing.T) {
	var a, b DWFlag
	assert.True(t, a.Value(), "a DWFlag starts enabled: no disable is live")
	assert.True(t, a.Enable().Equal(&DWFlag{}), "enabling an enabled flag gives an empty delta")

	a.Disable("a")
	assert.False(t, a.Value())
	b.Merge(&a)
	assert.False(t, b.Value())

	// Concurrent disable and enable: disable wins.
	a.Enable()
	b.Disable("b")
	assert.True(t, a.Value())
	ab, ba := a.Clone(), b.Clone()
	ab.Merge(&b)
	ba.Merge(&a)
	assert.False(t, ab.Value())
	assert.True(t, ab.Equal(ba))

	// An enable that has seen every disable wins.
	ab.Enable()
	ba.Merge(ab)
	assert.True(t, ba.Value())
	assert.True(t, ba.Equal(ab))
}

func TestFlagDeltas(t *testing.T) {
	var f EWFlag
	f.Enable("a")
	delta := f.Enable("a")
	assert.Equal(t, []Dot{{"a", 2}}, delta.flag.dots)
	assert.Equal(t, "{a:2} cloud[]", delta.flag.ctx.String(), "the delta covers the replaced enable")
	delta = f.Disable()
	assert.Empty(t, delta.flag.dots)
	assert.Equal(t, "{} cloud[a:2]", delta.flag.ctx.String(), "the delta covers the live enable only")

	// A disable delta that arrives before the enable it removes.
	var source, target EWFlag
	enable := source.Enable("a")
	disable := source.Disable()
	target.Merge(disable)
	target.Merge(enable)
	assert.False(t, target.Value())
	assert.True(t, target.Equal(&source))
}

func TestFlagCloneIsIndependent(t *testing.T) {
	var f DWFlag
	f.Disable("a")
	clone := f.Clone()
	clone.Enable()
	clone.Disable("b")
	assert.Equal(t, []Dot{{"a", 1}}, f.flag.dots)
	assert.Equal(t, "{a:1} cloud[]", f.flag.ctx.String())
}

func TestFlagFromProtoErrors(t *testing.T) {
	context := &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "a", Counter: 1}}}}
	tests := []struct {
		name string
		m    *messages.Flag
		want string
	}{
		{"zero counter", &messages.Flag{Context: context, Dots: []*messages.Dot{{Replica: "a"}}}, "counter 0"},
		{"dot not covered", &messages.Flag{Context: context, Dots: []*messages.Dot{{Replica: "a", Counter: 2}}}, "not covered"},
		{"dot listed twice", &messages.Flag{Context: context, Dots: []*messages.Dot{{Replica: "a", Counter: 1}, {Replica: "a", Counter: 1}}}, "listed twice"},
		{"bad context", &messages.Flag{Context: &messages.CausalContext{Cloud: []*messages.Dot{{Replica: "a"}}}}, "counter 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EWFlagFromProto(tt.m)
			require.ErrorIs(t, err, ErrDecode)
			assert.Contains(t, err.Error(), tt.want)
			_, err = DWFlagFromProto(tt.m)
			require.ErrorIs(t, err, ErrDecode)

			data, err := proto.Marshal(tt.m)
			require.NoError(t, err)
			var ew EWFlag
			ew.Enable("z")
			require.ErrorIs(t, ew.UnmarshalBinary(data), ErrDecode)
			assert.True(t, ew.Value(), "a failed decode leaves the receiver unchanged")
			var dw DWFlag
			dw.Disable("z")
			require.ErrorIs(t, dw.UnmarshalBinary(data), ErrDecode)
			assert.False(t, dw.Value(), "a failed decode leaves the receiver unchanged")
		})
	}
	var ew EWFlag
	require.ErrorIs(t, ew.UnmarshalBinary([]byte{0xff}), ErrDecode)
}

func TestFlagProtoRoundTrip(t *testing.T) {
	var ew EWFlag
	ew.Enable("a")
	decodedEW, err := EWFlagFromProto(ew.ToProto())
	require.NoError(t, err)
	assert.True(t, decodedEW.Equal(&ew))
	var dw DWFlag
	dw.Disable("a")
	decodedDW, err := DWFlagFromProto(dw.ToProto())
	require.NoError(t, err)
	assert.True(t, decodedDW.Equal(&dw))
}

func FuzzEWFlagDecode(f *testing.F) {
	causalSeedCorpus(f, historyGen(ewflagSpec))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, func() *EWFlag { return &EWFlag{} })
	})
}

func FuzzDWFlagDecode(f *testing.F) {
	causalSeedCorpus(f, historyGen(dwflagSpec))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, func() *DWFlag { return &DWFlag{} })
	})
}
