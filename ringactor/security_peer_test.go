package ringactor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

// A guarded peer is the member under attack when it needs a remote of its
// own (mTLS, a message size limit): this test binary started again, in its
// own process, running one member on its own remote. The test talks to it
// over its stdin and stdout: it asks for the member's state (node set,
// value, stats, the process's guard counters) and has it make requests, as
// a test does with a member in its process.

// guardedSpec tells a guarded peer process what to run.
type guardedSpec struct {
	Ring            string
	Port            int        // 0: a free port
	Key             string     // a base64 keyring (ParseKeyring); empty: none
	TLS             *TLSConfig // nil: plaintext
	MaxMessageBytes int        // 0: the default
	MaxNodes        int        // Security.MaxNodes; 0: the default
	MaxQueued       int        // Security.MaxQueued; 0: the default
	// Probes: testOptions' probes, which find a silent member down; by
	// default secureTestOptions', which never do within a test.
	Probes bool
}

// guardedState is what a guarded peer tells of its member and process.
type guardedState struct {
	All, Up []string
	Value   int64
	Stats   Stats
	Guard   GuardStats // the process's RemoteGuardStats
	// Terminated is the reason Terminate got, "" if it did not run.
	Terminated string
	Casts      int
	Infos      int
	Err        string // why the state could not be read
}

const guardedSpecEnv = "GENSERVERRING_TEST_GUARDED_SPEC"

// guardedPrefix marks the lines of the guarded peer's protocol on its
// stdout, apart from what the testing package prints.
const guardedPrefix = "GUARDED "

// guardedPeer is the test's side of a guarded peer process.
type guardedPeer struct {
	node  string
	ring  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
	mu    sync.Mutex // one question at a time
}

