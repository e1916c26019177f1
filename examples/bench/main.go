// Command bench measures a ring of N members on 127.0.0.1 beside
// hashicorp/memberlist in the same run, on the same N, loopback and
// machine, and prints the median and range of each figure over the
// repetitions with the configuration beside them:
//
//	go run ./examples/bench                      # N = 4, 16, 32; 3 repetitions
//	go run ./examples/bench -n 64 -reps 5
//	go run ./examples/bench -json > figures.jsonl
//
// Figures, for each system and N (a fresh cluster for each repetition):
//
//   - dissemination: one member changes the shared value; time until every
//     other member's HandleStateChange (memberlist: NotifyMsg) has it, and
//     that time in gossip intervals;
//   - join: a new member is added through one member; time until every
//     member lists it (ring: All and Up in HandleRingChange; memberlist:
//     NotifyJoin);
//   - crash: a member dies; time until the first and the last survivor's
//     HandleRingChange (memberlist: NotifyLeave) took it down;
//   - hang: a member stops answering and keeps its connections; the same;
//   - steady: bytes sent per member per second and CPU per member with
//     nothing changing: right after the cluster formed (idle), and at rest
//     (the ring: for each payload size (-payload), after the detection
//     figures; memberlist: after the join figure);
//   - update: bytes sent per member, and time, for one small change to the
//     largest payload, until every member has it;
//   - calls: Call and Cast through a ring actor beside a bare Proto.Actor
//     actor doing the same work, local and remote.
//
// All members run in this process, each with its own actor system and
// remote (memberlist: its own transport), so the figures of every system
// share the process, the scheduler and the garbage collector. The header
// of the output says how bytes are counted and how a crash and a hang are
// made.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/genserverring/genserverring-go/ringactor"
)

// config is the bench's configuration, from its flags.
type config struct {
	ns                          []int
	reps                        int
	payloads                    []int
	systems                     []string
	security                    []string // the ring's security settings; each but open is a system of its own
	gossip                      time.Duration
	probeInterval, probeTimeout time.Duration
	durability                  ringactor.Durability
	store                       string // storeFile or storeMemory
	pushFanout, pushHops        int
	dataDir                     string // the members' data directories live under it
	window                      time.Duration
	calls                       int
	maxHeap                     uint64
	deadline                    time.Duration
	json                        bool
	verbose                     bool
	cpuProfile                  string
}

