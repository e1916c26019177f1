package ringactor

import (
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// acceptAndClose listens on a free port of 127.0.0.1 and closes every
// connection at once: a port that is open but where no ring member
// answers, so Proto.Actor's writer fails to connect after the TCP dial
// succeeds.
func acceptAndClose(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	return l.Addr().String()
}

var backoffLine = regexp.MustCompile(`^time=(\S+) .*msg="connecting to the node failed; backing off".* to=(\S+) failures=(\d+) wait=(\S+)`)

// A member added at an address where connects keep failing is tried again
// less and less often (each failed connect costs two ERROR lines of
// Proto.Actor's), not at every rejoin gossip for ever.
func TestFailedConnectsBackOff(t *testing.T) {
	m := startSharedMember(t, uniqueRing("backoff"))
	bad := acceptAndClose(t)
	require.NoError(t, m.client.AddNode(context.Background(), bad))

	type failure struct {
		at    time.Time
		count int
		wait  time.Duration
	}
	// failures parses the transport's lines about bad (it runs on
	// Eventually's goroutine: no require in it).
	failures := func() []failure {
		var found []failure
		log := logFor(t)
		log.mu.Lock()
		defer log.mu.Unlock()
		for _, line := range log.lines {
			match := backoffLine.FindStringSubmatch(line)
			if match == nil || match[2] != bad {
				continue
			}
			at, errAt := time.Parse(time.RFC3339Nano, match[1])
			wait, errWait := time.ParseDuration(match[4])
			count, errCount := strconv.Atoi(match[3])
			if errAt == nil && errWait == nil && errCount == nil {
				found = append(found, failure{at: at, count: count, wait: wait})
			}
		}
		return found
	}
	require.Eventually(t, func() bool { return len(failures()) >= 3 }, 2*waitFor, 10*time.Millisecond)
	got := failures()
	assert.Equal(t, []int{1, 2, 3}, []int{got[0].count, got[1].count, got[2].count}, "failures are counted in a row")
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, []time.Duration{got[0].wait, got[1].wait, got[2].wait})
	for i := 1; i < 3; i++ {
		assert.GreaterOrEqual(t, got[i].at.Sub(got[i-1].at), got[i-1].wait, "no connect before the wait is over")
	}
	assert.Less(t, strings.Count(strings.Join(logFor(t).lines, "\n"), "backing off"), 10)
}
