package ringactor

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
)

// The ring's decisions live here, in plain methods over plain values: what a
// gossip, a probe answer, a watch notice or a request changes, whom to send
// what, when to persist, what to tell the behaviour, when to stop. The actor
// (actor.go) turns Proto.Actor messages into calls on ringCore and its
// effects into sends, watches, disk writes and callbacks; tests drive
// ringCore directly with a simulated network (core_test.go).

// payloadState is the core's view of the user's payload: it only ever merges
// an encoded remote payload and encodes the local one.
type payloadState interface {
	// mergeEncoded decodes data and merges it into the payload. On a decode
	// error the payload is unchanged.
	mergeEncoded(data []byte) (changed bool, err error)
	encode() ([]byte, error)
}

// coreConfig is what the core needs to know of itself.
type coreConfig struct {
	ring           string
	self           string
	replica        crdt.ReplicaID
	indirectChecks int
	// pushFanout is how many members a delta is pushed to at each hop, and
	// pushHops how many times it is passed on (Config.PushFanout,
	// Config.PushHops).
	pushFanout int
	pushHops   uint32
	// chunkBytes is the largest gossip or delta sent whole; larger ones
	// travel in chunks of this size (0: never chunk). maxStateBytes bounds
	// what a member accepts in one chunked transfer.
	chunkBytes    int
	maxStateBytes int
	// payloadType names the payload's type in gossip, deltas and the join
	// handshake (payloadtype.go); "" in tests that do not check it.
	payloadType string
}

// outbound is one message for the ring actor of node to.
type outbound struct {
	to  string
	msg proto.Message
}

// probePhase names the deadlines of a probe.
type probePhase int

const (
	// phaseIndirect: the direct ping got no answer; ask others to probe.
	phaseIndirect probePhase = iota
	// phaseFinal: no answer at all; declare the target down.
	phaseFinal
	// phaseConfirm: the deadline of a ping that checks another member's
	// verdict, half the probe timeout after the verdict arrived.
	phaseConfirm
	// phaseHeartbeat: the end of a wait for the successor's heartbeat, a
	// probe interval and a quarter after the last one.
	phaseHeartbeat
)

// verdict reports whether a deadline of phase may end in a verdict (and so
// is postponed while this member's process is starved).
func (p probePhase) verdict() bool { return p == phaseFinal || p == phaseConfirm }

// probeTimer asks the shell to call onProbeTimer(seq, phase) when phase's
// deadline has passed.
type probeTimer struct {
	seq   uint64
	phase probePhase
}

// effects is what the core asks the shell to do after an event.
//
// The shell acts on them in this order, like raft's Ready: first what must
// be durable (persist, and the member's own pending changes), then the
// watches and sends, then timers, then the behaviour's callbacks; removed
// last.
type effects struct {
	// sends are messages for other members. Those that carry state
	// (gossip, deltas) leave only once every change of this member is
	// durable.
	sends []outbound
	// watch are members that entered the up set: watch their ring actors.
	watch []string
	// persist: the node set or forced-down set changed; write the ring
	// file before sending.
	persist bool
	// ringChanges are HandleRingChange notices, in order.
	ringChanges []RingChange
	// stateChanged: a merge changed the payload; call HandleStateChange.
	stateChanged bool
	// removed: this member learnt it was removed; delete its data and
	// stop.
	removed bool
	// probeTimers are probe deadlines to arm.
	probeTimers []probeTimer
	// deltaAcks are deltas whose senders asked for a DeltaAck: the shell
	// makes each durable (with durability on) and then acks it.
	deltaAcks []deltaAck
	// acked are DeltaAcks this member received for its own deltas.
	acked []deltaAck
	// joinTimers are join handshakes (join.go) whose deadline to arm;
	// joinAnswers the outcomes of joins that requests wait for.
	joinTimers  []uint64
	joinAnswers []joinAnswer
	// payloadMismatches are members newly found to have a payload of
	// another type: tell the behaviour (HandleInfo).
	payloadMismatches []PayloadMismatch
}

