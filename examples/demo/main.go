// Command demo shows a ring at work in one command:
//
//	go run ./examples/demo
//
// It starts three ring members on 127.0.0.1, each a separate OS process
// (this program re-executed with GENSERVERRING_DEMO_MEMBER=1 in its
// environment: no build step), increments their shared PN-counter on
// different members and prints the values as they converge, kills one
// member with SIGKILL and shows the others see it go, restarts it on the
// same address from its data directory and shows it rejoin with nothing
// lost: in the end every member counts the total of all increments,
// including those made while it was down and after it came back.
//
// The members are driven through the line protocol of
// github.com/genserverring/genserverring-go/internal/counternode (the
// protocol of examples/cluster). Everything the demo makes (processes and
// a temporary directory) is removed before it exits: 0 when every step
// converged within its deadline, 1 with a message and the tail of each
// member's output otherwise.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/genserverring/genserverring-go/internal/counternode"
)

// memberEnv, set to 1, makes this program run one member instead of the demo.
const memberEnv = "GENSERVERRING_DEMO_MEMBER"

// Deadlines of the steps; generous, the steps take milliseconds.
const (
	readyTimeout   = 15 * time.Second
	commandTimeout = 10 * time.Second
	convergeWithin = 15 * time.Second
	pollEvery      = 25 * time.Millisecond
)

// memberFlags are the ring settings of every member: faster than the
// defaults so that the demo is quick.
var memberFlags = []string{
	"-gossip", "100ms",
	"-probe-interval", "300ms", "-probe-timeout", "1s",
	"-rejoin", "200ms",
	"-log-level", "warn",
}

func main() {
	if os.Getenv(memberEnv) == "1" {
		os.Exit(counternode.Main("demo-member", os.Args[1:]))
	}
	os.Exit(run())
}

func run() int {
	started := time.Now()
	dir, err := os.MkdirTemp("", "genserverring-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		_ = os.RemoveAll(dir)
		return 1
	}
	d := &demo{exe: exe, dir: dir, names: map[string]string{}}

	// Ctrl-C or SIGTERM: remove what was made, then exit.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "\ndemo: %v: cleaning up\n", sig)
		d.cleanup()
		os.Exit(1)
	}()

	err = d.run()
	if err != nil {
		fmt.Printf("\nDEMO FAILED: %v\n\nLast lines of each member's output:\n", err)
		for _, p := range d.all() {
			printTail(p)
		}
	}
	fmt.Printf("\nStopping the members and removing %s\n", dir)
	d.cleanup()
	if err != nil {
		return 1
	}
	fmt.Printf("Done in %.1f s.\n", time.Since(started).Seconds())
	return 0
}

// demo holds the member processes.
type demo struct {
	exe   string
	dir   string
	mu    sync.Mutex
	procs []*counternode.Process // every process started, live or not
	names map[string]string      // node address -> member name
}

