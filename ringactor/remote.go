package ringactor

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// RemoteOptions configures the Proto.Actor remote of a ring member. The
// zero value listens on a free port of 127.0.0.1 with the settings below.
type RemoteOptions struct {
	// Host and Port to listen on; Port 0 takes a free port (read it back
	// with system.Address()). Default host 127.0.0.1.
	Host string
	Port int
	// AdvertisedHost is the host:port other members reach this one at,
	// when it differs from the listening address (NAT, containers).
	AdvertisedHost string
	// Logger is the actor system's logger. Default: warnings and errors to
	// stderr as text. Proto.Actor's default writes coloured Info lines for
	// every connection, which drown a ring's own log.
	Logger *slog.Logger
	// EndpointWriterQueueSize bounds the messages queued for one peer.
	// Proto.Actor's default preallocates 1,000,000 slots, about 16 MB of
	// heap per peer: a ring of 64 members would spend 1 GB on queues.
	// Gossip and probes send a few messages per second, so the default
	// here is 1024.
	EndpointWriterQueueSize int
	// ServerOptions and DialOptions are added to the gRPC server and
	// dialer, e.g. credentials for mTLS. Without DialOptions the
	// connection is plaintext.
	ServerOptions []grpc.ServerOption
	DialOptions   []grpc.DialOption
}

// flowWindow is gRPC's flow-control window per stream and connection: the
// default 64 KiB (grown slowly by its bandwidth estimate) moves a chunked
// state of megabytes at a few MB/s over loopback.
const flowWindow = 4 << 20

// endpointWriterBatchSize bounds how many messages Proto.Actor's endpoint
// writer puts in one gRPC message; see RemoteConfig.
const endpointWriterBatchSize = 12

// droppedUnknown counts remote messages dropped because their type is not
// linked into this binary (see guardStream).
var droppedUnknown atomic.Uint64

// DroppedUnknownMessages returns how many messages of a type this binary
// does not know were dropped by the remotes that RemoteConfig configured.
func DroppedUnknownMessages() uint64 { return droppedUnknown.Load() }

// RemoteConfig returns a Proto.Actor remote configuration fit for a ring
// member. It changes these defaults, each for a reason:
//
//   - EndpointWriterQueueSize and EndpointManagerQueueSize: small (see
//     RemoteOptions), not 1,000,000 preallocated slots per peer.
//   - MaxRetryCount 1: each failed connect cycle to a dead peer leaks
//     MaxRetryCount-1 gRPC connections, and 0 would disable the
//     endpoint-terminated event that tells watchers a peer is gone. The
//     ring retries on its own (rejoin gossip), so one attempt is enough.
//   - A gRPC stream interceptor that drops, with a log line, any message
//     whose protobuf type this binary does not know (this Proto.Actor
//     version panics on one, killing the process), and recovers any other
//     panic in the receive path.
//   - A keepalive enforcement policy that lets peers ping without a stream:
//     the gRPC default cuts off a peer that sends keepalives ("too many
//     pings").
func RemoteConfig(opts RemoteOptions) *remote.Config {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	queue := opts.EndpointWriterQueueSize
	if queue <= 0 {
		queue = 1024
	}
	log := opts.Logger
	if log == nil {
		log = defaultSystemLogger()
	}
	server := append([]grpc.ServerOption{
		grpc.ChainStreamInterceptor(guardStream(log)),
		grpc.InitialWindowSize(flowWindow), grpc.InitialConnWindowSize(flowWindow),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}, opts.ServerOptions...)
	options := []remote.ConfigOption{
		// A batch of the endpoint writer is one gRPC message: 12 chunks of
		// a large state (Config.ChunkBytes, 256 KiB) stay below gRPC's
		// 4 MB limit; Proto.Actor's default of 1,000 would not.
		remote.WithEndpointWriterBatchSize(endpointWriterBatchSize),
		remote.WithEndpointWriterQueueSize(queue),
		remote.WithEndpointManagerQueueSize(queue),
		remote.WithServerOptions(server...),
	}
	if opts.AdvertisedHost != "" {
		options = append(options, remote.WithAdvertisedHost(opts.AdvertisedHost))
	}
	dial := append([]grpc.DialOption{grpc.WithInitialWindowSize(flowWindow), grpc.WithInitialConnWindowSize(flowWindow)}, opts.DialOptions...)
	if len(opts.DialOptions) == 0 {
		// Proto.Actor dials without transport security when it is given no
		// dial options; with options of ours it needs to be told.
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	options = append(options, remote.WithDialOptions(dial...))
	cfg := remote.Configure(opts.Host, opts.Port, options...)
	cfg.MaxRetryCount = 1
	return cfg
}

// StartActorSystem starts an actor system with a remote configured by
// RemoteConfig and returns both. Stop them with remote.Shutdown and
// system.Shutdown (or just let the process end).
func StartActorSystem(opts RemoteOptions) (system *actor.ActorSystem, r *remote.Remote, err error) {
	log := opts.Logger
	if log == nil {
		log = defaultSystemLogger()
		opts.Logger = log
	}
	system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	r = remote.NewRemote(system, RemoteConfig(opts))
	defer func() {
		// Remote.Start panics when it cannot listen.
		if p := recover(); p != nil {
			system.Shutdown()
			err = fmt.Errorf("ringactor: start remote on %s:%d: %v", opts.Host, opts.Port, p)
		}
	}()
	r.Start()
	return system, r, nil
}

func defaultSystemLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// guardStream wraps the remote's receive stream: it filters each received
// batch and recovers a panic of the handler.
func guardStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("recovered a panic in the remote's receive path", slog.Any("panic", p), slog.String("method", info.FullMethod))
				err = status.Errorf(codes.Internal, "receive panicked: %v", p)
			}
		}()
		return handler(srv, &filteringStream{ServerStream: ss, log: log})
	}
}

// filteringStream drops the envelopes of unknown message types from each
// received batch before Proto.Actor deserializes them.
type filteringStream struct {
	grpc.ServerStream
	log *slog.Logger
}

func (s *filteringStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if msg, ok := m.(*remote.RemoteMessage); ok {
		if batch := msg.GetMessageBatch(); batch != nil {
			dropUnknownTypes(batch, s.log)
		}
	}
	return nil
}

func dropUnknownTypes(batch *remote.MessageBatch, log *slog.Logger) {
	known := make([]bool, len(batch.TypeNames))
	anyUnknown := false
	for i, name := range batch.TypeNames {
		_, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
		known[i] = err == nil
		anyUnknown = anyUnknown || !known[i]
	}
	if !anyUnknown {
		return
	}
	kept := batch.Envelopes[:0]
	for _, env := range batch.Envelopes {
		id := int(env.TypeId)
		if id >= 0 && id < len(known) && known[id] {
			kept = append(kept, env)
			continue
		}
		name := "<bad type id>"
		if id >= 0 && id < len(batch.TypeNames) {
			name = batch.TypeNames[id]
		}
		droppedUnknown.Add(1)
		log.Warn("dropped a remote message of a type this binary does not know", slog.String("type", name))
	}
	batch.Envelopes = kept
}

// stderr is where the default logger writes.
var stderr io.Writer = os.Stderr
