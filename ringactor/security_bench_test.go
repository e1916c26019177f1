package ringactor

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// BenchmarkSealOpen measures what the ring key costs per message: sealing
// a gossip of an n-member ring on one side, opening it on the other.
func BenchmarkSealOpen(b *testing.B) {
	key, err := GenerateKey()
	require.NoError(b, err)
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
			keyring, err := NewKeyring(key)
			require.NoError(b, err)
			sender := newSealer("bench", simNode(1), keyring, 0, 0)
			receiver := newSealer("bench", simNode(0), keyring, time.Hour, 1<<20)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sealed, err := sender.seal(gossip)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := receiver.open(sealed); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(proto.Size(gossip)), "gossip-bytes")
		})
	}
}

// BenchmarkSecuredCall measures a Call between two actor systems over
// loopback with each security setting, to read the cost of each off one
// run.
func BenchmarkSecuredCall(b *testing.B) {
	key, err := GenerateKey()
	require.NoError(b, err)
	for _, setting := range []string{"open", "key", "mtls", "key+mtls"} {
		b.Run(setting, func(b *testing.B) {
			keyring, err := NewKeyring(key)
			require.NoError(b, err)
			var tlsConfigs []TLSConfig
			nodes := []string{freeLoopbackAddress(b), freeLoopbackAddress(b)}
			if setting == "mtls" || setting == "key+mtls" {
				tlsConfigs, err = MakeCertificates(b.TempDir(), nodes, time.Hour)
				require.NoError(b, err)
			}
			var clients []*Client
			for i := range 2 {
				_, port, err := net.SplitHostPort(nodes[i])
				require.NoError(b, err)
				opts := RemoteOptions{Logger: quietLogger()}
				opts.Port, err = strconv.Atoi(port)
				require.NoError(b, err)
				if tlsConfigs != nil {
					opts.TLS = &tlsConfigs[i]
				}
				system, r, err := StartActorSystem(opts)
				require.NoError(b, err)
				b.Cleanup(func() { r.Shutdown(false); system.Shutdown() })
				ringOpts := []Option{WithStore(persistence.NewMemoryStore()), WithLogger(quietLogger())}
				if setting == "key" || setting == "key+mtls" {
					ringOpts = append(ringOpts, WithKeyring(keyring))
				}
				client, err := Start[*crdt.PNCounter](system, "bench", &counterBehaviour{}, ringOpts...)
				require.NoError(b, err)
				clients = append(clients, client)
			}
			require.NoError(b, clients[0].AddNode(context.Background(), clients[1].Node()))
			remote := NewClient(clients[0].system, clients[1].Node(), "bench").WithKeyring(clients[0].sealerKeyring())
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := remote.Call(within(time.Second), wrapperspb.Int64(0)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// sealerKeyring returns the keyring the client seals with, nil if none.
func (c *Client) sealerKeyring() *Keyring {
	if c.sealer == nil {
		return nil
	}
	return c.sealer.keyring
}

// freeLoopbackAddress returns a 127.0.0.1 address nothing listens on.
func freeLoopbackAddress(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer l.Close()
	return l.Addr().String()
}

// BenchmarkSealOpenCall measures the ring key's cost on a small request,
// the CallRequest of a Call.
func BenchmarkSealOpenCall(b *testing.B) {
	key, err := GenerateKey()
	require.NoError(b, err)
	keyring, err := NewKeyring(key)
	require.NoError(b, err)
	body, err := packBody(wrapperspb.Int64(42))
	require.NoError(b, err)
	call := &messages.CallRequest{Body: body}
	sender := newSealer("bench", "127.0.0.1:1", keyring, 0, 0)
	receiver := newSealer("bench", "127.0.0.1:2", keyring, time.Hour, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		sealed, err := sender.seal(call)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := receiver.open(sealed); err != nil {
			b.Fatal(err)
		}
	}
}
