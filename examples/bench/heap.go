package main

import (
	"fmt"
	"os"
	"runtime/metrics"
	"time"
)

// watchHeap ends the process with an error when the heap outgrows limit:
// all members share this process, and a cluster whose queues run away
// would otherwise take the machine with it. It returns a function that
// stops the watch.
func watchHeap(limit uint64) (stop func()) {
	done := make(chan struct{})
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if heap := sample[0].Value.Uint64(); heap > limit {
				fmt.Fprintf(os.Stderr, "bench: FAILED: the heap holds %d MiB, above -max-heap-mib %d; stopping (the tables printed so far stand)\n", heap>>20, limit>>20)
				os.Exit(1)
			}
		}
	}()
	return func() { close(done) }
}
