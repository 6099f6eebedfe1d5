package esl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
	"github.com/callrec/callrec/store"
)

// Tones that identify the parties in recorded WAVs.
const (
	toneCaller   = 440.0
	tone1001     = 700.0
	tone1002     = 900.0
	toneExternal = 1000.0
)

// harness is one callrec call controller (store + esl.Server) and one FreeSWITCH stand-in whose
// dialplan hands calls to it the way fsconf renders it.
type harness struct {
	t       *testing.T
	db      *store.DB
	srv     *Server
	srv2    *Server // the second instance (harnessOptions.instances)
	fs      *fstest.FS
	spool   string
	brand   *store.Brand
	company *store.Company
	ddi     *store.DDI
	u1001   *store.User
	u1002   *store.User
	fsOpts  fstest.Options // what the stand-in was started with (a second one, a FreeSWITCH restart)
}

type harnessOptions struct {
	batchDelay     time.Duration // the store's MaxBatchDelay (default bbolt's 10 ms)
	ddiMode        string
	announcement   string
	consent        string // the DDI's consent (store.ConsentNotice, ConsentPress1)
	onDemand       string
	code           string
	maskCode       string // the company's mask code (key_dtmf)
	tone           string
	serverDown     bool
	noAnswer       bool                // user 1001 rings and never answers
	inbound        bool                // the stand-in accepts inbound ESL (for Node)
	routeAny       bool                // the operator routes every public number to 1001
	planDeadline   time.Duration       // the watchdog (default 2 s)
	commandTimeout time.Duration       // per command (default 2 s)
	recordTemplate string              // sofia record-template (default "${callrec_rec_prefix}${uuid}.wav")
	dialplanEdit   func(string) string // edits the test dialplan before parsing
	fsconfTransfer bool                // the callrec_transfer context as fsconf renders it
	// instances, when set, starts a second Server (h.srv2, logging to logs2) on the same store,
	// both with MarkTaken, and renders the public entry and the transfer context with fsconf for
	// the instances it returns, given the two servers' addresses (several callrec instances).
	instances func(a, b string) []string
	logs2     io.Writer
	// peers, when set with instances, names the two servers (Instance "a" and "b") and gives
	// each the Peers of its index, re-adopting every readoptEvery.
	peers          [2]Peers
	readoptEvery   time.Duration
	oldUserEntries bool           // the user hand-over as rendered before issue 11 (internal/outbound marks)
	country        string         // the company's country (store.Company.Country)
	relativeDirs   bool           // chdir into the harness's dir and give the Server relative SpoolDir/OnDemandPath
	recordPathTail string         // appended to the sofia record-path (e.g. "/": FreeSWITCH then reports "…//file")
	maxConns       int            // Server.MaxConns
	metrics        *Metrics       // Server.Metrics
	health         HealthReporter // Server.Health
	wrapListener   func(net.Listener) net.Listener
	noTranscript   bool                          // the stand-in keeps no transcript (load drills: waitEvent and waitQuiet do not work)
	logs           io.Writer                     // also receives the Server's log (JSON lines)
	wrapStore      func(store.Store) store.Store // what the Server gets as its DB, from the harness's store
	storeTimeout   time.Duration                 // Server.StoreTimeout
}

