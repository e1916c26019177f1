package ringactor

import (
	"errors"
	"slices"

	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// Errors that callers branch on, with errors.Is. A member's answer carries
// the sentinels its error wraps as codes (OpReply and CallReply
// error_codes), so errors.Is matches them whether the member runs in this
// process or in another one; see CallError.
var (
	// ErrUnhandledCall is DefaultBehaviour's answer to a call.
	ErrUnhandledCall = errors.New("ringactor: call not handled by the behaviour")
	// ErrCallbackPanic is wrapped by the error a caller gets when the
	// callback handling its call panicked.
	ErrCallbackPanic = errors.New("ringactor: callback panicked")
	// ErrTimeout is wrapped by the error of a request that got no answer in
	// time (the member is gone, hangs, or the network is cut).
	ErrTimeout = errors.New("ringactor: request timed out")
	// ErrMemberGone is wrapped by the error of a request whose target ring
	// actor does not exist (never started, or stopped).
	ErrMemberGone = errors.New("ringactor: ring member is gone")
	// ErrRemoved is wrapped by the reason Terminate gets when this member
	// learnt it was removed from the ring.
	ErrRemoved = errors.New("ringactor: member removed from the ring")
	// ErrStopped is the reason of a plain Stop or LocalStop, and is wrapped
	// by the answer of a ring actor that is stopping.
	ErrStopped = errors.New("ringactor: ring stopped")
	// ErrNotProto is returned when a message or reply must cross processes
	// but is not a protobuf message.
	ErrNotProto = errors.New("ringactor: message to or from another process must be a proto.Message")
	// ErrInvalidNode is returned for a node address that is not host:port
	// (AddNode, or a node in gossip or a ring file).
	ErrInvalidNode = errors.New("ringactor: invalid node address")
	// ErrUnknownNode is returned by DelNode and ForceDown for a node that
	// is not in the ring.
	ErrUnknownNode = errors.New("ringactor: node is not in the ring")
	// ErrSelf is returned by ForceDown for the member's own node.
	ErrSelf = errors.New("ringactor: a member cannot force itself down")
	// ErrNoRemote is returned when the ring actor's actor system has no
	// remote: a ring member is addressed by its host:port.
	ErrNoRemote = errors.New("ringactor: the actor system has no remote; start one first (see StartActorSystem)")
	// ErrNotDurable is wrapped by the error a caller gets when its call
	// changed the payload or the membership but the change could not be
	// made durable (the disk is full, read-only or failing). The change was
	// applied in the member's memory: it is written (and spread) once the
	// disk recovers, unless the member crashes first. Until then the member
	// keeps serving calls that change nothing, and does not send its state
	// to others.
	ErrNotDurable = errors.New("ringactor: change not durable")
	// ErrNotReplicated is wrapped by the error a caller gets when its call
	// changed the payload and asked for confirmations from other members
	// (Config.WriteAcks, Context.SetWriteAcks), but fewer confirmed in time,
	// or fewer are up. The change is applied on this member (and durable
	// there, with DurabilityDisk) and keeps spreading: it is not undone. The
	// error says the change may be lost if this member's disk is lost
	// before it reaches another member, not that it failed.
	ErrNotReplicated = errors.New("ringactor: change not confirmed by enough members")

	// ErrKeyRequired is the error a ring with a keyring answers a request
	// that is not sealed with one of its keys (a Client without
	// WithKeyring, or with a key the ring does not hold).
	ErrKeyRequired = errors.New("ringactor: ring requires a key")

	// ErrHandshake wraps the error of a request that could not reach the
	// member because the TLS handshake failed (unknown CA, expired
	// certificate, a certificate that does not name the address, no
	// certificate at all).
	ErrHandshake = errors.New("ringactor: TLS handshake failed")

	// ErrBusy is the answer to a request from another process that the
	// member refused because its mailbox was full (Security.MaxQueued):
	// nothing was done; try again later.
	ErrBusy = errors.New("ringactor: member busy, request not queued")

	// ErrPayloadTooLarge is wrapped by the error of a call whose change
	// would make the payload larger than the ring can carry
	// (Config.MaxStateBytes, encoded). The change was refused: the payload
	// is as it was before the call, and nothing of it was logged or sent.
	ErrPayloadTooLarge = errors.New("ringactor: change refused: payload too large")

	// ErrPayloadMismatch is returned by AddNode for a member whose payload
	// is of another type than this member's (one ring name used for two
	// rings); see PayloadMismatch.
	ErrPayloadMismatch = errors.New("ringactor: member has a payload of another type")
)

// errorCodes names every sentinel a member's answer can wrap, on the wire.
// A sentinel's code is its name in snake case (ErrNotDurable is
// "not_durable"): TestEverySentinelHasAWireCode holds every sentinel of
// this file to it.
// A code is never reused for another error; a code this binary does not
// know (from a newer member) is ignored, and the error's text remains.
var errorCodes = []struct {
	code string
	err  error
}{
	{"unhandled_call", ErrUnhandledCall},
	{"callback_panic", ErrCallbackPanic},
	{"timeout", ErrTimeout},
	{"member_gone", ErrMemberGone},
	{"removed", ErrRemoved},
	{"stopped", ErrStopped},
	{"not_proto", ErrNotProto},
	{"invalid_node", ErrInvalidNode},
	{"unknown_node", ErrUnknownNode},
	{"self", ErrSelf},
	{"no_remote", ErrNoRemote},
	{"not_durable", ErrNotDurable},
	{"not_replicated", ErrNotReplicated},
	{"key_required", ErrKeyRequired},
	{"handshake", ErrHandshake},
	{"busy", ErrBusy},
	{"payload_too_large", ErrPayloadTooLarge},
	{"payload_mismatch", ErrPayloadMismatch},
	// A ring actor whose ring file failed to load answers with that error
	// while it stops.
	{"persistence.not_found", persistence.ErrNotFound},
	{"persistence.corrupt", persistence.ErrCorrupt},
	{"persistence.unsupported_version", persistence.ErrUnsupportedVersion},
	{"persistence.locked", persistence.ErrLocked},
	{"persistence.closed", persistence.ErrClosed},
}

// codesOf returns the codes of the sentinels err wraps.
func codesOf(err error) []string {
	var codes []string
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			codes = append(codes, c.code)
		}
	}
	return codes
}

