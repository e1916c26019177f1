package counternode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/ringactor"
)

// DefaultRing is the ring name when Config.Ring is empty.
const DefaultRing = "counter"

// DefaultCommandTimeout bounds a command when Config.CommandTimeout is zero.
const DefaultCommandTimeout = 5 * time.Second

// Config is the configuration of one member: what examples/cluster's flags
// set. A zero duration keeps ringactor's default (see ringactor.Config).
type Config struct {
	// Ring is the ring's name, the same on every member. Default
	// DefaultRing.
	Ring string
	// Listen is the host:port to listen on; port 0 takes a free port (the
	// ready line tells which). Default 127.0.0.1:0.
	Listen string
	// Advertise is the host:port the other members reach this one at,
	// when it differs from Listen (NAT, containers). Optional.
	Advertise string
	// DataDir is where the ring file (ring.pb) lives. Default
	// data/<ring>/<host>_<port> under the working directory, so that
	// members on one machine do not share a file. A member restarted with
	// the same address and DataDir reloads its ring.
	DataDir string
	// Peers are added to the ring when the member starts.
	Peers []string
	// Seeds are members the ring joins by itself, at start and later
	// until it has joined (ringactor.Config.Seeds): members may start in
	// any order. SeedDNS are DNS names with a port whose A and AAAA
	// records are members (ringactor.Config.SeedDNS): a Kubernetes
	// headless service.
	Seeds   []string
	SeedDNS []string

	// GossipInterval, ProbeInterval, ProbeTimeout, RejoinInterval and
	// InitTimeout set the ring's options of the same names.
	GossipInterval time.Duration
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	RejoinInterval time.Duration
	InitTimeout    time.Duration

	// CommandTimeout bounds each command's request to the ring. Default
	// DefaultCommandTimeout.
	CommandTimeout time.Duration

	// Logger receives the ring's log lines; the actor system gets its
	// warnings and errors only. Default: text on stderr, level Info.
	Logger *slog.Logger

	// KeyFile is a keyring file (ringactor.LoadKeyringFile): the ring
	// seals its messages and refuses unsealed ones. Optional.
	KeyFile string
	// KeyTransport puts the keyring of KeyFile on the transport instead
	// (ringactor.RemoteOptions.Keyring): members speak mutual TLS with
	// certificates made from the key, and seal nothing themselves.
	KeyTransport bool
	// TLS makes the member speak mutual TLS with the ring's CA. Optional.
	TLS *ringactor.TLSConfig
}

// Run runs one member: it starts an actor system and the ring, prints the
// ready line, then executes the commands it reads from in and prints their
// results and the ring's events on out (see the package documentation for
// the protocol). It returns nil after stop, at the end of in, or when ctx
// is done (a signal), each time after stopping the ring; it returns an
// error, after printing an error line, when the member cannot start.
func Run(ctx context.Context, cfg Config, in io.Reader, out io.Writer) error {
	cfg = withDefaults(cfg)
	w := newLineWriter(out)
	defer w.close()
	n, err := start(cfg, w)
	if err != nil {
		w.Println(KindError + " start: " + oneLine(err))
		return err
	}
	defer n.shutdown()

	lines := make(chan string)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(in)
		for scanner.Scan() {
			select {
			case lines <- scanner.Text():
			case <-ctx.Done():
				return
			}
		}
		if err := scanner.Err(); err != nil {
			n.log.Warn("cannot read commands", slog.Any("error", err))
		}
	}()
	for {
		select {
		case <-ctx.Done():
			n.log.Info("signalled; stopping")
			n.stopRing()
			return nil
		case line, ok := <-lines:
			if !ok {
				n.log.Info("end of input; stopping")
				n.stopRing()
				return nil
			}
			result, quit := n.execute(line)
			if result != "" {
				w.Println(result)
			}
			if quit {
				return nil
			}
		}
	}
}

