package ringactor

// Stats counts what a ring member did and what it dropped. Read it with
// Client.Stats (local members only).
type Stats struct {
	// GossipSent and GossipReceived count gossip messages.
	GossipSent, GossipReceived uint64
	// Dropped counts every ring protocol message that was dropped; the
	// three counters after it break some of them down.
	Dropped uint64
	// DroppedOtherRing counts messages of a ring of another name.
	DroppedOtherRing uint64
	// DroppedForcedDown counts messages from forced-down members.
	DroppedForcedDown uint64
	// DroppedMalformed counts messages that failed to decode or validate.
	DroppedMalformed uint64
	// Security counts what the boundary refused (keys, replays, forged
	// senders, requests without a key, oversized gossip).
	Security SecurityStats
	// ProbesSent counts direct probes; ProbeFailures the members this one
	// declared down because they did not answer.
	ProbesSent, ProbeFailures uint64
	// RingChanges and StateChanges count HandleRingChange and
	// HandleStateChange notices.
	RingChanges, StateChanges uint64
	// CallbackPanics counts behaviour callbacks that panicked.
	CallbackPanics uint64
	// PersistErrors counts failed writes of the ring file.
	PersistErrors uint64
	// EncodeErrors counts gossip that could not be encoded (a payload whose
	// MarshalBinary failed).
	EncodeErrors uint64
}
