// Package stream serves a change stream over gRPC: the part that
// certmgr's certificate stream and the deploytracker's deployment stream
// share. It finds the caller and the scope it may watch (one policy for
// both streams), admits the stream (changefeed.Admission), runs
// changefeed.Follow under a changefeed.Watchdog and maps the end of the
// stream to a status. A service supplies a Codec: the scope fields of its
// items and changes, and how each becomes a message.
//
// What a change or snapshot item carries (for certificates, the unsealed
// private key) is built once for every subscriber that sends it at about
// the same time, not once per subscriber: see Shared.
package stream