// deltaAck is a DeltaAck to send (to: the delta's sender) or one received
// (from: the member that confirmed).
type deltaAck struct {
	node  string
	id    uint64
	delta []byte
}

// ringCore is one member's ring state and decisions.
type ringCore struct {
	cfg   coreConfig
	log   *slog.Logger
	drops *dropLog // the log of dropped messages, rate-limited (droplog.go)
	rng   *rand.Rand

	nodeSet    *crdt.ORSet[string]
	forcedDown *crdt.ORSet[string]
	payload    payloadState

	// alive holds the other nodes believed alive: they answered a probe,
	// were added here or first heard of through gossip, and no watch notice
	// or failed probe has contradicted it since. The up set is derived from
	// it.
	alive map[string]bool
	// up is the current up set: self, plus the alive members of the node
	// set that are not forced down; sorted.
	up []string
	// initDone is false until finishInit: ring changes before it are folded
	// into the init notice.
	initDone bool

	probes prober
	stats  Stats
	out    effects

	// gossipCache is the gossip message for the current state; nil when the
	// state changed since it was built. stateDigest is its digest.
	gossipCache *messages.Gossip
	stateDigest uint64
	// membershipCache holds the encoded node set and forced-down set and
	// their hash: they change far less often than the payload, and a ring
	// of hundreds of members should not encode them at each payload change.
	membershipCache *encodedMembership
	// payloadBytes is the payload's encoding in gossipCache, kept apart so
	// that a membership change, which a flapping member causes many of,
	// does not encode a large payload again; nil when the payload changed
	// since.
	payloadBytes []byte
	// payloadMaybeTouched: a callback ran since the payload was last
	// encoded (see callbackRan).
	payloadMaybeTouched bool
	// lastChange is the probe tick of the last change of this member's
	// state; mismatches counts, per member, the digests that differed from
	// this member's in a row while a push may still have been on its way.
	lastChange uint64
	mismatches map[string]int
	// transfers are the chunked messages being received, by sender;
	// nextTransfer numbers this member's own.
	transfers    map[string]*transfer
	nextTransfer uint64
	// chunkedStateTo remembers the last large state sent to each member, so
	// that probes arriving while it is on its way do not send it again.
	chunkedStateTo map[string]sentState
	// chunkedStateTick is 1 + the probe tick of the last large state sent.
	chunkedStateTick uint64
	// lazy is the state of lazy push, for large deltas (lazypush.go).
	lazy lazyPush
	// probeTicks counts probe intervals: the core's only notion of time.
	probeTicks uint64
	// pruning is nil when pruning is off (pruning.go).
	pruning *pruning
	// joins are the join handshakes in flight, by seq (join.go);
	// mismatched the members whose payload is of another type, with its
	// name (payloadtype.go): they are never up.
	joins      map[uint64]pendingJoin
	nextJoin   uint64
	mismatched map[string]string
	// selfAliases are addresses whose join handshake reached this member
	// itself.
	selfAliases map[string]bool
}

