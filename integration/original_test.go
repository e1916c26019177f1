package integration

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/internal/counternode"
)

// TestOriginalScenario is the scenario of GenServerring's own test suite,
// with five processes: a writer adds the others one at a time and
// increments the counter every few gossip intervals; a reader sees every
// increment arrive; a monitor checks all and up as members join and forces
// one member (the sleeper) down for a while, during which the sleeper
// misses the increments, then catches up after undown; a crasher is killed
// with SIGKILL and leaves every other member's up set. In the end every
// survivor counts every increment.
func TestOriginalScenario(t *testing.T) {
	c := newCluster(t)
	writer, reader, monitor := c.start("writer"), c.start("reader"), c.start("monitor")
	sleeper, crasher := c.start("sleeper"), c.start("crasher")
	everyone := []*member{writer, reader, monitor, sleeper, crasher}
	waitInit(t, everyone...)

	// The writer increments every few gossip intervals; the reader must
	// see each increment before the next one.
	pace := time.NewTicker(3 * gossipInterval)
	defer pace.Stop()
	increments := int64(0)
	increment := func() {
		t.Helper()
		<-pace.C
		increments++
		require.Equal(t, increments, writer.inc(1), "the writer is the only writer")
		waitValue(t, increments, reader)
	}

	// Joins: the monitor first, so that it watches the others join.
	joined := []*member{writer}
	for _, m := range []*member{monitor, reader, sleeper, crasher} {
		writer.exec("add " + m.Node)
		joined = append(joined, m)
		want := addrs(joined...)
		waitNodes(t, "all", want, monitor)
		waitNodes(t, "up", want, monitor)
		if slices.Contains(joined, reader) {
			increment()
		}
	}
	waitNodes(t, "up", addrs(everyone...), everyone...)
	for range 3 {
		increment()
	}
	waitValue(t, increments, everyone...)

	// The monitor forces the sleeper down for a while: once every other
	// member knows, nobody gossips to it, and it misses the increments.
	// Nobody answers its probes either, so in time it sees nobody up; the
	// undown comes after that, as in the original's ten-second force-down.
	// (An undown while it still has probes in flight is
	// TestShortForceDownBringsNoOneDown.)
	downMark := sleeper.EventCount()
	monitor.exec("down " + sleeper.Node)
	awake := []*member{writer, reader, monitor, crasher}
	waitNodes(t, "up", addrs(awake...), awake...)
	waitNodes(t, "all", addrs(everyone...), monitor) // forced down, still a member
	waitNodes(t, "up", addrs(sleeper), sleeper)
	before := sleeper.value()
	require.Equal(t, increments, before)
	sleeperMark := sleeper.EventCount()
	for range 3 {
		increment()
	}
	waitValue(t, increments, awake...)
	assert.Equal(t, before, sleeper.value(), "a forced-down member must miss the updates")
	for _, e := range sleeper.Events()[sleeperMark:] {
		assert.NotEqual(t, counternode.EventStateChange, e.Event, "the sleeper got an update while forced down: %s", e)
	}

	// Undown: the sleeper catches up and is up everywhere again.
	undownMark := sleeper.EventCount()
	monitor.exec("undown " + sleeper.Node)
	caughtUp := waitValue(t, increments, sleeper)
	t.Logf("the sleeper caught up %v after undown", caughtUp.Round(time.Millisecond))
	waitNodes(t, "up", addrs(everyone...), everyone...)
	increment()
	waitValue(t, increments, everyone...)

	// Nobody went down so far: no member reports a nodedown, but for the
	// sleeper while it was forced down (nobody answered it).
	for _, m := range everyone {
		for i, e := range m.Events() {
			if m == sleeper && i >= downMark && i < undownMark {
				continue
			}
			assert.NotEqual(t, "nodedown", e.Fields["reason"], "%s: a healthy member was reported down: %s", m.name, e)
		}
	}

	// The crasher halts.
	survivors := []*member{writer, reader, monitor, sleeper}
	mark := marks(survivors...)
	killed := time.Now()
	crasher.Kill()
	waitDown(t, "crash", killed, mark, []*member{crasher}, survivors...)
	waitNodes(t, "up", addrs(survivors...), survivors...)
	waitNodes(t, "all", addrs(everyone...), monitor) // down, not removed
	for range 3 {
		increment()
	}

	// Every survivor counts every increment, and the reader saw each one.
	waitValue(t, increments, survivors...)
	want := make([]int64, increments)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, stateChanges(reader), "the reader should see each increment arrive, in order")
	t.Logf("%d increments, counted by all %d survivors", increments, len(survivors))
}
