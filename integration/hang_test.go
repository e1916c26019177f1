package integration

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestHungMember stops a member with SIGSTOP: it closes no connection, so
// only the probes can find it. The others must see it down within the
// documented bound (probe interval + probe timeout, plus slack for a loaded
// machine). After SIGCONT it comes back up and the counters converge,
// increments made while it hung included.
func TestHungMember(t *testing.T) {
	c := newCluster(t)
	a, b, h := c.start("a"), c.start("b"), c.start("h")
	formRing(t, a, b, h)
	a.inc(1)
	h.inc(2)
	waitValue(t, 3, a, b, h)

	mark := marks(a, b)
	stopped := time.Now()
	if err := h.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	seen := waitDown(t, "hang", stopped, mark, []*member{h}, a, b)
	for m, d := range seen {
		assert.LessOrEqual(t, d, hangBound+slack, "%s saw the hung member down after %v; the bound is %v (+%v slack)", m.name, d, hangBound, slack)
	}
	waitNodes(t, "up", addrs(a, b), a, b)

	// Writes go on without it.
	b.inc(10)
	waitValue(t, 13, a, b)

	resumed := time.Now()
	if err := h.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	everyone := []*member{a, b, h}
	waitNodes(t, "up", addrs(everyone...), everyone...)
	waitValue(t, 13, everyone...)
	t.Logf("MEASURE hang recovery: all up and converged %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))

	h.inc(100)
	waitValue(t, 113, everyone...)
}
