package ringactor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CertificateAuthority signs the certificates of a ring's members and
// admin clients. MakeCertificates writes one to files; a production ring
// may use any CA whose certificates follow the same rules (see TLSConfig).
type CertificateAuthority struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is the CA certificate, for TLSConfig.CAFile.
	PEM []byte
}

// NewCertificateAuthority makes a self-signed CA named name, valid for
// validFor.
func NewCertificateAuthority(name string, validFor time.Duration) (*CertificateAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ringactor: CA key: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(validFor),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	cert, err := createCertificate(template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ringactor: CA certificate: %w", err)
	}
	return &CertificateAuthority{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})}, nil
}

// Issue returns the PEM certificate and key of a member or client named
// name, valid from notBefore for validFor. Each node (host:port) is named
// exactly (a NodeURIScheme URI SAN) and its host as an IP or DNS SAN, so
// the certificate serves both TLS host verification and the ring's check
// that a member speaks only for its own address. Hosts are added as IP or
// DNS SANs. A certificate without nodes is an admin client's (it gets an
// AdminURIScheme URI SAN): it may send requests, and speaks for no member.
func (ca *CertificateAuthority) Issue(name string, nodes, hosts []string, notBefore time.Time, validFor time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("ringactor: key of %s: %w", name, err)
	}
	template := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if len(nodes) == 0 {
		template.URIs = append(template.URIs, &url.URL{Scheme: AdminURIScheme, Host: url.PathEscape(name)})
	}
	for _, node := range nodes {
		host, _, err := net.SplitHostPort(node)
		if err != nil {
			return nil, nil, fmt.Errorf("ringactor: node %q: %w", node, err)
		}
		template.URIs = append(template.URIs, &url.URL{Scheme: NodeURIScheme, Host: node})
		hosts = append(hosts, host)
	}
	for _, host := range hosts {
		if ip := net.ParseIP(host); ip != nil {
			template.IPAddresses = append(template.IPAddresses, ip)
		} else {
			template.DNSNames = append(template.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("ringactor: certificate of %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// MakeCertificates writes into dir a new CA (ca.pem, ca-key.pem), a
// certificate and key for each node (<host>_<port>.pem, <host>_<port>-key.pem)
// and one for an admin client on the hosts of the nodes (admin.pem,
// admin-key.pem), all valid for validFor. Keys are written readable by
// their owner only. It returns the TLSConfig of each node, in order.
func MakeCertificates(dir string, nodes []string, validFor time.Duration) ([]TLSConfig, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ringactor: certificates: %w", err)
	}
	ca, err := NewCertificateAuthority("genserverring CA", validFor)
	if err != nil {
		return nil, err
	}
	caKey, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := writeFiles(caFile, ca.PEM, filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: caKey})); err != nil {
		return nil, err
	}
	var configs []TLSConfig
	hostSet := map[string]bool{}
	var hosts []string
	for _, node := range nodes {
		certPEM, keyPEM, err := ca.Issue(node, []string{node}, nil, time.Now().Add(-time.Minute), validFor)
		if err != nil {
			return nil, err
		}
		base := filepath.Join(dir, strings.NewReplacer(":", "_", "[", "", "]", "").Replace(node))
		cfg := TLSConfig{CAFile: caFile, CertFile: base + ".pem", KeyFile: base + "-key.pem"}
		if err := writeFiles(cfg.CertFile, certPEM, cfg.KeyFile, keyPEM); err != nil {
			return nil, err
		}
		configs = append(configs, cfg)
		if host, _, err := net.SplitHostPort(node); err == nil && !hostSet[host] {
			hostSet[host] = true
			hosts = append(hosts, host)
		}
	}
	certPEM, keyPEM, err := ca.Issue("admin", nil, hosts, time.Now().Add(-time.Minute), validFor)
	if err != nil {
		return nil, err
	}
	if err := writeFiles(filepath.Join(dir, "admin.pem"), certPEM, filepath.Join(dir, "admin-key.pem"), keyPEM); err != nil {
		return nil, err
	}
	return configs, nil
}

// writeFiles writes a certificate (0644) and its key (0600).
func writeFiles(certFile string, certPEM []byte, keyFile string, keyPEM []byte) error {
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("ringactor: certificates: %w", err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("ringactor: certificates: %w", err)
	}
	return nil
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
