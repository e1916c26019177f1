// Package ringuser is a module of its own that uses the library as an
// application does: its go.mod requires the library with nothing but a
// replace pointing at this repository, so it builds against the
// dependencies users get (upstream Proto.Actor as served), not the
// repository's own build. Its test runs a three-member ring of real
// processes and matches the library's sentinel errors with errors.Is, in
// this process and across processes. The repository's integration tests
// run it (TestExternalModule).
package ringuser
