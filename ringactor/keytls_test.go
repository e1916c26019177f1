package ringactor

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyHandshake runs one mutual TLS handshake over loopback between a
// server and a client whose certificates come from keyrings, as two
// remotes with RemoteOptions.Keyring would, and returns the first side's
// error (nil: both sides accepted, and the client read the server's
// first byte, which in TLS 1.3 is when a refused client certificate
// shows).
func keyHandshake(t *testing.T, server, client *Keyring) error {
	t.Helper()
	serverCerts, err := newKeyCerts(server)
	require.NoError(t, err)
	clientCerts, err := newKeyCerts(client)
	require.NoError(t, err)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer listener.Close()
	serverErr := make(chan error, 1)
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		tlsConn := tls.Server(conn, serverTLS(serverCerts))
		if err := tlsConn.Handshake(); err != nil {
			serverErr <- err
			return
		}
		_, err = tlsConn.Write([]byte{1})
		serverErr <- err
	}()
	cfg := clientTLS(clientCerts)
	cfg.ServerName = "127.0.0.1"
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", listener.Addr().String(), cfg)
	var clientErr error
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, clientErr = conn.Read(make([]byte, 1))
		_ = conn.Close()
	} else {
		clientErr = err
	}
	return errors.Join(<-serverErr, clientErr)
}

func TestKeyTransportAcceptsOnlyHoldersOfAKey(t *testing.T) {
	key, other := testKey(t), testKey(t)
	assert.NoError(t, keyHandshake(t, testKeyring(t, key), testKeyring(t, key)), "the same key, in two keyrings")
	err := keyHandshake(t, testKeyring(t, key), testKeyring(t, other))
	require.Error(t, err, "another key")
	assert.Contains(t, err.Error(), "certificate signed by unknown authority")
}

// The rotation of memberlist, on the transport: each step keeps every
// pair of members connected, and at the end the old key connects nobody.
func TestKeyTransportRotatesWithoutDowntime(t *testing.T) {
	oldKey, newKey := testKey(t), testKey(t)
	a, b := testKeyring(t, oldKey), testKeyring(t, oldKey)
	connected := func(step string) {
		t.Helper()
		assert.NoError(t, keyHandshake(t, a, b), "%s: a serves b", step)
		assert.NoError(t, keyHandshake(t, b, a), "%s: b serves a", step)
	}
	rotateKeys(t, a, b, oldKey, newKey, connected)
	assert.Error(t, keyHandshake(t, a, testKeyring(t, oldKey)), "the old key is refused once removed")
	assert.NoError(t, keyHandshake(t, a, testKeyring(t, newKey)), "a newcomer with the new key only")
}

// A certificate made from a ring key speaks for any member (its holder
// holds the key); it still proves nothing with another key's CA.
func TestKeyCertificateIdentityCoversAnyMember(t *testing.T) {
	certs, err := newKeyCerts(testKeyring(t, testKey(t)))
	require.NoError(t, err)
	leaf, pool := certs.current()
	require.NotNil(t, leaf.Leaf)
	id := certificateIdentity(leaf.Leaf)
	assert.True(t, id.covers("10.0.0.1:4000"))
	assert.Equal(t, "ring key holder", id.String())

	others, err := newKeyCerts(testKeyring(t, testKey(t)))
	require.NoError(t, err)
	_, otherPool := others.current()
	_, err = leaf.Leaf.Verify(verifyOptions(pool))
	assert.NoError(t, err)
	_, err = leaf.Leaf.Verify(verifyOptions(otherPool))
	assert.Error(t, err)
}

func verifyOptions(roots *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

func TestRemoteOptionsTakeTLSOrAKeyringNotBoth(t *testing.T) {
	_, _, err := remoteConfig(RemoteOptions{Keyring: testKeyring(t, testKey(t)), TLS: &TLSConfig{CAFile: "ca.pem", CertFile: "m.pem", KeyFile: "m-key.pem"}})
	assert.ErrorContains(t, err, "set TLS or Keyring, not both")
	_, source, err := remoteConfig(RemoteOptions{Keyring: testKeyring(t, testKey(t))})
	require.NoError(t, err)
	assert.IsType(t, &keyCerts{}, source)
}
