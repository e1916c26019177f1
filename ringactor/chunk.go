package ringactor

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// Large state travels in chunks: a gossip or delta whose encoding exceeds
// the chunk size is sent as StateChunks, each far below the transport's
// message limit, and joined again on receipt. So a payload of any size a
// member can hold (up to MaxStateBytes) is shared without a transport error,
// and nothing large sits in one gRPC message.

// Chunk kinds.
const (
	chunkGossip = "gossip"
	chunkDelta  = "delta"
)

// resendStateAfterTicks is how many probe intervals a member waits before it
// sends the same large state to the same member again (the first copy may
// have been lost), or its state to a member it sent a large delta that
// brings it there.
const resendStateAfterTicks = 20

// sentState is a large state sent to a member: its digest, and when.
type sentState struct {
	digest uint64
	tick   uint64
}

// transfer is a chunked message being received.
type transfer struct {
	id    uint64
	kind  string
	total uint32
	parts [][]byte
	bytes int
	tick  uint64 // when its first part arrived
}

// receiving reports whether a chunked transfer to this member is under
// way: its digest is then about to change, and a mismatch is no reason to
// start another transfer. A transfer whose parts stopped coming for
// resendStateAfterTicks no longer counts.
func (c *ringCore) receiving() bool {
	for _, t := range c.transfers {
		if c.probeTicks-t.tick < resendStateAfterTicks {
			return true
		}
	}
	return false
}

// chunkKind returns the chunk kind of msg, or "" for a message that is
// never chunked.
func chunkKind(msg proto.Message) string {
	switch msg.(type) {
	case *messages.Gossip:
		return chunkGossip
	case *messages.Delta:
		return chunkDelta
	}
	return ""
}

// sendChunked sends msg to node, in chunks when its encoding exceeds the
// chunk size.
func (c *ringCore) sendChunked(to string, msg proto.Message) {
	kind := chunkKind(msg)
	if kind == "" || c.cfg.chunkBytes <= 0 || proto.Size(msg) <= c.cfg.chunkBytes {
		c.out.sends = append(c.out.sends, outbound{to: to, msg: msg})
		return
	}
	// A large state or delta takes a while to arrive: the digests of the
	// probes meanwhile still differ, and must not queue copies of the
	// state behind it.
	var digest uint64
	switch m := msg.(type) {
	case *messages.Gossip:
		digest = m.GetDigest()
		last, sent := c.chunkedStateTo[to]
		if sent && last.digest == digest && c.probeTicks-last.tick < resendStateAfterTicks {
			c.stats.ChunkedResendsSkipped++
			return
		}
		// One large state a probe interval at most: anti-entropy is the
		// safety net, and copies of a large state to many members at once
		// starve the probes, whose failures would ask for more copies.
		if c.chunkedStateTick == c.probeTicks+1 {
			c.stats.ChunkedResendsSkipped++
			return
		}
		c.chunkedStateTick = c.probeTicks + 1
	case *messages.Delta:
		digest = c.digest() // what the delta brings the member to, if it lacked only that
	}
	if digest != 0 {
		if c.chunkedStateTo == nil {
			c.chunkedStateTo = map[string]sentState{}
		}
		c.chunkedStateTo[to] = sentState{digest: digest, tick: c.probeTicks}
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		c.stats.EncodeErrors++
		c.log.Error("cannot encode a message to chunk")
		return
	}
	c.nextTransfer++
	total := (len(data) + c.cfg.chunkBytes - 1) / c.cfg.chunkBytes
	for i := range total {
		part := data[i*c.cfg.chunkBytes : min(len(data), (i+1)*c.cfg.chunkBytes)]
		c.stats.ChunksSent++
		c.out.sends = append(c.out.sends, outbound{to: to, msg: &messages.StateChunk{
			Ring: c.cfg.ring, From: c.cfg.self, TransferId: c.nextTransfer,
			Index: uint32(i), Total: uint32(total), Kind: kind, Data: part,
		}})
	}
}

// errTransfer is wrapped by the reasons a chunk is dropped.
var errTransfer = errors.New("chunked transfer")

// onChunk collects a chunk; the last one of a transfer hands the joined
// message to step.
func (c *ringCore) onChunk(ch *messages.StateChunk) {
	c.stats.ChunksReceived++
	if !c.acceptFrom("chunk", ch.GetRing(), ch.GetFrom()) {
		return
	}
	from := ch.GetFrom()
	t := c.transfers[from]
	if ch.GetIndex() == 0 {
		// A new transfer abandons an unfinished one from the same sender.
		maxParts := uint32(c.cfg.maxStateBytes/max(1, c.cfg.chunkBytes)) + 1
		if ch.GetTotal() == 0 || ch.GetTotal() > maxParts || (ch.GetKind() != chunkGossip && ch.GetKind() != chunkDelta) {
			delete(c.transfers, from)
			c.drop("chunk", "malformed", from, fmt.Errorf("%w: %d parts of %q (at most %d)", errTransfer, ch.GetTotal(), ch.GetKind(), maxParts))
			return
		}
		t = &transfer{id: ch.GetTransferId(), kind: ch.GetKind(), total: ch.GetTotal(), tick: c.probeTicks}
		if c.transfers == nil {
			c.transfers = map[string]*transfer{}
		}
		c.transfers[from] = t
	}
	if t == nil || t.id != ch.GetTransferId() || uint32(len(t.parts)) != ch.GetIndex() || ch.GetTotal() != t.total || ch.GetKind() != t.kind {
		// A part of a transfer that was abandoned or began before this
		// member saw it: anti-entropy sends the state again.
		delete(c.transfers, from)
		c.stats.Dropped++
		return
	}
	t.bytes += len(ch.GetData())
	if t.bytes > c.cfg.maxStateBytes {
		delete(c.transfers, from)
		c.drop("chunk", "too large", from, fmt.Errorf("%w: more than %d bytes", errTransfer, c.cfg.maxStateBytes))
		return
	}
	t.parts = append(t.parts, ch.GetData())
	if uint32(len(t.parts)) < t.total {
		return
	}
	delete(c.transfers, from)
	data := make([]byte, 0, t.bytes)
	for _, part := range t.parts {
		data = append(data, part...)
	}
	var msg proto.Message = &messages.Gossip{}
	if t.kind == chunkDelta {
		msg = &messages.Delta{}
	}
	if err := proto.Unmarshal(data, msg); err != nil {
		c.drop("chunk", "malformed", from, fmt.Errorf("%w: joined %s: %v", errTransfer, t.kind, err))
		return
	}
	c.step(msg)
}