// newCore builds a member's core from its persisted ring (nil when there is
// none: the member starts a ring of its own).
func newCore(cfg coreConfig, persisted *messages.PersistedRing, payload payloadState, rng *rand.Rand, log *slog.Logger) (*ringCore, error) {
	c := &ringCore{
		cfg:        cfg,
		log:        log,
		rng:        rng,
		nodeSet:    &crdt.ORSet[string]{},
		forcedDown: &crdt.ORSet[string]{},
		payload:    payload,
		alive:      map[string]bool{},
		probes:     newProber(),
	}
	if persisted != nil {
		if persisted.GetRing() != cfg.ring {
			return nil, fmt.Errorf("ringactor: persisted ring is %q, not %q", persisted.GetRing(), cfg.ring)
		}
		var err error
		if c.nodeSet, err = crdt.ORSetFromProto[string](persisted.GetNodeSet()); err != nil {
			return nil, fmt.Errorf("ringactor: persisted node set: %w", err)
		}
		if c.forcedDown, err = crdt.ORSetFromProto[string](persisted.GetForcedDown()); err != nil {
			return nil, fmt.Errorf("ringactor: persisted forced-down set: %w", err)
		}
		if err := validateNodes(c.nodeSet, c.forcedDown); err != nil {
			return nil, fmt.Errorf("ringactor: persisted ring: %w", err)
		}
		// A ring file that does not list this member and was not written
		// by it was made by hand to seed a ring: join it. (A member's own
		// file lists it once it joined a ring; if the others removed it
		// while it was away, their gossip removes it here too, and it
		// stops.)
		if !c.nodeSet.Contains(cfg.self) && persisted.GetSelf() != cfg.self {
			c.nodeSet.Add(cfg.replica, cfg.self)
			c.out.persist = true
		}
	}
	// A member does not add itself: it is a ring of one until it adds
	// another node (addNode then adds it too) or another member adds it. So
	// every node's membership has a single add, and whoever knows the node
	// knows that add and can remove it; a self-add concurrent with the
	// other member's add would survive a removal that had not seen it.
	c.up = []string{cfg.self}
	return c, nil
}

// start probes every other member of the persisted ring: those that answer
// before finishInit are up in the init notice.
func (c *ringCore) start() {
	for _, node := range sortedElements(c.nodeSet) {
		if node != c.cfg.self && !c.forcedDown.Contains(node) {
			c.probe(node, probeRevive)
		}
	}
}

// finishInit reports the up set with reason init.
func (c *ringCore) finishInit() {
	c.initDone = true
	c.settle(ReasonInit)
	c.out.ringChanges = append(c.out.ringChanges, RingChange{New: slices.Clone(c.up), Ring: c.cfg.ring, Reason: ReasonInit})
	c.stats.RingChanges++
}

// takeEffects returns the effects accumulated since the last call.
func (c *ringCore) takeEffects() effects {
	e := c.out
	c.out = effects{}
	return e
}

// payloadTouched tells the core the payload changed outside a merge (a
// user callback's Update): the next gossip must encode it again.
func (c *ringCore) payloadTouched() {
	c.gossipCache, c.payloadBytes, c.lastChange = nil, nil, c.probeTicks
}

// callbackRan tells the core a user callback ran, which may have changed
// the payload directly, not through Update. Such a change reaches the
// others only with anti-entropy, so the digest takes it in at the next
// gossip tick, unless the payload was encoded since: encoding a large
// payload again after every call would cost more than the calls.
func (c *ringCore) callbackRan() { c.payloadMaybeTouched = true }

// membershipChanged tells the core the node set or forced-down set changed.
func (c *ringCore) membershipChanged() {
	c.gossipCache, c.membershipCache, c.lastChange = nil, nil, c.probeTicks
}

// all returns every node of the ring, sorted: this member is always one of
// them (a member no other one added is a ring of one).
func (c *ringCore) all() []string {
	nodes := sortedElements(c.nodeSet)
	if !c.nodeSet.Contains(c.cfg.self) {
		nodes = append(nodes, c.cfg.self)
		slices.Sort(nodes)
	}
	return nodes
}

// upNodes returns the up set, sorted.
func (c *ringCore) upNodes() []string { return slices.Clone(c.up) }

// persisted returns the state to write to disk.
func (c *ringCore) persisted() (*messages.PersistedRing, error) {
	nodeSet, err := c.nodeSet.ToProto()
	if err != nil {
		return nil, err
	}
	forcedDown, err := c.forcedDown.ToProto()
	if err != nil {
		return nil, err
	}
	return &messages.PersistedRing{Ring: c.cfg.ring, Self: c.cfg.self, Replica: string(c.cfg.replica), NodeSet: nodeSet, ForcedDown: forcedDown}, nil
}

// --- gossip ---

