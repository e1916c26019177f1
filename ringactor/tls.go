package ringactor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
)

// NodeURIScheme is the scheme of the URI SAN that names a member's node
// address in its certificate: genserverring-node://127.0.0.1:8001. A
// certificate with such names may speak for exactly those addresses; one
// without speaks for any port of its DNS and IP names, unless it is an
// admin's.
const NodeURIScheme = "genserverring-node"

// AdminURIScheme is the scheme of the URI SAN that marks an admin client's
// certificate (genserverring-admin://name): it may send requests, but
// speaks for no member, whatever its host names.
const AdminURIScheme = "genserverring-admin"

// TLSConfig makes a member's remote speak mutual TLS: it presents the
// member's certificate, and accepts only peers whose certificate the ring's
// CA signed. The files are PEM and are read again when they change (checked
// at most once a second, at a handshake), so certificates and the CA rotate
// without a restart; a file that fails to load keeps the last good one and
// logs why.
type TLSConfig struct {
	// CAFile holds the certificates of the CA(s) that sign members' and
	// admin clients' certificates. During a CA rotation it holds both.
	CAFile string
	// CertFile and KeyFile hold this member's certificate and key. The
	// certificate names the member's node address (a NodeURIScheme URI, or
	// the host as a DNS or IP name) and is valid for both server and client
	// authentication.
	CertFile, KeyFile string
}

// tlsFiles loads and reloads the files of a TLSConfig.
type tlsFiles struct {
	cfg TLSConfig
	log *slog.Logger

	mu       sync.Mutex
	checked  time.Time
	modified time.Time
	cert     *tls.Certificate
	pool     *x509.CertPool
}

func newTLSFiles(cfg TLSConfig, log *slog.Logger) (*tlsFiles, error) {
	f := &tlsFiles{cfg: cfg, log: log}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *tlsFiles) load() error {
	caPEM, err := os.ReadFile(f.cfg.CAFile)
	if err != nil {
		return fmt.Errorf("ringactor: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("ringactor: TLS CA: no PEM certificate in %s", f.cfg.CAFile)
	}
	cert, err := tls.LoadX509KeyPair(f.cfg.CertFile, f.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("ringactor: TLS certificate %s and key %s: %w", f.cfg.CertFile, f.cfg.KeyFile, err)
	}
	f.cert, f.pool = &cert, pool
	f.modified = f.lastModified()
	return nil
}

func (f *tlsFiles) lastModified() time.Time {
	var latest time.Time
	for _, name := range []string{f.cfg.CAFile, f.cfg.CertFile, f.cfg.KeyFile} {
		if info, err := os.Stat(name); err == nil && info.ModTime().After(latest) {
			latest = info.ModTime()
		}
	}
	return latest
}

// current returns the certificate and CA pool, reloading the files if one
// changed since the last look.
func (f *tlsFiles) current() (*tls.Certificate, *x509.CertPool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= time.Second {
		f.checked = now
		if !f.lastModified().Equal(f.modified) {
			if err := f.load(); err != nil {
				f.log.Error("cannot reload the TLS files; keeping the last good ones", slog.Any("error", err))
				f.modified = f.lastModified() // do not retry every handshake
			} else {
				f.log.Info("reloaded the TLS certificate and CA")
			}
		}
	}
	return f.cert, f.pool
}

// certSource is where a remote's TLS finds its certificate and the CAs it
// trusts, at each handshake, so that both may change while it runs: the
// files of a TLSConfig (tlsFiles) or a keyring's keys (keyCerts).
type certSource interface {
	current() (*tls.Certificate, *x509.CertPool)
	// checksServerName reports whether a client checks that the server's
	// certificate names the address it dialled. A keyring's certificates
	// name no address: holding a key is what they prove.
	checksServerName() bool
}

func (f *tlsFiles) checksServerName() bool { return true }

// serverTLS accepts only peers with a certificate of one of source's CAs.
func serverTLS(source certSource) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := source.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*cert},
				ClientCAs:    pool,
				ClientAuth:   tls.RequireAndVerifyClientCert,
			}, nil
		},
	}
}

// clientTLS verifies the server against source's current CA pool by hand
// (Go's own verification would fix the pool when the config is made, and
// the pool must follow the files or the keyring).
func clientTLS(source certSource) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // verified in VerifyConnection, against the current pool
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := source.current()
			return cert, nil
		},
		VerifyConnection: func(state tls.ConnectionState) error {
			_, pool := source.current()
			if len(state.PeerCertificates) == 0 {
				return errors.New("the member presented no certificate")
			}
			intermediates := x509.NewCertPool()
			for _, c := range state.PeerCertificates[1:] {
				intermediates.AddCert(c)
			}
			opts := x509.VerifyOptions{
				Roots: pool, Intermediates: intermediates,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			if source.checksServerName() {
				opts.DNSName = state.ServerName
			}
			_, err := state.PeerCertificates[0].Verify(opts)
			return err
		},
	}
}

