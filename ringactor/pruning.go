package ringactor

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"time"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
)

// Pruning folds away the entries of replicas that will never write again,
// so that version vectors and counters stay bounded as members come and go
// (Akka Distributed Data's pruning of removed nodes; the mechanism is
// crdt.Prunable, whose contract this file keeps).
//
// A replica is live while it is the current replica of a member of the
// node set. Every member tells the others its replica with its digest (in
// Ping, Digest and Gossip; most pings carry a hash of it, see replicaTag),
// so each member keeps, per member, the replica of its last report and
// whether that report's digest was equal to its own when it arrived (a
// matched report: the two states were the same). A
// replica with entries in the payload that no member reports is retired: a
// member removed with DelNode, or an earlier life of a member that lost its
// data or runs DurabilityNone (each life takes a new replica ID).
//
// One member decides: the lowest address of the node set. It prunes a
// retired replica into its own, as an update of its own, once
//
//   - every member of the node set is up (so the decider is the same on
//     every member: their membership is the same, see below),
//   - the replica has been retired here for the prune delay (a removed
//     member that does not know it yet may still write for a moment, and
//     its messages may still be on their way), and
//   - every other member sent a matched report after that delay: its state
//     was then the decider's, so the decider holds everything of the
//     retired replica that any member holds (a member gets the replica's
//     entries after its report only from others, who had them at theirs).
//     The digests cover the membership, so matched reports also prove that
//     every member has the decider's node set.
//
// The delta (the mark and the decider's new entries) takes the path of any
// change: logged with the member's changes, pushed, repaired by
// anti-entropy. A state that holds the mark ignores the retired replica's
// entries in every state merged into it, so late gossip from before the
// pruning never brings them back.
//
// A mark is forgotten (crdt.Prunable.ForgetPruned) by a member that has
// held it for the mark TTL once, again, every member is up and sent a
// matched report since the mark arrived there (so every member holds it).
// Its gossip then lists the mark as forgotten, and every member that gets
// it forgets the mark too: a member that saw the mark late (it joined, or
// came back, after the pruning) does not keep it, and the digests of
// members, for ever apart, do not block the next pruning. A mark that
// comes back from a member that has not forgotten it yet is dropped at
// once. With durability on, a member
// snapshots its payload when it gains or forgets a mark, so that no log
// record from before the pruning can bring the entries back at a restart.
//
// Pruning waits while a member is down or forced down, and while writes
// keep the digests of members apart: it is a background task that needs a
// quiet moment.

// prunablePayload is the payload's side of pruning. The shell implements it
// over a crdt.Prunable payload; without one, pruning is off.
type prunablePayload interface {
	// replicas returns the replicas with entries in the payload.
	replicas() []crdt.ReplicaID
	// pruneMarks returns the payload's marks.
	pruneMarks() []crdt.PruneMark
	// prune folds removed into into as a change of this member's: it takes
	// the path of every change (logged, then pushed).
	prune(removed, into crdt.ReplicaID) error
	// forgetPruned drops the mark of removed, here only.
	forgetPruned(removed crdt.ReplicaID) bool
	// marksChanged tells the shell the marks changed (one came or was
	// forgotten): with durability on, it snapshots the payload.
	marksChanged()
}

// replicaReport is what a member learnt of another from one message: its
// replica, and the pruning pass (tick) it arrived after.
type replicaReport struct {
	replica crdt.ReplicaID
	tick    uint64
}

// pruning is a member's pruning state. Time is counted in gossip ticks.
type pruning struct {
	payload prunablePayload
	// delay is how many ticks a replica stays retired before it may be
	// pruned; markTTL how many a mark is kept.
	delay, markTTL uint64
	ticks          uint64
	// reports is each member's last report; matched its last report whose
	// digest was this member's.
	reports, matched map[string]replicaReport
	// retiredSince is the tick each retired replica was first seen retired.
	retiredSince map[crdt.ReplicaID]uint64
	// markSeen is the tick each mark was first seen here; forgotten the
	// tick each forgotten mark was dropped, kept for another markTTL so
	// that a mark coming back is dropped at once.
	markSeen, forgotten map[crdt.ReplicaID]uint64
	// scanned is the state digest when the payload's replicas and marks
	// were last read, and present those replicas: a large payload is not
	// walked again at every tick while it does not change.
	scanned uint64
	present []crdt.ReplicaID
}

