// Package webhook tells an account's HTTPS endpoints about its
// certificates: expiring (30, 14, 7 and 1 days before notAfter), expired,
// created, rotated, disabled, enabled and deleted.
//
// # Where events come from
//
// Events are derived from certmgr's changelog with a durable cursor: one
// transaction of the webhook records (webhooks.db next to certmgr.db, or
// etcd under certmgr's prefix: see kv.go and kvetcd.go) records the
// deliveries of a batch of changes and moves the cursor past them, so a
// crash either keeps both or neither, and a restart derives the same batch
// again. Expiry is scheduled from the certificates the webhook
// file tracks: each tracked version keeps the smallest threshold already
// announced, written in the transaction that queues the delivery, so a
// restart never announces a threshold twice and a certificate found
// already inside a window is announced once, for the nearest threshold.
//
// # Deliveries
//
// A delivery is claimed in a transaction before it is sent and marked
// delivered, or scheduled again with exponential backoff and jitter, in
// another. A receiver that fails is tried up to MaxAttempts times, and
// once per pass. The bbolt file is held by one process (bbolt's lock). On
// etcd, where several replicas run, they elect one to make the passes
// (leader.go), every write of a pass checks that it still leads, and a
// new leader leaves the deliveries the old one claimed until their claim
// runs out; so no two replicas send the same delivery. A crash (or a
// leader lost) between sending and recording may send a delivery again:
// receivers deduplicate by the Certbind-Webhook-Id header.
//
// # Transactions on etcd
//
// A transaction reads at one etcd revision, sees its own writes, and
// commits in one etcd Txn guarded by one serial key that every webhook
// write also writes, so any two conflict and the loser runs its function
// again: update's functions start from scratch each run. etcd bounds a
// Txn's operations (--max-txn-ops, 128 by default), so the loops that can
// write much stop when the transaction is full and go on in the next.
//
// Receivers are reached through the same egress policy as the edge's
// backends (internal/egress), checked on the address actually dialled;
// redirects are not followed, and a response is read only up to a small
// bound.
package webhook
