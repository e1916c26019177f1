package ringactor

import (
	"context"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

// echoBehaviour answers a call with its message and touches nothing: the
// work of a bare actor that responds with what it got.
type echoBehaviour struct {
	DefaultBehaviour[*crdt.PNCounter]
}

func (echoBehaviour) HandleCall(_ *Context[*crdt.PNCounter], _ From, msg any) CallResult {
	return ReplyWith(msg)
}

// BenchmarkRemoteCallVsBare measures a remote Call through the ring actor
// beside a bare Proto.Actor actor doing the same work (answer an Int64Value
// with itself), both on one actor system and called from a second one over
// loopback, in this process so that a CPU profile sees both sides. The
// user's message and the serializer (protobuf) are the same; what differs
// is what the ring adds: its request and reply envelopes, its boundary and
// its actor's bookkeeping. Two remotes in one process: not for -race
// (gRPC's global logger), as BenchmarkSecuredCall.
func BenchmarkRemoteCallVsBare(b *testing.B) {
	home, homeRemote, err := StartActorSystem(RemoteOptions{Logger: quietLogger()})
	require.NoError(b, err)
	b.Cleanup(func() { homeRemote.Shutdown(false); home.Shutdown() })
	away, awayRemote, err := StartActorSystem(RemoteOptions{Logger: quietLogger()})
	require.NoError(b, err)
	b.Cleanup(func() { awayRemote.Shutdown(false); away.Shutdown() })

	ringCasts, bareCasts := &castCounter{}, &castCounter{}
	_, err = Start[*crdt.PNCounter](home, "echo", countingEcho{casts: ringCasts}, WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger()))
	require.NoError(b, err)
	_, err = home.Root.SpawnNamed(bareEcho(bareCasts), "bare")
	require.NoError(b, err)

	// The same ring actor with a ring key: every request and reply sealed.
	key, err := GenerateKey()
	require.NoError(b, err)
	keyring, err := NewKeyring(key)
	require.NoError(b, err)
	keyedCasts := &castCounter{}
	_, err = Start[*crdt.PNCounter](home, "echo-key", countingEcho{casts: keyedCasts}, WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger()), WithKeyring(keyring))
	require.NoError(b, err)

	// The same ring actor with the key on the transport instead: a pair of
	// systems of their own, speaking TLS with the key's certificates.
	keyHome, keyHomeRemote, err := StartActorSystem(RemoteOptions{Logger: quietLogger(), Keyring: keyring})
	require.NoError(b, err)
	b.Cleanup(func() { keyHomeRemote.Shutdown(false); keyHome.Shutdown() })
	keyAway, keyAwayRemote, err := StartActorSystem(RemoteOptions{Logger: quietLogger(), Keyring: keyring})
	require.NoError(b, err)
	b.Cleanup(func() { keyAwayRemote.Shutdown(false); keyAway.Shutdown() })
	transportCasts := &castCounter{}
	_, err = Start[*crdt.PNCounter](keyHome, "echo-keytls", countingEcho{casts: transportCasts}, WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger()), WithKeyring(keyring))
	require.NoError(b, err)
	keyTLS := NewClient(keyAway, keyHome.Address(), "echo-keytls").WithTimeout(5 * time.Second).WithKeyring(keyring)

	ring := NewClient(away, home.Address(), "echo").WithTimeout(5 * time.Second)
	keyed := NewClient(away, home.Address(), "echo-key").WithTimeout(5 * time.Second).WithKeyring(keyring)
	bare := actor.NewPID(home.Address(), "bare")
	calls := map[string]func(msg *wrapperspb.Int64Value) error{
		"ring": func(msg *wrapperspb.Int64Value) error {
			_, err := ring.Call(context.Background(), msg)
			return err
		},
		"ring-key": func(msg *wrapperspb.Int64Value) error {
			_, err := keyed.Call(context.Background(), msg)
			return err
		},
		"ring-keytls": func(msg *wrapperspb.Int64Value) error {
			_, err := keyTLS.Call(context.Background(), msg)
			return err
		},
		"bare": func(msg *wrapperspb.Int64Value) error {
			_, err := away.Root.RequestFuture(bare, msg, 5*time.Second).Result()
			return err
		},
	}
	cast := wrapperspb.String("cast")
	casts := map[string]func(){
		"ring":        func() { _ = ring.Cast(cast) },
		"ring-key":    func() { _ = keyed.Cast(cast) },
		"ring-keytls": func() { _ = keyTLS.Cast(cast) },
		"bare":        func() { away.Root.Send(bare, cast) },
	}
	counters := map[string]*castCounter{"ring": ringCasts, "ring-key": keyedCasts, "ring-keytls": transportCasts, "bare": bareCasts}
	for _, name := range []string{"bare", "ring", "ring-key", "ring-keytls"} {
		call, send, counter := calls[name], casts[name], counters[name]
		b.Run(name+"/cast", func(b *testing.B) {
			counter.count.Store(0)
			counter.want, counter.done = int64(b.N), make(chan struct{})
			b.ReportAllocs()
			sendCasts(b.N, counter, send)
		})
		b.Run(name+"/sequential", func(b *testing.B) {
			msg := wrapperspb.Int64(42)
			b.ReportAllocs()
			for range b.N {
				if err := call(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4) // 8 callers on 2 cores, as examples/bench
			b.RunParallel(func(pb *testing.PB) {
				msg := wrapperspb.Int64(42)
				for pb.Next() {
					if err := call(msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// castCounter counts casts and says when it has counted want of them.
type castCounter struct {
	count atomic.Int64
	want  int64
	done  chan struct{}
}

func (c *castCounter) add() {
	if c.count.Add(1) == c.want {
		close(c.done)
	}
}

// castWindow is how many casts a benchmark lets wait in a mailbox at most:
// well under Security.MaxQueued, past which a ring member refuses what
// comes from another process (a flood's casts are dropped, and a benchmark
// that waits for all of them waits for ever).
const castWindow = DefaultMaxQueued / 4

// sendCasts sends n casts with send, keeping at most castWindow of them
// unhandled, and waits until counter has counted them all.
func sendCasts(n int, counter *castCounter, send func()) {
	for i := range n {
		for int64(i)-counter.count.Load() >= castWindow {
			runtime.Gosched()
		}
		send()
	}
	<-counter.done
}

// countingEcho is echoBehaviour that also counts casts.
type countingEcho struct {
	echoBehaviour
	casts *castCounter
}

func (b countingEcho) HandleCast(_ *Context[*crdt.PNCounter], _ any) { b.casts.add() }

// BenchmarkLocalCallVsBare measures Call and Cast through the ring actor
// beside a bare actor doing the same work, in one actor system: what the
// ring actor's own handling of a message costs.
func BenchmarkLocalCallVsBare(b *testing.B) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger() }))
	b.Cleanup(system.Shutdown)
	n := &localNet{system: system}
	ringCasts, bareCasts := &castCounter{}, &castCounter{}
	ring, err := Start[*crdt.PNCounter](system, "echo", countingEcho{casts: ringCasts}, WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger()), n.member(newNode()))
	require.NoError(b, err)
	ring = ring.WithTimeout(5 * time.Second) // a context without deadline, as RequestFuture's plain timeout
	bare, err := system.Root.SpawnNamed(bareEcho(bareCasts), "bare")
	require.NoError(b, err)
	msg := wrapperspb.Int64(42)
	b.Run("bare/call", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := system.Root.RequestFuture(bare, msg, 5*time.Second).Result(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ring/call", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := ring.Call(context.Background(), msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	cast := wrapperspb.String("cast")
	for _, c := range []struct {
		name    string
		counter *castCounter
		send    func()
	}{
		{"bare/cast", bareCasts, func() { system.Root.Send(bare, cast) }},
		{"ring/cast", ringCasts, func() { _ = ring.Cast(cast) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			// Set up between benchmarks, while the actor is idle.
			c.counter.count.Store(0)
			c.counter.want, c.counter.done = int64(b.N), make(chan struct{})
			b.ReportAllocs()
			sendCasts(b.N, c.counter, c.send)
		})
	}
}

// bareEcho is the bare Proto.Actor actor the ring actor is measured
// against: it answers an Int64Value with itself and counts StringValue
// casts, the work of countingEcho.
func bareEcho(casts *castCounter) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *wrapperspb.Int64Value:
			ctx.Respond(m)
		case *wrapperspb.StringValue:
			casts.add()
		}
	})
}
