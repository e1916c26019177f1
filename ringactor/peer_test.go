package ringactor

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

// Tests that must cross a real socket use at most one Proto.Actor remote
// in the test process (sharedRemote: every Remote.Start writes gRPC's
// process-wide logger, a data race once another remote runs) and put the
// other members in peers: this test binary started again as a ring member
// in its own process.

// The environment of a peer process.
const (
	peerRingEnv = "RINGACTOR_TEST_PEER_RING" // set: run a peer of this ring
	peerPortEnv = "RINGACTOR_TEST_PEER_PORT" // port to listen on; default a free one
	peerDirEnv  = "RINGACTOR_TEST_PEER_DIR"  // data directory; default a MemoryStore
	peerInitEnv = "RINGACTOR_TEST_PEER_INIT" // InitTimeout; default testOptions'
	peerBlobEnv = "RINGACTOR_TEST_PEER_BLOB" // set: a blobBehaviour member whose transport takes messages up to this many bytes
)

func TestMain(m *testing.M) {
	if ring := os.Getenv(peerRingEnv); ring != "" {
		os.Exit(runPeer(ring))
	}
	os.Exit(m.Run())
}

// runPeer runs a counterBehaviour member of ring and prints "node ADDR",
// or "error TEXT" if it cannot start; it ends when its stdin closes.
func runPeer(ring string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	port, _ := strconv.Atoi(os.Getenv(peerPortEnv))
	fail := func(err error) int {
		fmt.Println("error", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	remoteOpts := RemoteOptions{Port: port, Logger: log}
	blobLimit, _ := strconv.Atoi(os.Getenv(peerBlobEnv))
	if blobLimit > 0 {
		remoteOpts.ServerOptions = []grpc.ServerOption{grpc.MaxRecvMsgSize(blobLimit)}
	}
	system, _, err := StartActorSystem(remoteOpts)
	if err != nil {
		return fail(err)
	}
	var store persistence.Store = persistence.NewMemoryStore()
	if dir := os.Getenv(peerDirEnv); dir != "" {
		if store, err = persistence.NewFileStore(dir); err != nil {
			return fail(err)
		}
	}
	opts := append([]Option{WithStore(store), WithLogger(log)}, testOptions...)
	if init, err := time.ParseDuration(os.Getenv(peerInitEnv)); err == nil {
		opts = append(opts, WithInitTimeout(init))
	}
	if blobLimit > 0 {
		// Chunks far below the transport's limit; any state the defaults
		// accept.
		defaults := DefaultConfig()
		_, err = Start[*crdt.LWWRegister[[]byte]](system, ring, blobBehaviour{}, append(opts, WithChunks(min(blobLimit/16, defaults.ChunkBytes), defaults.MaxStateBytes))...)
	} else {
		_, err = Start[*crdt.PNCounter](system, ring, &counterBehaviour{}, opts...)
	}
	if err != nil {
		return fail(err)
	}
	fmt.Println("node", system.Address())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// peer is a member in another process.
type peer struct {
	node  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// startPeer starts a peer of ring with the extra environment env; it
// returns the peer, or the text of its start error.
func startPeer(t testing.TB, ring string, env ...string) (*peer, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), peerRingEnv+"="+ring), env...)
	cmd.Stderr = io.Discard
	if tt, ok := t.(*testing.T); ok {
		cmd.Stderr = logFor(tt)
	}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &peer{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	first := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		line := ""
		if scanner.Scan() {
			line = scanner.Text()
		}
		first <- line
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case line := <-first:
		if node, ok := strings.CutPrefix(line, "node "); ok {
			p.node = node
			return p, ""
		}
		return nil, line
	case <-time.After(waitFor):
		t.Fatal("the peer did not start in time")
		return nil, ""
	}
}

// stop ends the peer the way it ends itself: its stdin closes.
func (p *peer) stop(t testing.TB) {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(waitFor):
		t.Errorf("peer %s did not stop at the end of its input", p.node)
		p.kill()
	}
}

// kill ends the peer at once (SIGKILL) and waits for it.
func (p *peer) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

var shared struct {
	once   sync.Once
	system *actor.ActorSystem
	err    error
}

// sharedRemote returns the test process's one actor system with a remote;
// it runs until the process ends.
func sharedRemote(t testing.TB) *actor.ActorSystem {
	t.Helper()
	system, err := sharedSystem()
	require.NoError(t, err)
	return system
}

// sharedSystem starts the test process's one actor system with a remote,
// once, on a free port of 127.0.0.1.
func sharedSystem() (*actor.ActorSystem, error) {
	shared.once.Do(func() {
		shared.system, _, shared.err = StartActorSystem(RemoteOptions{Logger: quietLogger()})
	})
	return shared.system, shared.err
}

var ringCount atomic.Uint32

// uniqueRing returns a ring name no other test of the process uses, for
// members on the shared remote (the tests may run more than once).
func uniqueRing(name string) string { return fmt.Sprintf("%s-%d", name, ringCount.Add(1)) }

// startSharedMember starts a member of ring on the shared remote; it stops
// at the end of the test.
func startSharedMember(t *testing.T, ring string, opts ...Option) *member {
	t.Helper()
	system := sharedRemote(t)
	b := &counterBehaviour{}
	store := persistence.NewMemoryStore()
	all := append(append([]Option{WithStore(store), WithLogger(memberLogger(t, slog.LevelDebug))}, testOptions...), opts...)
	client, err := Start[*crdt.PNCounter](system, ring, b, all...)
	require.NoError(t, err)
	stop := func() { require.NoError(t, system.Root.StopFuture(client.PID()).Wait()) }
	t.Cleanup(stop)
	return &member{system: system, client: client, behaviour: b, store: store, node: system.Address(), shutdown: stop}
}
