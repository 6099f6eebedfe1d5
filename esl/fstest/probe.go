package fstest

import "time"

// ProbeKind says what a ProbeEvent reports.
type ProbeKind int

const (
	// ProbeFired is an event the stand-in fired (CHANNEL_ANSWER, RECORD_START …), whether or not
	// any connection receives it.
	ProbeFired ProbeKind = iota
	// ProbeDelivered is an event queued on an outbound connection for its controller.
	ProbeDelivered
	// ProbeCommand is a command a controller sent on an outbound connection (Name is its first
	// line, e.g. "api uuid_record <uuid> start <path>").
	ProbeCommand
	// ProbeOpen is an outbound connection the socket application has just dialled.
	ProbeOpen
	// ProbeEnd is the end of an outbound connection's reader: the controller sent `exit`,
	// closed the socket, or the stand-in closed it.
	ProbeEnd
)

// ProbeEvent is one observation of Options.Probe. Leg is the event's Unique-ID, or for a
// connection the leg it controls; At is wall time.
type ProbeEvent struct {
	Kind ProbeKind
	Conn int // outbound connection number (0 for ProbeFired)
	Leg  string
	Name string
	At   time.Time
}

// probeLocked reports e to Options.Probe, if set. Caller holds fs.mu.
func (fs *FS) probeLocked(e ProbeEvent) {
	if fs.opts.Probe == nil {
		return
	}
	e.At = time.Now()
	fs.opts.Probe(e)
}

// connProbeLocked reports an observation of outbound connection c.
func (c *conn) probeLocked(kind ProbeKind, name string) {
	if !c.outbound || c.fs.opts.Probe == nil {
		return
	}
	leg := ""
	if c.leg != nil {
		leg = c.leg.uuid
	}
	c.fs.probeLocked(ProbeEvent{Kind: kind, Conn: c.id, Leg: leg, Name: name})
}
