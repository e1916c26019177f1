package integration

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/internal/counternode"
)

// TestDelLiveMember removes a live member with del: its ring stops (an
// event terminated line with reason removed), its ring file is deleted,
// its process stays up, and the others drop it from all and up.
func TestDelLiveMember(t *testing.T) {
	c := newCluster(t)
	a, b, x := c.start("a"), c.start("b"), c.start("x")
	formRing(t, a, b, x)
	x.inc(1)
	waitValue(t, 1, a, b, x)
	ringFile := filepath.Join(x.data, "ring.pb")
	require.FileExists(t, ringFile)

	mark := x.EventCount()
	b.exec("del " + x.Node)

	removed, err := x.WaitEvent(mark, settleWithin, func(e counternode.Event) bool {
		return e.Event == counternode.EventRingChange && e.Fields["reason"] == "removed"
	})
	require.NoError(t, err, "x reported no ring change with reason removed")
	assert.Empty(t, removed.Nodes("new"), "a removed member's up set is empty")
	terminated, err := x.WaitEvent(mark, settleWithin, func(e counternode.Event) bool {
		return e.Event == counternode.EventTerminated
	})
	require.NoError(t, err, "x's ring did not stop")
	assert.Equal(t, counternode.TerminatedRemoved, terminated.Fields["reason"], "terminated: %s", terminated)
	_, statErr := os.Stat(ringFile)
	assert.True(t, os.IsNotExist(statErr), "x's ring file is still there: %v", statErr)

	rest := addrs(a, b)
	waitNodes(t, "all", rest, a, b)
	waitNodes(t, "up", rest, a, b)

	// The process stays up with its ring stopped: commands fail.
	_, err = x.Value("get", commandTimeout)
	require.Error(t, err, "x's ring still answers")
	var resultErr *counternode.ResultError
	assert.ErrorAs(t, err, &resultErr, "x's process should answer with an error line")
	select {
	case <-x.Exited():
		t.Fatalf("x's process ended: %v", x.ExitErr())
	default:
	}

	// The ring goes on without it.
	a.inc(10)
	waitValue(t, 11, a, b)
	assert.NoError(t, x.Stop(commandTimeout), "x should exit 0 after stop")
}
