package ringactor

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
)

// The runtime's scheduling latencies show a process starved of CPU: more
// busy goroutines than processors make some wait a time slice or more.
func TestLocalHealthSeesAStarvedProcess(t *testing.T) {
	health := newLocalHealth(10 * time.Millisecond) // slow: 1 ms
	before := health.slowWaits()
	now := time.Now()
	require.False(t, health.starved(before, now, now), "nothing waited yet")

	stop := make(chan struct{})
	var spinners sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		spinners.Add(1)
		go func() {
			defer spinners.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	defer func() { close(stop); spinners.Wait() }()
	require.Eventually(t, func() bool { return health.slowWaits() > before }, waitFor, tick)
	require.True(t, health.starved(before, now, now), "a goroutine waited to run")

	// A deadline handled late shows it too, whatever the runtime says.
	fresh := health.slowWaits() + 1<<40
	require.True(t, health.starved(fresh, now.Add(-time.Millisecond), now))
	require.False(t, health.starved(fresh, now, now.Add(time.Millisecond/2)))
}

// A verdict is postponed while the process is starved, at most
// maxVerdictPostpones times, and only for a probe still unanswered.
func TestAStarvedMemberPostponesItsVerdict(t *testing.T) {
	system := actor.NewActorSystem()
	armed := make(chan *probeDeadline, 8)
	pid := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if d, ok := ctx.Message().(*probeDeadline); ok {
			armed <- d
		}
	}))
	core, err := newCore(coreConfig{ring: "health", self: simNode(0), replica: "r0", indirectChecks: 2}, nil, &counterPayload{PNCounter: crdt.PNCounter{}}, rand.New(rand.NewPCG(1, 1)), quietLogger())
	require.NoError(t, err)
	a := &ringActor[*crdt.PNCounter]{cfg: Config{ProbeTimeout: 20 * time.Millisecond}, core: core, health: newLocalHealth(20 * time.Millisecond), timers: newTimers(system.Root, pid)}
	t.Cleanup(a.timers.stop)
	seq := core.probes.start(pendingProbe{target: simNode(1), kind: probeCheck})
	healthy := func() *probeDeadline {
		return &probeDeadline{seq: seq, phase: phaseFinal, due: time.Now(), slowWaits: a.health.slowWaits() + 1<<40}
	}

	require.False(t, a.postponeVerdict(healthy()), "a healthy process judges")
	late := healthy()
	late.due = time.Now().Add(-time.Second) // handled a second late
	require.True(t, a.postponeVerdict(late))
	again := <-armed
	require.Equal(t, seq, again.seq)
	require.Equal(t, phaseFinal, again.phase)
	require.Equal(t, 1, again.postponed)
	require.Equal(t, uint64(1), core.stats.ProbeVerdictsPostponed)

	late.postponed = maxVerdictPostpones
	require.False(t, a.postponeVerdict(late), "postponed enough")
	late.postponed, late.phase = 0, phaseIndirect
	require.False(t, a.postponeVerdict(late), "asking others is no verdict")
	late.phase = phaseFinal
	delete(core.probes.pending, seq)
	require.False(t, a.postponeVerdict(late), "answered: nothing to judge")
	require.Equal(t, uint64(1), core.stats.ProbeVerdictsPostponed)
}
