package esl

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"
)

// DialFailure says why an inbound Event Socket could not be used.
type DialFailure int

const (
	// Refused: nothing listens on the address (mod_event_socket not loaded, another port).
	Refused DialFailure = iota + 1
	// Unreachable: no answer within the timeout (wrong host, firewall).
	Unreachable
	// NotEventSocket: something answered that is not mod_event_socket.
	NotEventSocket
	// Denied: mod_event_socket refused the connection by its ACL (text/rude-rejection).
	Denied
	// BadPassword: the password was refused (-ERR invalid).
	BadPassword
)

// DialError is the error of DialProbe.
type DialError struct {
	Addr    string
	Failure DialFailure
	Err     error
}

func (e *DialError) Error() string {
	what := map[DialFailure]string{Refused: "connection refused", Unreachable: "no answer",
		NotEventSocket: "not an event socket", Denied: "denied by the event socket's ACL", BadPassword: "password refused"}[e.Failure]
	return fmt.Sprintf("event socket %s: %s: %v", e.Addr, what, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// ErrNotFound is returned by Probe lookups when FreeSWITCH has no such configuration
// (xml_locate answers "can't find anything").
var ErrNotFound = errors.New("not found in FreeSWITCH's configuration")

// Probe is one inbound Event Socket connection that examines a FreeSWITCH install for
// `callrec doctor`: it reads the loaded configuration and can run a self-test recording. Open it
// with DialProbe and Close it. A Probe is safe for concurrent use, but a self-test at a time.
type Probe struct {
	conn    *eslgo.Conn
	cmd     *commander
	stops   chan *eslgo.Event
	timeout time.Duration
}

// DialProbe connects to the inbound Event Socket at addr and authenticates. timeout bounds the
// connection, the authentication and every later command. It first reads the greeting on a
// plain TCP connection to tell the failures apart, then opens the real connection with eslgo.
// Errors: *DialError.
func DialProbe(ctx context.Context, addr, password string, timeout time.Duration, log zerolog.Logger) (*Probe, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if err := greeting(ctx, addr, timeout); err != nil {
		return nil, err
	}
	opts := eslgo.InboundOptions{
		Options:     eslgo.Options{Context: ctx, Logger: eslLogger{log}, ExitTimeout: timeout},
		Network:     "tcp",
		Password:    password,
		AuthTimeout: timeout,
	}
	conn, _, err := dialInbound(ctx, opts, addr, GuardLimits{}, nil)
	if err != nil {
		// eslgo's doAuth: "failed to auth" when the reply to auth is not +OK (mod_event_socket.c
		// parse_command ~1752 answers -ERR invalid and closes).
		if strings.Contains(err.Error(), "failed to auth") {
			return nil, &DialError{Addr: addr, Failure: BadPassword, Err: err}
		}
		return nil, &DialError{Addr: addr, Failure: Unreachable, Err: err}
	}
	p := &Probe{conn: conn, cmd: &commander{conn: conn, timeout: timeout}, stops: make(chan *eslgo.Event, 16), timeout: timeout}
	conn.RegisterEventListener(eslgo.EventListenAll, func(ev *eslgo.Event) {
		if header(ev, "Event-Name") == "RECORD_STOP" {
			select {
			case p.stops <- ev:
			default:
			}
		}
	})
	if _, err := p.cmd.send(ctx, "event", command.Event{Format: "plain", Listen: []string{"RECORD_STOP"}}); err != nil {
		conn.Close()
		return nil, &DialError{Addr: addr, Failure: NotEventSocket, Err: err}
	}
	return p, nil
}

// greeting connects and reads the first frame: auth/request from mod_event_socket, or its
// text/rude-rejection for an address its ACL refuses (mod_event_socket.c listener_run ~2677,
// ~2720).
func greeting(ctx context.Context, addr string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return &DialError{Addr: addr, Failure: Refused, Err: err}
		}
		return &DialError{Addr: addr, Failure: Unreachable, Err: err}
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(timeout))
	ct, err := guard(nc, GuardLimits{}, nil).greeting() // bounded: the peer may be anything
	if err != nil {
		return &DialError{Addr: addr, Failure: NotEventSocket, Err: fmt.Errorf("no greeting: %w", err)}
	}
	switch ct {
	case "auth/request":
		return nil
	case "text/rude-rejection":
		return &DialError{Addr: addr, Failure: Denied, Err: errors.New("text/rude-rejection")}
	default:
		return &DialError{Addr: addr, Failure: NotEventSocket, Err: fmt.Errorf("greeting Content-Type %q", ct)}
	}
}

// Close ends the connection.
func (p *Probe) Close() { p.cmd.kill(ErrConnDead) }

