package ringuser

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
	"github.com/genserverring/genserverring-go/ringactor"
)

const (
	ringName = "users"
	// peerEnv set makes the test binary a ring member process.
	peerEnv = "RINGUSER_PEER"
)

// sentinels are the errors the library documents, by name: a call
// "fail:NAME" is answered with an error that wraps the sentinel NAME.
var sentinels = map[string]error{
	"ErrUnhandledCall":   ringactor.ErrUnhandledCall,
	"ErrCallbackPanic":   ringactor.ErrCallbackPanic,
	"ErrTimeout":         ringactor.ErrTimeout,
	"ErrMemberGone":      ringactor.ErrMemberGone,
	"ErrRemoved":         ringactor.ErrRemoved,
	"ErrStopped":         ringactor.ErrStopped,
	"ErrNotProto":        ringactor.ErrNotProto,
	"ErrInvalidNode":     ringactor.ErrInvalidNode,
	"ErrUnknownNode":     ringactor.ErrUnknownNode,
	"ErrSelf":            ringactor.ErrSelf,
	"ErrNoRemote":        ringactor.ErrNoRemote,
	"ErrNotDurable":      ringactor.ErrNotDurable,
	"ErrNotReplicated":   ringactor.ErrNotReplicated,
	"ErrKeyRequired":     ringactor.ErrKeyRequired,
	"ErrHandshake":       ringactor.ErrHandshake,
	"ErrPayloadMismatch": ringactor.ErrPayloadMismatch,
	"ErrBusy":            ringactor.ErrBusy,
	"ErrPayloadTooLarge": ringactor.ErrPayloadTooLarge,
}

// Counter is the application's behaviour: "inc", "get", "later" (never
// answered), "panic", and "fail:NAME".
type Counter struct {
	ringactor.DefaultBehaviour[*crdt.PNCounter]
}

