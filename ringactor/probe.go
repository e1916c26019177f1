package ringactor

import (
	"slices"

	"github.com/genserverring/genserverring-go/messages"
)

// Probing finds members that hang without closing their connections (a
// stopped process, a cut link), which Proto.Actor's watch never reports.
// It follows SWIM (Das et al., 2002) with one change: each interval a member
// pings its successor in the sorted up set, so every up member is probed by
// at least one live member every interval and detection time has a bound,
// and also one random member, for a second opinion. A ping unanswered for
// half the probe timeout is retried through other members (indirect probe);
// unanswered at the full timeout, the target is declared down here and the
// verdict is sent to every up member. A member declared down by mistake
// comes back with its next gossip. Cost: two pings per member per interval,
// whatever the ring's size, plus one message per member per failure.

// pendingProbe is a ping awaiting its Ack.
type pendingProbe struct {
	target string
	// revive is set for a ping to a member believed down: its Ack brings
	// the member back up, and no answer changes nothing.
	revive bool
	// relayFor is set when this ping is an indirect probe made for another
	// member: the Ack is forwarded to it with relaySeq.
	relayFor string
	relaySeq uint64
}

// prober holds the pings in flight.
type prober struct {
	nextSeq uint64
	pending map[uint64]pendingProbe
}

func newProber() prober { return prober{pending: map[uint64]pendingProbe{}} }

func (p *prober) start(probe pendingProbe) uint64 {
	p.nextSeq++
	p.pending[p.nextSeq] = probe
	return p.nextSeq
}

func (p *prober) probing(target string) bool {
	for _, probe := range p.pending {
		if probe.target == target && probe.relayFor == "" {
			return true
		}
	}
	return false
}

// forget drops the pings in flight to target: an Ack to a ping sent before
// target was seen down may have left target before it died, so it proves
// nothing.
func (p *prober) forget(target string) {
	for seq, probe := range p.pending {
		if probe.target == target && probe.relayFor == "" {
			delete(p.pending, seq)
		}
	}
}

// probe pings target directly; for a target believed down it is a revive
// ping, which needs no indirect checks and no verdict.
func (c *ringCore) probe(target string) {
	revive := !c.alive[target]
	seq := c.probes.start(pendingProbe{target: target, revive: revive})
	c.stats.ProbesSent++
	c.send(target, &messages.Ping{Ring: c.cfg.ring, From: c.cfg.self, Seq: seq})
	if !revive {
		c.out.probeTimers = append(c.out.probeTimers, probeTimer{seq, phaseIndirect})
	}
	c.out.probeTimers = append(c.out.probeTimers, probeTimer{seq, phaseFinal})
}

// heardFrom handles a message of the ring protocol from node (gossip or a
// ping): if node is believed down, it is pinged, and its answer brings it
// back up. The message itself is not proof enough: it may have been sent
// before node died and have arrived after the watch notice, over another
// connection.
func (c *ringCore) heardFrom(node string) {
	if !c.alive[node] && !c.probes.probing(node) {
		c.probe(node)
	}
}

// onDown is the end of every path that finds a member down.
func (c *ringCore) onDown(node string) {
	delete(c.alive, node)
	c.probes.forget(node)
	c.settle(ReasonNodeDown)
}

// onProbeTick starts this interval's probes.
func (c *ringCore) onProbeTick() {
	var targets []string
	if successor, ok := c.successor(); ok {
		targets = append(targets, successor)
	}
	if random, ok := c.randomUpOther(c.cfg.self); ok && !slices.Contains(targets, random) {
		targets = append(targets, random)
	}
	for _, target := range targets {
		if c.probes.probing(target) {
			continue // still waiting for the last probe's verdict
		}
		c.probe(target)
	}
}

// successor is the next member after self in the sorted up set.
func (c *ringCore) successor() (string, bool) {
	if len(c.up) < 2 {
		return "", false
	}
	i := slices.Index(c.up, c.cfg.self)
	return c.up[(i+1)%len(c.up)], true
}

// onProbeTimer handles a probe's deadline.
func (c *ringCore) onProbeTimer(seq uint64, phase probePhase) {
	probe, ok := c.probes.pending[seq]
	if !ok {
		return // answered in time
	}
	if probe.relayFor != "" || probe.revive {
		if phase == phaseFinal {
			delete(c.probes.pending, seq) // no verdict: nothing changes
		}
		return
	}
	switch phase {
	case phaseIndirect:
		c.askIndirect(seq, probe.target)
	case phaseFinal:
		delete(c.probes.pending, seq)
		c.declareDown(probe.target)
	}
}

// askIndirect asks up to IndirectChecks other up members to probe target.
func (c *ringCore) askIndirect(seq uint64, target string) {
	var helpers []string
	for _, node := range c.up {
		if node != c.cfg.self && node != target {
			helpers = append(helpers, node)
		}
	}
	c.rng.Shuffle(len(helpers), func(i, j int) { helpers[i], helpers[j] = helpers[j], helpers[i] })
	for _, helper := range helpers[:min(len(helpers), c.cfg.indirectChecks)] {
		c.send(helper, &messages.PingRequest{Ring: c.cfg.ring, From: c.cfg.self, Seq: seq, Target: target})
	}
}

// declareDown is the verdict of a failed probe.
func (c *ringCore) declareDown(target string) {
	if !c.alive[target] {
		return
	}
	c.stats.ProbeFailures++
	c.log.Warn("member did not answer probes; declaring it down", "node", target)
	for _, node := range c.up {
		if node != c.cfg.self && node != target {
			c.send(node, &messages.NodeDown{Ring: c.cfg.ring, From: c.cfg.self, Node: target})
		}
	}
	c.onDown(target)
}

// onPing answers a probe. A ping also shows that its sender is alive.
func (c *ringCore) onPing(p *messages.Ping) {
	if !c.acceptFrom("ping", p.GetRing(), p.GetFrom()) {
		return
	}
	c.send(p.GetFrom(), &messages.Ack{Ring: c.cfg.ring, From: c.cfg.self, Seq: p.GetSeq()})
	c.heardFrom(p.GetFrom())
}

// onPingRequest probes a target on another member's behalf.
func (c *ringCore) onPingRequest(r *messages.PingRequest) {
	if !c.acceptFrom("ping request", r.GetRing(), r.GetFrom()) {
		return
	}
	if r.GetTarget() == c.cfg.self || validateNode(r.GetTarget()) != nil {
		return
	}
	seq := c.probes.start(pendingProbe{target: r.GetTarget(), relayFor: r.GetFrom(), relaySeq: r.GetSeq()})
	c.send(r.GetTarget(), &messages.Ping{Ring: c.cfg.ring, From: c.cfg.self, Seq: seq})
	c.out.probeTimers = append(c.out.probeTimers, probeTimer{seq, phaseFinal})
}

// onAck handles a probe's answer: the probed node is alive. An Ack that
// answers no ping in flight (late, or to a ping forgotten when the node was
// seen down) proves nothing.
func (c *ringCore) onAck(a *messages.Ack) {
	if !c.acceptFrom("ack", a.GetRing(), a.GetFrom()) {
		return
	}
	probe, ok := c.probes.pending[a.GetSeq()]
	if !ok || probe.target != a.GetFrom() {
		return
	}
	delete(c.probes.pending, a.GetSeq())
	if probe.relayFor != "" {
		c.send(probe.relayFor, &messages.Ack{Ring: c.cfg.ring, From: a.GetFrom(), Seq: probe.relaySeq})
		return
	}
	if !c.alive[a.GetFrom()] {
		c.alive[a.GetFrom()] = true
		c.settle(ReasonGossip)
	}
}
