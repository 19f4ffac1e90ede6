// Package deploytracker holds the deploytracker's API tests: each starts a
// real certmgr and a real deploytracker, with their own bbolt files, on
// loopback gRPC, since the deploytracker checks every key and certificate
// reference with certmgr.
package deploytracker
