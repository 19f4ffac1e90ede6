// Package changefeed turns a durable, revisioned changelog into live streams
// that are ordered, gap-free and resumable, and in which a slow subscriber
// never holds up a writer or another subscriber.
//
// Writers publish each committed change to a Hub, in commit order (a bbolt
// store puts racing commits back in order with revlog.InOrder). The Hub
// hands each one to every subscriber's bounded buffer without ever waiting:
// a subscriber whose buffer is full is cut off. Follow, which serves one subscriber, then simply
// catches up again from the durable log, where nothing is lost, and rejoins
// the Hub. A subscriber further behind than the log's retention gets an
// explicit resync and a fresh snapshot, never a silent gap.
//
// Revisions increase with every change but not necessarily by one (etcd's
// do not), so nothing here counts on the next revision being last+1: the
// log says what it keeps by its compaction point, and a change follows the
// one before it whatever its revision.
//
// A subscriber's memory is bounded too. Admission caps the streams per API
// key, per connection and in total (Limits). A subscriber that stops
// reading blocks only its own send, where it may hold a whole snapshot;
// its Watchdog ends it after Options.Stall, and it resumes from its
// revision when it reconnects.
package changefeed
