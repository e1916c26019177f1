//go:build linux

package persistence_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/persistence"
)

// lockHelperEnv, when set in the environment of this test binary, makes it
// a helper process instead of running tests: it opens a FileStore on the
// directory the variable names, prints "locked" or "refused: <error>", and
// (when it got the lock) holds it until it is killed or its stdin closes.
const lockHelperEnv = "GENSERVERRING_LOCK_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(lockHelperEnv); dir != "" {
		os.Exit(lockHelper(dir))
	}
	if dir := os.Getenv(appendHelperEnv); dir != "" {
		os.Exit(appendHelper(dir))
	}
	os.Exit(m.Run())
}

func lockHelper(dir string) int {
	store, err := persistence.NewFileStore(dir)
	if err != nil {
		fmt.Println("refused:", err)
		return 0
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin) // hold the lock until stdin closes (or a kill)
	_ = store.Close()
	return 0
}

// lockProcess is the helper process started on dir, and the first line it
// printed.
type lockProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	line  string
}

// startLockProcess starts the test binary as a lock helper on dir and
// waits for its first line. The process is killed by PID when the test
// ends, if it still runs.
func startLockProcess(t *testing.T, dir string) *lockProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	p := &lockProcess{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the helper process printed nothing")
	p.line = strings.TrimSpace(line)
	return p
}

// A member in another process holds the directory: this process is refused
// with ErrLocked naming the directory and the holder's PID. When the
// holder dies (SIGKILL, no chance to clean up) the kernel releases the
// lock, and a new store opens.
func TestFileStoreLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	holder := startLockProcess(t, dir)
	require.Equal(t, "locked", holder.line)

	_, err := persistence.NewFileStore(dir)
	require.ErrorIs(t, err, persistence.ErrLocked)
	assert.ErrorContains(t, err, dir)
	assert.ErrorContains(t, err, "in process "+strconv.Itoa(holder.cmd.Process.Pid))

	require.NoError(t, holder.cmd.Process.Kill())
	_ = holder.cmd.Wait() // killed: the error is the signal
	store := openFileStore(t, dir)
	require.NoError(t, store.AppendDeltas(deltasOf(0, 1)), "no stale lock after a crash")

	// And the other way round: this process holds it, another is refused.
	refused := startLockProcess(t, dir)
	assert.Contains(t, refused.line, "refused:")
	assert.Contains(t, refused.line, persistence.ErrLocked.Error())
	assert.Contains(t, refused.line, dir)
	require.NoError(t, refused.cmd.Wait())
}

// The lock is a plain flock(2) on the LOCK file, so the flock(1) tool sees
// it both ways: an operator can check whether a member holds a directory.
func TestFileStoreLockSeenByFlockTool(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("the flock(1) tool is not installed:", err)
	}
	dir := t.TempDir()
	store := openFileStore(t, dir)
	lockFile := filepath.Join(dir, persistence.LockFileName)
	out, err := exec.Command(flock, "--nonblock", lockFile, "true").CombinedOutput()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "flock(1) must be refused while the store holds the lock: %s", out)
	assert.Equal(t, 1, exitErr.ExitCode())
	require.NoError(t, store.Close())

	// flock(1) holds it now (its command's stdin keeps it waiting).
	cmd := exec.Command(flock, "--nonblock", "--close", lockFile, "sh", "-c", "echo locked; exec cat")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)

	_, err = persistence.NewFileStore(dir)
	require.ErrorIs(t, err, persistence.ErrLocked)
	assert.ErrorContains(t, err, dir)

	require.NoError(t, stdin.Close()) // cat ends, then flock(1) releases the lock and exits
	require.NoError(t, cmd.Wait())
	openFileStore(t, dir)
}
