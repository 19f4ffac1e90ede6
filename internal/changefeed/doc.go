// Package changefeed turns a durable, revisioned changelog into live streams
// that are ordered, gap-free and resumable, and in which a slow subscriber
// never holds up a writer or another subscriber.
//
// Writers publish each committed change to a Hub. The Hub puts changes back
// into revision order (commits can finish out of order) and hands each one to
// every subscriber's bounded buffer without ever waiting: a subscriber whose
// buffer is full is cut off. Follow, which serves one subscriber, then simply
// catches up again from the durable log, where nothing is lost, and rejoins
// the Hub. A subscriber further behind than the log's retention gets an
// explicit resync and a fresh snapshot, never a silent gap.
//
// A subscriber's memory is bounded too. Admission caps the streams per API
// key, per connection and in total (Limits). A subscriber that stops
// reading blocks only its own send, where it may hold a whole snapshot;
// its Watchdog ends it after Options.Stall, and it resumes from its
// revision when it reconnects.
package changefeed
