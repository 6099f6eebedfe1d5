package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
	"github.com/callrec/callrec/store"
)

// demoCommand is `callrec demo`: callrec serve on a throw-away store (a temporary directory,
// removed on exit unless --keep), wired to the FreeSWITCH stand-in (esl/fstest) running the
// dialplan `callrec fsconf` renders, with a seeded tenant and one call of each kind placed, so the
// page shows playable MP3s at once. It prints the page's URL and a token per role on stdout and
// serves until ctx ends (Ctrl-C). Errors: bad flags (exit 2), serve's own errors, a stand-in or
// tenant that cannot be set up; a call that fails is reported on stdout and the demo goes on.
func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	fset.SetOutput(stderr)
	keep := fset.Bool("keep", false, "keep the demo's directory (store, library, configuration) on exit")
	listen := fset.String("http.listen", "127.0.0.1:8080", "address of the page and API")
	level := fset.String("log.level", "warn", "callrec's log level (info: one line per call decision)")
	if err := fset.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	if fset.NArg() != 0 {
		return &exitError{code: 2, err: errors.New("usage: callrec demo [--keep] [--http.listen ADDR] [--log.level LEVEL]")}
	}
	dir, err := os.MkdirTemp("", "callrec-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if *keep {
		fmt.Fprintf(stdout, "callrec demo: directory %s (kept on exit)\n", dir)
	} else {
		defer os.RemoveAll(dir)
		fmt.Fprintf(stdout, "callrec demo: directory %s (removed on exit; --keep keeps it)\n", dir)
	}
	d := &demo{dir: dir, stdout: stdout, watch: newDemoWatch()}
	if err := d.startFreeSWITCH(); err != nil {
		return err
	}
	defer d.fs.Close()
	cfgPath, err := d.writeConfig(*listen, *level)
	if err != nil {
		return err
	}
	return d.run(ctx, []string{"--config", cfgPath}, stdout, stderr)
}

// demo is one run of `callrec demo`: its directory, the stand-in and the tenant it seeded.
type demo struct {
	dir               string
	stdout            io.Writer
	fs                *fstest.FS
	watch             *demoWatch
	fsPassword        string
	platform          string // the platform admin token (bootstrap_token)
	recordPath        string
	api               *demoAPI
	tenant            demoTenant
	expectedRecording int
}

// The stand-in's parties: each sends its own tone, so every voice in an MP3 can be told apart.
var demoPhones = map[string]fstest.Phone{
	"1001": {ToneHz: 700},  // Ana, Acme
	"1002": {ToneHz: 900},  // Bo, Acme
	"2001": {ToneHz: 1200}, // Carla, Globex
}

const demoExternalHz = 1000 // the carrier's far end on outbound calls

// startFreeSWITCH starts the stand-in with its inbound event socket (callrec's freeswitch.nodes)
// and the sofia profile fsconf's parameters describe; the dialplan comes once callrec listens.
func (d *demo) startFreeSWITCH() error {
	pw, err := randomHex(12)
	if err != nil {
		return err
	}
	d.fsPassword = pw
	d.recordPath = filepath.Join(d.dir, "data", "spool", "ondemand")
	fs, err := fstest.New(fstest.Options{
		// fsconf's sofia parameters: record-path, record-template, fire-transfer-events.
		Profile: fstest.Profile{Name: "internal", RecordPath: d.recordPath, RecordTemplate: fsconf.RecordTemplate,
			FireTransferEvents: true},
		InboundPassword: pw,
		Phones:          demoPhones,
		External:        fstest.External{ToneHz: demoExternalHz},
		BaseDir:         filepath.Join(d.dir, "freeswitch"),
		Start:           time.Now().UTC(),
		Probe:           d.watch.probe,
	})
	if err != nil {
		return fmt.Errorf("demo: FreeSWITCH stand-in: %w", err)
	}
	d.fs = fs
	return nil
}

