package ringactor

import (
	"github.com/genserverring/genserverring-go/crdt"
)

// Payload is the constraint on a ring's payload type P: a CRDT of package
// crdt's contract (every crdt type, e.g. *crdt.PNCounter, or a user's own
// type that satisfies crdt.CRDT). The ring makes empty states with New,
// called on P's zero value, to start from and to decode gossip into. P is
// comparable so the ring can tell a nil payload (a pointer type, as every
// crdt type is) from a state.
type Payload[P any] interface {
	comparable
	crdt.CRDT[P]
}

// newPayload returns a new empty payload of type P.
func newPayload[P Payload[P]]() P {
	var zero P
	return zero.New()
}

// isNilPayload reports whether p is P's zero value: nil, for the pointer
// types payloads are.
func isNilPayload[P Payload[P]](p P) bool {
	var zero P
	return p == zero
}

// Behaviour is what a ring's user writes: the GenServer callbacks. P is the
// payload type, e.g. *crdt.PNCounter.
//
// Every callback runs on the ring actor's goroutine, one at a time, so a
// behaviour needs no locks for its own fields or for the payload. A callback
// must not block: while it runs the member neither gossips nor answers the
// probes of the other members, and a callback that outlasts the probe
// timeout gets its member declared down by the others. Start long work on
// another goroutine and send the result back (Cast, or a reply through Reply).
// Never wait in a callback on a request to this member's own ring actor
// (a Client's Call, AddNode, Up, ...): the actor is busy running the
// callback, so the request times out; use the Context instead (ctx.Up,
// ctx.All, ctx.Payload).
//
// A callback that panics is recovered: the panic is logged with its stack,
// counted in Stats.CallbackPanics, and a pending call gets an error wrapping
// ErrCallbackPanic. The ring keeps running with its membership intact.
//
// Embed DefaultBehaviour to write only the callbacks you need.
type Behaviour[P any] interface {
	// Init runs once, when the ring actor starts, before any other callback.
	// It returns the initial payload; nil means an empty one (P's New). An
	// error stops the ring actor, and Start returns it.
	Init(ctx *Context[P]) (P, error)

	// HandleCall answers a Call, or a protobuf message sent to the ring
	// actor as a Proto.Actor request (RequestFuture, ctx.Request), which
	// is how a Call travels between processes. It returns ReplyWith (reply now), NoReply
	// (reply later through Context.Reply or Reply with from), or StopWith
	// (reply, then stop the ring actor of this member).
	HandleCall(ctx *Context[P], from From, msg any) CallResult

	// HandleCast handles a Cast: no reply is expected.
	HandleCast(ctx *Context[P], msg any)

	// HandleInfo handles any message sent to the ring actor that is neither
	// a call, a cast nor a message of the ring itself, and the ring's
	// PayloadMismatch notices.
	HandleInfo(ctx *Context[P], msg any)

	// HandleStateChange runs after gossip from another member changed the
	// payload; payload is the merged payload (the same as ctx.Payload()).
	HandleStateChange(ctx *Context[P], payload P)

	// HandleRingChange runs when the set of up members changed.
	HandleRingChange(ctx *Context[P], change RingChange)

	// Terminate runs once when the ring actor stops: after LocalStop, Stop,
	// StopWith, removal from the ring (reason wraps ErrRemoved), or the
	// actor system's shutdown. The payload is still readable.
	Terminate(ctx *Context[P], reason error)
}

// DefaultBehaviour implements every Behaviour callback as a no-op (Init
// returns an empty payload; HandleCall answers ErrUnhandledCall). Embed it
// and override what you need.
type DefaultBehaviour[P any] struct{}

// Init returns a nil payload, which the ring replaces with an empty one.
func (DefaultBehaviour[P]) Init(*Context[P]) (P, error) {
	var none P
	return none, nil
}

// HandleCall answers every call with ErrUnhandledCall.
func (DefaultBehaviour[P]) HandleCall(*Context[P], From, any) CallResult {
	return ReplyWithError(ErrUnhandledCall)
}

// HandleCast ignores the cast.
func (DefaultBehaviour[P]) HandleCast(*Context[P], any) {}

// HandleInfo ignores the message.
func (DefaultBehaviour[P]) HandleInfo(*Context[P], any) {}

// HandleStateChange does nothing.
func (DefaultBehaviour[P]) HandleStateChange(*Context[P], P) {}

// HandleRingChange does nothing.
func (DefaultBehaviour[P]) HandleRingChange(*Context[P], RingChange) {}

// Terminate does nothing.
func (DefaultBehaviour[P]) Terminate(*Context[P], error) {}

// CallResult is what HandleCall returns; build it with ReplyWith,
// ReplyWithError, NoReply or StopWith.
type CallResult struct {
	reply   any
	err     error
	noReply bool
	stop    error
}

// ReplyWith answers the call now with value. A call from another process
// can only carry a protobuf message (proto.Message) back.
func ReplyWith(value any) CallResult { return CallResult{reply: value} }

// ReplyWithError answers the call now with an error; the caller's Call
// returns it (across processes, as a *CallError carrying its text and
// matching with errors.Is the sentinels of this package that err wraps).
func ReplyWithError(err error) CallResult { return CallResult{err: err} }

// NoReply leaves the call unanswered for now: answer it later with
// Context.Reply or Reply, using the From that HandleCall got.
func NoReply() CallResult { return CallResult{noReply: true} }

// StopWith answers the call with value, then stops this member's ring actor
// with reason (Terminate gets it).
func StopWith(reason error, value any) CallResult {
	if reason == nil {
		reason = ErrStopped
	}
	return CallResult{reply: value, stop: reason}
}

// Reason says why the up set changed.
type Reason string

// The reasons of a RingChange.
const (
	// ReasonInit: the ring actor started; New holds the members of the
	// persisted ring that answered.
	ReasonInit Reason = "init"
	// ReasonGossip: gossip or a probe answer showed members up, or gossip
	// changed the node set or forced-down set.
	ReasonGossip Reason = "gossip"
	// ReasonNodeDown: a member was seen down (its process ended, its
	// connection closed, or it stopped answering probes).
	ReasonNodeDown Reason = "nodedown"
	// ReasonRequest: AddNode, DelNode, ForceDown or UnforceDown on this
	// member.
	ReasonRequest Reason = "request"
	// ReasonRemoved: this member learnt it was removed from the ring; New
	// is empty and the ring actor stops next.
	ReasonRemoved Reason = "removed"
	// ReasonPayloadMismatch: a member was found to have a payload of
	// another type (HandleInfo gets a PayloadMismatch too).
	ReasonPayloadMismatch Reason = "payload_mismatch"
)

// RingChange describes a change of the up set: the members believed up
// (this member included) before and after, sorted.
type RingChange struct {
	Old    []string
	New    []string
	Ring   string
	Reason Reason
}
