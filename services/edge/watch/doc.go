// Package watch keeps an edge's state in step with certmgr's certificate
// stream and the deploytracker's deployment stream. Both streams follow one
// protocol, and one follower (follower.go) follows either: each stream's
// file only converts its items and applies its changes. A follower resumes
// from the last revision it applied after any disconnect, and when told to
// resync it collects the whole snapshot first and swaps it in at once, so
// the edge never serves from half a snapshot. Revisions must increase, not
// necessarily by one; an event that does not move the stream forward is a
// protocol error, and the follower reconnects and resumes (order.go).
package watch
