package persistence_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/persistence"
)

type reopenFunc = func(persistence.PayloadStore) persistence.PayloadStore

func TestPayloadStoreNothingStored(t *testing.T) {
	forEachPayloadStore(t, func(t *testing.T, store persistence.PayloadStore, _ reopenFunc) {
		loaded := loadPayload(t, store)
		assert.Nil(t, loaded.Snapshot)
		assert.Empty(t, loaded.Deltas)
		assert.Zero(t, loaded.CutBytes)
		assert.NoError(t, loaded.CutReason)
		assert.Zero(t, store.LogSize())
	})
}

// What was appended and snapshotted is what a restarted member loads, in
// order, whatever the mix of calls.
func TestPayloadStoreSurvivesRestart(t *testing.T) {
	steps := []struct {
		name         string
		batches      []int // deltas per AppendDeltas, before the snapshot
		snapshot     []byte
		after        []int // deltas per AppendDeltas, after it
		wantSnapshot []byte
	}{
		{"one delta", []int{1}, nil, nil, nil},
		{"one batch of 64", []int{64}, nil, nil, nil},
		{"many batches", []int{1, 3, 0, 7, 1}, nil, nil, nil},
		{"snapshot only", nil, []byte("state"), nil, []byte("state")},
		{"deltas then snapshot", []int{5, 5}, []byte("state"), nil, []byte("state")},
		{"snapshot then deltas", []int{2}, []byte("state"), []int{3, 1}, []byte("state")},
		{"empty snapshot is a snapshot", nil, []byte{}, []int{2}, []byte{}},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			forEachPayloadStore(t, func(t *testing.T, store persistence.PayloadStore, reopen reopenFunc) {
				next := 0
				appendBatches := func(batches []int) [][]byte {
					var all [][]byte
					for _, n := range batches {
						batch := deltasOf(next, n)
						next += n
						require.NoError(t, store.AppendDeltas(batch))
						all = append(all, batch...)
					}
					return all
				}
				want := appendBatches(tc.batches)
				if tc.snapshot != nil {
					require.NoError(t, store.SaveSnapshot(tc.snapshot))
					want = nil
					assert.Zero(t, store.LogSize(), "a snapshot empties the log")
				}
				want = append(want, appendBatches(tc.after)...)
				logSize := store.LogSize()

				store = reopen(store)
				loaded := loadPayload(t, store)
				if tc.wantSnapshot == nil {
					assert.Nil(t, loaded.Snapshot)
				} else {
					require.NotNil(t, loaded.Snapshot)
					assert.Equal(t, tc.wantSnapshot, loaded.Snapshot)
				}
				assertDeltas(t, want, loaded.Deltas)
				assert.Zero(t, loaded.CutBytes)
				assert.Equal(t, logSize, store.LogSize(), "the log's size survives a restart")
			})
		})
	}
}

// LogSize counts each delta and its 8-byte record header, on both stores,
// so a compaction threshold means the same on each.
func TestPayloadStoreLogSize(t *testing.T) {
	forEachPayloadStore(t, func(t *testing.T, store persistence.PayloadStore, _ reopenFunc) {
		require.NoError(t, store.AppendDeltas([][]byte{make([]byte, 10), {}}))
		assert.Equal(t, int64(8+10+8), store.LogSize())
		require.NoError(t, store.AppendDeltas(nil), "no delta, no sync")
		assert.Equal(t, int64(8+10+8), store.LogSize())
		require.NoError(t, store.SaveSnapshot([]byte("s")))
		assert.Zero(t, store.LogSize())
	})
}

func TestPayloadStoreRefusesOversizedDelta(t *testing.T) {
	forEachPayloadStore(t, func(t *testing.T, store persistence.PayloadStore, _ reopenFunc) {
		require.NoError(t, store.AppendDeltas([][]byte{[]byte("kept")}))
		err := store.AppendDeltas([][]byte{[]byte("small"), make([]byte, persistence.MaxDeltaSize+1)})
		require.ErrorContains(t, err, "delta 2 of 2")
		assert.ErrorContains(t, err, "nothing was written")
		assertDeltas(t, [][]byte{[]byte("kept")}, loadPayload(t, store).Deltas, "nothing of the refused batch")
	})
}

func TestPayloadStoreDeleteRemovesEverything(t *testing.T) {
	forEachPayloadStore(t, func(t *testing.T, store persistence.PayloadStore, reopen reopenFunc) {
		require.NoError(t, store.Save(sampleRing()))
		require.NoError(t, store.AppendDeltas(deltasOf(0, 3)))
		require.NoError(t, store.SaveSnapshot([]byte("state")))
		require.NoError(t, store.AppendDeltas(deltasOf(3, 2)))

		require.NoError(t, store.Delete())
		_, err := store.Load()
		require.ErrorIs(t, err, persistence.ErrNotFound)
		loaded := loadPayload(t, store)
		assert.Nil(t, loaded.Snapshot)
		assert.Empty(t, loaded.Deltas)
		assert.Zero(t, store.LogSize())

		// A deleted store starts afresh, and that survives a restart.
		require.NoError(t, store.AppendDeltas(deltasOf(9, 1)))
		store = reopen(store)
		loaded = loadPayload(t, store)
		assert.Nil(t, loaded.Snapshot)
		assertDeltas(t, deltasOf(9, 1), loaded.Deltas)
	})
}

