package fstest

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Direction says which way a frame went.
type Direction int

const (
	// ToFS is a packet the controller sent to the stand-in.
	ToFS Direction = iota
	// FromFS is a frame the stand-in sent to the controller.
	FromFS
)

func (d Direction) String() string {
	if d == ToFS {
		return ">>>"
	}
	return "<<<"
}

// Frame is one packet in the transcript: every frame both ways on every connection.
type Frame struct {
	Conn int    // connection number, 1-based, in order of creation
	Kind string // "outbound" or "inbound"
	Dir  Direction
	At   time.Time // virtual time
	Data []byte    // the exact bytes
	// Event is set on text/event-plain frames the stand-in sent (decoded, unencoded values).
	Event *Event
}

// Command is the first line of a ToFS frame or the Content-Type of a FromFS frame.
func (f Frame) Command() string {
	line, _, _ := strings.Cut(strings.TrimLeft(string(f.Data), "\r\n"), "\n")
	if f.Dir == ToFS {
		return strings.TrimSpace(line)
	}
	for _, l := range strings.Split(string(f.Data), "\n") {
		if v, ok := strings.CutPrefix(l, "Content-Type: "); ok {
			return v
		}
		if l == "" {
			break
		}
	}
	return line
}

type transcript struct {
	mu     sync.Mutex
	keep   bool
	frames []Frame
}

func (t *transcript) add(id int, kind string, dir Direction, at time.Time, data []byte, ev *Event) {
	if !t.keep {
		return
	}
	t.mu.Lock()
	t.frames = append(t.frames, Frame{Conn: id, Kind: kind, Dir: dir, At: at, Data: append([]byte(nil), data...), Event: ev})
	t.mu.Unlock()
}

// Transcript returns every frame so far, both directions, all connections, in the order
// they were written/read.
func (fs *FS) Transcript() []Frame {
	fs.transcript.mu.Lock()
	defer fs.transcript.mu.Unlock()
	return append([]Frame(nil), fs.transcript.frames...)
}

// ConnTranscript returns the frames of the outbound connection(s) that controlled uuid.
func (fs *FS) ConnTranscript(uuid string) []Frame {
	fs.mu.Lock()
	ids := map[int]bool{}
	if l := fs.legs[uuid]; l != nil {
		for _, c := range l.controllers {
			ids[c.id] = true
		}
	}
	fs.mu.Unlock()
	var out []Frame
	for _, f := range fs.Transcript() {
		if ids[f.Conn] {
			out = append(out, f)
		}
	}
	return out
}

// Events returns the events the stand-in sent on connection conn (0 = all connections).
func (fs *FS) Events(conn int) []*Event {
	var out []*Event
	for _, f := range fs.Transcript() {
		if f.Event != nil && (conn == 0 || f.Conn == conn) {
			out = append(out, f.Event)
		}
	}
	return out
}

// DumpTranscript renders the last n frames (all if n <= 0) one line each, events by name,
// for failure messages.
func (fs *FS) DumpTranscript(n int) string {
	fr := fs.Transcript()
	if n > 0 && len(fr) > n {
		fr = fr[len(fr)-n:]
	}
	var b strings.Builder
	b.WriteString("fstest transcript:\n")
	for _, f := range fr {
		desc := f.Command()
		if f.Event != nil {
			desc = fmt.Sprintf("event %s %s uuid=%s", f.Event.Name(), f.Event.Value("Event-Subclass"), f.Event.Value("Unique-ID"))
		} else if f.Dir == FromFS {
			if i := strings.Index(string(f.Data), "Reply-Text: "); i >= 0 {
				line, _, _ := strings.Cut(string(f.Data[i:]), "\n")
				desc += " " + line
			} else if strings.HasPrefix(desc, "api/response") {
				_, body, _ := strings.Cut(string(f.Data), "\n\n")
				desc += " " + strings.TrimSpace(body)
			}
		}
		fmt.Fprintf(&b, "  #%d %s %s %s %s\n", f.Conn, f.Kind, f.At.Format("15:04:05.000"), f.Dir, desc)
	}
	return b.String()
}
