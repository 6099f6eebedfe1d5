// eslgo v1.5.2 races on its own responseChannels map when an inbound connection closes (see
// .ci/run): under -race these tests would report the library's race, so .ci/run runs them
// without it, as it runs package esl.

//go:build !race

package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// doctorRig is a running `callrec serve` and what a stand-in needs to look installed for it.
type doctorRig struct {
	dir, httpAddr, eslAddr string
	rendered               fsconf.Output
}

// startServeForDoctor runs callrec serve in-process on free ports for the whole test.
func startServeForDoctor(t *testing.T) *doctorRig {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		// No node: the stand-ins come later, and /readyz is 503 while a configured node is down.
		done <- run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}, []string{"CALLREC_FREESWITCH__NODES="}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
	return (&doctorRig{dir: dir}).at(t, strings.TrimPrefix(base, "http://"), waitForLog(t, &stderr, `"esl":"([^"]+)"`, done))
}

// at is the rig with callrec's listeners at httpAddr and eslAddr, rendered for them.
func (r *doctorRig) at(t *testing.T, httpAddr, eslAddr string) *doctorRig {
	t.Helper()
	c := &doctorRig{dir: r.dir, httpAddr: httpAddr, eslAddr: eslAddr}
	cfg, err := loadConfig(pflag.NewFlagSet("test", pflag.ContinueOnError), c.args(), nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := doctorInstall(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.rendered = in.Rendered
	return c
}

func (r *doctorRig) args() []string {
	return []string{"--data_dir", r.dir, "--http.listen", r.httpAddr, "--esl.listen", r.eslAddr}
}

// installed is the FreeSWITCH side of a correct install: the rendered entries first in their
// contexts, the operator's own routes after them, the transfer context, and the users'
// profile with callrec's params overriding the stock record-template.
type installed struct {
	public, user, transfer bool // callrec's files included
	publicAfterOperator    bool // the include below the operator's extension
	profile                fstest.Profile
}

func (r *doctorRig) correct() installed {
	return installed{public: true, user: true, transfer: true, profile: fstest.Profile{
		Name: "internal", RecordPath: filepath.Join(r.dir, "spool", "ondemand"), RecordTemplate: fsconf.RecordTemplate,
		FireTransferEvents: true, Params: [][2]string{{"record-template", "${caller_id_number}.${strftime(%Y-%m-%d-%H-%M-%S)}.wav"}}}}
}

func (r *doctorRig) dialplan(in installed) *fstest.Dialplan {
	body := func(p string) string {
		s := string(r.rendered.File(p))
		_, s, _ = strings.Cut(s, "<include>")
		s, _, _ = strings.Cut(s, "</include>")
		return s
	}
	operator := "\n    <extension name=\"public_extensions\">\n      <condition field=\"destination_number\" expression=\"^(10[01][0-9])$\">\n" +
		"        <action application=\"transfer\" data=\"$1 XML default\"/>\n      </condition>\n    </extension>\n"
	public := ""
	switch {
	case in.public && in.publicAfterOperator:
		public = operator + body(fsconf.ContextFile("public"))
	case in.public:
		public = body(fsconf.ContextFile("public")) + operator
	default:
		public = operator
	}
	user := operator
	if in.user {
		user = body(fsconf.ContextFile("default")) + operator
	}
	doc := "<document type=\"freeswitch/xml\">\n  <section name=\"dialplan\" description=\"Regex/XML Dialplan\">\n" +
		"  <context name=\"public\">" + public + "  </context>\n  <context name=\"default\">" + user + "  </context>\n"
	if in.transfer {
		doc += body(fsconf.TransferFile)
	}
	doc += "  </section>\n</document>\n"
	return fstest.MustParseDialplan([]byte(doc))
}

// runDoctor runs `callrec doctor` against the stand-in and returns its output and exit code.
func runDoctor(t *testing.T, args []string, nodes string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	env := []string{"CALLREC_FREESWITCH__NODES=" + nodes, "CALLREC_LOG__LEVEL=warn", "CALLREC_LOG__FORMAT=json"}
	err := run(ctx, append([]string{"doctor", "--self-test-for", "200ms"}, args...), env, &stdout, &stderr)
	code := 0
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if err != nil {
		code = 1
	}
	out := stdout.String()
	t.Logf("callrec doctor (exit %d):\n%s%s", code, out, stderr.String())
	return out, code
}

// TestDoctor_CorrectInstall_AllOKAndSelfTestEncoded: against a stand-in installed as INSTALL.md
// says and a running callrec, every check is OK, the self-test WAV FreeSWITCH wrote was read and
// encoded, and nothing is left in the spool or the library.
func TestDoctor_CorrectInstall_AllOKAndSelfTestEncoded(t *testing.T) {
	rig := startServeForDoctor(t)
	fs := fstest.Start(t, fstest.Options{InboundPassword: "ClueCon", Dialplan: rig.dialplan(rig.correct()),
		Profile: rig.correct().profile, TimeScale: 10})
	out, code := runDoctor(t, rig.args(), fs.InboundAddr()+"=ClueCon")
	if code != 0 || !strings.Contains(out, "all checks passed") || strings.Contains(out, "FAIL") {
		t.Fatalf("exit %d, want 0 and no FAIL", code)
	}
	for _, want := range []string{
		`OK    callrec HTTP \(http.listen [^)]+\): running and ready`,
		`OK    callrec event socket listener .*: accepts connections and answers`,
		`OK    node \S+: event socket: answers and authenticates`,
		`OK    node \S+: public context "public": callrec's hand-over entry is first and connects to ` + regexp.QuoteMeta(rig.eslAddr),
		`OK    node \S+: user context "default": callrec's hand-over entry is first`,
		`OK    node \S+: transfer context "callrec_transfer": present`,
		`OK    node \S+: sofia profile "internal": record-template: ` + regexp.QuoteMeta(fsconf.RecordTemplate),
		`OK    node \S+: sofia profile "internal": record-path: `,
		`OK    node \S+: sofia profile "internal": fire-transfer-events: true`,
		`OK    node \S+: self-test recording into \S+: FreeSWITCH wrote (19\d\d|2\d\d\d) ms with audio, callrec's user read it, encoded a [1-9]\d*-byte MP3`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("no line matching %s", want)
		}
	}
	left, _ := filepath.Glob(filepath.Join(rig.dir, "spool", "callrec-selftest-*"))
	lib, _ := filepath.Glob(filepath.Join(rig.dir, "library", ".callrec-doctor-*"))
	if len(left)+len(lib) > 0 {
		t.Errorf("doctor left files behind: %v %v", left, lib)
	}
}

// TestDoctor_EachMistakeNamedWithItsFix: one operator mistake at a time; doctor names it, says
// how to fix it and exits 1.
func TestDoctor_EachMistakeNamedWithItsFix(t *testing.T) {
	rig := startServeForDoctor(t)
	deadAddr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	for _, tc := range []struct {
		name    string
		install func(*installed)
		opts    func(*fstest.Options)
		setup   func(t *testing.T)
		stopped bool // callrec not running: its listeners at addresses nothing listens on
		noNode  bool // nothing listens on the node's address
		pw      string
		want    []string
	}{
		{name: "wrong password", pw: "secret",
			want: []string{`FAIL  node \S+: event socket: wrong password: FreeSWITCH answered -ERR invalid — set freeswitch.nodes\[0\].password`}},
		{name: "event socket not listening", noNode: true,
			want: []string{`FAIL  node \S+: event socket: connection refused: nothing listens on`}},
		{name: "hand-over missing from the public context", install: func(i *installed) { i.public = false },
			want: []string{`FAIL  node \S+: public context "public": callrec's hand-over entry is missing — add <X-PRE-PROCESS cmd="include" data="public/00_callrec.xml"/> as the first line inside <context name="public">.* then fs_cli -x reloadxml`}},
		{name: "hand-over not first in the public context", install: func(i *installed) { i.publicAfterOperator = true },
			want: []string{`FAIL  node \S+: public context "public": callrec's hand-over entry is not first: "public_extensions" come\(s\) before it — move`}},
		{name: "transfer context missing", install: func(i *installed) { i.transfer = false },
			want: []string{`FAIL  node \S+: transfer context "callrec_transfer": FreeSWITCH has no such dialplan context .* — copy dialplan/callrec_transfer.xml`}},
		{name: "profile without callrec's record-template", install: func(i *installed) { i.profile.RecordTemplate = "" },
			want: []string{`FAIL  node \S+: sofia profile "internal": record-template: is "\$\{caller_id_number\}.*", callrec needs "` + regexp.QuoteMeta(fsconf.RecordTemplate) + `" — add <X-PRE-PROCESS cmd="include" data="../callrec/sofia_profile_params.xml"/> as the last line inside <settings> of sip_profiles/internal.xml`}},
		{name: "spool not writable by FreeSWITCH's user",
			opts:  func(o *fstest.Options) { o.Account = &fstest.Account{UID: 4243, GID: 4243, Umask: 0o022} },
			setup: func(t *testing.T) { os.Chmod(filepath.Join(rig.dir, "spool"), 0o750) },
			want:  []string{`FAIL  node \S+: self-test recording into \S+: FreeSWITCH cannot create \S+callrec-selftest-\w+\.wav \(uuid_record: -ERR Cannot record session!\) — make spool_dir writable by FreeSWITCH's user`}},
		{name: "mod_loopback not loaded", opts: func(o *fstest.Options) { o.NoLoopback = true },
			want: []string{`FAIL  node \S+: self-test recording into \S+: FreeSWITCH cannot place the self-test call: originate null/… answered -ERR CHAN_NOT_IMPLEMENTED \(mod_loopback is not loaded\) — load mod_loopback`}},
		{name: "callrec not running", stopped: true,
			want: []string{`FAIL  callrec HTTP \(http.listen \S+\): callrec is not running: no answer on`,
				`FAIL  callrec event socket listener \(esl.listen \S+\): callrec is not running: nothing accepts connections on`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rig := rig
			if tc.stopped {
				rig = rig.at(t, deadAddr(), deadAddr())
			}
			in := rig.correct()
			if tc.install != nil {
				tc.install(&in)
			}
			opts := fstest.Options{InboundPassword: "ClueCon", Dialplan: rig.dialplan(in), Profile: in.profile, TimeScale: 10}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			if tc.setup != nil {
				tc.setup(t)
			}
			fs := fstest.Start(t, opts)
			pw := "ClueCon"
			if tc.pw != "" {
				pw = tc.pw
			}
			nodes := fs.InboundAddr() + "=" + pw
			if tc.noNode {
				nodes = deadAddr() + "=ClueCon"
			}
			out, code := runDoctor(t, rig.args(), nodes)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, want := range tc.want {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("no line matching %s", want)
				}
			}
			if n := strings.Count(out, "FAIL"); n != len(tc.want) {
				t.Errorf("%d FAIL lines, want %d", n, len(tc.want))
			}
		})
	}
}
