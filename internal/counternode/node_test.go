package counternode

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each member of a test runs Run in a process of its own: this test binary
// started again with memberEnv set, talking on its stdin and stdout. Two
// members in one process would start two Proto.Actor remotes there, and
// each Remote.Start writes gRPC's process-wide logger: a data race under
// -race.
const (
	memberEnv      = "COUNTERNODE_TEST_MEMBER" // set: run a member, not the tests
	memberPeersEnv = "COUNTERNODE_TEST_PEERS"  // comma-separated peers to join
	memberDataEnv  = "COUNTERNODE_TEST_DATA"   // the member's data directory
)

func TestMain(m *testing.M) {
	if os.Getenv(memberEnv) != "" {
		os.Exit(runMember())
	}
	os.Exit(m.Run())
}

// runMember runs Run on stdin and stdout with the test timings.
func runMember() int {
	cfg := Config{
		Listen: "127.0.0.1:0", DataDir: os.Getenv(memberDataEnv), Peers: ParseNodes(os.Getenv(memberPeersEnv)),
		GossipInterval: 50 * time.Millisecond, ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 600 * time.Millisecond,
		RejoinInterval: 100 * time.Millisecond, InitTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := Run(context.Background(), cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// testMember is a member process and the lines it wrote.
type testMember struct {
	t     *testing.T
	in    io.WriteCloser
	lines chan string
	done  chan struct{} // closed when the process ended, with Run's outcome in err
	err   error
	node  string
}

func startTestMember(t *testing.T, peers ...string) *testMember {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), memberEnv+"=1", memberPeersEnv+"="+FormatNodes(peers),
		memberDataEnv+"="+filepath.Join(t.TempDir(), "data"))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	m := &testMember{t: t, in: in, lines: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		scanner := bufio.NewScanner(out)
		for scanner.Scan() {
			m.lines <- scanner.Text()
		}
		m.err = cmd.Wait()
		close(m.lines)
		close(m.done)
	}()
	t.Cleanup(func() {
		_ = in.Close()
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			t.Error("member did not stop at the end of its input")
			_ = cmd.Process.Kill()
		}
	})
	ready := m.next(KindReady)
	m.node = ready.Fields["node"]
	require.NotEmpty(t, m.node)
	return m
}

// next returns the next line of kind, skipping events unless kind is
// KindEvent.
func (m *testMember) next(kind string) Message {
	m.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-m.lines:
			require.True(m.t, ok, "output ended while waiting for %s", kind)
			msg, err := ParseLine(line)
			require.NoError(m.t, err)
			if msg.Kind == kind || (kind == KindOK && msg.Kind == KindError) {
				return msg
			}
		case <-timeout:
			m.t.Fatalf("no %s line in time", kind)
		}
	}
}

func (m *testMember) do(command string) Message {
	m.t.Helper()
	_, err := io.WriteString(m.in, command+"\n")
	require.NoError(m.t, err)
	return m.next(KindOK)
}

func TestRunTwoMembers(t *testing.T) {
	a := startTestMember(t)
	b := startTestMember(t, a.node)

	assert.Equal(t, "ok value=3", lineOf(a.do("inc 3")))
	// b's answer depends on whether a's push of +3 reached it first (the
	// members joined when b started, so it often has).
	assert.Contains(t, []string{"ok value=-2", "ok value=1"}, lineOf(b.do("dec 2")))
	require.Eventually(t, func() bool {
		return lineOf(a.do("get")) == "ok value=1" && lineOf(b.do("get")) == "ok value=1"
	}, 10*time.Second, 20*time.Millisecond)
	both := FormatNodes(sortedPair(a.node, b.node))
	assert.Equal(t, "ok nodes="+both, lineOf(a.do("all")))
	assert.Equal(t, "ok nodes="+both, lineOf(b.do("up")))

	for command, want := range map[string]string{
		"bogus":    `unknown command "bogus"`,
		"inc 0":    "usage: inc [N]",
		"inc 1 2":  "usage: inc [N]",
		"add":      "usage: add ADDR",
		"add nope": "invalid node address",
		"get x":    "usage: get",
		"stats x":  "usage: stats",
	} {
		m := a.do(command)
		assert.Equal(t, KindError, m.Kind, command)
		assert.Contains(t, m.Text, want, command)
	}
	assert.Equal(t, KindOK, a.do("help").Kind)
	goroutines, err := a.do("stats").Int("goroutines")
	require.NoError(t, err)
	assert.Positive(t, goroutines)

	// stop: the terminated event comes first, then ok, then Run returns.
	_, err = io.WriteString(b.in, "stop\n")
	require.NoError(t, err)
	terminated := b.next(KindEvent)
	for terminated.Event != EventTerminated {
		terminated = b.next(KindEvent)
	}
	assert.Equal(t, TerminatedStopped, terminated.Fields["reason"])
	assert.Equal(t, "ok", lineOf(b.next(KindOK)))
	select {
	case <-b.done:
		require.NoError(t, b.err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after stop")
	}
}

func TestRunFailsToStartOnABadAddress(t *testing.T) {
	var out strings.Builder
	err := Run(context.Background(), Config{Listen: "nowhere", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		strings.NewReader(""), &out)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(out.String(), "error start: "), out.String())
}

func lineOf(m Message) string {
	if m.Kind == KindError {
		return "error " + m.Text
	}
	if v, ok := m.Fields["value"]; ok {
		return "ok value=" + v
	}
	if v, ok := m.Fields["nodes"]; ok {
		return "ok nodes=" + v
	}
	return m.Kind
}

func sortedPair(a, b string) []string {
	if a < b {
		return []string{a, b}
	}
	return []string{b, a}
}