// errorOf returns the sentinel of code, or nil for a code this binary does
// not know.
func errorOf(code string) error {
	for _, c := range errorCodes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// CallError is the error a member answered a request with, as it arrives
// through the wire form of the answer: a Call to a member in another
// process, or a membership request (AddNode, DelNode, ForceDown, ...) to
// any member. Message is the error's text on the member. errors.Is matches
// each sentinel of this package (and of package persistence) that the
// member's error wrapped; an error of the behaviour's own comes with its
// text only.
type CallError struct {
	Message string
	// Codes name the sentinels the member's error wrapped (see Is).
	Codes []string
}

// Error implements error.
func (e *CallError) Error() string { return "ringactor: member answered: " + e.Message }

// Is reports whether target is a sentinel the member's error wrapped.
func (e *CallError) Is(target error) bool {
	return slices.ContainsFunc(e.Codes, func(code string) bool {
		sentinel := errorOf(code)
		return sentinel != nil && sentinel == target
	})
}

// opReply is the answer to a membership request.
func opReply(err error) *messages.OpReply {
	if err == nil {
		return &messages.OpReply{}
	}
	return &messages.OpReply{Error: err.Error(), ErrorCodes: codesOf(err)}
}

// answerError turns the error text and codes of an answer back into an
// error; nil when the answer carries none.
func answerError(text string, codes []string) error {
	if text == "" && len(codes) == 0 {
		return nil
	}
	return &CallError{Message: text, Codes: codes}
}
