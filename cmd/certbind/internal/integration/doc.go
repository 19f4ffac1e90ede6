// Package integration is the home of the tests that run more than one
// service in one process: each service's own tests start only that
// service, so no service module needs another to build its tests. The
// CLI module already depends on every service, which makes it the natural
// place for tests that do.
//
// The tests live in the subpackages, one per service under test:
// deploytracker (the deploytracker's API against a real certmgr) and
// edgewatch (the edge's followers against a real certmgr and
// deploytracker). They use real servers on loopback and real bbolt files.
//
// This package's own tests hold the line: with go list and go mod edit
// they check that no service package, tests included, imports another
// service, that no service's go.mod names another service's module, that
// the edge, tests included, depends on neither bbolt nor go-pkcs12, and
// that no binary (tests excluded) carries the embedded etcd server.
package integration