// testDialplan mirrors what fsconf renders: guarded hand-over entries, then the operator's routes.
const testDialplan = `<include>
<context name="public">
  <extension name="callrec_inbound">
    <condition field="${callrec_seen}" expression="^$"/>
    <condition field="destination_number" expression="^(.+)$">
      <action application="export" data="callrec_seen=true"/>
      <action application="set" data="callrec_direction=inbound"/>
      <action application="set" data="socket_resume=true"/>
      <action application="set" data="hangup_after_bridge=true"/>
      <action application="socket" data="{{ADDR}} async full"/>
      <action application="transfer" data="$1 XML public"/>
    </condition>
  </extension>
  <extension name="ddi_other">
    <condition field="destination_number" expression="^\+34911000000$">
      <action application="transfer" data="1002 XML default"/>
    </condition>
  </extension>
  <extension name="ddi_main">
    <condition field="destination_number" expression="{{MAIN_DDI}}">
      <action application="transfer" data="1001 XML default"/>
    </condition>
  </extension>
</context>
<context name="default">
{{USER_ENTRY}}  <extension name="users">
    <condition field="destination_number" expression="^(10\d\d)$">
      <action application="bridge" data="user/$1"/>
    </condition>
  </extension>
  <extension name="external">
    <condition field="destination_number" expression="^(\+\d+)$">
      <action application="bridge" data="sofia/gateway/carrier/$1"/>
    </condition>
  </extension>
</context>
<context name="callrec_transfer">
  <extension name="callrec_ondemand">
    <condition field="destination_number" expression="^\*(\d{1,3})$">
      <action application="set" data="callrec_seen=true"/>
      <action application="set" data="socket_resume=true"/>
      <action application="socket" data="{{ADDR}} async full"/>
    </condition>
  </extension>
  <extension name="callrec_transfer_default">
    <condition field="${callrec_user_context}" expression="^.+$"/>
    <condition field="destination_number" expression="^(.+)$">
      <action application="set" data="callrec_seen=true"/>
      <action application="blind_transfer_ack" data="true"/>
      <action application="transfer" data="$1 XML ${callrec_user_context}"/>
    </condition>
  </extension>
  <extension name="callrec_transfer_default_context">
    <condition field="destination_number" expression="^(.+)$">
      <action application="set" data="callrec_seen=true"/>
      <action application="blind_transfer_ack" data="true"/>
      <action application="transfer" data="$1 XML default"/>
    </condition>
  </extension>
</context>
</include>`

// userEntry is fsconf's hand-over entry for the calls users place (user_extensions): every call
// marked user, callrec classifies it; the fallback returns into the context the call is in.
const userEntry = `  <extension name="callrec_user">
    <condition field="${callrec_seen}" expression="^$"/>
    <condition field="destination_number" expression="^(.+)$">
      <action application="export" data="callrec_seen=true"/>
      <action application="set" data="callrec_direction=user"/>
      <action application="set" data="callrec_outgoing_ddi=${outbound_caller_id_number}"/>
      <action application="set" data="socket_resume=true"/>
      <action application="set" data="hangup_after_bridge=true"/>
      <action application="socket" data="{{ADDR}} async full"/>
      <action application="transfer" data="$1 XML ${context}"/>
    </condition>
  </extension>
`

