package integration

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/internal/counternode"
)

// The rings' timing: short, to keep the tests fast, with a probe timeout
// that leaves room for the race detector on a loaded 2-core machine.
const (
	gossipInterval = 100 * time.Millisecond
	probeInterval  = 200 * time.Millisecond
	probeTimeout   = 800 * time.Millisecond
	rejoinInterval = 200 * time.Millisecond
	initTimeout    = 500 * time.Millisecond

	// readyTimeout bounds a member's start; commandTimeout one command.
	readyTimeout   = 30 * time.Second
	commandTimeout = 15 * time.Second
	// settleWithin bounds every wait for a condition (convergence,
	// membership, an event). The waits end as soon as the condition holds.
	settleWithin = 30 * time.Second
	pollEvery    = 20 * time.Millisecond
	// slack is added to the documented detection bounds: a loaded 2-core
	// machine running race-enabled members delays timers and scheduling.
	slack = 2 * time.Second
)

// hangBound is the documented bound on every member seeing a hung member
// down: its watcher's wait for a heartbeat (a probe interval and a
// quarter), the verdict of the ping that follows (a probe timeout), then
// each member's own check of it, half a probe timeout.
const hangBound = probeInterval + probeInterval/4 + probeTimeout + probeTimeout/2

const ringName = "itest"

// Two environment variables keep more evidence of a run than the tail of
// each member that a failed test logs (often only polling):
//   - GENSERVERRING_LOGDIR=dir writes the full output of every life of every
//     member to dir/<test>/<member>-<pid>.log when the test ends, passed or
//     failed. A failed test writes them anyway, to a new directory under
//     the system's temporary directory; it logs the path either way.
//   - GENSERVERRING_LOG_LEVEL=debug starts every member at that -log-level
//     (debug shows why the ring took each member up or down).
const (
	logDirEnv   = "GENSERVERRING_LOGDIR"
	logLevelEnv = "GENSERVERRING_LOG_LEVEL"
)

// cluster owns the member processes of one test: it kills them when the
// test ends and, when the test failed, logs the tail of each one's output.
type cluster struct {
	t     *testing.T
	dir   string // the members' data directories live here
	mu    sync.Mutex
	procs []*counternode.Process // every life of every member
}

func newCluster(t *testing.T) *cluster {
	// The directory first: cleanups run last-registered first, so it is
	// removed after the processes that write in it are gone.
	c := &cluster{t: t, dir: t.TempDir()}
	t.Cleanup(c.cleanup)
	return c
}

// member is one member of the ring: a name, a data directory and an
// address that outlive its processes (a restart reuses them).
type member struct {
	*counternode.Process // the current life
	c                    *cluster
	name                 string
	data                 string
	listen               string   // 127.0.0.1:0 until the first start, then the node address
	netns                string   // network namespace to run in, if any
	extra                []string // more flags for every start (security_test.go)
	logLevel             string   // -log-level; default info
	blob                 bool     // a blob member (blob_member_test.go), not examples/cluster
}

// memberOption changes a member before its first start.
type memberOption func(*member)

// inNamespace runs the member in network namespace ns, listening on host.
func inNamespace(ns, host string) memberOption {
	return func(m *member) { m.netns, m.listen = ns, host+":0" }
}

// atLogLevel runs the member with -log-level level.
func atLogLevel(level string) memberOption {
	return func(m *member) { m.logLevel = level }
}

// start starts a new member named name.
func (c *cluster) start(name string, opts ...memberOption) *member {
	c.t.Helper()
	m := &member{c: c, name: name, data: filepath.Join(c.dir, name), listen: "127.0.0.1:0", logLevel: "info"}
	for _, opt := range opts {
		opt(m)
	}
	m.launch()
	return m
}

// launch starts a process for m, on m.listen with m.data.
func (m *member) launch() {
	m.c.t.Helper()
	p, err := m.tryLaunch()
	require.NoError(m.c.t, err)
	m.c.t.Logf("%s ready at %s (pid %d)", m.name, p.Node, p.PID)
}

