package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
	"github.com/genserverring/genserverring-go/ringactor"
)

// ringName is the ring actor's name on every member.
const ringName = "bench"

// payload is the ring's payload: a set of strings, so that one small
// element is a small change and many large ones make a large payload.
type payload = *crdt.ORSet[string]

// ringMember is one member of the ring under measure: an actor system with
// its own remote (and so its own gRPC server and connections) in this
// process.
type ringMember struct {
	addr   string
	port   int
	system *actor.ActorSystem
	remote *remote.Remote
	client *ringactor.Client
	wire   *wire
	dir    string            // its data directory, kept across a restart
	store  persistence.Store // with -store memory, kept across a restart

	killed sync.Once

	mu     sync.Mutex
	watch  string    // the element whose arrival is timed
	seen   time.Time // when HandleStateChange first had watch
	events []ringEvent
	block  chan struct{} // closed to end a hang
}

// ringEvent is one HandleRingChange, with the node set at that moment.
type ringEvent struct {
	at       time.Time
	old, new []string
	all      []string
}

// addElements asks a member to add elements to its payload; the answer is
// the payload's encoded size in bytes.
type addElements struct{ elements []string }

// hangCast makes the ring actor block in HandleCast until its member's
// block channel is closed: the member stops answering, its connections stay
// open.
type hangCast struct{}

type benchBehaviour struct {
	ringactor.DefaultBehaviour[payload]
	m *ringMember
}

func (b *benchBehaviour) HandleCall(ctx *ringactor.Context[payload], from ringactor.From, msg any) ringactor.CallResult {
	if add, ok := msg.(addElements); ok {
		if len(add.elements) > 0 {
			// One change, whose delta holds every element added.
			ctx.Update(func(p payload) payload {
				var delta payload
				for _, e := range add.elements {
					d := p.Add(ctx.Replica(), e)
					if delta == nil {
						delta = d
					} else {
						delta.Merge(d)
					}
				}
				return delta
			})
		}
		data, err := ctx.Payload().MarshalBinary()
		if err != nil {
			return ringactor.ReplyWithError(err)
		}
		return ringactor.ReplyWith(len(data))
	}
	return b.DefaultBehaviour.HandleCall(ctx, from, msg)
}

func (b *benchBehaviour) HandleCast(ctx *ringactor.Context[payload], msg any) {
	if _, ok := msg.(hangCast); ok {
		b.m.mu.Lock()
		block := b.m.block
		b.m.mu.Unlock()
		<-block
	}
}

func (b *benchBehaviour) HandleStateChange(ctx *ringactor.Context[payload], p payload) {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	if b.m.watch != "" && b.m.seen.IsZero() && p.Contains(b.m.watch) {
		b.m.seen = time.Now()
	}
}

func (b *benchBehaviour) HandleRingChange(ctx *ringactor.Context[payload], change ringactor.RingChange) {
	now := time.Now()
	all := ctx.All()
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	b.m.events = append(b.m.events, ringEvent{at: now, old: change.Old, new: change.New, all: all})
}

// ringCluster is N ring members in this process, each with its own actor
// system and remote on 127.0.0.1.
type ringCluster struct {
	cfg      config
	members  []*ringMember
	log      *slog.Logger
	dirs     int
	security *ringSecurity // nil: open
}

func newRingCluster(cfg config) *ringCluster {
	return &ringCluster{cfg: cfg, log: cfg.logger()}
}

// newStore returns a member's store: nil (the default store in its data
// directory) unless -store memory.
func (c *ringCluster) newStore() persistence.Store {
	if c.cfg.store == storeMemory {
		return persistence.NewMemoryStore()
	}
	return nil
}

func (c *ringCluster) storeOption(dir string, store persistence.Store) ringactor.Option {
	if store != nil {
		return ringactor.WithStore(store)
	}
	return ringactor.WithDataDir(dir)
}

// newDataDir names a fresh data directory for a member, under the bench's
// temporary directory: members persist their ring and payload the way
// they do by default.
func (c *ringCluster) newDataDir() string {
	c.dirs++
	return filepath.Join(c.cfg.dataDir, fmt.Sprintf("member-%d", c.dirs))
}

func (c *ringCluster) startMember(port int, dir string, store persistence.Store) (*ringMember, error) {
	m := &ringMember{wire: newWire(), dir: dir, store: store, block: make(chan struct{})}
	system, r, err := c.startSystem(port, m.wire)
	if err != nil {
		return nil, err
	}
	m.system, m.remote, m.addr = system, r, system.Address()
	if _, err := fmt.Sscanf(m.addr[strings.LastIndexByte(m.addr, ':')+1:], "%d", &m.port); err != nil {
		return nil, fmt.Errorf("address %q: %w", m.addr, err)
	}
	opts := append([]ringactor.Option{
		c.storeOption(dir, store), ringactor.WithDurability(c.cfg.durability), ringactor.WithLogger(c.log),
		ringactor.WithGossipInterval(c.cfg.gossip), ringactor.WithPush(c.cfg.pushFanout, c.cfg.pushHops),
		ringactor.WithProbe(c.cfg.probeInterval, c.cfg.probeTimeout),
	}, c.security.ringOptions()...)
	client, err := ringactor.Start[*crdt.ORSet[string]](system, ringName, &benchBehaviour{m: m}, opts...)
	if err != nil {
		m.kill()
		return nil, err
	}
	m.client = client.WithTimeout(c.cfg.deadline)
	return m, nil
}

