package ringactor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// Timer messages the ring actor sends itself.
type (
	gossipTick    struct{}
	probeTick     struct{}
	rejoinTick    struct{}
	initDeadline  struct{}
	probeDeadline struct {
		seq   uint64
		phase probePhase
		// due is when the deadline was armed to end; slowWaits the
		// process's slow scheduling waits then; postponed how many
		// times it was postponed (local_health.go).
		due       time.Time
		slowWaits uint64
		postponed int
	}
	// statsRequest asks for a copy of Stats.
	statsRequest struct{}
)

// Props returns the Props of a ring actor named name, to spawn with
// SpawnNamed(props, name) under the same name on every member. The payload
// type P is inferred from behaviour. Start is the shorter way.
func Props[P Payload[P]](name string, behaviour Behaviour[P], opts ...Option) (*actor.Props, error) {
	if err := validateRingName(name); err != nil {
		return nil, err
	}
	if behaviour == nil {
		return nil, errors.New("ringactor: nil behaviour")
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	return newProps[P](name, behaviour, cfg, nil, nil), nil
}

// newProps builds the Props; started, if not nil, gets the outcome of each
// start of the actor (nil, or why it failed); running, if not nil, is set
// false when the actor stops for good.
func newProps[P Payload[P]](name string, behaviour Behaviour[P], cfg Config, started func(error), running *atomic.Bool) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &ringActor[P]{name: name, behaviour: behaviour, cfg: cfg, started: started, running: running, size: payloadSize{exact: -1}}
	}, ringMailbox(name))
}

// ringActor is the shell around ringCore: it turns messages into core calls
// and the core's effects into sends, watches, disk writes and callbacks.
type ringActor[P Payload[P]] struct {
	name      string
	behaviour Behaviour[P]
	cfg       Config

	view         ringView[P]
	core         *ringCore
	store        persistence.Store
	payloadStore persistence.PayloadStore // nil with DurabilityNone
	pending      pendingChanges[P]
	snapshotSize int64         // bytes of the last payload snapshot
	lastSync     time.Duration // how long the last group commit took
	log          *slog.Logger
	ctx          *Context[P]
	timers       *timers
	health       *localHealth
	// boundary seals what the member sends and admits what it receives
	// (boundary.go).
	boundary *boundary
	metrics  *ringMetrics // metrics.go
	// size estimates the encoded payload (payload_size.go).
	size payloadSize

	transport transport
	// credit bounds what is handed to Proto.Actor for each peer
	// (outbound.go).
	credit *outboundCredit

	actorCtx  actor.Context // the context of the message being handled
	ownsStore bool          // the store was opened here (not WithStore): close it at the end
	started   func(error)
	// running is the flag of the Client that Start returned: false once
	// the actor stopped (nil when spawned from Props).
	running    *atomic.Bool
	initErr    error
	stopReason error
	terminated bool
	// joinWaiters are the AddNode requests waiting for their join
	// handshake (join.go).
	joinWaiters joinWaiters
	// seeds joins the seeds until the member has joined (seeds.go); nil
	// without seeds or once joined.
	seeds *seeder
}

