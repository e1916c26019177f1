package ringactor

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A plaintext client learns that a member requires TLS; a plaintext
// server, or nothing listening, leaves the original error.
func TestSpeaksTLS(t *testing.T) {
	secure := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(secure.Close)
	err := speaksTLS(strings.TrimPrefix(secure.URL, "https://"))
	require.ErrorIs(t, err, ErrHandshake)
	assert.Contains(t, err.Error(), "RemoteOptions.TLS")
	assert.Contains(t, err.Error(), "RemoteOptions.Keyring")

	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	assert.NoError(t, speaksTLS(strings.TrimPrefix(plain.URL, "http://")))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	assert.NoError(t, speaksTLS(closed))
}
