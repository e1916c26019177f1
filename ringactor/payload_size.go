package ringactor

import (
	"fmt"
	"log/slog"
)

// A change that makes the payload larger than the ring can carry is
// refused where it is made, in Context.Update: the ring shares a payload
// of up to Config.MaxStateBytes (encoded; receivers drop a larger state),
// so a member that kept a larger one would be split from the others for
// good, and the call that made it would say ok. Instead the payload is
// put back as it was, nothing is logged or pushed, the call's caller gets
// ErrPayloadTooLarge, and Stats.RefusedTooLarge moves.
//
// Knowing the size exactly costs an encoding of the whole payload, so the
// member keeps an estimate: the size at its last encoding (a gossip, a
// snapshot, or a check here) plus the encoded size of every delta since,
// which can only overstate it. Only when the estimate passes the limit is
// the payload encoded to know. Putting the payload back needs a copy taken
// before the change; that copy is taken when it is cheap (the payload is
// small) or needed (the estimate is past half the limit). Limit: a single
// change that adds more than half the limit to a payload between those
// sizes is caught but cannot be put back; its call gets an error that
// says so.
//
// With durability off (no payload log needs the delta's encoding) and a
// payload under a quarter of the limit, a change is not encoded on its
// own: the batch's merged delta is, once, at its commit (which the push
// needs anyway), and its size is added to the estimate there. Encoding
// every change cost more than the rest of a local call to a small payload
// (BenchmarkDurableCall/none). The price: a batch of changes that takes a
// payload from under a quarter of the limit to over the limit is not
// refused; it is caught at the commit, logged and counted, and stays on
// this member only, as above. Only local calls can carry that much (a
// remote message is at most Security.MaxMessageBytes).

// cheapCloneBytes is the size under which a payload is copied before every
// change: under it, a copy costs less than encoding the change.
const cheapCloneBytes = 64 << 10

// payloadSize is the member's estimate of its encoded payload size.
type payloadSize struct {
	// exact is the size at the last encoding; -1 before the first.
	exact int
	// growth is the encoded size of the deltas applied since.
	growth int
}

func (s *payloadSize) estimate() int { return s.exact + s.growth }

// measured records the size of an encoding of the whole payload.
func (s *payloadSize) measured(bytes int) { s.exact, s.growth = bytes, 0 }

// perBatch reports whether a change may go unmeasured until its batch's
// commit: nothing else needs its encoding (unlogged) and the payload is
// far from the limit.
func (s *payloadSize) perBatch(limit int, unlogged bool) bool {
	return unlogged && s.exact >= 0 && s.estimate() < limit/4
}

// copyFirst reports whether a change should be preceded by a copy of the
// payload, to put it back if the change makes it too large.
func (s *payloadSize) copyFirst(limit int) bool {
	return s.exact < 0 || s.estimate() < cheapCloneBytes || s.estimate() > limit/2
}

// guardedUpdate applies mutate to the payload and returns its delta, or
// nil and the error of a change that makes the payload larger than
// MaxStateBytes (put back when it could be). data is the delta's
// encoding when it could be made.
func (a *ringActor[P]) guardedUpdate(mutate func(P) P) (delta P, data []byte, encodeErr, refused error) {
	limit := a.cfg.MaxStateBytes
	if a.size.perBatch(limit, a.payloadStore == nil) {
		delta = mutate(a.view.payload)
		a.core.payloadTouched()
		if isNilPayload(delta) {
			delta = a.view.payload
		}
		a.pending.unmeasured = true
		return delta, nil, nil, nil
	}
	var saved P
	copied := a.size.copyFirst(limit)
	if copied {
		saved = a.view.payload.Clone()
	}
	delta = mutate(a.view.payload)
	a.core.payloadTouched()
	if isNilPayload(delta) {
		delta = a.view.payload // a full state is always a valid delta
	}
	data, encodeErr = delta.MarshalBinary()
	if encodeErr != nil {
		return delta, nil, encodeErr, nil
	}
	a.size.growth += len(data)
	if a.size.exact >= 0 && a.size.estimate() <= limit {
		return delta, data, nil, nil
	}
	whole, err := a.encode() // records the exact size
	if err != nil || len(whole) <= limit {
		return delta, data, nil, nil // an encoding error shows at the next gossip, counted there
	}
	a.core.stats.RefusedTooLarge++
	refused = fmt.Errorf("%w: the change makes it %d bytes encoded, over the %d the ring carries (Config.MaxStateBytes)", ErrPayloadTooLarge, len(whole), limit)
	if !copied {
		refused = fmt.Errorf("%w; it could not be put back and stays on this member only, unlogged", refused)
	} else {
		a.view.payload = saved
		a.size.exact = -1 // measured again at the next change
	}
	a.boundary.drops.warn("payload too large", "refused a change of the payload", slog.Int("bytes", len(whole)), slog.Int("max", limit))
	var none P
	return none, nil, nil, refused
}

// measureBatch adds the encoded size of the batch's merged delta, data, to
// the estimate when some of its changes went unmeasured (perBatch), and
// reports a payload the batch made larger than MaxStateBytes: too late to
// refuse (the calls were answered), so it is logged and counted.
func (a *ringActor[P]) measureBatch(data []byte) {
	if !a.pending.unmeasured {
		return
	}
	a.pending.unmeasured = false
	a.size.growth += len(data)
	limit := a.cfg.MaxStateBytes
	if a.size.estimate() <= limit {
		return
	}
	whole, err := a.encode()
	if err != nil || len(whole) <= limit {
		return
	}
	a.core.stats.RefusedTooLarge++
	a.log.Error("a batch of changes made the payload larger than the ring carries; it stays on this member only",
		slog.Int("bytes", len(whole)), slog.Int("max", limit))
}
