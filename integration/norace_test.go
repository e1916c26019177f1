//go:build !race

package integration

// raceEnabled tells TestMain to build the member binary with -race too.
const raceEnabled = false
