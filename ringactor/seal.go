package ringactor

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/genserverring/genserverring-go/messages"
)

// Sealing: with a keyring, every message of the ring (the protocol between
// members and the requests of clients) travels inside a messages.Sealed,
// encrypted and authenticated with AES-256-GCM. The receiver opens it and
// refuses, with the reason below, what does not hold up.

// Why a sealed message was refused.
var (
	errUnknownKey = errors.New("sealed with a key this member does not hold")
	errBadTag     = errors.New("authentication failed (wrong key or altered message)")
	errStale      = errors.New("timestamp outside the replay window")
	errReplayed   = errors.New("replayed: this nonce was seen already")
	errForgedFrom = errors.New("the inner message's sender differs from the sealed sender")
	errBadSealed  = errors.New("malformed sealed message")
	errOtherRing  = errors.New("sealed for another ring")
)

// DefaultReplayWindow is how far a sealed message's timestamp may be from
// the receiver's clock, either way. Members' clocks must agree within it.
const DefaultReplayWindow = 30 * time.Second

// DefaultReplayCacheSize bounds the nonces a member remembers.
const DefaultReplayCacheSize = 1 << 16

const nonceSize = 12 // GCM's standard nonce

// messagesPackage is the protobuf package of the ring's own messages: only
// these may be sealed.
const messagesPackage = "genserverring.messages"

// sealer seals the messages one sender sends and opens the ones a ring
// member receives. It is not safe for concurrent use; Client guards its own.
type sealer struct {
	ring    string
	from    string
	keyring *Keyring
	window  time.Duration
	replay  *replayCache
	now     func() time.Time
}

func newSealer(ring, from string, keyring *Keyring, window time.Duration, cacheSize int) *sealer {
	if window <= 0 {
		window = DefaultReplayWindow
	}
	if cacheSize <= 0 {
		cacheSize = DefaultReplayCacheSize
	}
	return &sealer{ring: ring, from: from, keyring: keyring, window: window, replay: newReplayCache(cacheSize), now: time.Now}
}

// seal encrypts msg with the primary key.
func (s *sealer) seal(msg proto.Message) (*messages.Sealed, error) {
	return s.sealWith(msg, sealedAAD)
}

// sealWith encrypts msg with the primary key, authenticating the envelope
// fields that aad picks (a request's, or a reply's bound to its request).
func (s *sealer) sealWith(msg proto.Message, aad func(*messages.Sealed) []byte) (*messages.Sealed, error) {
	body, err := proto.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("ringactor: seal %T: %w", msg, err)
	}
	id, aead := s.keyring.primaryKey()
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("ringactor: seal: %w", err)
	}
	sealed := &messages.Sealed{
		Ring: s.ring, From: s.from, KeyId: id, UnixNanos: s.now().UnixNano(),
		Nonce: nonce, Type: string(msg.ProtoReflect().Descriptor().FullName()),
	}
	sealed.Body = aead.Seal(nil, nonce, body, aad(sealed))
	return sealed, nil
}

// open authenticates and decrypts sealed and returns the inner message.
// The order of the checks is the order of their cost: nothing is decrypted
// for another ring or an unknown key, and nothing unauthenticated reaches
// the replay cache (so an outsider cannot fill it).
func (s *sealer) open(sealed *messages.Sealed) (proto.Message, error) {
	body, now, err := s.decrypt(sealed, sealedAAD)
	if err != nil {
		return nil, err
	}
	if !s.replay.add(sealed.GetNonce(), sealed.GetUnixNanos(), now.Add(-s.window).UnixNano()) {
		return nil, errReplayed
	}
	msg, err := decodeSealed(sealed, body)
	if err != nil {
		return nil, err
	}
	if from, ok := claimedFrom(msg); ok && from != sealed.GetFrom() {
		return nil, fmt.Errorf("%w: %q sealed by %q", errForgedFrom, from, sealed.GetFrom())
	}
	return msg, nil
}