// onRejoinTick sends the state to one random member of the node set that is
// not up, so members find each other again after a partition or a hang.
func (c *ringCore) onRejoinTick() {
	var down []string
	for node := range c.nodeSet.All() {
		// Not self, not forced down, and not up: up is self plus the alive
		// members of the node set that are not forced down.
		if node != c.cfg.self && !c.forcedDown.Contains(node) && !c.alive[node] {
			down = append(down, node)
		}
	}
	if len(down) > 0 {
		slices.Sort(down) // map order must not leak into the random choice
		c.greet(down[c.rng.IntN(len(down))], true)
	}
}

// onGossip merges a gossip from another member.
func (c *ringCore) onGossip(g *messages.Gossip) {
	c.stats.GossipReceived++
	if !c.acceptFrom("gossip", g.GetRing(), g.GetFrom()) {
		return
	}
	if !c.samePayloadType("gossip", g.GetFrom(), g.GetPayloadType()) {
		c.stats.Dropped++
		return
	}
	from := g.GetFrom()
	c.noteReport(from, g.GetReplica(), g.GetDigest())
	if md := g.GetMembershipDigest(); md != 0 {
		if own, err := c.encodedMembership(); err == nil && own.hash == md {
			c.mergeGossip(g, nil, nil, nil) // same membership: only the payload
			return
		}
	}
	// Decode everything before changing anything: a malformed gossip must
	// leave the state as it was.
	nodeSet, err := crdt.ORSetFromProto[string](g.GetNodeSet())
	if err == nil {
		var forcedDown *crdt.ORSet[string]
		if forcedDown, err = crdt.ORSetFromProto[string](g.GetForcedDown()); err == nil {
			var fresh []string
			if fresh, err = c.newNodes(nodeSet, forcedDown); err == nil {
				c.mergeGossip(g, nodeSet, forcedDown, fresh)
				return
			}
		}
	}
	c.drop("gossip", "malformed", from, err)
}

// newNodes returns the nodes of nodeSet this member does not know yet,
// after checking that every unknown address in both sets is valid.
func (c *ringCore) newNodes(nodeSet, forcedDown *crdt.ORSet[string]) ([]string, error) {
	var fresh []string
	for node := range nodeSet.All() {
		if !c.nodeSet.Contains(node) {
			if err := validateNode(node); err != nil {
				return nil, err
			}
			fresh = append(fresh, node)
		}
	}
	for node := range forcedDown.All() {
		if !c.forcedDown.Contains(node) {
			if err := validateNode(node); err != nil {
				return nil, err
			}
		}
	}
	return fresh, nil
}

