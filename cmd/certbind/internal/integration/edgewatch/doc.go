// Package edgewatch holds the tests of the edge's followers
// (services/edge/watch): they follow a real certmgr and a real
// deploytracker on loopback, across restarts, restores and damaged records.
package edgewatch