func (d *demo) run() error {
	fmt.Println("GenServerring demo: three ring members share a PN-counter by gossip.")
	fmt.Printf("Each member is an OS process (this program, re-executed); data under %s\n", d.dir)

	step(1, "Starting three members on 127.0.0.1")
	var members []*counternode.Process
	for _, name := range []string{"alpha", "bravo", "charlie"} {
		p, err := d.start(name, "127.0.0.1:0")
		if err != nil {
			return err
		}
		members = append(members, p)
		fmt.Printf("   %-7s ready at %s (pid %d)\n", name, p.Node, p.PID)
	}
	alpha, bravo, charlie := members[0], members[1], members[2]
	// A member reports the changes of its first moments (InitTimeout) in
	// one init notice; wait for it, so that every change after it is an
	// event of its own.
	for _, p := range members {
		if err := waitInit(p, 0); err != nil {
			return err
		}
	}

	step(2, "Forming the ring: alpha adds bravo and charlie")
	for _, p := range []*counternode.Process{bravo, charlie} {
		if err := alpha.Exec("add "+p.Node, commandTimeout); err != nil {
			return err
		}
	}
	if err := d.waitUp(members, members); err != nil {
		return err
	}

	total := int64(0)
	step(3, "Incrementing on different members: alpha +1, bravo +2, charlie +3")
	for i, p := range members {
		if err := p.Exec(fmt.Sprintf("inc %d", i+1), commandTimeout); err != nil {
			return err
		}
		total += int64(i + 1)
	}
	if err := d.converge(members, total); err != nil {
		return err
	}

	step(4, fmt.Sprintf("Killing charlie with SIGKILL (pid %d)", charlie.PID))
	marks := []int{alpha.EventCount(), bravo.EventCount()}
	killed := time.Now()
	charlie.Kill()
	for i, p := range []*counternode.Process{alpha, bravo} {
		e, err := p.WaitEvent(marks[i], convergeWithin, func(e counternode.Event) bool {
			return e.Event == counternode.EventRingChange && e.Fields["reason"] == "nodedown" &&
				!slices.Contains(e.Nodes("new"), charlie.Node)
		})
		if err != nil {
			return fmt.Errorf("%s did not see charlie go down: %w", p.Name, err)
		}
		fmt.Printf("   %-7s ring-change reason=nodedown, up is now %s  (%s after the kill)\n",
			p.Name, d.list(e.Nodes("new")), ms(e.At.Sub(killed)))
	}

	step(5, "Incrementing while charlie is down: alpha +10")
	if err := alpha.Exec("inc 10", commandTimeout); err != nil {
		return err
	}
	total += 10
	if err := d.converge([]*counternode.Process{alpha, bravo}, total); err != nil {
		return err
	}

	step(6, fmt.Sprintf("Restarting charlie on the same address %s, from its data directory", charlie.Node))
	marks = []int{alpha.EventCount(), bravo.EventCount()}
	restarted := time.Now()
	charlie, err := d.start("charlie", charlie.Node)
	if err != nil {
		return err
	}
	members[2] = charlie
	all, err := charlie.Nodes("all", commandTimeout)
	if err != nil {
		return err
	}
	fmt.Printf("   charlie ready again (pid %d); from its ring file it knows the members %s\n", charlie.PID, d.list(all))
	for i, p := range []*counternode.Process{alpha, bravo} {
		e, err := p.WaitEvent(marks[i], convergeWithin, func(e counternode.Event) bool {
			return e.Event == counternode.EventRingChange && slices.Contains(e.Nodes("new"), charlie.Node)
		})
		if err != nil {
			return fmt.Errorf("%s did not see charlie come back: %w", p.Name, err)
		}
		fmt.Printf("   %-7s ring-change reason=%s, up is now %s  (%s after the restart)\n",
			p.Name, e.Fields["reason"], d.list(e.Nodes("new")), ms(e.At.Sub(restarted)))
	}
	fmt.Println("   charlie reloads its own +3 from its disk (every acknowledged increment was")
	fmt.Println("   synced before its reply) and gets the others' increments back from its peers:")
	if err := d.converge(members, total); err != nil {
		return err
	}

	step(7, "Incrementing after the restart: charlie +4, bravo +5")
	for _, inc := range []struct {
		p *counternode.Process
		n int64
	}{{charlie, 4}, {bravo, 5}} {
		if err := inc.p.Exec(fmt.Sprintf("inc %d", inc.n), commandTimeout); err != nil {
			return err
		}
		total += inc.n
	}
	if err := d.converge(members, total); err != nil {
		return err
	}
	if err := d.waitUp(members, members); err != nil {
		return err
	}
	fmt.Printf("\nNothing lost: every member counts %d = 1+2+3 (before the crash) + 10 (while charlie\n", total)
	fmt.Println("was down) + 4+5 (after it came back).")
	return nil
}

// start starts member name listening on listen, with its data directory
// under the demo's.
func (d *demo) start(name, listen string) (*counternode.Process, error) {
	args := append([]string{"-listen", listen, "-data", d.dir + "/" + name}, memberFlags...)
	cmd := exec.Command(d.exe, args...)
	cmd.Env = append(os.Environ(), memberEnv+"=1")
	setProcAttr(cmd)
	p, err := counternode.StartProcess(name, cmd, readyTimeout)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.procs = append(d.procs, p)
	d.names[p.Node] = name
	d.mu.Unlock()
	return p, nil
}

