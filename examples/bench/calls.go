package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/ringactor"
)

// The work of the call figures, the same for the ring actor and the bare
// actor, and none of it touches the payload: a call of an Int64 is answered
// with it; a cast of the string "cast" is counted. The messages, their
// sizes and their serializer (protobuf, by Proto.Actor's remote between
// systems) are the same for both; what differs is what the ring adds
// around them (its request and reply envelopes, its boundary, its actor's
// bookkeeping), which is what the figures compare.
const castWord = "cast"

// castCounter counts a target's casts where they are handled and notes
// when the last one expected arrived, so that cast throughput is timed to
// that moment rather than to when a poll noticed it.
type castCounter struct {
	count atomic.Int64
	want  atomic.Int64
	mu    sync.Mutex
	done  chan struct{}
	at    time.Time
}

// add counts one cast; it runs on the actor's goroutine.
func (c *castCounter) add() {
	if n := c.count.Add(1); n == c.want.Load() {
		c.mu.Lock()
		c.at = time.Now()
		close(c.done)
		c.mu.Unlock()
	}
}

// expect arms the counter for k more casts; the channel closes when they
// have all been handled. No cast may be in flight.
func (c *castCounter) expect(k int) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = make(chan struct{})
	c.want.Store(c.count.Load() + int64(k))
	return c.done
}

func (c *castCounter) lastAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

type echoBehaviour struct {
	ringactor.DefaultBehaviour[*crdt.PNCounter]
	casts *castCounter
}

func (b *echoBehaviour) HandleCall(ctx *ringactor.Context[*crdt.PNCounter], from ringactor.From, msg any) ringactor.CallResult {
	if m, ok := msg.(*wrapperspb.Int64Value); ok {
		return ringactor.ReplyWith(m)
	}
	return b.DefaultBehaviour.HandleCall(ctx, from, msg)
}

func (b *echoBehaviour) HandleCast(_ *ringactor.Context[*crdt.PNCounter], msg any) {
	if s, ok := msg.(*wrapperspb.StringValue); ok && s.Value == castWord {
		b.casts.add()
	}
}

func bareActor(casts *castCounter) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *wrapperspb.Int64Value:
			ctx.Respond(m)
		case *wrapperspb.StringValue:
			if m.Value == castWord {
				casts.add()
			}
		}
	})
}

// target is what the call figures drive: a ring actor through a Client, or
// a bare actor through RequestFuture and Send.
type target struct {
	system string // the system its figures are recorded under
	call   func(msg any) (any, error)
	cast   func(msg any) error
	casts  *castCounter
}

// callSetup holds two actor systems: the ring actors (each a ring of one)
// and the bare actor live on the first; remote calls come from the second.
type callSetup struct {
	home, away    *ringMember
	local, remote []target
}

// callRing is a ring actor for the call figures: its name, the system its
// figures are recorded under, and its options beyond the cluster's.
type callRing struct {
	name, system string
	keyring      *ringactor.Keyring
}

// newCallSetup starts the two systems for c's security setting (mTLS
// between them if c's is), a ring actor for each of rings and, with bare,
// a bare actor.
func newCallSetup(c *ringCluster, rings []callRing, bare bool) (*callSetup, error) {
	var s callSetup
	var err error
	if s.home, err = c.startBareSystem(); err != nil {
		return nil, err
	}
	if s.away, err = c.startBareSystem(); err != nil {
		s.home.kill()
		return nil, err
	}
	timeout := c.cfg.deadline
	for _, r := range rings {
		casts := &castCounter{}
		opts := []ringactor.Option{c.storeOption(c.newDataDir(), c.newStore()), ringactor.WithDurability(c.cfg.durability), ringactor.WithLogger(c.log)}
		if r.keyring != nil {
			opts = append(opts, ringactor.WithKeyring(r.keyring))
		}
		client, err := ringactor.Start[*crdt.PNCounter](s.home.system, r.name, &echoBehaviour{casts: casts}, opts...)
		if err != nil {
			s.close()
			return nil, err
		}
		// The clients' own timeout, as the bare actor's futures: a
		// context without deadline sets no cancellation watch.
		client = client.WithTimeout(timeout)
		away := ringactor.NewClient(s.away.system, s.home.addr, r.name).WithTimeout(timeout)
		if r.keyring != nil {
			away = away.WithKeyring(r.keyring)
		}
		for _, side := range []struct {
			targets *[]target
			client  *ringactor.Client
		}{{&s.local, client}, {&s.remote, away}} {
			*side.targets = append(*side.targets, target{
				system: r.system, casts: casts, cast: side.client.Cast,
				call: func(msg any) (any, error) { return side.client.Call(context.Background(), msg) },
			})
		}
	}
	if bare {
		casts := &castCounter{}
		pid, err := s.home.system.Root.SpawnNamed(bareActor(casts), "bare")
		if err != nil {
			s.close()
			return nil, err
		}
		for _, side := range []struct {
			targets *[]target
			root    *actor.RootContext
			pid     *actor.PID
		}{{&s.local, s.home.system.Root, pid}, {&s.remote, s.away.system.Root, actor.NewPID(s.home.addr, "bare")}} {
			*side.targets = append(*side.targets, target{
				system: systemBare, casts: casts,
				call: func(msg any) (any, error) { return side.root.RequestFuture(side.pid, msg, timeout).Result() },
				cast: func(msg any) error { side.root.Send(side.pid, msg); return nil },
			})
		}
	}
	return &s, nil
}

func (s *callSetup) close() {
	s.home.kill()
	s.away.kill()
}

