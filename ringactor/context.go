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
}

// Payload returns the payload. Update it in place with this member's
// replica ID, e.g. ctx.Payload().Increment(ctx.Replica(), 1); the change is
// gossiped with the next gossip round.
func (c *Context[P]) Payload() P { return c.ring.payload }

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
	return Reply(c.actorContext, from, value)
}

// Actor returns the Proto.Actor context of the ring actor, for sending
// messages, spawning children or scheduling.
func (c *Context[P]) Actor() actor.Context { return c.actorContext }

// Logger returns the ring's logger.
func (c *Context[P]) Logger() *slog.Logger { return c.ring.log }
