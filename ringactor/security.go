package ringactor

import (
	"errors"

	"fmt"
	"github.com/asynkron/protoactor-go/actor"
	"time"
)

// Security holds the settings of a ring member's boundary (Config.Security):
// how it knows that a message comes from a member of the ring, and how much
// of a peer's input it accepts. See the README, "Security".
type Security struct {
	// Keyring, when set, seals every ring message this member sends (the
	// protocol between members) with its primary key, and makes the member
	// refuse every ring message and every request that is not sealed with
	// one of its keys: a Client must hold the ring's keyring
	// (Client.WithKeyring), or its requests are answered ErrKeyRequired.
	// Every member of a ring needs the same keys. On an actor system whose
	// remote holds this keyring (RemoteOptions.Keyring), the member seals
	// nothing: the transport's TLS, made from the same keys, already
	// authenticates and encrypts every message, at a lower cost. Default
	// nil: no key.
	Keyring *Keyring

	// ReplayWindow is how far the timestamp of a sealed message may be from
	// this member's clock, either way: older messages are refused as
	// replays, and members' clocks must agree within it. Default 30 s.
	ReplayWindow time.Duration

	// ReplayCacheSize bounds how many nonces of accepted sealed messages
	// the member remembers to refuse their replay; past it, the oldest are
	// forgotten and messages older than them refused. Default 65,536
	// (about 4 MB when full): a member that accepts 2,000 messages a
	// second fills it in a 30 s window.
	ReplayCacheSize int

	// MaxNodes is the most nodes (members and forced-down nodes together)
	// a gossip may name: a larger one is dropped before it is decoded, so a
	// peer cannot make a member persist and gossip thousands of fake nodes.
	// Default 1024.
	MaxNodes int

	// MaxQueued is how many messages the ring actor's mailbox may hold
	// before the member refuses more from other processes: a peer that
	// floods a busy member fills gRPC's buffers and this many messages,
	// not the heap. A refused request is answered ErrBusy at once; a
	// refused message between members is dropped (anti-entropy repairs
	// what it carried). The ring's own timers and the calls of this
	// process are never refused. Counted in Stats.DroppedBusy. Default
	// 8192 (about 16 MB of messages of 2 KiB).
	MaxQueued int

	// MaxUnanswered is how many ring messages the member hands Proto.Actor
	// for one peer since it last received a message from that peer; past
	// it, what the ring sends that peer is dropped, not queued (counted in
	// Stats.DroppedOutbound), until the peer is heard again. Proto.Actor
	// queues without bound what waits for a peer that stopped reading (a
	// stopped process, a hung host); this bounds it. A live peer is not
	// silenced: the member asks a peer for an answer at half the limit,
	// and any message of the peer restores it (see the README,
	// "Security"). Watches and the answers to client requests are not
	// counted. Default 8192, as MaxQueued (about 16 MB of messages of 2 KiB
	// per peer).
	MaxUnanswered int

	// TransportAuthenticated tells the member that its actor system's
	// remote authenticates peers (mTLS) although it was not started by
	// StartActorSystem with RemoteOptions.TLS; it only silences the warning
	// that the ring is open.
	TransportAuthenticated bool
}

// DefaultMaxNodes is the default of Security.MaxNodes.
const DefaultMaxNodes = 1024

// WithKeyring sets Config.Security.Keyring: the ring seals its messages and
// refuses those that are not sealed with one of the keyring's keys.
func WithKeyring(k *Keyring) Option { return func(c *Config) { c.Security.Keyring = k } }

// WithSecurity sets Config.Security.
func WithSecurity(s Security) Option { return func(c *Config) { c.Security = s } }

func (s Security) validate() error {
	switch {
	case s.ReplayWindow < 0:
		return fmt.Errorf("ringactor: config: Security.ReplayWindow must not be negative, got %v", s.ReplayWindow)
	case s.ReplayCacheSize < 0:
		return fmt.Errorf("ringactor: config: Security.ReplayCacheSize must not be negative, got %d", s.ReplayCacheSize)
	case s.MaxNodes < 0:
		return fmt.Errorf("ringactor: config: Security.MaxNodes must not be negative, got %d", s.MaxNodes)
	case s.MaxQueued < 0:
		return fmt.Errorf("ringactor: config: Security.MaxQueued must not be negative, got %d", s.MaxQueued)
	case s.MaxUnanswered < 0:
		return fmt.Errorf("ringactor: config: Security.MaxUnanswered must not be negative, got %d", s.MaxUnanswered)
	}
	return nil
}

func (s Security) maxNodes() int {
	if s.MaxNodes == 0 {
		return DefaultMaxNodes
	}
	return s.MaxNodes
}

func (s Security) maxQueued() int {
	if s.MaxQueued == 0 {
		return DefaultMaxQueued
	}
	return s.MaxQueued
}

func (s Security) maxUnanswered() int {
	if s.MaxUnanswered == 0 {
		return DefaultMaxUnanswered
	}
	return s.MaxUnanswered
}

// SecurityStats counts what a member's boundary refused (Stats.Security).
type SecurityStats struct {
	// Unsealed counts ring protocol messages refused because the ring has
	// a keyring and they were not sealed, or because the ring has none and
	// they were.
	Unsealed uint64
	// BadSeal counts sealed messages refused because their key is unknown,
	// their tag does not verify (wrong key, altered message) or they do not
	// decode.
	BadSeal uint64
	// Replayed counts sealed messages refused as replays: a timestamp
	// outside the replay window or a nonce seen before.
	Replayed uint64
	// ForgedFrom counts sealed messages whose inner sender was not the
	// sealed one.
	ForgedFrom uint64
	// RefusedRequests counts requests of clients refused for want of a
	// valid key (answered ErrKeyRequired).
	RefusedRequests uint64
	// TooLarge counts gossip refused because it named more than MaxNodes
	// nodes.
	TooLarge uint64
	// OversizedSends counts messages this member did not send because
	// they were larger than the remote's maximum message size
	// (RemoteOptions.MaxMessageBytes): sent, gRPC would refuse them and
	// the connection would drop, making each side see the other down.
	OversizedSends uint64
}

// maxHostBytes is the longest host name a node address may have (DNS's
// limit): a longer one is refused as an invalid node.
const maxHostBytes = 253

// explainUnreachable replaces a request's timeout or dead letter with the
// reason a TLS handshake to address failed, if one did: "the handshake
// failed" is what the user must fix, not "the member is gone". The reason
// is the one the remote's dialer recorded or, when it recorded none (the
// connection failed some other way first), what a new handshake shows.
func explainUnreachable(system *actor.ActorSystem, address string, err error) error {
	if !errors.Is(err, actor.ErrTimeout) && !errors.Is(err, actor.ErrDeadLetter) {
		return err
	}
	if hs := recentHandshakeError(address); hs != nil {
		return hs
	}
	if source, ok := tlsSystems.Load(system); ok {
		if hs := diagnoseTLS(source.(certSource), address); hs != nil {
			return hs
		}
	} else if hs := speaksTLS(address); hs != nil {
		return hs
	}
	return err
}
