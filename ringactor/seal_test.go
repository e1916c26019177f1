package ringactor

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
)

func testKey(t *testing.T) []byte {
	t.Helper()
	key, err := GenerateKey()
	require.NoError(t, err)
	return key
}

func testKeyring(t *testing.T, keys ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys[0], keys[1:]...)
	require.NoError(t, err)
	return k
}

func TestKeyringRefusesBadKeys(t *testing.T) {
	_, err := NewKeyring(make([]byte, 16))
	assert.ErrorContains(t, err, "32 bytes, got 16")
	_, err = ParseKeyring("# nothing\n\n")
	assert.ErrorContains(t, err, "no key")
	_, err = ParseKeyring("not base64!\n")
	assert.ErrorContains(t, err, "line 1: not base64")

	key := testKey(t)
	k := testKeyring(t, key)
	assert.ErrorContains(t, k.RemoveKey(key), "cannot remove the primary key")
	assert.ErrorContains(t, k.UseKey(testKey(t)), "AddKey it first")
}

func TestParseKeyringPrimaryFirst(t *testing.T) {
	a, b := testKey(t), testKey(t)
	k, err := ParseKeyring("# ring keys\n" + EncodeKey(a) + "\n\n" + EncodeKey(b) + "\n")
	require.NoError(t, err)
	keys := k.Keys()
	require.Len(t, keys, 2)
	assert.True(t, bytes.Equal(keys[0], a))
	assert.True(t, bytes.Equal(keys[1], b))
}

// rotateKeys rotates keyrings a and b from oldKey to newKey as memberlist
// does (add the new key everywhere, use it everywhere, remove the old one),
// calling check before and after each step.
func rotateKeys(t *testing.T, a, b *Keyring, oldKey, newKey []byte, check func(step string)) {
	t.Helper()
	check("before")
	require.NoError(t, a.AddKey(newKey))
	require.NoError(t, b.AddKey(newKey))
	check("new key installed")
	require.NoError(t, a.UseKey(newKey))
	check("a uses the new key, b still the old")
	require.NoError(t, b.UseKey(newKey))
	require.NoError(t, a.RemoveKey(oldKey))
	require.NoError(t, b.RemoveKey(oldKey))
	check("old key removed")
}

// The rotation of memberlist: at every step every member opens what every
// other one seals.
func TestKeyRotationWithoutDowntime(t *testing.T) {
	oldKey, newKey := testKey(t), testKey(t)
	a, b := testKeyring(t, oldKey), testKeyring(t, oldKey)
	sealerA := newSealer("ring", "127.0.0.1:1", a, 0, 0)
	openerB := newSealer("ring", "127.0.0.1:2", b, 0, 0)
	roundTrip := func(step string) {
		sealed, err := sealerA.seal(&messages.Ping{Ring: "ring", From: "127.0.0.1:1", Seq: 1})
		require.NoError(t, err, step)
		_, err = openerB.open(sealed)
		require.NoError(t, err, step)
	}
	rotateKeys(t, a, b, oldKey, newKey, roundTrip)

	// A member that still holds only the old key is now outside.
	stale := newSealer("ring", "127.0.0.1:1", testKeyring(t, oldKey), 0, 0)
	sealed, err := stale.seal(&messages.Ping{Ring: "ring", From: "127.0.0.1:1"})
	require.NoError(t, err)
	_, err = openerB.open(sealed)
	assert.ErrorIs(t, err, errUnknownKey)
}

