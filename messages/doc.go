// Package messages holds the protobuf messages of GenServerring for Go:
// the encodings of the CRDTs of package crdt, the gossip and probe messages
// that ring members exchange, the requests a client sends a ring member, and
// the ring state a member keeps on disk.
//
// The generated *.pb.go files are committed, so a build needs no protoc. To
// regenerate them, install Debian's protobuf-compiler and
// google.golang.org/protobuf/cmd/protoc-gen-go, then run go generate.
package messages

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative crdt.proto ring.proto persist.proto security.proto
