//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package persistence

import "os"

// lockDir takes no lock on this platform (no flock(2)): two members started
// on one data directory are not refused here, and must be kept apart by
// their configuration.
func lockDir(string) (*os.File, error) { return nil, nil }