func TestOpenRefuses(t *testing.T) {
	key := testKey(t)
	now := time.Unix(1_700_000_000, 0)
	newPair := func() (*sealer, *sealer) {
		s := newSealer("ring", "127.0.0.1:1", testKeyring(t, key), 30*time.Second, 100)
		o := newSealer("ring", "127.0.0.1:2", testKeyring(t, key), 30*time.Second, 100)
		s.now = func() time.Time { return now }
		o.now = func() time.Time { return now }
		return s, o
	}
	ping := &messages.Ping{Ring: "ring", From: "127.0.0.1:1", Seq: 7}
	cases := []struct {
		name   string
		mangle func(t *testing.T, s, o *sealer) *messages.Sealed
		want   error
	}{
		{"other ring", func(t *testing.T, s, o *sealer) *messages.Sealed {
			s.ring = "other"
			return mustSeal(t, s, ping)
		}, errOtherRing},
		{"wrong key", func(t *testing.T, s, o *sealer) *messages.Sealed {
			s.keyring = testKeyring(t, testKey(t))
			return mustSeal(t, s, ping)
		}, errUnknownKey},
		{"wrong key with the right key ID", func(t *testing.T, s, o *sealer) *messages.Sealed {
			sealed := mustSeal(t, newSealer("ring", "127.0.0.1:1", testKeyring(t, testKey(t)), 0, 0), ping)
			sealed.KeyId = keyID(key)
			return sealed
		}, errBadTag},
		{"altered body", func(t *testing.T, s, o *sealer) *messages.Sealed {
			sealed := mustSeal(t, s, ping)
			sealed.Body[0] ^= 1
			return sealed
		}, errBadTag},
		{"altered sender", func(t *testing.T, s, o *sealer) *messages.Sealed {
			sealed := mustSeal(t, s, ping)
			sealed.From = "127.0.0.1:3"
			return sealed
		}, errBadTag},
		{"altered timestamp", func(t *testing.T, s, o *sealer) *messages.Sealed {
			sealed := mustSeal(t, s, ping)
			sealed.UnixNanos++
			return sealed
		}, errBadTag},
		{"altered type", func(t *testing.T, s, o *sealer) *messages.Sealed {
			sealed := mustSeal(t, s, ping)
			sealed.Type = messagesPackage + ".Ack"
			return sealed
		}, errBadTag},
		{"short nonce", func(t *testing.T, s, o *sealer) *messages.Sealed {
			sealed := mustSeal(t, s, ping)
			sealed.Nonce = sealed.Nonce[:4]
			return sealed
		}, errBadSealed},
		{"too old", func(t *testing.T, s, o *sealer) *messages.Sealed {
			s.now = func() time.Time { return now.Add(-31 * time.Second) }
			return mustSeal(t, s, ping)
		}, errStale},
		{"from the future", func(t *testing.T, s, o *sealer) *messages.Sealed {
			s.now = func() time.Time { return now.Add(31 * time.Second) }
			return mustSeal(t, s, ping)
		}, errStale},
		{"replayed", func(t *testing.T, s, o *sealer) *messages.Sealed {
			sealed := mustSeal(t, s, ping)
			_, err := o.open(proto.Clone(sealed).(*messages.Sealed))
			require.NoError(t, err)
			return sealed
		}, errReplayed},
		{"forged inner sender", func(t *testing.T, s, o *sealer) *messages.Sealed {
			return mustSeal(t, s, &messages.Gossip{Ring: "ring", From: "127.0.0.1:9"})
		}, errForgedFrom},
		{"not a ring message", func(t *testing.T, s, o *sealer) *messages.Sealed {
			return mustSeal(t, s, &messages.Sealed{Ring: "ring"})
		}, errBadSealed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, o := newPair()
			_, err := o.open(tc.mangle(t, s, o))
			assert.ErrorIs(t, err, tc.want)
		})
	}

	t.Run("sound", func(t *testing.T) {
		s, o := newPair()
		msg, err := o.open(mustSeal(t, s, ping))
		require.NoError(t, err)
		assert.True(t, proto.Equal(ping, msg))
	})
	t.Run("a forwarded ack names the probed member", func(t *testing.T) {
		s, o := newPair()
		_, err := o.open(mustSeal(t, s, &messages.Ack{Ring: "ring", From: "127.0.0.1:9", Seq: 3}))
		assert.NoError(t, err)
	})
}

func mustSeal(t *testing.T, s *sealer, msg proto.Message) *messages.Sealed {
	t.Helper()
	sealed, err := s.seal(msg)
	require.NoError(t, err)
	return sealed
}

