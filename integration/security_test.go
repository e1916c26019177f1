package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/ringactor"
)

// The hostile-peer suite: a ring of three member processes, and the test
// process as an outsider that tries what the security issue's table lists.
// Each attempt must change nothing (every member keeps its value, its node
// set, its up set and its ring file) and show in a member's log. The test
// process runs one Proto.Actor remote at most (gRPC's global logger).

// secured makes a member listen on node with the ring key and mTLS.
func secured(node string, tlsConfig ringactor.TLSConfig, keyFile string) memberOption {
	return func(m *member) {
		m.listen = node
		m.extra = []string{"-key-file", keyFile, "-tls-ca", tlsConfig.CAFile, "-tls-cert", tlsConfig.CertFile, "-tls-key", tlsConfig.KeyFile}
	}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// outsiderStream is a bare gRPC stream to a member's remote, the way any
// process that reaches the port can send Proto.Actor batches.
type outsiderStream struct{ stream remote.Remoting_ReceiveClient }

func dialOutsider(t *testing.T, node, claimed string, opt grpc.DialOption) *outsiderStream {
	t.Helper()
	conn, err := grpc.Dial(node, opt)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	stream, err := remote.NewRemotingClient(conn).Receive(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "outsider", Address: claimed}},
	}}}))
	_, err = stream.Recv()
	require.NoError(t, err)
	return &outsiderStream{stream: stream}
}

func (o *outsiderStream) send(t *testing.T, target *actor.PID, msgs ...proto.Message) {
	t.Helper()
	batch := &remote.MessageBatch{Targets: []*actor.PID{target}}
	for i, msg := range msgs {
		data, err := proto.Marshal(msg)
		require.NoError(t, err)
		batch.TypeNames = append(batch.TypeNames, string(msg.ProtoReflect().Descriptor().FullName()))
		batch.Envelopes = append(batch.Envelopes, &remote.MessageEnvelope{MessageData: data, TypeId: int32(i)})
	}
	require.NoError(t, o.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: batch}}))
}

func tlsDial(t *testing.T, cfg ringactor.TLSConfig) grpc.DialOption {
	t.Helper()
	caPEM, err := os.ReadFile(cfg.CAFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	pair, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	require.NoError(t, err)
	return grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}))
}

// refusals counts a member's log lines of refused input since mark.
func refusals(m *member, mark int) int {
	n := 0
	for _, line := range m.Lines()[mark:] {
		if line.Stderr && strings.Contains(line.Text, "refused") {
			n++
		}
	}
	return n
}

// requireUnchanged checks that every member kept its value, node set, up
// set and ring file, and that no ring stopped.
func requireUnchanged(t *testing.T, value int64, members ...*member) {
	t.Helper()
	everyone := addrs(members...)
	for _, m := range members {
		assert.Equal(t, value, m.value(), "%s's value", m.name)
		assert.Equal(t, everyone, m.nodes("all"), "%s's node set", m.name)
		assert.Equal(t, everyone, m.nodes("up"), "%s's up set", m.name)
		assert.FileExists(t, filepath.Join(m.data, "ring.pb"))
		for _, e := range m.Events() {
			assert.NotEqual(t, "terminated", e.Event, "%s's ring stopped: %s", m.name, e)
		}
	}
}

