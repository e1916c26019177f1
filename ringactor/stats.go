package ringactor

import (
	"reflect"
	"strings"
)

// Stats counts what a ring member did and what it dropped. Read it with
// Client.Stats, from this process or another; the package's OpenTelemetry
// instruments report most of it (see the package documentation, Metrics).
type Stats struct {
	// GossipSent and GossipReceived count gossip messages (full states).
	GossipSent, GossipReceived uint64
	// MessagesSent and MessagesReceived count every message between ring
	// members (states, deltas, digests, chunks, probes, acks, verdicts);
	// BytesSent and BytesReceived their encoded size (sealed, with a
	// keyring). Requests of clients and their answers are not counted.
	MessagesSent, MessagesReceived uint64
	BytesSent, BytesReceived       uint64
	// Dropped counts every ring protocol message that was dropped; the
	// three counters after it break some of them down.
	Dropped uint64
	// DroppedOtherRing counts messages of a ring of another name.
	DroppedOtherRing uint64
	// DroppedForcedDown counts messages from forced-down members.
	DroppedForcedDown uint64
	// DroppedMalformed counts messages that failed to decode or validate.
	DroppedMalformed uint64
	// DroppedBusy counts messages from other processes refused because
	// the ring actor's mailbox was full (Security.MaxQueued), since this
	// process started a ring actor of this name.
	DroppedBusy uint64
	// DroppedOutbound counts messages to other members that this member
	// did not send because the member it sent them to had not answered
	// the last Security.MaxUnanswered of them: it has stopped reading, and
	// Proto.Actor would queue them for it without bound. Not part of
	// Dropped, which counts what this member received.
	DroppedOutbound uint64
	// Security counts what the boundary refused (keys, replays, forged
	// senders, requests without a key, oversized gossip).
	Security SecurityStats
	// ProbesSent counts direct probes; ProbeFailures the members this one
	// declared down because they did not answer.
	ProbesSent, ProbeFailures uint64
	// HeartbeatsSent counts heartbeats sent to the predecessor (one per
	// probe interval) and HeartbeatsReceived those received; HeartbeatsLate
	// the waits for the successor's heartbeat that ended without one, each
	// followed by a ping.
	HeartbeatsSent, HeartbeatsReceived, HeartbeatsLate uint64
	// ProbeAcks counts answers to this member's own probes; ProbeSuspects
	// the probes unanswered at half of ProbeTimeout, for which other
	// members were asked to probe the target.
	ProbeAcks, ProbeSuspects uint64
	// ProbeVerdictsPostponed counts probe deadlines postponed because this
	// member's process was starved of CPU while the probe waited: its
	// verdict could not be trusted (see Config.ProbeTimeout).
	ProbeVerdictsPostponed uint64
	// RingChanges and StateChanges count HandleRingChange and
	// HandleStateChange notices.
	RingChanges, StateChanges uint64
	// PayloadMismatches counts gossip, deltas and join handshakes from
	// members whose payload is of another type (see PayloadMismatch).
	PayloadMismatches uint64
	// CallbackPanics counts behaviour callbacks that panicked.
	CallbackPanics uint64
	// PersistErrors counts failed writes of the ring file.
	PersistErrors uint64
	// EncodeErrors counts gossip that could not be encoded (a payload whose
	// MarshalBinary failed).
	EncodeErrors uint64
	// DigestsSent and DigestsReceived count anti-entropy digests.
	DigestsSent, DigestsReceived uint64
	// MismatchesDeferred counts digest mismatches not answered with state
	// at once because a push of a recent change may still be on its way.
	MismatchesDeferred uint64
	// DeltasSent and DeltasReceived count pushed deltas (eager push and
	// its forwarding).
	DeltasSent, DeltasReceived uint64
	// DeltaAnnouncementsSent counts announcements of large deltas (lazy
	// push), DeltaPullsSent the requests for one this member lacked, and
	// DeltaPullsUnserved the requests it got for one it no longer held.
	DeltaAnnouncementsSent, DeltaPullsSent, DeltaPullsUnserved uint64
	// Syncs counts the group commits that made payload changes durable;
	// SyncedDeltas the deltas they carried (SyncedDeltas / Syncs is the
	// mean batch size). SyncErrors counts group commits that failed.
	Syncs, SyncedDeltas, SyncErrors uint64
	// ChunksSent and ChunksReceived count the parts of large gossip and
	// deltas sent in chunks.
	ChunksSent, ChunksReceived uint64
	// ChunkedResendsSkipped counts large states not sent again to a member
	// that one was sent to moments before.
	ChunkedResendsSkipped uint64
	// Snapshots counts compactions of the payload log into a snapshot.
	Snapshots uint64
	// RefusedTooLarge counts payload changes refused because they made the
	// payload larger than Config.MaxStateBytes (ErrPayloadTooLarge).
	RefusedTooLarge uint64
	// StateSendsHeld counts messages carrying state that were not sent
	// because a change of this member was not yet durable (its disk
	// failed): a peer must never see a dot this member could reissue
	// after a crash.
	StateSendsHeld uint64
	// Prunes counts retired replicas this member folded into its own
	// (pruning.go); PruneMarksForgotten the prune marks it forgot.
	Prunes, PruneMarksForgotten uint64
}

// counters returns every counter of s by its field name, "Security.BadSeal"
// for a nested one: the form of Stats on the wire (messages.StatsReply).
// Reflection keeps it in step with the fields without a list to maintain.
func (s Stats) counters() map[string]uint64 {
	out := map[string]uint64{}
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		for i := range v.NumField() {
			name, field := prefix+v.Type().Field(i).Name, v.Field(i)
			switch field.Kind() {
			case reflect.Uint64:
				out[name] = field.Uint()
			case reflect.Struct:
				walk(name+".", field)
			}
		}
	}
	walk("", reflect.ValueOf(s))
	return out
}

// statsFromCounters is the inverse of counters. A name Stats lacks (a
// counter of a newer member) is skipped; a counter absent from counters
// reads zero.
func statsFromCounters(counters map[string]uint64) Stats {
	var s Stats
	root := reflect.ValueOf(&s).Elem()
	for name, value := range counters {
		field := root
		for part := range strings.SplitSeq(name, ".") {
			if field.Kind() != reflect.Struct {
				field = reflect.Value{}
				break
			}
			field = field.FieldByName(part)
			if !field.IsValid() {
				break
			}
		}
		if field.IsValid() && field.Kind() == reflect.Uint64 && field.CanSet() {
			field.SetUint(value)
		}
	}
	return s
}
