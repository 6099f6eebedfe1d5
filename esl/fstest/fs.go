package fstest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Profile is a sofia profile as far as call recording cares (REFERENCE.md §4, §5).
type Profile struct {
	// Name is the sofia profile name, e.g. "internal"; it appears in Channel-Name.
	Name string
	// RecordPath and RecordTemplate are the profile params record-path / record-template
	// used by INFO `Record: on`. An empty RecordTemplate gives 488 "Recording not enabled".
	RecordPath, RecordTemplate string
	// ConfirmBlindTransfer is the profile param confirm-blind-transfer.
	ConfirmBlindTransfer bool
	// FireTransferEvents is fire-transfer-events: CUSTOM sofia::transferor/transferee.
	FireTransferEvents bool
	// DisableTransfer answers every REFER with 403.
	DisableTransfer bool
	// Params are further <param name value> of the profile's settings, listed before the ones
	// the fields above give (xml_locate shows them; e.g. a stock record-template that a later
	// line overrides). They change no behaviour.
	Params [][2]string
}

// Phone is a far end the stand-in simulates: a registered user (user/<ext>) or the carrier
// behind sofia/gateway/… . Durations are virtual (see Options.TimeScale).
type Phone struct {
	// AnswerAfter is how long the far end rings before it answers.
	AnswerAfter time.Duration
	// ToneHz is the sine the party "speaks" while connected; it identifies the party in WAVs.
	ToneHz float64
	// Reject, when set, is the hangup cause the far end answers with instead of answering
	// (e.g. "USER_BUSY", "CALL_REJECTED").
	Reject string
	// Unregistered makes user/<ext> fail with USER_NOT_REGISTERED.
	Unregistered bool
	// NoAnswer makes the far end ring until the caller gives up (NO_ANSWER after
	// call_timeout, default 60 s virtual).
	NoAnswer bool
	// Domain is the directory domain of a user (multi-tenant switches give each tenant its
	// own): `bridge user/<ext>@<Domain>` reaches it, and its calls come From <ext>@<Domain>.
	// Empty: the stand-in's only domain, reached by any user/<ext>[@…].
	Domain string
	// Context is the directory user's user_context variable (default "default", as in the
	// stock directory): the context its calls start in, and a variable of the legs bridged to it.
	Context string
}

// DefaultUserContext is the user_context of the stock directory's users.
const DefaultUserContext = "default"

// userContext is the directory's user_context of p.
func (p Phone) userContext() string {
	if p.Context != "" {
		return p.Context
	}
	return DefaultUserContext
}

// External describes what sofia/gateway/<gw>/<num> and sofia/<profile>/<num> reach.
type External = Phone

