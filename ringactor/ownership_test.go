package ringactor

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

// The hash is deterministic, so every test below that counts keys is
// deterministic too: its numbers are the same on every run, machine and Go
// version, and a bound that holds once holds always. The bounds are wide
// (±20% where a uniform hash gives a standard deviation under 3%) so that
// they state the property, not today's exact counts.

func ownerTestNodes(n int) []string {
	nodes := make([]string, n)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("127.0.0.%d:7000", i+1)
	}
	return nodes
}

func ownerTestKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	return keys
}

func ownersOf(keys, nodes []string) map[string]string {
	owners := make(map[string]string, len(keys))
	for _, key := range keys {
		owner, ok := Owner(key, nodes)
		if !ok {
			panic("no owner")
		}
		owners[key] = owner
	}
	return owners
}

func TestOwnerIsDeterministicAndIgnoresOrder(t *testing.T) {
	nodes := ownerTestNodes(5)
	reversed := slices.Clone(nodes)
	slices.Reverse(reversed)
	rotated := append(slices.Clone(nodes[2:]), nodes[:2]...)
	// Duplicates and empty names do not change the set.
	noisy := append([]string{"", nodes[3]}, append(slices.Clone(nodes), "", nodes[0])...)
	for _, key := range ownerTestKeys(1000) {
		want, ok := Owner(key, nodes)
		require.True(t, ok)
		require.Contains(t, nodes, want)
		again, _ := Owner(key, nodes)
		require.Equal(t, want, again, "same input, same owner")
		for _, other := range [][]string{reversed, rotated, noisy} {
			got, _ := Owner(key, other)
			require.Equal(t, want, got, "key %q over %v", key, other)
		}
	}
}

// TestOwnerPinnedValues fixes a few answers: members of different builds
// must agree on owners, so a change of hash is a change of wire format and
// must show up here.
func TestOwnerPinnedValues(t *testing.T) {
	nodes := []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}
	for key, want := range map[string]string{
		"alice": "127.0.0.1:7003",
		"bob":   "127.0.0.1:7002",
		"carol": "127.0.0.1:7002",
		"dave":  "127.0.0.1:7001",
		"":      "127.0.0.1:7003",
	} {
		got, ok := Owner(key, nodes)
		require.True(t, ok)
		assert.Equal(t, want, got, "owner of %q", key)
	}
	assert.Equal(t, uint64(0x0691c0e83a5a7b59), ownerScore("127.0.0.1:7001", "alice"))
}

func TestOwnerEmptySet(t *testing.T) {
	for _, nodes := range [][]string{nil, {}, {""}, {"", ""}} {
		owner, ok := Owner("key", nodes)
		assert.False(t, ok, "nodes %q", nodes)
		assert.Empty(t, owner)
	}
	owner, ok := Owner("key", []string{"", "127.0.0.1:7001"})
	assert.True(t, ok)
	assert.Equal(t, "127.0.0.1:7001", owner, "one node owns every key")
}

// TestOwnerBalance: 10,000 keys over 8 nodes, each node's share within
// ±20% of 1/8 (1,000 to 1,500 keys for an expected 1,250; a uniform hash
// gives a standard deviation of 33 keys, so the bound is 7.5 of them).
func TestOwnerBalance(t *testing.T) {
	nodes := ownerTestNodes(8)
	keys := ownerTestKeys(10_000)
	counts := map[string]int{}
	for _, owner := range ownersOf(keys, nodes) {
		counts[owner]++
	}
	t.Logf("keys per node: %v", counts)
	expected := float64(len(keys)) / float64(len(nodes))
	for _, node := range nodes {
		assert.InDelta(t, expected, counts[node], 0.2*expected, "share of %s", node)
	}
}

