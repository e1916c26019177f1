package ringactor

import (
	"log/slog"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// DefaultMaxUnanswered is the default of Security.MaxUnanswered: as many
// messages as a member takes from the network into its mailbox
// (DefaultMaxQueued). A peer that is further behind than that refuses what
// comes next in any case, so the bound drops little that a live peer
// would have taken. Measured: eight callers making 40,000 calls on one
// member of a three-member ring in one process push deltas faster than
// the others merge them, and with a limit of 1024 the member dropped 0 to
// 6,955 messages to its live peers per run (7 runs); with 8192, none in 6.
const DefaultMaxUnanswered = DefaultMaxQueued

// outboundCredit bounds what a member hands Proto.Actor for each peer node.
// Proto.Actor's remote keeps one endpoint writer per address, whose queue
// has no bound: when the peer stops reading (a process stopped with
// SIGSTOP, a hung host, a stalled TCP stream), everything the ring sends
// it (probes, rejoin gossip, deltas) piles up there for as long as the
// ring keeps sending, and nothing is ever reported (no watch notice comes
// for a stopped process). Proto.Actor is used as the module proxy serves
// it, so the bound lives here: per node, a count of the ring messages
// handed to Proto.Actor since this member last received any ring message
// from that node (Security.MaxUnanswered). While the count is at the
// limit, what the ring sends to the node is dropped, not queued, and
// counted (Stats.DroppedOutbound); the first message from the node
// restores the full credit. So a peer that stopped reading holds at most
// MaxUnanswered of this member's messages (plus what the transport keeps
// waiting while it connects, maxPending), however long it stays stopped.
//
// Why a live peer is not silenced: a member answers every Ping (but a
// heartbeat) with an Ack and heartbeats, probes and gossips on its own, so
// it sends something back. Its own
// traffic alone may be rare for one peer (in a ring of 64 members, each
// picks a given one about every 30 probe and gossip rounds) while this
// member pushes many deltas to it (every batch of changes in a small
// ring). So when a node's count reaches half the limit, the member asks it
// for an answer: the shell sends it a Ping of seq askAnswerSeq, which
// belongs to no probe (its Ack is taken only as a sign of life). A live peer that reads
// its input answers within its round trip, long before this member has
// sent it another half limit (4096 messages by default); one that does
// not keep up with that is behind in any case, and what is dropped meanwhile
// (deltas, gossip) anti-entropy repairs. A stream that stalls one way only
// (this member's messages do not arrive, the peer's do) is not detected:
// the peer's messages keep restoring the credit.
//
// Why a peer that comes back is reached again: the ask for an answer went
// to it within the credit, so it waits in its input with the rest; when
// the peer resumes (SIGCONT) it reads it and answers, and its own probes
// and rejoin gossip follow. Any of these restores the credit. A message
// the transport drops without handing it to Proto.Actor (the node refused
// connections, its link is backed off) takes no credit, and the credit is
// restored when the node's link ends (Proto.Actor drops the writer and its
// queue with it): a node that was down and comes back with no memory of
// this member, which only this member's rejoin gossip can bring back into
// the ring, is never cut off by messages that never reached it.
//
// Not covered: watches (Proto.Actor system messages, which its endpoint
// watcher handles, one per node) and the answers to remote callers (Client
// requests), which leave through ctx.Respond, not the transport: each is
// one answer to one request received, and the receive guard bounds the
// requests queued (Security.MaxQueued), so a caller that stops reading can
// hold at most one answer per request it sent. The bound is in messages,
// not bytes: what waits for a stopped peer is at most MaxUnanswered times
// the largest message (ChunkBytes for the parts of a large state).
//
// Safe for concurrent use: the ring actor takes and restores credit, the
// transport's goroutines give back what they dropped and restore it when
// a link ends.
type outboundCredit struct {
	limit int
	mu    sync.Mutex
	// unanswered is, per node with a nonzero count, the messages handed
	// to Proto.Actor since the node was last heard.
	unanswered map[string]int
}

// creditGrant is the answer of outboundCredit.take.
type creditGrant int

const (
	// creditRefused: the node's credit is spent; drop the message.
	creditRefused creditGrant = iota
	// creditGranted: send the message.
	creditGranted
	// creditAskAnswer: send the message, and ask the node for an answer
	// (half the credit is spent).
	creditAskAnswer
)

func newOutboundCredit(limit int) *outboundCredit {
	return &outboundCredit{limit: limit, unanswered: map[string]int{}}
}

// take spends one unit of node's credit for a message about to be handed
// to Proto.Actor, or refuses it when none is left.
func (c *outboundCredit) take(node string) creditGrant {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.unanswered[node]
	if n >= c.limit {
		return creditRefused
	}
	c.unanswered[node] = n + 1
	if n+1 == max(c.limit/2, 1) {
		return creditAskAnswer
	}
	return creditGranted
}

// giveBack returns the credit of n messages that were taken for node but
// not handed to Proto.Actor (the transport dropped them).
func (c *outboundCredit) giveBack(node string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if left := c.unanswered[node] - n; left > 0 {
		c.unanswered[node] = left
	} else {
		delete(c.unanswered, node)
	}
}

// restore gives node its full credit: a message from it arrived, or its
// link ended and Proto.Actor dropped what was queued for it.
func (c *outboundCredit) restore(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.unanswered, node)
}

// outstanding returns the messages handed for node since it was last heard.
func (c *outboundCredit) outstanding(node string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unanswered[node]
}

// sendPeer seals msg and hands it to the transport for node, within node's
// outbound credit: with none left it is dropped, counted and logged
// (rate-limited). At half the credit it also asks node for an answer.
func (a *ringActor[P]) sendPeer(ctx actor.Context, node string, msg proto.Message) {
	grant := a.credit.take(node)
	if grant == creditRefused {
		a.core.stats.DroppedOutbound++
		a.boundary.drops.warn("peer silent", "not sent: the member has heard nothing from the peer since it was handed the last Security.MaxUnanswered messages",
			slog.String("to", node), slog.String("type", string(msg.ProtoReflect().Descriptor().FullName())), slog.Int("max", a.credit.limit))
		return
	}
	a.hand(ctx, node, msg)
	if grant == creditAskAnswer && a.credit.take(node) != creditRefused {
		a.hand(ctx, node, &messages.Ping{Ring: a.name, From: a.view.self, Seq: askAnswerSeq})
	}
}

// askAnswerSeq is the seq of the Ping that asks a peer for an answer. It
// belongs to no probe (their seqs count up from 1 and never reach it) and
// to no join (joinSeqBit), so its Ack only restores the credit; seq 0 is
// a heartbeat, which is not answered.
const askAnswerSeq uint64 = 1 << 62

// hand seals msg and gives it to the transport; a message the boundary
// does not send gives its credit back.
func (a *ringActor[P]) hand(ctx actor.Context, node string, msg proto.Message) {
	out := a.boundary.outgoing(msg)
	if out == nil {
		a.credit.giveBack(node, 1)
		return
	}
	a.transport.send(ctx, node, out)
}
