package ringactor

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// The shell's part of the path of a change: group commit, then replies,
// then the push (DESIGN.md; like raft's Ready, what must be durable is
// written before any message that depends on it is sent).
//
// A Context.Update applies its change in memory and records its delta. The
// first change or held reply of a batch sends the actor a flushToken, which
// Proto.Actor queues behind the messages already in the mailbox: every call
// that arrived before it is handled first, and their deltas share the one
// sync that commit makes when the token comes out. Replies wait for that
// sync; then they leave, and the batch's merged delta is pushed.

// flushToken asks the ring actor to commit what is pending.
type flushToken struct{}

// heldReply is a reply waiting for the commit of the changes before it.
type heldReply struct {
	from  From
	value any
	err   error
	// changed: the call that it answers changed the payload, so a failed
	// commit fails it.
	changed bool
	// acks is how many other members must confirm the change first
	// (WriteMajority for a majority), 0 for none.
	acks int
}

// ackWait is a committed batch whose replies wait for DeltaAcks.
type ackWait struct {
	replies []heldReply
	// confirmed are the members that acked the batch's delta; asked is how
	// many were asked.
	confirmed map[string]bool
	asked     int
}

// ackDeadline ends the wait of batch id.
type ackDeadline struct{ id uint64 }

// pendingChanges is what the member changed since its last commit.
type pendingChanges[P any] struct {
	// deltas are the encoded deltas to append to the log.
	deltas [][]byte
	// delta is the merge of the batch's deltas, to push once committed.
	delta    P
	hasDelta bool
	// ringDirty: a write of the ring file failed; it is retried at each
	// commit.
	ringDirty bool
	// held are the replies waiting for the commit.
	held []heldReply
	// flushQueued: a flushToken is in the mailbox.
	flushQueued bool
	// changedNow: the message being handled changed the payload.
	changedNow bool
	// unmeasured: a change of the batch was not encoded on its own; the
	// commit measures the batch (payload_size.go).
	unmeasured bool
	// refusedNow is why a change of the message being handled was
	// refused (payload_size.go); its call's reply is that error.
	refusedNow error
	// encodeErr is set when a delta of the batch could not be encoded.
	encodeErr error
	// callAcks is the current call's own WriteAcks (Context.SetWriteAcks);
	// callAcksSet says it was set.
	callAcks    int
	callAcksSet bool
	// acksToSend are DeltaAcks for deltas of others that wait for this
	// member's commit (they are in deltas).
	acksToSend []deltaAck
	// ackWaits are the batches waiting for DeltaAcks, by id; nextAckID
	// numbers them.
	ackWaits  map[uint64]*ackWait
	nextAckID uint64
}

// update runs a Context.Update: it applies the change and records its
// delta.
func (a *ringActor[P]) update(mutate func(P) P) {
	if a.core == nil {
		// Init is running: its payload is the starting state, rebuilt by
		// Init at every start, not a change to log.
		mutate(a.view.payload)
		return
	}
	p := &a.pending
	delta, data, encodeErr, refused := a.guardedUpdate(mutate)
	if refused != nil {
		p.refusedNow = refused
		return
	}
	p.changedNow = true
	if p.hasDelta {
		p.delta.Merge(delta)
	} else {
		p.delta, p.hasDelta = delta.Clone(), true
	}
	if a.payloadStore != nil {
		if encodeErr != nil {
			p.encodeErr = fmt.Errorf("encode delta: %w", encodeErr)
		} else {
			p.deltas = append(p.deltas, data)
		}
	}
	a.queueFlush()
}

// dropPending forgets every pending change and answers the calls waiting
// for them with err.
func (a *ringActor[P]) dropPending(ctx actor.SenderContext, err error) {
	for _, h := range a.pending.held {
		a.release(ctx, heldReply{from: h.from, err: err})
	}
	for _, w := range a.pending.ackWaits {
		for _, h := range w.replies {
			a.release(ctx, heldReply{from: h.from, err: err})
		}
	}
	a.pending = pendingChanges[P]{flushQueued: a.pending.flushQueued}
}