// API runs one api command; every argument must be free of spaces. A reply starting with '-'
// comes back, trimmed, with an error holding it. Errors: ErrUnsafeValue, ErrConnDead (timeout
// or transport), or the refusal.
func (p *Probe) API(ctx context.Context, cmd string, args ...string) (string, error) {
	for _, a := range append([]string{cmd}, args...) {
		if err := checkArg(a); err != nil {
			return "", fmt.Errorf("api %s: %w", cmd, err)
		}
	}
	resp, err := p.cmd.send(ctx, cmd, command.API{Command: cmd, Arguments: strings.Join(args, " ")})
	if resp == nil {
		return "", err
	}
	// An api/response has no Reply-Text: commander.send judged the body, which is kept here.
	body := strings.TrimSpace(string(resp.Body))
	if strings.HasPrefix(body, "-") {
		return body, fmt.Errorf("api %s: freeswitch: %s", cmd, body)
	}
	return body, nil
}

// locate runs xml_locate <section> <tag> <attr> <value> (mod_commands.c xml_locate_function
// ~1825): the element as XML, or ErrNotFound.
func (p *Probe) locate(ctx context.Context, section, tag, attr, value string) ([]byte, error) {
	out, err := p.API(ctx, "xml_locate", section, tag, attr, value)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(out, "can't find anything") {
		return nil, ErrNotFound
	}
	return []byte(out), nil
}

// Context returns the extensions of dialplan context name as FreeSWITCH has it loaded (after
// its pre-processor and the last reloadxml; through mod_xml_curl when that serves the
// dialplan). Errors: ErrNotFound when there is no such context, the command's errors.
func (p *Probe) Context(ctx context.Context, name string) ([]DialplanExtension, error) {
	b, err := p.locate(ctx, "dialplan", "context", "name", name)
	if err != nil {
		return nil, err
	}
	return ParseDialplanExtensions(b)
}

