package ringactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// The security tests keep to one Proto.Actor remote per process (each
// Remote.Start writes gRPC's global logger, a data race under -race once
// another remote runs): the member under attack runs on the test process's
// shared remote (sharedRemote) when the remote's defaults suit it, or in a
// guarded peer process (startGuardedPeer) when it needs a remote of its own
// (mTLS, a message size limit); the outsiders are bare gRPC streams
// (rawStream, fakePeer), which start no remote, or, when they need
// Proto.Actor's Client, a child process (runClientProcess).

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// secureTestOptions keep fake peers up: their probes never time out within
// a test, so only what the test sends changes the up set.
var secureTestOptions = []Option{
	WithGossipInterval(50 * time.Millisecond),
	WithProbe(time.Hour, time.Hour),
	WithRejoinInterval(100 * time.Millisecond),
	WithInitTimeout(100 * time.Millisecond),
	WithRequestTimeout(3 * time.Second),
}

// startGuardedMember starts the member under attack, a member of ring on
// the shared remote with secureTestOptions; it stops at the end of the
// test. ring must be unique in the process (uniqueRing): the remote, and
// the guard's registry of ring names, outlive the test.
func startGuardedMember(t *testing.T, ring string, opts ...Option) *member {
	t.Helper()
	system := sharedRemote(t)
	store := persistence.NewMemoryStore()
	b := &counterBehaviour{}
	all := append(append([]Option{WithStore(store), WithLogger(memberLogger(t, slog.LevelDebug))}, secureTestOptions...), opts...)
	client, err := Start[*crdt.PNCounter](system, ring, b, all...)
	require.NoError(t, err)
	var once sync.Once
	stop := func() {
		once.Do(func() { require.NoError(t, system.Root.StopFuture(client.PID()).Wait()) })
	}
	t.Cleanup(stop)
	return &member{system: system, client: client, behaviour: b, store: store, node: system.Address(), shutdown: stop}
}

// fakePeer is a node address where a bare gRPC Remoting server accepts a
// member's connections and discards what they carry: the member believes
// it up, and the test speaks for it over raw streams.
type fakePeer struct{ addr string }

type discardRemoting struct {
	remote.UnimplementedRemotingServer
}

func (discardRemoting) Receive(stream remote.Remoting_ReceiveServer) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return nil
		}
		if msg.GetConnectRequest() != nil {
			if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectResponse{ConnectResponse: &remote.ConnectResponse{}}}); err != nil {
				return nil
			}
		}
	}
}

func startFakePeer(t *testing.T, opts ...grpc.ServerOption) *fakePeer {
	t.Helper()
	return startFakePeerOn(t, "127.0.0.1:0", opts...)
}

func startFakePeerOn(t *testing.T, address string, opts ...grpc.ServerOption) *fakePeer {
	t.Helper()
	// The shared remote's write of gRPC's global logger must happen before
	// any gRPC use of this process reads it: started first, through its
	// sync.Once, it does, whichever test runs first.
	sharedRemote(t)
	l, err := net.Listen("tcp", address)
	require.NoError(t, err)
	server := grpc.NewServer(opts...)
	remote.RegisterRemotingServer(server, discardRemoting{})
	go func() { _ = server.Serve(l) }()
	t.Cleanup(server.Stop)
	return &fakePeer{addr: l.Addr().String()}
}

// rawStream is an outsider's stream to a member's remote, over which it
// sends hand-made batches, as any gRPC client can.
type rawStream struct {
	conn   *grpc.ClientConn
	stream remote.Remoting_ReceiveClient
}

// dialRaw opens a stream to address whose connect request claims to come
// from claimed.
func dialRaw(t *testing.T, address, claimed string, opts ...grpc.DialOption) (*rawStream, error) {
	t.Helper()
	sharedRemote(t) // see startFakePeerOn
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.Dial(address, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := remote.NewRemotingClient(conn).Receive(context.Background())
	if err != nil {
		return nil, err
	}
	connect := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "outsider", Address: claimed}},
	}}}
	if err := stream.Send(connect); err != nil {
		return nil, err
	}
	got := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		got <- err
	}()
	select {
	case err = <-got:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return &rawStream{conn: conn, stream: stream}, nil
}

// recv waits for what the member's remote sends on the stream next, and
// returns the error that ends the stream; an error too if the stream stays
// silent for waitFor (the stream is closed then).
func (r *rawStream) recv() error {
	got := make(chan error, 1)
	go func() {
		_, err := r.stream.Recv()
		got <- err
	}()
	select {
	case err := <-got:
		return err
	case <-time.After(waitFor):
		_ = r.conn.Close()
		return errors.New("the stream stayed open: nothing refused the message")
	}
}