// Options configures a stand-in. The zero value is usable: no dialplan (every call gets
// NO_ROUTE_DESTINATION), no inbound listener, real-time clock.
type Options struct {
	// Profile is the default sofia profile of every call; Profiles adds more by name.
	Profile  Profile
	Profiles []Profile
	// Dialplan is the XML dialplan calls run through (see ParseDialplan). FS.SetDialplan
	// replaces it as an edit of the files does, effective after `reloadxml`.
	Dialplan *Dialplan
	// InboundPassword, when set, starts the inbound ESL listener (InboundAddr).
	InboundPassword string
	// Phones are the users reachable as user/<ext>, keyed by "<ext>" or, for users of a
	// domain (Phone.Domain), "<ext>@<domain>" (one extension may exist in several domains).
	Phones map[string]Phone
	// External is what gateway / profile dial strings reach.
	External External
	// ConnectTimeout is how long an outbound socket waits for `connect`; FreeSWITCH
	// hard-codes 25 s (REFERENCE.md §1.3). Default 25 s.
	ConnectTimeout time.Duration
	// TimeScale makes virtual time run faster than wall time (100 = a 10 s call lasts
	// 100 ms). Default 1. FS.Advance jumps virtual time instantly.
	TimeScale float64
	// Start is the virtual time at start (default 2026-11-24 10:00 UTC).
	Start time.Time
	// Hostname is FreeSWITCH-Hostname (default "vm", as in the traces).
	Hostname string
	// KeepTranscript keeps every frame for Transcript (default true in Start, false in New
	// unless set) — fsload turns it off to save memory.
	KeepTranscript bool
	// CollectStats records controller latencies and failures for FS.Stats (fsload).
	CollectStats bool
	// Probe, when set, is told of every event fired, every event delivered to and every command
	// read from an outbound connection, and each outbound connection's opening and end, with
	// the wall time (a load driver's instruments, bench/driver). It is called with the
	// stand-in's lock held: it must return quickly and must not call the FS.
	Probe func(ProbeEvent)
	// InterceptLatency bounds the wall time a refused blind transfer's transferor takes to run
	// its inline intercept (its own thread leaves CS_PARK and routes): each time a random delay
	// in [0, InterceptLatency). Meanwhile the transferee goes on with its extension, which is
	// what makes `blind_transfer_ack false` lose calls on a real switch. Zero: 40 ms; negative:
	// the intercept is queued at once.
	InterceptLatency time.Duration
	// Account, when set, is the Unix account FreeSWITCH runs as: the stand-in applies its
	// permissions to the recordings it creates and gives them its ownership (see Account).
	Account *Account
	// NoLoopback simulates a FreeSWITCH without mod_loopback: originate of null/… answers
	// -ERR CHAN_NOT_IMPLEMENTED.
	NoLoopback bool
	// BaseDir is FreeSWITCH's base directory (SWITCH_GLOBAL_dirs.base_dir): a relative record
	// path is written under it when no sound_prefix applies, as switch_ivr_record_session_event
	// does. Default: a directory of the stand-in's own (under the test's temp dir with Start, a
	// new temporary directory with New, removed by Close) — never the working directory.
	BaseDir string
	// SoundPrefix is the global variable sound_prefix (the stock vars.xml sets
	// $${sounds_dir}/en/us/callie); a channel variable sound_prefix overrides it. A relative
	// record path is written under it. Empty: unset.
	SoundPrefix string
}

// defaultInterceptLatency: a real FreeSWITCH 1.10.12 logged the transferee's "executed the last
// dialplan instruction" 20 ms after `blind_transfer_ack(false)` and the intercept after that.
const defaultInterceptLatency = 40 * time.Millisecond

// FS is a running FreeSWITCH stand-in. All methods are safe for concurrent use.
type FS struct {
	opts     Options
	clock    *clock
	coreUUID string

	mu sync.Mutex
	// dialplan is what routing hunts in; staged is a dialplan set with SetDialplan and not yet
	// loaded by `reloadxml`.
	dialplan *Dialplan
	staged   *Dialplan
	seq      int64
	legs     map[string]*Leg
	legOrder []*Leg
	conns    map[*conn]struct{}
	connList []*conn
	appLog   map[string][]AppRun
	nextConn int
	closed   bool

	transcript *transcript
	faults     Faults
	stats      Stats

	inboundLn net.Listener
	// inboundAddr stays valid while mod_event_socket is unloaded (eventsocket.go).
	inboundAddr string
	esUnloaded  bool
	ownBase     string // BaseDir New created, removed by Close
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
}

// AppRun is one dialplan or sendmsg application executed on a leg (FS.AppLog).
type AppRun struct {
	App, Data string
	// At is the virtual time the app started.
	At time.Time
}

// ErrClosed is returned by calls on a stand-in that has been closed.
var ErrClosed = errors.New("fstest: stand-in closed")

// Start starts a stand-in for a test and closes it in tb.Cleanup; on failure the cleanup
// logs the last frames of the transcript. It calls tb.Fatal if the inbound listener
// cannot start.
func Start(tb testing.TB, opts Options) *FS {
	tb.Helper()
	opts.KeepTranscript = true
	if opts.BaseDir == "" {
		opts.BaseDir = filepath.Join(tb.TempDir(), "freeswitch")
	}
	fs, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Log(fs.DumpTranscript(60))
		}
		fs.Close()
	})
	return fs
}

