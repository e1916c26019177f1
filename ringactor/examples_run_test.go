package ringactor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
	"github.com/genserverring/genserverring-go/ringactor"
)

// The runnable examples below start one member each. An application
// starts its actor system itself:
//
//	system, _, err := ringactor.StartActorSystem(ringactor.RemoteOptions{Host: "127.0.0.1", Port: 7001})
//
// The examples run inside the package's test binary, which holds its one
// remote (see Example), so exampleSystem hands them that one.
func exampleSystem() *actor.ActorSystem { return ringactor.SharedTestSystem() }

// exampleOptions keeps the examples quiet and leaves no ring file behind;
// an application keeps its ring file and payload log (WithDataDir).
func exampleOptions() []ringactor.Option {
	return []ringactor.Option{
		ringactor.WithStore(persistence.NewMemoryStore()),
		ringactor.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
}

// A counter: every member adds to its own slot and reads the sum of all.
func ExampleStart() {
	system := exampleSystem()
	ring, err := ringactor.Start[*crdt.PNCounter](system, "example-counter", Counter{}, exampleOptions()...)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer ring.LocalStop(ctx)

	for range 3 {
		if _, err := ring.Call(ctx, "inc"); err != nil {
			panic(err)
		}
	}
	value, err := ring.Call(ctx, "get")
	fmt.Println(value, err)
	// Output: 3 <nil>
}

// Tags is a ring whose payload is an OR-set of strings: an element added
// concurrently with its removal stays (add wins).
type Tags struct {
	ringactor.DefaultBehaviour[*crdt.ORSet[string]]
}

// HandleCall implements ringactor.Behaviour: "add X", "remove X", "list".
func (Tags) HandleCall(ctx *ringactor.Context[*crdt.ORSet[string]], _ ringactor.From, msg any) ringactor.CallResult {
	command, element, _ := strings.Cut(fmt.Sprint(msg), " ")
	switch command {
	case "add":
		ctx.Update(func(s *crdt.ORSet[string]) *crdt.ORSet[string] { return s.Add(ctx.Replica(), element) })
	case "remove":
		ctx.Update(func(s *crdt.ORSet[string]) *crdt.ORSet[string] { return s.Remove(element) })
	case "list":
	default:
		return ringactor.ReplyWithError(ringactor.ErrUnhandledCall)
	}
	elements := ctx.Payload().Elements()
	slices.Sort(elements)
	return ringactor.ReplyWith(elements)
}

// A set shared by the ring.
func Example_set() {
	ring, err := ringactor.Start[*crdt.ORSet[string]](exampleSystem(), "example-set", Tags{}, exampleOptions()...)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer ring.LocalStop(ctx)

	for _, command := range []string{"add go", "add crdt", "add erlang", "remove erlang"} {
		if _, err := ring.Call(ctx, command); err != nil {
			panic(err)
		}
	}
	tags, err := ring.Call(ctx, "list")
	fmt.Println(tags, err)
	// Output: [crdt go] <nil>
}

// Visits is a ring whose payload is a map of named CRDTs: one PN-counter
// per page.
type Visits struct {
	ringactor.DefaultBehaviour[*crdt.Map]
}

// visit is a call: count one visit of page.
type visit struct{ page string }

// visits is a call: the number of visits of page.
type visits struct{ page string }

// HandleCall implements ringactor.Behaviour.
func (Visits) HandleCall(ctx *ringactor.Context[*crdt.Map], _ ringactor.From, msg any) ringactor.CallResult {
	switch m := msg.(type) {
	case visit:
		ctx.Update(func(p *crdt.Map) *crdt.Map {
			return p.UpdatePNCounter(ctx.Replica(), m.page, func(c *crdt.PNCounter) { c.Increment(ctx.Replica(), 1) })
		})
		return ringactor.ReplyWith(nil)
	case visits:
		counter, ok := ctx.Payload().PNCounter(m.page)
		if !ok {
			return ringactor.ReplyWith(int64(0))
		}
		return ringactor.ReplyWith(counter.Value())
	}
	return ringactor.ReplyWithError(ringactor.ErrUnhandledCall)
}

// A map of counters, one field per page.
func Example_map() {
	ring, err := ringactor.Start[*crdt.Map](exampleSystem(), "example-map", Visits{}, exampleOptions()...)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer ring.LocalStop(ctx)

	for _, page := range []string{"/", "/docs", "/"} {
		if _, err := ring.Call(ctx, visit{page}); err != nil {
			panic(err)
		}
	}
	home, _ := ring.Call(ctx, visits{"/"})
	docs, _ := ring.Call(ctx, visits{"/docs"})
	blog, _ := ring.Call(ctx, visits{"/blog"})
	fmt.Println(home, docs, blog)
	// Output: 2 1 0
}

// Squarer answers its calls later, from another goroutine, so that slow
// work does not hold the ring actor (which must keep answering probes).
type Squarer struct {
	ringactor.DefaultBehaviour[*crdt.PNCounter]
	root *actor.RootContext // to send the replies from
}

// HandleCall implements ringactor.Behaviour.
func (s Squarer) HandleCall(_ *ringactor.Context[*crdt.PNCounter], from ringactor.From, msg any) ringactor.CallResult {
	n, ok := msg.(int)
	if !ok {
		return ringactor.ReplyWithError(ringactor.ErrUnhandledCall)
	}
	go func() {
		square := n * n // slow work would go here, off the actor's goroutine
		_ = ringactor.Reply(s.root, from, square)
	}()
	return ringactor.NoReply()
}

// A deferred reply: HandleCall returns NoReply and the answer is sent
// later with Reply (or ctx.Reply from a later callback).
func Example_deferredReply() {
	system := exampleSystem()
	ring, err := ringactor.Start[*crdt.PNCounter](system, "example-deferred", Squarer{root: system.Root}, exampleOptions()...)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer ring.LocalStop(ctx)

	square, err := ring.Call(ctx, 12)
	fmt.Println(square, err)
	// Output: 144 <nil>
}

// Greeter counts calls "inc" in the protobuf form a plain Proto.Actor
// program sends, and reports the other messages it gets to HandleInfo.
type Greeter struct {
	ringactor.DefaultBehaviour[*crdt.PNCounter]
	infos chan<- any
}

// HandleCall implements ringactor.Behaviour.
func (Greeter) HandleCall(ctx *ringactor.Context[*crdt.PNCounter], _ ringactor.From, msg any) ringactor.CallResult {
	if text, ok := msg.(*wrapperspb.StringValue); ok && text.GetValue() == "inc" {
		ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter { return p.Increment(ctx.Replica(), 1) })
		return ringactor.ReplyWith(wrapperspb.Int64(ctx.Payload().Value()))
	}
	return ringactor.ReplyWithError(ringactor.ErrUnhandledCall)
}

