package ringactor

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// reachSeam gives a member the remote transport with its reachability check
// replaced, so that a test can lose a check the way the network would.
type reachSeam struct {
	check func(t *remoteTransport, node string) error
}

func (s reachSeam) actorName(ring string) string { return ring }

func (s reachSeam) transport(system *actor.ActorSystem, ring string, cfg Config, credit *outboundCredit) transport {
	t := newRemoteTransport(system, ring, cfg.ProbeTimeout/2, credit)
	t.reach = func(node string) error { return s.check(t, node) }
	return t
}

// A reachability check that fails while the actor system's connection to
// the node is healthy (its dial lost to packet loss or a loaded machine)
// makes the link stuck, and no endpoint event is to come: the connection,
// made before, publishes nothing more. The link must not drop what goes to
// the node for good: the members see each other up again. (The chaos test
// found it: a member stayed down in one peer's view for minutes while the
// rest of the ring saw it up.)
func TestLinkStuckByALostCheckRecovers(t *testing.T) {
	ring := uniqueRing("lostcheck")
	p, _ := startPeer(t, ring)
	remote := NewClient(sharedRemote(t), p.node, ring)
	_, err := remote.Call(within(2*time.Second), wrapperspb.Int64(1)) // connects the shared system to p
	require.NoError(t, err)

	var checks atomic.Int32
	loseSecond := func(tr *remoteTransport, node string) error {
		// The first check opens the link; the second, once Proto.Actor
		// has the first message, finds the node "unreachable".
		if node == p.node && checks.Add(1) == 2 {
			return fmt.Errorf("dial tcp %s: i/o timeout (lost by the test)", node)
		}
		return tr.reachable(node)
	}
	local := startSharedMember(t, ring, func(c *Config) { c.seam = reachSeam{check: loseSecond} })
	require.Eventually(t, func() bool { return local.behaviour.hasChange(ReasonInit, nil) }, waitFor, tick)
	require.NoError(t, local.client.AddNode(context.Background(), p.node))
	// The stuck link answers the watch of p at once: p is down here.
	require.Eventually(t, func() bool {
		return local.behaviour.hasChange(ReasonNodeDown, func(c RingChange) bool { return slices.Contains(c.Old, p.node) })
	}, waitFor, tick, "the lost check took p down")
	stuck := time.Now()

	both := sortedNodes(local.node, p.node)
	require.Eventually(t, func() bool {
		up, err := remote.Up(within(time.Second))
		return err == nil && slices.Equal(up, both) && slices.Equal(local.up(t), both)
	}, waitFor, tick, "the members see each other up again")
	t.Logf("up again %v after the link got stuck", time.Since(stuck).Round(time.Millisecond))
	require.GreaterOrEqual(t, checks.Load(), int32(3), "the link was checked again")
}