// startBareSystem starts an actor system with a counted remote and no ring.
func (c *ringCluster) startBareSystem() (*ringMember, error) {
	m := &ringMember{wire: newWire()}
	system, r, err := c.startSystem(0, m.wire)
	if err != nil {
		return nil, err
	}
	m.system, m.remote, m.addr = system, r, system.Address()
	return m, nil
}

// callRounds is how many slices each figure's work is cut into: the
// targets take turns slice by slice, the first to go changing each round,
// so that load that comes and goes on a shared machine falls on all alike.
const callRounds = 6

// castsPerCall is how many casts the cast figure sends for each call of
// the call figures: a cast costs a tenth of a call or less, and a slice of
// casts must last long enough for the time of the last one's delivery not
// to weigh.
const castsPerCall = 10

// callers is how many goroutines call at once for the throughput figure.
const callers = 8

// measureCalls runs one repetition of the call figures: the open ring
// actor, the bare actor and, with -security key, a ring actor with a ring
// key on the same systems, taking turns; with -security keytls and mtls, a
// ring actor on two systems that speak mutual TLS (made from the key, or
// of a CA).
func measureCalls(cfg config, rs *results) error {
	rings := []callRing{{name: "calls", system: systemRing}}
	if slices.Contains(cfg.security, securityKey) {
		sec, err := newRingSecurity(securityKey, cfg.dataDir)
		if err != nil {
			return err
		}
		rings = append(rings, callRing{name: "calls-key", system: securitySystem(securityKey), keyring: sec.keyring})
	}
	if err := measureCallSetup(cfg, rs, nil, rings, true); err != nil {
		return err
	}
	// The settings on the transport: a ring actor on a pair of systems of
	// their own.
	for _, setting := range []string{securityKeyTLS, securityMTLS} {
		if !slices.Contains(cfg.security, setting) {
			continue
		}
		sec, err := newRingSecurity(setting, cfg.dataDir)
		if err != nil {
			return err
		}
		if err := measureCallSetup(cfg, rs, sec, []callRing{{name: "calls", system: securitySystem(setting), keyring: sec.keyring}}, false); err != nil {
			return err
		}
	}
	return nil
}

func measureCallSetup(cfg config, rs *results, sec *ringSecurity, rings []callRing, bare bool) error {
	c := newRingCluster(cfg)
	c.security = sec
	s, err := newCallSetup(c, rings, bare)
	if err != nil {
		return err
	}
	defer s.close()
	if err := measureCallTargets(cfg, rs, "local", cfg.calls, s.local); err != nil {
		return err
	}
	// A remote call is some 20 times slower.
	return measureCallTargets(cfg, rs, "remote", max(callRounds*callers, cfg.calls/10), s.remote)
}

// measureCallTargets records the call figures of targets, count calls (and
// ten times as many casts) each: the median round trip of sequential calls, calls per second
// with 8 callers, and casts per second until the target handled them all.
func measureCallTargets(cfg config, rs *results, where string, count int, targets []target) error {
	for _, t := range targets {
		if _, err := roundTrips(t, count/10+1); err != nil { // warm up
			return fmt.Errorf("%s %s warm-up: %w", t.system, where, err)
		}
	}
	slice := max(1, count/callRounds)
	times := make([][]time.Duration, len(targets))
	callTime := make([]time.Duration, len(targets))
	castTime := make([]time.Duration, len(targets))
	for round := range callRounds {
		for k := range targets {
			i := (k + round) % len(targets)
			t := targets[i]
			rt, err := roundTrips(t, slice)
			if err != nil {
				return fmt.Errorf("%s %s round trip: %w", t.system, where, err)
			}
			times[i] = append(times[i], rt...)
			elapsed, err := callThroughput(t, slice)
			if err != nil {
				return fmt.Errorf("%s %s call throughput: %w", t.system, where, err)
			}
			callTime[i] += elapsed
			if elapsed, err = castThroughput(t, castsPerCall*slice, cfg.deadline); err != nil {
				return fmt.Errorf("%s %s cast throughput: %w", t.system, where, err)
			}
			castTime[i] += elapsed
		}
	}
	for i, t := range targets {
		slices.Sort(times[i])
		rs.add(t.system, 0, "call round trip, "+where, unitMicros, float64(times[i][len(times[i])/2])/float64(time.Microsecond))
		calls := float64(slice/callers*callers) * callRounds
		rs.add(t.system, 0, fmt.Sprintf("calls per second, %d callers, %s", callers, where), unitPerSecond, calls/callTime[i].Seconds())
		rs.add(t.system, 0, "casts per second, "+where, unitPerSecond, float64(castsPerCall*slice*callRounds)/castTime[i].Seconds())
	}
	return nil
}

// roundTrips returns the times of count sequential calls.
func roundTrips(t target, count int) ([]time.Duration, error) {
	times := make([]time.Duration, 0, count)
	msg := wrapperspb.Int64(1)
	for range count {
		start := time.Now()
		if _, err := t.call(msg); err != nil {
			return nil, err
		}
		times = append(times, time.Since(start))
	}
	return times, nil
}

// callThroughput returns the time callers concurrent callers take to make
// count calls in all (rounded down to a multiple of callers).
func callThroughput(t target, count int) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := wrapperspb.Int64(1)
			for range count / callers {
				if _, err := t.call(msg); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return elapsed, nil
}

// castThroughput returns the time from the first of count casts to the
// moment the target handled the last.
func castThroughput(t target, count int, deadline time.Duration) (time.Duration, error) {
	done := t.casts.expect(count)
	msg := wrapperspb.String(castWord)
	start := time.Now()
	for range count {
		if err := t.cast(msg); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case <-time.After(deadline):
		return 0, fmt.Errorf("casts counted: not all %d within %v", count, deadline)
	}
	return t.casts.lastAt().Sub(start), nil
}
