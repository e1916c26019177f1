package main

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Proto.Actor's own cluster gossip as a peer: N cluster members in this
// process, each its own actor system and remote on 127.0.0.1 (so this
// process also holds N gRPC servers beside the ring's and memberlist's, one
// system after the other), found through the cluster's in-process test
// provider (an InMemAgent shared by the N members, in place of Consul) and
// placing nothing (disthash, no kinds). They share one small value under a
// gossip key, cluster.Gossip.SetState, the way the cluster itself shares
// its heartbeats and topology.
//
// Upstream Proto.Actor's remote sets gRPC's global logger each time one
// starts: a data race when members start concurrently, which the bench
// (not built with -race) accepts to start 64 members in seconds, not the
// minute that StartMember's one-second sleep each would take in a row.

// pcGossipKey is the gossip key of the shared value.
const pcGossipKey = "bench"

// pcStartBatch is how many members start at once: each StartMember sleeps a
// second after it registers with the provider.
const pcStartBatch = 16

// pcMember is one Proto.Actor cluster member.
type pcMember struct {
	cluster  *cluster.Cluster
	provider *test.Provider
	wire     *wire

	mu    sync.Mutex
	watch int64     // the value whose arrival is timed
	seen  time.Time // when a gossip update first carried it
}

// pcCluster is N Proto.Actor cluster members in this process.
type pcCluster struct {
	cfg     config
	name    string
	agent   *test.InMemAgent
	members []*pcMember
	version int64
	log     *slog.Logger
}

func newPCCluster(cfg config, rep int) *pcCluster {
	return &pcCluster{
		cfg: cfg, name: fmt.Sprintf("bench-%d", rep), agent: test.NewInMemAgent(),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// pcRemoteConfig is Proto.Actor's default remote with two changes: each
// member's connections are counted (wire credentials, plaintext like the
// default), and the endpoint queues are small, as the ring's are, because
// the default preallocates 1,000,000 slots (about 16 MB) per peer: 64
// members would need 64 GB.
func pcRemoteConfig(w *wire) *remote.Config {
	creds := newWireCredentials(w)
	return remote.Configure("127.0.0.1", 0,
		remote.WithServerOptions(grpc.Creds(creds)),
		remote.WithDialOptions(grpc.WithTransportCredentials(creds)),
		remote.WithEndpointWriterQueueSize(1024),
		remote.WithEndpointManagerQueueSize(1024))
}

func (c *pcCluster) startMember() (*pcMember, error) {
	m := &pcMember{wire: newWire()}
	m.provider = test.NewTestProvider(c.agent)
	cfg := cluster.Configure(c.name, m.provider, disthash.New(), pcRemoteConfig(m.wire))
	log := c.log
	if c.cfg.verbose {
		log = c.cfg.logger()
	}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	m.cluster = cluster.New(system, cfg)
	system.EventStream.Subscribe(func(evt any) {
		if u, ok := evt.(*cluster.GossipUpdate); ok && u.Key == pcGossipKey {
			m.learn(u)
		}
	})
	if err := startPCMember(m.cluster); err != nil {
		return nil, err
	}
	return m, nil
}

// startPCMember runs StartMember, which panics when it cannot listen.
func startPCMember(c *cluster.Cluster) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("start Proto.Actor cluster member: %v", p)
		}
	}()
	c.StartMember()
	return nil
}

// learn takes a gossip update of the shared value.
func (m *pcMember) learn(u *cluster.GossipUpdate) {
	var v wrapperspb.Int64Value
	if u.Value == nil || u.Value.UnmarshalTo(&v) != nil {
		return
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.watch != 0 && v.Value >= m.watch && m.seen.IsZero() {
		m.seen = now
	}
}

func (c *pcCluster) start(n int) error {
	for len(c.members) < n {
		batch := min(pcStartBatch, n-len(c.members))
		started := make([]*pcMember, batch)
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				started[i], errs[i] = c.startMember()
			}()
		}
		wg.Wait()
		for i, m := range started {
			if errs[i] != nil {
				return errs[i]
			}
			c.members = append(c.members, m)
		}
	}
	return c.awaitTopology("Proto.Actor cluster start")
}

// awaitTopology waits until every member lists every member. The
// cluster's own topology consensus (MemberList.TopologyConsensus) is not
// awaited: in this version it never reports one, even when every member's
// gossip carries the same topology hash (the upstream fixture's wait on it
// returns at once); a first, untimed dissemination shows instead that
// gossip flows.
func (c *pcCluster) awaitTopology(what string) error {
	return await(what+": every member lists every member, with consensus", c.cfg.deadline, func() bool {
		for _, m := range c.members {
			if m.cluster.MemberList.Members().Len() != len(c.members) {
				return false
			}
		}
		return true
	})
}

func (c *pcCluster) close() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Not graceful: a graceful shutdown sleeps 2 s for grain
			// handover, and there are no grains. The provider's TTL
			// ticker is stopped by hand, since only a graceful shutdown
			// stops it.
			m.cluster.Shutdown(false)
			_ = m.provider.Shutdown(false)
			m.wire.kill()
		}()
	}
	wg.Wait()
	c.members = nil
}

// disseminate sets a new value on member 0 and returns the time until
// every other member's gossip actor published it as an update.
func (c *pcCluster) disseminate() (time.Duration, error) {
	c.version++
	for _, m := range c.members {
		m.mu.Lock()
		m.watch, m.seen = c.version, time.Time{}
		m.mu.Unlock()
	}
	start := time.Now()
	c.members[0].cluster.Gossip.SetState(pcGossipKey, wrapperspb.Int64(c.version))
	return awaitArrivals("Proto.Actor cluster dissemination", c.cfg.deadline, start, len(c.members)-1, func(i int) time.Time {
		m := c.members[i+1]
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.seen
	})
}

func (c *pcCluster) sent() uint64 {
	var total uint64
	for _, m := range c.members {
		total += m.wire.Sent()
	}
	return total
}

// pcGossipInterval is the cluster's default gossip interval, for the
// figure in rounds and the header.
func pcGossipInterval() time.Duration {
	return cluster.Configure("x", nil, nil, remote.Configure("127.0.0.1", 0)).GossipInterval
}

// measureProtoCluster runs one repetition of Proto.Actor cluster gossip's
// figures at N = n: the steady cost with nothing changing (the cluster
// still gossips its heartbeats) and dissemination. Join, crash and hang
// are left out: the test provider's membership is an in-process map, not
// something the network carries, so they would time the map.
func measureProtoCluster(cfg config, rs *results, n, rep int) error {
	c := newPCCluster(cfg, rep)
	defer c.close()
	if err := c.start(n); err != nil {
		return err
	}
	record := func(figure string, u unit, v float64) { rs.add(systemProtoCluster, n, figure, u, v) }
	// A first value, so that the key exists everywhere before the idle
	// window: the steady cost then includes carrying it.
	if _, err := c.disseminate(); err != nil {
		return err
	}
	b, cpu := steady(cfg.window, n, c.sent)
	record(idleFigure, unitBytesPerS, b)
	record("steady CPU per member, idle", unitCPU, cpu)
	d, err := c.disseminate()
	if err != nil {
		return err
	}
	record("dissemination", unitMillis, millis(d))
	record("dissemination in gossip intervals", unitRounds, float64(d)/float64(pcGossipInterval()))
	return nil
}
