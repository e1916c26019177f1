package ringactor

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/genserverring/genserverring-go/crdt"
)

// Context is what a callback gets: the ring member's payload, identity and
// membership, and a way to answer deferred calls. It is valid only during
// the callback, on the ring actor's goroutine.
type Context[P any] struct {
	actorContext actor.Context
	ring         *ringView[P]
}

// ringView is the part of the ring actor a Context reads.
type ringView[P any] struct {
	name    string
	self    string
	replica crdt.ReplicaID
	payload P
	core    *ringCore
	log     *slog.Logger
	// update and reply are the actor's: a change goes through its commit
	// pipeline, and a reply waits for the changes before it.
	update       func(mutate func(P) P)
	reply        func(sender actor.SenderContext, from From, value any, err error) error
	setWriteAcks func(acks int)
}

// Payload returns the payload, to read. Change it with Update: a change
// made directly on the value Payload returns is neither made durable nor
// pushed, and reaches the others only with anti-entropy.
func (c *Context[P]) Payload() P { return c.ring.payload }

// Update changes the payload: mutate applies the change to p with this
// member's replica ID and returns its delta, as the update methods of
// package crdt do:
//
//	ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter {
//		return p.Increment(ctx.Replica(), 1)
//	})
//
// (returning nil makes the whole payload the delta). With DurabilityDisk
// the reply of the call being handled, and every later one, leaves this
// member only once the change is on its disk; the changes of all the calls
// waiting in the mailbox share one sync. Then the delta is pushed at once
// to a few up members, who pass it on. A change that would make the
// payload larger than Config.MaxStateBytes is refused: the payload stays
// as it was and the call being handled is answered ErrPayloadTooLarge.
func (c *Context[P]) Update(mutate func(p P) P) { c.ring.update(mutate) }

// SetWriteAcks sets, for the call being handled, how many other up members
// must hold its change before its reply says ok (Config.WriteAcks; 0 for
// none, WriteMajority for a majority of the up members). When fewer confirm
// within Config.WriteAckTimeout, the caller gets ErrNotReplicated.
func (c *Context[P]) SetWriteAcks(acks int) { c.ring.setWriteAcks(acks) }

// Replica returns this member's replica ID for this life of the process:
// pass it to every payload update.
func (c *Context[P]) Replica() crdt.ReplicaID { return c.ring.replica }

// Node returns this member's node address (host:port).
func (c *Context[P]) Node() string { return c.ring.self }

// RingName returns the ring's name (the ring actor's name on every member).
func (c *Context[P]) RingName() string { return c.ring.name }

// Up returns the members believed up, this one included, sorted.
func (c *Context[P]) Up() []string {
	if c.ring.core == nil {
		return nil
	}
	return c.ring.core.upNodes()
}

// Owner returns the member that owns key among the members this one
// believes up (Owner over Up): every member with the same up set names the
// same owner, and a join or a failure moves only the keys of that member.
// Members whose up sets differ, until gossip settles, may disagree. It
// returns "" when the ring is not started.
func (c *Context[P]) Owner(key string) string {
	owner, _ := Owner(key, c.Up())
	return owner
}

// All returns every member of the ring, sorted.
func (c *Context[P]) All() []string {
	if c.ring.core == nil {
		return nil
	}
	return c.ring.core.all()
}

// Reply answers a call that HandleCall left unanswered (NoReply). A reply to
// a caller in another process must be a proto.Message.
func (c *Context[P]) Reply(from From, value any) error {
	if c.ring.reply != nil {
		return c.ring.reply(c.actorContext, from, value, nil)
	}
	return Reply(c.actorContext, from, value)
}

// Actor returns the Proto.Actor context of the ring actor, for sending
// messages, spawning children or scheduling.
func (c *Context[P]) Actor() actor.Context { return c.actorContext }

// Logger returns the ring's logger.
func (c *Context[P]) Logger() *slog.Logger { return c.ring.log }
