package fsconf_test

import (
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current rendering")

// testOptions are the options of the golden files: the configuration defaults, with an
// absolute record path.
func testOptions() fsconf.Options {
	return fsconf.Options{
		ESLListen:       "127.0.0.1:8084",
		RecordPath:      "/var/spool/callrec/ondemand",
		InboundPassword: "ClueCon",
	}
}

func mustRender(tb testing.TB, opts fsconf.Options) (*fsconf.Renderer, fsconf.Output) {
	tb.Helper()
	r, err := fsconf.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := r.Render()
	if err != nil {
		tb.Fatal(err)
	}
	return r, out
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./fsconf -run Golden -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from its golden file %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

func TestRender_MatchesGoldenFiles(t *testing.T) {
	_, out := mustRender(t, testOptions())
	wantPaths := []string{
		"dialplan/public/00_callrec.xml",
		"dialplan/default/00_callrec.xml",
		fsconf.TransferFile,
		fsconf.SofiaFile,
		fsconf.EventSocketFile,
		fsconf.InstallFile,
	}
	if len(out.Files) != len(wantPaths) {
		t.Fatalf("rendered %d files, want %d", len(out.Files), len(wantPaths))
	}
	for i, f := range out.Files {
		if f.Path != wantPaths[i] {
			t.Errorf("file %d is %s, want %s", i, f.Path, wantPaths[i])
		}
		t.Run(f.Path, func(t *testing.T) { checkGolden(t, f.Path, f.Data) })
	}
}

// TestRender_TransferContextHandsEveryStarCodeToCallrec: one extension takes every `*` and 1-3
// digits to callrec with socket as its last action (so the extension ends when callrec closes,
// and FreeSWITCH's failure path refuses the transfer); every other destination reaches the
// catch-all, which continues the transfer in the user context. Nothing depends on the store.
func TestRender_TransferContextHandsEveryStarCodeToCallrec(t *testing.T) {
	_, out := mustRender(t, testOptions())
	dp, err := fstest.ParseDialplan(out.File(fsconf.TransferFile))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range dp.Contexts["callrec_transfer"] {
		names = append(names, e.Name)
	}
	if want := "callrec_ondemand,callrec_transfer_continue,callrec_transfer_continue_default"; strings.Join(names, ",") != want {
		t.Fatalf("extensions %v, want %s", names, want)
	}
	for _, tc := range []struct {
		dest     string
		toSocket bool
	}{
		{"*1", true}, {"*12", true}, {"*77", true}, {"*123", true}, {"*000", true},
		{"*1234", false}, {"*", false}, {"*1a", false}, {"**12", false}, {"1002", false}, {"12", false}, {"+34911234567", false},
	} {
		t.Run(tc.dest, func(t *testing.T) {
			acts := dp.Hunt("callrec_transfer", func(f string) string {
				if f == "destination_number" {
					return tc.dest
				}
				return ""
			}, nil)
			if len(acts) == 0 {
				t.Fatal("no route")
			}
			last := acts[len(acts)-1]
			if tc.toSocket {
				if last.App != "socket" || last.Data != "127.0.0.1:8084 async full" {
					t.Errorf("last action %s %s, want socket 127.0.0.1:8084 async full (last, so the extension ends with it)", last.App, last.Data)
				}
				if acts[0].App != "set" || acts[0].Data != "callrec_seen=true" {
					t.Errorf("first action %s %s, want set callrec_seen=true", acts[0].App, acts[0].Data)
				}
				return
			}
			if last.App != "transfer" || last.Data != tc.dest+" XML default" {
				t.Errorf("last action %s %s, want the catch-all's transfer %s XML default", last.App, last.Data, tc.dest)
			}
		})
	}
}

// TestRender_EveryXMLParses: every rendered .xml file is well-formed XML
// (encoding/xml), with the options a hostile operator might try.
func TestRender_EveryXMLParses(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts fsconf.Options
	}{
		{"defaults", testOptions()},
		{"markup in regex and password", func() fsconf.Options {
			o := testOptions()
			o.InboundPassword = `p<a>"s'&w]]>--`
			o.RecordPath = `/var/rec "x" & <y>`
			o.PublicContext, o.TransferContext = "from-trunk", "xfer_1"
			o.UserContexts = []string{"users.acme", "users.globex"}
			return o
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out := mustRender(t, tc.opts)
			docs := map[string][]byte{}
			for _, f := range out.Files {
				if strings.HasSuffix(f.Path, ".xml") {
					docs[f.Path] = f.Data
				}
			}
			if want := 4 + max(1, len(tc.opts.UserContexts)); len(docs) != want {
				t.Fatalf("%d XML documents, want %d", len(docs), want)
			}
			for name, b := range docs {
				var v struct {
					XMLName xml.Name
					Inner   []byte `xml:",innerxml"`
				}
				if err := xml.Unmarshal(b, &v); err != nil {
					t.Errorf("%s does not parse: %v\n%s", name, err, b)
				}
			}
		})
	}
}

// TestRender_ValuesRoundTripThroughEscaping: what FreeSWITCH reads back from the XML is exactly
// the configured value, markup included.
func TestRender_ValuesRoundTripThroughEscaping(t *testing.T) {
	o := testOptions()
	o.InboundPassword = `p<a>"s'&w`
	_, out := mustRender(t, o)

	var es struct {
		Params []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"settings>param"`
	}
	if err := xml.Unmarshal(out.File(fsconf.EventSocketFile), &es); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range es.Params {
		got[p.Name] = p.Value
	}
	for k, want := range map[string]string{"listen-ip": "127.0.0.1", "listen-port": "8021", "password": o.InboundPassword, "apply-inbound-acl": "loopback.auto"} {
		if got[k] != want {
			t.Errorf("event_socket %s = %q, want %q", k, got[k], want)
		}
	}
}

// mustParseInContext parses the bare extensions of a public/user file as FreeSWITCH sees them
// after the include: inside <context name=...>.
func mustParseInContext(tb testing.TB, context string, file []byte) *fstest.Dialplan {
	tb.Helper()
	s := string(file)
	s = strings.Replace(s, "<include>", `<include><context name="`+context+`">`, 1)
	s = strings.Replace(s, "</include>", "</context></include>", 1)
	dp, err := fstest.ParseDialplan([]byte(s))
	if err != nil {
		tb.Fatal(err)
	}
	return dp
}

func TestNew_RefusesInvalidOptionsNamingTheKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*fsconf.Options)
		wantKey string
	}{
		{"listen without port", func(o *fsconf.Options) { o.ESLListen = "127.0.0.1" }, "esl.listen"},
		{"listen with space", func(o *fsconf.Options) { o.ESLListen = "127.0.0.1:8084 async" }, "esl.listen"},
		{"listen port zero", func(o *fsconf.Options) { o.ESLListen = "127.0.0.1:0" }, "esl.listen"},
		{"listen ipv6", func(o *fsconf.Options) { o.ESLListen = "[::1]:8084" }, "esl.listen"},
		{"listen host with markup", func(o *fsconf.Options) { o.ESLListen = "a<b:8084" }, "esl.listen"},
		{"public context with quote", func(o *fsconf.Options) { o.PublicContext = `pub"lic` }, "freeswitch.public_context"},
		{"user context with space", func(o *fsconf.Options) { o.UserContexts = []string{"de fault"} }, "freeswitch.user_contexts"},
		{"user context dot-dot", func(o *fsconf.Options) { o.UserContexts = []string{"a.example", ".."} }, "freeswitch.user_contexts"},
		{"user context twice", func(o *fsconf.Options) { o.UserContexts = []string{"a.example", "a.example"} }, "freeswitch.user_contexts"},
		{"transfer context XML", func(o *fsconf.Options) { o.TransferContext = "x</context>" }, "esl.transfer_context"},
		{"transfer context equals user context", func(o *fsconf.Options) { o.TransferContext = "default" }, "esl.transfer_context"},
		{"user context equals public", func(o *fsconf.Options) { o.UserContexts = []string{"public"} }, "freeswitch.user_contexts"},
		{"record path relative", func(o *fsconf.Options) { o.RecordPath = "data/spool" }, "freeswitch.record_path"},
		{"record path empty", func(o *fsconf.Options) { o.RecordPath = "" }, "freeswitch.record_path"},
		{"record path with variable", func(o *fsconf.Options) { o.RecordPath = "/x/${system(rm)}" }, "freeswitch.record_path"},
		{"password empty", func(o *fsconf.Options) { o.InboundPassword = "" }, "freeswitch.inbound_password"},
		{"password with CR", func(o *fsconf.Options) { o.InboundPassword = "a\rb" }, "freeswitch.inbound_password"},
		{"password with preprocessor variable", func(o *fsconf.Options) { o.InboundPassword = "$${x}" }, "freeswitch.inbound_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions()
			tc.mutate(&o)
			_, err := fsconf.New(o)
			var oe *fsconf.OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("New error = %v, want *OptionError", err)
			}
			if oe.Key != tc.wantKey {
				t.Errorf("error names %q, want %q (%v)", oe.Key, tc.wantKey, err)
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("message %q does not name the key", err)
			}
		})
	}
}

