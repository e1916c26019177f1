package ringactor

import (
	"runtime/metrics"
	"time"
)

// A probe's verdict is only as good as the prober's own health. When the
// member's process is starved of CPU (a burst of work in many members of
// one process, a garbage collection of a large heap, a machine running
// more than it has cores for), the Ack of a live member sits in a queue
// for longer than ProbeTimeout, and the member would declare down members
// that are merely waiting their turn, as would every other member of the
// process at once. Lifeguard (Dadgar, Phillips and Currey, 2018) calls
// this local health and scales its timeouts by it; we take the evidence
// straight from the Go runtime.
//
// A probe deadline due to end in a verdict is postponed, by one more
// ProbeTimeout and at most maxVerdictPostpones times, when since its ping
// was sent
//
//   - a goroutine of this process waited at least a tenth of ProbeTimeout
//     to run (runtime/metrics' scheduling latencies), or
//   - the deadline itself reached the ring actor that much late (the whole
//     process was descheduled, which Go's own figures do not see).
//
// A member that hangs in a healthy process is found as fast as before; in
// a starved one, within (1 + maxVerdictPostpones) × ProbeTimeout. Each
// postponement counts in Stats.ProbeVerdictsPostponed.

// maxVerdictPostpones bounds the postponements of one probe's verdict.
const maxVerdictPostpones = 3

// schedLatencies is the runtime metric of how long runnable goroutines
// waited to run.
const schedLatencies = "/sched/latencies:seconds"

// localHealth reads this process's scheduling latencies for one ring actor
// (not safe for concurrent use; the ring actor's goroutine owns it).
type localHealth struct {
	sample []metrics.Sample
	// slow is the latency from which a wait counts as starvation.
	slow time.Duration
}

func newLocalHealth(probeTimeout time.Duration) *localHealth {
	return &localHealth{sample: []metrics.Sample{{Name: schedLatencies}}, slow: probeTimeout / 10}
}

// slowWaits returns how many times so far a goroutine of this process
// waited at least h.slow to run; 0 if the runtime does not tell.
func (h *localHealth) slowWaits() uint64 {
	metrics.Read(h.sample)
	if h.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	hist := h.sample[0].Value.Float64Histogram()
	slow := h.slow.Seconds()
	var n uint64
	// Buckets[i] and Buckets[i+1] bound Counts[i]; count the buckets that
	// lie wholly at or above slow.
	for i, count := range hist.Counts {
		if hist.Buckets[i] >= slow {
			n += count
		}
	}
	return n
}

// starved reports whether the process was starved since a deadline was
// armed with slowWaits() == waitsThen, and due at due.
func (h *localHealth) starved(waitsThen uint64, due, now time.Time) bool {
	return now.Sub(due) >= h.slow || h.slowWaits() > waitsThen
}

// armProbeDeadline arms d, a deadline of one of the core's probes.
func (a *ringActor[P]) armProbeDeadline(d *probeDeadline) {
	delay := a.cfg.ProbeTimeout
	switch d.phase {
	case phaseIndirect, phaseConfirm:
		delay /= 2
	case phaseHeartbeat:
		delay = a.cfg.ProbeInterval + a.cfg.ProbeInterval/4
	}
	d.due = time.Now().Add(delay)
	if d.phase.verdict() { // a verdict may follow: note the process's health
		d.slowWaits = a.health.slowWaits()
	}
	a.timers.once(delay, d)
}

// postponeVerdict arms d again, and reports so, when it would end in a
// verdict that the process's starvation since it was armed makes
// unreliable.
func (a *ringActor[P]) postponeVerdict(d *probeDeadline) bool {
	if !d.phase.verdict() || d.postponed >= maxVerdictPostpones || !a.core.awaitsAnswer(d.seq) {
		return false
	}
	if !a.health.starved(d.slowWaits, d.due, time.Now()) {
		return false
	}
	a.core.stats.ProbeVerdictsPostponed++
	a.armProbeDeadline(&probeDeadline{seq: d.seq, phase: d.phase, postponed: d.postponed + 1})
	return true
}
