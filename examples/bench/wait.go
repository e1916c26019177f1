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