// startCountedSystem starts an actor system whose remote's connections go
// through creds (which count them).
func startCountedSystem(log *slog.Logger, port int, creds credentials.TransportCredentials) (*actor.ActorSystem, *remote.Remote, error) {
	return ringactor.StartActorSystem(ringactor.RemoteOptions{
		Host: "127.0.0.1", Port: port, Logger: log,
		ServerOptions: []grpc.ServerOption{grpc.Creds(creds)},
		DialOptions:   []grpc.DialOption{grpc.WithTransportCredentials(creds)},
	})
}

// kill ends a member the way a dying process does: every connection it
// has closes at once and it answers no more, then its actor system stops.
// A member killed by a figure and not restarted (its restart failed) is
// killed again when the cluster closes: only the first kill acts, since
// Proto.Actor's Shutdown panics when called twice.
func (m *ringMember) kill() {
	m.killed.Do(func() {
		m.wire.kill()
		m.remote.Shutdown(false)
		m.system.Shutdown()
	})
}

func (c *ringCluster) start(n int) error {
	for range n {
		m, err := c.startMember(0, c.newDataDir(), c.newStore())
		if err != nil {
			return err
		}
		c.members = append(c.members, m)
	}
	// Setup, not a figure: a loaded machine may keep member 0 busy past
	// the default request timeout while 63 others connect to it.
	// A client's own timeout bounds a context without deadline: that
	// timeout is raised too.
	first := c.members[0].client.WithTimeout(c.cfg.deadline)
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.deadline)
	defer cancel()
	for _, m := range c.members[1:] {
		if err := first.AddNode(ctx, m.addr); err != nil {
			return err
		}
	}
	return c.awaitAllUp("ring start")
}

// close kills every member at once: one after the other, closing the
// thousands of connections of 64 members took minutes on a loaded machine.
func (c *ringCluster) close() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.kill()
		}()
	}
	wg.Wait()
	c.members = nil
}

func (c *ringCluster) addrs() []string {
	var addrs []string
	for _, m := range c.members {
		addrs = append(addrs, m.addr)
	}
	slices.Sort(addrs)
	return addrs
}

// awaitAllUp waits until every member believes every member up.
func (c *ringCluster) awaitAllUp(what string) error {
	want := c.addrs()
	return c.awaitEveryMember(what+": every member up everywhere", func(up, _ []string) bool {
		return slices.Equal(up, want)
	})
}