// Receive implements actor.Actor.
func (a *ringActor[P]) Receive(ctx actor.Context) {
	if a.ctx != nil {
		a.ctx.actorContext = ctx
	}
	a.actorCtx = ctx
	a.pending.changedNow, a.pending.callAcksSet, a.pending.refusedNow = false, false, nil
	switch ctx.Message().(type) {
	case *actor.Started:
		err := a.start(ctx)
		if err != nil {
			a.initErr = err
			a.log.Error("ring failed to start", slog.Any("error", err))
			a.closeStore()
			ctx.Stop(ctx.Self())
		}
		if a.started != nil {
			a.started(err)
		}
		return
	case *actor.Stopping:
		a.terminate(ctx)
		return
	case *actor.Restarting:
		// A panic outside the callbacks (a bug of the ring) restarts the
		// actor: a new instance reloads the ring file and starts its own
		// timers, so this one's must stop, and its store (and the data
		// directory's lock) must be free for it.
		a.cancelTimers()
		a.closeStore()
		return
	case *actor.Stopped:
		if a.running != nil {
			a.running.Store(false)
		}
		return
	}
	if a.core == nil {
		// Init failed: the actor is stopping. Answer requests so callers
		// do not wait for their timeout.
		a.respondStopped(ctx, a.initErr)
		return
	}
	if ctx.ActorSystem().IsStopped() {
		// ActorSystem.Shutdown stops no actor, and the system still
		// delivers messages: without this the ring would answer requests,
		// and its timers and sends run on, after the system is gone. It
		// is checked on every message (a select on a channel), so the
		// first request after the shutdown is refused; the ring's own
		// ticks make it stop within ProbeInterval when none comes.
		reason := fmt.Errorf("%w: the actor system was shut down", ErrStopped)
		a.respondStopped(ctx, reason)
		a.stop(ctx, reason)
		return
	}
	message, ok := a.boundary.admit(ctx, ctx.Message())
	if !ok {
		return
	}
	a.handle(ctx, message)
}

// handle dispatches a message that passed the boundary. The behaviour's
// calls and casts, the hot path, go first and each in a small function:
// Proto.Actor runs a mailbox on a fresh goroutine whenever it wakes, whose
// stack starts small, and the large frame of the ring's own switch
// (handleRing) made every call grow and copy that stack.
func (a *ringActor[P]) handle(ctx actor.Context, message any) {
	switch msg := message.(type) {
	case *callEnvelope:
		from := a.newFrom(ctx, false)
		from.local = msg.reply
		if from.local != nil {
			from.pid = nil
		}
		a.call(ctx, from, msg.msg)
	case *messages.CallRequest:
		a.remoteCall(ctx, msg)
	case *castEnvelope:
		a.cast(ctx, msg.msg)
	case *messages.CastRequest:
		a.remoteCast(ctx, msg.GetBody())
	case *messages.CastBatch:
		for _, body := range msg.GetBodies() {
			if a.stopReason != nil {
				break // the actor stops: the rest go as casts to a stopped member do
			}
			a.remoteCast(ctx, body)
		}
	default:
		if !isUserCall(message, ctx.Sender()) {
			a.handleRing(ctx, message)
			return
		}
		a.call(ctx, a.requestFrom(ctx), message)
	}
	a.apply(ctx)
}

// remoteCall handles a call in a CallRequest.
func (a *ringActor[P]) remoteCall(ctx actor.Context, msg *messages.CallRequest) {
	from := a.requestFrom(ctx)
	body, err := unpackBody(msg.GetBody())
	if err != nil {
		a.log.Warn("dropped call", slog.Any("error", err))
		_ = reply(ctx, from, nil, err)
		return
	}
	a.call(ctx, from, body)
}

// requestFrom is the caller of a call sent as a Proto.Actor request: from
// another process (its reply must be a protobuf message, sealed when the
// request came sealed) or from this one.
func (a *ringActor[P]) requestFrom(ctx actor.Context) From {
	from := a.newFrom(ctx, ctx.Sender().GetAddress() != ctx.Self().GetAddress())
	from.seal = a.boundary.replySeal()
	return from
}

// cast hands a cast to HandleCast.
func (a *ringActor[P]) cast(ctx actor.Context, msg any) {
	a.callback(ctx, "HandleCast", func() { a.behaviour.HandleCast(a.ctx, msg) })
}

// remoteCast handles a cast from another process.
func (a *ringActor[P]) remoteCast(ctx actor.Context, packed *anypb.Any) {
	body, err := unpackBody(packed)
	if err != nil {
		a.log.Warn("dropped cast", slog.Any("error", err))
		return
	}
	a.cast(ctx, body)
}

