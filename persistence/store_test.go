package persistence_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/messages"
	"github.com/genserverring/genserverring-go/persistence"
)

// storeImplementations are the stores that must keep the Store contract;
// every test in this file runs against each of them.
var storeImplementations = []struct {
	name     string
	newStore func(t *testing.T) persistence.Store
}{
	{"file", func(t *testing.T) persistence.Store { return newFileStore(t) }},
	{"memory", func(*testing.T) persistence.Store { return persistence.NewMemoryStore() }},
	{"memory zero value", func(*testing.T) persistence.Store { return &persistence.MemoryStore{} }},
}

func forEachStore(t *testing.T, test func(t *testing.T, store persistence.Store)) {
	for _, impl := range storeImplementations {
		t.Run(impl.name, func(t *testing.T) { test(t, impl.newStore(t)) })
	}
}

func TestStoreSaveLoadRoundTrip(t *testing.T) {
	rings := []struct {
		name string
		ring *messages.PersistedRing
	}{
		{"name only", &messages.PersistedRing{Ring: "r"}},
		{"full", sampleRing()},
		{"empty sets", &messages.PersistedRing{Ring: "r", Self: "a:1", NodeSet: &messages.ORSet{}, ForcedDown: &messages.ORSet{}}},
	}
	for _, tc := range rings {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, store persistence.Store) {
				require.NoError(t, store.Save(tc.ring))
				loaded, err := store.Load()
				require.NoError(t, err)
				assert.True(t, proto.Equal(tc.ring, loaded), "loaded %v, saved %v", loaded, tc.ring)
			})
		})
	}
}

func TestStoreSaveReplaces(t *testing.T) {
	forEachStore(t, func(t *testing.T, store persistence.Store) {
		first, second := sampleRing(), sampleRing()
		second.Self = "127.0.0.1:9999"
		second.ForcedDown = nil
		require.NoError(t, store.Save(first))
		require.NoError(t, store.Save(second))

		loaded, err := store.Load()
		require.NoError(t, err)
		assert.True(t, proto.Equal(second, loaded))
	})
}

func TestStoreLoadNothingSaved(t *testing.T) {
	forEachStore(t, func(t *testing.T, store persistence.Store) {
		ring, err := store.Load()
		assert.Nil(t, ring)
		require.ErrorIs(t, err, persistence.ErrNotFound)
		assert.ErrorContains(t, err, store.String())
		assert.NotErrorIs(t, err, persistence.ErrCorrupt)
	})
}

func TestStoreDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, store persistence.Store) {
		require.NoError(t, store.Delete(), "delete with nothing saved")
		require.NoError(t, store.Save(sampleRing()))

		require.NoError(t, store.Delete())
		_, err := store.Load()
		require.ErrorIs(t, err, persistence.ErrNotFound)
		require.NoError(t, store.Delete(), "second delete")

		require.NoError(t, store.Save(sampleRing()), "save after delete")
		_, err = store.Load()
		require.NoError(t, err)
	})
}

func TestStoreSaveRejectsWhatLoadWouldReject(t *testing.T) {
	invalid := []struct {
		name string
		ring *messages.PersistedRing
		want string
	}{
		{"nil ring", nil, "ring is nil"},
		{"empty ring name", &messages.PersistedRing{Self: "a:1"}, "ring name is empty"},
		{"self not UTF-8", &messages.PersistedRing{Ring: "r", Self: "a:\xff"}, "UTF-8"},
		{"replica not UTF-8", &messages.PersistedRing{Ring: "r", NodeSet: &messages.ORSet{
			Context: &messages.CausalContext{Cloud: []*messages.Dot{{Replica: "\xc3", Counter: 1}}},
		}}, "UTF-8"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, store persistence.Store) {
				saved := sampleRing()
				require.NoError(t, store.Save(saved))

				err := store.Save(tc.ring)
				require.ErrorContains(t, err, tc.want)
				assert.ErrorContains(t, err, store.String())

				loaded, err := store.Load()
				require.NoError(t, err)
				assert.True(t, proto.Equal(saved, loaded), "a rejected save must keep the previous ring")
			})
		})
	}
}

// The store owns neither the value saved nor the value loaded: changing
// either afterwards changes nothing stored.
func TestStoreDoesNotShareValues(t *testing.T) {
	forEachStore(t, func(t *testing.T, store persistence.Store) {
		saved := sampleRing()
		require.NoError(t, store.Save(saved))
		saved.Self = "changed after save"
		saved.NodeSet.Entries[0].Element = []byte("changed after save")

		loaded, err := store.Load()
		require.NoError(t, err)
		assert.True(t, proto.Equal(sampleRing(), loaded))
		loaded.Ring = "changed after load"
		loaded.ForcedDown.Entries = nil

		again, err := store.Load()
		require.NoError(t, err)
		assert.True(t, proto.Equal(sampleRing(), again))
	})
}