// synced reports whether every change of this member is durable.
func (a *ringActor[P]) synced() bool {
	return len(a.pending.deltas) == 0 && !a.pending.ringDirty && a.pending.encodeErr == nil
}

// setWriteAcks runs Context.SetWriteAcks.
func (a *ringActor[P]) setWriteAcks(acks int) {
	a.pending.callAcks, a.pending.callAcksSet = acks, true
}

func (a *ringActor[P]) queueFlush() {
	if !a.pending.flushQueued && a.actorCtx != nil {
		a.pending.flushQueued = true
		a.actorCtx.Send(a.actorCtx.Self(), &flushToken{})
	}
}

// sendReply answers a call now, or holds the answer until the changes
// before it are durable.
func (a *ringActor[P]) sendReply(ctx actor.SenderContext, from From, value any, err error) error {
	if a.pending.refusedNow != nil && err == nil {
		value, err = nil, a.pending.refusedNow
	}
	acks := 0
	if a.pending.changedNow && err == nil {
		acks = a.cfg.WriteAcks
		if a.pending.callAcksSet {
			acks = a.pending.callAcks
		}
	}
	if acks == 0 && (a.payloadStore == nil || a.synced()) {
		return reply(ctx, from, value, err)
	}
	if from.remote {
		// Check now that the reply can cross processes, so the callback
		// gets the error.
		if _, encodeErr := encodeCallReply(value, err); encodeErr != nil {
			return reply(ctx, from, value, err)
		}
	}
	a.pending.held = append(a.pending.held, heldReply{from: from, value: value, err: err, changed: a.pending.changedNow, acks: acks})
	a.queueFlush()
	return nil
}

// flush commits what is pending, releases the held replies and pushes the
// batch's delta.
func (a *ringActor[P]) flush(ctx actor.Context) {
	a.pending.flushQueued = false
	a.commit(ctx)
	a.apply(ctx)
}

// commit makes the pending changes durable with one sync and releases the
// replies that waited for it: with the values they carry when it succeeds;
// when it fails, the replies of calls that changed something get an error
// wrapping ErrNotDurable and the others their values (reads go on). The
// changes stay pending, retried at the next commit.
func (a *ringActor[P]) commit(ctx actor.Context) {
	p := &a.pending
	err := a.writePending()
	held := p.held
	p.held = nil
	var waiting []heldReply
	for _, h := range held {
		value, callErr := h.value, h.err
		if err != nil && h.changed {
			value, callErr = nil, fmt.Errorf("%w: %v", ErrNotDurable, err)
		} else if err == nil && h.acks != 0 {
			waiting = append(waiting, h)
			continue
		}
		a.release(ctx, heldReply{from: h.from, value: value, err: callErr})
	}
	if err != nil {
		return
	}
	for _, ack := range p.acksToSend {
		a.core.sendDeltaAck(ack.node, ack.id)
	}
	p.acksToSend = nil
	// Encode the delta only for someone: a ring of one pushes nothing (but
	// a call waiting for confirmations must still get its answer, and a
	// batch not yet measured is measured).
	if p.hasDelta && (len(a.core.up) > 1 || len(waiting) > 0 || p.unmeasured) {
		data, encErr := p.delta.MarshalBinary()
		if encErr == nil {
			a.measureBatch(data)
		}
		switch {
		case len(a.core.up) <= 1 && len(waiting) == 0:
			// Measured only.
		case encErr != nil:
			a.core.stats.EncodeErrors++
			a.log.Error("cannot encode a delta to push", slog.Any("error", encErr))
			for _, h := range waiting {
				a.release(ctx, heldReply{from: h.from, err: fmt.Errorf("%w: encode delta: %v", ErrNotReplicated, encErr)})
			}
		case len(waiting) > 0:
			a.awaitAcks(ctx, data, waiting)
		case a.cfg.PushFanout > 0:
			a.core.pushDelta(data)
		}
	}
	var none P
	p.delta, p.hasDelta = none, false
}