func newPruning(payload prunablePayload, delay, markTTL uint64) *pruning {
	return &pruning{
		payload: payload, delay: max(delay, 1), markTTL: max(markTTL, 1),
		reports: map[string]replicaReport{}, matched: map[string]replicaReport{},
		retiredSince: map[crdt.ReplicaID]uint64{},
		markSeen:     map[crdt.ReplicaID]uint64{}, forgotten: map[crdt.ReplicaID]uint64{},
	}
}

// ticksOf converts a duration to gossip ticks, rounding up.
func ticksOf(d, interval time.Duration) uint64 {
	if d <= 0 || interval <= 0 {
		return 1
	}
	return uint64((d + interval - 1) / interval)
}

// replicaEvery is how often a member's heartbeats to its predecessor carry
// its replica ID whole: at one probe tick in replicaEvery (the first of its
// life among them); the others carry replicaTag. Every ping (the random
// ones of the gossip ticks, and those that check, revive or confirm), a
// Digest and gossip carry it whole. A member that starts to get heartbeats
// from a new successor (or lost what it knew) learns its replica within
// replicaEvery probe intervals.
const replicaEvery = 8

// replicaTag is the 64-bit FNV-1a hash of a replica ID, never 0 (0 is no
// tag). A tag that matches the replica a member last reported stands for
// it; two replica IDs of a ring share a tag with a chance of about 2^-64.
func replicaTag(replica crdt.ReplicaID) uint64 {
	h := fnv.New64a()
	h.Write([]byte(replica))
	return max(h.Sum64(), 1)
}

// pingReplica returns the replica a probe reports: its replica ID, or, for
// a probe with a tag, the replica its sender last reported here if the tag
// matches it; "" (no report) if neither.
func (c *ringCore) pingReplica(p *messages.Ping) string {
	if replica := p.GetReplica(); replica != "" || p.GetReplicaTag() == 0 || c.pruning == nil {
		return replica
	}
	last, ok := c.pruning.reports[p.GetFrom()]
	if !ok || replicaTag(last.replica) != p.GetReplicaTag() {
		return "" // a new life of the member, or one not heard whole yet
	}
	return string(last.replica)
}

// noteReport records a member's replica and digest, taken from one of its
// messages before anything of it is merged here.
func (c *ringCore) noteReport(from, replica string, digest uint64) {
	p := c.pruning
	if p == nil || replica == "" || len(replica) > crdt.MaxReplicaIDLen || digest == 0 {
		return // pruning off, or a member that does not report
	}
	r := replicaReport{replica: crdt.ReplicaID(replica), tick: p.ticks}
	p.reports[from] = r
	if digest == c.digest() {
		p.matched[from] = r
	}
}

// prunePass is the pruning round of a gossip tick: it follows retired
// replicas and marks, prunes what is due if this member decides, and
// forgets the marks that are old enough.
func (c *ringCore) prunePass() {
	p := c.pruning
	if p == nil {
		return
	}
	p.ticks++
	members := c.all()
	for node := range p.reports {
		if !slices.Contains(members, node) {
			delete(p.reports, node)
			delete(p.matched, node)
		}
	}
	// Every member up: the up set is the whole node set (nobody down or
	// forced down). A member that no one added yet (not in its own node
	// set) may hold what it merged from a ring it has not joined: it never
	// decides anything.
	settled := c.nodeSet.Contains(c.cfg.self) && slices.Equal(c.up, members)
	if !settled {
		// A member that was down may come back with another state: only
		// reports after its return count.
		for node := range p.matched {
			if !slices.Contains(c.up, node) {
				delete(p.matched, node)
			}
		}
	}

	marksChanged := false
	if d := c.digest(); d == 0 || d != p.scanned {
		p.present = p.payload.replicas()
		marksChanged = c.followMarks()
		p.scanned = d
	}
	c.followRetired()
	c.expireForgotten()
	pruned := false
	if settled {
		if c.forgetOldMarks() {
			marksChanged = true
		}
		if members[0] == c.cfg.self {
			pruned = c.pruneRetired(members)
		}
	}
	if marksChanged || pruned {
		// Read the payload again at the next pass: a state can come back
		// to a digest of before (a forgotten mark, sent back by a member
		// that still holds it).
		p.scanned = 0
	}
	if marksChanged {
		p.payload.marksChanged()
	}
}

