package crdt

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

func contextOf(dots ...Dot) *CausalContext {
	var c CausalContext
	c.AddAll(dots)
	return &c
}

func TestCausalContextZeroValue(t *testing.T) {
	var c CausalContext
	assert.True(t, c.IsEmpty())
	assert.False(t, c.Contains(Dot{"a", 1}))
	assert.Equal(t, Dot{"a", 1}, c.Next("a"))
	assert.Equal(t, "{} cloud[]", c.String())

	var nilContext *CausalContext
	assert.True(t, nilContext.IsEmpty())
	assert.False(t, nilContext.Contains(Dot{"a", 1}))
	assert.Zero(t, nilContext.Max("a"))
	assert.True(t, nilContext.Equal(&c))
	assert.True(t, c.Equal(nilContext))
	assert.True(t, nilContext.Clone().Equal(&c))
	assert.Zero(t, nilContext.Clock().Len())
	assert.Nil(t, nilContext.Cloud())
	assert.False(t, c.Merge(nilContext))
	assert.Equal(t, "{} cloud[]", nilContext.String())
	decoded, err := CausalContextFromProto(nilContext.ToProto())
	require.NoError(t, err)
	assert.True(t, decoded.IsEmpty())
}

func TestCausalContextCompaction(t *testing.T) {
	tests := []struct {
		name      string
		dots      []Dot
		wantClock string
		wantCloud []Dot
	}{
		{"contiguous", []Dot{{"a", 1}, {"a", 2}, {"b", 1}}, "{a:2, b:1}", nil},
		{"gap", []Dot{{"a", 1}, {"a", 3}}, "{a:1}", []Dot{{"a", 3}}},
		{"gap filled later", []Dot{{"a", 3}, {"a", 1}, {"a", 2}}, "{a:3}", nil},
		{"out of order runs", []Dot{{"a", 5}, {"a", 3}, {"b", 2}, {"a", 2}, {"a", 1}, {"b", 1}}, "{a:3, b:2}", []Dot{{"a", 5}}},
		{"only beyond a gap", []Dot{{"b", 4}, {"a", 2}}, "{}", []Dot{{"a", 2}, {"b", 4}}},
		{"zero counter ignored", []Dot{{"a", 0}}, "{}", nil},
		{"repeats ignored", []Dot{{"a", 2}, {"a", 2}, {"a", 1}, {"a", 1}}, "{a:2}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := contextOf(tt.dots...)
			assert.Equal(t, tt.wantClock, c.Clock().String())
			assert.Equal(t, tt.wantCloud, c.Cloud())
			for _, d := range tt.dots {
				if d.Counter > 0 {
					assert.True(t, c.Contains(d), "%v", d)
				}
			}
			// The same dots in a delta-style context decode and merge to the
			// same compact form.
			decoded, err := CausalContextFromProto(&messages.CausalContext{Cloud: dotsToProto(nonZero(tt.dots))})
			require.NoError(t, err)
			assert.True(t, decoded.Equal(c), "decoded %v, built %v", decoded, c)
			var merged CausalContext
			merged.Merge(decoded)
			assert.True(t, merged.Equal(c))
		})
	}
}

func nonZero(dots []Dot) []Dot {
	var out []Dot
	for _, d := range dots {
		if d.Counter > 0 {
			out = append(out, d)
		}
	}
	return out
}

func TestCausalContextNextAndMax(t *testing.T) {
	c := contextOf(Dot{"a", 1}, Dot{"a", 2}, Dot{"a", 7}, Dot{"b", 1})
	assert.Equal(t, uint64(7), c.Max("a"))
	assert.Equal(t, Dot{"a", 8}, c.Next("a"), "a replica's next dot is above its dots in the cloud")
	assert.Equal(t, Dot{"b", 2}, c.Next("b"))
	assert.Equal(t, Dot{"z", 1}, c.Next("z"))
	assert.False(t, c.Contains(Dot{"a", 5}))
	assert.False(t, c.Contains(Dot{"a", 0}))
}