// oldUserEntries is what fsconf rendered before issue 11: the global internal_extension_regex
// marked a call internal, anything else outbound. An operator who has not re-rendered still
// runs it.
const oldUserEntries = `  <extension name="callrec_internal">
    <condition field="${callrec_seen}" expression="^$"/>
    <condition field="destination_number" expression="^(\d{2,10})$">
      <action application="export" data="callrec_seen=true"/>
      <action application="set" data="callrec_direction=internal"/>
      <action application="set" data="socket_resume=true"/>
      <action application="set" data="hangup_after_bridge=true"/>
      <action application="socket" data="{{ADDR}} async full"/>
      <action application="transfer" data="$1 XML default"/>
    </condition>
  </extension>
  <extension name="callrec_outbound">
    <condition field="${callrec_seen}" expression="^$"/>
    <condition field="destination_number" expression="^(.+)$">
      <action application="export" data="callrec_seen=true"/>
      <action application="set" data="callrec_direction=outbound"/>
      <action application="set" data="callrec_outgoing_ddi=${outbound_caller_id_number}"/>
      <action application="set" data="socket_resume=true"/>
      <action application="set" data="hangup_after_bridge=true"/>
      <action application="socket" data="{{ADDR}} async full"/>
      <action application="transfer" data="$1 XML default"/>
    </condition>
  </extension>
`

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	if o.ddiMode == "" {
		o.ddiMode = store.RecordInbound
	}
	if o.onDemand == "" {
		o.onDemand = store.OnDemandDisabled
	}
	if o.code == "" {
		o.code = "7"
	}
	if o.commandTimeout == 0 {
		o.commandTimeout = 2 * time.Second
	}
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, dir+"/callrec.db", store.Options{NoSync: true, MaxBatchDelay: o.batchDelay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &harness{t: t, db: db, spool: dir + "/spool"}
	h.brand = &store.Brand{Name: "Brand"}
	must(t, db.CreateBrand(ctx, h.brand))
	h.company = &store.Company{BrandID: h.brand.ID, Name: "Acme", OnDemand: o.onDemand, Country: o.country}
	if o.onDemand != store.OnDemandDisabled {
		h.company.OnDemandCode = o.code
		h.company.MaskCode = o.maskCode
	}
	must(t, db.CreateCompany(ctx, h.company))
	h.ddi = &store.DDI{CompanyID: h.company.ID, Number: "+34911234567", RecordCalls: o.ddiMode, Announcement: o.announcement, Consent: o.consent}
	must(t, db.CreateDDI(ctx, h.ddi))
	h.u1001 = &store.User{CompanyID: h.company.ID, Name: "Ana", Extension: "1001", SIPUser: "1001"}
	must(t, db.CreateUser(ctx, h.u1001))
	h.u1002 = &store.User{CompanyID: h.company.ID, Name: "Bo", Extension: "1002", SIPUser: "1002"}
	must(t, db.CreateUser(ctx, h.u1002))

	spoolArg, onDemandArg := h.spool, dir+"/ondemand"
	if o.relativeDirs {
		t.Chdir(dir)
		spoolArg, onDemandArg = "./spool/", "ondemand//"
	}
	var srvDB store.Store = db
	if o.wrapStore != nil {
		srvDB = o.wrapStore(db)
	}
	h.srv = &Server{
		Addr: "127.0.0.1:0", DB: srvDB, Logger: testLogger(t, o.logs),
		SpoolDir: spoolArg, OnDemandPath: onDemandArg, TransferContext: "callrec_transfer",
		Tone: o.tone, CommandTimeout: o.commandTimeout, HangupDrain: 2 * time.Second, PlanDeadline: o.planDeadline,
		MaxConns: o.maxConns, Health: o.health, wrapListener: o.wrapListener, Metrics: o.metrics,
		StoreTimeout: o.storeTimeout,
	}
	addr := "127.0.0.1:1" // nothing listens: connection refused
	h.srv.MarkTaken = o.instances != nil
	if o.peers[0] != nil {
		h.srv.Instance, h.srv.Peers, h.srv.ReadoptEvery = "a", o.peers[0], o.readoptEvery
	}
	if !o.serverDown {
		must(t, h.srv.Open())
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			h.srv.Close(ctx)
		})
		addr = h.srv.BoundAddr()
	}
	mainDDI := `^\+34911234567$`
	if o.routeAny {
		mainDDI = `^(.+)$`
	}
	entry := userEntry
	if o.oldUserEntries {
		entry = oldUserEntries
	}
	xml := strings.Replace(testDialplan, "{{USER_ENTRY}}", entry, 1)
	xml = strings.NewReplacer("{{ADDR}}", addr, "{{MAIN_DDI}}", mainDDI).Replace(xml)
	if o.fsconfTransfer {
		xml = withRenderedTransferContext(t, xml, addr, dir)
	}
	if o.instances != nil {
		h.srv2 = &Server{
			Addr: "127.0.0.1:0", DB: db, Logger: testLogger(t, o.logs2), MarkTaken: true,
			SpoolDir: spoolArg, OnDemandPath: onDemandArg, TransferContext: "callrec_transfer",
			Tone: o.tone, CommandTimeout: o.commandTimeout, HangupDrain: 2 * time.Second, PlanDeadline: o.planDeadline,
		}
		if o.peers[1] != nil {
			h.srv2.Instance, h.srv2.Peers, h.srv2.ReadoptEvery = "b", o.peers[1], o.readoptEvery
		}
		must(t, h.srv2.Open())
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			h.srv2.Close(ctx)
		})
		xml = withRenderedEntries(t, xml, o.instances(addr, h.srv2.BoundAddr()), dir)
	}
	if o.dialplanEdit != nil {
		xml = o.dialplanEdit(xml)
	}
	if o.recordTemplate == "" {
		o.recordTemplate = "${callrec_rec_prefix}${uuid}.wav"
	}
	h.fsOpts = fstest.Options{
		Profile:  fstest.Profile{Name: "internal", RecordPath: dir + "/ondemand" + o.recordPathTail, RecordTemplate: o.recordTemplate, FireTransferEvents: true},
		Dialplan: fstest.MustParseDialplan([]byte(xml)),
		Phones: map[string]fstest.Phone{
			"1001": {ToneHz: tone1001, NoAnswer: o.noAnswer},
			"1002": {ToneHz: tone1002},
		},
		External:        fstest.External{ToneHz: toneExternal},
		InboundPassword: map[bool]string{true: "ClueCon"}[o.inbound],
		TimeScale:       1,
	}
	if o.noTranscript {
		h.fsOpts.BaseDir = filepath.Join(dir, "freeswitch")
		fs, err := fstest.New(h.fsOpts)
		must(t, err)
		t.Cleanup(fs.Close)
		h.fs = fs
	} else {
		h.fs = fstest.Start(t, h.fsOpts)
	}
	return h
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testLogger logs to the test with CALLREC_TEST_LOG set, and to also (when not nil) always.
func testLogger(t *testing.T, also ...io.Writer) zerolog.Logger {
	var ws []io.Writer
	for _, w := range also {
		if w != nil {
			ws = append(ws, w)
		}
	}
	if os.Getenv("CALLREC_TEST_LOG") != "" {
		ws = append(ws, zerolog.NewTestWriter(t))
	}
	if len(ws) == 0 {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.MultiLevelWriter(ws...)).Level(zerolog.DebugLevel)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitRecordings polls the store until n recordings are in state, and returns them.
func (h *harness) waitRecordings(state string, n int) []*store.Recording {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		recs, err := h.db.RecordingsInState(context.Background(), state, 0)
		must(h.t, err)
		if len(recs) >= n || time.Now().After(deadline) {
			if len(recs) != n {
				states := map[string]int{}
				for _, r := range h.allRecordings() {
					states[r.State+" "+r.Error]++
				}
				h.t.Fatalf("%d recordings in state %s, want %d; all rows by state: %v", len(recs), state, n, states)
			}
			return recs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// allRecordings lists every recording of the harness's company.
func (h *harness) allRecordings() []*store.Recording {
	h.t.Helper()
	var all []*store.Recording
	f := store.RecordingFilter{CompanyID: h.company.ID, Limit: store.MaxListLimit, IncludeDiscarded: true}
	for {
		page, next, err := h.db.ListRecordings(context.Background(), f)
		must(h.t, err)
		all = append(all, page...)
		if next == "" {
			return all
		}
		f.Cursor = next
	}
}

// waitSessions waits until the server follows no call.
func (h *harness) waitSessions() {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for h.srv.LiveSessions() > 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d sessions still live", h.srv.LiveSessions())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// toneProfile measures, per second of the WAV (mixed to mono), which of the given tones are
// present: result[second][tone] is true when that tone's energy is a sizeable share.
func toneProfile(t *testing.T, path string, tones ...float64) []map[float64]bool {
	t.Helper()
	w, err := audio.OpenWAV(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer w.Close()
	rate, ch := w.Info.SampleRate, w.Info.Channels
	var mono []float64
	buf := make([]int16, 4096*ch)
	for {
		n, err := w.ReadSamples(buf)
		for i := 0; i+ch <= n; i += ch {
			var s float64
			for c := 0; c < ch; c++ {
				s += float64(buf[i+c])
			}
			mono = append(mono, s/float64(ch))
		}
		if errors.Is(err, io.EOF) || n == 0 {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var out []map[float64]bool
	for start := 0; start+rate <= len(mono); start += rate {
		win := mono[start : start+rate]
		var total float64
		for _, v := range win {
			total += v * v
		}
		m := map[float64]bool{}
		for _, f := range tones {
			p := goertzel(win, f, float64(rate))
			m[f] = total > 0 && p/total > 0.05
		}
		out = append(out, m)
	}
	return out
}

// goertzel returns the energy of frequency f in x (same scale as sum of squares).
func goertzel(x []float64, f, rate float64) float64 {
	k := 2 * math.Cos(2*math.Pi*f/rate)
	var s1, s2 float64
	for _, v := range x {
		s0 := v + k*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - k*s1*s2
	return 2 * p / float64(len(x))
}

func describeProfile(p []map[float64]bool) string {
	var b strings.Builder
	for i, m := range p {
		fmt.Fprintf(&b, "%ds:", i)
		for f, on := range m {
			if on {
				fmt.Fprintf(&b, " %.0f", f)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func fstestSpec(from, to string) fstest.CallSpec {
	return fstest.CallSpec{From: from, To: to}
}

// waitEvent waits until the stand-in has sent n events named name (on any connection) and
// returns them.
func (h *harness) waitEvent(name string, n int) []*fstest.Event {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got []*fstest.Event
		for _, f := range h.fs.Transcript() {
			if f.Event != nil && f.Event.Name() == name {
				got = append(got, f.Event)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d %s events, want %d", len(got), name, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitQuiet waits until no frame has crossed any ESL connection for a while: every session has
// finished reacting to what happened so far.
func (h *harness) waitQuiet() {
	h.t.Helper()
	last, since := -1, time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for time.Since(since) < 300*time.Millisecond {
		if n := len(h.fs.Transcript()); n != last {
			last, since = n, time.Now()
		}
		if time.Now().After(deadline) {
			h.t.Fatal("the ESL connections never went quiet")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// callAnswered brings a call from `from` to `to` into the stand-in and waits until the leg it
// dials to ext has answered.
func (h *harness) callAnswered(from, to, ext string) (*fstest.Call, *fstest.Leg) {
	h.t.Helper()
	ctx := ctxT(h.t, 30*time.Second)
	call, err := h.fs.Inbound(ctx, fstestSpec(from, to))
	must(h.t, err)
	b, err := call.WaitLeg(ctx, ext)
	must(h.t, err)
	must(h.t, b.WaitAnswer(ctx))
	return call, b
}

// withRenderedTransferContext replaces the test dialplan's callrec_transfer context with the one
// `callrec fsconf` renders for a callrec listening on addr.
// withRenderedEntries replaces the test dialplan's public hand-over entry and its transfer
// context with fsconf's rendering for several callrec instances.
func withRenderedEntries(t *testing.T, xml string, instances []string, dir string) string {
	t.Helper()
	r, err := fsconf.New(fsconf.Options{ESLListen: instances[0], Instances: instances, RecordPath: dir + "/ondemand", InboundPassword: "ClueCon"})
	must(t, err)
	out, err := r.Render()
	must(t, err)
	xml = spliceContext(t, xml, string(out.File(fsconf.TransferFile)), "callrec_transfer")
	public := string(out.File("dialplan/public/00_callrec.xml"))
	from, to := strings.Index(public, `<extension name="callrec_inbound">`), strings.LastIndex(public, "</extension>")
	mine := strings.Index(xml, `<extension name="callrec_inbound">`)
	mineEnd := mine + strings.Index(xml[mine:], "</extension>")
	if from < 0 || to < 0 || mine < 0 {
		t.Fatalf("cannot splice the rendered public entry:\n%s", public)
	}
	return xml[:mine] + public[from:to] + xml[mineEnd:]
}

// spliceContext replaces context name of xml with the context rendered holds.
func spliceContext(t *testing.T, xml, rendered, name string) string {
	t.Helper()
	from, to := strings.Index(rendered, "<context "), strings.LastIndex(rendered, "</context>")
	mine, mineEnd := strings.Index(xml, `<context name="`+name+`">`), strings.LastIndex(xml, "</context>")
	if from < 0 || to < 0 || mine < 0 || mineEnd < mine {
		t.Fatalf("cannot splice the rendered %s context:\n%s", name, rendered)
	}
	return xml[:mine] + rendered[from:to] + xml[mineEnd:]
}

func withRenderedTransferContext(t *testing.T, xml, addr, dir string) string {
	t.Helper()
	r, err := fsconf.New(fsconf.Options{ESLListen: addr, RecordPath: dir + "/ondemand", InboundPassword: "ClueCon"})
	must(t, err)
	out, err := r.Render()
	must(t, err)
	rendered := string(out.File(fsconf.TransferFile))
	from, to := strings.Index(rendered, "<context "), strings.LastIndex(rendered, "</context>")
	mine, mineEnd := strings.Index(xml, `<context name="callrec_transfer">`), strings.LastIndex(xml, "</context>")
	if from < 0 || to < 0 || mine < 0 || mineEnd < mine {
		t.Fatalf("cannot splice the rendered transfer context:\n%s", rendered)
	}
	return xml[:mine] + rendered[from:to] + xml[mineEnd:]
}
