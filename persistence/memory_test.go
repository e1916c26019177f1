package persistence_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/persistence"
)

func TestMemoryStoreString(t *testing.T) {
	assert.Equal(t, "memory store", persistence.NewMemoryStore().String())
}

// Run with -race: saves, loads and deletes from many goroutines at once.
func TestMemoryStoreConcurrentUse(t *testing.T) {
	store := persistence.NewMemoryStore()
	const workers, rounds = 8, 100
	var wg sync.WaitGroup
	for worker := range workers {
		wg.Go(func() {
			for round := range rounds {
				ring := sampleRing()
				ring.UnixNanos = int64(worker*rounds + round)
				assert.NoError(t, store.Save(ring))
				loaded, err := store.Load()
				if err != nil {
					assert.ErrorIs(t, err, persistence.ErrNotFound) // another worker deleted it
					continue
				}
				assert.Equal(t, "orders", loaded.GetRing())
				if round%10 == 0 {
					assert.NoError(t, store.Delete())
				}
			}
		})
	}
	wg.Wait()

	final := sampleRing()
	require.NoError(t, store.Save(final))
	loaded, err := store.Load()
	require.NoError(t, err)
	assert.True(t, proto.Equal(final, loaded))
}

func BenchmarkMemoryStoreSave(b *testing.B) {
	store := persistence.NewMemoryStore()
	ring := sampleRing()
	b.ReportAllocs()
	for b.Loop() {
		if err := store.Save(ring); err != nil {
			b.Fatal(err)
		}
	}
}