// live returns the current replicas of the members: this one's and the
// reported ones.
func (c *ringCore) live() map[crdt.ReplicaID]bool {
	p := c.pruning
	live := map[crdt.ReplicaID]bool{c.cfg.replica: true}
	for _, r := range p.reports {
		live[r.replica] = true
	}
	for _, r := range p.matched {
		live[r.replica] = true
	}
	return live
}

// followRetired updates the retired replicas: those with entries in the
// payload that are no member's current replica.
func (c *ringCore) followRetired() {
	p := c.pruning
	live := c.live()
	present := map[crdt.ReplicaID]bool{}
	for _, replica := range p.present {
		present[replica] = true
		if _, known := p.retiredSince[replica]; !known && !live[replica] {
			p.retiredSince[replica] = p.ticks
		}
	}
	for replica := range p.retiredSince {
		if live[replica] || !present[replica] {
			delete(p.retiredSince, replica)
		}
	}
}

// followMarks notes the marks that arrived, drops again those forgotten
// here that came back, and reports whether the marks changed.
func (c *ringCore) followMarks() (changed bool) {
	p := c.pruning
	held := map[crdt.ReplicaID]bool{}
	for _, mark := range p.payload.pruneMarks() {
		if _, gone := p.forgotten[mark.Removed]; gone {
			// A member that has not forgotten it yet sent it back.
			p.payload.forgetPruned(mark.Removed)
			c.payloadTouched()
			changed = true
			continue
		}
		held[mark.Removed] = true
		if _, seen := p.markSeen[mark.Removed]; !seen {
			p.markSeen[mark.Removed] = p.ticks
			changed = true
		}
	}
	for removed := range p.markSeen {
		if !held[removed] {
			delete(p.markSeen, removed)
		}
	}
	return changed
}

// expireForgotten stops remembering the marks forgotten a mark TTL ago.
func (c *ringCore) expireForgotten() {
	p := c.pruning
	for removed, tick := range p.forgotten {
		if p.ticks-tick >= p.markTTL {
			delete(p.forgotten, removed)
		}
	}
}

// allMatchedSince reports whether every member of the node set other than
// this one sent a matched report at or after tick.
func (c *ringCore) allMatchedSince(members []string, tick uint64) bool {
	for _, node := range members {
		if node == c.cfg.self {
			continue
		}
		r, ok := c.pruning.matched[node]
		if !ok || r.tick < tick {
			return false
		}
	}
	return true
}

// forgetOldMarks forgets the marks held for the mark TTL once every member
// holds them, and reports whether it forgot any.
func (c *ringCore) forgetOldMarks() (forgot bool) {
	p := c.pruning
	members := c.all()
	for _, removed := range sortedKeys(p.markSeen) {
		seen := p.markSeen[removed]
		if p.ticks-seen < p.markTTL || !c.allMatchedSince(members, seen) {
			continue
		}
		if p.payload.forgetPruned(removed) {
			c.payloadTouched()
			forgot = true
			c.stats.PruneMarksForgotten++
		}
		delete(p.markSeen, removed)
		p.forgotten[removed] = p.ticks
	}
	return forgot
}

// pruneRetired prunes, into this member's replica, the retired replicas
// whose delay is over and whose entries every member has shown it holds no
// more of than this member.
func (c *ringCore) pruneRetired(members []string) (pruned bool) {
	p := c.pruning
	for _, removed := range sortedKeys(p.retiredSince) {
		due := p.retiredSince[removed] + p.delay
		if p.ticks < due || !c.allMatchedSince(members, due) {
			continue
		}
		if err := p.payload.prune(removed, c.cfg.replica); err != nil {
			c.log.Error("cannot prune a retired replica", slog.String("replica", string(removed)), slog.Any("error", err))
			continue
		}
		c.log.Debug("pruned a retired replica", slog.String("replica", string(removed)), slog.String("into", string(c.cfg.replica)))
		c.stats.Prunes++
		c.payloadTouched()
		delete(p.retiredSince, removed)
		pruned = true
	}
	return pruned
}

