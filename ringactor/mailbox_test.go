package ringactor

import (
	"bytes"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/messages"
)

// TestFloodOfABusyMemberIsBounded floods a member in another process, held
// busy by a slow callback, with 50,000 messages of 2 KiB: its mailbox takes
// MaxQueued of them and the receive guard refuses the rest, so its heap
// grows by a few MB, not the 120 MB an unbounded mailbox took; the refusals
// are counted, a request that comes meanwhile is answered ErrBusy at once
// (sealed, with a keyring), and once free the member serves as before.
func TestFloodOfABusyMemberIsBounded(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		name := map[bool]string{false: "open", true: "keyring"}[keyed]
		t.Run(name, func(t *testing.T) {
			const (
				maxQueued = 1024
				flood     = 50_000
			)
			spec := guardedSpec{Ring: uniqueRing("flood"), MaxQueued: maxQueued}
			var keyring *Keyring
			if keyed {
				key := testKey(t)
				keyring, spec.Key = testKeyring(t, key), EncodeKey(key)
			}
			target := startGuardedPeer(t, spec)
			system := sharedRemote(t)
			client := NewClient(system, target.node, spec.Ring).WithKeyring(keyring).WithTimeout(2 * time.Second)
			_, err := client.All(within(2 * time.Second))
			require.NoError(t, err, "the member serves before the flood")
			before := target.heap(t)

			require.Empty(t, target.ask(t, "hold"))
			t.Cleanup(func() { target.ask(t, "unhold") })
			pid := actor.NewPID(target.node, spec.Ring)
			padding := bytes.Repeat([]byte{'x'}, 2<<10)
			var sealer *sealer
			if keyed {
				sealer = newSealer(spec.Ring, "127.0.0.9:1", keyring, 0, 0)
			}
			for range flood {
				// Gossip of another ring: a member drops it, cheaply, once
				// it handles it; held, it can only queue it.
				var msg proto.Message = &messages.Gossip{Ring: "another-ring", From: "127.0.0.9:1", Payload: padding}
				if keyed {
					msg = mustSeal(t, sealer, msg)
				}
				system.Root.Send(pid, msg)
			}
			// The guard checks a batch's messages before Proto.Actor posts
			// any of them, so the mailbox may take up to one batch more
			// than MaxQueued: at least flood-maxQueued-batch are refused.
			const mustRefuse = flood - maxQueued - endpointWriterBatchSize
			var during heapState
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				during = target.heap(t)
				assert.GreaterOrEqual(c, during.Guard.Busy-before.Guard.Busy, uint64(mustRefuse),
					"the guard refuses what the full mailbox cannot take (50,000 messages take seconds to send on a loaded machine)")
			}, 6*waitFor, 50*time.Millisecond)
			growth := int64(during.HeapAlloc) - int64(before.HeapAlloc)
			t.Logf("heap before %.1f MB, held with %d messages sent: %.1f MB (growth %.1f MB); refused busy %d",
				mb(before.HeapAlloc), flood, mb(during.HeapAlloc), float64(growth)/(1<<20), during.Guard.Busy-before.Guard.Busy)
			assert.Less(t, growth, int64(16<<20), "at most MaxQueued messages are held, not %d", flood)

			// A request meanwhile is refused at once, not left to time out.
			start := time.Now()
			_, err = client.Call(within(2*time.Second), wrapperspb.String("pending"))
			require.ErrorIs(t, err, ErrBusy)
			assert.Less(t, time.Since(start), time.Second, "answered at once")
			require.ErrorIs(t, client.AddNode(within(2*time.Second), "127.0.0.9:1"), ErrBusy)

			target.ask(t, "unhold")
			state := target.requireIntact(t, []string{target.node}, 0)
			assert.GreaterOrEqual(t, state.Stats.DroppedBusy, uint64(mustRefuse), "Stats counts the refusals")
			_, err = client.All(within(2 * time.Second))
			require.NoError(t, err, "once free, the member serves requests from other processes again")
		})
	}
}

func mb(bytes uint64) float64 { return float64(bytes) / (1 << 20) }