func TestHostileOutsidersSecuredRing(t *testing.T) {
	c := newCluster(t)
	secrets := t.TempDir()
	nodes := []string{freeAddress(t), freeAddress(t), freeAddress(t)}
	tlsConfigs, err := ringactor.MakeCertificates(secrets, nodes, time.Hour)
	require.NoError(t, err)
	key, err := ringactor.GenerateKey()
	require.NoError(t, err)
	keyFile := filepath.Join(secrets, "ring.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(ringactor.EncodeKey(key)+"\n"), 0o600))
	a := c.start("a", secured(nodes[0], tlsConfigs[0], keyFile))
	b := c.start("b", secured(nodes[1], tlsConfigs[1], keyFile))
	x := c.start("x", secured(nodes[2], tlsConfigs[2], keyFile))
	members := []*member{a, b, x}
	formRing(t, a, b, x)
	a.inc(7)
	waitValue(t, 7, a, b, x)
	mark := len(a.Lines())

	// An admin certificate of the ring's CA, but no key.
	admin := ringactor.TLSConfig{CAFile: tlsConfigs[0].CAFile, CertFile: filepath.Join(secrets, "admin.pem"), KeyFile: filepath.Join(secrets, "admin-key.pem")}
	system, r, err := ringactor.StartActorSystem(ringactor.RemoteOptions{TLS: &admin, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { r.Shutdown(false); system.Shutdown() })
	noKey := ringactor.NewClient(system, a.Node, ringName)
	wrongKey, err := ringactor.GenerateKey()
	require.NoError(t, err)
	wrongRing, err := ringactor.NewKeyring(wrongKey)
	require.NoError(t, err)
	for _, client := range []*ringactor.Client{noKey, noKey.WithKeyring(wrongRing)} {
		for name, attempt := range map[string]func() error{
			"add":    func() error { return client.AddNode(context.Background(), "10.1.2.3:4") },
			"del":    func() error { return client.DelNode(context.Background(), b.Node) },
			"down":   func() error { return client.ForceDown(context.Background(), b.Node) },
			"undown": func() error { return client.UnforceDown(context.Background(), b.Node) },
			"stop":   func() error { return client.Stop(context.Background()) },
			"all":    func() error { _, err := client.All(context.Background()); return err },
			"call":   func() error { _, err := client.Call(t.Context(), wrapperspb.Int64(1)); return err },
		} {
			assert.ErrorIs(t, attempt(), ringactor.ErrKeyRequired, name)
		}
	}

	ring := func(m *member) *actor.PID { return actor.NewPID(m.Node, ringName) }
	// Proto.Actor's system messages, from a holder of a valid certificate.
	outsider := dialOutsider(t, a.Node, "127.0.0.1:1", tlsDial(t, admin))
	for _, m := range members {
		outsider.send(t, ring(m), &actor.Stop{}, &actor.PoisonPill{})
	}
	// x's own certificate, used to speak for b: a verdict that a is down,
	// a gossip, and b's death notice.
	liar := dialOutsider(t, a.Node, b.Node, tlsDial(t, tlsConfigs[2]))
	liar.send(t, ring(a),
		&messages.NodeDown{Ring: ringName, From: b.Node, Node: x.Node},
		&messages.Ping{Ring: ringName, From: b.Node, Seq: 1},
		&actor.Terminated{Who: ring(b)},
	)

	waitFor(t, "a logs the refusals", func() error {
		if refusals(a, mark) == 0 {
			return assert.AnError
		}
		return nil
	})
	// Nothing must happen now: watch for as long as it takes a member that
	// stopped answering to be seen down, then check.
	since := marks(members...)
	time.Sleep(hangBound + slack)
	for _, m := range members {
		for _, e := range m.Events()[since[m]:] {
			assert.NotEqual(t, "nodedown", e.Fields["reason"], "%s: %s", m.name, e)
		}
	}
	requireUnchanged(t, 7, members...)
	t.Logf("a logged %d refusals (rate-limited, one per reason per second)", refusals(a, mark))

	// The members serve a holder of the key.
	keyring, err := ringactor.NewKeyring(key)
	require.NoError(t, err)
	all, err := noKey.WithKeyring(keyring).All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, addrs(members...), all)
}

// With security off the guard still keeps Proto.Actor's system messages and
// other streams' Terminated notices away from the ring, but anyone who
// reaches a port changes the membership: the log of what an open ring
// allows.
func TestHostileOutsidersOpenRing(t *testing.T) {
	c := newCluster(t)
	a, b, x := c.start("a"), c.start("b"), c.start("x")
	members := []*member{a, b, x}
	formRing(t, a, b, x)
	a.inc(3)
	waitValue(t, 3, a, b, x)

	ring := func(m *member) *actor.PID { return actor.NewPID(m.Node, ringName) }
	plain := grpc.WithTransportCredentials(insecure.NewCredentials())
	outsider := dialOutsider(t, a.Node, "127.0.0.1:1", plain)
	for _, m := range members {
		outsider.send(t, ring(m), &actor.Stop{}, &actor.PoisonPill{})
	}
	outsider.send(t, ring(a), &actor.Terminated{Who: ring(b)})
	waitFor(t, "a logs the refusals", func() error {
		if refusals(a, 0) == 0 {
			return assert.AnError
		}
		return nil
	})
	requireUnchanged(t, 3, members...)

	fake := freeAddress(t)
	outsider.send(t, ring(a), &messages.AddNode{Node: fake})
	waitFor(t, "the outsider's node is in the ring", func() error {
		if !slices.Contains(a.nodes("all"), fake) {
			return assert.AnError
		}
		return nil
	})
	t.Logf("OPEN RING: an outsider added %s to the ring with one unauthenticated AddNode", fake)
}