func (a *ringActor[P]) release(ctx actor.SenderContext, h heldReply) {
	if err := reply(ctx, h.from, h.value, h.err); err != nil {
		a.log.Warn("reply could not be sent", slog.Any("error", err))
	}
}

// awaitAcks sends the batch's delta to every up member, asking each for a
// DeltaAck, and holds the replies of the calls that asked for
// confirmations until enough came or WriteAckTimeout passed.
func (a *ringActor[P]) awaitAcks(ctx actor.Context, delta []byte, waiting []heldReply) {
	p := &a.pending
	p.nextAckID++
	id := p.nextAckID
	asked := a.core.pushDeltaAcked(delta, id)
	if p.ackWaits == nil {
		p.ackWaits = map[uint64]*ackWait{}
	}
	p.ackWaits[id] = &ackWait{replies: waiting, confirmed: map[string]bool{}, asked: asked}
	a.releaseAcked(ctx, id, false)
	if p.ackWaits[id] != nil {
		a.timers.once(a.cfg.WriteAckTimeout, &ackDeadline{id: id})
	}
}

// onAcked counts a DeltaAck.
func (a *ringActor[P]) onAcked(ctx actor.Context, ack deltaAck) {
	if w := a.pending.ackWaits[ack.id]; w != nil {
		w.confirmed[ack.node] = true
		a.releaseAcked(ctx, ack.id, false)
	}
}

// releaseAcked answers the calls of batch id whose confirmations came (or
// can never come: fewer members were asked); at the deadline, all the
// others, with ErrNotReplicated.
func (a *ringActor[P]) releaseAcked(ctx actor.Context, id uint64, deadline bool) {
	w := a.pending.ackWaits[id]
	if w == nil {
		return
	}
	upMembers := len(a.core.up)
	kept := w.replies[:0]
	for _, h := range w.replies {
		need := h.acks
		if need == WriteMajority {
			need = upMembers / 2 // a majority of the up set, this member being one
		}
		switch {
		case len(w.confirmed) >= need:
			a.release(ctx, h)
		case need > w.asked || deadline:
			a.release(ctx, heldReply{from: h.from, err: fmt.Errorf(
				"%w: %d of the %d other members needed confirmed it (%d asked, within %v); it is applied on this member and keeps spreading",
				ErrNotReplicated, len(w.confirmed), need, w.asked, a.cfg.WriteAckTimeout)})
		default:
			kept = append(kept, h)
		}
	}
	w.replies = kept
	if len(kept) == 0 {
		delete(a.pending.ackWaits, id)
	}
}

// deltaAcksDue handles deltas of others that asked for a DeltaAck: with
// durability on they join this member's next commit and are acked after
// it; otherwise they are acked now.
func (a *ringActor[P]) deltaAcksDue(acks []deltaAck) {
	for _, ack := range acks {
		if a.payloadStore == nil {
			a.core.sendDeltaAck(ack.node, ack.id)
			continue
		}
		a.pending.deltas = append(a.pending.deltas, ack.delta)
		a.pending.acksToSend = append(a.pending.acksToSend, ack)
		a.queueFlush()
	}
}

