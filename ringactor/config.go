package ringactor

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/genserverring/genserverring-go/persistence"
)

// Config holds a ring member's settings. Start from DefaultConfig and change
// what you need through Options; every duration must be positive.
type Config struct {
	// GossipInterval is the time between two anti-entropy rounds of the
	// member with a random up member: a ping carrying a digest of its state
	// (a hash of its node set, forced-down set and payload) goes to it, and
	// state travels, both ways, only when the digests differ. The ping is
	// also a probe, so a member that no live predecessor watches (up sets
	// that differ) is still probed. Neighbours compare more often: every
	// heartbeat to the predecessor (ProbeInterval) carries the digest.
	// Changes wait for neither: they are pushed at once (PushFanout); the
	// rounds repair what a push missed, and the random ones spread a repair
	// across the ring in O(log N) rounds. Default 5 s: a round costs a ping
	// and an Ack, about 215 bytes on the wire, and at one a second the
	// rounds would cost more than the heartbeats.
	GossipInterval time.Duration

	// PushFanout is how many up members a change of the payload (or of
	// the membership) is pushed to at once, as a delta, by the member that
	// made it and by each member that it reaches for the first time,
	// PushHops times over: the sender's successor in the sorted up set and
	// random members. The random targets alone would miss a member (which
	// then waits for the next anti-entropy round) with a chance of about
	// e^-PushFanout; with the successor among them, a member is missed only
	// if its predecessor is too. The cost is PushFanout small messages per
	// member per change. 0 turns eager push off. Default 6.
	PushFanout int

	// PushHops bounds how many times a pushed delta is passed on. Default 6,
	// enough for thousands of members at the default fanout.
	PushHops int

	// Durability says what the reply to a call that changed the payload
	// guarantees. Default DurabilityDisk.
	Durability Durability

	// ChunkBytes is the largest gossip or delta a member sends as one
	// message; a larger one (a large payload) travels in parts of this size,
	// joined on receipt, so that no transport message nears gRPC's 4 MB
	// limit. Default 256 KiB.
	ChunkBytes int

	// MaxStateBytes bounds the gossip or delta a member accepts in chunks:
	// the largest payload (encoded) the ring can share; a change that
	// would make the payload larger is refused with ErrPayloadTooLarge.
	// Default 64 MiB, the size a payload's decoder (crdt.DefaultLimits)
	// and the payload log (persistence.MaxDeltaSize) accept: a larger
	// value would let a member hold a payload its peers cannot read.
	MaxStateBytes int

	// MaxClockSkew bounds how far in the future a timestamp of a state from
	// another member may be (last-writer-wins registers, alone or in a
	// Map): a state with a later one is refused, so one member with a
	// wrong clock, or a forged state, cannot win every register for good.
	// Default 1 min.
	MaxClockSkew time.Duration

	// WriteAcks is how many other up members must have merged a change
	// (and, with their durability on, logged it) before the reply of the
	// call that made it says ok: a write that survives the loss of this
	// member's disk (Akka's WriteTo(n)). WriteMajority asks for a majority
	// of the up members, this one included. 0: this member only. A call
	// can ask for its own with Context.SetWriteAcks. Default 0.
	WriteAcks int

	// WriteAckTimeout is how long a call waits for WriteAcks confirmations
	// before it gets ErrNotReplicated. Default 1 s.
	WriteAckTimeout time.Duration

	// SnapshotBytes is the size of the payload log past which the member
	// folds it into a snapshot (with durability on): it compacts when the
	// log outgrows both SnapshotBytes and twice the last snapshot, so the
	// cost of a write does not grow with the payload. Default 1 MiB.
	SnapshotBytes int64

	// Pruning folds away the entries of replicas that will never write
	// again (a member removed with DelNode; an earlier life of a member
	// that lost its data or runs DurabilityNone, which takes a new replica
	// ID each life), so that version vectors and counters stay bounded as
	// members come and go: the lowest member of the node set moves a
	// retired replica's contribution into its own replica once every
	// member is up and has shown it holds the same state, and the decision
	// spreads as a change (see the package documentation, "Pruning"). It
	// is off, whatever this says, for a payload type that is not
	// crdt.Prunable (crdt.LWWRegister, or a type of your own). Default on.
	Pruning bool

	// PruneDelay is how long a replica must have been retired before it
	// is pruned: long enough for a removed member that does not know it
	// yet to stop writing and for its last messages to arrive. What such a
	// member writes after the pruning is lost. Default 1 min.
	PruneDelay time.Duration

	// PruneMarkTTL is how long a member keeps the mark of a pruning (a
	// few dozen bytes in the payload) before it forgets it, once every
	// member is up and holds it. While a member holds the mark, a state
	// from before the pruning cannot bring the retired replica's entries
	// back; after, one can, and they are then counted twice. Members that
	// are down hold forgetting back, so what remains is a state older than
	// the TTL from elsewhere: a member removed while it was down that comes
	// back with its old data, a data directory restored from a backup taken
	// before the pruning, or a message delayed that long. Longer is safer;
	// the cost is the marks of the replicas retired within it (about 60
	// bytes each in every state). Default 6 h, as Akka Distributed Data's
	// pruning-marker-time-to-live.
	PruneMarkTTL time.Duration

	// ProbeInterval is how often the member shows it is alive, to find
	// members that hang without closing their connections: each interval
	// it sends a heartbeat to its predecessor in the sorted up set, which
	// pings it (a probe) when the heartbeat is ProbeInterval/4 late.
	// Default 1 s.
	ProbeInterval time.Duration

	// ProbeTimeout is how long a probe may go unanswered before the member
	// declares the target down and tells the others. After half of it with no
	// answer, IndirectChecks other members are asked to probe the target too,
	// so one slow link does not bring a member down; the others check the
	// verdict with a ping of their own that may go unanswered for half of it.
	// A member that hangs is seen down by every other member within
	// 1.25 × ProbeInterval + 1.5 × ProbeTimeout (2.75 s with the defaults), plus as
	// much again for each adjacent member in the sorted up set that hangs
	// with it. A verdict is postponed while this member's own process is
	// starved of CPU (a goroutine waited a tenth of ProbeTimeout to run),
	// by ProbeTimeout each time, at most 3 times: a starved process would
	// otherwise declare down members whose answers wait in its own queues.
	// Default 1 s.
	ProbeTimeout time.Duration

	// IndirectChecks is how many other members are asked to probe a target
	// that did not answer directly. Default 2.
	IndirectChecks int

	// RejoinInterval is how often the member gossips to one member of the
	// node set that is not up (neither forced down), so that members come
	// back after a partition heals or a hung process resumes. Default 1 s.
	RejoinInterval time.Duration

	// InitTimeout is how long a starting member waits for the members of its
	// persisted ring to answer before it calls HandleRingChange with reason
	// init. Default 500 ms.
	InitTimeout time.Duration

	// RequestTimeout bounds the requests of a Client other than Call, which
	// takes its own timeout. Default 5 s.
	RequestTimeout time.Duration

	// DataDir is where the member persists its ring and payload when Store
	// is nil. Default persistence.DefaultDir(ring name, node address).
	DataDir string

	// Store persists the ring (and, with DurabilityDisk, the payload: it
	// must then be a persistence.PayloadStore); it overrides DataDir.
	// Default a persistence.FileStore under DataDir.
	Store persistence.Store

	// Logger receives the ring's log lines. Default the actor system's
	// logger, with the attributes ring and node.
	Logger *slog.Logger

	// Seeds are addresses (host:port) of members this member joins by
	// itself, at start and then in rounds further apart, until another
	// member is up for it: a deployment needs no AddNode (see WithSeeds).
	// A seed that does not answer yet is tried again. Default none.
	Seeds []string

	// SeedDNS are DNS names with a port ("name:port"), each standing for
	// the members at its A and AAAA records with the port, looked up again
	// each round: a Kubernetes headless service. Default none.
	SeedDNS []string

	// SeedResolver looks up SeedDNS. Default net.DefaultResolver.
	SeedResolver SeedResolver

	// SeedRetry is the wait between the first two rounds of seed joins;
	// each later one waits twice as long as the one before, up to
	// SeedRetryMax. Defaults 1 s and 30 s.
	SeedRetry, SeedRetryMax time.Duration

	// MeterProvider receives the member's OpenTelemetry instruments (see
	// the package documentation, Metrics). Default the actor system's
	// (actor.WithMetricProviders) when one was set there, otherwise
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider

	// Security is the member's boundary: ring key, replay window, input
	// bounds. Default: no key (the ring warns that it is open).
	Security Security

	// seam, set by the package's tests only, runs the member without a
	// remote (transport.go).
	seam transportSeam
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{
		GossipInterval: 5 * time.Second,
		ProbeInterval:  time.Second,
		ProbeTimeout:   time.Second,
		IndirectChecks: 2,
		RejoinInterval: time.Second,
		InitTimeout:    500 * time.Millisecond,
		RequestTimeout: 5 * time.Second,
		PushFanout:     6,
		PushHops:       6,
		Durability:     DurabilityDisk,
		SnapshotBytes:  1 << 20,

		WriteAckTimeout: time.Second,
		MaxClockSkew:    time.Minute,
		ChunkBytes:      256 << 10,
		MaxStateBytes:   64 << 20,
		SeedRetry:       time.Second,
		SeedRetryMax:    30 * time.Second,

		Pruning:      true,
		PruneDelay:   time.Minute,
		PruneMarkTTL: 6 * time.Hour,
	}
}