// The cache never holds more than its size, and forgetting a nonce never
// lets its message in again: the floor refuses everything not newer.
func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(3)
	nonce := func(i byte) []byte { return bytes.Repeat([]byte{i}, nonceSize) }
	for i := byte(1); i <= 3; i++ {
		require.True(t, c.add(nonce(i), int64(i), 0))
	}
	require.True(t, c.add(nonce(4), 4, 0)) // forgets nonce 1, floor 1
	assert.Equal(t, 3, c.len())
	assert.False(t, c.add(nonce(1), 1, 0), "a forgotten nonce is still refused")
	assert.False(t, c.add(nonce(3), 3, 0), "a remembered nonce is refused")
	assert.True(t, c.add(nonce(5), 5, 0))
	// Expiry: everything sealed before 5 is forgotten without raising the floor.
	require.True(t, c.add(nonce(6), 6, 5))
	assert.Equal(t, 2, c.len())
}

// Nonces that come out of timestamp order are forgotten in the order they
// came; the floor is the newest timestamp forgotten, so no forgotten nonce
// gets in again, whatever its place.
func TestReplayCacheOutOfOrder(t *testing.T) {
	c := newReplayCache(2)
	nonce := func(i byte) []byte { return bytes.Repeat([]byte{i}, nonceSize) }
	require.True(t, c.add(nonce(5), 5, 0))
	require.True(t, c.add(nonce(3), 3, 0))
	require.True(t, c.add(nonce(7), 7, 0)) // forgets nonce 5: floor 5
	assert.False(t, c.add(nonce(5), 5, 0), "the forgotten nonce")
	assert.False(t, c.add(nonce(4), 4, 0), "older than the floor: it may have been forgotten")
	assert.False(t, c.add(nonce(3), 3, 0), "a remembered nonce")
	require.True(t, c.add(nonce(8), 8, 0)) // forgets nonce 3: the floor stays 5
	assert.False(t, c.add(nonce(3), 3, 0))
	// Full again: taking 9 forgets 7, the first of those left.
	assert.True(t, c.add(nonce(9), 9, 0), "newer than every forgotten nonce")
	assert.False(t, c.add(nonce(7), 7, 0), "forgotten, at the floor")
}

func TestDropLogIsRateLimited(t *testing.T) {
	var out bytes.Buffer
	d := newDropLog(slogTo(&out))
	now := time.Unix(0, 0)
	d.now = func() time.Time { return now }
	for range 1000 {
		d.warn("bad", "dropped", "x", truncate(string(bytes.Repeat([]byte("é"), 1000))))
	}
	now = now.Add(time.Second)
	d.warn("bad", "dropped")
	lines := bytes.Count(out.Bytes(), []byte("\n"))
	assert.Equal(t, 2, lines, out.String())
	assert.Contains(t, out.String(), "suppressed=999")
	assert.Contains(t, out.String(), "…(truncated)")
	assert.Less(t, out.Len(), 1000)
}

// A removed key still opens what it sealed before its removal (messages in
// flight during a rotation), nothing sealed after, and nothing at all once
// the replay window has passed.
func TestRemovedKeyOpensOnlyWhatItSealedBefore(t *testing.T) {
	oldKey, newKey := testKey(t), testKey(t)
	receiverRing := testKeyring(t, newKey, oldKey)
	receiver := newSealer("ring", "127.0.0.1:2", receiverRing, 30*time.Second, 100)
	sender := newSealer("ring", "127.0.0.1:1", testKeyring(t, oldKey), 0, 0)
	ping := &messages.Ping{Ring: "ring", From: "127.0.0.1:1"}

	inFlight := mustSeal(t, sender, ping)
	require.NoError(t, receiverRing.RemoveKey(oldKey))
	assert.Len(t, receiverRing.Keys(), 1, "a removed key is not listed")
	_, err := receiver.open(inFlight)
	assert.NoError(t, err, "sealed before the removal")

	sender.now = func() time.Time { return time.Now().Add(time.Second) }
	_, err = receiver.open(mustSeal(t, sender, ping))
	assert.ErrorIs(t, err, errUnknownKey, "sealed after the removal")

	sender.now = time.Now
	late := mustSeal(t, sender, ping)
	late.UnixNanos = time.Now().Add(-time.Minute).UnixNano()
	receiver.now = func() time.Time { return time.Now().Add(31 * time.Second) }
	_, err = receiver.open(late)
	assert.ErrorIs(t, err, errUnknownKey, "a window after the removal")
	_, held := receiverRing.keys[keyID(oldKey)]
	assert.False(t, held, "and then forgotten")
}

