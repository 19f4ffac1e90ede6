// Package store keeps the deploytracker's state in a bbolt file: the
// deployment of each environment, deploys in progress (their references
// block certificate deletes until they commit or are dropped), and a
// changelog with one entry per committed write.
//
// The rest of the deploytracker reaches the store through interfaces of
// its own (deploy.Deployments, api.DeploymentFeed), which another backend
// can implement; storetest holds any backend to the rules they rely on.
// What only a bbolt file has stays here, behind optional interfaces:
// Backup and Restamp (a file copy and its new epoch, api.BackupSource) and
// the scans for verify (deploy.Scanner).
package store
