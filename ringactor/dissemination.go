package ringactor

import (
	"fmt"
	"hash/crc64"
	"log/slog"
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
//  3. pushDelta sends the batch's delta at once to PushFanout random up
//     members; a member whose state it changes passes it on (onDelta) while
//     hops remain, so a change reaches everyone in a few network hops. A
//     member forwards a delta once at most: the second copy changes nothing.
//  4. Anti-entropy repairs what a push missed: each gossip interval a member
//     sends a Digest (a hash of its state) to one random up member; only
//     when the digests differ does state travel, push-pull (onDigest and
//     mergeGossip's answer), so the steady cost does not depend on the
//     payload's size.

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

// computeDigest hashes the parts of a gossip message that are state.
func computeDigest(g *messages.Gossip) (uint64, error) {
	h := crc64.New(crcTable)
	for _, part := range []proto.Message{g.GetNodeSet(), g.GetForcedDown()} {
		data, err := deterministic.Marshal(part)
		if err != nil {
			return 0, err
		}
		var n [8]byte
		for i := range n {
			n[i] = byte(len(data) >> (8 * i))
		}
		h.Write(n[:])
		h.Write(data)
	}
	h.Write(g.GetPayload())
	sum := h.Sum64()
	if sum == 0 {
		sum = 1 // 0 means "no digest" on the wire
	}
	return sum, nil
}

// onGossipTick is the anti-entropy round: a digest to one random up member.
func (c *ringCore) onGossipTick() {
	target, ok := c.randomUpOther("")
	if !ok {
		return
	}
	d := c.digest()
	if d == 0 {
		c.sendGossip(target, false)
		return
	}
	c.stats.DigestsSent++
	c.send(target, &messages.Digest{Ring: c.cfg.ring, From: c.cfg.self, Digest: d})
}

// onDigest answers another member's digest with this member's state when
// they differ (the other side answers in turn if it holds what this one
// lacks).
func (c *ringCore) onDigest(d *messages.Digest) {
	c.stats.DigestsReceived++
	if !c.acceptFrom("digest", d.GetRing(), d.GetFrom()) {
		return
	}
	from := d.GetFrom()
	firstContact := !c.alive[from]
	c.heardFrom(from)
	if firstContact || !c.nodeSet.Contains(from) || d.GetDigest() != c.digest() {
		c.sendGossip(from, false)
	}
}

// pushDelta sends a batch's encoded delta at once to a few random up
// members.
func (c *ringCore) pushDelta(delta []byte) {
	c.forwardDelta(delta, c.cfg.pushHops, "")
}

func (c *ringCore) forwardDelta(delta []byte, hops uint32, except string) {
	targets := c.randomUpOthers(c.cfg.pushFanout, except)
	for _, node := range targets {
		c.stats.DeltasSent++
		c.send(node, &messages.Delta{Ring: c.cfg.ring, From: c.cfg.self, Payload: delta, Hops: hops})
	}
}

// onDelta merges a pushed delta and passes it on if it was news here.
func (c *ringCore) onDelta(d *messages.Delta) {
	c.stats.DeltasReceived++
	if !c.acceptFrom("delta", d.GetRing(), d.GetFrom()) {
		return
	}
	from := d.GetFrom()
	changed, err := c.payload.mergeEncoded(d.GetPayload())
	if err != nil {
		c.drop("delta", "malformed", from, fmt.Errorf("payload: %w", err))
		return
	}
	c.heardFrom(from)
	if !changed {
		return
	}
	c.out.stateChanged = true
	c.stats.StateChanges++
	c.gossipCache = nil
	if hops := d.GetHops(); hops > 0 {
		c.forwardDelta(d.GetPayload(), hops-1, from)
	}
}

// randomUpOthers picks up to n distinct random up members other than self
// and except.
func (c *ringCore) randomUpOthers(n int, except string) []string {
	candidates := make([]string, 0, len(c.up))
	for _, node := range c.up {
		if node != c.cfg.self && node != except {
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

// logDigestError is called when the state cannot be encoded for a digest.
func (c *ringCore) logDigestError(err error) {
	c.log.Error("cannot compute the state digest", slog.Any("error", err))
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
