package counternode

import (
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A command that times out leaves its result due: the next commands are
// refused (not sent) until it arrives, then it is discarded and the
// Process works again, each result going to its own command.
func TestProcessLateResult(t *testing.T) {
	script := `echo "ready node=127.0.0.1:1 pid=$$"
read a; sleep 1; echo "ok value=1"
read b; echo "ok value=2"
read c`
	p, err := StartProcess("late", exec.Command("sh", "-c", script), 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(p.Kill)

	_, err = p.Value("inc", 50*time.Millisecond)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrBusy), "the first command was sent: %v", err)

	_, err = p.Value("inc", time.Second)
	require.ErrorIs(t, err, ErrBusy)

	var v int64
	require.Eventually(t, func() bool {
		v, err = p.Value("get", 5*time.Second)
		return !errors.Is(err, ErrBusy)
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, int64(2), v, "the late result went to a later command")
}
