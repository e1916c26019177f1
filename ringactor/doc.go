// Package ringactor is a distributed GenServer on Proto.Actor: each process
// of an application runs one ring actor under the same name, and together
// they form a ring with no master. The members share two things by gossip:
// the ring's membership (an OR-set of node addresses, persisted on disk) and
// a payload, a CRDT of the user's choice (package crdt). The user writes
// GenServer-style callbacks: Init, HandleCall, HandleCast, HandleInfo, plus
// HandleStateChange (gossip changed the payload) and HandleRingChange (the
// set of up members changed).
//
// # Starting a member
//
// A member needs an actor system with a remote: a node is a host:port
// address, and the ring actor on a node is actor.NewPID(node, ringName).
// StartActorSystem starts one configured for a ring (see RemoteConfig for
// why Proto.Actor's defaults do not fit). Then Start spawns the ring actor
// and returns a Client:
//
//	system, _, err := ringactor.StartActorSystem(ringactor.RemoteOptions{Host: "127.0.0.1", Port: 7001})
//	ring, err := ringactor.Start[*crdt.PNCounter](system, "counter", &Counter{},
//		ringactor.WithDataDir("data/counter"))
//	err = ring.AddNode(ctx, "127.0.0.1:7002") // join another member
//	v, err := ring.Call(ctx, "inc")
//
// Every Client method that waits takes a context.Context first and honours
// its deadline and cancellation; the client's own timeout (WithTimeout,
// 5 s by default) bounds a request under a context with no deadline, so a
// call to a hung member cannot wait for good by mistake.
//
// Inside an application that spawns its own actors, use Props with
// SpawnNamed(props, ringName) instead.
//
// # Callbacks
//
// A Behaviour[P] implements the callbacks for a payload type P, a CRDT
// such as *crdt.PNCounter; embed DefaultBehaviour[P] and write only
// what you need. Every callback runs on the ring actor's goroutine, one at
// a time: the behaviour's own fields and the payload need no locks. A
// callback must not block, because while it runs the member neither
// gossips nor answers probes, and the other members declare it down once
// it misses ProbeTimeout. Hand long work to a goroutine and send the result
// back with Cast, or answer the caller later with Reply.
//
//   - Init(ctx) (P, error): once, at start; returns the initial payload
//     (nil for an empty one).
//   - HandleCall(ctx, from, msg) CallResult: a Call, or a protobuf
//     message sent to the ring actor as a Proto.Actor request (how a Call
//     travels between processes). Return ReplyWith(v),
//     ReplyWithError(err), NoReply() (answer later with ctx.Reply(from, v)
//     or Reply), or StopWith(reason, v).
//   - HandleCast(ctx, msg): a Cast.
//   - HandleInfo(ctx, msg): any other message sent to the ring actor.
//   - HandleStateChange(ctx, payload): gossip from another member changed
//     the payload.
//   - HandleRingChange(ctx, change): the up set changed; change.Reason is
//     ReasonInit (start: the persisted members that answered), ReasonGossip,
//     ReasonNodeDown, ReasonRequest (AddNode, DelNode, ForceDown,
//     UnforceDown here) or ReasonRemoved (this member was removed; it stops
//     next).
//   - Terminate(ctx, reason): once, when the ring actor stops.
//
// Change the payload with ctx.Update, which hands the ring the change as a
// delta (the update methods of package crdt return one):
//
//	ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter {
//		return p.Increment(ctx.Replica(), 1)
//	})
//
// Read it with ctx.Payload(). A change made directly on the value Payload
// returns is neither durable nor pushed; it reaches the others only with
// anti-entropy, and a member that restarts with its replica ID may issue
// its dots again: always use Update.
//
// A callback that panics is recovered and logged with its stack; a pending
// call gets an error wrapping ErrCallbackPanic, Stats.CallbackPanics counts
// it, and the ring keeps its state and its persisted membership.
//
// # Talking to a member
//
// A Client reaches one member, in this process or another (NewClient):
// Call (with a timeout: ErrTimeout when no answer comes in time,
// ErrMemberGone when the member's ring actor does not exist), Cast, Send,
// AddNode, DelNode, All, Up, ForceDown, UnforceDown, Stop (every up member)
// and LocalStop (this member). Inside a process, calls and casts carry any
// Go value; to another process they must be protobuf messages, and so are
// the replies.
//
// Errors match with errors.Is wherever the member runs: ErrUnknownNode
// (DelNode, ForceDown), ErrSelf (ForceDown), ErrInvalidNode (AddNode),
// ErrUnhandledCall, ErrCallbackPanic, ErrNotProto, ErrStopped and the
// others of errors.go. A member's answer carries the text of its error and
// the codes of the sentinels the error wraps; the Client turns them into a
// *CallError that keeps the text and matches those sentinels. So a
// behaviour's own error reaches a caller in another process as a
// *CallError with its text, and one that wraps a sentinel of this package
// matches it there too.
//
// # The path of a change
//
// A change made by Update is recorded as a delta. With DurabilityDisk (the
// default) the deltas of every call waiting in the mailbox are appended to
// the member's payload log with one sync (group commit), and only then do
// their replies leave: a reply that says ok survives a crash, a power loss
// and a restart. A failed sync (a full or read-only disk) fails the calls
// that changed something with ErrNotDurable; calls that change nothing go
// on being answered, and no state leaves the member until its disk
// recovers. With WriteAcks (or ctx.SetWriteAcks) a call is answered only
// once that many other up members hold the change (ErrNotReplicated when
// fewer do in time). DurabilityNone keeps the payload in memory only.
//
// Then the batch's delta is pushed at once to PushFanout up members (the
// member's successor and random ones), who pass it on while it is news to
// them: a change reaches every member
// in a few network hops. Anti-entropy repairs what a push missed: a
// heartbeat carries a digest of its sender's state to its predecessor
// (each ProbeInterval), and a ping with it goes to a random member each
// GossipInterval;
// a receiver whose digest differs answers with its state, and the sender
// answers in turn if it holds what the receiver lacks (push-pull). State travels only where digests differ,
// so an idle ring's cost does not depend on the payload's size. A state
// larger than ChunkBytes travels in chunks, up to MaxStateBytes.
//
// Every message from another member is checked before it changes anything:
// gossip from a ring of another name, from a forced-down member, that fails
// to decode or exceeds the decoders' limits (crdt.Limits), or that carries
// a timestamp more than MaxClockSkew ahead, is dropped with a log line and
// counted in Stats.
//
// # Membership
//
// AddNode adds a node to the node set (and this member too, if no one had
// added it yet: a lone member is a ring of one). It first asks the node,
// with a join handshake, for its payload type and its own name: a node
// whose payload is of another type is refused with ErrPayloadMismatch
// (gossip of another type is dropped too, counted in
// Stats.PayloadMismatches and reported to HandleInfo as a
// PayloadMismatch), and a node is added under the name it gives itself,
// so that two spellings of one address are one member (addresses given
// by the user are normalized as NormalizeNode says). A node that does not
// answer in time is added as given, and is up once it answers. With
// Config.Seeds or Config.SeedDNS (a Kubernetes headless service) a member
// joins by itself, at start and, with backoff, as seeds come up, until
// another member is up for it. A member first heard of
// through gossip is presumed up and watched. DelNode removes a node; the
// removed member, told at once, deletes its ring file, calls
// HandleRingChange with ReasonRemoved and Terminate with ErrRemoved, and
// stops its ring actor; its process goes on. ForceDown makes every member
// ignore a node (no gossip to it, gossip from it dropped, out of the up
// set) until UnforceDown.
//
// # Failure detection
//
// A member's death is seen three ways. A process that ends or closes its
// connections is reported by Proto.Actor's remote watch within
// milliseconds. A process that hangs (stopped, or cut off by a partition)
// is found by heartbeats and probes: every ProbeInterval each member sends
// a heartbeat to its predecessor in the sorted up set, so each member is
// watched by one other, which pings it when a heartbeat is a quarter of
// ProbeInterval late; a ping
// unanswered after half of ProbeTimeout is retried through IndirectChecks other members,
// and one unanswered after ProbeTimeout gets its target declared down here.
// The verdict goes to every up member, which checks it with a ping of its
// own and takes the target down if that goes unanswered for half of
// ProbeTimeout: a member whose own pings were lost cannot bring a healthy
// one down elsewhere. So a hung member leaves every up set within
// 1.25 × ProbeInterval + 1.5 × ProbeTimeout (2.75 s with the defaults). A member seen down
// is back up once it answers a ping sent after it was seen down: any
// message from it triggers one, and every RejoinInterval each member
// gossips to one member it believes down, asking for an answer, so a
// partition heals on its own.
//
// # Persistence and recovery
//
// A member keeps its data in one directory (DataDir, by default
// persistence.DefaultDir(ring, node): ./data/<ring>/<node>/), locked so that
// no second member can use it: the ring file (node set, forced-down set and
// the member's replica ID, written atomically on every change) and, with
// DurabilityDisk, the payload's snapshot and log. On start the member loads
// them: a torn tail of the log (a crash in the middle of a write) is cut
// off with a log line; a snapshot or ring file that fails its checksum or
// version check makes Start fail with an error that names the file, and
// nothing is overwritten. A member whose data is intact keeps its replica
// ID, so version vectors and counters do not grow with restarts; one whose
// data is gone takes a new one. Then it pings the members of its persisted
// ring; those that answer within InitTimeout are up in the init notice, and
// anti-entropy brings it what changed while it was away. A ring file made
// by hand that does not list the member seeds a ring it joins.
//
// # Pruning
//
// Each replica ID that ever wrote has an entry in version vectors and
// counters. A member keeps its replica ID across restarts while its data is
// intact, but a member removed with DelNode, or one that lost its data or
// runs DurabilityNone (a new replica ID each life), leaves behind a replica
// that will never write again. With Config.Pruning (on by default) the ring
// folds those away, as Akka Distributed Data prunes removed nodes.
//
// Members send their replica ID with their digest, so each member knows
// every member's current replica and whether that member's state matched
// its own. A replica with entries in the payload that is no member's
// current one is retired. The lowest member of the node set decides: once
// a replica has been retired for PruneDelay, every member is up, and every
// member has since sent a digest equal to its own (so it holds everything
// of that replica that any member holds), it moves the replica's
// contribution into its own replica (crdt.Prunable.Prune). The decision
// takes the path of any change: logged, pushed, repaired by anti-entropy.
// It carries a mark, merged like the rest of the payload, that makes every
// member ignore the retired replica's entries from then on, so late gossip
// from before the pruning never brings them back. Counters keep their
// value.
//
// A member forgets a mark (crdt.Prunable.ForgetPruned) after PruneMarkTTL,
// once every member is up and holds it, and its gossip tells the others,
// who forget it too (a member that saw the mark late does not keep it).
// Members snapshot their payload when their marks change, so that no log
// record from before a pruning is replayed. After that, a state from
// before the pruning would count the retired replica twice: do not restore
// a data directory from a backup older than PruneMarkTTL, and start a
// member removed while it was down for longer with an empty one (its
// gossip, merged before it learns it was removed, would bring its old
// state back).
//
// Pruning needs a quiet moment: it waits while a member is down or forced
// down, and while writes keep members' digests apart. A member that writes
// after it was pruned (a removed member that had not learnt it yet, past
// PruneDelay) loses those writes. A payload type that is not crdt.Prunable
// (crdt.LWWRegister, or a type of your own) is never pruned: it holds a
// bounded number of replica IDs, or it is its own business.
//
// # Metrics
//
// A member reports through OpenTelemetry, on the MeterProvider of
// WithMeterProvider, else the actor system's (actor.WithMetricProviders),
// else otel.GetMeterProvider(). Every instrument has the attributes ring
// and node; the gauges and counters are observable:
//
//   - genserverring.members.known, genserverring.members.up: gauges
//     ({member}): the node set, and the members believed up.
//   - genserverring.gossip.messages ({message}) and genserverring.gossip.bytes
//     (By): counters, direction in or out, of the messages between
//     members.
//   - genserverring.merges ({merge}): states and deltas that changed the
//     payload.
//   - genserverring.drops ({message}): by reason (other_ring, forced_down,
//     malformed, payload_mismatch, unsealed, bad_seal, replayed,
//     forged_from, refused_request, too_large, oversized_send, busy,
//     payload_too_large, unanswered).
//   - genserverring.probes ({probe}): by outcome (ok, suspect, down).
//   - genserverring.persistence.errors ({error}): by op (sync, ring_file).
//   - genserverring.detection.time (s): histogram, from a member's last
//     answer to a probe to seeing it down.
//   - genserverring.persistence.sync.duration (s): histogram of the group
//     commit's sync.
//   - genserverring.call.duration (s): histogram, from a call's arrival at
//     the ring actor to its reply, the wait for durability included.
//
// The counters are those of Stats, copied to the metrics at every probe
// and gossip tick and up-set change, so they lag by at most one interval
// and cost the hot path nothing. Client.Stats reads all of Stats from a
// member in this process or another.
//
// # Configuration
//
// Config lists every setting with its default; DefaultConfig returns them
// and the With* options change them. Tests use short intervals.
package ringactor
