package ringactor

import (
	"log/slog"
	"slices"

	"github.com/genserverring/genserverring-go/messages"
)

// Probing finds members that hang without closing their connections (a
// stopped process, a cut link), which Proto.Actor's watch never reports.
// It follows SWIM (Das et al., 2002) with three changes.
//
// Each member watches its successor in the sorted up set, so every up member
// is watched by one live member and the detection time has a bound. The
// watched member does the talking: each probe interval it sends a heartbeat
// (a ping that wants no answer, with its digest) to its predecessor. A
// heartbeat late by a quarter of the interval makes the watcher ping the
// successor, and the ping is SWIM's probe from there on. One message per
// member per interval instead of SWIM's ping and Ack: the ring's steady cost
// is mostly these messages. A successor that does not heartbeat to this
// member (its up set differs, or it runs an older version that pings
// instead) is pinged each time its heartbeat is late, which is SWIM's probe
// a quarter interval slower.
//
// Each GossipInterval a member also pings one random up member (SWIM's
// random target; the ping is the anti-entropy round too): members whose up
// sets differ, say one that believes another down over a cut link, may
// leave a member with no live watcher, and the random pings still reach it.
// A random ping every probe interval, as SWIM sends, found no hang later
// than the successor's bound and at 64 members doubled the ring's steady
// cost.
//
// A ping unanswered for half the probe timeout is retried through other
// members (indirect probe); unanswered at the full timeout, and with nothing
// heard from the target since the ping, the target is declared down here
// and the verdict is sent to every up member and to the target itself.
//
// A member that gets a verdict does not take it on trust (SWIM's suspicion,
// made short): it pings the target itself and takes it down only if that
// ping is unanswered for half the probe timeout. A member whose own pings
// went unanswered for a reason of its own (it was forced down, or its link
// to the target is cut) then cannot bring a healthy member down elsewhere.
// A target that gets a verdict about itself answers with its gossip, and the
// verdict's sender pings it back up.
//
// Cost: one heartbeat per member per probe interval, one ping and one Ack
// per member per gossip interval, whatever the ring's size, plus a few
// messages per member per failure.

// probeKind says what a ping is for.
type probeKind int

const (
	// probeCheck: a ping to an up member; no answer is a verdict.
	probeCheck probeKind = iota
	// probeRevive: a ping to a member believed down; its Ack brings the
	// member back up, and no answer changes nothing.
	probeRevive
	// probeConfirm: a ping to check another member's verdict; no answer
	// takes the target down here, without telling anyone.
	probeConfirm
	// probeRelay: an indirect probe on another member's behalf; the Ack is
	// forwarded to it.
	probeRelay
	// probeAwait: no ping, a wait for the successor's next heartbeat; if
	// none comes in time, the successor is pinged (probeCheck).
	probeAwait
)

// pendingProbe is a ping awaiting its Ack, or (probeAwait) a wait for a
// heartbeat.
type pendingProbe struct {
	target string
	kind   probeKind
	// relayFor and relaySeq are, for probeRelay, the member that asked and
	// the seq of its ping.
	relayFor string
	relaySeq uint64
}

// prober holds the pings in flight and the wait for the successor's
// heartbeat.
type prober struct {
	nextSeq uint64
	pending map[uint64]pendingProbe
	// heard maps a node to the value of nextSeq when a message from it was
	// last accepted: heard[n] >= seq means n spoke after ping seq was sent.
	heard map[string]uint64
}

func newProber() prober {
	return prober{pending: map[uint64]pendingProbe{}, heard: map[string]uint64{}}
}

func (p *prober) start(probe pendingProbe) uint64 {
	p.nextSeq++
	p.pending[p.nextSeq] = probe
	return p.nextSeq
}

// probing reports whether a ping of this member's own of one of kinds is
// in flight to target.
func (p *prober) probing(target string, kinds ...probeKind) bool {
	for _, probe := range p.pending {
		if probe.target == target && slices.Contains(kinds, probe.kind) {
			return true
		}
	}
	return false
}

