package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/genserverring/genserverring-go/ringactor"
)

// The ring's security settings the bench knows (-security). Each one but
// open is measured as a system of its own, "ring-key" and "ring-mtls",
// right after the open ring of the same N and repetition, with the same
// figures the cost of security shows in: the steady cost, dissemination
// and calls.
const (
	securityOpen = "open" // no key, plaintext: the "ring" system
	securityKey  = "key"  // a ring key: every ring message sealed (AES-GCM)
	securityMTLS = "mtls" // mutual TLS between members, certificates of a CA
	// securityKeyTLS: the ring key on the transport (RemoteOptions.Keyring),
	// mutual TLS with certificates made from the key; nothing sealed.
	securityKeyTLS = "keytls"
)

var knownSecurity = []string{securityOpen, securityKey, securityKeyTLS, securityMTLS}

// securitySystem names the system that measures the ring with setting.
func securitySystem(setting string) string {
	if setting == securityOpen {
		return systemRing
	}
	return systemRing + "-" + setting
}

// securitySetting is the setting the system named system measures, if it
// measures one but open.
func securitySetting(system string) (string, bool) {
	for _, setting := range knownSecurity {
		if setting != securityOpen && securitySystem(setting) == system {
			return setting, true
		}
	}
	return "", false
}

// ringSecurity is what a ring cluster needs for one setting: the ring's
// key, or a CA that issues each member a certificate naming its address.
type ringSecurity struct {
	setting string
	keyring *ringactor.Keyring
	ca      *ringactor.CertificateAuthority
	dir     string // where certificates are written
	issued  int
}

func newRingSecurity(setting, dataDir string) (*ringSecurity, error) {
	s := &ringSecurity{setting: setting}
	switch setting {
	case securityKey, securityKeyTLS:
		key, err := ringactor.GenerateKey()
		if err != nil {
			return nil, err
		}
		if s.keyring, err = ringactor.NewKeyring(key); err != nil {
			return nil, err
		}
	case securityMTLS:
		var err error
		if s.ca, err = ringactor.NewCertificateAuthority("bench CA", time.Hour); err != nil {
			return nil, err
		}
		if s.dir, err = os.MkdirTemp(dataDir, "certs-"); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(s.dir, "ca.pem"), s.ca.PEM, 0o644); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ringOptions are the ring options of the setting.
func (s *ringSecurity) ringOptions() []ringactor.Option {
	if s == nil || s.keyring == nil {
		return nil
	}
	return []ringactor.Option{ringactor.WithKeyring(s.keyring)}
}

// client returns c as the setting needs it to be heard: with the ring's
// key when there is one.
func (s *ringSecurity) client(c *ringactor.Client) *ringactor.Client {
	if s == nil || s.keyring == nil {
		return c
	}
	return c.WithKeyring(s.keyring)
}

// tlsFor issues a certificate for the member at node (host:port), signed by
// the CA, and returns its files.
func (s *ringSecurity) tlsFor(node string) (*ringactor.TLSConfig, error) {
	certPEM, keyPEM, err := s.ca.Issue(node, []string{node}, nil, time.Now().Add(-time.Minute), time.Hour)
	if err != nil {
		return nil, err
	}
	s.issued++
	base := filepath.Join(s.dir, fmt.Sprintf("member-%d", s.issued))
	cfg := &ringactor.TLSConfig{CAFile: filepath.Join(s.dir, "ca.pem"), CertFile: base + ".pem", KeyFile: base + "-key.pem"}
	if err := os.WriteFile(cfg.CertFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfg.KeyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	return cfg, nil
}

// startSystem starts a member's actor system for the cluster's setting.
// Open and key: plaintext, every connection counted by w (key seals
// messages above the transport). Key on the transport: the remote's own
// TLS made from the key. mTLS: the ring's own TLS credentials on a port
// chosen first, because the member's certificate names its address. gRPC
// takes one set of credentials, so with TLS w counts nothing and the
// steady cost is not measured.
func (c *ringCluster) startSystem(port int, w *wire) (*actor.ActorSystem, *remote.Remote, error) {
	if c.security != nil && c.security.setting == securityKeyTLS {
		return ringactor.StartActorSystem(ringactor.RemoteOptions{Host: "127.0.0.1", Port: port, Logger: c.log, Keyring: c.security.keyring})
	}
	if c.security == nil || c.security.ca == nil {
		return startCountedSystem(c.log, port, newWireCredentials(w))
	}
	if port == 0 {
		var err error
		if port, err = freeLoopbackPort(); err != nil {
			return nil, nil, err
		}
	}
	tlsCfg, err := c.security.tlsFor(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, nil, err
	}
	return ringactor.StartActorSystem(ringactor.RemoteOptions{Host: "127.0.0.1", Port: port, Logger: c.log, TLS: tlsCfg})
}

// freeLoopbackPort returns a port of 127.0.0.1 nothing listened on a moment
// ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// measureSecureRing runs one repetition of the figures that show the cost
// of setting at N = n: the steady cost with an empty payload (not with
// mTLS, see startSystem) and dissemination, taken the way measureRing
// takes the open ring's.
func measureSecureRing(cfg config, rs *results, setting string, n, rep int) error {
	sec, err := newRingSecurity(setting, cfg.dataDir)
	if err != nil {
		return err
	}
	c := newRingCluster(cfg)
	c.security = sec
	defer c.close()
	if err := c.start(n); err != nil {
		return err
	}
	system := securitySystem(setting)
	record := func(figure string, u unit, v float64) { rs.add(system, n, figure, u, v) }
	if len(cfg.payloads) > 0 && cfg.payloads[0] == 0 {
		if setting == securityMTLS || setting == securityKeyTLS {
			// Its bytes are not counted, but the window passes all the
			// same: every setting's dissemination is measured at the same
			// point after the ring formed (right after it, the members
			// are still opening their TLS connections to each other).
			time.Sleep(cfg.window)
		} else {
			b, cpu := steady(cfg.window, n, c.sent)
			record(idleFigure, unitBytesPerS, b)
			record("steady CPU per member, idle", unitCPU, cpu)
		}
	}
	d, err := c.disseminate(fmt.Sprintf("d-%d", rep))
	if err != nil {
		return err
	}
	record("dissemination", unitMillis, millis(d))
	record("dissemination in gossip intervals", unitRounds, float64(d)/float64(cfg.gossip))
	return nil
}

// securityHeader describes the settings measured.
func securityHeader(settings []string) string {
	var parts []string
	for _, s := range settings {
		switch s {
		case securityKey:
			parts = append(parts, "ring-key: the ring with a ring key (every ring message and request sealed with AES-GCM, nonces remembered against replay)")
		case securityKeyTLS:
			parts = append(parts, "ring-keytls: the ring key on the transport (mutual TLS 1.3 with certificates made from the key, nothing sealed; steady cost not counted, as for mTLS)")
		case securityMTLS:
			parts = append(parts, "ring-mtls: the ring with mutual TLS (TLS 1.3, a CA per ring, a certificate per member naming its address; its steady cost is not counted, as the credentials that count bytes would displace the TLS ones)")
		}
	}
	return strings.Join(parts, "; ")
}
