package ringactor

import "container/heap"

// replayCache remembers the nonces of the sealed messages a member accepted
// while their timestamps are inside the replay window, so a captured
// message cannot be delivered twice. It holds at most size nonces: when it
// is full it forgets the oldest one and from then on refuses every message
// not newer than it (the floor), so forgetting never lets a replay in; it
// only refuses, under a flood of authentic messages, old ones that came
// late. Only authenticated messages reach it, so an outsider cannot fill it.
type replayCache struct {
	size  int
	seen  map[[nonceSize]byte]struct{}
	order nonceHeap
	floor int64
}

func newReplayCache(size int) *replayCache {
	return &replayCache{size: size, seen: map[[nonceSize]byte]struct{}{}}
}

// add records nonce, sealed at unixNanos, and reports whether it is new.
// Nonces sealed before expireBefore are forgotten: the window refuses them.
func (c *replayCache) add(nonce []byte, unixNanos, expireBefore int64) bool {
	for c.order.Len() > 0 && c.order[0].unixNanos < expireBefore {
		delete(c.seen, heap.Pop(&c.order).(sealedNonce).nonce)
	}
	if unixNanos <= c.floor {
		return false
	}
	var key [nonceSize]byte
	copy(key[:], nonce)
	if _, ok := c.seen[key]; ok {
		return false
	}
	if c.order.Len() >= c.size {
		oldest := heap.Pop(&c.order).(sealedNonce)
		delete(c.seen, oldest.nonce)
		c.floor = max(c.floor, oldest.unixNanos)
		if unixNanos <= c.floor {
			return false
		}
	}
	c.seen[key] = struct{}{}
	heap.Push(&c.order, sealedNonce{nonce: key, unixNanos: unixNanos})
	return true
}

func (c *replayCache) len() int { return len(c.seen) }

type sealedNonce struct {
	nonce     [nonceSize]byte
	unixNanos int64
}

// nonceHeap orders nonces by their timestamp, oldest first.
type nonceHeap []sealedNonce

func (h nonceHeap) Len() int           { return len(h) }
func (h nonceHeap) Less(i, j int) bool { return h[i].unixNanos < h[j].unixNanos }
func (h nonceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nonceHeap) Push(x any)        { *h = append(*h, x.(sealedNonce)) }
func (h *nonceHeap) Pop() any {
	old := *h
	last := old[len(old)-1]
	*h = old[:len(old)-1]
	return last
}
