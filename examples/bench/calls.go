package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/ringactor"
)

// The work of the call figures, the same for the ring actor and the bare
// actor, and none of it touches the payload: a call of an Int64 is answered
// with it; a cast of the string "cast" is counted; a call of any other
// string is answered with the count.
const castWord = "cast"

type echoBehaviour struct {
	ringactor.DefaultBehaviour[*crdt.PNCounter]
	casts int64
}

func (b *echoBehaviour) HandleCall(ctx *ringactor.Context[*crdt.PNCounter], from ringactor.From, msg any) ringactor.CallResult {
	switch m := msg.(type) {
	case *wrapperspb.Int64Value:
		return ringactor.ReplyWith(m)
	case *wrapperspb.StringValue:
		return ringactor.ReplyWith(wrapperspb.Int64(b.casts))
	}
	return b.DefaultBehaviour.HandleCall(ctx, from, msg)
}

func (b *echoBehaviour) HandleCast(_ *ringactor.Context[*crdt.PNCounter], msg any) {
	if s, ok := msg.(*wrapperspb.StringValue); ok && s.Value == castWord {
		b.casts++
	}
}

func bareActor() *actor.Props {
	var casts int64
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *wrapperspb.Int64Value:
			ctx.Respond(m)
		case *wrapperspb.StringValue:
			if m.Value == castWord {
				casts++
			} else {
				ctx.Respond(wrapperspb.Int64(casts))
			}
		}
	})
}

// target is what the call figures drive: a ring actor through a Client, or
// a bare actor through RequestFuture and Send.
type target struct {
	call func(msg any) (any, error)
	cast func(msg any) error
}

// callSetup holds two actor systems: the ring actor (a ring of one) and
// the bare actor live on the first; remote calls come from the second.
type callSetup struct {
	home, away    *ringMember
	ring          *ringactor.Client
	bare          *actor.PID
	local, remote map[string]target
}

func newCallSetup(c *ringCluster) (*callSetup, error) {
	var s callSetup
	var err error
	if s.home, err = c.startBareSystem(); err != nil {
		return nil, err
	}
	if s.away, err = c.startBareSystem(); err != nil {
		s.home.kill()
		return nil, err
	}
	s.ring, err = ringactor.Start[*crdt.PNCounter](s.home.system, "calls", &echoBehaviour{},
		c.storeOption(c.newDataDir(), c.newStore()), ringactor.WithDurability(c.cfg.durability), ringactor.WithLogger(c.log))
	if err != nil {
		s.close()
		return nil, err
	}
	if s.bare, err = s.home.system.Root.SpawnNamed(bareActor(), "bare"); err != nil {
		s.close()
		return nil, err
	}
	timeout := c.cfg.deadline
	ringTarget := func(client *ringactor.Client) target {
		client = client.WithTimeout(timeout) // as the bare actor's futures
		return target{call: func(msg any) (any, error) { return client.Call(context.Background(), msg) }, cast: client.Cast}
	}
	bareTarget := func(root *actor.RootContext, pid *actor.PID) target {
		return target{
			call: func(msg any) (any, error) { return root.RequestFuture(pid, msg, timeout).Result() },
			cast: func(msg any) error { root.Send(pid, msg); return nil },
		}
	}
	awayRing := ringactor.NewClient(s.away.system, s.home.addr, "calls")
	s.local = map[string]target{"ring": ringTarget(s.ring), "bare": bareTarget(s.home.system.Root, s.bare)}
	s.remote = map[string]target{
		"ring": ringTarget(awayRing),
		"bare": bareTarget(s.away.system.Root, actor.NewPID(s.home.addr, "bare")),
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
	system, r, err := startCountedSystem(c.log, 0, newWireCredentials(m.wire))
	if err != nil {
		return nil, err
	}
	m.system, m.remote, m.addr = system, r, system.Address()
	return m, nil
}

// roundTrip returns the median time of count sequential calls.
func roundTrip(t target, count int) (time.Duration, error) {
	times := make([]time.Duration, 0, count)
	msg := wrapperspb.Int64(1)
	for range count {
		start := time.Now()
		if _, err := t.call(msg); err != nil {
			return 0, err
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// callThroughput returns calls per second with callers concurrent callers
// making count calls in all.
func callThroughput(t target, count, callers int) (float64, error) {
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
	return float64(count/callers*callers) / elapsed.Seconds(), nil
}

// castThroughput returns casts per second: count casts, until the target
// has counted them all.
func castThroughput(t target, count int, deadline time.Duration) (float64, error) {
	counted := func() (int64, error) {
		v, err := t.call(wrapperspb.String("count"))
		if err != nil {
			return 0, err
		}
		n, ok := v.(*wrapperspb.Int64Value)
		if !ok {
			return 0, fmt.Errorf("count: unexpected answer %T", v)
		}
		return n.Value, nil
	}
	base, err := counted()
	if err != nil {
		return 0, err
	}
	msg := wrapperspb.String(castWord)
	start := time.Now()
	for range count {
		if err := t.cast(msg); err != nil {
			return 0, err
		}
	}
	var countErr error
	err = await("casts counted", deadline, func() bool {
		n, err := counted()
		if err != nil {
			countErr = err
			return true
		}
		return n-base >= int64(count)
	})
	if countErr != nil {
		return 0, countErr
	}
	if err != nil {
		return 0, err
	}
	return float64(count) / time.Since(start).Seconds(), nil
}