// HandleInfo implements ringactor.Behaviour.
func (g Greeter) HandleInfo(_ *ringactor.Context[*crdt.PNCounter], msg any) { g.infos <- msg }

// A plain Proto.Actor program talks to a ring actor by its PID, with no
// Client: the ring actor of ring R on node N is actor.NewPID(N, R).
//
//   - A call is the call's message, a protobuf message, sent as a request
//     (RequestFuture, or ctx.Request from an actor). HandleCall gets it;
//     the answer is the reply itself, or a messages.CallReply when there
//     is none: Error and ErrorCodes (the wire codes of the sentinels the
//     error wraps) when the call failed, an empty one when HandleCall
//     replied nil. A message of the ring's own package (gsring) goes
//     inside a messages.CallRequest, packed in an anypb.Any, so that it is
//     not taken for the ring's request.
//   - A cast is a messages.CastRequest, sent with Send.
//   - Any other message, and a message sent with Send, reaches HandleInfo.
//
// A call in a form the ring cannot read (a CallRequest with no body, a
// type this process does not know) is answered with an error, never left
// to time out. A ring with a keyring (Security.Keyring) refuses unsealed
// messages from other processes, and answers an unsealed call with
// ErrKeyRequired: there, use a Client built WithKeyring.
func Example_rawProtoActorCaller() {
	system := exampleSystem()
	infos := make(chan any, 1)
	ring, err := ringactor.Start[*crdt.PNCounter](system, "example-raw", Greeter{infos: infos}, exampleOptions()...)
	if err != nil {
		panic(err)
	}
	defer ring.LocalStop(context.Background())
	pid := actor.NewPID(ring.Node(), "example-raw")

	answer, err := system.Root.RequestFuture(pid, wrapperspb.String("inc"), 5*time.Second).Result()
	if err != nil {
		panic(err)
	}
	fmt.Println("inc:", answer.(*wrapperspb.Int64Value).GetValue())

	answer, _ = system.Root.RequestFuture(pid, wrapperspb.String("dec"), 5*time.Second).Result()
	fmt.Println("dec:", answer.(*messages.CallReply).GetError())

	answer, _ = system.Root.RequestFuture(pid, &messages.CallRequest{}, 5*time.Second).Result()
	fmt.Println("no body:", answer.(*messages.CallReply).GetError())

	system.Root.Send(pid, wrapperspb.String("hello"))
	fmt.Println("info:", (<-infos).(*wrapperspb.StringValue).GetValue())
	// Output:
	// inc: 1
	// dec: ringactor: call not handled by the behaviour
	// no body: ringactor: message without body
	// info: hello
}
