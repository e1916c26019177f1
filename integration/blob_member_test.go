package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/internal/counternode"
	"github.com/genserverring/genserverring-go/ringactor"
)

// A blob member is a ring member whose payload is one byte string (an LWW
// register), so that a test can make the payload megabytes large; the
// counter of internal/counternode cannot grow that large without changing
// its payload type for every program that shares it (examples/cluster,
// the demo). It is this test binary started again (TestBlobMemberProcess),
// as the hostile clients are, so no second program is built. It takes the
// flags of examples/cluster and speaks a subset of its line protocol, so
// the suite's harness and counternode.Process drive it like any member:
//
//	set N     store N bytes ("x" repeated)          -> ok value=N
//	get       the length of the stored bytes        -> ok value=N
//	all, up   as counternode                        -> ok nodes=A,B
//	add ADDR  as counternode                        -> ok
//	stats     the member's chunk, probe and drop counters
//	          -> ok chunks-sent=N chunks-received=N probe-failures=N dropped-outbound=N oversized-sends=N
//	stop      stop the ring and exit                -> ok
//
// It prints the ready line and the ring-change, state-change (value = the
// length) and terminated events of counternode.

// blobMemberEnv set: this test binary runs as a blob member; TestMain
// skips building the member program.
const blobMemberEnv = "GENSERVERRING_BLOB_MEMBER"

// blobPayload makes the member a blob member.
func blobPayload() memberOption { return func(m *member) { m.blob = true } }

// blobMemberCommand returns the command of a blob member process with the
// member flags args.
func blobMemberCommand(args []string) (string, []string) {
	return os.Args[0], append([]string{"-test.run=^TestBlobMemberProcess$", "-test.count=1", "--"}, args...)
}

// TestBlobMemberProcess is the blob member; run as a test, it does nothing.
func TestBlobMemberProcess(t *testing.T) {
	if os.Getenv(blobMemberEnv) == "" {
		t.Skip("run as a member process only (blobPayload)")
	}
	os.Exit(runBlobMember(flag.Args(), os.Stdin, os.Stdout))
}

// setBlob and getBlob are the blob member's local calls.
type (
	setBlob struct{ size int }
	getBlob struct{}
)

// blobBehaviour keeps the byte string and prints the ring's events.
type blobBehaviour struct {
	ringactor.DefaultBehaviour[*crdt.LWWRegister[[]byte]]
	out *syncWriter
}

func (b *blobBehaviour) HandleCall(ctx *ringactor.Context[*crdt.LWWRegister[[]byte]], _ ringactor.From, msg any) ringactor.CallResult {
	switch m := msg.(type) {
	case setBlob:
		data := bytes.Repeat([]byte("x"), m.size)
		ctx.Update(func(p *crdt.LWWRegister[[]byte]) *crdt.LWWRegister[[]byte] {
			return p.Set(ctx.Replica(), time.Now().UnixNano(), data)
		})
		return ringactor.ReplyWith(m.size)
	case getBlob:
		v, _ := ctx.Payload().Value()
		return ringactor.ReplyWith(len(v))
	}
	return ringactor.ReplyWithError(ringactor.ErrUnhandledCall)
}

func (b *blobBehaviour) HandleStateChange(_ *ringactor.Context[*crdt.LWWRegister[[]byte]], payload *crdt.LWWRegister[[]byte]) {
	v, _ := payload.Value()
	b.out.printf("event %s value=%d", counternode.EventStateChange, len(v))
}

func (b *blobBehaviour) HandleRingChange(_ *ringactor.Context[*crdt.LWWRegister[[]byte]], c ringactor.RingChange) {
	b.out.printf("event %s reason=%s old=%s new=%s", counternode.EventRingChange, c.Reason, counternode.FormatNodes(c.Old), counternode.FormatNodes(c.New))
}

func (b *blobBehaviour) Terminate(_ *ringactor.Context[*crdt.LWWRegister[[]byte]], reason error) {
	b.out.printf("event %s reason=%s detail=%s", counternode.EventTerminated, counternode.TerminatedStopped, strconv.Quote(fmt.Sprint(reason)))
}