// send sends msgs, in one batch, to target.
func (r *rawStream) send(t *testing.T, target *actor.PID, msgs ...proto.Message) {
	t.Helper()
	batch := &remote.MessageBatch{Targets: []*actor.PID{target}}
	for i, msg := range msgs {
		data, err := proto.Marshal(msg)
		require.NoError(t, err)
		batch.TypeNames = append(batch.TypeNames, string(msg.ProtoReflect().Descriptor().FullName()))
		batch.Envelopes = append(batch.Envelopes, &remote.MessageEnvelope{MessageData: data, TypeId: int32(i)})
	}
	require.NoError(t, r.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: batch}}))
}

// clientSpec tells a child process which requests to make, as whom.
type clientSpec struct {
	Node, Ring string
	Key        string     // base64; empty: no keyring
	TLS        *TLSConfig // nil: plaintext
	Ops        []string   // "add <node>", "all", "call", "stop"
}

// clientResult is the outcome of each op: "ok" or the error's text.
type clientResult struct{ Results []string }

const clientSpecEnv = "GENSERVERRING_TEST_CLIENT_SPEC"

// runClientProcess runs spec in a child process (this test binary) with its
// own actor system and remote, and returns each op's outcome.
func runClientProcess(t *testing.T, spec clientSpec) []string {
	t.Helper()
	data, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecurityClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), clientSpecEnv+"="+string(data))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "client process: %s", out)
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "CLIENT RESULT "); ok {
			var result clientResult
			require.NoError(t, json.Unmarshal([]byte(rest), &result))
			return result.Results
		}
	}
	t.Fatalf("client process printed no result: %s", out)
	return nil
}

// TestSecurityClientProcess is the child of runClientProcess: it does
// nothing when run as a test.
func TestSecurityClientProcess(t *testing.T) {
	raw := os.Getenv(clientSpecEnv)
	if raw == "" {
		t.Skip("run by runClientProcess only")
	}
	var spec clientSpec
	require.NoError(t, json.Unmarshal([]byte(raw), &spec))
	system, r, err := StartActorSystem(RemoteOptions{TLS: spec.TLS, Logger: quietLogger()})
	require.NoError(t, err)
	defer func() {
		r.Shutdown(false)
		system.Shutdown()
	}()
	client := NewClient(system, spec.Node, spec.Ring).WithTimeout(3 * time.Second)
	if spec.Key != "" {
		keyring, err := ParseKeyring(spec.Key)
		require.NoError(t, err)
		client = client.WithKeyring(keyring)
	}
	var result clientResult
	for _, op := range spec.Ops {
		var err error
		detail := ""
		switch verb, arg, _ := strings.Cut(op, " "); verb {
		case "add":
			err = client.AddNode(context.Background(), arg)
		case "all":
			_, err = client.All(context.Background())
		case "call":
			_, err = client.Call(within(3*time.Second), wrapperspb.Int64(1))
		case "call-form":
			// "ok <type of the reply>" to a call of the form arg (see
			// callForms).
			var reply any
			if reply, err = client.Call(within(3*time.Second), callForms(t)[arg]); err == nil {
				detail = fmt.Sprintf(" %T", reply)
			}
		case "cast":
			err = client.Cast(wrapperspb.Int64(1))
		case "stop":
			err = client.Stop(context.Background())
		default:
			err = fmt.Errorf("unknown op %q", op)
		}
		outcome := "ok" + detail
		if err != nil {
			outcome = err.Error()
			if errors.Is(err, ErrKeyRequired) {
				outcome = "ErrKeyRequired: " + outcome
			}
			if errors.Is(err, ErrHandshake) {
				outcome = "ErrHandshake: " + outcome
			}
		}
		result.Results = append(result.Results, outcome)
	}
	data, err := json.Marshal(result)
	require.NoError(t, err)
	fmt.Printf("CLIENT RESULT %s\n", data)
}

// callForms are the calls whose messages or replies take another form on
// the wire than the user's message itself (see counterBehaviour).
func callForms(t *testing.T) map[string]proto.Message {
	return map[string]proto.Message{
		"nil":        wrapperspb.String("nil"),
		"call-reply": wrapperspb.String("call-reply"),
		"nodes":      &messages.Nodes{Nodes: []string{"a call, not a request"}},
		"get-up":     &messages.GetUp{},
		"unknown":    unknownMessage(t),
	}
}

func portOf(t *testing.T, node string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(node)
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return n
}