// waitInit waits for p's init ring change, from its from-th event on.
func waitInit(p *counternode.Process, from int) error {
	_, err := p.WaitEvent(from, convergeWithin, func(e counternode.Event) bool {
		return e.Event == counternode.EventRingChange && e.Fields["reason"] == "init"
	})
	if err != nil {
		return fmt.Errorf("%s reported no init ring change: %w", p.Name, err)
	}
	return nil
}

// converge polls every member's value until all equal want, printing the
// values each time they change.
func (d *demo) converge(members []*counternode.Process, want int64) error {
	start := time.Now()
	last := ""
	for {
		values := make([]string, len(members))
		done := true
		for i, p := range members {
			v, err := p.Value("get", commandTimeout)
			if err != nil {
				return err
			}
			values[i] = fmt.Sprintf("%s=%d", p.Name, v)
			done = done && v == want
		}
		line := strings.Join(values, "  ")
		if line != last {
			suffix := ""
			if done {
				suffix = fmt.Sprintf("   converged to %d in %s", want, ms(time.Since(start)))
			}
			fmt.Printf("   values  %s%s\n", line, suffix)
			last = line
		}
		if done {
			return nil
		}
		if time.Since(start) > convergeWithin {
			return fmt.Errorf("the counter did not converge to %d within %v (last: %s)", want, convergeWithin, line)
		}
		time.Sleep(pollEvery)
	}
}

// waitUp waits until every member of members sees exactly want up.
func (d *demo) waitUp(members, want []*counternode.Process) error {
	var wantNodes []string
	for _, p := range want {
		wantNodes = append(wantNodes, p.Node)
	}
	slices.Sort(wantNodes)
	start := time.Now()
	for _, p := range members {
		for {
			up, err := p.Nodes("up", commandTimeout)
			if err != nil {
				return err
			}
			if slices.Equal(up, wantNodes) {
				fmt.Printf("   %-7s sees up: %s  (%s)\n", p.Name, d.list(up), ms(time.Since(start)))
				break
			}
			if time.Since(start) > convergeWithin {
				return fmt.Errorf("%s sees up %s, not %s, after %v", p.Name, d.list(up), d.list(wantNodes), convergeWithin)
			}
			time.Sleep(pollEvery)
		}
	}
	return nil
}

// list names the nodes: "alpha,bravo".
func (d *demo) list(nodes []string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	named := make([]string, len(nodes))
	for i, n := range nodes {
		if name, ok := d.names[n]; ok {
			named[i] = name
		} else {
			named[i] = n
		}
	}
	slices.Sort(named)
	return "[" + strings.Join(named, " ") + "]"
}

func (d *demo) all() []*counternode.Process {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.procs)
}

// cleanup stops every live member (kills those that do not stop) and
// removes the data directory.
func (d *demo) cleanup() {
	var wg sync.WaitGroup
	for _, p := range d.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Stop(5 * time.Second); err != nil && !errors.Is(err, counternode.ErrExited) {
				var exitErr *exec.ExitError
				if !errors.As(err, &exitErr) { // a killed member's exit status is expected
					fmt.Fprintf(os.Stderr, "demo: stopping %s: %v\n", p.Name, err)
				}
			}
		}()
	}
	wg.Wait()
	if err := os.RemoveAll(d.dir); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
	}
}

// printTail prints the last lines of a member's stdout and stderr.
func printTail(p *counternode.Process) {
	var out, logs []counternode.LogLine
	for _, l := range p.Lines() {
		if l.Stderr {
			logs = append(logs, l)
		} else {
			out = append(out, l)
		}
	}
	for _, part := range []struct {
		stream string
		lines  []counternode.LogLine
		n      int
	}{{"out", out, 12}, {"err", logs, 6}} {
		for _, l := range part.lines[max(0, len(part.lines)-part.n):] {
			fmt.Printf("  %s %s %s| %s\n", l.At.Format("15:04:05.000"), p.Name, part.stream, l.Text)
		}
	}
}

func step(n int, what string) { fmt.Printf("\n%d. %s\n", n, what) }

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