// TestOwnerMinimalMovementOnJoin: a 9th node takes only keys for itself,
// about 1/9 of them (within ±20% of 1,111); no key moves between the old
// nodes.
func TestOwnerMinimalMovementOnJoin(t *testing.T) {
	nodes := ownerTestNodes(9)
	keys := ownerTestKeys(10_000)
	before := ownersOf(keys, nodes[:8])
	after := ownersOf(keys, nodes)
	newcomer := nodes[8]
	moved := 0
	for _, key := range keys {
		if before[key] != after[key] {
			moved++
			require.Equal(t, newcomer, after[key], "key %q moved between old nodes", key)
		}
	}
	t.Logf("keys moved to the new node: %d of %d", moved, len(keys))
	expected := float64(len(keys)) / 9
	assert.InDelta(t, expected, moved, 0.2*expected, "keys moved to the new node")
}

// TestOwnerMinimalMovementOnLeave: removing a node moves its keys, and only
// them, spread over the others.
func TestOwnerMinimalMovementOnLeave(t *testing.T) {
	nodes := ownerTestNodes(8)
	keys := ownerTestKeys(10_000)
	gone := nodes[3]
	before := ownersOf(keys, nodes)
	after := ownersOf(keys, without(nodes, gone))
	heirs := map[string]int{}
	for _, key := range keys {
		if before[key] == gone {
			require.NotEqual(t, gone, after[key])
			heirs[after[key]]++
		} else {
			require.Equal(t, before[key], after[key], "key %q of a remaining node moved", key)
		}
	}
	assert.Len(t, heirs, len(nodes)-1, "the leaver's keys spread over every other node")
}

// ownerBehaviour answers a call ownerOf with the ring Context's Owner.
type ownerBehaviour struct {
	DefaultBehaviour[*crdt.PNCounter]
}

type ownerOf struct{ key string }

func (ownerBehaviour) HandleCall(ctx *Context[*crdt.PNCounter], _ From, msg any) CallResult {
	if m, ok := msg.(ownerOf); ok {
		return ReplyWith(ctx.Owner(m.key))
	}
	return ReplyWithError(ErrUnhandledCall)
}

// TestOwnerOnARing: on a ring of three, each member's Context.Owner and
// every Client.Owner agree with Owner over the up set, once the up sets
// are equal; a member that leaves passes on only its own keys.
func TestOwnerOnARing(t *testing.T) {
	n := netFor(t)
	var clients []*Client
	var nodes []string
	for range 3 {
		node := newNode()
		opts := append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger()), n.member(node)}, testOptions...)
		client, err := Start[*crdt.PNCounter](n.system, "owners", ownerBehaviour{}, opts...)
		require.NoError(t, err)
		clients = append(clients, client)
		nodes = append(nodes, node)
	}
	for _, node := range nodes[1:] {
		require.NoError(t, clients[0].AddNode(context.Background(), node))
	}
	all := sortedNodes(nodes...)
	upEverywhere := func(want []string, clients []*Client) func() bool {
		return func() bool {
			for _, c := range clients {
				if up, err := c.Up(context.Background()); err != nil || !slices.Equal(up, want) {
					return false
				}
			}
			return true
		}
	}
	require.Eventually(t, upEverywhere(all, clients), waitFor, tick, "every member sees every member up")

	keys := ownerTestKeys(60)
	before := ownersOf(keys, all)
	for _, c := range clients {
		for _, key := range keys {
			got, err := c.Owner(context.Background(), key)
			require.NoError(t, err)
			require.Equal(t, before[key], got, "Client.Owner(%q) at %s", key, c.Node())
			res, err := c.Call(within(2*time.Second), ownerOf{key})
			require.NoError(t, err)
			require.Equal(t, before[key], res, "Context.Owner(%q) at %s", key, c.Node())
		}
	}

	// The third member leaves: the two others agree again once they see it,
	// and only its keys changed owner.
	leaver := nodes[2]
	require.NoError(t, clients[0].DelNode(context.Background(), leaver))
	rest := sortedNodes(nodes[:2]...)
	require.Eventually(t, upEverywhere(rest, clients[:2]), waitFor, tick, "the others see the leaver gone")
	for _, c := range clients[:2] {
		for _, key := range keys {
			got, err := c.Owner(context.Background(), key)
			require.NoError(t, err)
			if before[key] != leaver {
				require.Equal(t, before[key], got, "key %q of a remaining member moved", key)
			} else {
				require.NotEqual(t, leaver, got)
			}
		}
	}
}