func TestCausalContextMerge(t *testing.T) {
	tests := []struct {
		name        string
		a, b        []Dot
		wantChanged bool
		wantClock   string
		wantCloud   []Dot
	}{
		{"both empty", nil, nil, false, "{}", nil},
		{"same", []Dot{{"a", 1}}, []Dot{{"a", 1}}, false, "{a:1}", nil},
		{"clock only", []Dot{{"a", 1}}, []Dot{{"a", 1}, {"a", 2}, {"b", 1}}, true, "{a:2, b:1}", nil},
		{"other cloud covered by own clock", []Dot{{"a", 1}, {"a", 2}, {"a", 3}}, []Dot{{"a", 3}}, false, "{a:3}", nil},
		{"other cloud fills own gap", []Dot{{"a", 1}, {"a", 3}}, []Dot{{"a", 2}}, true, "{a:3}", nil},
		{"other clock covers own cloud", []Dot{{"a", 3}, {"b", 5}}, []Dot{{"a", 1}, {"a", 2}, {"a", 3}, {"a", 4}}, true, "{a:4}", []Dot{{"b", 5}}},
		{"clouds interleave", []Dot{{"a", 2}, {"a", 5}, {"c", 3}}, []Dot{{"a", 3}, {"b", 4}, {"c", 3}}, true, "{}", []Dot{{"a", 2}, {"a", 3}, {"a", 5}, {"b", 4}, {"c", 3}}},
		{"same clouds", []Dot{{"a", 2}}, []Dot{{"a", 2}}, false, "{}", []Dot{{"a", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := contextOf(tt.a...), contextOf(tt.b...)
			snapshot := b.Clone()
			assert.Equal(t, tt.wantChanged, a.Merge(b))
			assert.Equal(t, tt.wantClock, a.Clock().String())
			assert.Equal(t, tt.wantCloud, a.Cloud())
			assert.True(t, b.Equal(snapshot), "Merge leaves its argument unchanged")
			assert.False(t, a.Merge(b))
			assert.False(t, a.Merge(a))
			for _, d := range append(tt.a, tt.b...) {
				assert.True(t, a.Contains(d), "%v", d)
			}
		})
	}
}

func TestCausalContextMergeOfCompactContextsDoesNotAllocate(t *testing.T) {
	a := contextOf(Dot{"a", 1}, Dot{"b", 1})
	b := contextOf(Dot{"a", 1}, Dot{"a", 2}, Dot{"b", 1})
	assert.Zero(t, testing.AllocsPerRun(10, func() { a.Merge(b) }))
}

func TestCausalContextAddReports(t *testing.T) {
	var c CausalContext
	assert.True(t, c.Add(Dot{"a", 2}))
	assert.False(t, c.Add(Dot{"a", 2}))
	assert.True(t, c.Add(Dot{"a", 1}))
	assert.False(t, c.Add(Dot{"a", 1}))
	assert.False(t, c.Add(Dot{"a", 0}))
	assert.False(t, c.AddAll([]Dot{{"a", 1}, {"a", 2}}))
	assert.True(t, c.AddAll([]Dot{{"a", 1}, {"a", 4}}))
	assert.Equal(t, "{a:2} cloud[a:4]", c.String())
}

func TestCausalContextCloneIsIndependent(t *testing.T) {
	c := contextOf(Dot{"a", 1}, Dot{"a", 3})
	clone := c.Clone()
	clone.Add(Dot{"a", 2})
	clone.Add(Dot{"b", 1})
	assert.Equal(t, "{a:1} cloud[a:3]", c.String())
	assert.Equal(t, "{a:3, b:1} cloud[]", clone.String())
	cloud := c.Cloud()
	cloud[0].Counter = 99
	assert.Equal(t, "{a:1} cloud[a:3]", c.String(), "Cloud returns a copy")
}

func TestCausalContextFromProtoErrors(t *testing.T) {
	tests := []struct {
		name string
		m    *messages.CausalContext
		want string
	}{
		{"zero clock counter", &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "a"}}}}, "counter 0"},
		{"duplicate clock replica", &messages.CausalContext{Clock: &messages.VClock{Entries: []*messages.Dot{{Replica: "a", Counter: 1}, {Replica: "a", Counter: 1}}}}, "duplicate replica"},
		{"zero cloud counter", &messages.CausalContext{Cloud: []*messages.Dot{{Replica: "a", Counter: 0}}}, "counter 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CausalContextFromProto(tt.m)
			require.ErrorIs(t, err, ErrDecode)
			assert.Contains(t, err.Error(), tt.want)
			data, err := proto.Marshal(tt.m)
			require.NoError(t, err)
			receiver := contextOf(Dot{"x", 1})
			require.ErrorIs(t, receiver.UnmarshalBinary(data), ErrDecode)
			assert.Equal(t, "{x:1} cloud[]", receiver.String())
		})
	}
	var c CausalContext
	require.ErrorIs(t, c.UnmarshalBinary([]byte{0xff}), ErrDecode)
}

// contextSpec drives contexts that see dots of a few replicas out of order.
var contextSpec = opSpec[*CausalContext]{
	New: func() *CausalContext { return &CausalContext{} },
	Op: func(r *rand.Rand, replica ReplicaID, c *CausalContext) *CausalContext {
		d := Dot{Replica: ReplicaID(rune('a' + r.IntN(3))), Counter: 1 + r.Uint64N(6)}
		if r.IntN(2) == 0 {
			d = c.Next(replica)
		}
		c.Add(d)
		return contextOf(d)
	},
	Value: func(c *CausalContext) any { return c.String() },
}

func TestCausalContextLaws(t *testing.T) {
	checkLaws(t, "CausalContext", historyGen(contextSpec))
	checkConvergence(t, "CausalContext", contextSpec)
}

func FuzzCausalContextDecode(f *testing.F) {
	causalSeedCorpus(f, historyGen(contextSpec))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data, func() *CausalContext { return &CausalContext{} })
	})
}