func withDefaults(cfg Config) Config {
	if cfg.Ring == "" {
		cfg.Ring = DefaultRing
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return cfg
}

// node is a running member.
type node struct {
	cfg    Config
	log    *slog.Logger
	out    *lineWriter
	system *actor.ActorSystem
	remote *remote.Remote
	client *ringactor.Client
	// terminated is closed by the behaviour's Terminate.
	terminated     chan struct{}
	terminatedOnce sync.Once
	// held ends the current hold when closed; nil when none. Commands run
	// one at a time, so it needs no lock.
	held chan struct{}
}

// release ends the current hold, if any.
func (n *node) release() {
	if n.held != nil {
		close(n.held)
		n.held = nil
	}
}

func start(cfg Config, out *lineWriter) (*node, error) {
	host, portText, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: bad port", cfg.Listen)
	}
	var keyring *ringactor.Keyring
	if cfg.KeyFile != "" {
		if keyring, err = ringactor.LoadKeyringFile(cfg.KeyFile); err != nil {
			return nil, err
		}
	}
	remoteOptions := ringactor.RemoteOptions{Host: host, Port: port, AdvertisedHost: cfg.Advertise, Logger: slog.New(atLeastWarn{cfg.Logger.Handler()}), TLS: cfg.TLS}
	if cfg.KeyTransport {
		remoteOptions.Keyring = keyring
	}
	system, r, err := ringactor.StartActorSystem(remoteOptions)
	if err != nil {
		return nil, err
	}
	n := &node{cfg: cfg, out: out, system: system, remote: r, terminated: make(chan struct{})}
	address := system.Address()
	n.log = cfg.Logger.With(slog.String("node", address))
	if n.cfg.DataDir == "" {
		h, p, _ := net.SplitHostPort(address)
		n.cfg.DataDir = filepath.Join("data", cfg.Ring, h+"_"+p)
	}

	counter := &Counter{
		OnRingChange: func(c ringactor.RingChange) {
			out.Println(formatLine(KindEvent+" "+EventRingChange,
				"reason", string(c.Reason), "old", FormatNodes(c.Old), "new", FormatNodes(c.New)))
		},
		OnStateChange: func(value int64) {
			out.Println(formatLine(KindEvent+" "+EventStateChange, "value", strconv.FormatInt(value, 10)))
		},
		OnTerminate: func(reason error) {
			out.Println(formatLine(KindEvent+" "+EventTerminated, "reason", terminatedKind(reason), "detail", oneLine(reason)))
			n.terminatedOnce.Do(func() { close(n.terminated) })
		},
	}
	opts := []ringactor.Option{
		ringactor.WithDataDir(n.cfg.DataDir),
		ringactor.WithLogger(cfg.Logger),
		ringactor.WithRequestTimeout(cfg.CommandTimeout),
	}
	for _, d := range []struct {
		value  time.Duration
		option func(time.Duration) ringactor.Option
	}{
		{cfg.GossipInterval, ringactor.WithGossipInterval},
		{cfg.RejoinInterval, ringactor.WithRejoinInterval},
		{cfg.InitTimeout, ringactor.WithInitTimeout},
	} {
		if d.value > 0 {
			opts = append(opts, d.option(d.value))
		}
	}
	if cfg.ProbeInterval > 0 || cfg.ProbeTimeout > 0 {
		defaults := ringactor.DefaultConfig()
		interval, timeout := cfg.ProbeInterval, cfg.ProbeTimeout
		if interval <= 0 {
			interval = defaults.ProbeInterval
		}
		if timeout <= 0 {
			timeout = defaults.ProbeTimeout
		}
		opts = append(opts, ringactor.WithProbe(interval, timeout))
	}
	if len(cfg.Seeds) > 0 {
		opts = append(opts, ringactor.WithSeeds(cfg.Seeds...))
	}
	for _, name := range cfg.SeedDNS {
		host, port, err := net.SplitHostPort(name)
		number, convErr := strconv.Atoi(port)
		if err != nil || convErr != nil {
			n.closeSystem()
			return nil, fmt.Errorf("seed DNS name %q: want name:port", name)
		}
		opts = append(opts, ringactor.WithSeedDNS(host, number))
	}
	if keyring != nil {
		// On a transport that holds it, the ring seals nothing itself.
		opts = append(opts, ringactor.WithKeyring(keyring))
	}
	client, err := ringactor.Start[*crdt.PNCounter](system, cfg.Ring, counter, opts...)
	if err != nil {
		n.closeSystem()
		return nil, err
	}
	n.client = client
	for _, peer := range cfg.Peers {
		if err := client.AddNode(context.Background(), peer); err != nil {
			n.shutdown()
			return nil, fmt.Errorf("add peer %s: %w", peer, err)
		}
	}
	out.Println(formatLine(KindReady, "node", address, "ring", cfg.Ring,
		"pid", strconv.Itoa(os.Getpid()), "data", n.cfg.DataDir))
	n.log.Info("member ready", slog.String("ring", cfg.Ring), slog.String("data", n.cfg.DataDir))
	return n, nil
}

