package h1

import (
	"bytes"
	"context"
	"net/http"
	"net/url"

	"golang.org/x/net/http/httpguts"

	"github.com/certbind/certbind/services/edge/internal/httpfield"
)

// parsePlainHead parses the request head at the start of b when it is of
// the plain kind nearly every request is, and returns the request and the
// head's length. Plain means: all of the head is in b; the request line is
// "METHOD /target HTTP/1.1" (origin form, visible ASCII only); every field
// line is "Name: value" with a token name and a value of visible ASCII,
// spaces and tabs (no obs-fold, no bare CR or LF, no bytes above 0x7e);
// exactly one Host, not empty and valid; and no field that frames a body
// or that net/http rewrites (Content-Length, Transfer-Encoding, Trailer,
// Pragma). So the request has no body.
//
// For such a head the request is what http.ReadRequest makes of it
// (FuzzPlainHead holds the two to that), in fewer steps and allocations:
// the request, its header map, one string for the whole head (names and
// values are parts of it) and one block of value slices, plus what
// url.ParseRequestURI allocates. ok is false for any other head, which the
// caller reads with http.ReadRequest: the unusual and the malformed take
// net/http's path and get its answers.
func parsePlainHead(ctx context.Context, b []byte) (req *http.Request, n int, ok bool) {
	end := bytes.Index(b, httpfield.HeadEnd)
	if end < 0 {
		return nil, 0, false
	}
	// The lines are checked on b before anything is allocated.
	line, rest, _ := bytes.Cut(b[:end+2], httpfield.CRLF)
	method, target, ok := parseRequestLine(line)
	if !ok {
		return nil, 0, false
	}
	hosts := 0
	fields, ok := httpfield.Fields(rest, func(name, _ []byte) bool {
		switch {
		case httpfield.NameIs(name, "Host"):
			hosts++
		case httpfield.NameIs(name, "Content-Length"), httpfield.NameIs(name, "Transfer-Encoding"),
			httpfield.NameIs(name, "Trailer"), httpfield.NameIs(name, "Pragma"):
			return false
		}
		return true
	})
	if !ok || hosts != 1 {
		return nil, 0, false
	}

	// One string holds the head; every name and value is a part of it.
	head := httpfield.NewHead(b, end)
	sub := head.Part

	u, err := url.ParseRequestURI(sub(target))
	if err != nil {
		return nil, 0, false
	}
	h, host := head.Header(rest, fields, "Host")
	// An empty Host is refused by the server after net/http's parser
	// (see conn.readRequest): it takes that path.
	if host == "" || !httpguts.ValidHostHeader(host) {
		return nil, 0, false
	}
	req = (&http.Request{}).WithContext(ctx)
	req.Method = sub(method)
	req.URL = u
	req.RequestURI = sub(target)
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	req.Header = h
	req.Host = host
	req.Body = http.NoBody
	req.Close = httpguts.HeaderValuesContainsToken(h["Connection"], "close")
	return req, end + len(httpfield.HeadEnd), true
}

// parseRequestLine splits "METHOD /target HTTP/1.1" with a token method
// and a target of visible ASCII in origin form.
func parseRequestLine(line []byte) (method, target []byte, ok bool) {
	method, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(method) == 0 || !httpfield.IsToken(method) {
		return nil, nil, false
	}
	target, version, ok := bytes.Cut(rest, []byte(" "))
	if !ok || string(version) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return nil, nil, false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return nil, nil, false
		}
	}
	return method, target, true
}
