package ringactor

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

// The join handshake. AddNode and seeds (seeds.go) do not add an address
// blind: the member first sends it a Ping that names its payload type
// (payload_type set), and the member there answers with an Ack naming its
// own and, in from, the name it gives itself. Then:
//
//   - same payload type: the member is added under its own name, so an
//     address spelled another way ("localhost:7001" for "127.0.0.1:7001",
//     a DNS name for an IP address) never becomes a second member;
//   - another type: nothing is added, AddNode fails with
//     ErrPayloadMismatch, and both sides report it (payloadtype.go);
//   - the Ping reaches this member itself (an alias of its own address):
//     nothing to add;
//   - no answer within the join timeout (ProbeTimeout, at most half of
//     RequestTimeout, so that the request is answered in time), or a
//     watch notice that nothing listens there: AddNode adds the address as given (as
//     it always has: a member may be added before it starts, and is up
//     once it answers); a seed is left for the next round.

// joinSeqBit marks the seqs of join handshakes, apart from the probes':
// an Ack with it answers a join.
const joinSeqBit uint64 = 1 << 63

// pendingJoin is a join handshake in flight, by the seq of its Ping.
type pendingJoin struct {
	// target is the address the Ping went to.
	target string
	// addIfSilent: add target if it does not answer in time (AddNode).
	addIfSilent bool
	// waiter numbers the request waiting for the outcome; 0 for none.
	waiter uint64
}

// joinAnswer is the outcome of the join that request waiter waits for.
type joinAnswer struct {
	waiter uint64
	err    error
}

// join starts a join handshake with node for request waiter (0: none).
// It fails at once only when node is not an address.
func (c *ringCore) join(node string, waiter uint64, addIfSilent bool) error {
	normalized, err := NormalizeNode(node)
	if err != nil {
		return err
	}
	node = c.findNode(normalized)
	if node == c.cfg.self {
		c.answerJoin(waiter, nil)
		return nil
	}
	if c.joins == nil {
		c.joins = map[uint64]pendingJoin{}
	}
	c.nextJoin++
	seq := joinSeqBit | c.nextJoin
	c.joins[seq] = pendingJoin{target: node, addIfSilent: addIfSilent, waiter: waiter}
	c.send(node, &messages.Ping{Ring: c.cfg.ring, From: c.cfg.self, Seq: seq, PayloadType: c.cfg.payloadType})
	// The watch tells at once when nothing listens at node (the transport
	// answers it when the connection is refused): the join need not wait
	// for its deadline then.
	c.out.watch = append(c.out.watch, node)
	c.out.joinTimers = append(c.out.joinTimers, seq)
	return nil
}

// joinUnreachable ends the joins with node, whose watch notice came: it
// cannot be reached now.
func (c *ringCore) joinUnreachable(node string) {
	for seq, j := range c.joins {
		if j.target == node {
			c.onJoinTimeout(seq)
		}
	}
}

// joining reports whether a join handshake with node is in flight.
func (c *ringCore) joining(node string) bool {
	for _, j := range c.joins {
		if j.target == node {
			return true
		}
	}
	return false
}

func (c *ringCore) answerJoin(waiter uint64, err error) {
	if waiter != 0 {
		c.out.joinAnswers = append(c.out.joinAnswers, joinAnswer{waiter: waiter, err: err})
	}
}

// onJoinPing answers another member's join handshake with this member's
// payload type.
func (c *ringCore) onJoinPing(p *messages.Ping) {
	if p.GetFrom() == c.cfg.self && p.GetRing() == c.cfg.ring {
		// This member's own handshake, sent to another spelling of its
		// address.
		if j, ok := c.joins[p.GetSeq()]; ok {
			delete(c.joins, p.GetSeq())
			if c.selfAliases == nil {
				c.selfAliases = map[string]bool{}
			}
			if len(c.selfAliases) < maxMismatched {
				c.selfAliases[j.target] = true
			}
			c.answerJoin(j.waiter, nil)
		}
		return
	}
	if !c.acceptFrom("join ping", p.GetRing(), p.GetFrom()) {
		return
	}
	c.send(p.GetFrom(), &messages.Ack{Ring: c.cfg.ring, From: c.cfg.self, Seq: p.GetSeq(), PayloadType: c.cfg.payloadType})
	// A member of the ring that joins again shows it is alive, as any
	// ping does; a newcomer is up once the joiner adds it and gossips.
	if c.samePayloadType("join ping", p.GetFrom(), p.GetPayloadType()) && c.nodeSet.Contains(p.GetFrom()) {
		c.heardFrom(p.GetFrom())
	}
}

