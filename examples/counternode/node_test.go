package counternode

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testMember runs Run in this process on pipes.
type testMember struct {
	t     *testing.T
	in    *io.PipeWriter
	lines chan string
	done  chan struct{} // closed when Run returned, with its error in err
	err   error
	node  string
}

func startTestMember(t *testing.T, peers ...string) *testMember {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	m := &testMember{t: t, in: inW, lines: make(chan string, 1000), done: make(chan struct{})}
	cfg := Config{
		Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"), Peers: peers,
		GossipInterval: 50 * time.Millisecond, ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 600 * time.Millisecond,
		RejoinInterval: 100 * time.Millisecond, InitTimeout: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	go func() {
		m.err = Run(context.Background(), cfg, inR, outW)
		close(m.done)
		_ = outW.Close()
	}()
	go func() {
		scanner := bufio.NewScanner(outR)
		for scanner.Scan() {
			m.lines <- scanner.Text()
		}
		close(m.lines)
	}()
	t.Cleanup(func() {
		_ = inW.Close()
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			t.Error("member did not stop at the end of its input")
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
	assert.Equal(t, "ok value=-2", lineOf(b.do("dec 2")))
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
