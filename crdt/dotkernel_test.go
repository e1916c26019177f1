package crdt

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDotKernelOperations(t *testing.T) {
	var k DotKernel[string]
	assert.Zero(t, k.Len())
	assert.False(t, k.Contains("x"))
	assert.Nil(t, k.Dots("x"))
	assert.True(t, k.Context().IsEmpty())

	k.Add("a", "x")
	k.Add("a", "y")
	k.Add("b", "y")
	assert.Equal(t, 2, k.Len())
	assert.Equal(t, []Dot{{"a", 1}}, k.Dots("x"))
	assert.Equal(t, []Dot{{"b", 1}}, k.Dots("y"), "an add replaces the key's dots")
	keys := slices.Sorted(k.Keys())
	assert.Equal(t, []string{"x", "y"}, keys)
	assert.Equal(t, "{a:2, b:1} cloud[]", k.Context().String())

	dots := k.Dots("x")
	dots[0].Counter = 42
	assert.Equal(t, []Dot{{"a", 1}}, k.Dots("x"), "Dots returns a copy")

	delta := k.RemoveAll()
	assert.Zero(t, k.Len())
	assert.Zero(t, delta.Len())
	assert.Equal(t, "{a:1, b:1} cloud[]", delta.Context().String(), "the delta covers the removed dots only")
	assert.Equal(t, "{a:2, b:1} cloud[]", k.Context().String(), "removing keeps the context")
	assert.Zero(t, k.Remove("x").Len())
	assert.True(t, k.Remove("x").Context().IsEmpty())
}

func TestDotKernelMergeIntoZeroValue(t *testing.T) {
	var source, target DotKernel[int]
	source.Add("a", 1)
	source.Add("a", 2)
	source.Remove(1)
	assert.True(t, target.Merge(&source))
	assert.True(t, target.Equal(&source))
	assert.False(t, target.Merge(&source))
	assert.False(t, target.Merge(&target))
	assert.False(t, target.Merge(nil))
	assert.True(t, target.Clone().Equal(&target))
}

func TestDotKernelEqual(t *testing.T) {
	var a, b DotKernel[string]
	a.Add("r", "x")
	b.Add("r", "y")
	assert.False(t, a.Equal(&b), "same context, different keys")
	b.Remove("y")
	b.Add("r", "x")
	assert.False(t, a.Equal(&b), "same keys, different dots")
	var c DotKernel[string]
	c.Add("r", "x")
	c.Add("q", "z")
	c.Remove("z")
	assert.False(t, a.Equal(&c), "same keys and dots, different context")
}

func TestJoinDots(t *testing.T) {
	ctx := func(dots ...Dot) *CausalContext { return contextOf(dots...) }
	a1, a2, b1, c1 := Dot{"a", 1}, Dot{"a", 2}, Dot{"b", 1}, Dot{"c", 1}
	tests := []struct {
		name        string
		a           []Dot
		actx        *CausalContext
		b           []Dot
		bctx        *CausalContext
		want        []Dot
		wantChanged bool
		wantShared  string // "a", "b" or "" (new or empty list)
	}{
		{"both hold", []Dot{a1}, ctx(a1), []Dot{a1}, ctx(a1), []Dot{a1}, false, "a"},
		{"b has not seen a's dot", []Dot{a1}, ctx(a1), nil, ctx(), []Dot{a1}, false, "a"},
		{"b removed a's dot", []Dot{a1}, ctx(a1), nil, ctx(a1), nil, true, ""},
		{"a has not seen b's dot", nil, ctx(), []Dot{b1}, ctx(b1), []Dot{b1}, true, "b"},
		{"a removed b's dot", nil, ctx(b1), []Dot{b1}, ctx(b1), nil, false, ""},
		{"b replaced a's dot", []Dot{a1}, ctx(a1), []Dot{a2}, ctx(a1, a2), []Dot{a2}, true, "b"},
		{"concurrent adds", []Dot{a1}, ctx(a1), []Dot{b1}, ctx(b1), []Dot{a1, b1}, true, ""},
		{"b adds one and removes one", []Dot{a1, c1}, ctx(a1, c1), []Dot{a1, b1}, ctx(a1, b1, c1), []Dot{a1, b1}, true, "b"},
		{"b removes one of a's", []Dot{a1, b1, c1}, ctx(a1, b1, c1), []Dot{a1, c1}, ctx(a1, b1, c1), []Dot{a1, c1}, true, "b"},
		{"b removes one, a keeps an unseen one", []Dot{a1, b1, c1}, ctx(a1, b1, c1), []Dot{a1}, ctx(a1, b1), []Dot{a1, c1}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := joinDots(tt.a, tt.actx, tt.b, tt.bctx)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantChanged, changed)
			switch tt.wantShared {
			case "a":
				require.NotEmpty(t, got)
				assert.Same(t, &tt.a[0], &got[0])
			case "b":
				require.NotEmpty(t, got)
				assert.Same(t, &tt.b[0], &got[0])
			}
			// The join is symmetric in its result.
			swapped, _ := joinDots(tt.b, tt.bctx, tt.a, tt.actx)
			assert.Equal(t, tt.want, swapped)
		})
	}
}

func TestFilterUnseen(t *testing.T) {
	dots := []Dot{{"a", 1}, {"a", 3}, {"b", 1}}
	all := filterUnseen(dots, contextOf())
	assert.Same(t, &dots[0], &all[0], "nothing seen: the list itself")
	assert.Nil(t, filterUnseen(dots, contextOf(Dot{"a", 1}, Dot{"a", 3}, Dot{"b", 1})))
	assert.Equal(t, []Dot{{"a", 3}}, filterUnseen(dots, contextOf(Dot{"a", 1}, Dot{"b", 1})))
}

func TestDotKernelMergeOfSharedStatesDoesNotAllocate(t *testing.T) {
	var a DotKernel[string]
	for _, key := range []string{"x", "y", "z"} {
		a.Add("a", key)
	}
	b := a.Clone()
	assert.Zero(t, testing.AllocsPerRun(10, func() { a.Merge(b) }))
	// b learns of a new key and a remove: a takes b's dot lists as they are.
	b.Add("b", "w")
	b.Remove("x")
	c := a.Clone()
	c.Merge(b)
	assert.Same(t, &b.entries["w"][0], &c.entries["w"][0])
}
