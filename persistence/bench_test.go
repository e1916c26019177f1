//go:build linux

package persistence_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// The payload log's costs, next to the disk's physical limit. Run with
//
//	go test -run '^$' -bench . -count 5 ./persistence/
//
// on the disk the members will use (the benchmarks write in the test's
// temporary directory: set TMPDIR to measure another disk).

// BenchmarkDiskFdatasync is the raw rate of the disk: write 64 bytes and
// fdatasync them, in a loop. "append" writes at the end of the file, as the
// log does (each sync also commits the file's new size); "overwrite"
// rewrites the same 64 bytes (data only), the best any log on this disk
// could do. No log commits more often than this; group commit is how it
// commits more deltas.
func BenchmarkDiskFdatasync(b *testing.B) {
	for _, mode := range []string{"append", "overwrite"} {
		b.Run(mode, func(b *testing.B) {
			file, err := os.Create(filepath.Join(b.TempDir(), "raw"))
			require.NoError(b, err)
			b.Cleanup(func() { _ = file.Close() })
			record := make([]byte, 64)
			var offset int64
			for b.Loop() {
				if _, err := file.WriteAt(record, offset); err != nil {
					b.Fatal(err)
				}
				if err := syscall.Fdatasync(int(file.Fd())); err != nil {
					b.Fatal(err)
				}
				if mode == "append" {
					offset += int64(len(record))
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
		})
	}
}

// BenchmarkAppendDeltas appends 64-byte deltas, 1 or 64 per call (one
// sync per call: the group commit of a batch of mailbox messages).
func BenchmarkAppendDeltas(b *testing.B) {
	for _, perCall := range []int{1, 64} {
		b.Run(fmt.Sprintf("deltas=%d", perCall), func(b *testing.B) {
			store := newFileStore(b)
			batch := make([][]byte, perCall)
			for i := range batch {
				batch[i] = make([]byte, 64)
			}
			b.SetBytes(int64(perCall * 64))
			b.ReportAllocs()
			for b.Loop() {
				if err := store.AppendDeltas(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perCall)/b.Elapsed().Seconds(), "deltas/s")
		})
	}
}

// BenchmarkLoadPayload reads back a log of 10,000 64-byte deltas: the log
// part of a member's start.
func BenchmarkLoadPayload(b *testing.B) {
	const records = 10_000
	store := newFileStore(b)
	deltas := make([][]byte, records)
	for i := range deltas {
		deltas[i] = make([]byte, 64)
	}
	require.NoError(b, store.AppendDeltas(deltas))
	b.ReportAllocs()
	for b.Loop() {
		loaded, err := store.LoadPayload()
		if err != nil || len(loaded.Deltas) != records {
			b.Fatal(err, len(loaded.Deltas))
		}
	}
	b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
}