// writeConfig writes the callrec.yaml serve runs on: everything under the demo's directory, the
// ESL listener on a free port, the stand-in as the one FreeSWITCH node, and a platform token the
// demo knows (it seeds the tenant through the API with it).
func (d *demo) writeConfig(listen, level string) (string, error) {
	secret, _, err := store.NewTokenSecret()
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	d.platform = secret
	q := strconv.Quote
	yaml := strings.Join([]string{
		"# Written by `callrec demo`.",
		"data_dir: " + q(filepath.Join(d.dir, "data")),
		"bootstrap_token: " + q(secret),
		"http:",
		"  listen: " + q(listen),
		"esl:",
		"  listen: \"127.0.0.1:0\"",
		"freeswitch:",
		"  inbound_password: " + q(d.fsPassword),
		"  record_path: " + q(d.recordPath),
		"  nodes:",
		"    - addr: " + q(d.fs.InboundAddr()),
		"log:",
		"  level: " + q(level),
		"",
	}, "\n")
	path := filepath.Join(d.dir, "callrec.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return path, nil
}

// run starts serve in-process on serveArgs, installs the rendered dialplan into the stand-in,
// seeds the tenant, places the calls, prints what to open, and returns when serve does.
func (d *demo) run(ctx context.Context, serveArgs []string, stdout, stderr io.Writer) error {
	type bound struct{ http, esl string }
	ready := make(chan bound, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveNotify(ctx, serveArgs, nil, stdout, stderr, func(h, e string) { ready <- bound{h, e} })
	}()
	var b bound
	select {
	case b = <-ready:
	case err := <-done:
		return err
	}
	// The calls stop as soon as serve does (Ctrl-C, or a part of callrec failed for good).
	work, stopWork := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { err := <-done; stopWork(); served <- err }()
	started := time.Now()
	if err := d.prepare(work, serveArgs, b.http, b.esl); err != nil {
		fmt.Fprintf(stdout, "callrec demo: %v\n", err)
	} else if d.placeCalls(work) {
		d.report(work, b.http, started)
	}
	return <-served
}

// prepare installs the dialplan and seeds the tenant.
func (d *demo) prepare(ctx context.Context, serveArgs []string, httpURL, eslAddr string) error {
	if err := d.installDialplan(serveArgs, eslAddr); err != nil {
		return err
	}
	d.api = newDemoAPI(httpURL+"/api/v1", d.platform)
	t, err := seedTenant(ctx, d.api, d.stdout)
	if err != nil {
		return fmt.Errorf("seed the tenant: %w", err)
	}
	d.tenant = t
	return nil
}

// installDialplan renders the FreeSWITCH configuration from serve's own configuration, as
// `callrec fsconf` does, with the ESL address serve bound, and loads it into the stand-in the
// way INSTALL.md says (callrec's files first in their contexts, the operator's routes after
// them), then `reloadxml`.
func (d *demo) installDialplan(serveArgs []string, eslAddr string) error {
	cfg, err := loadConfig(pflag.NewFlagSet("demo-fsconf", pflag.ContinueOnError), serveArgs, nil)
	if err != nil {
		return err
	}
	opts, err := fsconfOptions(cfg)
	if err != nil {
		return err
	}
	opts.ESLListen = eslAddr
	r, err := fsconf.New(opts)
	if err != nil {
		return err
	}
	out, err := r.Render()
	if err != nil {
		return err
	}
	dp, err := fstest.ParseDialplan(out.InstalledDialplan(demoOperatorRoutes))
	if err != nil {
		return fmt.Errorf("rendered dialplan: %w", err)
	}
	d.fs.SetDialplan(dp)
	if got := d.fs.ReloadXML(); !strings.HasPrefix(got, "+OK") {
		return fmt.Errorf("reloadxml: %s", got)
	}
	return nil
}

// demoOperatorRoutes is the operator's own dialplan after callrec's entries: each DDI rings its
// user, users dial each other by extension, anything in international form leaves through the
// carrier gateway.
var demoOperatorRoutes = map[string]string{
	"public": demoRoute("acme_main", `^\+3491123456[78]$`, "user/1001") +
		demoRoute("acme_sales", `^\+34911234569$`, "user/1002") +
		demoRoute("globex", `^\+3493100000[12]$`, "user/2001"),
	"default": demoRoute("users", `^([12]00\d)$`, "user/$1") +
		demoRoute("carrier", `^(\+\d+)$`, "sofia/gateway/carrier/$1"),
}

func demoRoute(name, expr, dial string) string {
	return `<extension name="` + name + `"><condition field="destination_number" expression="` + expr + `">` +
		`<action application="bridge" data="` + dial + `"/></condition></extension>`
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// demoCall is one call the demo places: what it shows, whether a recording is expected, and
// the call itself, driven as the phones and the carrier would.
type demoCall struct {
	kind, route string
	recorded    bool
	place       func(d *demo, ctx context.Context) error
}

// demoTalk is how long each call talks (virtual time: the stand-in's clock jumps, so the demo
// does not wait for it).
const demoTalk = 6 * time.Second

var demoCalls = []demoCall{
	{"inbound DDI", "+34600111222 → Acme +34911234567 (record inbound) → Ana 1001", true, func(d *demo, ctx context.Context) error {
		return d.inboundDDI(ctx, fstest.CallSpec{From: "+34600111222", To: "+34911234567", ToneHz: 440}, "1001")
	}},
	{"outbound DDI", "Ana 1001 as Acme +34911234568 (record outbound) → +34600999888", true, (*demo).outboundDDI},
	{"Record key", "+34600222333 → Acme +34911234569 → Bo 1002 presses Record (SIP INFO) on, then off", true, (*demo).recordKey},
	{"DTMF code", "+34600333444 → Acme +34911234568 → Ana 1001 types *7, then *7 again", true, (*demo).dtmfCode},
	{"inbound DDI", "+34600444555 → Globex +34931000001 (record all, announcement) → Carla 2001", true, func(d *demo, ctx context.Context) error {
		return d.inboundDDI(ctx, fstest.CallSpec{From: "+34600444555", To: "+34931000001", ToneHz: 520}, "2001")
	}},
	{"frustrated transfer", "+34600555666 → Globex +34931000002 → Carla 2001 transfers to *8 (refused, so recording), then *8 again", true, (*demo).frustratedTransfer},
	{"unrecorded", "+34600777888 → Globex +34931000002 (record none) → Carla 2001, nobody asks", false, (*demo).unrecorded},
}

// placeCalls places every demo call in turn and says how each went; false when ctx ended.
func (d *demo) placeCalls(ctx context.Context) bool {
	fmt.Fprintln(d.stdout, "callrec demo: placing calls through the FreeSWITCH stand-in:")
	for _, c := range demoCalls {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.place(d, cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return false
		case err != nil:
			fmt.Fprintf(d.stdout, "  FAILED  %-19s %s: %v\n", c.kind, c.route, err)
		case c.recorded:
			d.expectedRecording++
			fmt.Fprintf(d.stdout, "  ok      %-19s %s\n", c.kind, c.route)
		default:
			fmt.Fprintf(d.stdout, "  ok      %-19s %s (no recording)\n", c.kind, c.route)
		}
	}
	return true
}

// inboundDDI: a carrier call to a recorded DDI, answered by ext; callrec records the caller's leg
// from answer to hangup.
func (d *demo) inboundDDI(ctx context.Context, spec fstest.CallSpec, ext string) error {
	starts := d.watch.count("RECORD_START")
	call, _, err := d.answeredByUser(ctx, spec, ext)
	if err != nil {
		return err
	}
	if err := d.watch.wait(ctx, "RECORD_START", starts); err != nil {
		return err
	}
	return d.talkAndHangUp(ctx, call.A)
}

// outboundDDI: Ana calls out with Acme's outbound DDI as caller id; callrec records the carrier
// leg from its answer.
func (d *demo) outboundDDI(ctx context.Context) error {
	starts := d.watch.count("RECORD_START")
	call, err := d.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: "+34600999888",
		Vars: map[string]string{"outbound_caller_id_number": "+34911234568"}})
	if err != nil {
		return err
	}
	carrier, err := call.WaitAnswered(ctx, "+34600999888")
	if err != nil {
		return err
	}
	if err := followed(ctx, carrier); err != nil {
		return err
	}
	if err := d.watch.wait(ctx, "RECORD_START", starts); err != nil {
		return err
	}
	return d.talkAndHangUp(ctx, call.A)
}

