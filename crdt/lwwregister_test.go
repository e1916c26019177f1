package crdt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// lwwSpec describes LWWRegister's updates to the law harness. Timestamps
// and values come from small ranges, so that writes tie on timestamp, and
// a replica's own writes tie on (timestamp, replica) with different values.
var lwwSpec = opSpec[*LWWRegister[string]]{
	New: func() *LWWRegister[string] { return &LWWRegister[string]{} },
	Op: func(r *rand.Rand, replica ReplicaID, reg *LWWRegister[string]) *LWWRegister[string] {
		return reg.Set(replica, r.Int64N(4), string(rune('p'+r.IntN(4))))
	},
	Value: func(reg *LWWRegister[string]) any {
		v, ok := reg.Value()
		return fmt.Sprint(v, ok, reg.Timestamp(), reg.Replica())
	},
}

func TestLWWRegisterLaws(t *testing.T) {
	checkLaws(t, "LWWRegister", historyGen(lwwSpec))
	checkConvergence(t, "LWWRegister", lwwSpec)
}

type lwwWrite struct {
	replica   ReplicaID
	timestamp int64
	value     string
}

func TestLWWRegisterSet(t *testing.T) {
	tests := []struct {
		name          string
		writes        []lwwWrite
		want          string
		wantSet       bool
		wantTimestamp int64
		wantReplica   ReplicaID
	}{
		{name: "zero value is unset"},
		{name: "one write", writes: []lwwWrite{{"a", 5, "x"}}, want: "x", wantSet: true, wantTimestamp: 5, wantReplica: "a"},
		{name: "later timestamp wins", writes: []lwwWrite{{"b", 5, "x"}, {"a", 6, "y"}}, want: "y", wantSet: true, wantTimestamp: 6, wantReplica: "a"},
		{name: "earlier timestamp loses", writes: []lwwWrite{{"a", 6, "y"}, {"b", 5, "x"}}, want: "y", wantSet: true, wantTimestamp: 6, wantReplica: "a"},
		{name: "tie broken by greater replica", writes: []lwwWrite{{"b", 5, "x"}, {"a", 5, "y"}}, want: "x", wantSet: true, wantTimestamp: 5, wantReplica: "b"},
		{name: "tie on replica broken by greater encoding", writes: []lwwWrite{{"a", 5, "y"}, {"a", 5, "x"}}, want: "y", wantSet: true, wantTimestamp: 5, wantReplica: "a"},
		{name: "negative timestamps", writes: []lwwWrite{{"a", -5, "x"}, {"a", -6, "y"}}, want: "x", wantSet: true, wantTimestamp: -5, wantReplica: "a"},
		{name: "empty value is a value", writes: []lwwWrite{{"a", 0, ""}}, want: "", wantSet: true, wantTimestamp: 0, wantReplica: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reg LWWRegister[string]
			for _, w := range tt.writes {
				delta := reg.Set(w.replica, w.timestamp, w.value)
				v, ok := delta.Value()
				assert.True(t, ok)
				assert.Equal(t, w.value, v, "the delta is the write")
			}
			v, ok := reg.Value()
			assert.Equal(t, tt.wantSet, ok)
			assert.Equal(t, tt.want, v)
			assert.Equal(t, tt.wantTimestamp, reg.Timestamp())
			assert.Equal(t, tt.wantReplica, reg.Replica())
		})
	}
}

func TestLWWRegisterSetEmptyReplicaPanics(t *testing.T) {
	var reg LWWRegister[int]
	assert.Panics(t, func() { reg.Set("", 1, 1) })
}