// terminatedKind classifies the reason Terminate got.
func terminatedKind(reason error) string {
	switch {
	case errors.Is(reason, ringactor.ErrRemoved):
		return TerminatedRemoved
	case errors.Is(reason, ringactor.ErrStopped):
		return TerminatedStopped
	default:
		return TerminatedError
	}
}

// commands lists the commands, for help.
var commands = []string{"inc", "dec", "get", "all", "up", "add", "del", "down", "undown", "stats", "refused", "hold", "release", "stop", "help"}

// execute runs one command line and returns its result line ("" for a
// blank or comment line) and whether the member must exit.
func (n *node) execute(line string) (result string, quit bool) {
	words := strings.Fields(line)
	if len(words) == 0 || strings.HasPrefix(words[0], "#") {
		return "", false
	}
	command, args := words[0], words[1:]
	fail := func(err error) string { return KindError + " " + oneLine(err) }
	usage := func(form string) string { return KindError + " usage: " + form }

	switch command {
	case "inc", "dec", "get":
		var msg any = Get{}
		if command != "get" {
			amount := uint64(1)
			if len(args) > 1 {
				return usage(command + " [N]"), false
			}
			if len(args) == 1 {
				v, err := strconv.ParseUint(args[0], 10, 64)
				if err != nil || v == 0 {
					return usage(command + " [N], N a positive integer"), false
				}
				amount = v
			}
			if command == "inc" {
				msg = Inc{N: amount}
			} else {
				msg = Dec{N: amount}
			}
		} else if len(args) != 0 {
			return usage("get"), false
		}
		reply, err := n.client.Call(context.Background(), msg) // bounded by the client's timeout, CommandTimeout
		if err != nil {
			return fail(err), false
		}
		value, ok := reply.(int64)
		if !ok {
			return fail(fmt.Errorf("unexpected reply %T", reply)), false
		}
		return formatLine(KindOK, "value", strconv.FormatInt(value, 10)), false

	case "all", "up":
		if len(args) != 0 {
			return usage(command), false
		}
		get := n.client.All
		if command == "up" {
			get = n.client.Up
		}
		nodes, err := get(context.Background())
		if err != nil {
			return fail(err), false
		}
		return formatLine(KindOK, "nodes", FormatNodes(nodes)), false

	case "add", "del", "down", "undown":
		if len(args) != 1 {
			return usage(command + " ADDR"), false
		}
		op := map[string]func(context.Context, string) error{
			"add": n.client.AddNode, "del": n.client.DelNode,
			"down": n.client.ForceDown, "undown": n.client.UnforceDown,
		}[command]
		if err := op(context.Background(), args[0]); err != nil {
			return fail(err), false
		}
		return KindOK, false

	case "stats":
		// For soak tests: a goroutine count that grows over hours is a leak.
		if len(args) != 0 {
			return usage("stats"), false
		}
		// heap is the live heap after a collection; guard counts what the
		// remote's receive guard refused. Neither asks the ring actor, so
		// they answer while it is busy.
		runtime.GC()
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		g := ringactor.RemoteGuardStats()
		guard := g.UnknownTypes + g.SystemMessages + g.Terminated + g.ForgedFrom + g.Unsealed + g.BadTargets + g.Busy
		return formatLine(KindOK, "goroutines", strconv.Itoa(runtime.NumGoroutine()),
			"heap", strconv.FormatUint(mem.HeapAlloc, 10), "guard", strconv.FormatUint(guard, 10)), false

	case "refused":
		// A count that moves with everything this member refused or
		// dropped from others, the receive guard's refusals included (some
		// refusals count twice: it is a signal, not a tally): the
		// hostile-peer tests check that each attempt shows here.
		if len(args) != 0 {
			return usage("refused"), false
		}
		stats, err := n.client.Stats(context.Background())
		if err != nil {
			return fail(err), false
		}
		g := ringactor.RemoteGuardStats()
		sec := stats.Security
		total := stats.Dropped + stats.DroppedBusy + stats.RefusedTooLarge + sec.RefusedRequests + sec.BadSeal + sec.Replayed + sec.ForgedFrom + sec.Unsealed +
			g.UnknownTypes + g.SystemMessages + g.Terminated + g.ForgedFrom + g.Unsealed + g.BadTargets
		return formatLine(KindOK, "value", strconv.FormatUint(total, 10)), false

	case "hold":
		if len(args) != 1 {
			return usage("hold DURATION"), false
		}
		d, err := time.ParseDuration(args[0])
		if err != nil || d <= 0 {
			return usage("hold DURATION, a positive duration"), false
		}
		n.release()
		n.held = make(chan struct{})
		if err := n.client.Cast(Hold{D: d, Release: n.held}); err != nil {
			return fail(err), false
		}
		return KindOK, false

	case "release":
		// Ends a hold before its time.
		n.release()
		return KindOK, false

	case "stop":
		if len(args) != 0 {
			return usage("stop"), false
		}
		n.stopRing()
		return KindOK, true

	case "help":
		return formatLine(KindOK, "commands", strings.Join(commands, ",")), false
	}
	return fmt.Sprintf("%s unknown command %q (try help)", KindError, command), false
}