// forget drops this member's own pings in flight to target: an Ack to a
// ping sent before target was seen down may have left target before it
// died, so it proves nothing.
func (p *prober) forget(target string) {
	for seq, probe := range p.pending {
		if probe.target == target && probe.kind != probeRelay {
			delete(p.pending, seq)
		}
	}
}

// forgetKind drops the pending probes of kind to target.
func (p *prober) forgetKind(target string, kind probeKind) {
	for seq, probe := range p.pending {
		if probe.target == target && probe.kind == kind {
			delete(p.pending, seq)
		}
	}
}

// awaitsAnswer reports whether ping seq is still unanswered.
func (c *ringCore) awaitsAnswer(seq uint64) bool {
	_, ok := c.probes.pending[seq]
	return ok
}

// heardSince reports whether target spoke after ping seq was sent.
func (p *prober) heardSince(target string, seq uint64) bool { return p.heard[target] >= seq }

// probe pings target and schedules the ping's deadlines. The ping carries
// this member's replica ID whole (see heartbeat).
func (c *ringCore) probe(target string, kind probeKind) {
	seq := c.probes.start(pendingProbe{target: target, kind: kind})
	c.stats.ProbesSent++
	c.send(target, c.pingMessage(seq, false))
	switch kind {
	case probeCheck:
		c.out.probeTimers = append(c.out.probeTimers, probeTimer{seq, phaseIndirect}, probeTimer{seq, phaseFinal})
	case probeConfirm:
		c.out.probeTimers = append(c.out.probeTimers, probeTimer{seq, phaseConfirm})
	default:
		c.out.probeTimers = append(c.out.probeTimers, probeTimer{seq, phaseFinal})
	}
}

// heartbeat is the probe tick's message to the predecessor, a ping with seq
// 0 that wants no Ack. The one member that gets a heartbeat from this one
// every interval gets the replica ID whole on one heartbeat in replicaEvery
// only, and a tag of it on the others.
func (c *ringCore) heartbeat(predecessor string) {
	c.stats.HeartbeatsSent++
	c.send(predecessor, c.pingMessage(0, true))
}

// pingMessage is a ping with this member's digest and replica (or, tagged,
// mostly its tag).
func (c *ringCore) pingMessage(seq uint64, tagged bool) *messages.Ping {
	c.stats.DigestsSent++
	var digest uint64
	if !c.receiving() { // else no member should start another transfer here
		digest = c.digest()
	}
	ping := &messages.Ping{Ring: c.cfg.ring, From: c.cfg.self, Seq: seq, Digest: digest}
	if tagged && c.probeTicks%replicaEvery != 1 {
		ping.ReplicaTag = replicaTag(c.cfg.replica)
	} else {
		ping.Replica = string(c.cfg.replica)
	}
	return ping
}

// awaitHeartbeat waits for successor's next heartbeat, for ProbeInterval
// and a quarter more (phaseHeartbeat), in place of an earlier wait.
func (c *ringCore) awaitHeartbeat(successor string) {
	c.probes.forgetKind(successor, probeAwait)
	seq := c.probes.start(pendingProbe{target: successor, kind: probeAwait})
	c.out.probeTimers = append(c.out.probeTimers, probeTimer{seq, phaseHeartbeat})
}

// onHeartbeat takes a heartbeat from node: from the successor, it starts
// the wait for the next one.
func (c *ringCore) onHeartbeat(node string) {
	c.stats.HeartbeatsReceived++
	if successor, ok := c.successor(); ok && successor == node {
		c.awaitHeartbeat(node)
	}
}

// heardFrom handles a message of the ring protocol from node (gossip or a
// ping): if node is believed down, it is pinged, and its answer brings it
// back up. The message itself is not proof enough: it may have been sent
// before node died and have arrived after the watch notice, over another
// connection.
func (c *ringCore) heardFrom(node string) {
	if !c.alive[node] && !c.probes.probing(node, probeRevive) {
		c.probe(node, probeRevive)
	}
}

