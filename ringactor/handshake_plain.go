package ringactor

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// speaksTLS tells a plaintext client why it cannot reach a member that
// requires mTLS: Proto.Actor only sees the connection fail (the server
// reads a plaintext HTTP/2 preface as a bad TLS record and hangs up), and
// would report the member gone. The probe is a TLS handshake that verifies
// nothing and sends no certificate: it completes, on this side, only with
// a TLS server. It runs only after a request failed, never on the hot path.
func speaksTLS(address string) error {
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	// InsecureSkipVerify: the probe learns whether the peer speaks TLS,
	// and trusts nothing it says.
	conn, err := tls.DialWithDialer(dialer, "tcp", address, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}) //nolint:gosec
	if err != nil {
		return nil // nothing listens, or not TLS: the original error stands
	}
	_ = conn.Close()
	return fmt.Errorf("%w: %s requires TLS (the ring's mTLS, or its key on the transport) and this actor system's remote has none: start it with RemoteOptions.TLS and a certificate of the ring's CA, or with RemoteOptions.Keyring and the ring's key", ErrHandshake, address)
}