// logger is the members' logger: silent unless -v, because crashes and
// hangs are what the bench does on purpose.
func (c config) logger() *slog.Logger {
	if !c.verbose {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Where ring members persist.
const (
	storeMemory = "memory"
	storeFile   = "file"
)

// The systems the bench knows.
const (
	systemRing         = "ring"
	systemMemberlist   = "memberlist"
	systemMemberlist1s = "memberlist-1s"
	systemProtoCluster = "protoactor-cluster"
	systemBare         = "bare actor" // the call figures' Proto.Actor actor
)

var knownSystems = []string{systemRing, systemMemberlist, systemMemberlist1s, systemProtoCluster}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	defaults := ringactor.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg config
	ns := fs.String("n", "4,16,32", "comma-separated ring sizes")
	payloads := fs.String("payload", "0,10240,1048576", "comma-separated payload sizes in bytes (encoded) for the steady-state cost; the largest also for the update cost")
	systems := fs.String("systems", strings.Join(knownSystems, ","), "comma-separated systems; the first is the one the ratios are of")
	security := fs.String("security", strings.Join(knownSecurity, ","), "comma-separated security settings of the ring: open, key (a ring key, each message sealed), keytls (the ring key on the transport: TLS made from the key), mtls (mutual TLS); each but open is measured as a system of its own (ring-key, ring-keytls, ring-mtls) beside the open ring, for dissemination, the steady cost and calls")
	fs.IntVar(&cfg.reps, "reps", 3, "repetitions of each figure (at least 3)")
	fs.DurationVar(&cfg.gossip, "gossip", defaults.GossipInterval, "the ring's gossip interval")
	fs.DurationVar(&cfg.probeInterval, "probe-interval", defaults.ProbeInterval, "the ring's probe interval")
	fs.DurationVar(&cfg.probeTimeout, "probe-timeout", defaults.ProbeTimeout, "the ring's probe timeout")
	durability := fs.String("durability", "disk", "the ring's durability: disk (the default: a change is on disk before its reply and its push) or none")
	fs.StringVar(&cfg.store, "store", storeMemory, "where ring members persist: memory (a persistence.MemoryStore each: the commit pipeline runs, no disk) or file (the default store in a data directory, which with -durability disk must keep the payload)")
	fs.IntVar(&cfg.pushFanout, "push-fanout", defaults.PushFanout, "the ring's eager push fanout (0: no eager push)")
	fs.IntVar(&cfg.pushHops, "push-hops", defaults.PushHops, "how many times the ring passes a pushed delta on")
	fs.DurationVar(&cfg.window, "window", 2*defaults.GossipInterval, "how long each steady-state cost is measured (default two of the ring's gossip intervals, so that every member's random round is counted as often as it happens)")
	fs.IntVar(&cfg.calls, "calls", 20000, "local calls (and casts) per call figure and repetition; a tenth of it remote")
	fs.DurationVar(&cfg.deadline, "deadline", 60*time.Second, "the longest any awaited condition may take before the bench fails")
	maxHeap := fs.Int("max-heap-mib", 4096, "stop the bench when the heap outgrows this many MiB (a cluster whose queues run away must not take the machine down)")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object per system, N and figure instead of the table")
	fs.BoolVar(&cfg.verbose, "v", false, "print the members' warnings to stderr")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.ns, err = parseInts(*ns, 3); err != nil {
		return cfg, fmt.Errorf("-n: %w (each N at least 3: a victim and two survivors)", err)
	}
	if cfg.payloads, err = parseInts(*payloads, 0); err != nil {
		return cfg, fmt.Errorf("-payload: %w", err)
	}
	slices.Sort(cfg.payloads)
	if *maxHeap < 64 {
		return cfg, fmt.Errorf("-max-heap-mib %d: need at least 64", *maxHeap)
	}
	cfg.maxHeap = uint64(*maxHeap) << 20
	if cfg.store != storeMemory && cfg.store != storeFile {
		return cfg, fmt.Errorf("-store %q: want memory or file", cfg.store)
	}
	switch *durability {
	case "disk":
		cfg.durability = ringactor.DurabilityDisk
	case "none":
		cfg.durability = ringactor.DurabilityNone
	default:
		return cfg, fmt.Errorf("-durability %q: want disk or none", *durability)
	}
	cfg.systems = strings.Split(*systems, ",")
	for _, s := range cfg.systems {
		if !slices.Contains(knownSystems, s) {
			return cfg, fmt.Errorf("-systems: unknown system %q (known: %s)", s, strings.Join(knownSystems, ", "))
		}
	}
	for _, setting := range strings.Split(*security, ",") {
		if !slices.Contains(knownSecurity, setting) {
			return cfg, fmt.Errorf("-security: unknown setting %q (known: %s)", setting, strings.Join(knownSecurity, ", "))
		}
		if setting != securityOpen && !slices.Contains(cfg.security, setting) {
			cfg.security = append(cfg.security, setting)
			// Measured right after the open ring (and the settings
			// before it), so that the ratio compares runs close in time.
			at := len(cfg.systems)
			if i := slices.Index(cfg.systems, systemRing); i >= 0 {
				at = i + len(cfg.security)
			}
			cfg.systems = slices.Insert(cfg.systems, at, securitySystem(setting))
		}
	}
	switch {
	case cfg.reps < 3:
		return cfg, fmt.Errorf("-reps %d: need at least 3 for a median and a range", cfg.reps)
	case cfg.gossip <= 0 || cfg.probeInterval <= 0 || cfg.probeTimeout <= 0 || cfg.window <= 0 || cfg.deadline <= 0:
		return cfg, fmt.Errorf("every duration must be positive")
	case cfg.calls < 10:
		return cfg, fmt.Errorf("-calls %d: need at least 10", cfg.calls)
	}
	return cfg, nil
}

// parseInts parses a comma-separated list of integers, each at least min.
func parseInts(s string, min int) ([]int, error) {
	var out []int
	for _, field := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", field)
		}
		if v < min {
			return nil, fmt.Errorf("%d is below %d", v, min)
		}
		out = append(out, v)
	}
	return out, nil
}