func TestLWWRegisterMerge(t *testing.T) {
	write := func(replica ReplicaID, ts int64, v string) *LWWRegister[string] {
		var reg LWWRegister[string]
		reg.Set(replica, ts, v)
		return &reg
	}
	unset := &LWWRegister[string]{}
	tests := []struct {
		name        string
		receiver    *LWWRegister[string]
		other       *LWWRegister[string]
		want        *LWWRegister[string]
		wantChanged bool
	}{
		{name: "unset into unset", receiver: &LWWRegister[string]{}, other: unset, want: unset},
		{name: "nil other", receiver: write("a", 1, "x"), other: nil, want: write("a", 1, "x")},
		{name: "unset other", receiver: write("a", 1, "x"), other: unset, want: write("a", 1, "x")},
		{name: "into unset", receiver: &LWWRegister[string]{}, other: write("a", 1, "x"), want: write("a", 1, "x"), wantChanged: true},
		{name: "newer", receiver: write("a", 1, "x"), other: write("a", 2, "y"), want: write("a", 2, "y"), wantChanged: true},
		{name: "older", receiver: write("a", 2, "y"), other: write("b", 1, "x"), want: write("a", 2, "y")},
		{name: "same write", receiver: write("a", 2, "y"), other: write("a", 2, "y"), want: write("a", 2, "y")},
		{name: "tie, greater replica", receiver: write("a", 2, "y"), other: write("b", 2, "x"), want: write("b", 2, "x"), wantChanged: true},
		{name: "tie, greater value", receiver: write("a", 2, "x"), other: write("a", 2, "y"), want: write("a", 2, "y"), wantChanged: true},
		{name: "tie, smaller value", receiver: write("a", 2, "y"), other: write("a", 2, "x"), want: write("a", 2, "y")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantChanged, tt.receiver.Merge(tt.other))
			assert.True(t, tt.receiver.Equal(tt.want), "got %v want %v", tt.receiver, tt.want)
		})
	}
}

func TestLWWRegisterEqual(t *testing.T) {
	var unset LWWRegister[string]
	var set LWWRegister[string]
	set.Set("a", 1, "x")
	assert.True(t, (*LWWRegister[string])(nil).Equal(&unset))
	assert.True(t, unset.Equal(nil))
	assert.False(t, set.Equal(nil))
	assert.False(t, unset.Equal(&set))
	assert.True(t, set.Equal(set.Clone()))
}

func TestLWWRegisterCloneIsDeep(t *testing.T) {
	var reg LWWRegister[[]byte]
	reg.Set("a", 1, []byte("abc"))
	clone := reg.Clone()
	v, _ := reg.Value()
	v[0] = 'X' // breaks the immutability rule on purpose
	got, ok := clone.Value()
	require.True(t, ok)
	assert.Equal(t, []byte("abc"), got)
	assert.Equal(t, "LWWRegister(unset)", (&LWWRegister[int]{}).String())
	assert.Equal(t, "LWWRegister(7 @1 by a)", (&LWWRegister[int]{}).Set("a", 1, 7).String())
}

// badMarshaler is a value type whose encoding always fails.
type badMarshaler struct{}

func (badMarshaler) MarshalBinary() ([]byte, error) { return nil, errors.New("no encoding") }

func TestLWWRegisterUnencodableValue(t *testing.T) {
	t.Run("type outside the codec", func(t *testing.T) {
		var reg LWWRegister[struct{ N int }]
		reg.Set("a", 1, struct{ N int }{N: 3})
		v, ok := reg.Value()
		assert.True(t, ok)
		assert.Equal(t, 3, v.N)
		_, err := reg.MarshalBinary()
		assert.ErrorIs(t, err, ErrUnsupportedElement)
		assert.True(t, reg.Clone().Equal(&reg))
	})
	t.Run("marshaler that fails", func(t *testing.T) {
		var reg LWWRegister[badMarshaler]
		reg.Set("a", 1, badMarshaler{})
		_, err := reg.ToProto()
		assert.ErrorContains(t, err, "no encoding")
		// A later encodable write is not possible for this type, but an
		// unset register still encodes.
		_, err = (&LWWRegister[badMarshaler]{}).MarshalBinary()
		assert.NoError(t, err)
	})
}

