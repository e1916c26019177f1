// Command measure starts a ring of member processes on 127.0.0.1 and
// measures, over several trials, how long the ring takes to see what
// happens to it, with the library's default settings unless flags say
// otherwise:
//
//   - update: an increment on one member until every other member's
//     counter shows it (gossip propagation);
//   - crash: a member killed with SIGKILL until every survivor has it out
//     of its up set (remote watch);
//   - restart: the killed member started again on the same address and
//     data directory until every member has it up again;
//   - hang: a member stopped with SIGSTOP until every other member has it
//     out of its up set (probes);
//   - resume: SIGCONT until every member has it up again (rejoin).
//
// It prints the configuration and, for each measure, the minimum, median
// and maximum over the trials of the time the slowest member took:
//
//	go run ./examples/measure -members 5 -trials 5
//
// Each member is this program re-executed with GENSERVERRING_MEASURE_MEMBER=1
// (a member of internal/counternode's line protocol); every process and the
// temporary directory are removed before it exits.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/genserverring/genserverring-go/internal/counternode"
	"github.com/genserverring/genserverring-go/ringactor"
)

const memberEnv = "GENSERVERRING_MEASURE_MEMBER"

// deadline bounds every wait: far above what any step takes.
const deadline = 60 * time.Second

type settings struct {
	members                             int
	trials                              int
	gossip, probeInterval, probeTimeout time.Duration
	rejoin                              time.Duration
}

func main() {
	if os.Getenv(memberEnv) == "1" {
		os.Exit(counternode.Main("measure-member", os.Args[1:]))
	}
	defaults := ringactor.DefaultConfig()
	var s settings
	flag.IntVar(&s.members, "members", 5, "ring members (at least 3)")
	flag.IntVar(&s.trials, "trials", 5, "trials of each measure")
	flag.DurationVar(&s.gossip, "gossip", defaults.GossipInterval, "gossip interval")
	flag.DurationVar(&s.probeInterval, "probe-interval", defaults.ProbeInterval, "probe interval")
	flag.DurationVar(&s.probeTimeout, "probe-timeout", defaults.ProbeTimeout, "probe timeout")
	flag.DurationVar(&s.rejoin, "rejoin", defaults.RejoinInterval, "rejoin interval")
	flag.Parse()
	if s.members < 3 || s.trials < 1 {
		fmt.Fprintln(os.Stderr, "measure: need -members >= 3 and -trials >= 1")
		os.Exit(2)
	}
	if err := run(s); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

// ring is the cluster under measure.
type ring struct {
	s       settings
	exe     string
	dir     string
	members []*counternode.Process
	addrs   []string
}

func run(s settings) (err error) {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "genserverring-measure-")
	if err != nil {
		return err
	}
	r := &ring{s: s, exe: exe, dir: dir}
	defer func() {
		for _, m := range r.members {
			if m != nil {
				_ = m.Signal(syscall.SIGCONT)
				m.Kill()
			}
		}
		if removeErr := os.RemoveAll(dir); err == nil {
			err = removeErr
		}
	}()

	fmt.Printf("ring of %d member processes on 127.0.0.1, %d trials\n", s.members, s.trials)
	fmt.Printf("gossip %v, probe interval %v, probe timeout %v, rejoin %v\n\n", s.gossip, s.probeInterval, s.probeTimeout, s.rejoin)
	if err := r.start(); err != nil {
		return err
	}
	results := map[string][]time.Duration{}
	order := []string{"update", "crash", "restart", "hang", "resume"}
	for trial := range s.trials {
		victim := 1 + trial%(s.members-1) // never the member that writes
		measures, err := r.trial(trial, victim)
		if err != nil {
			return fmt.Errorf("trial %d: %w", trial+1, err)
		}
		for _, name := range order {
			results[name] = append(results[name], measures[name])
		}
		fmt.Printf("trial %d: %s\n", trial+1, formatTrial(order, measures))
	}
	fmt.Printf("\n%-8s %10s %10s %10s   (time until the slowest member saw it)\n", "measure", "min", "median", "max")
	for _, name := range order {
		d := results[name]
		slices.Sort(d)
		fmt.Printf("%-8s %10s %10s %10s\n", name, round(d[0]), round(d[len(d)/2]), round(d[len(d)-1]))
	}
	return nil
}