func (c *ringCore) mergeGossip(g *messages.Gossip, nodeSet, forcedDown *crdt.ORSet[string], fresh []string) {
	from := g.GetFrom()
	var payloadChanged bool
	if !g.GetMembershipOnly() {
		var err error
		if payloadChanged, err = c.payload.mergeEncoded(g.GetPayload()); err != nil {
			c.drop("gossip", "malformed", from, fmt.Errorf("payload: %w", err))
			return
		}
		c.forgetAsTold(g.GetForgottenMarks())
	}
	wasMember := c.nodeSet.Contains(c.cfg.self)
	nodeSetChanged := nodeSet != nil && c.nodeSet.Merge(nodeSet)
	forcedDownChanged := forcedDown != nil && c.forcedDown.Merge(forcedDown)
	if nodeSetChanged || forcedDownChanged {
		c.out.persist = true
		c.membershipChanged()
	}
	if payloadChanged {
		c.out.stateChanged = true
		c.stats.StateChanges++
		c.payloadTouched()
	}
	if (nodeSetChanged || forcedDownChanged) && g.GetHops() > 0 {
		c.forwardMembership(g.GetHops()-1, from)
	}
	if wasMember && !c.nodeSet.Contains(c.cfg.self) {
		c.removeSelf()
		return
	}
	// A member first heard of through gossip is presumed up, and watched:
	// the watch and the probes show within seconds if it is not. Waiting
	// for each member to hear from each other one directly would take
	// rounds in proportion to the ring's size.
	for _, node := range fresh {
		if node != c.cfg.self && c.nodeSet.Contains(node) {
			c.alive[node] = true
		}
	}
	firstContact := !c.alive[from]
	c.heardFrom(from)
	// Answer a member that asked for it (it believes us down), that we did
	// not believe up, or that was removed and does not know it: it learns
	// our state now instead of when random gossip finds it (a removed
	// member never gets random gossip).
	switch {
	case g.GetReplyRequested() || (firstContact || !c.nodeSet.Contains(from)) && !g.GetNoReply():
		// (A gossip that is itself an answer gets none: two members that
		// each believe the other down would answer each other until a
		// probe brings them up.)
		c.answerGreeting(from)
	case g.GetMembershipOnly() && g.GetDigest() != 0 && c.digest() != g.GetDigest():
		// A greeting (or the answer to one) whose digest differs:
		// push-pull begins.
		c.sendGossip(from, false)
	case g.GetMembershipOnly():
	case g.GetDigest() != 0 && !g.GetNoReply() && c.digest() != g.GetDigest():
		// Push-pull: this member holds something the sender lacks.
		c.sendGossipAnswer(from)
	}
	if nodeSetChanged || forcedDownChanged || len(fresh) > 0 {
		c.settle(ReasonGossip) // only these can change the up set here
	}
}

// sendGossip sends the current state to node; replyRequested asks node to
// answer with its own.
func (c *ringCore) sendGossip(node string, replyRequested bool) {
	g, err := c.gossipMessage()
	if err != nil {
		c.log.Error("cannot encode gossip", slog.Any("error", err))
		c.stats.EncodeErrors++
		return
	}
	if replyRequested {
		g = &messages.Gossip{
			Ring: g.Ring, From: g.From, Replica: g.Replica, NodeSet: g.NodeSet,
			ForcedDown: g.ForcedDown, Payload: g.Payload, Digest: g.Digest, MembershipDigest: g.MembershipDigest, ReplyRequested: true, PayloadType: g.PayloadType,
			ForgottenMarks: g.ForgottenMarks,
		}
	}
	c.stats.GossipSent++
	c.send(node, g)
}

// sendGossipAnswer sends the state to node as the answer of a push-pull
// exchange, which node does not answer again.
func (c *ringCore) sendGossipAnswer(node string) {
	g, err := c.gossipMessage()
	if err != nil {
		c.log.Error("cannot encode gossip", slog.Any("error", err))
		c.stats.EncodeErrors++
		return
	}
	answer := &messages.Gossip{
		Ring: g.Ring, From: g.From, Replica: g.Replica, NodeSet: g.NodeSet,
		ForcedDown: g.ForcedDown, Payload: g.Payload, Digest: g.Digest, MembershipDigest: g.MembershipDigest, NoReply: true, PayloadType: g.PayloadType,
		ForgottenMarks: g.ForgottenMarks,
	}
	c.stats.GossipSent++
	c.send(node, answer)
}

func (c *ringCore) gossipMessage() (*messages.Gossip, error) {
	if c.gossipCache != nil {
		return c.gossipCache, nil
	}
	membership, err := c.encodedMembership()
	if err != nil {
		return nil, err
	}
	payload := c.payloadBytes
	if payload == nil {
		if payload, err = c.payload.encode(); err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		// Every callback so far ran before this encoding: a change it
		// made directly is in it.
		c.payloadBytes, c.payloadMaybeTouched = payload, false
	}
	g := &messages.Gossip{
		Ring: c.cfg.ring, From: c.cfg.self, Replica: string(c.cfg.replica),
		NodeSet: membership.nodeSet, ForcedDown: membership.forcedDown, Payload: payload,
		PayloadType:    c.cfg.payloadType,
		ForgottenMarks: c.forgottenMarks(),
	}
	digest := combineDigest(membership.hash, payload)
	g.Digest, g.MembershipDigest = digest, membership.hash
	c.gossipCache, c.stateDigest = g, digest
	return g, nil
}