// Option changes a Config.
type Option func(*Config)

// WithConfig replaces the whole configuration.
func WithConfig(cfg Config) Option { return func(c *Config) { *c = cfg } }

// WithGossipInterval sets Config.GossipInterval.
func WithGossipInterval(d time.Duration) Option { return func(c *Config) { c.GossipInterval = d } }

// WithProbe sets Config.ProbeInterval and Config.ProbeTimeout.
func WithProbe(interval, timeout time.Duration) Option {
	return func(c *Config) { c.ProbeInterval, c.ProbeTimeout = interval, timeout }
}

// WithIndirectChecks sets Config.IndirectChecks.
func WithIndirectChecks(n int) Option { return func(c *Config) { c.IndirectChecks = n } }

// WithRejoinInterval sets Config.RejoinInterval.
func WithRejoinInterval(d time.Duration) Option { return func(c *Config) { c.RejoinInterval = d } }

// WithInitTimeout sets Config.InitTimeout.
func WithInitTimeout(d time.Duration) Option { return func(c *Config) { c.InitTimeout = d } }

// WithRequestTimeout sets Config.RequestTimeout.
func WithRequestTimeout(d time.Duration) Option { return func(c *Config) { c.RequestTimeout = d } }

// WithDataDir sets Config.DataDir.
func WithDataDir(dir string) Option { return func(c *Config) { c.DataDir = dir } }

