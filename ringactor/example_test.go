package ringactor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
	"github.com/genserverring/genserverring-go/ringactor"
)

// Counter is a ring whose payload is a PN-counter: a call "inc" adds one
// on this member, "get" reads the value every member converges to.
type Counter struct {
	ringactor.DefaultBehaviour[*crdt.PNCounter]
}

// HandleCall implements ringactor.Behaviour.
func (Counter) HandleCall(ctx *ringactor.Context[*crdt.PNCounter], _ ringactor.From, msg any) ringactor.CallResult {
	switch msg {
	case "inc":
		ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter { return p.Increment(ctx.Replica(), 1) })
		return ringactor.ReplyWith(ctx.Payload().Value())
	case "get":
		return ringactor.ReplyWith(ctx.Payload().Value())
	}
	return ringactor.ReplyWithError(ringactor.ErrUnhandledCall)
}

// A member is one process: an actor system with a remote, and the ring
// actor on it. Run the same program on every node; AddNode joins the ring
// of another member (once: the ring file remembers it). In production keep
// the ring file (WithDataDir); a MemoryStore forgets the ring at exit.
//
// One remote per process: Proto.Actor's Remote.Start writes gRPC's
// process-wide logger, a data race under -race when a second remote starts
// in the same process. (This example is compiled, not run, for that
// reason: the package's tests hold their one remote.)
func Example() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	system, _, err := ringactor.StartActorSystem(ringactor.RemoteOptions{Host: "127.0.0.1", Port: 7001, Logger: quiet})
	if err != nil {
		panic(err)
	}
	ring, err := ringactor.Start[*crdt.PNCounter](system, "counter", Counter{},
		ringactor.WithStore(persistence.NewMemoryStore()), // no ring file
		ringactor.WithGossipInterval(50*time.Millisecond),
		ringactor.WithLogger(quiet))
	if err != nil {
		panic(err)
	}
	// Join the member of another process.
	if err := ring.AddNode(context.Background(), "127.0.0.1:7002"); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := ring.Call(ctx, "inc"); err != nil {
		panic(err)
	}
	// Every member converges to the sum of the increments of all.
	value, _ := ring.Call(ctx, "get")
	up, _ := ring.Up(ctx)
	fmt.Println("value:", value, "up members:", len(up))
}
