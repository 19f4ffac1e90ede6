package h1

import (
	"net"
	"net/netip"
	"strconv"
)

// clientKey is what MaxConnsPerIP counts a connection under: its client's
// IP address, an IPv4 one mapped into IPv6 as IPv4, and for IPv6 the /64
// it is in, since one client commonly has a whole /64 to choose from. ok
// is false for a connection that has no IP address (a Unix socket, a
// pipe), which is not counted.
func clientKey(addr net.Addr) (key netip.Addr, ok bool) {
	ta, isTCP := addr.(*net.TCPAddr)
	if !isTCP {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

// refusedAnswer is what a connection refused at accept is sent.
var refusedAnswer = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\n" +
	"Retry-After: 1\r\n" +
	"Content-Length: " + strconv.Itoa(len(refusedBody)) + "\r\n" +
	"\r\n" + refusedBody)

const refusedBody = "503 Service Unavailable: too many connections\n"

// refuseConn refuses a connection over MaxConns or MaxConnsPerIP, on the
// accept loop's goroutine: it must cost next to nothing and never block.
//
// On a TCP connection it writes a short 503 before closing. The write
// goes to a send buffer that nothing has used yet, so it completes at once
// whatever the client does, and a client that has not yet sent its request
// learns why it is turned away instead of seeing a bare close. One that has
// may get a reset instead (the close finds its request unread), and the
// answer may be lost: avoiding that would mean reading the request, or a
// lingering close, with a goroutine and a timer per refused connection,
// which is what the caps are there to save when the server is
// overwhelmed. On any other connection (TLS, whose Write would start a
// handshake; a pipe, whose Write waits for the reader) it only closes.
func (s *Server) refuseConn(nc net.Conn, reason string) {
	// Counted before the client can see the answer, so that whoever
	// reads the count after the 503 finds it there.
	s.refused(reason)
	if _, ok := nc.(*net.TCPConn); ok {
		nc.Write(refusedAnswer)
	}
	nc.Close()
}
