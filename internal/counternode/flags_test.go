package counternode

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecurityFlags(t *testing.T) {
	cfg, err := ParseFlags("cluster", []string{"-key-file", "ring.key", "-tls-ca", "ca.pem", "-tls-cert", "m.pem", "-tls-key", "m-key.pem"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "ring.key", cfg.KeyFile)
	require.NotNil(t, cfg.TLS)
	assert.Equal(t, "ca.pem", cfg.TLS.CAFile)
	assert.Equal(t, "m.pem", cfg.TLS.CertFile)
	assert.Equal(t, "m-key.pem", cfg.TLS.KeyFile)

	cfg, err = ParseFlags("cluster", nil, io.Discard)
	require.NoError(t, err)
	assert.Nil(t, cfg.TLS, "no TLS flag: plaintext")
	assert.Empty(t, cfg.KeyFile)

	_, err = ParseFlags("cluster", []string{"-tls-ca", "ca.pem"}, io.Discard)
	assert.ErrorContains(t, err, "go together")

	cfg, err = ParseFlags("cluster", []string{"-key-file", "ring.key", "-key-transport"}, io.Discard)
	require.NoError(t, err)
	assert.True(t, cfg.KeyTransport)
	_, err = ParseFlags("cluster", []string{"-key-transport"}, io.Discard)
	assert.ErrorContains(t, err, "-key-transport needs -key-file")
	_, err = ParseFlags("cluster", []string{"-key-file", "ring.key", "-key-transport", "-tls-ca", "ca.pem", "-tls-cert", "m.pem", "-tls-key", "m-key.pem"}, io.Discard)
	assert.ErrorContains(t, err, "exclude each other")
}

func TestSeedFlags(t *testing.T) {
	cfg, err := ParseFlags("cluster", []string{"-seeds", "127.0.0.1:7001, 127.0.0.1:7002,", "-seed-dns", "ring.default.svc.cluster.local:7000"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7001", "127.0.0.1:7002"}, cfg.Seeds)
	assert.Equal(t, []string{"ring.default.svc.cluster.local:7000"}, cfg.SeedDNS)

	for _, bad := range []string{"no-port", "name:0", "name:http"} {
		_, err = ParseFlags("cluster", []string{"-seed-dns", bad}, io.Discard)
		assert.ErrorContains(t, err, "-seed-dns", bad)
	}
}
