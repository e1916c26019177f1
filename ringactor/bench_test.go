package ringactor

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// BenchmarkGossipMerge measures what a member does with one gossip in a
// converged ring of n members whose payload is a PN-counter with a slot per
// member: decode both sets and the payload, merge (nothing changes), settle.
func BenchmarkGossipMerge(b *testing.B) {
	for _, n := range []int{8, 64, 512} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var nodeSet crdt.ORSet[string]
			var payload counterPayload
			for i := range n {
				nodeSet.Add(crdt.ReplicaID(simNode(0)), simNode(i))
				payload.Increment(crdt.ReplicaID(simNode(i)), uint64(i+1))
			}
			setProto, err := nodeSet.ToProto()
			require.NoError(b, err)
			payloadBytes, err := payload.MarshalBinary()
			require.NoError(b, err)
			gossip := &messages.Gossip{Ring: "bench", From: simNode(1), NodeSet: setProto, ForcedDown: &messages.ORSet{}, Payload: payloadBytes}
			persisted := &messages.PersistedRing{Ring: "bench", NodeSet: setProto, ForcedDown: &messages.ORSet{}}

			local := &counterPayload{}
			local.Merge(&payload.PNCounter)
			core, err := newCore(coreConfig{ring: "bench", self: simNode(0), replica: "bench#0", indirectChecks: 2}, persisted, local, rand.New(rand.NewPCG(1, 2)), quietLogger())
			require.NoError(b, err)
			core.onGossip(gossip) // first contact: marks the sender alive
			core.takeEffects()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				core.onGossip(gossip)
				core.takeEffects()
			}
			b.ReportMetric(float64(proto.Size(gossip)), "gossip-bytes")
		})
	}
}

// BenchmarkCall measures a Call to the ring actor of this process (any Go
// value) and to one in another process over loopback (protobuf).
func BenchmarkCall(b *testing.B) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger() }))
	b.Cleanup(system.Shutdown)
	n := &localNet{system: system}
	local, err := Start[*crdt.PNCounter](system, "bench", &counterBehaviour{}, WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger()), n.member(newNode()))
	require.NoError(b, err)
	b.Run("local", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := local.Call(within(time.Second), get{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remote", func(b *testing.B) {
		ring := uniqueRing("bench")
		p, _ := startPeer(b, ring)
		remote := NewClient(sharedRemote(b), p.node, ring)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := remote.Call(within(time.Second), wrapperspb.Int64(0)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
