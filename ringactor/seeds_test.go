package ringactor

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
)

var _ SeedResolver = (*net.Resolver)(nil)

// fastSeeds retries seeds every few milliseconds.
var fastSeeds = WithSeedRetry(20*time.Millisecond, 100*time.Millisecond)

// Members started with each other's addresses as seeds, in any order and
// some long after the others, find each other with no AddNode, and stop
// trying once joined.
func TestSeedsJoinMembersThatStartLater(t *testing.T) {
	nodes := []string{newNode(), newNode(), newNode()}
	a := startMemberOn(t, nodes[0], "seeded", nil, fastSeeds, WithSeeds(nodes...))
	require.Eventually(t, func() bool { return a.behaviour.hasChange(ReasonInit, nil) }, waitFor, tick)
	assert.Equal(t, []string{a.node}, a.up(t), "no seed is up yet")

	// b starts with no seeds: a finds it.
	b := startMemberOn(t, nodes[1], "seeded", nil)
	ab := sortedNodes(nodes[0], nodes[1])
	for _, m := range []*member{a, b} {
		require.Eventually(t, func() bool { return slices.Equal(m.up(t), ab) }, waitFor, tick)
	}
	require.Eventually(t, func() bool { return logFor(t).count("seeds are no longer tried") == 1 }, waitFor, tick)

	// c starts later, with a spelling of a's address among its seeds; a
	// no longer seeks, c joins by itself.
	host, port, err := net.SplitHostPort(nodes[0])
	require.NoError(t, err)
	c := startMemberOn(t, nodes[2], "seeded", nil, fastSeeds, WithSeeds("[::ffff:"+host+"]:"+port, nodes[2]))
	all := sortedNodes(nodes...)
	for _, m := range []*member{a, b, c} {
		require.Eventually(t, func() bool { return slices.Equal(m.up(t), all) }, waitFor, tick)
	}
	require.Eventually(t, func() bool { return logFor(t).count("seeds are no longer tried") == 2 }, waitFor, tick)
	allC, err := c.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, all, allC, "a joined under its own name")
}

// fakeResolver answers LookupHost from a table the test changes, and
// counts the lookups.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	err     error
	lookups int
}

func (r *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	if r.err != nil {
		return nil, &net.DNSError{Err: r.err.Error(), Name: host}
	}
	return slices.Clone(r.answers[host]), nil
}

func (r *fakeResolver) set(host string, err error, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[host], r.err = addrs, err
}

func (r *fakeResolver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

func hostOf(t *testing.T, node string) string {
	t.Helper()
	host, _, err := net.SplitHostPort(node)
	require.NoError(t, err)
	return host
}

// A DNS seed stands for the members at its A and AAAA records (a
// Kubernetes headless service); it is looked up again each round, so
// members that come up later are joined, and a failed lookup is retried.
func TestSeedDNSFindsMembersAsTheyComeUp(t *testing.T) {
	resolver := &fakeResolver{answers: map[string][]string{}}
	nodes := []string{newNode(), newNode()}
	resolver.set("ring.ns.svc.cluster.local", errors.New("no such host"))
	a := startMemberOn(t, nodes[0], "dns-seeded", nil, fastSeeds, WithSeedDNS("ring.ns.svc.cluster.local", 7000), WithSeedResolver(resolver))
	require.Eventually(t, func() bool { return logFor(t).count("cannot look up seeds") >= 1 }, waitFor, tick)

	// Only a itself is listed: nothing to join.
	resolver.set("ring.ns.svc.cluster.local", nil, hostOf(t, nodes[0]))
	lookups := resolver.count()
	require.Eventually(t, func() bool { return resolver.count() >= lookups+2 }, waitFor, tick, "looked up again each round")
	assert.Equal(t, []string{a.node}, a.up(t))

	b := startMemberOn(t, nodes[1], "dns-seeded", nil)
	resolver.set("ring.ns.svc.cluster.local", nil, hostOf(t, nodes[0]), hostOf(t, nodes[1]))
	both := sortedNodes(nodes...)
	for _, m := range []*member{a, b} {
		require.Eventually(t, func() bool { return slices.Equal(m.up(t), both) }, waitFor, tick)
	}
	require.Eventually(t, func() bool { return logFor(t).count("seeds are no longer tried") == 1 }, waitFor, tick)
	// Two probe intervals (each longer than SeedRetryMax) pass: no round.
	lookups = resolver.count()
	heartbeats := a.stats(t).HeartbeatsSent
	require.Eventually(t, func() bool { return a.stats(t).HeartbeatsSent >= heartbeats+2 }, waitFor, tick)
	assert.Equal(t, lookups, resolver.count(), "no lookups once joined")
}

// A seed whose payload is of another type is not joined.
func TestSeedOfAnotherPayloadTypeIsNotJoined(t *testing.T) {
	_, setB, setNode := startSetMember(t, "seeded-mixed")
	a := startMember(t, "seeded-mixed", nil, fastSeeds, WithSeeds(setNode))
	require.Eventually(t, func() bool { return len(a.behaviour.mismatches()) == 1 && len(setB.mismatches()) == 1 }, waitFor, tick)
	require.Eventually(t, func() bool { return a.stats(t).PayloadMismatches >= 2 }, waitFor, tick, "tried again")
	all, err := a.client.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{a.node}, all)
}

func TestSeedRetryDoublesUpToItsMaximum(t *testing.T) {
	s := newSeeder(Config{Seeds: []string{"127.0.0.1:1"}, SeedRetry: 100 * time.Millisecond, SeedRetryMax: time.Second})
	t.Cleanup(s.cancel)
	for _, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		got := s.next()
		assert.GreaterOrEqual(t, got, want)
		assert.LessOrEqual(t, got, want+want/10)
	}
	assert.Nil(t, newSeeder(DefaultConfig()), "no seeds, no seeder")
}

func TestBadSeedsAreRefusedAtStart(t *testing.T) {
	system := actor.NewActorSystem()
	for name, opt := range map[string]Option{
		"seed":     WithSeeds("127.0.0.1:7001", "no port"),
		"dns seed": WithSeedDNS("", 7000),
		"retry":    WithSeedRetry(time.Second, time.Millisecond),
	} {
		opts := []Option{opt}
		if name == "retry" {
			opts = append(opts, WithSeeds("127.0.0.1:7001"))
		}
		_, err := Start[*crdt.PNCounter](system, "bad-seeds", &counterBehaviour{}, opts...)
		assert.Error(t, err, name)
		if name != "retry" {
			assert.ErrorIs(t, err, ErrInvalidNode, name)
		}
	}
}
