package ringactor_test

import (
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

// Two members in one process (in production, one per process), each with its
// own actor system and remote, form a ring and converge.
func Example() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func() *ringactor.Client {
		system, _, err := ringactor.StartActorSystem(ringactor.RemoteOptions{Host: "127.0.0.1", Logger: quiet})
		if err != nil {
			panic(err)
		}
		ring, err := ringactor.Start[crdt.PNCounter](system, "counter", Counter{},
			ringactor.WithStore(persistence.NewMemoryStore()), // tests only: no ring file
			ringactor.WithGossipInterval(50*time.Millisecond),
			ringactor.WithLogger(quiet))
		if err != nil {
			panic(err)
		}
		return ring
	}
	a, b := start(), start()
	if err := a.AddNode(b.Node()); err != nil {
		panic(err)
	}
	a.Call("inc", time.Second)
	b.Call("inc", time.Second)
	b.Call("inc", time.Second)

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		va, _ := a.Call("get", time.Second)
		vb, _ := b.Call("get", time.Second)
		if va == int64(3) && vb == int64(3) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	va, _ := a.Call("get", time.Second)
	vb, _ := b.Call("get", time.Second)
	up, _ := a.Up()
	fmt.Println("a:", va, "b:", vb, "up members:", len(up))
	// Output: a: 3 b: 3 up members: 2
}
