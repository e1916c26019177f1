//go:build linux

package persistence_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/genserverring/genserverring-go/persistence"
)

// mountTinyTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it when the test ends (after the stores on it are closed: the
// cleanups run last first). Mounting needs root; the test is skipped,
// saying so, when it cannot mount.
func mountTinyTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk fault tests mount a tiny tmpfs, which needs root (run the tests as root to include them)")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (a container without CAP_SYS_ADMIN?): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

func remount(t *testing.T, mnt, mode string) {
	t.Helper()
	out, err := exec.Command("mount", "-o", "remount,"+mode, mnt).CombinedOutput()
	require.NoError(t, err, "remount %s %s: %s", mode, mnt, out)
}

// fillDisk writes a file of zeros into dir until the file system is full,
// and returns its path. On tmpfs, space is taken a page at a time.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	file, err := os.Create(path)
	require.NoError(t, err)
	defer file.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := file.Write(chunk); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return path
		}
	}
}

// storeWith opens a store on dir holding sampleRing, snapshot and then
// deltas, each call acknowledged.
func storeWith(t *testing.T, dir string, snapshot []byte, deltas [][]byte) *persistence.FileStore {
	t.Helper()
	store := openFileStore(t, dir)
	require.NoError(t, store.Save(sampleRing()))
	require.NoError(t, store.SaveSnapshot(snapshot))
	require.NoError(t, store.AppendDeltas(deltas))
	return store
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Size()
}

// A full disk: an append that needs space fails with an error that says
// so and names the log, a partial write is cut back, nothing durable is
// lost, and once space is freed the appends go on where the durable log
// ends.
func TestFileStoreDiskFull(t *testing.T) {
	mnt := mountTinyTmpfs(t, "256k")
	dir := filepath.Join(mnt, "data")
	acknowledged := deltasOf(0, 20)
	store := storeWith(t, dir, []byte("snapshot before the disk filled"), acknowledged)
	durableSize := fileSize(t, store.LogPath())

	filler := fillDisk(t, mnt)
	big := [][]byte{make([]byte, 3*4096)} // needs pages the disk no longer has

	err := store.AppendDeltas(big)
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.ErrorContains(t, err, store.LogPath())
	assert.ErrorContains(t, err, "no space left on device")
	assert.Equal(t, durableSize, fileSize(t, store.LogPath()), "nothing of the failed append stays")

	// Free one page: the next append is written in part, then fails; the
	// part is cut off again.
	require.NoError(t, os.Truncate(filler, fileSize(t, filler)-4096))
	err = store.AppendDeltas(big)
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, durableSize, fileSize(t, store.LogPath()), "a partial write is cut back")

	// The snapshot and the ring file fail the same way and keep the old.
	err = store.SaveSnapshot(make([]byte, 8*4096))
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.ErrorContains(t, err, store.SnapshotPath())
	ring := sampleRing()
	ring.Self = "127.0.0.1:9999"
	ring.NodeSet.Entries[0].Element = make([]byte, 8*4096)
	err = store.Save(ring)
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.ErrorContains(t, err, store.Path())
	assert.ElementsMatch(t, []string{persistence.RingFileName, persistence.SnapshotFileName, persistence.LogFileName},
		dirNames(t, dir), "no temporary file is left on the full disk")

	// Space comes back: the caller appends the failed deltas again.
	require.NoError(t, os.Remove(filler))
	require.NoError(t, store.AppendDeltas(big))
	require.NoError(t, store.AppendDeltas(deltasOf(20, 1)))

	// A restart finds everything acknowledged, and nothing else.
	require.NoError(t, store.Close())
	restarted := openFileStore(t, dir)
	loaded := loadPayload(t, restarted)
	assert.Equal(t, []byte("snapshot before the disk filled"), loaded.Snapshot)
	assertDeltas(t, append(append(acknowledged, big...), deltasOf(20, 1)...), loaded.Deltas)
	assert.Zero(t, loaded.CutBytes)
	saved, err := restarted.Load()
	require.NoError(t, err)
	assert.True(t, proto.Equal(sampleRing(), saved))
}