// decrypt checks sealed's ring, key and nonce, authenticates and decrypts
// its body with the additional data aad makes, and checks its timestamp
// against the window; it returns the body and the time it checked at. The
// order of the checks is the order of their cost.
func (s *sealer) decrypt(sealed *messages.Sealed, aad func(*messages.Sealed) []byte) (body []byte, now time.Time, err error) {
	if sealed.GetRing() != s.ring {
		return nil, now, errOtherRing
	}
	now = s.now()
	aead, ok := s.keyring.lookup(sealed.GetKeyId(), time.Unix(0, sealed.GetUnixNanos()), now, s.window)
	if !ok {
		return nil, now, errUnknownKey
	}
	if len(sealed.GetNonce()) != nonceSize {
		return nil, now, fmt.Errorf("%w: nonce of %d bytes", errBadSealed, len(sealed.GetNonce()))
	}
	body, err = aead.Open(nil, sealed.GetNonce(), sealed.GetBody(), aad(sealed))
	if err != nil {
		return nil, now, errBadTag
	}
	if age := now.Sub(time.Unix(0, sealed.GetUnixNanos())); age > s.window || age < -s.window {
		return nil, now, fmt.Errorf("%w: %v off this process's clock", errStale, age.Round(time.Millisecond))
	}
	return body, now, nil
}

// decodeSealed decodes body, decrypted from sealed, as the ring message
// sealed names.
func decodeSealed(sealed *messages.Sealed, body []byte) (proto.Message, error) {
	msg, err := newSealable(sealed.GetType())
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(body, msg); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errBadSealed, sealed.GetType(), err)
	}
	return msg, nil
}

// newSealable returns an empty message of the ring's type named name.
func newSealable(name string) (proto.Message, error) {
	full := protoreflect.FullName(name)
	if full.Parent() != messagesPackage || full.Name() == "Sealed" {
		return nil, fmt.Errorf("%w: type %q is not a ring message", errBadSealed, name)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(full)
	if err != nil {
		return nil, fmt.Errorf("%w: unknown type %q", errBadSealed, name)
	}
	return mt.New().Interface(), nil
}

// claimedFrom returns the sender a ring message names in its field "from",
// which every member-to-member message has. An Ack is the exception: a
// member that probed on another's behalf forwards the target's Ack, whose
// from is the target, so its sender is the forwarding member.
func claimedFrom(msg proto.Message) (string, bool) {
	m := msg.ProtoReflect()
	if m.Descriptor().FullName() == messagesPackage+".Ack" {
		return "", false
	}
	field := m.Descriptor().Fields().ByName("from")
	if field == nil || field.Kind() != protoreflect.StringKind || field.IsList() {
		return "", false
	}
	return m.Get(field).String(), true
}

// sealedAAD is the data GCM authenticates besides the body: every other
// field, each length-prefixed so no two field lists encode alike.
func sealedAAD(s *messages.Sealed) []byte {
	aad := make([]byte, 0, 64+len(s.GetRing())+len(s.GetFrom())+len(s.GetType()))
	aad = append(aad, "genserverring sealed v1\x00"...)
	for _, field := range []string{s.GetRing(), s.GetFrom(), s.GetType()} {
		aad = binary.BigEndian.AppendUint32(aad, uint32(len(field)))
		aad = append(aad, field...)
	}
	aad = binary.BigEndian.AppendUint64(aad, s.GetKeyId())
	aad = binary.BigEndian.AppendUint64(aad, uint64(s.GetUnixNanos()))
	return aad
}

// Replies: a ring with a keyring seals its answer to a sealed request, and
// binds it to that request: the answer's authenticated data ends with the
// request's nonce. The client opens it knowing the nonce it sent, so an
// answer cannot be forged without the key, nor replayed to another request
// (each request has a fresh nonce, and a future takes one answer), which is
// why an answer needs no replay cache.

// errUnsealedReply is the error of a client holding a keyring that got an
// answer, not an error, which is not sealed.
var errUnsealedReply = errors.New("ringactor: answer not sealed by the ring's key")

// sealReply seals reply, the answer to the sealed request whose nonce is
// requestNonce.
func (s *sealer) sealReply(reply proto.Message, requestNonce []byte) (*messages.Sealed, error) {
	return s.sealWith(reply, func(sealed *messages.Sealed) []byte { return replyAAD(sealed, requestNonce) })
}

// openReply authenticates and decrypts the answer to the request whose
// nonce was requestNonce.
func (s *sealer) openReply(sealed *messages.Sealed, requestNonce []byte) (proto.Message, error) {
	body, _, err := s.decrypt(sealed, func(sealed *messages.Sealed) []byte { return replyAAD(sealed, requestNonce) })
	if err != nil {
		return nil, err
	}
	return decodeSealed(sealed, body)
}

// replyAAD is sealedAAD with the nonce of the request answered, marked so
// that no request's data equals any answer's.
func replyAAD(s *messages.Sealed, requestNonce []byte) []byte {
	aad := sealedAAD(s)
	aad = append(aad, "reply\x00"...)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(requestNonce)))
	return append(aad, requestNonce...)
}
