// Command cluster runs one member of a ring whose payload is a shared
// PN-counter, for a cluster of terminals or hosts. It reads commands on
// stdin and prints one result line per command, plus event lines as the
// ring changes, on stdout; logs go to stderr. Start a few in separate
// terminals:
//
//	go run ./examples/cluster -listen 127.0.0.1:7001
//	go run ./examples/cluster -listen 127.0.0.1:7002 -peers 127.0.0.1:7001
//	go run ./examples/cluster -listen 127.0.0.1:7003 -peers 127.0.0.1:7001
//
// or, with no AddNode and in any order, let them join by seeds:
//
//	go run ./examples/cluster -listen 127.0.0.1:7001 -seeds 127.0.0.1:7002,127.0.0.1:7003
//	go run ./examples/cluster -listen 127.0.0.1:7002 -seeds 127.0.0.1:7001
//	go run ./examples/cluster -listen 127.0.0.1:7003 -seeds 127.0.0.1:7001
//
// (in Kubernetes, -seed-dns NAME:PORT with a headless service's name);
// then type inc, get, up, all, add ADDR, del ADDR, down ADDR, undown ADDR
// or stop. The protocol is documented in package
// github.com/genserverring/genserverring-go/internal/counternode; run
// with -h for the flags. The program exits 0 after stop, at the end of
// stdin, or on SIGTERM or SIGINT, each time after stopping its ring.
package main

import (
	"os"

	"github.com/genserverring/genserverring-go/internal/counternode"
)

func main() {
	os.Exit(counternode.Main("cluster", os.Args[1:]))
}