// WithStore sets Config.Store.
func WithStore(s persistence.Store) Option { return func(c *Config) { c.Store = s } }

// WithPush sets Config.PushFanout and Config.PushHops.
func WithPush(fanout, hops int) Option {
	return func(c *Config) { c.PushFanout, c.PushHops = fanout, hops }
}

// WithDurability sets Config.Durability.
func WithDurability(d Durability) Option { return func(c *Config) { c.Durability = d } }

// WithWriteAcks sets Config.WriteAcks and Config.WriteAckTimeout.
func WithWriteAcks(acks int, timeout time.Duration) Option {
	return func(c *Config) { c.WriteAcks, c.WriteAckTimeout = acks, timeout }
}

// WithChunks sets Config.ChunkBytes and Config.MaxStateBytes.
func WithChunks(chunkBytes, maxStateBytes int) Option {
	return func(c *Config) { c.ChunkBytes, c.MaxStateBytes = chunkBytes, maxStateBytes }
}

// WithMaxClockSkew sets Config.MaxClockSkew.
func WithMaxClockSkew(d time.Duration) Option { return func(c *Config) { c.MaxClockSkew = d } }

// WithSnapshotBytes sets Config.SnapshotBytes.
func WithSnapshotBytes(n int64) Option { return func(c *Config) { c.SnapshotBytes = n } }

// WithPruning turns pruning on (Config.Pruning) with Config.PruneDelay and
// Config.PruneMarkTTL.
func WithPruning(delay, markTTL time.Duration) Option {
	return func(c *Config) { c.Pruning, c.PruneDelay, c.PruneMarkTTL = true, delay, markTTL }
}

// WithoutPruning turns pruning off (Config.Pruning): version vectors and
// counters then gain an entry for each replica that ever wrote.
func WithoutPruning() Option { return func(c *Config) { c.Pruning = false } }

// WithLogger sets Config.Logger.
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

func buildConfig(opts []Option) (Config, error) {
	cfg := DefaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	return cfg, cfg.validate()
}

func (c Config) validate() error {
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"GossipInterval", c.GossipInterval},
		{"ProbeInterval", c.ProbeInterval},
		{"ProbeTimeout", c.ProbeTimeout},
		{"RejoinInterval", c.RejoinInterval},
		{"InitTimeout", c.InitTimeout},
		{"RequestTimeout", c.RequestTimeout},
		{"WriteAckTimeout", c.WriteAckTimeout},
		{"MaxClockSkew", c.MaxClockSkew},
	} {
		if d.value <= 0 {
			return fmt.Errorf("ringactor: config: %s must be positive, got %v", d.name, d.value)
		}
	}
	if err := c.Security.validate(); err != nil {
		return err
	}
	if err := c.validateSeeds(); err != nil {
		return err
	}
	if c.PushFanout < 0 || c.PushHops < 0 {
		return fmt.Errorf("ringactor: config: PushFanout and PushHops must not be negative, got %d and %d", c.PushFanout, c.PushHops)
	}
	if c.Durability != DurabilityDisk && c.Durability != DurabilityNone {
		return fmt.Errorf("ringactor: config: unknown Durability %d", c.Durability)
	}
	if c.WriteAcks < WriteMajority {
		return fmt.Errorf("ringactor: config: WriteAcks must be a count or WriteMajority, got %d", c.WriteAcks)
	}
	if c.ChunkBytes <= 0 || c.MaxStateBytes < c.ChunkBytes {
		return fmt.Errorf("ringactor: config: ChunkBytes must be positive and at most MaxStateBytes, got %d and %d", c.ChunkBytes, c.MaxStateBytes)
	}
	if c.SnapshotBytes <= 0 {
		return fmt.Errorf("ringactor: config: SnapshotBytes must be positive, got %d", c.SnapshotBytes)
	}
	if c.Pruning && (c.PruneDelay <= 0 || c.PruneMarkTTL <= 0) {
		return fmt.Errorf("ringactor: config: with Pruning, PruneDelay and PruneMarkTTL must be positive, got %v and %v", c.PruneDelay, c.PruneMarkTTL)
	}
	if c.IndirectChecks < 0 {
		return fmt.Errorf("ringactor: config: IndirectChecks must not be negative, got %d", c.IndirectChecks)
	}
	return nil
}
