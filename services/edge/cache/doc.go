// Package cache keeps an edge's last applied state on its own disk, sealed,
// so that an edge restarted while no replica of the control plane answers
// still serves its deployments with their certificates.
//
// The cache holds what the edge received on both streams, in stream form:
// every certificate's material (private keys included) and every
// deployment, with the revision and epoch each stream reached, which the
// edge resumes from. It is one file, edge-state.cache, in the cache
// directory, written whole and atomically (a temporary file, fsync, rename,
// fsync of the directory) and sealed with AES-256-GCM under a key file of
// the edge's own: the file alone reveals nothing. A file that is damaged,
// truncated, sealed with another key, written for another scope or edge
// key, or larger than the bound is refused as a whole: the edge then
// starts empty, as without a cache, and waits for the control plane.
//
//	c, err := cache.Open(cache.Config{Dir: dir, KeyFile: keyFile, EdgeKey: key})
//	state, err := c.Load() // nil, nil: no cache yet
//	go c.Run(ctx)          // writes what the taps report
package cache