// awaitEveryMember asks every member for its Up and All until cond holds
// for each; it is for the steps between figures, which are not timed.
func (c *ringCluster) awaitEveryMember(what string, cond func(up, all []string) bool) error {
	var last string
	err := await(what, c.cfg.deadline, func() bool {
		for _, m := range c.members {
			up, err := m.client.Up(context.Background())
			if err != nil {
				last = fmt.Sprintf("%s: %v", m.addr, err)
				return false
			}
			all, err := m.client.All(context.Background())
			if err != nil {
				last = fmt.Sprintf("%s: %v", m.addr, err)
				return false
			}
			if !cond(up, all) {
				last = fmt.Sprintf("%s: up %v, all %v", m.addr, up, all)
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w (last seen: %s)", err, last)
	}
	return nil
}

// disseminate adds element on member 0 and returns the time until every
// other member's HandleStateChange had it.
func (c *ringCluster) disseminate(element string) (time.Duration, error) {
	for _, m := range c.members {
		m.mu.Lock()
		m.watch, m.seen = element, time.Time{}
		m.mu.Unlock()
	}
	start := time.Now()
	if _, err := c.members[0].client.Call(context.Background(), addElements{elements: []string{element}}); err != nil {
		return 0, err
	}
	return awaitArrivals("dissemination of "+element, c.cfg.deadline, start, len(c.members)-1, func(i int) time.Time {
		m := c.members[i+1]
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.seen
	})
}

// marks returns each member's event count, to look only at later events.
func (c *ringCluster) marks() []int {
	marks := make([]int, len(c.members))
	for i, m := range c.members {
		m.mu.Lock()
		marks[i] = len(m.events)
		m.mu.Unlock()
	}
	return marks
}

// awaitEvents waits until each member of idx has an event after its mark
// that satisfies match, and returns the first and the last such event's
// delay after start.
func (c *ringCluster) awaitEvents(what string, idx, marks []int, start time.Time, match func(ringEvent) bool) (first, last time.Duration, err error) {
	at := make([]time.Time, len(c.members))
	err = await(what, c.cfg.deadline, func() bool {
		done := true
		for _, i := range idx {
			if !at[i].IsZero() {
				continue
			}
			m := c.members[i]
			m.mu.Lock()
			for _, e := range m.events[marks[i]:] {
				if match(e) {
					at[i] = e.at
					break
				}
			}
			m.mu.Unlock()
			done = done && !at[i].IsZero()
		}
		return done
	})
	if err != nil {
		return 0, 0, err
	}
	var firstAt, lastAt time.Time
	for _, i := range idx {
		if firstAt.IsZero() || at[i].Before(firstAt) {
			firstAt = at[i]
		}
		lastAt = later(lastAt, at[i])
	}
	return firstAt.Sub(start), lastAt.Sub(start), nil
}

func (c *ringCluster) others(except int) []int {
	var idx []int
	for i := range c.members {
		if i != except {
			idx = append(idx, i)
		}
	}
	return idx
}

// join starts a new member, adds it on member 0, and returns the time until
// every member's All and Up list it; then it removes it again.
func (c *ringCluster) join() (time.Duration, error) {
	newcomer, err := c.startMember(0, c.newDataDir(), c.newStore())
	if err != nil {
		return 0, err
	}
	defer newcomer.kill()
	marks := c.marks()
	start := time.Now()
	if err := c.members[0].client.AddNode(context.Background(), newcomer.addr); err != nil {
		return 0, err
	}
	_, last, err := c.awaitEvents("join", c.others(-1), marks, start, func(e ringEvent) bool {
		return slices.Contains(e.new, newcomer.addr) && slices.Contains(e.all, newcomer.addr)
	})
	if err != nil {
		return 0, err
	}
	if err := c.members[0].client.DelNode(context.Background(), newcomer.addr); err != nil {
		return 0, err
	}
	return last, c.awaitEveryMember("removal of the joined member", func(up, all []string) bool {
		return !slices.Contains(up, newcomer.addr) && !slices.Contains(all, newcomer.addr)
	})
}

// crash kills member victim and returns the time until the first and the
// last survivor's HandleRingChange took it down; then it restarts it on
// the same address with the same store and waits until it is up everywhere.
func (c *ringCluster) crash(victim int) (first, last time.Duration, err error) {
	v := c.members[victim]
	marks := c.marks()
	start := time.Now()
	v.kill()
	first, last, err = c.awaitEvents("crash detection", c.others(victim), marks, start, downMatch(v.addr))
	if err != nil {
		return 0, 0, err
	}
	restarted, err := c.startMember(v.port, v.dir, v.store)
	if err != nil {
		return 0, 0, fmt.Errorf("restart after crash: %w", err)
	}
	c.members[victim] = restarted
	return first, last, c.awaitAllUp("restart after crash")
}

// hang blocks member victim's ring actor and returns the time until the
// first and the last survivor's HandleRingChange took it down; then it
// releases it and waits until it is up everywhere again.
func (c *ringCluster) hang(victim int) (first, last time.Duration, err error) {
	v := c.members[victim]
	v.mu.Lock()
	v.block = make(chan struct{})
	release := v.block
	v.mu.Unlock()
	marks := c.marks()
	start := time.Now()
	if err := v.client.Cast(hangCast{}); err != nil {
		return 0, 0, err
	}
	first, last, err = c.awaitEvents("hang detection", c.others(victim), marks, start, downMatch(v.addr))
	close(release)
	if err != nil {
		return 0, 0, err
	}
	return first, last, c.awaitAllUp("resume after hang")
}

func downMatch(addr string) func(ringEvent) bool {
	return func(e ringEvent) bool {
		return slices.Contains(e.old, addr) && !slices.Contains(e.new, addr)
	}
}

// grow adds elements of about 1 KB on member 0 until its payload encodes to
// at least size bytes, waits until every member has the last one, and
// returns the encoded size.
func (c *ringCluster) grow(size int, tag string) (int, error) {
	const elementSize = 1000
	current, err := c.members[0].client.Call(context.Background(), addElements{})
	if err != nil {
		return 0, err
	}
	encoded := current.(int)
	for k := 0; encoded < size; k++ {
		count := (size-encoded)/(elementSize+64) + 1
		elements := make([]string, count)
		for i := range elements {
			elements[i] = fmt.Sprintf("%s-%d-%d-%s", tag, k, i, strings.Repeat("x", elementSize))
		}
		got, err := c.members[0].client.Call(context.Background(), addElements{elements: elements})
		if err != nil {
			return 0, err
		}
		encoded = got.(int)
	}
	// One more small element, whose arrival everywhere says all of the
	// growth arrived (a member merges whole states).
	if _, err := c.disseminate(tag + "-grown"); err != nil {
		return 0, err
	}
	return encoded, nil
}

func (c *ringCluster) sent() uint64 {
	var total uint64
	for _, m := range c.members {
		total += m.wire.Sent()
	}
	return total
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