// maxForgottenMarks bounds the forgotten marks a gossip is read for.
const maxForgottenMarks = 4096

// forgottenMarks returns the replicas whose marks this member forgot, for
// its gossip.
func (c *ringCore) forgottenMarks() []string {
	if c.pruning == nil || len(c.pruning.forgotten) == 0 {
		return nil
	}
	var out []string
	for _, removed := range sortedKeys(c.pruning.forgotten) {
		out = append(out, string(removed))
		if len(out) == maxForgottenMarks {
			break
		}
	}
	return out
}

// forgetAsTold forgets the marks another member's gossip lists as
// forgotten (it checked that every member held them), and remembers them
// as forgotten here: a copy still on its way is dropped when it comes.
func (c *ringCore) forgetAsTold(replicas []string) {
	p := c.pruning
	if p == nil || len(replicas) == 0 {
		return
	}
	changed := false
	for _, replica := range replicas[:min(len(replicas), maxForgottenMarks)] {
		removed := crdt.ReplicaID(replica)
		if replica == "" || len(replica) > crdt.MaxReplicaIDLen || removed == c.cfg.replica {
			continue
		}
		if _, known := p.forgotten[removed]; known {
			continue
		}
		p.forgotten[removed] = p.ticks
		delete(p.markSeen, removed)
		if p.payload.forgetPruned(removed) {
			c.stats.PruneMarksForgotten++
			changed = true
		}
	}
	if changed {
		c.payloadTouched()
		p.scanned = 0
		p.payload.marksChanged()
	}
}

func sortedKeys[V any](m map[crdt.ReplicaID]V) []crdt.ReplicaID {
	keys := make([]crdt.ReplicaID, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// --- the shell's side ---

// startPruning turns pruning on for core when the configuration asks for it
// and the payload type can be pruned.
func (a *ringActor[P]) startPruning(core *ringCore) {
	if !a.cfg.Pruning {
		return
	}
	if _, ok := any(a.view.payload).(crdt.Prunable[P]); !ok {
		a.log.Debug("pruning is off: the payload type is not crdt.Prunable", slog.String("type", fmt.Sprintf("%T", a.view.payload)))
		return
	}
	core.pruning = newPruning(actorPruning[P]{a},
		ticksOf(a.cfg.PruneDelay, a.cfg.GossipInterval), ticksOf(a.cfg.PruneMarkTTL, a.cfg.GossipInterval))
}

// actorPruning is the prunablePayload of a ring actor whose payload is
// crdt.Prunable.
type actorPruning[P Payload[P]] struct{ a *ringActor[P] }

func (s actorPruning[P]) payload() crdt.Prunable[P] {
	return any(s.a.view.payload).(crdt.Prunable[P])
}

func (s actorPruning[P]) replicas() []crdt.ReplicaID { return s.payload().Replicas() }

func (s actorPruning[P]) pruneMarks() []crdt.PruneMark { return s.payload().Pruned() }

// prune applies the pruning, then hands its delta to the path of a change
// (Context.Update's): it is logged with the batch and pushed. Prune changes
// nothing when it fails, so a failure records no change.
func (s actorPruning[P]) prune(removed, into crdt.ReplicaID) error {
	delta, err := s.payload().Prune(removed, into)
	if err != nil {
		return err
	}
	s.a.update(func(P) P { return delta })
	return nil
}

func (s actorPruning[P]) forgetPruned(removed crdt.ReplicaID) bool {
	return s.payload().ForgetPruned(removed)
}

// marksChanged snapshots the payload with durability on: a record of the
// log from before a pruning must not be replayed at a restart once the
// mark is forgotten, and a mark forgotten here must not come back from the
// log.
func (s actorPruning[P]) marksChanged() {
	if err := s.a.snapshot(); err != nil {
		s.a.log.Error("cannot snapshot the payload after its prune marks changed", slog.Any("error", err))
	}
}
