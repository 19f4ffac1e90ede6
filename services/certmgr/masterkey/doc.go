// Package masterkey rotates certmgr's master key without downtime, and
// brings the key files and the store back in line at start after a crash.
//
// The key files of a master key file PATH (usually DATA/master.key):
//
//	PATH                the current key; the only file outside a rotation
//	PATH.next           the key a rotation moves to, while it runs
//	PATH.retired-ID     a key a rotation retired, kept for old backups
//
// A rotation goes through these steps; each is durable before the next
// starts, and a crash between any two is finished or undone at the next
// start (Resume), so that every sealed key always opens:
//
//  1. a new key is written to PATH.next (through a temporary file, so the
//     file is whole or absent);
//  2. the store records the next key's check value (store.BeginKeyRotation),
//     and only then does the ring seal new values with it: from here on the
//     store needs both keys, and a start without PATH.next is refused;
//  3. every sealed key, in certificate records and in the changelog, is
//     re-sealed under the next key in small write transactions; records
//     keep their revision and log no change, so edges see nothing new;
//  4. once a transaction finds no value left under the old key, the next
//     key's check value becomes the store's (store.FinishKeyRotation);
//  5. PATH is linked to PATH.retired-ID (ID is the old key's id), then
//     PATH.next is renamed over PATH.
package masterkey
