package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/internal/counternode"
)

// TestRestartedMemberSeesLivePeersAtInit restarts a killed member while the
// others run and keep sending it rejoin gossip: its init notice lists them.
// (Proto.Actor's endpoint writer, as the module proxy serves it, sleeps 2 s
// after each failed connect and drops what is sent meanwhile: unless the
// ring keeps it from connecting to a closed port, the peers' answers to the
// restarted member are lost and its init notice lists only itself.)
func TestRestartedMemberSeesLivePeersAtInit(t *testing.T) {
	c := newCluster(t)
	a, b, r := c.start("a", atLogLevel("debug")), c.start("b", atLogLevel("debug")), c.start("r")
	formRing(t, a, b, r)
	mark := marks(a, b)
	killed := time.Now()
	r.Kill()
	waitDown(t, "crash", killed, mark, []*member{r}, a, b)
	// Wait until both have tried to reach the dead member a few times.
	waitFor(t, "rejoin attempts to the dead member", func() error {
		for _, m := range []*member{a, b} {
			if n := strings.Count(m.Tail(1000), "does not accept connections"); n < 3 {
				return fmt.Errorf("%s tried %d times", m.name, n)
			}
		}
		return nil
	})

	r.restart()
	init, err := r.WaitEvent(0, settleWithin, func(e counternode.Event) bool {
		return e.Event == counternode.EventRingChange && e.Fields["reason"] == "init"
	})
	require.NoError(t, err)
	assert.Equal(t, addrs(a, b, r), init.Nodes("new"), "the init notice lists the members that are alive")
}

// TestShortForceDownBringsNoOneDown forces a member down for less than a
// probe timeout, so that probes of its whose pings the others dropped are
// still in flight when it is let back in. The others check its late
// verdicts before taking them: no healthy member goes down on them. (The
// forced-down member itself may take one down for a moment, on its own
// failed probes, until that member answers the verdict.)
func TestShortForceDownBringsNoOneDown(t *testing.T) {
	c := newCluster(t)
	a, b, s := c.start("a"), c.start("b"), c.start("s")
	everyone := []*member{a, b, s}
	formRing(t, a, b, s)
	a.exec("down " + s.Node)
	waitNodes(t, "up", addrs(a, b), a, b)
	// The force-down lasts past the indirect-probe phase of s's probes and
	// less than their timeout: not a wait for a condition, the scenario.
	time.Sleep(probeTimeout * 3 / 4)
	mark := marks(everyone...)
	a.exec("undown " + s.Node)
	waitNodes(t, "up", addrs(everyone...), everyone...)

	// Two probe timeouts: long enough for every late verdict to arrive.
	for _, m := range []*member{a, b} {
		e, err := m.WaitEvent(mark[m], 2*probeTimeout, func(e counternode.Event) bool {
			return e.Event == counternode.EventRingChange && e.Fields["reason"] == "nodedown"
		})
		assert.Error(t, err, "%s reported a member down: %v", m.name, e)
	}
}
