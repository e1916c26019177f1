package ringactor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
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
	// TLS, when set, makes the remote speak mutual TLS with the ring's CA
	// (see TLSConfig): peers without a certificate of the CA cannot
	// connect, and a ring message whose sender is not named by its peer's
	// certificate is refused. Default nil: plaintext.
	TLS *TLSConfig
	// Keyring, when set, makes the remote speak mutual TLS with
	// certificates made from the ring keys (see KeyURIScheme): only a
	// process whose remote holds one of the keyring's keys can connect,
	// and every message between processes is encrypted and authenticated
	// by TLS. A ring started on this system with the same keyring
	// (WithKeyring) or with none then seals nothing itself, and a Client of
	// this system needs no keyring of its own: the keyring of the
	// transport covers them, at the cost of TLS rather than of a seal per
	// message. Keys rotate as the Keyring says (AddKey, UseKey, RemoveKey):
	// a new connection presents the primary key and accepts any key; a
	// connection made before a key's removal stays up until it closes.
	// Every member and client of the ring needs the same setting. Not with
	// TLS. Default nil.
	Keyring *Keyring
	// MaxMessageBytes bounds one message in both directions: the gRPC
	// server refuses a larger one it receives, and the dialer refuses to
	// send one (the send fails with a log line instead of the receiver
	// cutting the stream). Proto.Actor batches messages, so it bounds a
	// batch: it must exceed 12 chunks of a large state (Config.ChunkBytes,
	// the endpoint writer's batch). Default 4 MiB, gRPC's own receive
	// limit; every member of a ring must use the same value.
	MaxMessageBytes int
	// ServerOptions and DialOptions are added to the gRPC server and
	// dialer after the ones above.
	ServerOptions []grpc.ServerOption
	DialOptions   []grpc.DialOption
}

// DefaultMaxMessageBytes is the default of RemoteOptions.MaxMessageBytes.
const DefaultMaxMessageBytes = 4 << 20

// flowWindow is gRPC's flow-control window per stream and connection: the
// default 64 KiB (grown slowly by its bandwidth estimate) moves a chunked
// state of megabytes at a few MB/s over loopback.
const flowWindow = 4 << 20

// endpointWriterBatchSize bounds how many messages Proto.Actor's endpoint
// writer puts in one gRPC message; see RemoteConfig.
const endpointWriterBatchSize = 12

// DroppedUnknownMessages returns how many messages of a type this binary
// does not know were dropped by the remotes that RemoteConfig configured
// (RemoteGuardStats().UnknownTypes).
func DroppedUnknownMessages() uint64 { return guardStats.unknownTypes.Load() }

// RemoteConfig returns a Proto.Actor remote configuration fit for a ring
// member. It changes these defaults, each for a reason:
//
//   - EndpointWriterQueueSize and EndpointManagerQueueSize: small (see
//     RemoteOptions), not 1,000,000 preallocated slots per peer.
//   - MaxRetryCount 1: each failed connect cycle to a dead peer leaks
//     MaxRetryCount-1 gRPC connections, and 0 would disable the
//     endpoint-terminated event that tells watchers a peer is gone. The
//     ring retries on its own (rejoin gossip), so one attempt is enough.
//   - A gRPC stream interceptor, the receive guard, that drops, with a
//     rate-limited log line, any message whose protobuf type this binary
//     does not know (this Proto.Actor version panics on one, killing the
//     process) and the messages to a ring actor that the ring's boundary
//     refuses (guard.go), and recovers any other panic in the receive
//     path.
//   - A maximum message size in both directions (MaxMessageBytes) and, with
//     TLS or a Keyring, mutual TLS credentials on the server and the dialer.
//
// It panics if the TLS files cannot be loaded; StartActorSystem returns
// that as an error.
//   - A keepalive enforcement policy that lets peers ping without a stream:
//     the gRPC default cuts off a peer that sends keepalives ("too many
//     pings").
func RemoteConfig(opts RemoteOptions) *remote.Config {
	cfg, _, err := remoteConfig(opts)
	if err != nil {
		panic(err)
	}
	return cfg
}

