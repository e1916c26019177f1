package ringactor

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// testPKI is a ring's CA with helpers to issue certificates into files.
type testPKI struct {
	t   *testing.T
	dir string
	ca  *CertificateAuthority
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := NewCertificateAuthority("test CA", time.Hour)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), ca.PEM, 0o644))
	return &testPKI{t: t, dir: dir, ca: ca}
}

// issue writes a certificate for nodes (exact) and hosts (any port).
func (p *testPKI) issue(name string, nodes, hosts []string, notBefore time.Time, validFor time.Duration) TLSConfig {
	p.t.Helper()
	certPEM, keyPEM, err := p.ca.Issue(name, nodes, hosts, notBefore, validFor)
	require.NoError(p.t, err)
	cfg := TLSConfig{CAFile: filepath.Join(p.dir, "ca.pem"), CertFile: filepath.Join(p.dir, name+".pem"), KeyFile: filepath.Join(p.dir, name+"-key.pem")}
	require.NoError(p.t, writeFiles(cfg.CertFile, certPEM, cfg.KeyFile, keyPEM))
	return cfg
}

func (p *testPKI) member(name, node string) TLSConfig {
	return p.issue(name, []string{node}, nil, time.Now().Add(-time.Minute), time.Hour)
}

// dialOptions makes an outsider's dial credentials from cfg, trusting
// the member's CA (caFile).
func dialOptions(t *testing.T, caFile string, cert *TLSConfig) grpc.DialOption {
	t.Helper()
	caPEM, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if cert != nil {
		pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{pair}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

// tlsRing is a member with mTLS, in a guarded peer process (its remote
// speaks mTLS, the test process's shared remote does not), and a fake peer,
// also with mTLS, in its up set.
type tlsRing struct {
	pki     *testPKI
	ring    string
	member  *guardedPeer
	peer    *fakePeer
	peerTLS TLSConfig
}

func startTLSRing(t *testing.T, name string) *tlsRing {
	t.Helper()
	pki := newTestPKI(t)
	node, peerNode := closedAddress(t), closedAddress(t)
	memberTLS, peerTLS := pki.member("member", node), pki.member("peer", peerNode)
	ring := uniqueRing(name)
	m := startGuardedPeer(t, guardedSpec{Ring: ring, Port: portOf(t, node), TLS: &memberTLS})
	require.Equal(t, node, m.node)
	files, err := newTLSFiles(peerTLS, quietLogger())
	require.NoError(t, err)
	peer := startFakePeerOn(t, peerNode, grpc.Creds(credentials.NewTLS(serverTLS(files))))
	require.Empty(t, m.request(t, "add "+peer.addr))
	require.Eventually(t, func() bool { return len(m.state(t).Up) == 2 }, waitFor, tick)
	return &tlsRing{pki: pki, ring: ring, member: m, peer: peer, peerTLS: peerTLS}
}

func TestMutualTLSRefusesPeersWithoutAValidCertificate(t *testing.T) {
	r := startTLSRing(t, "mtls")
	node := r.member.node
	foreign := newTestPKI(t)
	expired := r.pki.issue("expired", []string{"127.0.0.1:1"}, nil, time.Now().Add(-2*time.Hour), time.Hour)
	foreignCert := foreign.member("foreign", "127.0.0.1:1")
	for name, opt := range map[string]grpc.DialOption{
		"no certificate":      dialOptions(t, filepath.Join(r.pki.dir, "ca.pem"), nil),
		"foreign CA":          dialOptions(t, filepath.Join(r.pki.dir, "ca.pem"), &foreignCert),
		"expired certificate": dialOptions(t, filepath.Join(r.pki.dir, "ca.pem"), &expired),
	} {
		t.Run(name, func(t *testing.T) {
			// dialRaw reads the connect response: TLS 1.3 reports a
			// refused client certificate on that first read, not in the
			// handshake. A stream that gets its response was accepted.
			_, err := dialRaw(t, node, "127.0.0.1:1", opt)
			require.Error(t, err)
		})
	}
	_, err := dialRaw(t, node, "127.0.0.1:1")
	require.Error(t, err, "plaintext")
	r.member.requireIntact(t, []string{node, r.peer.addr}, 0)
}

// A member with a valid certificate for its own address speaks for no
// other: its messages claiming another member's address, and its
// Terminated notices about another member, are refused.
func TestMutualTLSRefusesAnotherMembersAddress(t *testing.T) {
	r := startTLSRing(t, "mtls-claim")
	m := r.member
	ring := actor.NewPID(m.node, r.ring)
	otherNode := "127.0.0.1:1"
	other := r.pki.member("other", otherNode)
	stream, err := dialRaw(t, m.node, r.peer.addr, dialOptions(t, other.CAFile, &other))
	require.NoError(t, err)

	before := m.state(t).Guard
	stream.send(t, ring,
		&messages.NodeDown{Ring: r.ring, From: r.peer.addr, Node: m.node},
		&messages.Gossip{Ring: r.ring, From: r.peer.addr, NodeSet: fakeNodes(t, 3)},
		&actor.Terminated{Who: actor.NewPID(r.peer.addr, r.ring)},
	)
	require.Eventually(t, func() bool {
		now := m.state(t).Guard
		return now.ForgedFrom == before.ForgedFrom+2 && now.Terminated == before.Terminated+1
	}, waitFor, tick)
	state := m.requireIntact(t, []string{m.node, r.peer.addr}, 0)
	assert.Len(t, state.Up, 2)

	// The peer's own certificate vouches for its Terminated.
	own, err := dialRaw(t, m.node, r.peer.addr, dialOptions(t, r.peerTLS.CAFile, &r.peerTLS))
	require.NoError(t, err)
	own.send(t, ring, &actor.Terminated{Who: actor.NewPID(r.peer.addr, r.ring)})
	require.Eventually(t, func() bool { return len(m.state(t).Up) == 1 }, waitFor, tick)
}

// A Client in another process: with an admin certificate of the ring's CA
// it is served; with one of another CA it gets ErrHandshake, not "member
// gone".
func TestMutualTLSClient(t *testing.T) {
	r := startTLSRing(t, "mtls-client")
	admin := r.pki.issue("admin", nil, []string{"127.0.0.1"}, time.Now().Add(-time.Minute), time.Hour)
	outcomes := runClientProcess(t, clientSpec{Node: r.member.node, Ring: r.ring, TLS: &admin, Ops: []string{"all", "call"}})
	assert.Equal(t, []string{"ok", "ok"}, outcomes)

	foreign := newTestPKI(t).issue("admin", nil, []string{"127.0.0.1"}, time.Now().Add(-time.Minute), time.Hour)
	outcomes = runClientProcess(t, clientSpec{Node: r.member.node, Ring: r.ring, TLS: &foreign, Ops: []string{"all"}})
	require.Len(t, outcomes, 1)
	assert.Contains(t, outcomes[0], "ErrHandshake: ringactor: TLS handshake failed with "+r.member.node)
	assert.Contains(t, outcomes[0], "certificate signed by unknown authority")

	// The client trusts the ring's CA, but the member does not trust the
	// client's certificate: the member's refusal reaches the client as an
	// alert after its side of the handshake.
	foreign.CAFile = admin.CAFile
	outcomes = runClientProcess(t, clientSpec{Node: r.member.node, Ring: r.ring, TLS: &foreign, Ops: []string{"all"}})
	require.Len(t, outcomes, 1)
	assert.Contains(t, outcomes[0], "ErrHandshake: ringactor: TLS handshake failed with "+r.member.node)
	assert.Equal(t, int64(1), r.member.state(t).Value)
}

// A member's certificate is read again when its file changes: the next
// handshake presents the new one, with no restart.
func TestMutualTLSReloadsCertificates(t *testing.T) {
	r := startTLSRing(t, "mtls-reload")
	memberTLS := TLSConfig{CAFile: filepath.Join(r.pki.dir, "ca.pem"), CertFile: filepath.Join(r.pki.dir, "member.pem"), KeyFile: filepath.Join(r.pki.dir, "member-key.pem")}
	serial := func() []byte {
		pair, err := tls.LoadX509KeyPair(r.peerTLS.CertFile, r.peerTLS.KeyFile)
		require.NoError(t, err)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(r.pki.ca.PEM)
		conn, err := tls.Dial("tcp", r.member.node, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13})
		require.NoError(t, err)
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Bytes()
	}
	first := serial()
	// Renew: a new certificate for the same node, written over the old.
	renewed := r.pki.member("member", r.member.node)
	require.Equal(t, memberTLS, renewed)
	require.Eventually(t, func() bool { return !bytes.Equal(serial(), first) }, waitFor, 100*time.Millisecond)
	r.member.requireIntact(t, []string{r.member.node, r.peer.addr}, 0)
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// One warning for a ring with neither key nor mTLS; none with a key. (Both
// rings on the shared remote, which has no mTLS.)
func TestOpenRingWarnsOnce(t *testing.T) {
	system := sharedRemote(t)
	var open, keyed syncBuffer
	start := func(name string, more ...Option) {
		opts := append(append([]Option{WithStore(persistence.NewMemoryStore())}, secureTestOptions...), more...)
		client, err := Start[*crdt.PNCounter](system, uniqueRing(name), &counterBehaviour{}, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, system.Root.StopFuture(client.PID()).Wait()) })
	}
	start("warn-open", WithLogger(slogTo(&open)))
	start("warn-keyed", WithLogger(slogTo(&keyed)), WithKeyring(testKeyring(t, testKey(t))))
	assert.Equal(t, 1, strings.Count(open.String(), "the ring is open"))
	assert.NotContains(t, keyed.String(), "the ring is open")
}

func TestCertificateIdentity(t *testing.T) {
	ca, err := NewCertificateAuthority("ca", time.Hour)
	require.NoError(t, err)
	identity := func(nodes, hosts []string) *peerIdentity {
		certPEM, _, err := ca.Issue("x", nodes, hosts, time.Now(), time.Hour)
		require.NoError(t, err)
		block, _ := pem.Decode(certPEM)
		cert, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		return certificateIdentity(cert)
	}
	member := identity([]string{"127.0.0.1:7001"}, nil)
	assert.True(t, member.covers("127.0.0.1:7001"))
	assert.False(t, member.covers("127.0.0.1:7002"), "a member speaks for its own address only")
	admin := identity(nil, []string{"127.0.0.1"})
	assert.False(t, admin.covers("127.0.0.1:7001"), "an admin speaks for no member")
	assert.Equal(t, "admin", admin.String())
	hostOnly := &peerIdentity{hosts: []string{"node-a.example"}}
	assert.True(t, hostOnly.covers("NODE-A.example:7001"), "a certificate of another CA's making: any port of its host")
	assert.False(t, hostOnly.covers("node-b.example:7001"))
}