// handleRing handles the ring's own messages: its protocol, its timers and
// the requests of clients.
func (a *ringActor[P]) handleRing(ctx actor.Context, message any) {
	c := a.core
	switch msg := message.(type) {
	// The ring protocol.
	case *messages.Gossip, *messages.Digest, *messages.Delta, *messages.DeltaAck, *messages.StateChunk, *messages.Ping, *messages.Ack, *messages.PingRequest, *messages.NodeDown:
		a.metrics.heard(c, msg)
		// The one place where messages of peers enter: any of them
		// gives its sender its full outbound credit (outbound.go). An
		// Ack that another member relays names the probed member, which
		// answered a ping moments before: it is live too.
		if m, ok := msg.(interface{ GetFrom() string }); ok {
			a.credit.restore(m.GetFrom())
		}
		c.step(msg)
	case *actor.Terminated:
		node, member := a.transport.nodeOf(msg.GetWho())
		if !member {
			a.info(ctx, msg)
			return
		}
		c.onTerminated(node)
	case *flushToken:
		a.flush(ctx)
		return
	case *ackDeadline:
		a.releaseAcked(ctx, msg.id, true)
		return
	case *gossipTick:
		c.onGossipTick()
		a.metrics.publish(c)
	case *rejoinTick:
		c.onRejoinTick()
	case *probeTick:
		if !a.synced() {
			a.commit(ctx) // retry a commit that failed
		}
		c.onProbeTick()
		a.metrics.publish(c)
	case *probeDeadline:
		if a.postponeVerdict(msg) {
			return
		}
		c.onProbeTimer(msg.seq, msg.phase)
	case *initDeadline:
		c.finishInit()

	// Requests.
	case *messages.AddNode:
		a.addNode(ctx, msg.GetNode())
		return
	case *joinDeadline:
		c.onJoinTimeout(msg.seq)
	case *seedTick:
		a.seedRound(ctx)
		return
	case *seedsResolved:
		a.seedsFound(ctx, msg)
		return
	case *messages.DelNode:
		a.respondOp(ctx, c.delNode(msg.GetNode()))
		return
	case *messages.ForceDown:
		a.respondOp(ctx, c.forceDown(msg.GetNode()))
		return
	case *messages.UnforceDown:
		a.respondOp(ctx, c.unforceDown(msg.GetNode()))
		return
	case *messages.GetAll:
		a.boundary.respond(ctx, &messages.Nodes{Nodes: c.all()})
	case *messages.GetUp:
		a.boundary.respond(ctx, &messages.Nodes{Nodes: c.upNodes()})
	case *statsRequest:
		respond(ctx, a.boundary.withGuardCounts(c.stats))
	case *messages.GetStats:
		a.boundary.respond(ctx, &messages.StatsReply{Counters: a.boundary.withGuardCounts(c.stats).counters()})
	case *messages.StopRing:
		for _, node := range c.upNodes() {
			if node != a.view.self {
				a.sendPeer(ctx, node, &messages.StopMember{Ring: a.name, From: a.view.self, Reason: msg.GetReason()})
			}
		}
		a.boundary.respond(ctx, &messages.OpReply{})
		a.stop(ctx, stopReason(msg.GetReason()))
	case *messages.StopMember:
		if msg.GetRing() == a.name {
			a.stop(ctx, stopReason(msg.GetReason()))
		}
	case *messages.LocalStop:
		a.boundary.respond(ctx, &messages.OpReply{})
		a.stop(ctx, stopReason(msg.GetReason()))

	default:
		a.info(ctx, message)
		return
	}
	a.apply(ctx)
}

func (a *ringActor[P]) info(ctx actor.Context, msg any) {
	if _, system := msg.(actor.SystemMessage); system {
		return
	}
	a.callback(ctx, "HandleInfo", func() { a.behaviour.HandleInfo(a.ctx, msg) })
	a.apply(ctx)
}

func (a *ringActor[P]) call(ctx actor.Context, from From, msg any) {
	var result CallResult
	if panicked := a.callback(ctx, "HandleCall", func() { result = a.behaviour.HandleCall(a.ctx, from, msg) }); panicked != nil {
		result = ReplyWithError(panicked)
	}
	if !result.noReply {
		if err := a.sendReply(ctx, from, result.reply, result.err); err != nil {
			a.log.Warn("reply could not be sent", slog.Any("error", err))
		}
	}
	a.apply(ctx)
	if result.stop != nil {
		a.stop(ctx, result.stop)
	}
}

