// Package store keeps the deploytracker's state in a bbolt file: the
// deployment of each environment, deploys in progress (their references
// block certificate deletes until they commit or are dropped), and a
// changelog with one entry per committed write.
package store
