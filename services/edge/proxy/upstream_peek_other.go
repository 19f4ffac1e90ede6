//go:build !unix

package proxy

// peekStep cannot peek on this platform, so it finds no connection quiet:
// none is used for more than one request, as one that cannot be checked
// may hold a backend's bytes meant for no one (see upConn.quiet).
func (c *upConn) peekStep(uintptr) { c.peek.quiet = false }
