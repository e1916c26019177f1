// Package integration runs rings of real OS processes on one machine and
// checks what a user of the ring would see: membership, failure detection
// (a killed process, a hung one, a cut network link), rejoin and the
// convergence of the shared payload.
//
// TestMain builds examples/cluster once (with -race when the tests run
// with -race); every test starts its members from that binary, each with
// its own data directory, and drives them through the line protocol of
// internal/counternode. The hostile suite's row of a 5 MB payload needs a
// payload that large, which a counter is not: its members are this test
// binary started again as a member whose payload is a byte string
// (blob_member_test.go), driven the same way. The partition and chaos tests put members in
// network namespaces they create and remove, so they need root and
// iproute2 (ip, and tc for the chaos test's packet loss).
//
// The chaos tests (chaos_test.go) send increments to a ring of 7 members
// while random faults hit it, and check that every acknowledged increment
// is counted once everything is healed. They log their seed; set
// GENSERVERRING_CHAOS_SEED to replay one, and GENSERVERRING_SOAK to a
// duration (e.g. 30m) to run them for that long, with each member's RSS and
// goroutine count logged at the start and the end ("STATS" lines).
// Detection times are logged with t.Logf on lines that start with
// "MEASURE", for go test -v to collect.
//
// A failed test logs the last lines of each member and keeps the full
// output of every member in files, whose directory it logs. Set
// GENSERVERRING_LOGDIR to a directory to keep them for passing tests too,
// and GENSERVERRING_LOG_LEVEL=debug to run the members at debug level
// (the ring's reasons for taking members up and down, and the messages
// its transport drops).
package integration
