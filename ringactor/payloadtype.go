package ringactor

import (
	"log/slog"
	"reflect"
)

// Members of one ring name whose payloads are of different types (one a
// PN-counter, another an OR-set) cannot share state: the bytes of one do
// not decode as the other, or, worse, decode as something else. So every
// message that carries state (Gossip, Delta) and the join handshake (a Ping
// with payload_type, and its Ack) name the sender's payload type, and a
// member drops state of another type before decoding it. The member that
// sent it is then out of the up set (nothing is sent to it but what any
// member that is not up gets), the behaviour gets a PayloadMismatch in
// HandleInfo once per member and type, Stats.PayloadMismatches counts the
// messages, and a rate-limited warning is logged. AddNode of such a member
// fails with ErrPayloadMismatch. A message that names no type (from a
// member of an older build) is taken to carry the receiver's own.

// PayloadTyper is implemented by a payload type that names itself for the
// ring's type check. Without it, the name is the Go type's, as
// reflect.Type.String gives it ("crdt.PNCounter", "crdt.ORSet[string]"):
// implement it to keep one name across a rename of the type or its
// package, which would otherwise split a rolling upgrade in two.
type PayloadTyper interface {
	// PayloadType returns the payload type's name, the same on every
	// member; short, since gossip carries it.
	PayloadType() string
}

// PayloadMismatch is what HandleInfo gets when another member is found to
// have a payload of another type: its gossip, delta or join handshake said
// so. It comes once per member and type; the member is out of the up set
// until it shows this member's type (a redeployed process, say). A plain
// value of this process, never sent to another.
type PayloadMismatch struct {
	// Node is the other member's address.
	Node string
	// Type is the name of its payload type; Want is this member's.
	Type, Want string
}

// maxMismatched bounds how many members the core remembers as
// mismatched: the names come from the network.
const maxMismatched = 1024

// payloadTypeName returns the name of payload's type for the type check:
// the type a pointer payload points to ("crdt.PNCounter" for a
// *crdt.PNCounter).
func payloadTypeName[P any](payload P) string {
	if named, ok := any(payload).(PayloadTyper); ok {
		if name := named.PayloadType(); name != "" {
			return name
		}
	}
	typ := reflect.TypeFor[P]()
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	return typ.String()
}

// samePayloadType reports whether a message from member from that says its
// payload is of type theirs may be merged here. A mismatch is counted,
// logged (rate-limited), takes from out of the up set and, the first time
// for this type, is reported to the behaviour.
func (c *ringCore) samePayloadType(what, from, theirs string) bool {
	if theirs == "" || theirs == c.cfg.payloadType {
		if _, marked := c.mismatched[from]; marked {
			delete(c.mismatched, from)
			c.settle(ReasonGossip)
		}
		return true
	}
	theirs = truncate(theirs)
	c.stats.PayloadMismatches++
	if c.drops == nil {
		c.drops = newDropLog(c.log)
	}
	c.drops.warn("payload type", "ignored "+what+" of another payload type: this ring name is used by members with different payloads",
		slog.String("from", truncate(from)), slog.String("type", theirs), slog.String("want", c.cfg.payloadType))
	if c.mismatched[from] == theirs || (c.mismatched[from] == "" && len(c.mismatched) >= maxMismatched) {
		return false
	}
	if c.mismatched == nil {
		c.mismatched = map[string]string{}
	}
	c.mismatched[from] = theirs
	c.out.payloadMismatches = append(c.out.payloadMismatches, PayloadMismatch{Node: from, Type: theirs, Want: c.cfg.payloadType})
	c.settle(ReasonPayloadMismatch)
	return false
}