// stopRing stops this member's ring, unless it stopped already, and waits
// for Terminate, so that its event line is out before the process ends.
func (n *node) stopRing() {
	select {
	case <-n.terminated:
		return
	default:
	}
	if err := n.client.LocalStop(context.Background()); err != nil {
		n.log.Warn("cannot stop the ring", slog.Any("error", err))
	}
	select {
	case <-n.terminated:
	case <-time.After(n.cfg.CommandTimeout):
		n.log.Warn("the ring did not stop in time")
	}
}

// shutdown stops the ring if it runs, then the remote and the actor system.
func (n *node) shutdown() {
	n.stopRing()
	n.closeSystem()
}

func (n *node) closeSystem() {
	// Not graceful: Proto.Actor's graceful stop can wait 10 s for gRPC
	// streams to end, and the process ends next anyway, which closes every
	// connection (the other members' watches fire on that).
	n.remote.Shutdown(false)
	n.system.Shutdown()
}

// atLeastWarn lets only warnings and errors through: Proto.Actor logs every
// connection at Info.
type atLeastWarn struct{ slog.Handler }

// Enabled lets only warnings and errors through.
func (h atLeastWarn) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn && h.Handler.Enabled(ctx, level)
}

// WithAttrs keeps the filter on the derived handler.
func (h atLeastWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return atLeastWarn{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the filter on the derived handler.
func (h atLeastWarn) WithGroup(name string) slog.Handler {
	return atLeastWarn{h.Handler.WithGroup(name)}
}