// startGuardedPeer starts a guarded peer running spec; it stops at the end
// of the test.
func startGuardedPeer(t *testing.T, spec guardedSpec) *guardedPeer {
	t.Helper()
	data, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecurityPeerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), guardedSpecEnv+"="+string(data))
	cmd.Stderr = logFor(t)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &guardedPeer{ring: spec.Ring, cmd: cmd, stdin: stdin, lines: make(chan string, 16), done: make(chan struct{})}
	go func() {
		scanner := bufio.NewScanner(stdout)
		scanner.Buffer(nil, 1<<20)
		for scanner.Scan() {
			if line, ok := strings.CutPrefix(scanner.Text(), guardedPrefix); ok {
				p.lines <- line
			} else {
				fmt.Fprintln(logFor(t), "guarded peer:", scanner.Text())
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	line := p.read(t)
	node, ok := strings.CutPrefix(line, "node ")
	require.True(t, ok, "the guarded peer did not start: %s", line)
	p.node = node
	return p
}

// read returns the peer's next line.
func (p *guardedPeer) read(t *testing.T) string {
	t.Helper()
	select {
	case line := <-p.lines:
		return line
	case <-p.done:
		t.Fatal("the guarded peer ended (its log is in the test's log)")
	case <-time.After(waitFor):
		t.Fatal("the guarded peer did not answer in time")
	}
	return ""
}

// ask sends the peer command and returns its answer's error text, "" for
// none.
func (p *guardedPeer) ask(t *testing.T, command string) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := fmt.Fprintln(p.stdin, command)
	require.NoError(t, err)
	return p.read(t)
}

// state returns the state of the peer's member and process.
func (p *guardedPeer) state(t *testing.T) guardedState {
	t.Helper()
	var state guardedState
	require.NoError(t, json.Unmarshal([]byte(p.ask(t, "state")), &state))
	require.Empty(t, state.Err, "the guarded peer's member does not answer")
	return state
}

// request makes the peer's member handle a request: "add NODE", "del
// NODE", "localstop"; it returns the request's error text, "" for none.
func (p *guardedPeer) request(t *testing.T, command string) string {
	t.Helper()
	return p.ask(t, command)
}

// requireIntact checks that the peer's member still serves, as
// requireIntact does for a member of this process.
func (p *guardedPeer) requireIntact(t *testing.T, all []string, value int64) guardedState {
	t.Helper()
	state := p.state(t)
	assert.Equal(t, slices.Sorted(slices.Values(all)), state.All, "node set")
	assert.Equal(t, value, state.Value, "payload")
	assert.Empty(t, state.Terminated, "the ring actor must not have stopped")
	return state
}

// stop ends the peer the way it ends itself: its stdin closes.
func (p *guardedPeer) stop(t *testing.T) {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(waitFor):
		t.Errorf("guarded peer %s did not stop at the end of its input", p.node)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// TestSecurityPeerProcess is the guarded peer of startGuardedPeer: it does
// nothing when run as a test.
func TestSecurityPeerProcess(t *testing.T) {
	raw := os.Getenv(guardedSpecEnv)
	if raw == "" {
		t.Skip("run by startGuardedPeer only")
	}
	var spec guardedSpec
	require.NoError(t, json.Unmarshal([]byte(raw), &spec))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	system, r, err := StartActorSystem(RemoteOptions{Port: spec.Port, TLS: spec.TLS, MaxMessageBytes: spec.MaxMessageBytes, Logger: log})
	require.NoError(t, err)
	defer func() {
		r.Shutdown(false)
		system.Shutdown()
	}()
	opts := append([]Option{WithStore(persistence.NewMemoryStore()), WithLogger(log)}, secureTestOptions...)
	if spec.Probes {
		opts = append(opts, testOptions...)
	}
	sec := Security{MaxNodes: spec.MaxNodes, MaxQueued: spec.MaxQueued}
	if spec.Key != "" {
		sec.Keyring, err = ParseKeyring(spec.Key)
		require.NoError(t, err)
	}
	b := &counterBehaviour{}
	holding := &holdingBehaviour{counterBehaviour: b}
	client, err := Start[*crdt.PNCounter](system, spec.Ring, holding, append(opts, WithSecurity(sec))...)
	require.NoError(t, err)
	say := func(line string) { fmt.Println(guardedPrefix + line) }
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	say("node " + system.Address())
	input := bufio.NewScanner(os.Stdin)
	for input.Scan() {
		verb, arg, _ := strings.Cut(input.Text(), " ")
		switch verb {
		case "state":
			data, err := json.Marshal(readGuardedState(client, b))
			require.NoError(t, err)
			say(string(data))
		case "add":
			say(errText(client.AddNode(context.Background(), arg)))
		case "del":
			say(errText(client.DelNode(context.Background(), arg)))
		case "localstop":
			say(errText(client.LocalStop(context.Background())))
		case "hold":
			say(errText(holding.hold(client)))
		case "unhold":
			holding.unhold()
			say("")
		case "heap":
			data, err := json.Marshal(readHeap())
			require.NoError(t, err)
			say(string(data))
		default:
			say("unknown command " + verb)
		}
	}
}

// readGuardedState reads the state of a guarded peer's member.
func readGuardedState(client *Client, b *counterBehaviour) guardedState {
	state := guardedState{Guard: RemoteGuardStats()}
	if err := b.terminatedWith(); err != nil {
		state.Terminated = err.Error()
	}
	b.mu.Lock()
	state.Casts, state.Infos = len(b.casts), len(b.infos)
	b.mu.Unlock()
	var err error
	if state.All, err = client.All(context.Background()); err != nil {
		state.Err = err.Error()
		return state
	}
	if state.Up, err = client.Up(context.Background()); err != nil {
		state.Err = err.Error()
		return state
	}
	value, err := client.Call(within(2*time.Second), get{})
	if err != nil {
		state.Err = err.Error()
		return state
	}
	state.Value = value.(int64)
	if state.Stats, err = client.Stats(context.Background()); err != nil {
		state.Err = err.Error()
	}
	return state
}