// New starts a stand-in outside a test (fsload). The caller must Close it. It fails when the
// inbound listener cannot listen on 127.0.0.1 or the default BaseDir cannot be created.
func New(opts Options) (*FS, error) {
	ownBase := ""
	if opts.BaseDir == "" {
		dir, err := os.MkdirTemp("", "fstest-freeswitch-")
		if err != nil {
			return nil, fmt.Errorf("fstest: base dir: %w", err)
		}
		opts.BaseDir, ownBase = dir, dir
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 25 * time.Second
	}
	if opts.Hostname == "" {
		opts.Hostname = "vm"
	}
	if opts.Profile.Name == "" {
		opts.Profile.Name = "internal"
	}
	ctx, cancel := context.WithCancel(context.Background())
	fs := &FS{
		opts:       opts,
		clock:      newClock(opts.Start, opts.TimeScale),
		coreUUID:   newUUID(),
		dialplan:   opts.Dialplan,
		legs:       map[string]*Leg{},
		conns:      map[*conn]struct{}{},
		appLog:     map[string][]AppRun{},
		transcript: &transcript{keep: opts.KeepTranscript},
		ctx:        ctx,
		cancel:     cancel,
		ownBase:    ownBase,
	}
	if opts.InboundPassword != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			if ownBase != "" {
				os.RemoveAll(ownBase)
			}
			return nil, fmt.Errorf("fstest: inbound listener: %w", err)
		}
		fs.inboundLn = ln
		fs.inboundAddr = ln.Addr().String()
		fs.wg.Add(1)
		go fs.acceptInbound(ln)
	}
	return fs, nil
}

// Close hangs up every leg (NORMAL_CLEARING), closes every connection and the inbound
// listener, and waits for every goroutine of the stand-in to end. Safe to call twice.
func (fs *FS) Close() {
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return
	}
	fs.closed = true
	for _, l := range fs.legOrder {
		l.hangupLocked("NORMAL_CLEARING")
	}
	for c := range fs.conns {
		c.shutdownLocked()
	}
	ln := fs.inboundLn
	fs.mu.Unlock()
	fs.cancel()
	if ln != nil {
		ln.Close()
	}
	fs.wg.Wait()
	if fs.ownBase != "" {
		os.RemoveAll(fs.ownBase)
	}
}

// SetDialplan replaces the dialplan files: like an operator's edit, it takes effect with the
// next `reloadxml` (api reloadxml on any connection, or FS.ReloadXML), and then only for the
// next lookup: a leg already executing an extension keeps that extension's actions (the XML
// dialplan copies them into the caller extension when it routes, mod_dialplan_xml).
func (fs *FS) SetDialplan(dp *Dialplan) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.staged = dp
}

// ReloadXML is `reloadxml`: the dialplan last given to SetDialplan becomes the one routing
// hunts in. It returns FreeSWITCH's answer, "+OK [Success]\n" (mod_commands.c
// reload_xml_function).
func (fs *FS) ReloadXML() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.reloadXMLLocked()
}

func (fs *FS) reloadXMLLocked() string {
	if fs.staged != nil {
		fs.dialplan, fs.staged = fs.staged, nil
	}
	return "+OK [Success]\n"
}

// interceptDelay is one draw of the transferor's intercept latency (Options.InterceptLatency).
func (fs *FS) interceptDelay() time.Duration {
	max := fs.opts.InterceptLatency
	switch {
	case max < 0:
		return 0
	case max == 0:
		max = defaultInterceptLatency
	}
	return mrand.N(max)
}

// laterLocked runs fn under fs.mu after wall time d — work another channel's thread does on its
// own time — unless the stand-in is closed first. With d <= 0 fn runs now. Caller holds fs.mu.
func (fs *FS) laterLocked(d time.Duration, fn func()) {
	if d <= 0 {
		fn()
		return
	}
	if fs.closed {
		return
	}
	fs.wg.Add(1)
	go func() {
		defer fs.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-fs.ctx.Done():
			return
		}
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if !fs.closed {
			fn()
		}
	}()
}

// BaseDir is the stand-in's FreeSWITCH base directory (Options.BaseDir or its default).
func (fs *FS) BaseDir() string { return fs.opts.BaseDir }

// Advance moves the virtual clock forward by d at once: a test can hold a call for
// "10 s" without waiting. Timers already running (AnswerAfter) are not shortened.
func (fs *FS) Advance(d time.Duration) { fs.clock.advance(d) }

// Now is the stand-in's virtual time.
func (fs *FS) Now() time.Time { return fs.clock.Now() }

