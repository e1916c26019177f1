package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// partitionBound is how long a side may take to see the whole other side
// down: each member watches its successor in the sorted up set (its
// heartbeats) and pings one random member, so the two members of the
// other side can be found one after the other (one hang bound each), plus
// slack.
const partitionBound = 2*hangBound + slack

// TestPartition runs two members on each side of a network link, in
// network namespaces, and cuts the link: each side sees the other down and
// keeps taking writes; once the link is back, every member converges to
// the union of all writes.
func TestPartition(t *testing.T) {
	n := newPartitionNet(t)
	c := newCluster(t)
	a1 := c.start("a1", inNamespace(n.sideA, hostA))
	a2 := c.start("a2", inNamespace(n.sideA, hostA))
	b1 := c.start("b1", inNamespace(n.sideB, hostB))
	b2 := c.start("b2", inNamespace(n.sideB, hostB))
	sideA, sideB := []*member{a1, a2}, []*member{b1, b2}
	everyone := []*member{a1, a2, b1, b2}
	for _, m := range everyone {
		// ip netns exec execs the member: the PID the test started is the
		// member's own, so killing it kills the member.
		require.Equal(t, m.OSPid(), m.PID, "%s: ip netns exec did not exec the member", m.name)
	}
	formRing(t, a1, a2, b1, b2)
	a1.inc(1)
	b1.inc(2)
	waitValue(t, 3, everyone...)

	mark := marks(everyone...)
	cut := time.Now()
	n.cut()
	seen := waitDown(t, "partition", cut, mark, sideB, sideA...)
	for m, d := range waitDown(t, "partition", cut, mark, sideA, sideB...) {
		seen[m] = d
	}
	for m, d := range seen {
		assert.LessOrEqual(t, d, partitionBound, "%s saw the other side down after %v", m.name, d)
	}
	waitNodes(t, "up", addrs(sideA...), sideA...)
	waitNodes(t, "up", addrs(sideB...), sideB...)

	// Each side takes writes; the other side cannot see them.
	a2.inc(10)
	b2.inc(20)
	waitValue(t, 13, sideA...)
	waitValue(t, 23, sideB...)
	waitNodes(t, "all", addrs(everyone...), everyone...) // down, not removed

	healed := time.Now()
	n.heal()
	waitNodes(t, "up", addrs(everyone...), everyone...)
	waitValue(t, 33, everyone...)
	t.Logf("MEASURE partition heal: all up and converged %v after the link came back", time.Since(healed).Round(time.Millisecond))

	a1.inc(100)
	b2.inc(200)
	waitValue(t, 333, everyone...)
}