// writePending writes the ring file if an earlier write failed, then
// appends the pending deltas with one sync, and compacts the log when it
// has grown.
func (a *ringActor[P]) writePending() error {
	p := &a.pending
	if p.encodeErr != nil {
		// The change is applied but cannot be logged: only a snapshot of
		// the whole payload makes it durable.
		if err := a.snapshot(); err != nil {
			return a.commitFailed(fmt.Errorf("%v; snapshot: %w", p.encodeErr, err))
		}
		p.encodeErr, p.deltas = nil, nil
	}
	if p.ringDirty {
		if err := a.saveRing(); err != nil {
			return a.commitFailed(err)
		}
	}
	if len(p.deltas) == 0 || a.payloadStore == nil {
		return nil
	}
	start := time.Now()
	if err := a.payloadStore.AppendDeltas(p.deltas); err != nil {
		return a.commitFailed(err)
	}
	a.core.stats.Syncs++
	a.core.stats.SyncedDeltas += uint64(len(p.deltas))
	a.lastSync = time.Since(start)
	a.metrics.synced(a.lastSync)
	p.deltas = p.deltas[:0]
	if size := a.payloadStore.LogSize(); size > a.cfg.SnapshotBytes && size > 2*a.snapshotSize {
		if err := a.snapshot(); err != nil {
			// Not a failure of the commit: the log holds every change.
			a.log.Error("cannot compact the payload log", slog.Any("error", err))
		}
	}
	return nil
}

func (a *ringActor[P]) commitFailed(err error) error {
	a.core.stats.SyncErrors++
	a.log.Error("cannot make changes durable; calls that change state fail until the disk recovers", slog.Any("error", err))
	return err
}

// snapshot folds the log into a snapshot of the whole payload.
func (a *ringActor[P]) snapshot() error {
	if a.payloadStore == nil {
		return nil
	}
	data, err := a.view.payload.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	if err := a.payloadStore.SaveSnapshot(data); err != nil {
		return err
	}
	a.snapshotSize = int64(len(data))
	a.core.stats.Snapshots++
	return nil
}

// saveRing writes the ring file; a failure leaves the ring dirty, to be
// written again at the next commit.
func (a *ringActor[P]) saveRing() error {
	state, err := a.core.persisted()
	if err == nil {
		state.UnixNanos = time.Now().UnixNano()
		err = a.store.Save(state)
	}
	if err != nil {
		a.pending.ringDirty = true
		a.core.stats.PersistErrors++
		return fmt.Errorf("save the ring file: %w", err)
	}
	a.pending.ringDirty = false
	return nil
}

// recoverPayload merges the persisted snapshot and log into payload.
func (a *ringActor[P]) recoverPayload(payload P) error {
	if a.payloadStore == nil {
		return nil
	}
	log, err := a.payloadStore.LoadPayload()
	if err != nil {
		return err
	}
	if log.CutBytes > 0 {
		a.log.Warn("cut a torn or corrupt tail off the payload log (a crash in the middle of a write)",
			slog.Int64("bytes", log.CutBytes), slog.Any("reason", log.CutReason), slog.String("store", a.store.String()))
	}
	if log.Snapshot != nil {
		snap := newPayload[P]()
		if err := snap.UnmarshalBinary(log.Snapshot); err != nil {
			return fmt.Errorf("ringactor: payload snapshot of %s does not decode as %T: %w", a.store, payload, err)
		}
		payload.Merge(snap)
		a.snapshotSize = int64(len(log.Snapshot))
	}
	for i, data := range log.Deltas {
		delta := newPayload[P]()
		if err := delta.UnmarshalBinary(data); err != nil {
			return fmt.Errorf("ringactor: payload log record %d of %s does not decode as %T: %w", i, a.store, payload, err)
		}
		payload.Merge(delta)
	}
	return nil
}

// isStateMessage reports whether msg carries this member's state, which
// must not leave while a change is not durable.
func isStateMessage(msg any) bool {
	switch msg.(type) {
	case *messages.Gossip, *messages.Delta, *messages.StateChunk:
		return true
	}
	return false
}

// payloadStoreOf returns store as a PayloadStore when durability needs
// one.
func payloadStoreOf(store persistence.Store, d Durability) (persistence.PayloadStore, error) {
	if d == DurabilityNone {
		return nil, nil
	}
	ps, ok := store.(persistence.PayloadStore)
	if !ok {
		return nil, fmt.Errorf("ringactor: store %s keeps no payload (it is not a persistence.PayloadStore); use one, or WithDurability(DurabilityNone)", store)
	}
	return ps, nil
}
