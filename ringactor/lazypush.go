package ringactor

import (
	"errors"
	"hash/crc64"

	"github.com/genserverring/genserverring-go/messages"
)

// Large deltas travel by lazy push (Plumtree, Leitão, Pereira and
// Rodrigues, 2007). Eager push costs every member PushFanout copies of a
// change: nothing for a small delta, but PushFanout megabytes each for a
// delta of a megabyte, sent in one burst that delays the probes behind it.
// So a delta larger than lazyPushBytes goes whole only from its origin to
// its PushFanout first receivers, who certainly lack it; from there on a
// member that merged it announces it (a Delta with its id and no payload,
// Plumtree's IHAVE), and a member that lacks it asks the announcer for it
// (want, Plumtree's IWANT). Each member then receives the delta about once,
// a hop costs one more round trip, and announcements cost a few dozen
// bytes each. A delta whose announcer no longer holds it, or whose pull is
// lost, is repaired by anti-entropy.

// lazyPushBytes is the size above which a delta is forwarded by lazy push:
// below it, the copies eager push sends in vain cost less than the round
// trip a pull adds.
const lazyPushBytes = 4 << 10

const (
	// heldDeltaTicks is how many probe intervals a member keeps a large
	// delta it announced, to answer pulls.
	heldDeltaTicks = 10
	// pullRetryTicks is how many probe intervals a pull may go unanswered
	// before another announcement of the same delta is answered with a new
	// pull.
	pullRetryTicks = 2
	// seenDeltaTicks is how many probe intervals a member remembers the
	// ids of large deltas it received, so that it ignores their
	// announcements.
	seenDeltaTicks = 60
	// maxLazyIDs bounds the ids a member remembers (seen, and pulls in
	// flight): announcements of more ids than that are ignored until
	// some expire, and anti-entropy repairs what they would have brought.
	maxLazyIDs = 4096
)

// heldDelta is a large delta a member announced and serves.
type heldDelta struct {
	data []byte
	// hops is the hops of the copies this member serves.
	hops uint32
	tick uint64
}

// pendingPull is a pull in flight: whom it asked, and when.
type pendingPull struct {
	from string
	tick uint64
}

// lazyPush is a member's state of lazy push.
type lazyPush struct {
	held      map[uint64]heldDelta
	heldBytes int
	seen      map[uint64]uint64 // id → probe tick when received
	pulls     map[uint64]pendingPull
}

// deltaID names a large delta by its content: the same delta has the same
// id wherever it is; never 0, which means "no id".
func deltaID(delta []byte) uint64 {
	if id := crc64.Checksum(delta, crcTable); id != 0 {
		return id
	}
	return 1
}

// errLazyPush is wrapped by the reasons a lazy push message is dropped.
var errLazyPush = errors.New("lazy push")

// pushLarge sends a large delta of this member's own whole to PushFanout
// members; they announce it onwards.
func (c *ringCore) pushLarge(delta []byte) {
	id := deltaID(delta)
	c.sawDelta(id)
	msg := &messages.Delta{Ring: c.cfg.ring, From: c.cfg.self, Payload: delta, Hops: c.cfg.pushHops, Id: id, PayloadType: c.cfg.payloadType}
	for _, node := range c.pushTargets("") {
		c.stats.DeltasSent++
		c.send(node, msg)
	}
}

// announceDelta holds a large delta this member merged and announces it to
// PushFanout members other than except; hops is what the copies it serves
// will carry.
func (c *ringCore) announceDelta(id uint64, delta []byte, hops uint32, except string) {
	if c.cfg.pushFanout == 0 || (c.cfg.maxStateBytes > 0 && len(delta) > c.cfg.maxStateBytes) {
		return
	}
	c.holdDelta(id, delta, hops)
	msg := &messages.Delta{Ring: c.cfg.ring, From: c.cfg.self, Id: id, PayloadType: c.cfg.payloadType}
	for _, node := range c.pushTargets(except) {
		c.stats.DeltaAnnouncementsSent++
		c.send(node, msg)
	}
}

// holdDelta keeps a delta to serve pulls, evicting the oldest held ones so
// that all of them together stay within MaxStateBytes.
func (c *ringCore) holdDelta(id uint64, delta []byte, hops uint32) {
	l := &c.lazy
	if l.held == nil {
		l.held = map[uint64]heldDelta{}
	}
	if old, ok := l.held[id]; ok {
		l.heldBytes -= len(old.data)
	}
	for c.cfg.maxStateBytes > 0 && l.heldBytes+len(delta) > c.cfg.maxStateBytes && len(l.held) > 0 {
		var oldest uint64
		first := true
		for hid, h := range l.held {
			if first || h.tick < l.held[oldest].tick || (h.tick == l.held[oldest].tick && hid < oldest) {
				oldest, first = hid, false
			}
		}
		l.heldBytes -= len(l.held[oldest].data)
		delete(l.held, oldest)
	}
	l.held[id] = heldDelta{data: delta, hops: hops, tick: c.probeTicks}
	l.heldBytes += len(delta)
}

// sawDelta records that this member holds the delta of id.
func (c *ringCore) sawDelta(id uint64) {
	l := &c.lazy
	delete(l.pulls, id)
	if l.seen == nil {
		l.seen = map[uint64]uint64{}
	}
	if _, ok := l.seen[id]; ok || len(l.seen) < maxLazyIDs {
		l.seen[id] = c.probeTicks
	}
}

// onLazyDelta handles the two messages of lazy push that carry no payload:
// an announcement and a pull.
func (c *ringCore) onLazyDelta(d *messages.Delta) {
	from, id, l := d.GetFrom(), d.GetId(), &c.lazy
	if d.GetWant() {
		h, ok := l.held[id]
		if !ok {
			c.stats.DeltaPullsUnserved++
			return // no longer held: anti-entropy repairs
		}
		c.stats.DeltasSent++
		c.send(from, &messages.Delta{Ring: c.cfg.ring, From: c.cfg.self, Payload: h.data, Hops: h.hops, Id: id, PayloadType: c.cfg.payloadType})
		return
	}
	if _, seen := l.seen[id]; seen {
		return
	}
	if p, ok := l.pulls[id]; ok && c.probeTicks-p.tick < pullRetryTicks {
		return // asked already; the delta is on its way
	}
	if l.pulls == nil {
		l.pulls = map[uint64]pendingPull{}
	}
	if _, ok := l.pulls[id]; !ok && len(l.pulls) >= maxLazyIDs {
		return
	}
	l.pulls[id] = pendingPull{from: from, tick: c.probeTicks}
	c.stats.DeltaPullsSent++
	c.send(from, &messages.Delta{Ring: c.cfg.ring, From: c.cfg.self, Id: id, Want: true, PayloadType: c.cfg.payloadType})
}

// pulling reports whether a pull of this member is in flight.
func (c *ringCore) pulling() bool {
	for _, p := range c.lazy.pulls {
		if c.probeTicks-p.tick < pullRetryTicks {
			return true
		}
	}
	return false
}

// expireLazy forgets held deltas, seen ids and pulls that are too old; it
// runs each probe interval.
func (c *ringCore) expireLazy() {
	l := &c.lazy
	for id, h := range l.held {
		if c.probeTicks-h.tick >= heldDeltaTicks {
			l.heldBytes -= len(h.data)
			delete(l.held, id)
		}
	}
	for id, tick := range l.seen {
		if c.probeTicks-tick >= seenDeltaTicks {
			delete(l.seen, id)
		}
	}
	for id, p := range l.pulls {
		if c.probeTicks-p.tick >= seenDeltaTicks {
			delete(l.pulls, id)
		}
	}
}
