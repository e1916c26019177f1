//go:build linux

package persistence_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/persistence"
)

// appendHelperEnv, when set in the environment of this test binary, makes
// it a writer process instead of running tests: it opens a FileStore on
// the directory the variable names, loads it, and appends numbered deltas
// (the next number after the last it loaded) in batches of 1 to 64, for
// ever, printing the last number of each batch once AppendDeltas returned
// nil: an acknowledgement.
const appendHelperEnv = "GENSERVERRING_APPEND_HELPER_DIR"

func appendHelper(dir string) int {
	store, err := persistence.NewFileStore(dir)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	loaded, err := store.LoadPayload()
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	next := uint64(len(loaded.Deltas))
	out := bufio.NewWriter(os.Stdout)
	for {
		batch := make([][]byte, 1+rand.IntN(64))
		for i := range batch {
			batch[i] = binary.BigEndian.AppendUint64(nil, next)
			next++
		}
		if err := store.AppendDeltas(batch); err != nil {
			fmt.Fprintln(out, "error:", err)
			_ = out.Flush()
			return 1
		}
		fmt.Fprintln(out, next-1)
		_ = out.Flush()
	}
}

// A writer process is killed with SIGKILL at random moments, again and
// again, and restarted on the same directory. Every delta it acknowledged
// is there after each kill, in order, with no gap and nothing foreign: the
// log is always a prefix of what was written, and at least what was
// acknowledged. (A kill loses the process, not the page cache: a power
// loss is the business of the torn-tail tests.)
func TestFileStoreKilledWriterLosesNoAcknowledgedDelta(t *testing.T) {
	dir := t.TempDir()
	const lives = 12
	acknowledged := int64(-1)
	for life := range lives {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), appendHelperEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		lines := bufio.NewScanner(stdout)
		acksThisLife := 1 + rand.IntN(40)
		for range acksThisLife {
			require.True(t, lines.Scan(), "life %d: the writer stopped: %v", life, lines.Err())
			line := lines.Text()
			require.False(t, strings.HasPrefix(line, "error:"), "life %d: %s", life, line)
			acknowledged, err = strconv.ParseInt(line, 10, 64)
			require.NoError(t, err)
		}
		require.NoError(t, cmd.Process.Kill(), "kill the writer by PID")
		_ = cmd.Wait() // killed: the error is the signal
		// Acknowledgements printed before the kill but not yet read count
		// too: the writer may have been further along than we know.
		for lines.Scan() {
			if n, err := strconv.ParseInt(lines.Text(), 10, 64); err == nil {
				acknowledged = n
			}
		}

		store := openFileStore(t, dir)
		loaded := loadPayload(t, store)
		require.GreaterOrEqual(t, int64(len(loaded.Deltas)), acknowledged+1, "life %d: acknowledged deltas lost", life)
		for i, delta := range loaded.Deltas {
			require.Len(t, delta, 8, "life %d: delta %d", life, i)
			require.Equal(t, uint64(i), binary.BigEndian.Uint64(delta), "life %d: delta %d out of order", life, i)
		}
		if loaded.CutBytes > 0 {
			// A kill can stop a write(2) part way (the kernel checks for a
			// fatal signal between pages): a torn tail, cut, and legal,
			// since its batch was never acknowledged.
			t.Logf("life %d: cut %d bytes: %v", life, loaded.CutBytes, loaded.CutReason)
		}
		require.NoError(t, store.Close())
	}
}
