package ringactor

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeNode(t *testing.T) {
	for input, want := range map[string]string{
		"127.0.0.1:7001":               "127.0.0.1:7001",
		"localhost:7001":               "127.0.0.1:7001",
		"LocalHost.:07001":             "127.0.0.1:7001",
		"node.localhost:7001":          "127.0.0.1:7001",
		"[::ffff:127.0.0.1]:7001":      "127.0.0.1:7001",
		"[2001:DB8:0:0:0:0:0:1]:80":    "[2001:db8::1]:80",
		"[::1]:7001":                   "[::1]:7001",
		"Web-0.Ring.Default.svc.:7000": "web-0.ring.default.svc:7000",
	} {
		got, err := NormalizeNode(input)
		require.NoError(t, err, input)
		assert.Equal(t, want, got, input)
		again, err := NormalizeNode(got)
		require.NoError(t, err)
		assert.Equal(t, got, again, "the canonical form is its own")
	}
	for _, bad := range []string{"", "no port", ":7001", "host:", "host:0", "host:70000", "host:+1", "host:-1", "host:x", strings.Repeat("a", 254) + ":1"} {
		_, err := NormalizeNode(bad)
		assert.ErrorIs(t, err, ErrInvalidNode, "%q", bad)
	}
}

func TestClientNodeIsNormalized(t *testing.T) {
	system := sharedRemote(t)
	host, port, err := net.SplitHostPort(system.Address())
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	assert.Equal(t, system.Address(), clientNode(system, "LOCALHOST:0"+port), "another spelling of this process's address is this process")
	assert.True(t, NewClient(system, "localhost:"+port, "any").local())
	assert.Equal(t, "127.0.0.1:7001", NewClient(system, "localhost:07001", "any").Node())
	assert.Equal(t, "no port", NewClient(system, "no port", "any").Node(), "not an address: left for the request to fail")
}

// Two spellings of one address are one member, and a member reached under
// another name (a DNS name, an alias) joins under its own.
func TestAddressSpellingsAreOneMember(t *testing.T) {
	n := netFor(t)
	a := startMember(t, "spellings", nil)
	b := startMember(t, "spellings", nil)
	host, port, err := net.SplitHostPort(b.node)
	require.NoError(t, err)
	mapped := "[::ffff:" + host + "]:0" + port
	n.alias("member-b.ring.test:"+port, b.node)
	n.alias("self-a.ring.test:7000", a.node)

	require.NoError(t, a.client.AddNode(context.Background(), b.node))
	require.NoError(t, a.client.AddNode(context.Background(), mapped))
	require.NoError(t, a.client.AddNode(context.Background(), "Member-B.Ring.Test.:"+port))
	require.NoError(t, a.client.AddNode(context.Background(), "self-a.ring.test:7000"), "this member under another name: nothing to add")
	all := sortedNodes(a.node, b.node)
	all0, err := a.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, all, all0)
	require.Eventually(t, func() bool { return slices.Equal(b.up(t), all) }, waitFor, tick)

	require.NoError(t, a.client.ForceDown(context.Background(), mapped))
	require.Eventually(t, func() bool { return slices.Equal(a.up(t), []string{a.node}) }, waitFor, tick)
	require.NoError(t, a.client.UnforceDown(context.Background(), mapped))
	require.Eventually(t, func() bool { return slices.Equal(a.up(t), all) }, waitFor, tick)
	require.NoError(t, a.client.DelNode(context.Background(), mapped))
	require.Eventually(t, func() bool { return errors.Is(b.behaviour.terminatedWith(), ErrRemoved) }, waitFor, tick, "b learnt it was removed")
	all1, err := a.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{a.node}, all1)
}
