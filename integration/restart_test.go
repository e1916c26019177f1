package integration

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRestartFromDataDir kills a member with SIGKILL and starts it again on
// the same address with the same data directory: it reloads its ring from
// its ring file and rejoins, and every increment, made before the crash,
// while it was down and after it came back, on it and on the others, is
// counted on every member. The restarted member reloads its own earlier
// increments from its payload log; the others' come back by gossip.
func TestRestartFromDataDir(t *testing.T) {
	c := newCluster(t)
	a, b, r := c.start("a"), c.start("b"), c.start("r")
	everyone := []*member{a, b, r}
	formRing(t, a, b, r)
	a.inc(1)
	b.inc(2)
	r.inc(3)
	waitValue(t, 6, everyone...)
	require.FileExists(t, filepath.Join(r.data, "ring.pb"))
	require.FileExists(t, filepath.Join(r.data, "payload.log"))
	oldNode := r.Node

	mark := marks(a, b)
	killed := time.Now()
	r.Kill()
	waitDown(t, "crash", killed, mark, []*member{r}, a, b)
	waitNodes(t, "up", addrs(a, b), a, b)
	assert.Equal(t, addrs(everyone...), a.nodes("all"), "a crashed member stays in the ring")

	// Increments while r is down.
	a.inc(10)
	b.inc(20)
	waitValue(t, 36, a, b)

	// Restart r while a and b are hung, so that nothing but its ring file
	// can tell it who the members are; then let them run again.
	require.NoError(t, a.Signal(syscall.SIGSTOP))
	require.NoError(t, b.Signal(syscall.SIGSTOP))
	resumeOthers := func() {
		_ = a.Signal(syscall.SIGCONT)
		_ = b.Signal(syscall.SIGCONT)
	}
	t.Cleanup(resumeOthers)
	r.restart()
	assert.Equal(t, oldNode, r.Node)
	assert.Equal(t, addrs(everyone...), r.nodes("all"), "r did not reload its ring from its data directory")
	assert.Equal(t, int64(3), r.value(), "r reloads its own +3 from its disk; the others' increments come only by gossip, and a and b are hung")
	resumed := time.Now()
	resumeOthers()

	waitNodes(t, "up", addrs(everyone...), everyone...)
	waitValue(t, 36, everyone...)
	t.Logf("MEASURE restart rejoin: all up and converged %v after the others resumed", time.Since(resumed).Round(time.Millisecond))

	// Increments after the restart, on it and on another member.
	r.inc(4)
	b.inc(5)
	waitValue(t, 45, everyone...)
	waitNodes(t, "all", addrs(everyone...), everyone...)
}