func TestPayloadStoreDoesNotShareValues(t *testing.T) {
	forEachPayloadStore(t, func(t *testing.T, store persistence.PayloadStore, _ reopenFunc) {
		snapshot, delta := []byte("snapshot"), []byte("delta")
		require.NoError(t, store.SaveSnapshot(snapshot))
		require.NoError(t, store.AppendDeltas([][]byte{delta}))
		snapshot[0], delta[0] = 'X', 'X'

		loaded := loadPayload(t, store)
		assert.Equal(t, []byte("snapshot"), loaded.Snapshot)
		assertDeltas(t, [][]byte{[]byte("delta")}, loaded.Deltas)
		loaded.Snapshot[0], loaded.Deltas[0][0] = 'Y', 'Y'

		again := loadPayload(t, store)
		assert.Equal(t, []byte("snapshot"), again.Snapshot)
		assertDeltas(t, [][]byte{[]byte("delta")}, again.Deltas)
	})
}

// A closed store refuses every call with ErrClosed; closing twice is fine.
func TestPayloadStoreClosed(t *testing.T) {
	forEachPayloadStore(t, func(t *testing.T, store persistence.PayloadStore, _ reopenFunc) {
		require.NoError(t, store.Close())
		require.NoError(t, store.Close(), "second close")
		calls := map[string]func() error{
			"Load":         func() error { _, err := store.Load(); return err },
			"Save":         func() error { return store.Save(sampleRing()) },
			"Delete":       store.Delete,
			"LoadPayload":  func() error { _, err := store.LoadPayload(); return err },
			"AppendDeltas": func() error { return store.AppendDeltas(deltasOf(0, 1)) },
			"SaveSnapshot": func() error { return store.SaveSnapshot([]byte("s")) },
		}
		for name, call := range calls {
			assert.ErrorIs(t, call(), persistence.ErrClosed, name)
		}
	})
}

// The memory store's injected faults behave as a failing disk does on a
// FileStore: the call fails with the error, nothing of it is stored, and
// once the fault is cleared the store goes on.
func TestMemoryStoreFaultInjection(t *testing.T) {
	diskFull := errors.New("no space left on device")
	faults := []struct {
		name  string
		set   func(*persistence.MemoryStore, error)
		call  func(persistence.PayloadStore) error
		check func(t *testing.T, store *persistence.MemoryStore)
	}{
		{"appends", (*persistence.MemoryStore).FailAppends,
			func(s persistence.PayloadStore) error { return s.AppendDeltas(deltasOf(10, 2)) },
			func(t *testing.T, store *persistence.MemoryStore) {
				assertDeltas(t, deltasOf(0, 1), loadPayload(t, store).Deltas)
				assert.Equal(t, int64(8), store.LogSize())
			}},
		{"snapshots", (*persistence.MemoryStore).FailSnapshots,
			func(s persistence.PayloadStore) error { return s.SaveSnapshot([]byte("new")) },
			func(t *testing.T, store *persistence.MemoryStore) {
				loaded := loadPayload(t, store)
				assert.Equal(t, []byte("old"), loaded.Snapshot)
				assertDeltas(t, deltasOf(0, 1), loaded.Deltas, "a failed snapshot keeps the log")
			}},
		{"saves", (*persistence.MemoryStore).FailSaves,
			func(s persistence.PayloadStore) error {
				ring := sampleRing()
				ring.Self = "127.0.0.1:9"
				return s.Save(ring)
			},
			func(t *testing.T, store *persistence.MemoryStore) {
				ring, err := store.Load()
				require.NoError(t, err)
				assert.Equal(t, sampleRing().GetSelf(), ring.GetSelf())
			}},
	}
	for _, tc := range faults {
		t.Run(tc.name, func(t *testing.T) {
			store := persistence.NewMemoryStore()
			require.NoError(t, store.Save(sampleRing()))
			require.NoError(t, store.SaveSnapshot([]byte("old")))
			require.NoError(t, store.AppendDeltas(deltasOf(0, 1)))

			tc.set(store, diskFull)
			for range 3 {
				err := tc.call(store)
				require.ErrorIs(t, err, diskFull, "fails until cleared")
				assert.ErrorContains(t, err, store.String())
				tc.check(t, store)
			}
			tc.set(store, nil)
			require.NoError(t, tc.call(store), "succeeds once cleared")
		})
	}
}

// Appending empty deltas is allowed (an empty payload delta may encode to
// no bytes) and they come back as deltas, not as nothing.
func TestPayloadStoreEmptyDeltas(t *testing.T) {
	forEachPayloadStore(t, func(t *testing.T, store persistence.PayloadStore, reopen reopenFunc) {
		require.NoError(t, store.AppendDeltas([][]byte{{}, nil, []byte("x"), {}}))
		store = reopen(store)
		loaded := loadPayload(t, store)
		require.Len(t, loaded.Deltas, 4)
		assert.True(t, bytes.Equal([]byte("x"), loaded.Deltas[2]))
	})
}