// diagnoseTLS makes one TLS connection to address, as the remote's dialer
// would, and returns why it fails, if it does: the handshake, or the alert
// a TLS 1.3 server sends after it when it refuses the client's
// certificate. A server that accepts waits for the client to speak: the
// read times out, and diagnoseTLS returns nil.
func diagnoseTLS(source certSource, address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil
	}
	cfg := clientTLS(source)
	cfg.ServerName = host
	cfg.NextProtos = []string{"h2"}
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", address, cfg)
	if err != nil {
		var netErr *net.OpError
		if errors.As(err, &netErr) && netErr.Op == "dial" {
			return nil // nothing listens: the member is gone indeed
		}
		return fmt.Errorf("%w with %s: %v", ErrHandshake, address, err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != nil && strings.Contains(err.Error(), "remote error: tls:") {
		return fmt.Errorf("%w with %s: %v", ErrHandshake, address, err)
	}
	return nil
}

// handshakeErrors remembers the last failed handshake to each address, so
// a Client can say why a member is out of reach.
var handshakeErrors sync.Map // address -> handshakeFailure

type handshakeFailure struct {
	err error
	at  time.Time
}

// recentHandshakeError returns the error of a handshake to address that
// failed within the last 10 s, if any.
func recentHandshakeError(address string) error {
	v, ok := handshakeErrors.Load(address)
	if !ok {
		return nil
	}
	f := v.(handshakeFailure)
	if time.Since(f.at) > 10*time.Second {
		return nil
	}
	return f.err
}

// recordingCredentials wraps the dial credentials to remember why a
// handshake failed.
type recordingCredentials struct {
	credentials.TransportCredentials
}

func (c recordingCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		recordHandshakeError(authority, err)
		return out, info, err
	}
	return &alertRecordingConn{Conn: out, authority: authority}, info, nil
}

func recordHandshakeError(authority string, err error) {
	handshakeErrors.Store(authority, handshakeFailure{err: fmt.Errorf("%w with %s: %v", ErrHandshake, authority, err), at: time.Now()})
}

// alertRecordingConn records a TLS alert read after the handshake: in TLS
// 1.3 a server that refuses the client's certificate says so only after
// the client's side of the handshake has completed, on its first read. So
// the failure of an earlier attempt is forgotten only when the server has
// sent data, not when the client's side of a handshake succeeds.
type alertRecordingConn struct {
	net.Conn
	authority string
	accepted  atomic.Bool
}

func (c *alertRecordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	switch {
	case err != nil && strings.Contains(err.Error(), "remote error: tls:"):
		recordHandshakeError(c.authority, err)
	case n > 0 && !c.accepted.Swap(true):
		handshakeErrors.Delete(c.authority)
	}
	return n, err
}

func (c recordingCredentials) Clone() credentials.TransportCredentials {
	return recordingCredentials{c.TransportCredentials.Clone()}
}

// peerIdentity is what a peer's verified certificate lets it speak for.
type peerIdentity struct {
	nodes     []string // exact node addresses (NodeURIScheme URIs)
	hosts     []string // DNS names and IP addresses, any port
	admin     bool     // an admin client's: speaks for no member
	keyHolder bool     // a certificate made from a ring key: speaks for any member
}

// identityOf returns the identity of the peer of ctx's stream, nil when the
// stream is not TLS.
func identityOf(ctx context.Context) *peerIdentity {
	p, ok := grpcpeer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil
	}
	if len(info.State.PeerCertificates) == 0 {
		return &peerIdentity{} // covers nothing
	}
	return certificateIdentity(info.State.PeerCertificates[0])
}

func certificateIdentity(cert *x509.Certificate) *peerIdentity {
	id := &peerIdentity{}
	for _, u := range cert.URIs {
		switch u.Scheme {
		case AdminURIScheme:
			return &peerIdentity{admin: true}
		case KeyURIScheme:
			// Made from a ring key (keytls.go): a remote accepts one only
			// with a keyring, and its holder holds the key. With mTLS, a
			// CA that signs such a name lets its holder speak for anyone.
			return &peerIdentity{keyHolder: true}
		case NodeURIScheme:
			id.nodes = append(id.nodes, u.Host)
		}
	}
	id.hosts = append(id.hosts, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		id.hosts = append(id.hosts, ip.String())
	}
	return id
}

// covers reports whether the certificate speaks for node address addr.
func (id *peerIdentity) covers(addr string) bool {
	if id.keyHolder {
		return true
	}
	if len(id.nodes) > 0 {
		return slices.Contains(id.nodes, addr)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return slices.ContainsFunc(id.hosts, func(h string) bool { return strings.EqualFold(h, host) })
}

func (id *peerIdentity) String() string {
	if id.admin {
		return "admin"
	}
	if id.keyHolder {
		return "ring key holder"
	}
	return strings.Join(append(slices.Clone(id.nodes), id.hosts...), ",")
}

// NodeURI returns the URI SAN that names node in a member's certificate.
func NodeURI(node string) *url.URL { return &url.URL{Scheme: NodeURIScheme, Host: node} }
