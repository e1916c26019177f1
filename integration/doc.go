// Package integration runs rings of real OS processes on one machine and
// checks what a user of the ring would see: membership, failure detection
// (a killed process, a hung one, a cut network link), rejoin and the
// convergence of the shared payload.
//
// TestMain builds examples/cluster once (with -race when the tests run
// with -race); every test starts its members from that binary, each with
// its own data directory, and drives them through the line protocol of
// examples/counternode. The partition test puts members in network
// namespaces it creates and removes, so it needs root and iproute2.
// Detection times are logged with t.Logf on lines that start with
// "MEASURE", for go test -v to collect.
package integration
