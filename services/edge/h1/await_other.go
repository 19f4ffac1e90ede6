//go:build !unix

package h1

// pending cannot look at the socket on this platform: a wait that fell
// back is taken to have missed a request.
func (a *awaitState) pending() bool { return true }