// recordKey: Bo's phone sends INFO Record: on, later off; FreeSWITCH records natively into
// record_path under the prefix callrec set on his leg.
func (d *demo) recordKey(ctx context.Context) error {
	call, user, err := d.answeredByUser(ctx, fstest.CallSpec{From: "+34600222333", To: "+34911234569", ToneHz: 480}, "1002")
	if err != nil {
		return err
	}
	starts, stops := d.watch.count("RECORD_START"), d.watch.count("RECORD_STOP")
	if st, reason := user.SendInfoRecord(true); st != 200 {
		return fmt.Errorf("INFO Record: on answered %d %s", st, reason)
	}
	if err := d.watch.wait(ctx, "RECORD_START", starts); err != nil {
		return err
	}
	d.fs.Advance(demoTalk)
	if st, reason := user.SendInfoRecord(false); st != 200 {
		return fmt.Errorf("INFO Record: off answered %d %s", st, reason)
	}
	if err := d.watch.wait(ctx, "RECORD_STOP", stops); err != nil {
		return err
	}
	return d.talkAndHangUp(ctx, call.A)
}

// dtmfCode: Ana types Acme's code *7 (key_dtmf company) to start and again to stop; callrec
// reads her leg's DTMF events and runs uuid_record.
func (d *demo) dtmfCode(ctx context.Context) error {
	call, user, err := d.answeredByUser(ctx, fstest.CallSpec{From: "+34600333444", To: "+34911234568", ToneHz: 560}, "1001")
	if err != nil {
		return err
	}
	starts, stops := d.watch.count("RECORD_START"), d.watch.count("RECORD_STOP")
	user.SendDTMF("*7")
	if err := d.watch.wait(ctx, "RECORD_START", starts); err != nil {
		return err
	}
	d.fs.Advance(demoTalk)
	user.SendDTMF("*7")
	if err := d.watch.wait(ctx, "RECORD_STOP", stops); err != nil {
		return err
	}
	return d.talkAndHangUp(ctx, call.A)
}

