package esl

import (
	"bytes"
	"net/url"
)

// plainEvent is one text/event-plain event as the guard read it off the wire: the body of the
// frame, a block of `Key: URL-encoded value` lines (switch_event.c switch_event_serialize), kept
// as bytes and read on demand.
//
// Why not eslgo's Event: eslgo parses every event into a canonicalised net/textproto MIME map
// (one string per header, ~100 headers an event) and hands it to each listener in a goroutine of
// its own, so events race and must be re-sequenced (ESLGO.md "event order"). A Session reads a
// handful of headers per event; the guard already holds the frame, in wire order, which is
// FreeSWITCH's order for the connection. Issue 13 measured eslgo's parse as the largest part of
// callrec's CPU per call.
type plainEvent struct {
	raw []byte // the event's header block (and inner body, unused); owned by the event
}

// GetHeader returns the first value of the header name, URL-decoded; "" when it is absent or
// does not decode. Keys match without regard to case, as eslgo's canonicalised lookup does
// (textproto.CanonicalMIMEHeaderKey of two keys is equal exactly when they are equal ignoring
// ASCII case), and the value is decoded as eslgo's Event.GetHeader does (url.PathUnescape: `+`
// stays `+`).
func (e *plainEvent) GetHeader(name string) string {
	v, ok := e.lookup(name)
	if !ok {
		return ""
	}
	if bytes.IndexByte(v, '%') < 0 {
		return string(v)
	}
	s, err := url.PathUnescape(string(v))
	if err != nil {
		return ""
	}
	return s
}

// lookup finds the raw value of name in the header block.
func (e *plainEvent) lookup(name string) ([]byte, bool) {
	rest := e.raw
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return nil, false // the end of the header block: what follows is the inner body
		}
		if len(line) <= len(name) || line[len(name)] != ':' || !equalFoldASCII(line[:len(name)], name) {
			continue
		}
		return bytes.Trim(line[len(name)+1:], " \t"), true
	}
	return nil, false
}

// equalFoldASCII reports whether b and s are equal ignoring ASCII case.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || (x|0x20) < 'a' || (x|0x20) > 'z' {
			return false
		}
	}
	return true
}