// onDown is the end of every path that finds a member down; why says
// which, for the log.
func (c *ringCore) onDown(node, why string) {
	if c.alive[node] {
		c.log.Debug("member down", slog.String("member", node), slog.String("why", why))
	}
	delete(c.alive, node)
	c.probes.forget(node)
	c.settle(ReasonNodeDown)
}

// onProbeTick sends this interval's heartbeat, and starts waiting for the
// successor's if nothing is under way for it (a new successor).
func (c *ringCore) onProbeTick() {
	c.probeTicks++
	c.expireLazy()
	if predecessor, ok := c.neighbour(-1); ok {
		c.heartbeat(predecessor)
	}
	successor, ok := c.successor()
	if ok && !c.probes.probing(successor, probeAwait, probeCheck) { // else a wait or a verdict is under way
		c.awaitHeartbeat(successor)
	}
}

// watchNewSuccessor pings the successor at once when the up set, which was
// old, gives this member a new one: waiting a probe interval for the
// heartbeat of a member that may not know this one yet (it joined, or came
// back up) would let a hang right after go unseen for that much longer. Its
// Ack starts the wait for its heartbeats.
func (c *ringCore) watchNewSuccessor(old []string) {
	successor, ok := c.successor()
	if !ok || c.probes.probing(successor, probeCheck) {
		return
	}
	if before, had := neighbourIn(old, c.cfg.self, 1); had && before == successor {
		return // the same successor
	}
	c.probe(successor, probeCheck)
}

// successor is the next member after self in the sorted up set: the one
// this member watches.
func (c *ringCore) successor() (string, bool) { return c.neighbour(1) }

// neighbour is the member step places after self in the sorted up set.
func (c *ringCore) neighbour(step int) (string, bool) { return neighbourIn(c.up, c.cfg.self, step) }

// neighbourIn is the member step places after self in up, a sorted up set;
// none if up holds no other member, or not self.
func neighbourIn(up []string, self string, step int) (string, bool) {
	i := slices.Index(up, self)
	if i < 0 || len(up) < 2 {
		return "", false
	}
	return up[((i+step)%len(up)+len(up))%len(up)], true
}

// isHeartbeat reports whether p is a heartbeat: seq 0, and not a join
// handshake.
func isHeartbeat(p *messages.Ping) bool { return p.GetSeq() == 0 && p.GetPayloadType() == "" }

