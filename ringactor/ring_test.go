package ringactor

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTwoMembersConverge(t *testing.T) {
	a := startMember(t, "counter", nil)
	b := startMember(t, "counter", nil)
	require.NoError(t, a.client.AddNode(b.node))

	_, err := a.client.Call(incr{3}, time.Second)
	require.NoError(t, err)
	_, err = b.client.Call(incr{4}, time.Second)
	require.NoError(t, err)

	want := []string{a.node, b.node}
	slices.Sort(want)
	require.Eventually(t, func() bool {
		return a.value(t) == 7 && b.value(t) == 7 &&
			slices.Equal(a.up(t), want) && slices.Equal(b.up(t), want)
	}, waitFor, tick)
	all, err := b.client.All()
	require.NoError(t, err)
	assert.Equal(t, want, all)
}