// callback runs a behaviour callback, recovering a panic: it is logged with
// its stack and counted, and returned as an error wrapping ErrCallbackPanic.
func (a *ringActor[P]) callback(ctx actor.Context, name string, f func()) (panicked error) {
	a.ctx.actorContext = ctx
	defer func() {
		if r := recover(); r != nil {
			panicked = fmt.Errorf("%w: %s: %v", ErrCallbackPanic, name, r)
			if a.core != nil {
				a.core.stats.CallbackPanics++
			}
			a.log.Error("callback panicked", slog.String("callback", name), slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		}
		if a.core != nil {
			a.core.callbackRan()
		}
	}()
	f()
	return nil
}

func (a *ringActor[P]) start(ctx actor.Context) error {
	a.credit = newOutboundCredit(a.cfg.Security.maxUnanswered())
	a.health = newLocalHealth(a.cfg.ProbeTimeout)
	a.transport = newTransport(ctx.ActorSystem(), a.name, a.cfg, a.credit)
	self := a.transport.self()
	a.log = a.cfg.Logger
	if a.log == nil {
		a.log = ctx.Logger()
	}
	a.log = a.log.With(slog.String("ring", a.name), slog.String("node", self))
	a.transport.start(a.log)
	if err := validateNode(self); err != nil {
		return fmt.Errorf("%w (address %q)", ErrNoRemote, self)
	}
	a.store = a.cfg.Store
	if a.store == nil {
		dir := a.cfg.DataDir
		if dir == "" {
			dir = persistence.DefaultDir(a.name, self)
		}
		store, err := persistence.NewFileStore(dir)
		if err != nil {
			return err
		}
		a.store, a.ownsStore = store, true
	}
	persisted, err := a.store.Load()
	if errors.Is(err, persistence.ErrNotFound) {
		persisted, err = nil, nil
	}
	if err != nil {
		return err
	}
	if a.payloadStore, err = payloadStoreOf(a.store, a.cfg.Durability); err != nil {
		return err
	}

	// A member whose data is intact goes on with its replica ID: every dot
	// it issued is on its disk, so it never issues one twice. Without a
	// durable payload it takes a new one each life.
	replica, replicaIsNew := crdt.ReplicaID(persisted.GetReplica()), false
	if a.payloadStore == nil || replica == "" || persisted.GetSelf() != self {
		replica, replicaIsNew = crdt.NewReplicaID(self), true
	}
	a.view = ringView[P]{name: a.name, self: self, replica: replica, log: a.log, update: a.update, reply: a.sendReply, setWriteAcks: a.setWriteAcks}
	a.ctx = &Context[P]{actorContext: ctx, ring: &a.view}
	var payload P
	var initErr error
	if panicked := a.callback(ctx, "Init", func() { payload, initErr = a.behaviour.Init(a.ctx) }); panicked != nil {
		return panicked
	}
	if initErr != nil {
		return fmt.Errorf("ringactor: Init: %w", initErr)
	}
	if isNilPayload(payload) {
		payload = newPayload[P]()
	}
	if err := a.recoverPayload(payload); err != nil {
		return err
	}
	a.view.payload = payload

	cfg := coreConfig{
		ring: a.name, self: self, replica: a.view.replica, indirectChecks: a.cfg.IndirectChecks,
		pushFanout: a.cfg.PushFanout, pushHops: uint32(a.cfg.PushHops),
		chunkBytes: a.cfg.ChunkBytes, maxStateBytes: a.cfg.MaxStateBytes,
		payloadType: payloadTypeName(payload),
	}
	core, err := newCore(cfg, persisted, a, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), a.log)
	if err != nil {
		return fmt.Errorf("%w (ring file %s)", err, a.store)
	}
	if replicaIsNew && a.payloadStore != nil {
		// The replica ID is on disk before it tags anything.
		a.core = core
		if err := a.saveRing(); err != nil {
			return fmt.Errorf("ringactor: %w", err)
		}
	}
	a.core = core
	a.view.core = core
	a.startPruning(core)
	a.boundary = newBoundary(a.name, self, a.cfg.Security, ctx.ActorSystem(), &core.stats, a.log)
	a.timers = newTimers(ctx.ActorSystem().Root, ctx.Self())
	a.metrics = newRingMetrics(meterProvider(a.cfg, ctx.ActorSystem()), a.name, self, a.log)
	core.start()
	a.apply(ctx)
	a.metrics.publish(core)

	a.timers.every(a.cfg.GossipInterval, &gossipTick{})
	a.timers.every(a.cfg.ProbeInterval, &probeTick{})
	a.timers.every(a.cfg.RejoinInterval, &rejoinTick{})
	a.timers.once(a.cfg.InitTimeout, &initDeadline{})
	a.startSeeds(ctx)
	return nil
}

