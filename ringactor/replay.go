package ringactor

// replayCache remembers the nonces of the sealed messages a member accepted
// while their timestamps are inside the replay window, so a captured
// message cannot be delivered twice. It holds at most size nonces: when it
// is full it forgets the one it took first and from then on refuses every
// message not newer than the newest it forgot (the floor), so forgetting
// never lets a replay in; it only refuses, under a flood of authentic
// messages, old ones that came late. Only authenticated messages reach it,
// so an outsider cannot fill it.
//
// The nonces are kept in the order they came, in a ring of size entries:
// taking one and forgetting one are O(1) and allocate nothing. (Ordered by
// timestamp in a heap instead, every message paid two O(log size) heap
// operations and a boxed value, half of what opening a sealed message cost
// the ring actor.) Messages come nearly in timestamp order, so the first
// taken is nearly the oldest; the floor is the newest timestamp forgotten,
// whichever came first.
type replayCache struct {
	seen map[[nonceSize]byte]struct{}
	// ring holds the remembered nonces in the order they came: count of
	// them from head on, wrapping. It grows to size as nonces come (a
	// member's cache costs memory for the traffic of one window, not for
	// the bound), then stays.
	ring        []sealedNonce
	size        int
	head, count int
	floor       int64
}

func newReplayCache(size int) *replayCache {
	return &replayCache{seen: map[[nonceSize]byte]struct{}{}, ring: make([]sealedNonce, min(max(size, 1), 64)), size: max(size, 1)}
}

// add records nonce, sealed at unixNanos, and reports whether it is new.
// Nonces sealed before expireBefore are forgotten, the first taken first:
// the window refuses them.
func (c *replayCache) add(nonce []byte, unixNanos, expireBefore int64) bool {
	for c.count > 0 && c.ring[c.head].unixNanos < expireBefore {
		c.forgetFirst()
	}
	if unixNanos <= c.floor {
		return false
	}
	var key [nonceSize]byte
	copy(key[:], nonce)
	if _, ok := c.seen[key]; ok {
		return false
	}
	if c.count == len(c.ring) && len(c.ring) < c.size {
		c.grow()
	}
	if c.count == len(c.ring) {
		c.floor = max(c.floor, c.ring[c.head].unixNanos)
		c.forgetFirst()
		if unixNanos <= c.floor {
			return false
		}
	}
	c.seen[key] = struct{}{}
	c.ring[(c.head+c.count)%len(c.ring)] = sealedNonce{nonce: key, unixNanos: unixNanos}
	c.count++
	return true
}

// grow doubles the ring, up to size, keeping the order of the nonces.
func (c *replayCache) grow() {
	ring := make([]sealedNonce, min(2*len(c.ring), c.size))
	for i := range c.count {
		ring[i] = c.ring[(c.head+i)%len(c.ring)]
	}
	c.ring, c.head = ring, 0
}

// forgetFirst forgets the nonce taken first.
func (c *replayCache) forgetFirst() {
	delete(c.seen, c.ring[c.head].nonce)
	c.head = (c.head + 1) % len(c.ring)
	c.count--
}

func (c *replayCache) len() int { return len(c.seen) }

type sealedNonce struct {
	nonce     [nonceSize]byte
	unixNanos int64
}
