package ringactor

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// transport is how a ring actor reaches the ring actors of other nodes: it
// names this member's node, carries the ring's messages and watches, and
// tells which node a PID in a watch notice belongs to. The actor's own code
// never builds a PID from a node address.
//
// remoteTransport (transport_remote.go) is the one members use: node X's
// ring actor is actor.NewPID(X, ring) behind the actor system's remote. The
// package's tests use an in-process one instead (localnet_test.go), so that
// a whole ring runs in one actor system with no remote: Proto.Actor's
// Remote.Start writes gRPC's process-wide logger, a data race as soon as a
// second remote starts in the same process.
type transport interface {
	// self is this member's node address.
	self() string
	// start begins the transport's work with the member's logger.
	start(log *slog.Logger)
	// send carries msg to node's ring actor. It never blocks on the
	// network; a message that cannot be delivered is dropped (the ring's
	// protocol repairs losses). The caller took a unit of the node's
	// outbound credit for msg (outbound.go); a transport that drops msg
	// without handing it to Proto.Actor gives the unit back.
	send(ctx actor.Context, node string, msg proto.Message)
	// watch asks that the ring actor get an *actor.Terminated for node's
	// ring actor when it or the link to it goes (at once if it cannot be
	// reached).
	watch(ctx actor.Context, node string)
	// nodeOf returns the node whose ring actor pid is, and false for any
	// other PID.
	nodeOf(pid *actor.PID) (string, bool)
	// stop ends the transport's work; it may be called more than once.
	stop()
}

// transportSeam replaces, in tests, where a member lives and how it
// reaches the others (Config.seam). nil: the actor system's remote.
type transportSeam interface {
	// actorName is the name the member's ring actor is spawned under.
	actorName(ring string) string
	// transport returns the transport of the member's ring actor, which
	// gives back to credit what it drops (see transport.send).
	transport(system *actor.ActorSystem, ring string, cfg Config, credit *outboundCredit) transport
}

// newTransport returns the transport of a ring actor named ring on system,
// which gives back to credit what it drops (see transport.send).
func newTransport(system *actor.ActorSystem, ring string, cfg Config, credit *outboundCredit) transport {
	if cfg.seam != nil {
		return cfg.seam.transport(system, ring, cfg, credit)
	}
	return newRemoteTransport(system, ring, cfg.ProbeTimeout/2, credit)
}

// actorName is the name a member's ring actor is spawned under by Start:
// the ring's name, but in tests that run several members in one actor
// system.
func (c Config) actorName(ring string) string {
	if c.seam != nil {
		return c.seam.actorName(ring)
	}
	return ring
}