// apply carries out the core's effects. Most messages (calls and casts
// that change nothing) leave none, and skip applyEffects' large frame.
func (a *ringActor[P]) apply(ctx actor.Context) {
	if a.core.hasEffects() {
		a.applyEffects(ctx)
	}
}

func (a *ringActor[P]) applyEffects(ctx actor.Context) {
	for {
		eff := a.core.takeEffects()
		if eff.persist && !eff.removed {
			if err := a.saveRing(); err != nil {
				a.log.Error("cannot persist the ring", slog.Any("error", err))
			}
		}
		a.deltaAcksDue(eff.deltaAcks)
		for _, seq := range eff.joinTimers {
			a.timers.once(min(a.cfg.ProbeTimeout, a.cfg.RequestTimeout/2), &joinDeadline{seq: seq})
		}
		a.answerJoins(ctx, eff.joinAnswers)
		if len(eff.sends) > 0 && !a.synced() {
			// What must be durable is written before any message that
			// may depend on it is sent.
			a.commit(ctx)
		}
		for _, ack := range eff.acked {
			a.onAcked(ctx, ack)
		}
		for _, node := range eff.watch {
			a.transport.watch(ctx, node)
		}
		durable := a.synced()
		for _, out := range eff.sends {
			if !durable && isStateMessage(out.msg) {
				// A peer must never see a dot this member could issue
				// again after a crash; anti-entropy sends it later.
				a.core.stats.StateSendsHeld++
				continue
			}
			a.sendPeer(ctx, out.to, out.msg)
		}
		// A message is sealed once for the members it goes to now, never
		// reused later: the core sends its cached gossip again at later
		// rounds, which must be sealed anew (a fresh nonce and time).
		a.boundary.forgetLast()
		for _, t := range eff.probeTimers {
			a.armProbeDeadline(&probeDeadline{seq: t.seq, phase: t.phase})
		}
		for _, mismatch := range eff.payloadMismatches {
			a.callback(ctx, "HandleInfo", func() { a.behaviour.HandleInfo(a.ctx, mismatch) })
		}
		if eff.stateChanged {
			a.callback(ctx, "HandleStateChange", func() { a.behaviour.HandleStateChange(a.ctx, a.view.payload) })
		}
		for _, change := range eff.ringChanges {
			a.metrics.ringChanged(a.core, change)
			a.callback(ctx, "HandleRingChange", func() { a.behaviour.HandleRingChange(a.ctx, change) })
		}
		if eff.removed {
			// A removed member's data goes, and nothing may write it
			// again: pending changes are dropped, their calls told why.
			a.dropPending(ctx, ErrRemoved)
			if err := a.store.Delete(); err != nil {
				a.log.Error("cannot delete the data of a removed member", slog.Any("error", err))
			}
			a.log.Warn("this member was removed from the ring; stopping")
			a.stop(ctx, ErrRemoved)
			return
		}
		// Callbacks may have caused more effects (a Reply does not, but a
		// payload change invalidates the gossip cache only); loop until none.
		if !a.core.hasEffects() {
			return
		}
	}
}

func (a *ringActor[P]) respondOp(ctx actor.Context, err error) {
	a.apply(ctx)
	if err == nil && a.pending.ringDirty {
		// The change is applied here but the ring file could not be
		// written: the caller must not read it as done.
		err = fmt.Errorf("%w: the ring file of %s could not be written", ErrNotDurable, a.store)
	}
	a.boundary.respond(ctx, opReply(err))
}

