package ringactor

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/genserverring/genserverring-go/persistence"
)

// Config holds a ring member's settings. Start from DefaultConfig and change
// what you need through Options; every duration must be positive.
type Config struct {
	// GossipInterval is how often the member sends its state (node set,
	// forced-down set, payload) to one random up member. Default 1 s.
	GossipInterval time.Duration

	// ProbeInterval is how often the member probes other members to find
	// those that hang without closing their connections: each interval it
	// pings its successor in the sorted up set and one random up member.
	// Default 1 s.
	ProbeInterval time.Duration

	// ProbeTimeout is how long a probe may go unanswered before the member
	// declares the target down and tells the others. After half of it with no
	// answer, IndirectChecks other members are asked to probe the target too,
	// so one slow link does not bring a member down; the others check the
	// verdict with a ping of their own that may go unanswered for half of it.
	// A member that hangs is seen down by every other member within
	// ProbeInterval + 1.5 × ProbeTimeout (2.5 s with the defaults), plus as
	// much again for each adjacent member in the sorted up set that hangs
	// with it. Default 1 s.
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

	// DataDir is where the member persists its ring when Store is nil.
	// Default persistence.DefaultDir(ring name): ./data/<ring name>/.
	DataDir string

	// Store persists the ring; it overrides DataDir. Default a
	// persistence.FileStore under DataDir.
	Store persistence.Store

	// Logger receives the ring's log lines. Default the actor system's
	// logger, with the attributes ring and node.
	Logger *slog.Logger

	// seam, set by the package's tests only, runs the member without a
	// remote (transport.go).
	seam transportSeam
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{
		GossipInterval: time.Second,
		ProbeInterval:  time.Second,
		ProbeTimeout:   time.Second,
		IndirectChecks: 2,
		RejoinInterval: time.Second,
		InitTimeout:    500 * time.Millisecond,
		RequestTimeout: 5 * time.Second,
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
	} {
		if d.value <= 0 {
			return fmt.Errorf("ringactor: config: %s must be positive, got %v", d.name, d.value)
		}
	}
	if c.IndirectChecks < 0 {
		return fmt.Errorf("ringactor: config: IndirectChecks must not be negative, got %d", c.IndirectChecks)
	}
	return nil
}