// tryLaunch is launch returning its error, for goroutines other than the
// test's own (which must not fail the test).
func (m *member) tryLaunch() (*counternode.Process, error) {
	args := []string{
		"-ring", ringName, "-listen", m.listen, "-data", m.data,
		"-gossip", gossipInterval.String(),
		"-probe-interval", probeInterval.String(), "-probe-timeout", probeTimeout.String(),
		"-rejoin", rejoinInterval.String(), "-init-timeout", initTimeout.String(),
		"-command-timeout", "10s", "-log-level", cmp.Or(os.Getenv(logLevelEnv), m.logLevel),
	}
	args = append(args, m.extra...)
	program := nodeBinary
	if m.blob {
		program, args = blobMemberCommand(args)
	}
	var cmd *exec.Cmd
	if m.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", m.netns, program}, args...)...)
	} else {
		cmd = exec.Command(program, args...)
	}
	if m.blob {
		cmd.Env = append(os.Environ(), blobMemberEnv+"=1")
	}
	// Should the test binary die before its cleanup, its members die too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p, err := counternode.StartProcess(m.name, cmd, readyTimeout)
	if err != nil {
		return nil, err
	}
	m.c.mu.Lock()
	m.c.procs = append(m.c.procs, p)
	m.c.mu.Unlock()
	if !strings.HasSuffix(m.listen, ":0") && p.Node != m.listen {
		p.Kill()
		return nil, fmt.Errorf("%s came back on %s, not %s", m.name, p.Node, m.listen)
	}
	m.Process = p
	m.listen = p.Node
	return p, nil
}

// restart starts m again, on the same address with the same data
// directory; its last process must have ended.
func (m *member) restart() {
	m.c.t.Helper()
	select {
	case <-m.Exited():
	default:
		m.c.t.Fatalf("%s: restart while its process runs", m.name)
	}
	m.launch()
}

// cleanup kills every process still running and, if the test failed, logs
// the tail of each process's output; it keeps the full output in files
// when the test failed or logDirEnv asks for it.
func (c *cluster) cleanup() {
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.Kill() }() // SIGKILL ends a stopped process too
	}
	wg.Wait()
	if c.t.Failed() {
		for _, p := range procs {
			c.t.Logf("last lines of %s (pid %d, %s):\n%s", p.Name, p.PID, p.Node, p.Tail(60))
		}
	}
	if dir := os.Getenv(logDirEnv); dir != "" || c.t.Failed() {
		if path, err := keepLogs(dir, c.t.Name(), procs); err != nil {
			c.t.Logf("cannot keep the members' output: %v", err)
		} else {
			c.t.Logf("full output of every member in %s", path)
		}
	}
}

