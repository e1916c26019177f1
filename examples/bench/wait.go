package main

import (
	"fmt"
	"time"
)

// pollEvery is how often a wait checks its condition: the figures it
// bounds are read from timestamps taken where things happen, so polling
// only decides when the bench moves on.
const pollEvery = 2 * time.Millisecond

// await checks cond until it holds or timeout passes.
func await(what string, timeout time.Duration, cond func() bool) error {
	end := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(end) {
			return fmt.Errorf("%s: not reached within %v", what, timeout)
		}
		time.Sleep(pollEvery)
	}
	return nil
}

// awaitArrivals waits until each of n other members has seen a change made
// at start (seenBy(i) is its arrival time, zero until then) and returns the
// time from start to the last arrival. The ring and both peers measure
// dissemination with it, so the figures mean the same thing.
func awaitArrivals(what string, timeout time.Duration, start time.Time, n int, seenBy func(i int) time.Time) (time.Duration, error) {
	var last time.Time
	missing := 0
	err := await(what, timeout, func() bool {
		last, missing = time.Time{}, 0
		for i := range n {
			seen := seenBy(i)
			if seen.IsZero() {
				missing++
			}
			last = later(last, seen)
		}
		return missing == 0
	})
	if err != nil {
		return 0, fmt.Errorf("%w: %d of %d other members lack it", err, missing, n)
	}
	return last.Sub(start), nil
}
