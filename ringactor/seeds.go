package ringactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Joining by seeds. A member given seeds (Config.Seeds, Config.SeedDNS)
// joins them by itself, so a deployment needs no AddNode: at start, and
// then in rounds further and further apart (SeedRetry, doubling up to
// SeedRetryMax), it starts a join handshake (join.go) with every seed that
// is not yet a member of its ring, until it has joined: until another
// member is up for it. A seed that answers with the same payload type is
// added, under the name it gives itself, as AddNode would; one that does
// not answer is tried again next round, so members may start in any order,
// and one that started long after is joined within SeedRetryMax. Seeds are
// not tried after the member has joined, even if it is alone later (the
// members it knows rejoin by themselves). A seed that is this member
// itself, under any name, is skipped.
//
// SeedDNS names a set of members as a Kubernetes headless service does:
// "ring.ns.svc.cluster.local:7000" stands for every A and AAAA record of
// the name, each with the port. It is looked up again each round, on a
// goroutine of its own (the ring actor never waits on DNS), so members
// that come up later are seen.

// SeedResolver looks up the addresses of a name of Config.SeedDNS; a
// *net.Resolver is one.
type SeedResolver interface {
	LookupHost(ctx context.Context, host string) (addrs []string, err error)
}

// WithSeeds adds nodes (host:port) to Config.Seeds.
func WithSeeds(nodes ...string) Option {
	return func(c *Config) { c.Seeds = append(slices.Clone(c.Seeds), nodes...) }
}

// WithSeedDNS adds name:port to Config.SeedDNS.
func WithSeedDNS(name string, port int) Option {
	return func(c *Config) {
		c.SeedDNS = append(slices.Clone(c.SeedDNS), net.JoinHostPort(name, fmt.Sprint(port)))
	}
}

// WithSeedResolver sets Config.SeedResolver.
func WithSeedResolver(r SeedResolver) Option { return func(c *Config) { c.SeedResolver = r } }

// WithSeedRetry sets Config.SeedRetry and Config.SeedRetryMax.
func WithSeedRetry(first, most time.Duration) Option {
	return func(c *Config) { c.SeedRetry, c.SeedRetryMax = first, most }
}

// seedLookupTimeout bounds one round's DNS lookups.
const seedLookupTimeout = 5 * time.Second

func (c Config) validateSeeds() error {
	if len(c.Seeds) == 0 && len(c.SeedDNS) == 0 {
		return nil
	}
	for _, seed := range c.Seeds {
		if _, err := NormalizeNode(seed); err != nil {
			return fmt.Errorf("ringactor: config: Seeds: %w", err)
		}
	}
	for _, name := range c.SeedDNS {
		if _, err := NormalizeNode(name); err != nil {
			return fmt.Errorf("ringactor: config: SeedDNS: %w", err)
		}
	}
	if c.SeedRetry <= 0 || c.SeedRetryMax < c.SeedRetry {
		return fmt.Errorf("ringactor: config: SeedRetry must be positive and at most SeedRetryMax, got %v and %v", c.SeedRetry, c.SeedRetryMax)
	}
	return nil
}

// Messages of the seeder to its ring actor.
type (
	// seedTick starts a round.
	seedTick struct{}
	// seedsResolved carries a round's DNS answers.
	seedsResolved struct {
		nodes []string
		err   error
	}
)

// seeder is the ring actor's state of joining by seeds.
type seeder struct {
	seeds    []string // Config.Seeds
	names    []string // Config.SeedDNS
	resolver SeedResolver
	wait     time.Duration // before the next round
	most     time.Duration
	// resolving: a lookup is on its way; a round does not start another.
	resolving bool
	// ctx ends the lookups when the ring actor stops.
	ctx    context.Context
	cancel context.CancelFunc
	rounds int
}

// newSeeder returns the seeder of cfg, or nil when it has no seeds.
func newSeeder(cfg Config) *seeder {
	if len(cfg.Seeds) == 0 && len(cfg.SeedDNS) == 0 {
		return nil
	}
	resolver := cfg.SeedResolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &seeder{seeds: cfg.Seeds, names: cfg.SeedDNS, resolver: resolver, wait: cfg.SeedRetry, most: cfg.SeedRetryMax, ctx: ctx, cancel: cancel}
}

// next returns the wait before the next round, with a tenth of jitter so
// that members started together do not keep trying in step, and doubles
// the one after.
func (s *seeder) next() time.Duration {
	wait := s.wait + rand.N(s.wait/10+1)
	s.wait = min(2*s.wait, s.most)
	return wait
}

// lookup resolves the names of SeedDNS and sends the addresses to the ring
// actor self.
func (s *seeder) lookup(root *actor.RootContext, self *actor.PID) {
	ctx, cancel := context.WithTimeout(s.ctx, seedLookupTimeout)
	defer cancel()
	var nodes []string
	var errs []error
	for _, name := range s.names {
		host, port, _ := net.SplitHostPort(name) // validated
		addrs, err := s.resolver.LookupHost(ctx, host)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		for _, addr := range addrs {
			nodes = append(nodes, net.JoinHostPort(addr, port))
		}
	}
	if s.ctx.Err() == nil {
		root.Send(self, &seedsResolved{nodes: nodes, err: errors.Join(errs...)})
	}
}

// startSeeds makes the first round of a member with seeds.
func (a *ringActor[P]) startSeeds(ctx actor.Context) {
	if a.seeds = newSeeder(a.cfg); a.seeds != nil {
		a.seedRound(ctx)
	}
}

// seedRound tries the seeds that are not members yet, and plans the next
// round, unless the member has joined.
func (a *ringActor[P]) seedRound(ctx actor.Context) {
	s := a.seeds
	if s == nil {
		return
	}
	if a.core.joined() {
		a.log.Info("joined the ring; seeds are no longer tried", slog.Int("rounds", s.rounds), slog.Any("up", a.core.upNodes()))
		a.stopSeeds()
		return
	}
	s.rounds++
	a.core.joinSeeds(s.seeds)
	if len(s.names) > 0 && !s.resolving {
		s.resolving = true
		go s.lookup(ctx.ActorSystem().Root, ctx.Self())
	}
	a.timers.once(s.next(), &seedTick{})
	a.apply(ctx)
}

// seedsFound tries the addresses a DNS lookup found.
func (a *ringActor[P]) seedsFound(ctx actor.Context, found *seedsResolved) {
	s := a.seeds
	if s == nil {
		return
	}
	s.resolving = false
	if found.err != nil {
		a.log.Warn("cannot look up seeds; trying again later", slog.Any("error", found.err))
	}
	if !a.core.joined() {
		a.core.joinSeeds(found.nodes)
		a.apply(ctx)
	}
}

// stopSeeds ends joining by seeds; it may be called more than once.
func (a *ringActor[P]) stopSeeds() {
	if a.seeds != nil {
		a.seeds.cancel()
		a.seeds = nil
	}
}

// joined reports whether the member is in a ring with another member that
// is up.
func (c *ringCore) joined() bool { return len(c.up) > 1 }

// joinSeeds starts a join handshake with each of nodes that is not this
// member nor a member of its ring yet, and not being joined already.
func (c *ringCore) joinSeeds(nodes []string) {
	for _, node := range nodes {
		normalized, err := NormalizeNode(node)
		if err != nil {
			c.log.Warn("ignored a seed that is not an address", slog.String("seed", truncate(node)), slog.Any("error", err))
			continue
		}
		member := c.findNode(normalized)
		if member == c.cfg.self || c.nodeSet.Contains(member) || c.joining(member) {
			continue
		}
		_ = c.join(member, 0, false) // an address: cannot fail
	}
}