func TestLWWRegisterRoundTrip(t *testing.T) {
	t.Run("string", func(t *testing.T) {
		for _, reg := range []*LWWRegister[string]{{}, (&LWWRegister[string]{}).Set("a", -3, "hello")} {
			data, err := reg.MarshalBinary()
			require.NoError(t, err)
			var decoded LWWRegister[string]
			require.NoError(t, decoded.UnmarshalBinary(data))
			assert.True(t, reg.Equal(&decoded))
		}
	})
	t.Run("int64", func(t *testing.T) {
		reg := (&LWWRegister[int64]{}).Set("a", 9, -42)
		data, err := reg.MarshalBinary()
		require.NoError(t, err)
		var decoded LWWRegister[int64]
		require.NoError(t, decoded.UnmarshalBinary(data))
		v, ok := decoded.Value()
		assert.True(t, ok)
		assert.Equal(t, int64(-42), v)
		assert.Equal(t, int64(9), decoded.Timestamp())
	})
}

func TestLWWRegisterFromProto(t *testing.T) {
	tests := []struct {
		name         string
		pb           *messages.LWWRegister
		wantErr      string
		wantSentinel error
	}{
		{name: "nil message"},
		{name: "unset", pb: &messages.LWWRegister{}},
		{name: "set with value", pb: &messages.LWWRegister{Set: true, Replica: "a", Timestamp: 3, Value: []byte{1}}},
		{name: "unset with a value", pb: &messages.LWWRegister{Value: []byte{1}}, wantErr: "unset register carries"},
		{name: "unset with a timestamp", pb: &messages.LWWRegister{Timestamp: 1}, wantErr: "unset register carries"},
		{name: "unset with a replica", pb: &messages.LWWRegister{Replica: "a"}, wantErr: "unset register carries"},
		{name: "set without replica", pb: &messages.LWWRegister{Set: true}, wantErr: "empty replica"},
		{name: "bad value", pb: &messages.LWWRegister{Set: true, Replica: "a", Value: []byte{0x80}}, wantErr: "bad uvarint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LWWRegisterFromProto[uint8](tt.pb)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrDecode)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
	t.Run("type outside the codec", func(t *testing.T) {
		_, err := LWWRegisterFromProto[struct{}](&messages.LWWRegister{Set: true, Replica: "a"})
		require.ErrorIs(t, err, ErrDecode)
		assert.ErrorIs(t, err, ErrUnsupportedElement)
	})
}

func TestLWWRegisterUnmarshalErrorLeavesReceiver(t *testing.T) {
	reg := (&LWWRegister[string]{}).Set("a", 1, "x")
	before := reg.Clone()
	bad, err := proto.Marshal(&messages.LWWRegister{Set: true})
	require.NoError(t, err)
	for _, data := range [][]byte{{0xff}, bad} {
		require.ErrorIs(t, reg.UnmarshalBinary(data), ErrDecode)
		assert.True(t, reg.Equal(before))
	}
}

func FuzzLWWRegisterDecode(f *testing.F) {
	addStates(f, 8, historyGen(lwwSpec))
	for _, junk := range junkSeeds {
		f.Add(junk)
	}
	addEncodings(f,
		&messages.LWWRegister{Set: true, Replica: "a", Timestamp: -1, Value: []byte{0x02}},
		&messages.LWWRegister{Set: true, Replica: "a", Value: []byte{0x80, 0x80}},
		&messages.LWWRegister{Set: true},
		&messages.LWWRegister{Timestamp: 4},
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		// One encoding, three value types: a value that any bytes decode to,
		// a string, and one whose decoder can fail.
		checkDecodeRoundTrip(t, data, func() *LWWRegister[[]byte] { return (&LWWRegister[[]byte]{}).Set("z", 1, []byte{7}) })
		checkDecodeRoundTrip(t, data, func() *LWWRegister[string] { return &LWWRegister[string]{} })
		checkDecodeRoundTrip(t, data, func() *LWWRegister[int32] { return (&LWWRegister[int32]{}).Set("z", 1, 7) })
	})
}
