//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package persistence_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genserverring/genserverring-go/persistence"
)

// Two stores in one process never share a directory: the second is
// refused with ErrLocked naming the directory, until the first closes.
func TestFileStoreLockInProcess(t *testing.T) {
	dir := t.TempDir()
	first, err := persistence.NewFileStore(dir)
	require.NoError(t, err)

	second, err := persistence.NewFileStore(dir)
	require.ErrorIs(t, err, persistence.ErrLocked)
	assert.Nil(t, second)
	assert.ErrorContains(t, err, dir)
	assert.ErrorContains(t, err, "the last store to take it was in process", "the lock file names its holder")

	// The refused store changed nothing of the first one's.
	require.NoError(t, first.AppendDeltas(deltasOf(0, 2)))
	require.NoError(t, first.Close())

	third := openFileStore(t, dir)
	assertDeltas(t, deltasOf(0, 2), loadPayload(t, third).Deltas)
	_, err = persistence.NewFileStore(dir)
	require.ErrorIs(t, err, persistence.ErrLocked, "the lock passed to the third store")
}

// The lock is per directory: members in sibling directories (DefaultDir's
// one per node) do not contend.
func TestFileStoreLockIsPerDirectory(t *testing.T) {
	parent := t.TempDir()
	a := openFileStore(t, parent+"/127.0.0.1_8001")
	b := openFileStore(t, parent+"/127.0.0.1_8002")
	require.NoError(t, a.AppendDeltas(deltasOf(0, 1)))
	require.NoError(t, b.AppendDeltas(deltasOf(1, 1)))
}
