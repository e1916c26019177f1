package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// A partition network: two namespaces, one per side, each with one veth
// link to a bridge that lives in a third namespace. Nothing is connected to
// the machine's own network namespace, so no packet can leave the machine
// (or reach it). Names are per run: gsr<test binary's pid>-<n><role>.
// Interface names are per namespace, so they need no uniqueness.
type partitionNet struct {
	t      *testing.T
	bridge string // namespace holding the bridge br0 and the links va, vb
	sideA  string // namespace of side A, address hostA on eth0
	sideB  string // namespace of side B, address hostB on eth0
}

const (
	hostA = "10.77.0.1"
	hostB = "10.77.0.2"
)

// netnsPrefix starts the name of every namespace this process makes.
var netnsPrefix = fmt.Sprintf("gsr%d-", os.Getpid())

var netnsSeq atomic.Int64

// newPartitionNet makes the namespaces and links; t.Cleanup removes them
// (after the member processes, whose cleanup is registered later).
func newPartitionNet(t *testing.T) *partitionNet {
	t.Helper()
	require.Zero(t, os.Geteuid(), "the partition test makes network namespaces: run it as root")
	_, err := exec.LookPath("ip")
	require.NoError(t, err, "the partition test needs iproute2's ip")

	base := netnsPrefix + strconv.FormatInt(netnsSeq.Add(1), 10)
	n := &partitionNet{t: t, bridge: base + "br", sideA: base + "a", sideB: base + "b"}
	t.Cleanup(n.remove)
	for _, ns := range []string{n.bridge, n.sideA, n.sideB} {
		n.ip("netns", "add", ns)
		n.ip("-n", ns, "link", "set", "lo", "up")
	}
	n.ip("-n", n.bridge, "link", "add", "br0", "type", "bridge")
	n.ip("-n", n.bridge, "link", "set", "br0", "up")
	for _, side := range []struct{ link, ns, host string }{{"va", n.sideA, hostA}, {"vb", n.sideB, hostB}} {
		n.ip("-n", n.bridge, "link", "add", side.link, "type", "veth", "peer", "name", "eth0", "netns", side.ns)
		n.ip("-n", n.bridge, "link", "set", side.link, "master", "br0")
		n.ip("-n", n.bridge, "link", "set", side.link, "up")
		n.ip("-n", side.ns, "addr", "add", side.host+"/24", "dev", "eth0")
		n.ip("-n", side.ns, "link", "set", "eth0", "up")
	}
	return n
}

// cut takes side B's link to the bridge down: A and B no longer reach each
// other; each side still reaches itself.
func (n *partitionNet) cut() { n.ip("-n", n.bridge, "link", "set", "vb", "down") }

// heal brings side B's link up again.
func (n *partitionNet) heal() { n.ip("-n", n.bridge, "link", "set", "vb", "up") }

func (n *partitionNet) ip(args ...string) {
	n.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	require.NoError(n.t, err, "ip %s: %s", strings.Join(args, " "), out)
}

// remove deletes the namespaces (their links go with them).
func (n *partitionNet) remove() {
	for _, ns := range []string{n.sideA, n.sideB, n.bridge} {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
			n.t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	}
}

// removeStaleNamespaces deletes the namespaces that an earlier run of
// these tests left behind when it was killed before its cleanup: those
// named after a process that no longer exists.
func removeStaleNamespaces() {
	if os.Geteuid() != 0 {
		return
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "gsr") {
			continue
		}
		name := fields[0]
		pidText, _, ok := strings.Cut(strings.TrimPrefix(name, "gsr"), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue // not ours, or its process still runs
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}
