package ringactor

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// A keyring on the transport (RemoteOptions.Keyring): the remote speaks
// mutual TLS whose certificates derive from the ring keys, so that holding
// a key is what lets a process connect. Each key determines a CA: its
// ed25519 key is derived from the ring key (HKDF-SHA256), so every holder
// of the key derives the same CA and can sign its own certificate with it,
// and nobody else can. A process presents a certificate of its primary
// key's CA and accepts a peer whose certificate chains to the CA of any
// key of its keyring.
//
// Why this exists beside sealing (Security.Keyring alone): sealing
// encrypts and authenticates every message on its own (a nonce, a
// timestamp, a replay cache, a second protobuf layer), which costs a
// remote call about a quarter of its throughput; TLS authenticates the
// connection once and then encrypts whole batches, at the cost of mTLS.
// The trust is the same: any holder of a key may speak for any member, as
// with sealing, where the sealed sender is only what a key holder claims.

// KeyURIScheme is the scheme of the URI SAN that marks a certificate made
// from a ring key (genserverring-key://<key id>). Such a certificate speaks
// for any member: it proves that its holder has a ring key, no more.
const KeyURIScheme = "genserverring-key"

// keyCerts is the certSource of a remote with a keyring.
type keyCerts struct {
	keyring *Keyring
	// leafKey is this process's own key, made at start: the certificates
	// of every CA certify it.
	leafKey ed25519.PrivateKey

	mu  sync.Mutex
	cas map[uint64]*keyCA // by key ID, made on first use and kept
}

// keyCA is what one ring key determines: its CA's certificate, and this
// process's certificate signed by that CA.
type keyCA struct {
	cert *x509.Certificate
	leaf *tls.Certificate
}

func newKeyCerts(keyring *Keyring) (*keyCerts, error) {
	_, leafKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ringactor: key TLS: %w", err)
	}
	return &keyCerts{keyring: keyring, leafKey: leafKey, cas: map[uint64]*keyCA{}}, nil
}

func (k *keyCerts) checksServerName() bool { return false }

// current returns this process's certificate of the primary key's CA and
// a pool of the CAs of every key.
func (k *keyCerts) current() (*tls.Certificate, *x509.CertPool) {
	keys := k.keyring.Keys() // the primary first
	k.mu.Lock()
	defer k.mu.Unlock()
	pool := x509.NewCertPool()
	leaf := &tls.Certificate{} // if the primary's cannot be made: a peer refuses it, and the handshake error says so
	for i, key := range keys {
		ca, err := k.caOf(key)
		if err != nil {
			continue // cannot happen with a valid key
		}
		pool.AddCert(ca.cert)
		if i == 0 {
			leaf = ca.leaf
		}
	}
	return leaf, pool
}

// caOf returns what key determines, made on first use: the CA, whose
// ed25519 key derives from the ring key, and this process's certificate
// signed by it.
func (k *keyCerts) caOf(key []byte) (*keyCA, error) {
	id := keyID(key)
	if ca, ok := k.cas[id]; ok {
		return ca, nil
	}
	seed, err := hkdf.Key(sha256.New, key, nil, "genserverring ring key CA", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	caKey := ed25519.NewKeyFromSeed(seed)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "genserverring ring key " + strconv.FormatUint(id, 16)},
		// A CA of a key is valid as long as the key is in a keyring.
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	cert, err := createCertificate(template, template, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	leafTemplate := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: "genserverring ring key holder"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(100, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{{Scheme: KeyURIScheme, Host: strconv.FormatUint(id, 16)}},
	}
	leaf, err := createCertificate(leafTemplate, cert, k.leafKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca := &keyCA{cert: cert, leaf: &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: k.leafKey, Leaf: leaf}}
	k.cas[id] = ca
	return ca, nil
}

// createCertificate signs template with parent's key and parses the result.
func createCertificate(template, parent *x509.Certificate, pub, signer any) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// transportKeyring returns the keyring of system's remote, nil if its
// transport has none (StartActorSystem with RemoteOptions.Keyring).
func transportKeyring(system *actor.ActorSystem) *Keyring {
	if source, ok := tlsSystems.Load(system); ok {
		if certs, ok := source.(*keyCerts); ok {
			return certs.keyring
		}
	}
	return nil
}