// A message larger than the remote's maximum is not sent, and counted:
// sent, it would cost the connection and each side would see the other
// down.
func TestOversizedMessageIsNotSent(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		var sec Security
		if keyed {
			sec.Keyring = testKeyring(t, testKey(t))
		}
		var stats Stats
		b := newBoundary("ring", "127.0.0.1:1", sec, nil, &stats, quietLogger())
		b.maxSend = 1 << 10
		small := &messages.Gossip{Ring: "ring", From: "127.0.0.1:1", Payload: make([]byte, 512)}
		big := &messages.Gossip{Ring: "ring", From: "127.0.0.1:1", Payload: make([]byte, 2<<10)}
		assert.NotNil(t, b.outgoing(small), "keyed=%v", keyed)
		assert.Nil(t, b.outgoing(big), "keyed=%v", keyed)
		assert.Equal(t, uint64(1), stats.Security.OversizedSends, "keyed=%v", keyed)
	}
}

// A message sent to several members in one batch of effects is sealed
// once; the same message sent again in a later batch (the core's cached
// gossip, a rejoin greeting round after round) is sealed anew, with a
// fresh nonce and time, so its receiver does not take it for a replay, nor
// for stale once the window has passed.
func TestOutgoingSealsOncePerBatch(t *testing.T) {
	var stats Stats
	b := newBoundary("ring", "127.0.0.1:1", Security{Keyring: testKeyring(t, testKey(t))}, nil, &stats, quietLogger())
	msg := &messages.Gossip{Ring: "ring", From: "127.0.0.1:1"}
	first := b.outgoing(msg).(*messages.Sealed)
	assert.Same(t, first, b.outgoing(msg), "the same batch: sealed once")
	assert.Equal(t, uint64(2), stats.MessagesSent, "and counted for each member")
	b.forgetLast()
	later := b.outgoing(msg).(*messages.Sealed)
	assert.NotEqual(t, first.GetNonce(), later.GetNonce(), "a later batch: sealed anew")
}

// A message sent within this process reaches each of its receivers as the
// same value (a pushed delta goes to several members), so opening must
// leave it as it came.
func TestOpenLeavesTheSealedMessageAsItCame(t *testing.T) {
	key := testKey(t)
	sender := newSealer("ring", "127.0.0.1:1", testKeyring(t, key), 0, 0)
	ping := &messages.Ping{Ring: "ring", From: "127.0.0.1:1", Seq: 7}
	sealed := mustSeal(t, sender, ping)
	before := proto.Clone(sealed)
	for _, receiver := range []string{"127.0.0.1:2", "127.0.0.1:3"} {
		opened, err := newSealer("ring", receiver, testKeyring(t, key), 0, 0).open(sealed)
		require.NoError(t, err, receiver)
		require.True(t, proto.Equal(ping, opened), receiver)
		require.True(t, proto.Equal(before, sealed), "opening at %s changed the sealed message", receiver)
	}
}

// The cache starts small and grows to its size as nonces come, keeping the
// order they came in across the wrap of its ring.
func TestReplayCacheGrowsInOrder(t *testing.T) {
	c := newReplayCache(200)
	nonce := func(i int) []byte {
		b := make([]byte, nonceSize)
		b[0], b[1] = byte(i), byte(i>>8)
		return b
	}
	for i := 1; i <= 100; i++ {
		require.True(t, c.add(nonce(i), int64(i), 0))
	}
	require.True(t, c.add(nonce(101), 101, 51), "sealed before 51: forgotten, the ring's head moves")
	for i := 102; i <= 250; i++ { // wraps the ring, grows it past its first sizes, then fills it
		require.True(t, c.add(nonce(i), int64(i), 0))
	}
	assert.Equal(t, 200, c.len())
	assert.Len(t, c.ring, 200)
	assert.Equal(t, int64(51), c.ring[c.head].unixNanos, "the first remembered is the first that came of those left")
	require.True(t, c.add(nonce(251), 251, 0))
	assert.Equal(t, int64(52), c.ring[c.head].unixNanos, "full: the first that came was forgotten")
	assert.False(t, c.add(nonce(51), 51, 0), "forgotten, at the floor")
	for i := 52; i <= 251; i++ {
		require.False(t, c.add(nonce(i), int64(i), 0), "remembered: %d", i)
	}
}