// HandleCall implements ringactor.Behaviour.
func (Counter) HandleCall(ctx *ringactor.Context[*crdt.PNCounter], _ ringactor.From, msg any) ringactor.CallResult {
	text, ok := msg.(*wrapperspb.StringValue)
	if !ok {
		return ringactor.ReplyWithError(ringactor.ErrUnhandledCall)
	}
	switch command := text.GetValue(); {
	case command == "inc":
		ctx.Update(func(p *crdt.PNCounter) *crdt.PNCounter { return p.Increment(ctx.Replica(), 1) })
		return ringactor.ReplyWith(wrapperspb.Int64(ctx.Payload().Value()))
	case command == "get":
		return ringactor.ReplyWith(wrapperspb.Int64(ctx.Payload().Value()))
	case command == "later":
		return ringactor.NoReply()
	case command == "panic":
		panic("the behaviour panics")
	case strings.HasPrefix(command, "fail:"):
		name := strings.TrimPrefix(command, "fail:")
		if sentinel, ok := sentinels[name]; ok {
			return ringactor.ReplyWithError(fmt.Errorf("asked to fail with %s: %w", name, sentinel))
		}
	}
	return ringactor.ReplyWithError(ringactor.ErrUnhandledCall)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startMember starts this process's actor system and ring member.
func startMember() (*actor.ActorSystem, *ringactor.Client, error) {
	system, _, err := ringactor.StartActorSystem(ringactor.RemoteOptions{Host: "127.0.0.1", Logger: quiet()})
	if err != nil {
		return nil, nil, err
	}
	ring, err := ringactor.Start[*crdt.PNCounter](system, ringName, Counter{},
		ringactor.WithStore(persistence.NewMemoryStore()), ringactor.WithLogger(quiet()),
		ringactor.WithGossipInterval(100*time.Millisecond))
	if err != nil {
		system.Shutdown()
		return nil, nil, err
	}
	return system, ring, nil
}

func TestMain(m *testing.M) {
	if os.Getenv(peerEnv) != "" {
		os.Exit(runPeer())
	}
	os.Exit(m.Run())
}

// runPeer is a member process: it prints "node ADDR" and runs until its
// stdin closes.
func runPeer() int {
	system, ring, err := startMember()
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("node", ring.Node())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = ring.LocalStop(context.Background())
	system.Shutdown()
	return 0
}

// startPeer starts this test binary again as a member process; the test's
// cleanup stops it (closing its stdin) and kills it if it does not exit.
func startPeer(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the member process printed nothing")
	node, ok := strings.CutPrefix(strings.TrimSpace(line), "node ")
	require.True(t, ok, "the member process said %q", line)
	return node
}

func TestThreeMemberRingAndSentinelErrors(t *testing.T) {
	system, local, err := startMember()
	require.NoError(t, err)
	t.Cleanup(system.Shutdown)
	ctx := t.Context()

	nodes := []string{local.Node(), startPeer(t), startPeer(t)}
	for _, node := range nodes[1:] {
		require.NoError(t, local.AddNode(ctx, node))
	}
	slices.Sort(nodes)
	clients := []*ringactor.Client{local}
	for _, node := range nodes {
		if node != local.Node() {
			clients = append(clients, ringactor.NewClient(system, node, ringName))
		}
	}
	for _, c := range clients {
		require.Eventually(t, func() bool {
			up, err := c.Up(ctx)
			return err == nil && slices.Equal(up, nodes)
		}, 20*time.Second, 50*time.Millisecond, "%s sees the three members up", c.Node())
	}

	// A change made on one member reaches the others.
	_, err = clients[1].Call(ctx, wrapperspb.String("inc"))
	require.NoError(t, err)
	for _, c := range clients {
		require.Eventually(t, func() bool {
			v, err := c.Call(ctx, wrapperspb.String("get"))
			return err == nil && v.(*wrapperspb.Int64Value).GetValue() == 1
		}, 20*time.Second, 50*time.Millisecond, "%s has the increment", c.Node())
	}

	t.Run("in this process", func(t *testing.T) { checkSentinels(t, local, false) })
	t.Run("across processes", func(t *testing.T) { checkSentinels(t, clients[1], true) })

	t.Run("member gone", func(t *testing.T) {
		_, err := ringactor.NewClient(system, clients[1].Node(), "no-such-ring").Call(ctx, wrapperspb.String("get"))
		require.ErrorIs(t, err, ringactor.ErrMemberGone)

		other, err := ringactor.Start[*crdt.PNCounter](system, "short-lived", Counter{},
			ringactor.WithStore(persistence.NewMemoryStore()), ringactor.WithLogger(quiet()))
		require.NoError(t, err)
		require.NoError(t, other.LocalStop(ctx))
		require.Eventually(t, func() bool {
			return errors.Is(other.Cast(wrapperspb.String("inc")), ringactor.ErrMemberGone)
		}, 10*time.Second, 20*time.Millisecond, "the stopped member's actor goes away")
		_, err = other.Call(ctx, wrapperspb.String("get"))
		require.ErrorIs(t, err, ringactor.ErrMemberGone)
	})

	t.Run("no remote", func(t *testing.T) {
		bare := actor.NewActorSystem()
		defer bare.Shutdown()
		_, err := ringactor.Start[*crdt.PNCounter](bare, ringName, Counter{}, ringactor.WithLogger(quiet()))
		require.ErrorIs(t, err, ringactor.ErrNoRemote)
	})
}

// checkSentinels matches each sentinel with errors.Is through client.
func checkSentinels(t *testing.T, client *ringactor.Client, remote bool) {
	ctx := t.Context()
	for name, sentinel := range sentinels {
		_, err := client.Call(ctx, wrapperspb.String("fail:"+name))
		require.ErrorIs(t, err, sentinel, "a behaviour's error wrapping %s", name)
		if remote {
			var callErr *ringactor.CallError
			require.ErrorAs(t, err, &callErr, "%s arrives as a typed error", name)
		}
	}

	_, err := client.Call(ctx, wrapperspb.String("unknown"))
	require.ErrorIs(t, err, ringactor.ErrUnhandledCall)
	_, err = client.Call(ctx, wrapperspb.String("panic"))
	require.ErrorIs(t, err, ringactor.ErrCallbackPanic)

	require.ErrorIs(t, client.AddNode(ctx, "not an address"), ringactor.ErrInvalidNode)
	require.ErrorIs(t, client.DelNode(ctx, "127.0.0.1:1"), ringactor.ErrUnknownNode)
	require.ErrorIs(t, client.ForceDown(ctx, client.Node()), ringactor.ErrSelf)

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = client.Call(short, wrapperspb.String("later"))
	require.ErrorIs(t, err, ringactor.ErrTimeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	if remote {
		_, err = client.Call(ctx, struct{ Greeting string }{"hello"})
		require.ErrorIs(t, err, ringactor.ErrNotProto)
	}
}