func formatTrial(order []string, measures map[string]time.Duration) string {
	var parts []string
	for _, name := range order {
		parts = append(parts, fmt.Sprintf("%s %s", name, round(measures[name])))
	}
	return strings.Join(parts, ", ")
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func (r *ring) start() error {
	for i := range r.s.members {
		addr, err := freeAddress()
		if err != nil {
			return err
		}
		r.addrs = append(r.addrs, addr)
		r.members = append(r.members, nil)
		if err := r.startMember(i); err != nil {
			return err
		}
	}
	for _, addr := range r.addrs[1:] {
		if err := r.members[0].Exec("add "+addr, deadline); err != nil {
			return err
		}
	}
	return r.waitAllUp()
}

func (r *ring) startMember(i int) error {
	cmd := exec.Command(r.exe,
		"-listen", r.addrs[i], "-data", fmt.Sprintf("%s/member-%d", r.dir, i),
		"-gossip", r.s.gossip.String(),
		"-probe-interval", r.s.probeInterval.String(), "-probe-timeout", r.s.probeTimeout.String(),
		"-rejoin", r.s.rejoin.String(), "-log-level", "error")
	cmd.Env = append(os.Environ(), memberEnv+"=1")
	p, err := counternode.StartProcess(fmt.Sprintf("member-%d", i), cmd, deadline)
	if err != nil {
		return err
	}
	r.members[i] = p
	return nil
}

// trial runs the five measures once, with victim as the member that is
// killed, restarted, stopped and resumed.
func (r *ring) trial(trial, victim int) (map[string]time.Duration, error) {
	measures := map[string]time.Duration{}
	others := func(except int) []int {
		var idx []int
		for i := range r.members {
			if i != except {
				idx = append(idx, i)
			}
		}
		return idx
	}

	// update
	start := time.Now()
	value, err := r.members[0].Value("inc", deadline)
	if err != nil {
		return nil, err
	}
	if err := r.waitEach(others(0), func(i int) (bool, error) {
		v, err := r.members[i].Value("get", deadline)
		return v >= value, err
	}); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	measures["update"] = time.Since(start)

	// crash, then restart
	marks := r.marks()
	start = time.Now()
	r.members[victim].Kill()
	if err := r.waitDownEvents(others(victim), marks, start, victim, &measures, "crash"); err != nil {
		return nil, err
	}
	start = time.Now()
	if err := r.startMember(victim); err != nil {
		return nil, err
	}
	if err := r.waitAllUp(); err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	measures["restart"] = time.Since(start)

	// hang, then resume
	marks = r.marks()
	start = time.Now()
	if err := r.members[victim].Signal(syscall.SIGSTOP); err != nil {
		return nil, err
	}
	if err := r.waitDownEvents(others(victim), marks, start, victim, &measures, "hang"); err != nil {
		return nil, err
	}
	start = time.Now()
	if err := r.members[victim].Signal(syscall.SIGCONT); err != nil {
		return nil, err
	}
	if err := r.waitAllUp(); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	measures["resume"] = time.Since(start)
	return measures, nil
}

func (r *ring) marks() []int {
	marks := make([]int, len(r.members))
	for i, m := range r.members {
		marks[i] = m.EventCount()
	}
	return marks
}

// waitDownEvents waits for each member of idx to print the ring change that
// takes victim out of its up set, and records the latest one's delay.
func (r *ring) waitDownEvents(idx, marks []int, start time.Time, victim int, measures *map[string]time.Duration, name string) error {
	var slowest time.Duration
	for _, i := range idx {
		ev, err := r.members[i].WaitEvent(marks[i], deadline, func(e counternode.Event) bool {
			return e.Event == counternode.EventRingChange &&
				slices.Contains(splitNodes(e.Fields["old"]), r.addrs[victim]) &&
				!slices.Contains(splitNodes(e.Fields["new"]), r.addrs[victim])
		})
		if err != nil {
			return fmt.Errorf("%s: member-%d: %w", name, i, err)
		}
		slowest = max(slowest, ev.At.Sub(start))
	}
	(*measures)[name] = slowest
	return nil
}

// waitAllUp polls until every member has finished its start and has every
// member up. A member that has not printed its init ring change yet (it
// waits up to the init timeout for its persisted members to answer) would
// report a member that dies now in that notice, not as a ring change that
// takes the member down, and the next measure would wait for it in vain.
func (r *ring) waitAllUp() error {
	want := slices.Clone(r.addrs)
	slices.Sort(want)
	isInit := func(e counternode.Event) bool {
		return e.Event == counternode.EventRingChange && e.Fields["reason"] == string(ringactor.ReasonInit)
	}
	return r.waitEach(indexes(len(r.members)), func(i int) (bool, error) {
		if !slices.ContainsFunc(r.members[i].Events(), isInit) {
			return false, nil
		}
		up, err := r.members[i].Nodes("up", deadline)
		return slices.Equal(up, want), err
	})
}

// waitEach polls cond for each member of idx until it holds for all.
func (r *ring) waitEach(idx []int, cond func(i int) (bool, error)) error {
	end := time.Now().Add(deadline)
	pending := slices.Clone(idx)
	for len(pending) > 0 {
		var still []int
		for _, i := range pending {
			ok, err := cond(i)
			if err != nil {
				return err
			}
			if !ok {
				still = append(still, i)
			}
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(end) {
			return errors.New("not reached within the deadline")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

func splitNodes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func indexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
