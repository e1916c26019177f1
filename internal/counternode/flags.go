package counternode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/genserverring/genserverring-go/ringactor"
)

// ParseFlags reads a member's configuration from command-line arguments
// (without the program name); it prints what is wrong with them on stderr.
// The configuration's logger writes to stderr at the level of -log-level.
// Run the cluster program with -h for the list.
func ParseFlags(name string, args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [flags]\n\n", name)
		fmt.Fprintf(stderr, "A ring member with a shared PN-counter, driven by commands on stdin\n")
		fmt.Fprintf(stderr, "(inc [N], dec [N], get, all, up, add ADDR, del ADDR, down ADDR,\n")
		fmt.Fprintf(stderr, "undown ADDR, stats, stop, help); see go doc ./internal/counternode.\n\nflags:\n")
		fs.PrintDefaults()
	}
	var cfg Config
	var peers, seeds, seedDNS, level string
	var tlsConfig ringactor.TLSConfig
	defaults := ringactor.DefaultConfig()
	fs.StringVar(&cfg.Ring, "ring", DefaultRing, "ring name, the same on every member")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "host:port to listen on (port 0: a free port, printed on the ready line)")
	fs.StringVar(&cfg.Advertise, "advertise", "", "host:port the other members reach this one at, if not the listen address")
	fs.StringVar(&cfg.DataDir, "data", "", "directory of the ring file ring.pb (default data/<ring>/<host>_<port>)")
	fs.StringVar(&peers, "peers", "", "comma-separated host:port of members to add at start")
	fs.StringVar(&seeds, "seeds", "", "comma-separated host:port of members to join, at start and later until joined (members may start in any order)")
	fs.StringVar(&seedDNS, "seed-dns", "", "comma-separated name:port whose A/AAAA records are members to join, looked up until joined (a Kubernetes headless service)")
	fs.DurationVar(&cfg.GossipInterval, "gossip", defaults.GossipInterval, "anti-entropy interval: a digest to a random member")
	fs.DurationVar(&cfg.ProbeInterval, "probe-interval", defaults.ProbeInterval, "probe interval")
	fs.DurationVar(&cfg.ProbeTimeout, "probe-timeout", defaults.ProbeTimeout, "probe timeout: a member that does not answer for this long is down")
	fs.DurationVar(&cfg.RejoinInterval, "rejoin", defaults.RejoinInterval, "how often to gossip to a member that is down, so it can come back")
	fs.DurationVar(&cfg.InitTimeout, "init-timeout", 500*time.Millisecond, "how long a restarted member waits for its persisted ring to answer")
	fs.DurationVar(&cfg.CommandTimeout, "command-timeout", DefaultCommandTimeout, "bound on each command's request to the ring")
	fs.StringVar(&level, "log-level", "info", "log level on stderr: debug, info, warn or error")
	fs.StringVar(&cfg.KeyFile, "key-file", "", "ring keyring file: base64 keys, one a line, the primary first (make one with go run ./examples/certs -key)")
	fs.BoolVar(&cfg.KeyTransport, "key-transport", false, "with -key-file: members speak mutual TLS with certificates made from the ring key, instead of sealing each message (faster)")
	fs.StringVar(&tlsConfig.CAFile, "tls-ca", "", "PEM file of the ring's CA: with -tls-cert and -tls-key, members speak mutual TLS (go run ./examples/certs)")
	fs.StringVar(&tlsConfig.CertFile, "tls-cert", "", "PEM file of this member's certificate, naming its address")
	fs.StringVar(&tlsConfig.KeyFile, "tls-key", "", "PEM file of this member's private key")
	if err := fs.Parse(args); err != nil {
		return Config{}, err // fs printed it, with the usage
	}
	fail := func(err error) (Config, error) {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return Config{}, err
	}
	if fs.NArg() != 0 {
		return fail(fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	switch set := tlsConfig.CAFile != "" || tlsConfig.CertFile != "" || tlsConfig.KeyFile != ""; {
	case set && (tlsConfig.CAFile == "" || tlsConfig.CertFile == "" || tlsConfig.KeyFile == ""):
		return fail(errors.New("-tls-ca, -tls-cert and -tls-key go together"))
	case set:
		cfg.TLS = &tlsConfig
	}
	switch {
	case cfg.KeyTransport && cfg.KeyFile == "":
		return fail(errors.New("-key-transport needs -key-file"))
	case cfg.KeyTransport && cfg.TLS != nil:
		return fail(errors.New("-key-transport and -tls-* exclude each other: the transport speaks TLS with the key's certificates or with the CA's"))
	}
	cfg.Peers, cfg.Seeds, cfg.SeedDNS = splitList(peers), splitList(seeds), splitList(seedDNS)
	for _, name := range cfg.SeedDNS {
		if _, port, err := net.SplitHostPort(name); err != nil || !isPort(port) {
			return fail(fmt.Errorf("-seed-dns: %q is not name:port", name))
		}
	}
	var logLevel slog.Level
	if err := logLevel.UnmarshalText([]byte(level)); err != nil {
		return fail(fmt.Errorf("-log-level: %w", err))
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))
	return cfg, nil
}

// Main is a member program: it parses args (without the program name),
// runs the member on stdin and stdout until stop, the end of stdin, SIGTERM
// or SIGINT, and returns the exit status: 0, 1 when the member cannot
// start, 2 for bad flags.
func Main(name string, args []string) int {
	cfg, err := ParseFlags(name, args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	if err := Run(ctx, cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// splitList returns the non-empty items of a comma-separated list.
func splitList(list string) []string {
	var items []string
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n <= 65535
}
