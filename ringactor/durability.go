package ringactor

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

// WriteMajority, as Config.WriteAcks or Context.SetWriteAcks, asks for a
// majority of the up members (this one included) to hold a change before
// its call is answered.
const WriteMajority = -1
