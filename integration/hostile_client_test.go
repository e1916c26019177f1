package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/ringactor"
)

// A hostile client runs in a process of its own (this test binary started
// again), since a process runs one Proto.Actor remote at most: each client
// of the suite has other credentials (none, a certificate of another CA,
// an expired one, a wrong key), so each needs its own remote.

// hostileClientEnv holds the JSON hostileClientSpec of a hostile client
// process; TestMain skips building the member program when it is set.
const hostileClientEnv = "GENSERVERRING_HOSTILE_CLIENT"

// hostileClientSpec is what a hostile client process does.
type hostileClientSpec struct {
	Node string
	TLS  *ringactor.TLSConfig // nil: plaintext
	Key  string               // a base64 keyring; empty: none
	// TransportKey puts Key on the client's remote (RemoteOptions.Keyring)
	// as well: TLS made from the key.
	TransportKey bool
	// Ops are "add NODE", "del NODE", "down NODE", "stop", "all", "call".
	Ops []string
}

const hostileClientPrefix = "HOSTILE "

// runHostileClient runs spec in a new process and returns one outcome per
// op: "ok", or the name of the sentinel the error matched ("ErrHandshake",
// "ErrKeyRequired", "ErrTimeout", ...) then ": " and the error's text.
func runHostileClient(t *testing.T, spec hostileClientSpec) []string {
	t.Helper()
	data, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostileClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), hostileClientEnv+"="+string(data))
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var outcomes []string
	scanner := bufio.NewScanner(out)
	for scanner.Scan() {
		if line, ok := strings.CutPrefix(scanner.Text(), hostileClientPrefix); ok {
			outcomes = append(outcomes, line)
		}
	}
	require.NoError(t, cmd.Wait())
	require.Len(t, outcomes, len(spec.Ops), "one outcome per op")
	return outcomes
}

// TestHostileClientProcess is the hostile client of runHostileClient; run
// as a test, it does nothing.
func TestHostileClientProcess(t *testing.T) {
	raw := os.Getenv(hostileClientEnv)
	if raw == "" {
		t.Skip("run by runHostileClient only")
	}
	var spec hostileClientSpec
	err := json.Unmarshal([]byte(raw), &spec)
	require.NoError(t, err)
	var keyring *ringactor.Keyring
	if spec.Key != "" {
		keyring, err = ringactor.ParseKeyring(spec.Key)
		require.NoError(t, err)
	}
	options := ringactor.RemoteOptions{TLS: spec.TLS, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if spec.TransportKey {
		options.Keyring = keyring
	}
	system, r, err := ringactor.StartActorSystem(options)
	require.NoError(t, err)
	defer func() { r.Shutdown(false); system.Shutdown() }()
	client := ringactor.NewClient(system, spec.Node, ringName).WithTimeout(5 * time.Second)
	if keyring != nil {
		client = client.WithKeyring(keyring)
	}
	for _, op := range spec.Ops {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		verb, arg, _ := strings.Cut(op, " ")
		var err error
		switch verb {
		case "add":
			err = client.AddNode(ctx, arg)
		case "del":
			err = client.DelNode(ctx, arg)
		case "down":
			err = client.ForceDown(ctx, arg)
		case "stop":
			err = client.Stop(ctx)
		case "all":
			_, err = client.All(ctx)
		case "call":
			_, err = client.Call(ctx, wrapperspb.Int64(1))
		default:
			err = fmt.Errorf("unknown op %q", op)
		}
		cancel()
		fmt.Println(hostileClientPrefix + outcome(err))
	}
}

// outcome names the sentinel err matches, for the test process to check.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	for name, sentinel := range map[string]error{
		"ErrHandshake": ringactor.ErrHandshake, "ErrKeyRequired": ringactor.ErrKeyRequired,
		"ErrTimeout": ringactor.ErrTimeout, "ErrMemberGone": ringactor.ErrMemberGone,
	} {
		if errors.Is(err, sentinel) {
			return name + ": " + strings.ReplaceAll(err.Error(), "\n", " ")
		}
	}
	return "other: " + strings.ReplaceAll(err.Error(), "\n", " ")
}