// respondStopped answers a request to a ring actor that is stopping with
// err (ErrStopped when nil).
func (a *ringActor[P]) respondStopped(ctx actor.Context, err error) {
	if err == nil {
		err = ErrStopped
	}
	switch msg := ctx.Message().(type) {
	case *callEnvelope:
		if msg.reply != nil {
			answerLocal(msg.reply, &callReply{err: err})
			return
		}
		respond(ctx, &callReply{err: err})
	case *messages.Sealed:
		// Unsealed: a client takes an unsealed answer that says why
		// not, never one that says ok.
		if answer := errorAnswer(msg.GetType(), err); answer != nil {
			respond(ctx, answer)
		}
	case proto.Message:
		if answer := errorAnswer(string(msg.ProtoReflect().Descriptor().FullName()), err); answer != nil {
			respond(ctx, answer)
		}
	}
}

// stop stops this member's ring actor; Terminate gets reason.
func (a *ringActor[P]) stop(ctx actor.Context, reason error) {
	if a.stopReason == nil {
		a.stopReason = reason
	}
	ctx.Stop(ctx.Self())
}

func (a *ringActor[P]) cancelTimers() {
	if a.timers != nil {
		a.timers.stop()
	}
	if a.transport != nil {
		a.transport.stop()
	}
	a.stopSeeds()
	a.metrics.stop()
}

func (a *ringActor[P]) terminate(ctx actor.Context) {
	a.cancelTimers()
	defer a.closeStore()
	if a.terminated || a.core == nil {
		return
	}
	a.terminated = true
	if !a.synced() || len(a.pending.held) > 0 {
		a.commit(ctx) // the last batch: its callers are waiting
	}
	for id := range a.pending.ackWaits {
		a.releaseAcked(ctx, id, true)
	}
	reason := a.stopReason
	if reason == nil {
		reason = ErrStopped
	}
	for waiter := range a.joinWaiters.waiting {
		a.joinWaiters.answer(ctx, waiter, reason)
	}
	a.callback(ctx, "Terminate", func() { a.behaviour.Terminate(a.ctx, reason) })
}

// closeStore closes a store this actor opened (releasing the data
// directory's lock); a store passed with WithStore is the caller's.
func (a *ringActor[P]) closeStore() {
	if !a.ownsStore || a.store == nil {
		return
	}
	if closer, ok := a.store.(io.Closer); ok {
		if err := closer.Close(); err != nil {
			a.log.Warn("cannot close the store", slog.Any("error", err))
		}
	}
	a.ownsStore = false
}

// mergeEncoded and encode make the actor the core's payloadState.
func (a *ringActor[P]) mergeEncoded(data []byte) (bool, error) {
	remote := newPayload[P]()
	if err := remote.UnmarshalBinary(data); err != nil {
		return false, err
	}
	if err := checkClock(remote, time.Now(), a.cfg.MaxClockSkew); err != nil {
		return false, err
	}
	changed := a.view.payload.Merge(remote)
	if changed {
		a.size.growth += len(data) // at most what the merge added
	}
	return changed, nil
}

func (a *ringActor[P]) encode() ([]byte, error) {
	data, err := a.view.payload.MarshalBinary()
	if err == nil {
		a.size.measured(len(data))
	}
	return data, err
}

func respond(ctx actor.Context, msg any) {
	if ctx.Sender() != nil {
		ctx.Respond(msg)
	}
}

func stopReason(text string) error {
	if text == "" {
		return ErrStopped
	}
	return fmt.Errorf("%w: %s", ErrStopped, text)
}

// validateRingName checks that name can be an actor name and the name of
// the ring's data directory (persistence.DefaultDir).
func validateRingName(name string) error {
	switch {
	case name == "":
		return errors.New("ringactor: empty ring name")
	case name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("ringactor: ring name %q is not a directory name (no path separators, NUL, \".\" or \"..\")", name)
	}
	return nil
}
