package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/ringactor"
)

// withTransportKey makes a member hold the keyring in keyFile on its
// transport (-key-transport): mutual TLS with certificates made from the
// key, and no seal per message.
func withTransportKey(keyFile string) memberOption {
	return func(m *member) { m.extra = []string{"-key-file", keyFile, "-key-transport"} }
}

func writeKeyFile(t *testing.T, dir, name string) (string, []byte) {
	t.Helper()
	key, err := ringactor.GenerateKey()
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(ringactor.EncodeKey(key)+"\n"), 0o600))
	return path, key
}

// A ring whose key is on the transport: its members converge and take in
// a newcomer with the key; a client with another key hears that the
// handshake failed, and a member with another key that adds one of them
// changes nothing.
func TestKeyTransportRing(t *testing.T) {
	c := newCluster(t)
	secrets := t.TempDir()
	keyFile, key := writeKeyFile(t, secrets, "ring.key")
	wrongFile, wrongKey := writeKeyFile(t, secrets, "wrong.key")
	a := c.start("a", withTransportKey(keyFile))
	b := c.start("b", withTransportKey(keyFile))
	x := c.start("x", withTransportKey(keyFile))
	members := []*member{a, b, x}
	formRing(t, a, b, x)
	a.inc(5)
	waitValue(t, 5, members...)

	// Clients in processes of their own (one remote per process): with
	// another key, the handshake fails and they hear so; with the key,
	// they are served.
	wrong := runHostileClient(t, hostileClientSpec{Node: a.Node, Key: ringactor.EncodeKey(wrongKey), TransportKey: true, Ops: []string{"all", "add 10.1.2.3:4", "call"}})
	for _, outcome := range wrong {
		assert.True(t, strings.HasPrefix(outcome, "ErrHandshake: "), outcome)
	}
	right := runHostileClient(t, hostileClientSpec{Node: a.Node, Key: ringactor.EncodeKey(key), TransportKey: true, Ops: []string{"all"}})
	assert.Equal(t, []string{"ok"}, right)

	// A client with no credentials at all hears that the member requires
	// TLS, not that it is gone.
	plain := runHostileClient(t, hostileClientSpec{Node: a.Node, Ops: []string{"all"}})
	require.Len(t, plain, 1)
	assert.True(t, strings.HasPrefix(plain[0], "ErrHandshake: "), plain[0])
	assert.Contains(t, plain[0], "requires TLS")

	// A member with another key adds a to its own ring: its gossip and
	// probes never get through.
	intruder := c.start("intruder", withTransportKey(wrongFile))
	waitInit(t, intruder)
	intruder.exec("add " + a.Node)
	since := marks(members...)
	time.Sleep(hangBound + slack) // nothing must happen: watch for as long as a detection takes
	for _, m := range members {
		for _, e := range m.Events()[since[m]:] {
			assert.NotEqual(t, "ring-change", e.Event, "%s: %s", m.name, e)
		}
	}
	requireUnchanged(t, 5, members...)
	waitNodes(t, "up", []string{intruder.Node}, intruder) // it found a out of reach

	// A newcomer with the key joins, and its change reaches everyone.
	d := c.start("d", withTransportKey(keyFile))
	formRing(t, a, b, x, d)
	d.inc(2)
	waitValue(t, 7, a, b, x, d)
}