// onJoinAck completes a join handshake.
func (c *ringCore) onJoinAck(a *messages.Ack) {
	j, ok := c.joins[a.GetSeq()]
	if !ok || !c.acceptFrom("join ack", a.GetRing(), a.GetFrom()) {
		return
	}
	delete(c.joins, a.GetSeq())
	from := a.GetFrom()
	if err := validateNode(from); err != nil {
		c.drop("join ack", "malformed", from, err)
		c.answerJoin(j.waiter, err)
		return
	}
	if !c.samePayloadType("join ack", from, a.GetPayloadType()) {
		c.answerJoin(j.waiter, fmt.Errorf("%w: %s (answering at %s) has a payload of type %s, this member %s",
			ErrPayloadMismatch, from, j.target, truncate(a.GetPayloadType()), c.cfg.payloadType))
		return
	}
	c.answerJoin(j.waiter, c.addNode(from))
}

// onJoinTimeout ends a join handshake that got no answer in time.
func (c *ringCore) onJoinTimeout(seq uint64) {
	j, ok := c.joins[seq]
	if !ok {
		return
	}
	delete(c.joins, seq)
	if j.addIfSilent {
		c.answerJoin(j.waiter, c.addNode(j.target))
	}
}

// joinDeadline ends the join handshake of seq.
type joinDeadline struct{ seq uint64 }

// joinWaiters holds the requests waiting for a join's outcome.
type joinWaiters struct {
	next    uint64
	waiting map[uint64]joinWaiter
}

// joinWaiter is a request waiting for a join's outcome: who to answer, and
// what seals the answer for it (nil: the request came unsealed).
type joinWaiter struct {
	pid  *actor.PID
	seal func(proto.Message) proto.Message
}

// add registers the sender of the request being handled; 0 when there is
// none to answer.
func (w *joinWaiters) add(sender *actor.PID, seal func(proto.Message) proto.Message) uint64 {
	if sender == nil {
		return 0
	}
	if w.waiting == nil {
		w.waiting = map[uint64]joinWaiter{}
	}
	w.next++
	w.waiting[w.next] = joinWaiter{pid: sender, seal: seal}
	return w.next
}

// answer sends the outcome of a join to the request that waits for it.
func (w *joinWaiters) answer(ctx actor.Context, waiter uint64, err error) {
	if waiting, ok := w.waiting[waiter]; ok {
		delete(w.waiting, waiter)
		var reply proto.Message = opReply(err)
		if waiting.seal != nil {
			if reply = waiting.seal(reply); reply == nil {
				return
			}
		}
		ctx.Send(waiting.pid, reply)
	}
}

// addNode handles an AddNode request: its answer leaves when the join
// handshake ends.
func (a *ringActor[P]) addNode(ctx actor.Context, node string) {
	waiter := a.joinWaiters.add(ctx.Sender(), a.boundary.replySeal())
	if err := a.core.join(node, waiter, true); err != nil {
		a.joinWaiters.answer(ctx, waiter, err)
	}
	a.apply(ctx)
}

// answerJoins answers the requests whose joins ended; a change the ring
// file could not take is not done (see respondOp).
func (a *ringActor[P]) answerJoins(ctx actor.Context, answers []joinAnswer) {
	for _, answer := range answers {
		err := answer.err
		if err == nil && a.pending.ringDirty {
			err = fmt.Errorf("%w: the ring file of %s could not be written", ErrNotDurable, a.store)
		}
		a.joinWaiters.answer(ctx, answer.waiter, err)
	}
}
