package ringactor

import "time"

// Payloads with wall-clock timestamps (crdt.LWWRegister, crdt.Map with
// register fields) say how to check them; the ring checks every state from
// another member before it merges it.
type (
	timestampChecker interface {
		CheckTimestamp(now time.Time, maxSkew time.Duration) error
	}
	timestampsChecker interface {
		CheckTimestamps(now time.Time, maxSkew time.Duration) error
	}
)

// checkClock refuses a state from another member with a timestamp more than
// maxSkew ahead of now.
func checkClock(state any, now time.Time, maxSkew time.Duration) error {
	switch s := state.(type) {
	case timestampChecker:
		return s.CheckTimestamp(now, maxSkew)
	case timestampsChecker:
		return s.CheckTimestamps(now, maxSkew)
	}
	return nil
}