func run(cfg config, out io.Writer) (err error) {
	if cfg.dataDir, err = os.MkdirTemp("", "genserverring-bench-"); err != nil {
		return err
	}
	defer func() {
		if removeErr := os.RemoveAll(cfg.dataDir); err == nil {
			err = removeErr
		}
	}()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rs := newResults()
	if !cfg.json {
		printHeader(out, cfg)
	}
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	}
	start := time.Now()
	var failures []string
	stopWatch := watchHeap(cfg.maxHeap)
	defer stopWatch()
	for _, n := range cfg.ns {
		// Repetitions outermost, systems inside: background load that
		// comes and goes falls on every system alike.
		for rep := range cfg.reps {
			for _, system := range cfg.systems {
				progress("N=%d rep %d/%d %s (%v so far)", n, rep+1, cfg.reps, system, time.Since(start).Round(time.Second))
				var err error
				switch system {
				case systemRing:
					err = measureRing(cfg, rs, n, rep)
				case systemMemberlist:
					err = measureMemberlist(cfg, rs, system, 0, n, rep)
				case systemMemberlist1s:
					err = measureMemberlist(cfg, rs, system, time.Second, n, rep)
				case systemProtoCluster:
					err = measureProtoCluster(cfg, rs, n, rep)
				default:
					if setting, ok := securitySetting(system); ok {
						err = measureSecureRing(cfg, rs, setting, n, rep)
					}
				}
				if err != nil {
					// The other figures still count: report the failure
					// beside them and fail the run at the end.
					failure := fmt.Sprintf("%s, N=%d, repetition %d: %v", system, n, rep+1, err)
					failures = append(failures, failure)
					progress("FAILED: %s", failure)
				}
			}
		}
		if !cfg.json {
			rs.writeTable(out, cfg.systems, []int{n})
		}
	}
	for rep := range cfg.reps {
		progress("calls rep %d/%d", rep+1, cfg.reps)
		if err := measureCalls(cfg, rs); err != nil {
			return fmt.Errorf("calls, repetition %d: %w", rep+1, err)
		}
	}
	if cfg.json {
		if err := rs.writeJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "\nCalls: a ring of one member (a ring actor) and a bare Proto.Actor actor on one actor system (with -security key, a ring actor with a ring key beside them; keytls and mtls: a ring actor on a pair of systems of their own); remote: from a second actor system over loopback; the same Int64Value (calls) and StringValue (casts) for all; the targets take turns in %d slices of each figure; casts timed to the handling of the last\n", callRounds)
		callSystems := []string{systemRing, systemBare}
		for _, setting := range cfg.security {
			callSystems = append(callSystems, securitySystem(setting))
		}
		rs.writeTable(out, callSystems, []int{0})
		fmt.Fprintf(out, "\nran %v; load average at the end: %s\n", time.Since(start).Round(time.Second), loadAverage())
		for _, f := range failures {
			fmt.Fprintf(out, "FAILED: %s (the figures above leave that repetition's later figures out)\n", f)
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d repetitions failed; first: %s", len(failures), failures[0])
	}
	return nil
}

func printHeader(out io.Writer, cfg config) {
	fmt.Fprintf(out, "machine: %d CPUs (%s), %s/%s, %s; load average at the start: %s\n",
		runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version(), loadAverage())
	fmt.Fprintf(out, "N: %v, %d repetitions (a fresh cluster each); cells: median (min–max); ratios: the first system's median ÷ the other's\n", cfg.ns, cfg.reps)
	for _, s := range cfg.systems {
		switch s {
		case systemRing:
			fmt.Fprintf(out, "ring: in-process members, each its own actor system and remote on 127.0.0.1; gossip %v, push fanout %d, push hops %d, probe interval %v, probe timeout %v, durability %s, store %s; payload an ORSet[string]\n",
				cfg.gossip, cfg.pushFanout, cfg.pushHops, cfg.probeInterval, cfg.probeTimeout, durabilityName(cfg.durability), cfg.store)
		case systemMemberlist:
			fmt.Fprintln(out, "memberlist: hashicorp/memberlist v0.7.0, DefaultLANConfig (gossip 200ms, probe 1s, probe timeout 500ms, suspicion mult 4), a version number shared through a TransmitLimitedQueue (rebroadcast on news) and push-pull state")
		case systemMemberlist1s:
			fmt.Fprintln(out, "memberlist-1s: the same with GossipInterval 1s")
		case securitySystem(securityKey), securitySystem(securityKeyTLS), securitySystem(securityMTLS):
		case systemProtoCluster:
			fmt.Fprintf(out, "protoactor-cluster: Proto.Actor's cluster package (the version in go.mod), defaults (gossip %v, fanout 3), the in-process test provider and disthash, a remote with endpoint queues of 1024; an Int64 under one gossip key (Gossip.SetState), timed to each member's GossipUpdate event; dissemination and steady cost only\n", pcGossipInterval())
		}
	}
	if len(cfg.security) > 0 {
		fmt.Fprintln(out, securityHeader(cfg.security)+"; each measured with an empty payload right after the open ring, in the same repetition")
	}
	fmt.Fprintln(out, "bytes: what each member writes to its sockets, counted in its own connections (ring and protoactor-cluster: gRPC transport credentials that wrap every dialed and accepted connection; memberlist: a Transport wrapping NetTransport, UDP payloads plus TCP stream bytes); IP/TCP/UDP headers not counted")
	fmt.Fprintln(out, "crash: ring: every connection of the member closed at once, then its remote and actor system shut down; memberlist: Shutdown without Leave")
	fmt.Fprintln(out, "hang: ring: the ring actor blocked in a callback (the remote keeps its connections); memberlist: its transport drops all packets and holds incoming streams unread")
	fmt.Fprintf(out, "steady: over %v; idle: right after the cluster formed; at rest: ring, after the detection figures, once every member has the payload; memberlist, after the join figure (* beside a payload size); CPU: this process's user+system time ÷ N\n", cfg.window)
}

func durabilityName(d ringactor.Durability) string {
	if d == ringactor.DurabilityNone {
		return "none"
	}
	return "disk"
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "CPU model unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "CPU model unknown"
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}
