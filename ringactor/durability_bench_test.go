package ringactor

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/crdt"
	"github.com/genserverring/genserverring-go/persistence"
)

// BenchmarkDurableCall measures calls that change the payload on one member
// whose payload log is a FileStore on the real disk (the test's temporary
// directory): one caller at a time (each call waits for its own sync) and 64
// concurrent callers (their changes share syncs: group commit), with
// durability on and off. Read beside persistence's BenchmarkDiskFdatasync,
// the disk's own sync rate:
//
//	go test -run '^$' -bench 'DurableCall|DiskFdatasync' -count 5 ./ringactor/ ./persistence/
func BenchmarkDurableCall(b *testing.B) {
	for _, durability := range []Durability{DurabilityDisk, DurabilityNone} {
		for _, callers := range []int{1, 64} {
			b.Run(durability.String()+"/callers="+strconv.Itoa(callers), func(b *testing.B) {
				// One member on the in-process network: no remote (one per
				// process, see localnet_test.go).
				system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quietLogger() }))
				b.Cleanup(system.Shutdown)
				net := &localNet{system: system}
				store, err := persistence.NewFileStore(b.TempDir())
				require.NoError(b, err)
				b.Cleanup(func() { _ = store.Close() })
				client, err := Start[*crdt.PNCounter](system, "durable-bench", &counterBehaviour{},
					WithStore(store), WithDurability(durability), WithLogger(quietLogger()), net.member(newNode()))
				require.NoError(b, err)

				var next sync.WaitGroup
				calls := make(chan struct{}, b.N)
				for range b.N {
					calls <- struct{}{}
				}
				close(calls)
				b.ResetTimer()
				start := time.Now()
				for range callers {
					next.Add(1)
					go func() {
						defer next.Done()
						for range calls {
							if _, err := client.Call(context.Background(), incr{1}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				next.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
				if stats, err := client.Stats(context.Background()); err == nil && stats.Syncs > 0 {
					b.ReportMetric(float64(stats.SyncedDeltas)/float64(stats.Syncs), "changes/sync")
				}
			})
		}
	}
}