// SofiaProfileParams returns the settings params of sofia profile name as sofia.conf has them
// loaded, names lower-cased; a repeated param keeps its last value, which is the one sofia.c
// config_sofia applies (it reads them in order). profiles lists every profile name found.
// Errors: ErrNotFound (no sofia.conf, or no such profile), the command's errors.
func (p *Probe) SofiaProfileParams(ctx context.Context, name string) (params map[string]string, profiles []string, err error) {
	b, err := p.locate(ctx, "configuration", "configuration", "name", "sofia.conf")
	if err != nil {
		return nil, nil, err
	}
	var conf struct {
		Profiles []struct {
			Name   string `xml:"name,attr"`
			Params []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"settings>param"`
		} `xml:"profiles>profile"`
	}
	if err := xml.Unmarshal(b, &conf); err != nil {
		return nil, nil, fmt.Errorf("sofia.conf: %w", err)
	}
	for _, pr := range conf.Profiles {
		profiles = append(profiles, pr.Name)
		if !strings.EqualFold(pr.Name, name) {
			continue
		}
		params = map[string]string{}
		for _, prm := range pr.Params {
			params[strings.ToLower(prm.Name)] = prm.Value
		}
	}
	if params == nil {
		return nil, profiles, ErrNotFound
	}
	return params, profiles, nil
}

// SelfTestStep names the step of a self-test recording that failed.
type SelfTestStep string

const (
	StepOriginate   SelfTestStep = "originate"
	StepRecordStart SelfTestStep = "record start"
	StepRecordStop  SelfTestStep = "record stop"
)

// SelfTestError is a self-test recording refused by FreeSWITCH at Step, with its Reply.
type SelfTestError struct {
	Step  SelfTestStep
	Reply string
	Err   error
}

func (e *SelfTestError) Error() string { return fmt.Sprintf("self-test %s: %v", e.Step, e.Err) }
func (e *SelfTestError) Unwrap() error { return e.Err }

// SelfTest is what FreeSWITCH reported about a self-test recording.
type SelfTest struct {
	UUID string
	// Path is Record-File-Path of RECORD_STOP: where FreeSWITCH says it wrote the file.
	Path string
	// Cause is Record-Completion-Cause ("success-…", "uri-failure", …).
	Cause string
	// Samples is record_samples, when FreeSWITCH set it.
	Samples string
}

// SelfTestTone is what the self-test channel plays: 10 s of 800 Hz, so that a channel left by a
// doctor that died ends by itself.
const SelfTestTone = "tone_stream://%(10000,0,800)"

// SelfTestRecording places a call inside FreeSWITCH and records it into path: originate of a
// mod_loopback null channel playing SelfTestTone (mod_loopback.c null_channel_outgoing_channel:
// it answers at once), uuid_record start path, hold for d, uuid_record stop, then the
// RECORD_STOP event, and the channel is killed. path must be absolute and free of spaces.
// Errors: *SelfTestError for a refusal (-ERR CHAN_NOT_IMPLEMENTED without mod_loopback, -ERR
// Cannot record session! when the file cannot be opened), ErrConnDead, ctx's error, or a
// timeout waiting for RECORD_STOP.
func (p *Probe) SelfTestRecording(ctx context.Context, path string, d time.Duration) (SelfTest, error) {
	out, err := p.API(ctx, "originate", "null/callrec-selftest", "&playback("+SelfTestTone+")")
	if err != nil {
		return SelfTest{}, &SelfTestError{Step: StepOriginate, Reply: out, Err: err}
	}
	uuid, ok := strings.CutPrefix(out, "+OK ")
	if !ok || checkArg(uuid) != nil {
		return SelfTest{}, &SelfTestError{Step: StepOriginate, Reply: out, Err: fmt.Errorf("unexpected reply %q", out)}
	}
	defer func() {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
		defer cancel()
		_, _ = p.API(kctx, "uuid_kill", uuid)
	}()
	if out, err := p.API(ctx, "uuid_record", uuid, "start", path); err != nil {
		return SelfTest{UUID: uuid}, &SelfTestError{Step: StepRecordStart, Reply: out, Err: err}
	}
	select {
	case <-ctx.Done():
		return SelfTest{UUID: uuid}, ctx.Err()
	case <-time.After(d):
	}
	if out, err := p.API(ctx, "uuid_record", uuid, "stop", path); err != nil {
		return SelfTest{UUID: uuid}, &SelfTestError{Step: StepRecordStop, Reply: out, Err: err}
	}
	wait := time.NewTimer(p.timeout)
	defer wait.Stop()
	for {
		select {
		case ev := <-p.stops:
			if header(ev, "Unique-ID") != uuid {
				continue
			}
			return SelfTest{UUID: uuid, Path: header(ev, "Record-File-Path"), Cause: header(ev, "Record-Completion-Cause"),
				Samples: header(ev, "variable_record_samples")}, nil
		case <-wait.C:
			return SelfTest{UUID: uuid}, &SelfTestError{Step: StepRecordStop, Err: errors.New("no RECORD_STOP event")}
		case <-ctx.Done():
			return SelfTest{UUID: uuid}, ctx.Err()
		}
	}
}

// DialplanExtension is one <extension> of a dialplan context.
type DialplanExtension struct {
	Name string
	// Canonical lists the extension's attributes, conditions and actions one per line in a
	// fixed form, for comparing an installed extension with a rendered one.
	Canonical string
	// Sockets are the data of its `socket` actions.
	Sockets []string
}

// ParseDialplanExtensions reads the <extension> elements of a context (xml_locate's answer, or
// a rendered file whose root holds extensions or contexts). Whitespace and comments do not
// matter. Errors: malformed XML.
func ParseDialplanExtensions(b []byte) ([]DialplanExtension, error) {
	type action struct {
		XMLName xml.Name
		App     string `xml:"application,attr"`
		Data    string `xml:"data,attr"`
		Inline  string `xml:"inline,attr"`
	}
	type condition struct {
		Field      string   `xml:"field,attr"`
		Expression string   `xml:"expression,attr"`
		Break      string   `xml:"break,attr"`
		Actions    []action `xml:",any"`
	}
	type extension struct {
		Name       string      `xml:"name,attr"`
		Continue   string      `xml:"continue,attr"`
		Conditions []condition `xml:"condition"`
	}
	var out []DialplanExtension
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("dialplan XML: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "extension" {
			continue
		}
		var e extension
		if err := dec.DecodeElement(&e, &se); err != nil {
			return nil, fmt.Errorf("dialplan XML: %w", err)
		}
		var c strings.Builder
		fmt.Fprintf(&c, "extension name=%q continue=%q\n", e.Name, e.Continue)
		x := DialplanExtension{Name: e.Name}
		for _, cond := range e.Conditions {
			fmt.Fprintf(&c, "condition field=%q expression=%q break=%q\n", cond.Field, cond.Expression, cond.Break)
			for _, a := range cond.Actions {
				fmt.Fprintf(&c, "  %s %s %q inline=%q\n", a.XMLName.Local, a.App, a.Data, a.Inline)
				if a.XMLName.Local == "action" && a.App == "socket" {
					x.Sockets = append(x.Sockets, a.Data)
				}
			}
		}
		x.Canonical = c.String()
		out = append(out, x)
	}
}
