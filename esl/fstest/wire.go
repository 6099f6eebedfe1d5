package fstest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxContentLength is FreeSWITCH's MAX_CONTENT_LENGTH for incoming packets (REFERENCE.md §1.1).
const maxContentLength = 16 << 20

// goodbyeBody is the body of the final disconnect notice (REFERENCE.md §1.8, traces/basic).
const goodbyeBody = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"

// Header is one name/value pair of an event, kept in insertion order because
// FreeSWITCH serialises headers in the order they were added.
type Header struct {
	Name, Value string
}

// Event is one FreeSWITCH event as the stand-in fires it. Tests receive copies
// from Transcript and may read but should not modify them.
type Event struct {
	Headers []Header
	Body    string

	index map[string]string // lower-case name -> first value; built when the event is fired
}

// freeze indexes the headers; the event must not change afterwards.
func (e *Event) freeze() {
	e.index = make(map[string]string, len(e.Headers))
	for _, h := range e.Headers {
		k := strings.ToLower(h.Name)
		if _, ok := e.index[k]; !ok {
			e.index[k] = h.Value
		}
	}
}

// getLower looks up a lower-case header name.
func (e *Event) getLower(lname string) (string, bool) {
	if e.index != nil {
		v, ok := e.index[lname]
		return v, ok
	}
	return e.Get(lname)
}

// Get returns the first value of header name (case-insensitive) and whether it exists.
func (e *Event) Get(name string) (string, bool) {
	if e.index != nil {
		v, ok := e.index[strings.ToLower(name)]
		return v, ok
	}
	for _, h := range e.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// Value returns the first value of header name, or "".
func (e *Event) Value(name string) string {
	v, _ := e.Get(name)
	return v
}

// Name returns the Event-Name header ("" for plain events such as bind_digit_action's CHANNEL_DATA).
func (e *Event) Name() string { return e.Value("Event-Name") }

func (e *Event) add(name, value string) { e.Headers = append(e.Headers, Header{name, value}) }

// set replaces the first header called name, or appends it.
func (e *Event) set(name, value string) {
	for i := range e.Headers {
		if strings.EqualFold(e.Headers[i].Name, name) {
			e.Headers[i].Value = value
			return
		}
	}
	e.add(name, value)
}

func (e *Event) clone() *Event {
	c := &Event{Headers: make([]Header, len(e.Headers)), Body: e.Body, index: e.index}
	copy(c.Headers, e.Headers)
	return c
}

// serializePlain lays the event out as switch_event_serialize(…, encode=TRUE) does:
// URL-encoded values, `_undef_` for empty ones, then either "Content-Length: M\n\n<body>"
// or a terminating blank line (REFERENCE.md §1.2).
func (e *Event) serializePlain() []byte {
	n := len(e.Body) + 32
	for _, h := range e.Headers {
		n += len(h.Name) + len(h.Value) + 12
	}
	b := make([]byte, 0, n)
	for _, h := range e.Headers {
		v := h.Value
		if v == "" {
			v = "_undef_"
		}
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = appendURLEncoded(b, v)
		b = append(b, '\n')
	}
	if e.Body != "" {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(e.Body)), 10)
		b = append(b, "\n\n"...)
		b = append(b, e.Body...)
	} else {
		b = append(b, '\n')
	}
	return b
}

const urlUnsafe = "\r\n \"#%&+:;<=>?@[\\]^`{|}"

func needsEncoding(c byte) bool {
	return c < 0x20 || c > 0x7e || strings.IndexByte(urlUnsafe, c) >= 0
}

// appendURLEncoded appends s encoded as switch_url_encode_opt does: bytes below 0x20,
// above 0x7E and in SWITCH_URL_UNSAFE become %XX, but an existing %XX sequence is kept.
func appendURLEncoded(b []byte, s string) []byte {
	const hexdig = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, c)
			continue
		}
		if needsEncoding(c) {
			b = append(b, '%', hexdig[c>>4], hexdig[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// URLEncode encodes a header value as switch_url_encode_opt does (REFERENCE.md §1.2).
// Exported so tests of other packages can build expected frames.
func URLEncode(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if needsEncoding(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return string(appendURLEncoded(make([]byte, 0, len(s)+16), s))
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// frame builders -------------------------------------------------------------------------------

func commandReply(text string, extra ...Header) []byte {
	var b bytes.Buffer
	b.WriteString("Content-Type: command/reply\nReply-Text: ")
	b.WriteString(text)
	b.WriteByte('\n')
	for _, h := range extra {
		fmt.Fprintf(&b, "%s: %s\n", h.Name, h.Value)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func apiResponse(body string) []byte {
	return []byte(fmt.Sprintf("Content-Type: api/response\nContent-Length: %d\n\n%s", len(body), body))
}

func eventFrame(e *Event) []byte {
	body := e.serializePlain()
	head := fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-plain\n\n", len(body))
	out := make([]byte, 0, len(head)+len(body))
	return append(append(out, head...), body...)
}

func lingerNotice(uuid, chanName string, secs int) []byte {
	return []byte(fmt.Sprintf("Content-Type: text/disconnect-notice\nControlled-Session-UUID: %s\nContent-Disposition: linger\nChannel-Name: %s\nLinger-Time: %d\nContent-Length: 0\n\n", uuid, chanName, secs))
}

func disconnectNotice(uuid string) []byte {
	return []byte(fmt.Sprintf("Content-Type: text/disconnect-notice\nControlled-Session-UUID: %s\nContent-Disposition: disconnect\nContent-Length: %d\n\n%s", uuid, len(goodbyeBody), goodbyeBody))
}

// packet reading ---------------------------------------------------------------------------

// packet is one command read from a client: the first line and its headers (values are
// never URL-decoded, names matched case-insensitively), plus an optional body.
type packet struct {
	Command string
	Headers []Header
	Body    string
	Raw     []byte
}

func (p *packet) get(name string) string {
	for _, h := range p.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

var errTooLong = errors.New("fstest: content-length above 16 MiB")

// readPacket reads one packet as read_packet does: leading newlines skipped, header
// lines until a blank line (\n\n or \r\n\r\n), then Content-Length body bytes.
func readPacket(r *bufio.Reader) (*packet, error) {
	p := &packet{}
	var raw bytes.Buffer
	first := true
	for {
		line, err := r.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			if err == io.EOF && raw.Len() > 0 && strings.TrimSpace(raw.String()) != "" {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		l := strings.TrimRight(line, "\r\n")
		if l == "" {
			if first {
				raw.Reset()
				continue // newlines at the start are skipped
			}
			break
		}
		if first {
			p.Command = l
			first = false
			continue
		}
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		p.Headers = append(p.Headers, Header{strings.TrimSpace(name), strings.TrimLeft(val, " ")})
	}
	if cl := p.get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			n = 0
		}
		if n > maxContentLength {
			return nil, errTooLong
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		raw.Write(body)
		p.Body = string(body)
	}
	p.Raw = raw.Bytes()
	return p, nil
}