// --- failure detection ---

// onTerminated handles a watch notice: node's ring actor or its connection
// is gone.
func (c *ringCore) onTerminated(node string) {
	c.onDown(node, "watch notice")
	c.joinUnreachable(node)
}

// acceptFrom reports whether a message of the ring protocol from node is to
// be handled; it logs and counts the ones that are dropped.
func (c *ringCore) acceptFrom(what, ring, from string) bool {
	switch {
	case ring != c.cfg.ring:
		c.stats.DroppedOtherRing++
		c.drop(what, "other ring", from, fmt.Errorf("ring %q", ring))
		return false
	case from == "" || from == c.cfg.self:
		c.drop(what, "malformed", from, errors.New("bad sender"))
		return false
	case c.forcedDown.Contains(from):
		// Expected while a member is forced down (it keeps gossiping):
		// counted, and logged at debug level only.
		c.stats.DroppedForcedDown++
		c.stats.Dropped++
		c.log.Debug("dropped "+what, slog.String("why", "forced down"), slog.String("from", from))
		return false
	}
	c.probes.heard[from] = c.probes.nextSeq
	return true
}

func (c *ringCore) drop(what, why, from string, err error) {
	c.stats.Dropped++
	if why == "malformed" {
		c.stats.DroppedMalformed++
	}
	attrs := []any{slog.String("from", truncate(from))}
	if err != nil {
		attrs = append(attrs, slog.String("error", truncate(err.Error())))
	}
	if c.drops == nil {
		c.drops = newDropLog(c.log)
	}
	c.drops.warn(why, "dropped "+what, attrs...) // rate-limited: a peer must not fill the disk
}

// --- membership requests ---

// addNode adds node to the ring and believes it up until shown otherwise.
func (c *ringCore) addNode(node string) error {
	if err := validateNode(node); err != nil {
		return err
	}
	if node == c.cfg.self {
		return nil
	}
	changed := false
	for _, n := range []string{c.cfg.self, node} {
		if !c.nodeSet.Contains(n) {
			c.nodeSet.Add(c.cfg.replica, n)
			c.out.persist = true
			c.membershipChanged()
			changed = true
		}
	}
	if !c.forcedDown.Contains(node) {
		c.alive[node] = true
		c.sendGossip(node, false)
	}
	c.settle(ReasonRequest)
	if changed {
		c.pushMembership(node)
	}
	return nil
}