// frustratedTransfer: Carla blind-transfers the caller to *8, Globex's code; callrec toggles her
// recording and lets the transfer fail, so FreeSWITCH re-joins the parties (NOTIFY 403).
func (d *demo) frustratedTransfer(ctx context.Context) error {
	call, user, err := d.answeredByUser(ctx, fstest.CallSpec{From: "+34600555666", To: "+34931000002", ToneHz: 600}, "2001")
	if err != nil {
		return err
	}
	for i, ev := range []string{"RECORD_START", "RECORD_STOP"} {
		seen, ends := d.watch.count(ev), d.watch.count("end")
		refer := user.BlindTransfer("*8")
		if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
			return fmt.Errorf("transfer to *8: NOTIFY %d %v, want 403 (refused, the parties re-joined)", st, err)
		}
		if _, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.Hungup || s.PeerUUID == user.UUID() }); err != nil || call.A.State().Hungup {
			return fmt.Errorf("caller not re-joined with Carla after *8: %v", err)
		}
		if err := d.watch.wait(ctx, ev, seen); err != nil {
			return err
		}
		// The transfer extension's connection to callrec has ended before the next REFER.
		if err := d.watch.wait(ctx, "end", ends); err != nil {
			return err
		}
		if i == 0 {
			d.fs.Advance(demoTalk)
		}
	}
	return d.talkAndHangUp(ctx, call.A)
}

// unrecorded: a call to a DDI that records nothing, where nobody asks: callrec hands it on and
// writes nothing.
func (d *demo) unrecorded(ctx context.Context) error {
	call, _, err := d.answeredByUser(ctx, fstest.CallSpec{From: "+34600777888", To: "+34931000002", ToneHz: 640}, "2001")
	if err != nil {
		return err
	}
	return d.talkAndHangUp(ctx, call.A)
}

// answeredByUser places an inbound call answered by ext and waits until callrec follows the
// user's leg.
func (d *demo) answeredByUser(ctx context.Context, spec fstest.CallSpec, ext string) (*fstest.Call, *fstest.Leg, error) {
	call, err := d.fs.Inbound(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	user, err := call.WaitAnswered(ctx, ext)
	if err != nil {
		return nil, nil, err
	}
	if err := followed(ctx, user); err != nil {
		return nil, nil, err
	}
	return call, user, nil
}

// followed waits until callrec has set its on-demand variables on the bridged leg
// (force_transfer_context is the last; both demo companies allow transfers), so the call is not
// hung up under callrec's feet.
func followed(ctx context.Context, leg *fstest.Leg) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for leg.Var("force_transfer_context") == "" {
		select {
		case <-ctx.Done():
			return fmt.Errorf("callrec never followed leg %s: %w", leg.Name(), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// talkAndHangUp lets the call talk for demoTalk, then leg hangs up; it returns once every leg
// of the call is gone.
func (d *demo) talkAndHangUp(ctx context.Context, leg *fstest.Leg) error {
	d.fs.Advance(demoTalk)
	leg.Hangup("NORMAL_CLEARING")
	for _, l := range d.fs.Legs() {
		if _, err := l.WaitHangup(ctx); err != nil {
			return err
		}
	}
	return nil
}

// report waits (up to a minute) until the expected recordings are ready, then prints the page,
// the tokens and what each sees.
func (d *demo) report(ctx context.Context, httpURL string, started time.Time) {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ready, err := 0, error(nil)
	for wctx.Err() == nil {
		if ready, err = d.api.countRecordings(wctx, "ready"); err == nil && ready >= d.expectedRecording {
			break
		}
		select {
		case <-wctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	if ctx.Err() != nil {
		return
	}
	failed, _ := d.api.countRecordings(ctx, "failed")
	w := d.stdout
	fmt.Fprintf(w, "callrec demo: tokens (sign in on the page with one; each sees only its own tenancy):\n")
	fmt.Fprintf(w, "  %-13s %-20s %s\n      sees: %s\n", "platform", "platform admin", d.platform, "everything, every brand")
	for _, t := range d.tenant.tokens {
		fmt.Fprintf(w, "  %-13s %-20s %s\n      sees: %s\n", t.role, t.name, t.secret, t.sees)
	}
	if ready < d.expectedRecording || failed > 0 {
		fmt.Fprintf(w, "callrec demo: %d of %d recordings ready, %d failed (--log.level info tells why)\n", ready, d.expectedRecording, failed)
	}
	fmt.Fprintf(w, "callrec demo: ready: %d recordings ready in %.1fs; open %s/ and sign in with a token (Ctrl-C stops)\n",
		ready, time.Since(started).Seconds(), httpURL)
}
