package ringactor

import "errors"

// Durability says what the reply to a call that changed the payload
// guarantees (Config.Durability).
type Durability int

const (
	// DurabilityDisk: before the reply of a call that changed the payload
	// (through Context.Update) leaves the member, the change is on the
	// member's disk, fsync'd. A reply that says ok survives a crash of the
	// member, a power loss and a restart: the member reloads its snapshot
	// and log, keeps its replica ID, and merges what its peers hold. The
	// changes of all the calls in the member's mailbox share one sync
	// (group commit), so throughput with many callers is many times the
	// disk's sync rate. It does not survive the loss of the member's disk
	// before the change reached another member (the push takes
	// milliseconds).
	DurabilityDisk Durability = iota

	// DurabilityNone: the payload lives in memory only; a reply says the
	// change is in this member's memory, and it is safe only once gossip
	// has carried it to another member (milliseconds with eager push). A
	// member that restarts starts from an empty payload, takes a new
	// replica ID, and gets the payload back from its peers. For payloads
	// that may be lost: presence, caches, soft state. Replies are not
	// delayed by a sync.
	DurabilityNone
)

// String returns "disk" or "none".
func (d Durability) String() string {
	switch d {
	case DurabilityDisk:
		return "disk"
	case DurabilityNone:
		return "none"
	}
	return "unknown"
}

// ErrNotDurable is wrapped by the error a caller gets when its call changed
// the payload or the membership but the change could not be made durable
// (the disk is full, read-only or failing). The change was applied in the
// member's memory: it is written (and spread) once the disk recovers, unless
// the member crashes first. Until then the member keeps serving calls that
// change nothing, and does not send its state to others.
var ErrNotDurable = errors.New("ringactor: change not durable")

// WriteMajority, as Config.WriteAcks or Context.SetWriteAcks, asks for a
// majority of the up members (this one included) to hold a change before
// its call is answered.
const WriteMajority = -1

// ErrNotReplicated is wrapped by the error a caller gets when its call
// changed the payload and asked for confirmations from other members
// (Config.WriteAcks, Context.SetWriteAcks), but fewer confirmed in time, or
// fewer are up. The change is applied on this member (and durable there,
// with DurabilityDisk) and keeps spreading: it is not undone. The error
// says the change may be lost if this member's disk is lost before it
// reaches another member, not that it failed.
var ErrNotReplicated = errors.New("ringactor: change not confirmed by enough members")
