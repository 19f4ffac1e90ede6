// Package watch keeps an edge's state in step with certmgr's certificate
// stream and the deploytracker's deployment stream. Each follower resumes
// from the last revision it applied after any disconnect, and when told to
// resync it collects the whole snapshot first and swaps it in at once, so the
// edge never serves from half a snapshot.
package watch
