package ringactor

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/genserverring/genserverring-go/messages"
)

// Sealing: with a keyring, every message of the ring (the protocol between
// members, the requests of clients, and the calls sent as the user's
// message, with their replies) travels inside a messages.Sealed,
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
	// errUnknownType: the seal holds, but its message is of a type this
	// binary does not know (a call from a client of a newer version).
	errUnknownType = errors.New("unknown to the member")
)

// DefaultReplayWindow is how far a sealed message's timestamp may be from
// the receiver's clock, either way. Members' clocks must agree within it.
const DefaultReplayWindow = 30 * time.Second

// DefaultReplayCacheSize bounds the nonces a member remembers.
const DefaultReplayCacheSize = 1 << 16

const nonceSize = 12 // GCM's standard nonce

// messagesPackage is the protobuf package of the ring's own messages. It is
// short because Proto.Actor's remote writes the full type name into every
// message it sends: with "genserverring.messages" the name of a heartbeat
// was a fifth of its bytes on the wire.
const messagesPackage = "gsring"

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
	return s.sealWith(msg, nil)
}

// sealWith encrypts msg with the primary key, authenticating the envelope
// fields and, for a reply, the nonce of the request it answers
// (requestNonce; nil for any other message). Safe for concurrent use: a
// Client's callers seal at once.
//
// It runs for every message of a keyed ring, so it allocates what the
// sealed message keeps and nothing else: the nonce and the body share one
// buffer, the body is sealed where it was encoded, and the additional data
// is built in a pooled buffer.
func (s *sealer) sealWith(msg proto.Message, requestNonce []byte) (*messages.Sealed, error) {
	id, aead := s.keyring.primaryKey()
	size := proto.Size(msg)
	buf := make([]byte, nonceSize, nonceSize+size+aead.Overhead())
	nonce := buf[:nonceSize:nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("ringactor: seal: %w", err)
	}
	body, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf[nonceSize:nonceSize], msg)
	if err != nil {
		return nil, fmt.Errorf("ringactor: seal %T: %w", msg, err)
	}
	sealed := &messages.Sealed{
		Ring: s.ring, From: s.from, KeyId: id, UnixNanos: s.now().UnixNano(),
		Nonce: nonce, Type: string(msg.ProtoReflect().Descriptor().FullName()),
	}
	scratch := getScratch()
	scratch.aad = appendAAD(scratch.aad[:0], sealed, requestNonce)
	sealed.Body = aead.Seal(body[:0], nonce, body, scratch.aad)
	putScratch(scratch)
	return sealed, nil
}

// open authenticates and decrypts sealed and returns the inner message.
// The order of the checks is the order of their cost: nothing is decrypted
// for another ring or an unknown key, and nothing unauthenticated reaches
// the replay cache (so an outsider cannot fill it).
func (s *sealer) open(sealed *messages.Sealed) (proto.Message, error) {
	scratch := getScratch()
	defer putScratch(scratch)
	now, err := s.decrypt(sealed, nil, scratch)
	if err != nil {
		return nil, err
	}
	if !s.replay.add(sealed.GetNonce(), sealed.GetUnixNanos(), now.Add(-s.window).UnixNano()) {
		return nil, errReplayed
	}
	kind, msg, err := decodeSealed(sealed, scratch.body)
	if err != nil {
		return nil, err
	}
	if from, ok := kind.claimedFrom(msg); ok && from != sealed.GetFrom() {
		return nil, fmt.Errorf("%w: %q sealed by %q", errForgedFrom, from, sealed.GetFrom())
	}
	return msg, nil
}

// decrypt checks sealed's ring, key and nonce, authenticates and decrypts
// its body into scratch.body with the additional data of sealed (and of
// the request answered, requestNonce, for a reply), and checks its
// timestamp against the window; it returns the time it checked at. The
// order of the checks is the order of their cost. The received message is
// left as it came: a message sent within this process reaches each of its
// receivers as the same value.
func (s *sealer) decrypt(sealed *messages.Sealed, requestNonce []byte, scratch *sealScratch) (now time.Time, err error) {
	if sealed.GetRing() != s.ring {
		return now, errOtherRing
	}
	now = s.now()
	aead, ok := s.keyring.lookup(sealed.GetKeyId(), time.Unix(0, sealed.GetUnixNanos()), now, s.window)
	if !ok {
		return now, errUnknownKey
	}
	if len(sealed.GetNonce()) != nonceSize {
		return now, fmt.Errorf("%w: nonce of %d bytes", errBadSealed, len(sealed.GetNonce()))
	}
	scratch.aad = appendAAD(scratch.aad[:0], sealed, requestNonce)
	scratch.body, err = aead.Open(scratch.body[:0], sealed.GetNonce(), sealed.GetBody(), scratch.aad)
	if err != nil {
		return now, errBadTag
	}
	if age := now.Sub(time.Unix(0, sealed.GetUnixNanos())); age > s.window || age < -s.window {
		return now, fmt.Errorf("%w: %v off this process's clock", errStale, age.Round(time.Millisecond))
	}
	return now, nil
}

// sealScratch is the working memory of one seal or open: the additional
// data and the decrypted body, which nothing keeps (protobuf copies what
// it decodes).
type sealScratch struct {
	aad, body []byte
}