// syncWriter writes whole lines from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, format+"\n", args...)
}

// runBlobMember runs a blob member with the flags args until stop or the
// end of in; it returns the exit status (2: bad flags, 1: no start).
func runBlobMember(args []string, in io.Reader, stdout io.Writer) int {
	cfg, err := counternode.ParseFlags("blob member", args, os.Stderr)
	if err != nil {
		return 2
	}
	out := &syncWriter{w: stdout}
	fail := func(err error) int {
		out.printf("error %s", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fail(err)
	}
	portNumber, err := strconv.Atoi(port)
	if err != nil {
		return fail(err)
	}
	system, remote, err := ringactor.StartActorSystem(ringactor.RemoteOptions{Host: host, Port: portNumber, TLS: cfg.TLS, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return fail(err)
	}
	defer func() { remote.Shutdown(false); system.Shutdown() }()
	opts := []ringactor.Option{
		ringactor.WithDataDir(cfg.DataDir), ringactor.WithLogger(cfg.Logger), ringactor.WithRequestTimeout(cfg.CommandTimeout),
		ringactor.WithGossipInterval(cfg.GossipInterval), ringactor.WithRejoinInterval(cfg.RejoinInterval),
		ringactor.WithInitTimeout(cfg.InitTimeout), ringactor.WithProbe(cfg.ProbeInterval, cfg.ProbeTimeout),
	}
	if cfg.KeyFile != "" {
		keyring, err := ringactor.LoadKeyringFile(cfg.KeyFile)
		if err != nil {
			return fail(err)
		}
		opts = append(opts, ringactor.WithKeyring(keyring))
	}
	client, err := ringactor.Start[*crdt.LWWRegister[[]byte]](system, cfg.Ring, &blobBehaviour{out: out}, opts...)
	if err != nil {
		return fail(err)
	}
	out.printf("%s node=%s ring=%s pid=%d data=%s", counternode.KindReady, system.Address(), cfg.Ring, os.Getpid(), cfg.DataDir)
	scanner := bufio.NewScanner(in)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		result, quit := blobCommand(client, cfg.CommandTimeout, line)
		out.printf("%s", result)
		if quit {
			return 0
		}
	}
	_ = client.LocalStop(context.Background())
	return 0
}

// blobCommand runs one command line and returns its result line.
func blobCommand(client *ringactor.Client, timeout time.Duration, line string) (result string, quit bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	verb, arg, _ := strings.Cut(line, " ")
	failed := func(err error) string { return "error " + strings.ReplaceAll(err.Error(), "\n", " ") }
	switch verb {
	case "set":
		size, err := strconv.Atoi(arg)
		if err != nil || size < 0 {
			return failed(fmt.Errorf("set: want a size in bytes, got %q", arg)), false
		}
		if _, err := client.Call(ctx, setBlob{size: size}); err != nil {
			return failed(err), false
		}
		return fmt.Sprintf("ok value=%d", size), false
	case "get":
		n, err := client.Call(ctx, getBlob{})
		if err != nil {
			return failed(err), false
		}
		return fmt.Sprintf("ok value=%d", n), false
	case "all", "up":
		get := client.All
		if verb == "up" {
			get = client.Up
		}
		nodes, err := get(ctx)
		if err != nil {
			return failed(err), false
		}
		return "ok nodes=" + counternode.FormatNodes(nodes), false
	case "add":
		if err := client.AddNode(ctx, arg); err != nil {
			return failed(err), false
		}
		return "ok", false
	case "stats":
		s, err := client.Stats(ctx)
		if err != nil {
			return failed(err), false
		}
		return fmt.Sprintf("ok chunks-sent=%d chunks-received=%d probe-failures=%d dropped-outbound=%d oversized-sends=%d",
			s.ChunksSent, s.ChunksReceived, s.ProbeFailures, s.DroppedOutbound, s.Security.OversizedSends), false
	case "stop":
		if err := client.LocalStop(ctx); err != nil && !errors.Is(err, ringactor.ErrStopped) {
			return failed(err), false
		}
		return "ok", true
	}
	return failed(fmt.Errorf("unknown command %q", verb)), false
}
