package ringactor

import (
	"fmt"
	"hash/crc64"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// How a change reaches every member (DESIGN.md, "The path of a change"):
//
//  1. A callback changes the payload through Context.Update, which hands the
//     ring the change as a delta.
//  2. The shell makes the batch's deltas durable (one sync) and only then
//     lets the replies and the push leave (durable.go).
//  3. pushDelta sends the batch's delta at once to PushFanout up members
//     (the successor and random ones); a member whose state it changes
//     passes it on (onDelta) while hops remain, so a change reaches
//     everyone in a few network hops. A member forwards a delta once at
//     most: the second copy changes nothing.
//  4. Anti-entropy repairs what a push missed: a member's heartbeats and
//     pings carry a digest (a hash of its state), to its predecessor each
//     probe interval and to one random up member each gossip interval;
//     only when the digests differ does state travel, push-pull
//     (answerDigest and mergeGossip's answer), so the steady cost does not
//     depend on the payload's size.

// crcTable is the table of the state digest.
var crcTable = crc64.MakeTable(crc64.ECMA)

// deterministic encodes the membership sets the same way on every member,
// for the digest.
var deterministic = proto.MarshalOptions{Deterministic: true}

// digest returns the digest of this member's state, building the gossip
// cache if needed. 0 means it could not be computed.
func (c *ringCore) digest() uint64 {
	if _, err := c.gossipMessage(); err != nil {
		return 0
	}
	return c.stateDigest
}

// encodedMembership is the node set and forced-down set as gossip carries
// them, and their hash.
type encodedMembership struct {
	nodeSet, forcedDown *messages.ORSet
	hash                uint64
}

// encodedMembership returns the cached encoding of the membership sets.
func (c *ringCore) encodedMembership() (*encodedMembership, error) {
	if c.membershipCache != nil {
		return c.membershipCache, nil
	}
	nodeSet, err := c.nodeSet.ToProto()
	if err != nil {
		return nil, fmt.Errorf("node set: %w", err)
	}
	forcedDown, err := c.forcedDown.ToProto()
	if err != nil {
		return nil, fmt.Errorf("forced-down set: %w", err)
	}
	h := crc64.New(crcTable)
	for _, part := range []proto.Message{nodeSet, forcedDown} {
		data, err := deterministic.Marshal(part)
		if err != nil {
			return nil, err
		}
		var n [8]byte
		for i := range n {
			n[i] = byte(len(data) >> (8 * i))
		}
		h.Write(n[:])
		h.Write(data)
	}
	c.membershipCache = &encodedMembership{nodeSet: nodeSet, forcedDown: forcedDown, hash: h.Sum64()}
	return c.membershipCache, nil
}

// combineDigest is the state digest: the membership's hash and the
// payload's bytes, hashed together; never 0, which means "no digest".
func combineDigest(membershipHash uint64, payload []byte) uint64 {
	h := crc64.New(crcTable)
	var n [8]byte
	for i := range n {
		n[i] = byte(membershipHash >> (8 * i))
	}
	h.Write(n[:])
	h.Write(payload)
	if sum := h.Sum64(); sum != 0 {
		return sum
	}
	return 1
}

// onGossipTick is the anti-entropy round: a ping, with this member's digest,
// to a random up member other than the predecessor (which gets this
// member's heartbeat, with the digest, each probe interval). A receiver
// whose digest differs answers with its state (push-pull, see onPing).
// Neighbours compare digests more often, on every heartbeat; the
// random rounds are what mixes the ring, so that a repair does not creep
// round it one neighbour per probe interval, and what probes a member that
// no live predecessor does (see probe.go).
func (c *ringCore) onGossipTick() {
	if c.payloadMaybeTouched {
		c.payloadMaybeTouched, c.gossipCache, c.payloadBytes = false, nil, nil
	}
	c.prunePass()
	predecessor, _ := c.neighbour(-1)
	target, ok := c.randomUpOther(predecessor)
	if !ok {
		return
	}
	if c.digest() == 0 {
		c.sendGossip(target, false) // logs and counts why there is no digest
		return
	}
	if !c.probes.probing(target, probeCheck) {
		c.probe(target, probeCheck)
	}
}

// onDigest answers another member's digest with this member's state when
// they differ (the other side answers in turn if it holds what this one
// lacks). Members now send their digest on pings; a Digest still comes
// from members of earlier versions during a rolling upgrade.
func (c *ringCore) onDigest(d *messages.Digest) {
	c.stats.DigestsReceived++
	if !c.acceptFrom("digest", d.GetRing(), d.GetFrom()) {
		return
	}
	c.noteReport(d.GetFrom(), d.GetReplica(), d.GetDigest())
	c.answerDigest(d.GetFrom(), d.GetDigest())
}

// answerDigest is the receiving side of an anti-entropy round, on a ping
// or a Digest from member from: a member believed down, or not in the node
// set here, is greeted (it must hear this member's membership whatever the
// digests say); any other gets this member's state if the digests differ
// for a reason anti-entropy must repair. A member believed down is pinged
// too (heardFrom), and its answer brings it back up.
func (c *ringCore) answerDigest(from string, digest uint64) {
	firstContact := !c.alive[from]
	c.heardFrom(from)
	switch {
	case firstContact || !c.nodeSet.Contains(from):
		c.greet(from, false)
	case c.lastingMismatch(from, digest):
		c.sendGossip(from, false)
	}
}

// greet sends node this member's membership and state digest, for a member
// that must hear from this one whether or not their states differ (a first
// contact, a member believed down, a removed member): the payload goes too
// only when it is small, and otherwise only if the digests differ (the
// receiver answers a differing digest with its state, and push-pull
// follows). A member that flaps under load then costs a few hundred bytes
// each time it comes back, not a copy of a large payload each way.
func (c *ringCore) greet(node string, replyRequested bool) {
	c.sendGreeting(node, replyRequested, false)
}

// answerGreeting greets node in answer to its gossip; node does not answer
// again.
func (c *ringCore) answerGreeting(node string) { c.sendGreeting(node, false, true) }

func (c *ringCore) sendGreeting(node string, replyRequested, noReply bool) {
	g, err := c.gossipMessage()
	if err != nil {
		c.sendGossip(node, replyRequested) // logs and counts the error
		return
	}
	if large := len(g.GetPayload()) > lazyPushBytes; large || replyRequested || noReply {
		greeting := &messages.Gossip{
			Ring: g.Ring, From: g.From, Replica: g.Replica, NodeSet: g.NodeSet, ForcedDown: g.ForcedDown,
			Payload: g.Payload, Digest: g.Digest, MembershipDigest: g.MembershipDigest,
			ReplyRequested: replyRequested, NoReply: noReply, PayloadType: g.PayloadType,
		}
		if large {
			greeting.Payload, greeting.MembershipOnly = nil, true
		}
		g = greeting
	}
	c.stats.GossipSent++
	c.send(node, g)
}

// lastingMismatch reports whether member from's digest, theirs, differs from
// this member's for a reason anti-entropy must repair. Right after a change
// the digests of members differ while its push is on its way, for a few
// milliseconds: sending state then would copy the whole payload for
// nothing. So when this member's state changed in this probe interval or
// the one before, or a large delta it pulled is on its way, and pushes are
// on, a mismatch counts only the second time in a row it is seen from the
// same member.
func (c *ringCore) lastingMismatch(from string, theirs uint64) bool {
	if theirs == c.digest() {
		delete(c.mismatches, from)
		return false
	}
	if c.receiving() {
		return false // a large state is on its way here
	}
	if c.cfg.pushFanout == 0 || (c.probeTicks-c.lastChange >= 2 && !c.pulling()) {
		delete(c.mismatches, from)
		return true
	}
	if c.mismatches == nil {
		c.mismatches = map[string]int{}
	}
	c.mismatches[from]++
	if c.mismatches[from] < 2 {
		c.stats.MismatchesDeferred++
		return false
	}
	delete(c.mismatches, from)
	return true
}

// pushMembership sends a membership change at once to a few up members
// (except one that was sent the whole state already), who pass it on while
// it is news to them.
func (c *ringCore) pushMembership(except string) { c.forwardMembership(c.cfg.pushHops, except) }

func (c *ringCore) forwardMembership(hops uint32, except string) {
	if c.cfg.pushFanout == 0 {
		return
	}
	membership, err := c.encodedMembership()
	if err != nil {
		c.stats.EncodeErrors++
		return
	}
	for _, node := range c.pushTargets(except) {
		c.stats.GossipSent++
		c.send(node, &messages.Gossip{
			Ring: c.cfg.ring, From: c.cfg.self, Replica: string(c.cfg.replica),
			NodeSet: membership.nodeSet, ForcedDown: membership.forcedDown, MembershipDigest: membership.hash,
			MembershipOnly: true, NoReply: true, Hops: hops, PayloadType: c.cfg.payloadType,
		})
	}
}

// pushDelta sends a batch's encoded delta at once to a few random up
// members; a large one goes on from them by lazy push (lazypush.go).
func (c *ringCore) pushDelta(delta []byte) {
	if len(delta) > lazyPushBytes {
		c.pushLarge(delta)
		return
	}
	c.forwardDelta(delta, c.cfg.pushHops, "")
}

func (c *ringCore) forwardDelta(delta []byte, hops uint32, except string) {
	targets := c.pushTargets(except)
	// One message for every target: the shell seals it once (boundary's
	// outgoing), and nothing changes a message once sent.
	msg := &messages.Delta{Ring: c.cfg.ring, From: c.cfg.self, Payload: delta, Hops: hops, PayloadType: c.cfg.payloadType}
	for _, node := range targets {
		c.stats.DeltasSent++
		c.send(node, msg)
	}
}

// pushDeltaAcked sends a batch's delta to every up member, asking each to
// confirm it with a DeltaAck (writes acknowledged by others); it returns how
// many members it asked.
func (c *ringCore) pushDeltaAcked(delta []byte, id uint64) int {
	asked := 0
	msg := &messages.Delta{Ring: c.cfg.ring, From: c.cfg.self, Payload: delta, Hops: c.cfg.pushHops, AckId: id, PayloadType: c.cfg.payloadType}
	for _, node := range c.up {
		if node != c.cfg.self {
			asked++
			c.stats.DeltasSent++
			c.send(node, msg)
		}
	}
	return asked
}

// sendDeltaAck confirms a delta to its sender.
func (c *ringCore) sendDeltaAck(to string, id uint64) {
	c.send(to, &messages.DeltaAck{Ring: c.cfg.ring, From: c.cfg.self, AckId: id})
}

// onDeltaAck reports another member's confirmation to the shell.
func (c *ringCore) onDeltaAck(a *messages.DeltaAck) {
	if !c.acceptFrom("delta ack", a.GetRing(), a.GetFrom()) {
		return
	}
	c.out.acked = append(c.out.acked, deltaAck{node: a.GetFrom(), id: a.GetAckId()})
}

// onDelta merges a pushed delta and passes it on if it was news here: a
// small one whole, a large one by announcing it (lazy push).
func (c *ringCore) onDelta(d *messages.Delta) {
	c.stats.DeltasReceived++
	if !c.acceptFrom("delta", d.GetRing(), d.GetFrom()) {
		return
	}
	if !c.samePayloadType("delta", d.GetFrom(), d.GetPayloadType()) {
		c.stats.Dropped++
		return
	}
	from := d.GetFrom()
	id := d.GetId()
	switch {
	case d.GetWant() && (id == 0 || len(d.GetPayload()) > 0):
		c.drop("delta", "malformed", from, fmt.Errorf("%w: a pull names no delta, or carries one", errLazyPush))
		return
	case id != 0 && len(d.GetPayload()) == 0:
		c.heardFrom(from)
		c.onLazyDelta(d) // an announcement or a pull
		return
	case id != 0 && deltaID(d.GetPayload()) != id:
		c.drop("delta", "malformed", from, fmt.Errorf("%w: the delta does not match its id", errLazyPush))
		return
	}
	changed, err := c.payload.mergeEncoded(d.GetPayload())
	if err != nil {
		c.drop("delta", "malformed", from, fmt.Errorf("payload: %w", err))
		return
	}
	if id != 0 {
		c.sawDelta(id)
	}
	c.heardFrom(from)
	if id := d.GetAckId(); id != 0 {
		// Confirmed whether or not it was news: this member holds it.
		c.out.deltaAcks = append(c.out.deltaAcks, deltaAck{node: from, id: id, delta: d.GetPayload()})
	}
	if !changed {
		return
	}
	c.out.stateChanged = true
	c.stats.StateChanges++
	c.payloadTouched()
	hops := d.GetHops()
	switch {
	case hops == 0:
	case len(d.GetPayload()) > lazyPushBytes:
		if id == 0 {
			id = deltaID(d.GetPayload())
			c.sawDelta(id)
		}
		c.announceDelta(id, d.GetPayload(), hops-1, from)
	default:
		c.forwardDelta(d.GetPayload(), hops-1, from)
	}
}

// pushTargets picks the PushFanout members an eager push (or a lazy
// push's announcement) goes to, other than except: this member's successor
// in the sorted up set, then random up members. Random targets alone miss
// some member about once in a dozen changes at N = 32 (each member is
// missed with probability about e^-fanout), and the next anti-entropy
// round repairs that only a second later; with the successor among them,
// a member is missed only if its predecessor is too.
func (c *ringCore) pushTargets(except string) []string {
	n := c.cfg.pushFanout
	successor, ok := c.successor()
	if n == 0 || !ok || successor == c.cfg.self || successor == except {
		return c.randomUpOthers(n, except)
	}
	return append([]string{successor}, c.randomUpOthers(n-1, except, successor)...)
}

// randomUpOthers picks up to n distinct random up members other than self
// and those in except.
func (c *ringCore) randomUpOthers(n int, except ...string) []string {
	candidates := make([]string, 0, len(c.up))
	for _, node := range c.up {
		if node != c.cfg.self && !slices.Contains(except, node) {
			candidates = append(candidates, node)
		}
	}
	if len(candidates) <= n {
		return candidates
	}
	// A partial Fisher-Yates shuffle: the first n are a uniform sample.
	for i := 0; i < n; i++ {
		j := i + c.rng.IntN(len(candidates)-i)
		candidates[i], candidates[j] = candidates[j], candidates[i]
	}
	return slices.Clone(candidates[:n])
}

// step hands the core one message of the ring protocol from another member;
// it reports false for a message that is not one. It is the core's single
// entry point for peer messages, used by the actor and the simulation alike.
func (c *ringCore) step(message any) bool {
	switch msg := message.(type) {
	case *messages.Gossip:
		c.onGossip(msg)
	case *messages.Digest:
		c.onDigest(msg)
	case *messages.Delta:
		c.onDelta(msg)
	case *messages.DeltaAck:
		c.onDeltaAck(msg)
	case *messages.StateChunk:
		c.onChunk(msg)
	case *messages.Ping:
		c.onPing(msg)
	case *messages.Ack:
		c.onAck(msg)
	case *messages.PingRequest:
		c.onPingRequest(msg)
	case *messages.NodeDown:
		c.onNodeDown(msg)
	default:
		return false
	}
	return true
}