// maxPooledScratch is the largest body buffer kept for reuse: a large
// payload's buffer is left to the collector rather than held by the pool.
const maxPooledScratch = 64 << 10

var scratchPool = sync.Pool{New: func() any { return &sealScratch{aad: make([]byte, 0, 256)} }}

func getScratch() *sealScratch { return scratchPool.Get().(*sealScratch) }

func putScratch(s *sealScratch) {
	if cap(s.body) > maxPooledScratch {
		s.body = nil
	}
	scratchPool.Put(s)
}

// decodeSealed decodes body, decrypted from sealed, as the message type
// sealed names.
func decodeSealed(sealed *messages.Sealed, body []byte) (*sealableType, proto.Message, error) {
	kind, err := sealableTypeOf(sealed.GetType())
	if err != nil {
		return nil, nil, err
	}
	msg := kind.New().Interface()
	if err := proto.Unmarshal(body, msg); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", errBadSealed, sealed.GetType(), err)
	}
	return kind, msg, nil
}

// sealableType is a ring message type that may travel sealed, with the
// field its sender is named in (nil: none to check, see claimedFrom).
type sealableType struct {
	protoreflect.MessageType
	from protoreflect.FieldDescriptor
}

// sealableTypes maps the name of each of the ring's message types but
// Sealed to its sealableType. Built once: opening a sealed message looks
// up its type in a plain map instead of the global registry, behind its
// lock.
var sealableTypes = sync.OnceValue(func() map[string]*sealableType {
	types := map[string]*sealableType{}
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		d := mt.Descriptor()
		if d.FullName().Parent() != messagesPackage || d.Name() == "Sealed" {
			return true
		}
		kind := &sealableType{MessageType: mt}
		if field := d.Fields().ByName("from"); field != nil && field.Kind() == protoreflect.StringKind && !field.IsList() && d.Name() != "Ack" {
			kind.from = field
		}
		types[string(d.FullName())] = kind
		return true
	})
	return types
})

// userSealableTypes holds the user's message types that arrived sealed
// (calls and their replies), found once in the global registry.
var userSealableTypes sync.Map // name -> *sealableType

// sealableTypeOf returns the message type named name: one of the ring's,
// or a user's type that this binary knows (a call or its reply; it names
// no sender).
func sealableTypeOf(name string) (*sealableType, error) {
	if kind, ok := sealableTypes()[name]; ok {
		return kind, nil
	}
	if kind, ok := userSealableTypes.Load(name); ok {
		return kind.(*sealableType), nil
	}
	full := protoreflect.FullName(name)
	if !full.IsValid() || !isUserType(full) {
		return nil, fmt.Errorf("%w: type %q is not a message the ring takes sealed", errBadSealed, truncate(name))
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(full)
	if err != nil {
		return nil, fmt.Errorf("ringactor: cannot decode message of type %q: %w", truncate(name), errUnknownType)
	}
	kind, _ := userSealableTypes.LoadOrStore(name, &sealableType{MessageType: mt})
	return kind.(*sealableType), nil
}

// claimedFrom returns the sender msg, of type t, names in its field
// "from", which every member-to-member message has. An Ack is the
// exception: a member that probed on another's behalf forwards the
// target's Ack, whose from is the target, so its sender is the forwarding
// member.
func (t *sealableType) claimedFrom(msg proto.Message) (string, bool) {
	if t.from == nil {
		return "", false
	}
	return msg.ProtoReflect().Get(t.from).String(), true
}

// claimedFrom returns the sender a ring message names (see
// sealableType.claimedFrom); false for any other message.
func claimedFrom(msg proto.Message) (string, bool) {
	kind, ok := sealableTypes()[string(msg.ProtoReflect().Descriptor().FullName())]
	if !ok {
		return "", false
	}
	return kind.claimedFrom(msg)
}

// appendAAD appends to dst the data GCM authenticates besides the body of
// s: every other field, each length-prefixed so no two field lists encode
// alike, and for a reply (requestNonce not nil) the nonce of the
// request it answers, marked so that no request's data equals any
// answer's.
func appendAAD(dst []byte, s *messages.Sealed, requestNonce []byte) []byte {
	dst = append(dst, "genserverring sealed v1\x00"...)
	for _, field := range [...]string{s.GetRing(), s.GetFrom(), s.GetType()} {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(field)))
		dst = append(dst, field...)
	}
	dst = binary.BigEndian.AppendUint64(dst, s.GetKeyId())
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.GetUnixNanos()))
	if requestNonce == nil {
		return dst
	}
	dst = append(dst, "reply\x00"...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(requestNonce)))
	return append(dst, requestNonce...)
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
	return s.sealWith(reply, nonNil(requestNonce))
}

// openReply authenticates and decrypts the answer to the request whose
// nonce was requestNonce.
func (s *sealer) openReply(sealed *messages.Sealed, requestNonce []byte) (proto.Message, error) {
	scratch := getScratch()
	defer putScratch(scratch)
	if _, err := s.decrypt(sealed, nonNil(requestNonce), scratch); err != nil {
		return nil, err
	}
	_, msg, err := decodeSealed(sealed, scratch.body)
	return msg, err
}

// nonNil returns nonce, or an empty slice for nil: a reply's additional
// data always has the request's part, even for a request without nonce.
func nonNil(nonce []byte) []byte {
	if nonce == nil {
		return []byte{}
	}
	return nonce
}