// onProbeTimer handles a probe's deadline.
func (c *ringCore) onProbeTimer(seq uint64, phase probePhase) {
	probe, ok := c.probes.pending[seq]
	if !ok {
		return // answered in time, or forgotten
	}
	switch {
	case probe.kind == probeAwait:
		// The successor's heartbeat is late: ping it. A wait for a
		// member that is no longer the successor ends with nothing done.
		delete(c.probes.pending, seq)
		if successor, ok := c.successor(); !ok || successor != probe.target {
			return
		}
		c.stats.HeartbeatsLate++
		if !c.probes.probing(probe.target, probeCheck) {
			c.probe(probe.target, probeCheck)
		}
	case probe.kind == probeCheck && phase == phaseIndirect:
		c.stats.ProbeSuspects++
		c.askIndirect(seq, probe.target)
	case probe.kind == probeCheck:
		delete(c.probes.pending, seq)
		if !c.probes.heardSince(probe.target, seq) {
			c.declareDown(probe.target)
		}
	case probe.kind == probeConfirm:
		delete(c.probes.pending, seq)
		if c.alive[probe.target] && !c.probes.heardSince(probe.target, seq) {
			c.onDown(probe.target, "confirmed another member's verdict")
		}
	default: // revive and relay pings: no answer, no change
		delete(c.probes.pending, seq)
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
	// The target gets the verdict too: if it is alive after all, it
	// answers, and this member pings it back up.
	for _, node := range c.up {
		if node != c.cfg.self {
			c.send(node, &messages.NodeDown{Ring: c.cfg.ring, From: c.cfg.self, Node: target})
		}
	}
	c.onDown(target, "probe verdict")
}

// onNodeDown handles another member's verdict that a node is down: this
// member checks it with a ping of its own.
func (c *ringCore) onNodeDown(n *messages.NodeDown) {
	if !c.acceptFrom("node-down notice", n.GetRing(), n.GetFrom()) {
		return
	}
	target := n.GetNode()
	switch {
	case target == c.cfg.self:
		// We are alive: show it to the member that thinks otherwise.
		c.greet(n.GetFrom(), false)
	case c.alive[target] && !c.probes.probing(target, probeConfirm):
		c.probe(target, probeConfirm)
	}
}

// onPing answers a probe. A ping also shows that its sender is alive.
func (c *ringCore) onPing(p *messages.Ping) {
	if p.GetPayloadType() != "" {
		c.onJoinPing(p) // a join handshake (join.go)
		return
	}
	if !c.acceptFrom("ping", p.GetRing(), p.GetFrom()) {
		return
	}
	c.noteReport(p.GetFrom(), c.pingReplica(p), p.GetDigest())
	if isHeartbeat(p) {
		c.onHeartbeat(p.GetFrom())
	} else {
		c.send(p.GetFrom(), &messages.Ack{Ring: c.cfg.ring, From: c.cfg.self, Seq: p.GetSeq()})
	}
	d := p.GetDigest()
	if d == 0 { // a relayed ping, or its sender is receiving a large state
		c.heardFrom(p.GetFrom())
		return
	}
	// The probe is also an anti-entropy round (push-pull: the sender
	// answers this member's gossip if it holds what this member lacks).
	c.stats.DigestsReceived++
	c.answerDigest(p.GetFrom(), d)
}

// onPingRequest probes a target on another member's behalf.
func (c *ringCore) onPingRequest(r *messages.PingRequest) {
	if !c.acceptFrom("ping request", r.GetRing(), r.GetFrom()) {
		return
	}
	if r.GetTarget() == c.cfg.self || validateNode(r.GetTarget()) != nil {
		return
	}
	seq := c.probes.start(pendingProbe{target: r.GetTarget(), kind: probeRelay, relayFor: r.GetFrom(), relaySeq: r.GetSeq()})
	c.send(r.GetTarget(), &messages.Ping{Ring: c.cfg.ring, From: c.cfg.self, Seq: seq})
	c.out.probeTimers = append(c.out.probeTimers, probeTimer{seq, phaseFinal})
}

// onAck handles a probe's answer: the probed node is alive. An Ack that
// answers no ping in flight (late, or to a ping forgotten when the node was
// seen down) proves nothing.
func (c *ringCore) onAck(a *messages.Ack) {
	if a.GetSeq()&joinSeqBit != 0 {
		c.onJoinAck(a) // a join handshake (join.go)
		return
	}
	if !c.acceptFrom("ack", a.GetRing(), a.GetFrom()) {
		return
	}
	probe, ok := c.probes.pending[a.GetSeq()]
	if !ok || probe.target != a.GetFrom() || probe.kind == probeAwait {
		return
	}
	delete(c.probes.pending, a.GetSeq())
	if probe.kind == probeRelay {
		c.send(probe.relayFor, &messages.Ack{Ring: c.cfg.ring, From: a.GetFrom(), Seq: probe.relaySeq})
		return
	}
	c.stats.ProbeAcks++
	if successor, ok := c.successor(); ok && successor == a.GetFrom() && !c.probes.probing(successor, probeAwait) {
		// A successor that does not heartbeat here is watched by a ping
		// each time the wait for its heartbeat ends.
		c.awaitHeartbeat(successor)
	}
	if !c.alive[a.GetFrom()] {
		c.log.Debug("member up", slog.String("member", a.GetFrom()), slog.String("why", "answered a ping"))
		c.alive[a.GetFrom()] = true
		c.settle(ReasonGossip)
	}
}