// A read-only data directory (a read-only mount: root ignores file
// permissions, so chmod would prove nothing). A member can open it and
// read everything, every write fails with an error that says so and names
// the file, and once the disk is writable again the writes succeed and
// nothing durable was lost.
func TestFileStoreReadOnlyDisk(t *testing.T) {
	mnt := mountTinyTmpfs(t, "256k")
	dir := filepath.Join(mnt, "data")
	acknowledged := deltasOf(0, 5)
	store := storeWith(t, dir, []byte("snapshot"), acknowledged)
	require.NoError(t, store.Close())
	// A torn tail, as a crash just before the disk went read-only left it.
	logFile, err := os.OpenFile(store.LogPath(), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = logFile.Write([]byte{42, 0, 0, 0, 1, 2, 3})
	require.NoError(t, err)
	require.NoError(t, logFile.Close())

	// Linux refuses to remount read-only while a file is open for writing,
	// so the store is closed first; a disk that turns read-only under an
	// open log (ext4's errors=remount-ro) fails the write like a full disk.
	remount(t, mnt, "ro")
	readOnly := openFileStore(t, dir)
	ring, err := readOnly.Load()
	require.NoError(t, err)
	assert.True(t, proto.Equal(sampleRing(), ring))
	loaded := loadPayload(t, readOnly)
	assert.Equal(t, []byte("snapshot"), loaded.Snapshot)
	assertDeltas(t, acknowledged, loaded.Deltas)
	assert.Equal(t, int64(7), loaded.CutBytes)
	assert.ErrorContains(t, loaded.CutReason, "not cut yet", "the tail cannot be cut on a read-only disk")

	writes := map[string]struct {
		write func() error
		path  string
	}{
		"append":   {func() error { return readOnly.AppendDeltas(deltasOf(5, 1)) }, readOnly.LogPath()},
		"snapshot": {func() error { return readOnly.SaveSnapshot([]byte("new")) }, readOnly.SnapshotPath()},
		"save":     {func() error { return readOnly.Save(sampleRing()) }, readOnly.Path()},
		"delete":   {readOnly.Delete, readOnly.LogPath()},
	}
	for name, tc := range writes {
		err := tc.write()
		require.ErrorIs(t, err, syscall.EROFS, name)
		assert.ErrorContains(t, err, tc.path, name)
		assert.ErrorContains(t, err, "read-only file system", name)
	}

	// The disk is writable again: the same store goes on, cutting the torn
	// tail before its first write.
	remount(t, mnt, "rw")
	require.NoError(t, readOnly.AppendDeltas(deltasOf(5, 1)))
	require.NoError(t, readOnly.Close())

	restarted := openFileStore(t, dir)
	loaded = loadPayload(t, restarted)
	assert.Equal(t, []byte("snapshot"), loaded.Snapshot)
	assertDeltas(t, deltasOf(0, 6), loaded.Deltas)
	assert.Zero(t, loaded.CutBytes, "the torn tail was cut before the append")
}

// A store cannot be opened on a read-only directory that was never a
// member's: there is no lock file to lock, and creating one fails with an
// error that says why.
func TestNewFileStoreReadOnlyEmptyDirectory(t *testing.T) {
	mnt := mountTinyTmpfs(t, "64k")
	require.NoError(t, os.Mkdir(filepath.Join(mnt, "data"), 0o755))
	remount(t, mnt, "ro")
	_, err := persistence.NewFileStore(filepath.Join(mnt, "data"))
	require.ErrorIs(t, err, syscall.EROFS)
	assert.ErrorContains(t, err, filepath.Join(mnt, "data"))
	assert.False(t, errors.Is(err, persistence.ErrLocked))
}
