package httpfield

import "testing"

func TestFraming(t *testing.T) {
	tests := []struct {
		name   string
		head   string
		cl, te bool
	}{
		{"neither", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, false},
		{"both", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", true, true},
		{"any case", "POST / HTTP/1.1\r\ncontent-LENGTH: 3\r\nTRANSFER-encoding: chunked\r\n\r\n", true, true},
		{"bare LF", "POST / HTTP/1.1\nHost: a\nContent-Length: 3\nTransfer-Encoding: chunked\n\n", true, true},
		{"empty values", "POST / HTTP/1.0\r\nContent-Length:\r\nTransfer-Encoding:\r\n\r\n", true, true},
		{"only Transfer-Encoding", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", false, true},
		{"names in values", "GET / HTTP/1.1\r\nX: Content-Length: 3\r\nY: Transfer-Encoding: chunked\r\n\r\n", false, false},
		// A folded line continues the value before it.
		{"folded line", "GET / HTTP/1.1\r\nX: a\r\n Content-Length: 3\r\n\tTransfer-Encoding: chunked\r\n\r\n", false, false},
		// The head ends at the first empty line; a bare LF ends a line.
		{"fields in the body", "POST / HTTP/1.1\r\nHost: a\r\n\r\nContent-Length: 3\r\nTransfer-Encoding: x\r\n", false, false},
		{"LF CR LF ends the head", "POST / HTTP/1.1\r\nHost: a\n\r\nContent-Length: 3\r\n\r\n", false, false},
		{"prefixed names", "GET / HTTP/1.1\r\nX-Content-Length: 3\r\nTransfer-Encodings: x\r\n\r\n", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, te, complete := Framing([]byte(tt.head))
			if cl != tt.cl || te != tt.te || !complete {
				t.Errorf("Framing = %v, %v, %v; want %v, %v, true", cl, te, complete, tt.cl, tt.te)
			}
		})
	}
}

// TestFramingIncompleteHead: a head that has not all come tells nothing,
// however many of its fields have.
func TestFramingIncompleteHead(t *testing.T) {
	for _, head := range []string{
		"",
		"HTTP/1.1 200 OK",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r",
	} {
		if cl, te, complete := Framing([]byte(head)); cl || te || complete {
			t.Errorf("Framing(%q) = %v, %v, %v; want all false", head, cl, te, complete)
		}
	}
}
