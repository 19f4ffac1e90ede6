// Package webhook tells an account's HTTPS endpoints about its
// certificates: expiring (30, 14, 7 and 1 days before notAfter), expired,
// created, rotated, disabled, enabled and deleted.
//
// # Where events come from
//
// Events are derived from certmgr's changelog with a durable cursor: one
// bbolt transaction of the webhook file (webhooks.db, next to certmgr.db)
// records the deliveries of a batch of changes and moves the cursor past
// them, so a crash either keeps both or neither, and a restart derives the
// same batch again. Expiry is scheduled from the certificates the webhook
// file tracks: each tracked version keeps the smallest threshold already
// announced, written in the transaction that queues the delivery, so a
// restart never announces a threshold twice and a certificate found
// already inside a window is announced once, for the nearest threshold.
//
// # Deliveries
//
// A delivery is claimed in a transaction before it is sent and marked
// delivered, or scheduled again with exponential backoff and jitter, in
// another. A receiver that fails is tried up to MaxAttempts times. The
// file is held by one process (bbolt's lock), so no two processes send the
// same delivery; webhooks are refused on etcd, where several replicas run.
// A crash between sending and recording may send a delivery again after
// the restart: receivers deduplicate by the Certbind-Webhook-Id header.
//
// Receivers are reached through the same egress policy as the edge's
// backends (internal/egress), checked on the address actually dialled;
// redirects are not followed, and a response is read only up to a small
// bound.
package webhook