func TestNew_FillsDefaultsForEmptyOptions(t *testing.T) {
	r, err := fsconf.New(fsconf.Options{RecordPath: "/r", InboundPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	o := r.Options()
	if o.ESLListen != "127.0.0.1:8084" || o.PublicContext != "public" || len(o.UserContexts) != 1 || o.UserContexts[0] != "default" ||
		o.TransferContext != "callrec_transfer" {
		t.Errorf("defaults not filled: %+v", o)
	}
}

func waitFor(tb testing.TB, cond func() bool, what string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOutput_CheckReportsMissingAndChangedFiles(t *testing.T) {
	_, out := mustRender(t, testOptions())
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "operator.xml"), []byte("<x/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	drift, err := out.Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(drift) != len(out.Files)-1 {
		t.Fatalf("empty dir: %d drifts, want %d (every configuration file missing, INSTALL.md not counted)", len(drift), len(out.Files)-1)
	}
	if err := out.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	if drift, err := out.Check(dir); err != nil || len(drift) != 0 {
		t.Fatalf("after WriteDir: drift %v, err %v; want none (other files ignored)", drift, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dialplan", "callrec_transfer.xml"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "INSTALL.md")); err != nil {
		t.Fatal(err)
	}
	drift, err = out.Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, d := range drift {
		got = append(got, d.String())
	}
	// INSTALL.md is not a file FreeSWITCH loads: missing or different, it is no drift.
	want := "dialplan/callrec_transfer.xml: differs"
	if strings.Join(got, ",") != want {
		t.Errorf("drift = %v, want %s", got, want)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", ".callrec-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}