// delNode removes node from the ring. Removing this member itself tells
// every up member, then stops.
func (c *ringCore) delNode(node string) error {
	node = c.findNode(node)
	if !c.nodeSet.Contains(node) {
		return fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	c.nodeSet.Remove(node)
	c.out.persist = true
	c.membershipChanged()
	if node == c.cfg.self {
		for _, other := range c.up {
			if other != c.cfg.self {
				c.sendGossip(other, false)
			}
		}
		c.removeSelf()
		return nil
	}
	// The removed member gets no more random gossip: tell it now.
	c.sendGossip(node, false)
	delete(c.alive, node)
	c.settle(ReasonRequest)
	c.pushMembership("")
	return nil
}

// forceDown makes the member ignore node until unforceDown.
func (c *ringCore) forceDown(node string) error {
	node = c.findNode(node)
	if node == c.cfg.self {
		return ErrSelf
	}
	if !c.nodeSet.Contains(node) {
		return fmt.Errorf("%w: %s", ErrUnknownNode, node)
	}
	if !c.forcedDown.Contains(node) {
		c.forcedDown.Add(c.cfg.replica, node)
		c.out.persist = true
		c.membershipChanged()
	}
	// After unforceDown it must prove again that it is alive.
	delete(c.alive, node)
	c.settle(ReasonRequest)
	c.pushMembership("")
	return nil
}

// unforceDown stops ignoring node; it is up again once it gossips or
// answers.
func (c *ringCore) unforceDown(node string) error {
	node = c.findNode(node)
	if c.forcedDown.Contains(node) {
		c.forcedDown.Remove(node)
		c.out.persist = true
		c.membershipChanged()
		c.sendGossip(node, true)
		c.settle(ReasonRequest)
		c.pushMembership(node)
	}
	return nil
}

// removeSelf is the end of a member that learnt it was removed.
func (c *ringCore) removeSelf() {
	c.out.removed = true
	c.out.ringChanges = append(c.out.ringChanges, RingChange{Old: c.up, Ring: c.cfg.ring, Reason: ReasonRemoved})
	c.stats.RingChanges++
	c.up = nil
	c.alive = map[string]bool{}
}

// settle recomputes the up set after an event: nodes entering it are
// watched, and a change is reported with reason once init is done.
func (c *ringCore) settle(reason Reason) {
	up := []string{c.cfg.self}
	for node := range c.alive {
		if c.nodeSet.Contains(node) && !c.forcedDown.Contains(node) && c.mismatched[node] == "" {
			up = append(up, node)
		}
	}
	slices.Sort(up)
	if slices.Equal(up, c.up) {
		return
	}
	wasUp := make(map[string]bool, len(c.up))
	for _, node := range c.up {
		wasUp[node] = true
	}
	for _, node := range up {
		if node != c.cfg.self && !wasUp[node] {
			c.out.watch = append(c.out.watch, node)
		}
	}
	old := c.up
	c.up = up
	for _, node := range old {
		if !slices.Contains(up, node) {
			// A ping in flight to a member that left the up set proves
			// nothing when it comes back: its Ack was dropped if the
			// member was forced down meanwhile.
			c.probes.forget(node)
		}
	}
	c.watchNewSuccessor(old)
	if c.initDone {
		c.out.ringChanges = append(c.out.ringChanges, RingChange{Old: old, New: slices.Clone(up), Ring: c.cfg.ring, Reason: reason})
		c.stats.RingChanges++
	}
}

// randomUpOther picks a random up member other than self and except.
func (c *ringCore) randomUpOther(except string) (string, bool) {
	candidates := make([]string, 0, len(c.up))
	for _, node := range c.up {
		if node != c.cfg.self && node != except {
			candidates = append(candidates, node)
		}
	}
	if len(candidates) == 0 {
		return "", false
	}
	return candidates[c.rng.IntN(len(candidates))], true
}

func (c *ringCore) send(to string, msg proto.Message) { c.sendChunked(to, msg) }

func sortedElements(s *crdt.ORSet[string]) []string {
	elements := s.Elements()
	slices.Sort(elements)
	return elements
}

// validateNode checks that node is a host:port address.
func validateNode(node string) error {
	host, port, err := net.SplitHostPort(node)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrInvalidNode, node, err)
	}
	if host == "" || len(host) > maxHostBytes {
		return fmt.Errorf("%w: %q: empty host or longer than %d bytes", ErrInvalidNode, truncate(node), maxHostBytes)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("%w: %q: bad port", ErrInvalidNode, node)
	}
	return nil
}

func validateNodes(sets ...*crdt.ORSet[string]) error {
	for _, s := range sets {
		for _, node := range s.Elements() {
			if err := validateNode(node); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasEffects reports whether effects are waiting to be taken.
func (c *ringCore) hasEffects() bool {
	e := &c.out
	return len(e.sends) > 0 || len(e.watch) > 0 || e.persist || len(e.ringChanges) > 0 ||
		e.stateChanged || e.removed || len(e.probeTimers) > 0 || len(e.deltaAcks) > 0 || len(e.acked) > 0 ||
		len(e.joinTimers) > 0 || len(e.joinAnswers) > 0 || len(e.payloadMismatches) > 0
}