// remoteConfig is RemoteConfig; it also returns where the remote's TLS
// finds its certificates (nil without TLS or a keyring).
func remoteConfig(opts RemoteOptions) (*remote.Config, certSource, error) {
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
	maxBytes := opts.MaxMessageBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	server := []grpc.ServerOption{
		grpc.ChainStreamInterceptor(guardStream(log)),
		grpc.InitialWindowSize(flowWindow), grpc.InitialConnWindowSize(flowWindow),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(maxBytes),
	}
	dial := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxBytes), grpc.MaxCallRecvMsgSize(maxBytes)),
		grpc.WithInitialWindowSize(flowWindow), grpc.WithInitialConnWindowSize(flowWindow),
	}
	var source certSource
	var err error
	switch {
	case opts.TLS != nil && opts.Keyring != nil:
		return nil, nil, errors.New("ringactor: RemoteOptions: set TLS or Keyring, not both")
	case opts.TLS != nil:
		source, err = newTLSFiles(*opts.TLS, log)
	case opts.Keyring != nil:
		source, err = newKeyCerts(opts.Keyring)
	}
	if err != nil {
		return nil, nil, err
	}
	if source != nil {
		server = append(server, grpc.Creds(credentials.NewTLS(serverTLS(source))))
		dial = append(dial, grpc.WithTransportCredentials(recordingCredentials{credentials.NewTLS(clientTLS(source))}))
	} else {
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	server = append(server, opts.ServerOptions...)
	dial = append(dial, opts.DialOptions...)
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
	options = append(options, remote.WithDialOptions(dial...))
	cfg := remote.Configure(opts.Host, opts.Port, options...)
	cfg.MaxRetryCount = 1
	return cfg, source, nil
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
	cfg, source, err := remoteConfig(opts)
	if err != nil {
		return nil, nil, err
	}
	system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	r = remote.NewRemote(system, cfg)
	defer func() {
		// Remote.Start panics when it cannot listen.
		if p := recover(); p != nil {
			system.Shutdown()
			err = fmt.Errorf("ringactor: start remote on %s:%d: %v", opts.Host, opts.Port, p)
		}
	}()
	if source != nil {
		tlsSystems.Store(system, source)
	}
	if opts.MaxMessageBytes > 0 {
		messageLimits.Store(system, opts.MaxMessageBytes)
	}
	r.Start()
	return system, r, nil
}

func defaultSystemLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// guardStream wraps the remote's receive stream: it screens each received
// batch (guard.go) and recovers a panic of the handler.
func guardStream(log *slog.Logger) grpc.StreamServerInterceptor {
	drops := newDropLog(log)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("recovered a panic in the remote's receive path", slog.Any("panic", p), slog.String("method", info.FullMethod))
				err = status.Errorf(codes.Internal, "receive panicked: %v", p)
			}
		}()
		return handler(srv, &filteringStream{ServerStream: ss, drops: drops, peer: streamPeer{identity: identityOf(ss.Context())}})
	}
}

// filteringStream screens each received batch before Proto.Actor
// deserializes it, and remembers the address the peer's connect request
// claims.
type filteringStream struct {
	grpc.ServerStream
	drops *dropLog
	peer  streamPeer
}

func (s *filteringStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	msg, ok := m.(*remote.RemoteMessage)
	if !ok {
		return nil
	}
	if batch := msg.GetMessageBatch(); batch != nil {
		screenBatch(batch, &s.peer, s.drops)
	} else if connect := msg.GetConnectRequest().GetServerConnection(); connect != nil && s.peer.claimed == "" {
		// The first connect request names the peer for the stream's life:
		// a second one must not rename it.
		s.peer.claimed = connect.GetAddress()
	}
	return nil
}

// stderr is where the default logger writes.
var stderr io.Writer = os.Stderr