// keepLogs writes the full output of each process to a file of its own in
// dir/test (in a new temporary directory when dir is empty) and returns
// that directory.
func keepLogs(dir, test string, procs []*counternode.Process) (string, error) {
	test = strings.ReplaceAll(test, "/", "_")
	var err error
	if dir == "" {
		dir, err = os.MkdirTemp("", "genserverring-"+test+"-")
	} else {
		dir = filepath.Join(dir, test)
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return "", err
	}
	for _, p := range procs {
		name := filepath.Join(dir, fmt.Sprintf("%s-%d.log", p.Name, p.PID))
		if err := os.WriteFile(name, []byte(p.Tail(math.MaxInt)), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// --- commands; each fails the test on an error ---

func (m *member) exec(command string) {
	m.c.t.Helper()
	require.NoError(m.c.t, m.Exec(command, commandTimeout))
}

func (m *member) value() int64 {
	m.c.t.Helper()
	v, err := m.Value("get", commandTimeout)
	require.NoError(m.c.t, err)
	return v
}

func (m *member) inc(n int64) int64 {
	m.c.t.Helper()
	v, err := m.Value("inc "+strconv.FormatInt(n, 10), commandTimeout)
	require.NoError(m.c.t, err)
	return v
}

func (m *member) nodes(command string) []string {
	m.c.t.Helper()
	nodes, err := m.Nodes(command, commandTimeout)
	require.NoError(m.c.t, err)
	return nodes
}

// --- waiting ---

// waitFor polls cond until it returns nil and returns how long that took;
// after settleWithin it fails the test with what and cond's last error.
func waitFor(t *testing.T, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > settleWithin {
			t.Fatalf("%s: not within %v: %v", what, settleWithin, err)
		}
		time.Sleep(pollEvery)
	}
}

// addrs returns the members' node addresses, sorted: the form of node
// lists in the protocol.
func addrs(members ...*member) []string {
	nodes := make([]string, len(members))
	for i, m := range members {
		nodes[i] = m.Node
	}
	slices.Sort(nodes)
	return nodes
}

// waitNodes waits until command (all or up) gives want on every observer.
func waitNodes(t *testing.T, command string, want []string, observers ...*member) time.Duration {
	t.Helper()
	return waitFor(t, fmt.Sprintf("%s = %v", command, want), func() error {
		for _, m := range observers {
			got, err := m.Nodes(command, commandTimeout)
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("%s has %s %v", m.name, command, got)
			}
		}
		return nil
	})
}

// waitValue waits until every observer's counter is want.
func waitValue(t *testing.T, want int64, observers ...*member) time.Duration {
	t.Helper()
	return waitFor(t, fmt.Sprintf("counter = %d", want), func() error {
		for _, m := range observers {
			v, err := m.Value("get", commandTimeout)
			if err != nil {
				return err
			}
			if v != want {
				return fmt.Errorf("%s has %d", m.name, v)
			}
		}
		return nil
	})
}

// marks records each member's event count, to wait for later events.
func marks(members ...*member) map[*member]int {
	mark := make(map[*member]int, len(members))
	for _, m := range members {
		mark[m] = m.EventCount()
	}
	return mark
}

// waitDown waits, for every observer, for a ring change after its mark
// that leaves all of gone out of the up set; it returns when each one saw
// it, measured from since, and logs the figures as kind.
func waitDown(t *testing.T, kind string, since time.Time, mark map[*member]int, gone []*member, observers ...*member) map[*member]time.Duration {
	t.Helper()
	seen := make(map[*member]time.Duration, len(observers))
	for _, m := range observers {
		e, err := m.WaitEvent(mark[m], settleWithin, func(e counternode.Event) bool {
			if e.Event != counternode.EventRingChange || e.Fields["reason"] != "nodedown" {
				return false
			}
			up := e.Nodes("new")
			for _, g := range gone {
				if slices.Contains(up, g.Node) {
					return false
				}
			}
			return true
		})
		require.NoError(t, err, "%s did not see %v down", m.name, names(gone))
		seen[m] = e.At.Sub(since)
		t.Logf("MEASURE %s detection: %s saw %v down after %v", kind, m.name, names(gone), seen[m].Round(time.Millisecond))
	}
	return seen
}

func names(members []*member) []string {
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = m.name
	}
	return out
}

// waitInit waits until each member reported its init ring change: until
// then a member folds every change of its up set into that one notice (a
// member that goes down before it is not reported as nodedown).
func waitInit(t *testing.T, members ...*member) {
	t.Helper()
	for _, m := range members {
		_, err := m.WaitEvent(0, settleWithin, func(e counternode.Event) bool {
			return e.Event == counternode.EventRingChange && e.Fields["reason"] == "init"
		})
		require.NoError(t, err, "%s reported no init ring change", m.name)
	}
}

// formRing waits for every member's init, has first add the others one at
// a time, and waits until every member sees all of them up.
func formRing(t *testing.T, first *member, others ...*member) {
	t.Helper()
	waitInit(t, append([]*member{first}, others...)...)
	for _, m := range others {
		first.exec("add " + m.Node)
	}
	everyone := append([]*member{first}, others...)
	waitNodes(t, "up", addrs(everyone...), everyone...)
	waitNodes(t, "all", addrs(everyone...), everyone...)
}

// stateChanges returns the values of m's state-change events.
func stateChanges(m *member) []int64 {
	var values []int64
	for _, e := range m.Events() {
		if e.Event == counternode.EventStateChange {
			v, err := e.Int("value")
			if err == nil {
				values = append(values, v)
			}
		}
	}
	return values
}
