package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// chaosNet gives each member of the chaos test its own network namespace
// with one veth link (eth0, 10.78.0.<i+1>) to a bridge that lives in a
// namespace of its own, so that faults can hit one member's link: packet
// loss (tc netem on both ends of the link) and a partition, which moves
// the links of one side to a second bridge (each side still reaches
// itself; nothing crosses). Nothing is connected to the machine's own
// network namespace. The names follow netns_test.go's scheme, so that
// removeStaleNamespaces clears what a killed run left behind.
type chaosNet struct {
	t       *testing.T
	bridge  string   // namespace of the bridges br0 (everyone) and br1 (the cut side)
	members []string // namespace of member i, linked by v<i> in bridge

	// netem is whether the kernel has the netem qdisc (sch_netem); some
	// (minimal VM kernels) do not, and loss then throttles the link
	// instead with tbf, which drops what overflows its small queue.
	netem bool

	mu    sync.Mutex
	lossy map[int]bool // members whose link has a loss qdisc
	cut   []int        // members on br1
}

// chaosHost is member i's address.
func chaosHost(i int) string { return "10.78.0." + strconv.Itoa(i+1) }

// newChaosNet makes the namespaces and links of n members; t.Cleanup
// removes the qdiscs and the namespaces (after the member processes, whose
// cleanup is registered later and so runs first).
func newChaosNet(t *testing.T, n int) *chaosNet {
	t.Helper()
	require.Zero(t, os.Geteuid(), "the chaos test makes network namespaces: run it as root")
	for _, tool := range []string{"ip", "tc"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "the chaos test needs iproute2's %s", tool)
	}
	base := netnsPrefix + strconv.FormatInt(netnsSeq.Add(1), 10)
	c := &chaosNet{t: t, bridge: base + "br", lossy: map[int]bool{}}
	t.Cleanup(c.remove)
	c.must("ip", "netns", "add", c.bridge)
	c.must("ip", "-n", c.bridge, "link", "set", "lo", "up")
	for _, br := range []string{"br0", "br1"} {
		c.must("ip", "-n", c.bridge, "link", "add", br, "type", "bridge")
		c.must("ip", "-n", c.bridge, "link", "set", br, "up")
	}
	for i := range n {
		ns := base + "m" + strconv.Itoa(i)
		c.members = append(c.members, ns)
		link := "v" + strconv.Itoa(i)
		c.must("ip", "netns", "add", ns)
		c.must("ip", "-n", ns, "link", "set", "lo", "up")
		c.must("ip", "-n", c.bridge, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
		c.must("ip", "-n", c.bridge, "link", "set", link, "master", "br0")
		c.must("ip", "-n", c.bridge, "link", "set", link, "up")
		c.must("ip", "-n", ns, "addr", "add", chaosHost(i)+"/24", "dev", "eth0")
		c.must("ip", "-n", ns, "link", "set", "eth0", "up")
	}
	c.netem = run("tc", "-n", c.bridge, "qdisc", "add", "dev", "v0", "root", "netem", "loss", "1%") == nil
	if c.netem {
		c.must("tc", "-n", c.bridge, "qdisc", "del", "dev", "v0", "root")
	} else {
		t.Log("this kernel has no netem qdisc: packet loss faults throttle the link with tbf instead (drops what overflows)")
	}
	return c
}

// partition cuts the members of side off from the others.
func (c *chaosNet) partition(side []int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cut) != 0 {
		return fmt.Errorf("a partition is in place already: %v", c.cut)
	}
	c.cut = side
	for _, i := range side {
		if err := run("ip", "-n", c.bridge, "link", "set", "v"+strconv.Itoa(i), "master", "br1"); err != nil {
			return err
		}
	}
	return nil
}

// heal undoes partition.
func (c *chaosNet) heal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for _, i := range c.cut {
		if err := run("ip", "-n", c.bridge, "link", "set", "v"+strconv.Itoa(i), "master", "br0"); err != nil && first == nil {
			first = err
		}
	}
	c.cut = nil
	return first
}

// loss drops percent % of the packets each way on member i's link (with
// netem; without it, throttles the link harder the higher percent is).
func (c *chaosNet) loss(i, percent int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lossy[i] {
		return fmt.Errorf("member %d's link is lossy already", i)
	}
	c.lossy[i] = true
	qdisc := []string{"netem", "loss", strconv.Itoa(percent) + "%"}
	if !c.netem {
		// About 100 full packets a second, a queue of two: bursts of
		// gossip and calls overflow it, and the excess is dropped.
		qdisc = []string{"tbf", "rate", strconv.Itoa(1200-10*percent) + "kbit", "burst", "1600", "limit", "3200"}
	}
	if err := run(append([]string{"tc", "-n", c.bridge, "qdisc", "add", "dev", "v" + strconv.Itoa(i), "root"}, qdisc...)...); err != nil {
		return err
	}
	return run(append([]string{"tc", "-n", c.members[i], "qdisc", "add", "dev", "eth0", "root"}, qdisc...)...)
}

// unloss removes loss's qdiscs.
func (c *chaosNet) unloss(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unlossLocked(i)
}

func (c *chaosNet) unlossLocked(i int) error {
	delete(c.lossy, i)
	err1 := runQuiet("tc", "-n", c.bridge, "qdisc", "del", "dev", "v"+strconv.Itoa(i), "root")
	err2 := runQuiet("tc", "-n", c.members[i], "qdisc", "del", "dev", "eth0", "root")
	if err1 != nil {
		return err1
	}
	return err2
}

// remove deletes the qdiscs left and the namespaces (their links go with
// them).
func (c *chaosNet) remove() {
	c.mu.Lock()
	for i := range c.lossy {
		if err := c.unlossLocked(i); err != nil {
			c.t.Errorf("removing the loss on member %d: %v", i, err)
		}
	}
	c.mu.Unlock()
	for _, ns := range append(c.members, c.bridge) {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
			c.t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	}
}

func (c *chaosNet) must(args ...string) {
	c.t.Helper()
	require.NoError(c.t, run(args...))
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runQuiet is run, where a missing qdisc (removed with its namespace, or
// never added) is no error.
func runQuiet(args ...string) error {
	err := run(args...)
	if err != nil && (strings.Contains(err.Error(), "No such file") || strings.Contains(err.Error(), "Cannot delete qdisc with handle of zero") || strings.Contains(err.Error(), "Cannot find device")) {
		return nil
	}
	return err
}