// InboundAddr is the address of the inbound ESL listener ("" without InboundPassword); it stays
// the same across ReloadEventSocket.
func (fs *FS) InboundAddr() string { return fs.inboundAddr }

// Leg returns the leg with that uuid (also after hangup), or nil.
func (fs *FS) Leg(uuid string) *Leg {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.legs[uuid]
}

// Legs returns every leg ever created, oldest first.
func (fs *FS) Legs() []*Leg {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]*Leg(nil), fs.legOrder...)
}

// AppLog returns the applications executed on leg uuid, in order (dialplan actions and
// sendmsg executes alike).
func (fs *FS) AppLog(uuid string) []AppRun {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]AppRun(nil), fs.appLog[uuid]...)
}

// ActiveConns is the number of ESL connections (outbound and inbound) still open; for
// leak checks after a load run.
func (fs *FS) ActiveConns() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.conns)
}

// phone finds the directory user ext of domain: the key "<ext>@<domain>", else "<ext>" when
// that phone has no domain or this one (switch_xml_locate_user_merged looks users up by id and
// domain).
func (fs *FS) phone(ext, domain string) (Phone, bool) {
	if domain != "" {
		if p, ok := fs.opts.Phones[ext+"@"+domain]; ok {
			return p, true
		}
	}
	p, ok := fs.opts.Phones[ext]
	if ok && p.Domain != "" && domain != "" && p.Domain != domain {
		return Phone{}, false
	}
	return p, ok
}

func (fs *FS) profile(name string) Profile {
	if name == "" || name == fs.opts.Profile.Name {
		return fs.opts.Profile
	}
	for _, p := range fs.opts.Profiles {
		if p.Name == name {
			return p
		}
	}
	return Profile{Name: name}
}

// fireLocked stamps the event with the core headers and a sequence number and offers it
// to every connection. Caller holds fs.mu, which keeps Event-Sequence and delivery order
// identical.
func (fs *FS) fireLocked(ev *Event) {
	fs.seq++
	ev.set("Event-Sequence", fmt.Sprint(fs.seq))
	ev.freeze()
	if fs.opts.Probe != nil {
		fs.probeLocked(ProbeEvent{Kind: ProbeFired, Leg: ev.Value("Unique-ID"), Name: ev.Name()})
	}
	for _, c := range fs.connList {
		c.offerLocked(ev)
	}
	if l := fs.legs[ev.Value("Unique-ID")]; l != nil {
		l.notifyLocked()
	}
}

func (fs *FS) sortedConns() []*conn { return fs.connList }

// rebuildConnListLocked keeps fs.connList (connections in creation order) in step with fs.conns.
func (fs *FS) rebuildConnListLocked() {
	cs := make([]*conn, 0, len(fs.conns))
	for c := range fs.conns {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
	fs.connList = cs
}

// newEventLocked makes an event with the headers switch_event_prep_for_delivery adds.
func (fs *FS) newEventLocked(name, file, fn string, line int) *Event {
	now := fs.clock.Now()
	ev := &Event{}
	ev.add("Event-Name", name)
	ev.add("Core-UUID", fs.coreUUID)
	ev.add("FreeSWITCH-Hostname", fs.opts.Hostname)
	ev.add("FreeSWITCH-Switchname", fs.opts.Hostname)
	ev.add("FreeSWITCH-IPv4", "127.0.0.1")
	ev.add("FreeSWITCH-IPv6", "::1")
	ev.add("Event-Date-Local", now.Format("2006-01-02 15:04:05"))
	ev.add("Event-Date-GMT", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"))
	ev.add("Event-Date-Timestamp", fmt.Sprint(now.UnixMicro()))
	ev.add("Event-Calling-File", file)
	ev.add("Event-Calling-Function", fn)
	ev.add("Event-Calling-Line-Number", fmt.Sprint(line))
	ev.add("Event-Sequence", "0")
	return ev
}

func (fs *FS) logApp(uuid, app, data string) {
	fs.appLog[uuid] = append(fs.appLog[uuid], AppRun{App: app, Data: data, At: fs.clock.Now()})
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1", "enabled", "active", "allow":
		return true
	}
	return false
}
