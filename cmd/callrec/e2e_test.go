package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// TestServe_EndToEnd_InboundDDICallBecomesAPlayableMP3 runs the whole product: `callrec serve`
// in-process, configured through its API, the FreeSWITCH configuration rendered by fsconf and
// loaded into the stand-in, one inbound call to a recorded DDI, and the MP3 served by the API.
func TestServe_EndToEnd_InboundDDICallBecomesAPlayableMP3(t *testing.T) {
	dir := t.TempDir()
	srv := startServe(t, "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json")
	api := srv.api
	brand := api.create("brands", map[string]any{"name": "Brand"})
	company := api.create("companies", map[string]any{"brand_id": brand, "name": "Acme"})
	ddi := api.create("ddis", map[string]any{"company_id": company, "number": "+34 911 234 567", "record_calls": "inbound"})
	api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})

	fs := renderedFreeSWITCH(t, fsconf.Options{ESLListen: srv.esl, RecordPath: filepath.Join(dir, "ondemand"), InboundPassword: "ClueCon"},
		operatorBridge(`^\+34911234567$`, "1001"), fstest.Options{Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}}})

	rec := placeRecordedInboundCall(t, fs, api, "+34911234567", 3*time.Second)
	if rec.DDIID != ddi || rec.DurationMS < 2900 || rec.DurationMS > 3600 || !strings.HasSuffix(rec.FileName, "_ddi-+34911234567_+34600111222_+34911234567.mp3") {
		t.Fatalf("recording %+v", rec)
	}
	if d := api.playableMP3(rec.ID, rec.FileName); d < 2900*time.Millisecond || d > 3700*time.Millisecond {
		t.Fatalf("MP3 duration %v", d)
	}

	resp, err := http.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`callrec_calls_total{decision="record_inbound"} 1`,
		`callrec_recordings_total{event="started",type="ddi"} 1`,
		`callrec_recordings_total{event="stopped",type="ddi"} 1`,
		`callrec_esl_command_seconds_count{command="uuid_record",outcome="ok"} 1`,
		`callrec_live_sessions 0`,
		`callrec_library_queue_depth 0`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestServe_EndToEnd_READMEDefaultsRecordFromAFreshDirectory: `callrec serve` on its built-in
// defaults (data_dir ./data, so every directory relative to where it runs; only the two listen
// addresses moved to free ports) started in a new directory, the FreeSWITCH configuration
// rendered by fsconf from the same configuration, and a stand-in whose base dir is elsewhere, as
// a real FreeSWITCH's is. An automatic DDI recording and a Record key recording (INFO Record:
// on/off) both end ready with a playable MP3: FreeSWITCH writes a relative path under its own
// sound_prefix / base dir (switch_ivr_record_session_event), so callrec must hand it absolute ones.
func TestServe_EndToEnd_READMEDefaultsRecordFromAFreshDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	args := []string{"--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0"}
	srv := startServe(t, args...)
	api := srv.api
	brand := api.create("brands", map[string]any{"name": "Brand"})
	company := api.create("companies", map[string]any{"brand_id": brand, "name": "Acme", "on_demand": "key", "on_demand_code": "12"})
	api.create("ddis", map[string]any{"company_id": company, "number": "+34 911 234 567", "record_calls": "inbound"})
	api.create("ddis", map[string]any{"company_id": company, "number": "+34 911 234 568", "record_calls": "none"})
	api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})

	// What `callrec fsconf --out DIR` renders with the same (default) configuration.
	cfg, err := loadConfig(pflag.NewFlagSet("fsconf", pflag.ContinueOnError), args, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := fsconfOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts.ESLListen = srv.esl // the port serve picked for 127.0.0.1:0
	fs := renderedFreeSWITCH(t, opts, operatorBridge(`^\+3491123456[78]$`, "1001"),
		fstest.Options{Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}}})
	if dir := fs.BaseDir(); strings.HasPrefix(dir, mustGetwd(t)) {
		t.Fatalf("the stand-in's base dir %s is under callrec's working directory", dir)
	}

	ddiRec := placeRecordedInboundCall(t, fs, api, "+34911234567", 3*time.Second)
	if ddiRec.Type != "ddi" {
		t.Fatalf("recording %+v", ddiRec)
	}
	if d := api.playableMP3(ddiRec.ID, ddiRec.FileName); d < 2900*time.Millisecond || d > 3700*time.Millisecond {
		t.Fatalf("DDI recording: MP3 duration %v", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "+34911234568"})
	if err != nil {
		t.Fatal(err)
	}
	user, err := call.WaitAnswered(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	// callrec follows the user's leg (its events, callrec_rec_prefix) once it is bridged; the
	// transfer context is the last thing it sets there.
	waitUntil(t, func() bool { return user.Var("force_transfer_context") != "" }, "callrec following the user's leg")
	if st, reason := user.SendInfoRecord(true); st != 200 {
		t.Fatalf("INFO Record: on answered %d %s", st, reason)
	}
	waitUntil(t, func() bool { return api.countRecordings("recording") == 1 }, "Record key recording booked")
	fs.Advance(2 * time.Second)
	if st, reason := user.SendInfoRecord(false); st != 200 {
		t.Fatalf("INFO Record: off answered %d %s", st, reason)
	}
	keyRec := api.waitRecording(func(r recordingView) bool { return r.ID != ddiRec.ID && r.State == "ready" }, "Record key recording ready")
	call.A.Hangup("NORMAL_CLEARING")
	if keyRec.Type != "ondemand" || keyRec.Trigger != "key" {
		t.Fatalf("recording %+v", keyRec)
	}
	if d := api.playableMP3(keyRec.ID, keyRec.FileName); d < 1900*time.Millisecond || d > 2700*time.Millisecond {
		t.Fatalf("Record key recording: MP3 duration %v", d)
	}
}

// servedCallrec is a `callrec serve` running in-process for one test, stopped (and its exit
// checked) by the test's cleanup.
type servedCallrec struct {
	base, esl string // http://host:port and the ESL listener's host:port
	api       *apiClient
}

// startServe runs `callrec serve args…` (JSON logs are parsed for the bound addresses, so args
// must not choose the console format) and signs the API client in with the printed token.
func startServe(t *testing.T, args ...string) *servedCallrec {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), nil, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := waitForLog(t, stderr, `"http":"(http://[^"]+)"`, done)
	eslAddr := waitForLog(t, stderr, `"esl":"([^"]+)"`, done)
	token := regexp.MustCompile(`crt_\S+`).FindString(stdout.String())
	return &servedCallrec{base: base, esl: eslAddr, api: &apiClient{t: t, base: base + "/api/v1", token: token}}
}

// operatorBridge is the operator's own public extension: numbers matching expr ring user/ext.
func operatorBridge(expr, ext string) string {
	return `<extension name="operator_ddi"><condition field="destination_number" expression="` + expr + `">` +
		`<action application="bridge" data="user/` + ext + `"/></condition></extension>`
}

// renderedFreeSWITCH renders the FreeSWITCH configuration with fsconf and starts the stand-in
// on it, as an operator installs it: the hand-over entries first in the public and default
// contexts (operator's public extensions after them), the transfer context, and the users'
// sofia profile with fsconf's record-path and record-template. base supplies the rest of the
// stand-in's options.
func renderedFreeSWITCH(t *testing.T, opts fsconf.Options, operator string, base fstest.Options) *fstest.FS {
	t.Helper()
	r, err := fsconf.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	doc := out.InstalledDialplan(map[string]string{"public": operator})
	base.Profile = fstest.Profile{Name: "internal", RecordPath: opts.RecordPath, RecordTemplate: fsconf.RecordTemplate}
	base.Dialplan = fstest.MustParseDialplan(doc)
	return fstest.Start(t, base)
}

// placeRecordedInboundCall calls ddi from +34600111222 (answered by user 1001), talks for talk
// (virtual time) once the recording row exists, hangs up, and returns the recording once it is
// ready.
func placeRecordedInboundCall(t *testing.T, fs *fstest.FS, api *apiClient, ddi string, talk time.Duration) recordingView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := map[string]bool{}
	var page struct {
		Items []recordingView `json:"items"`
	}
	api.get("/recordings", &page)
	for _, r := range page.Items {
		before[r.ID] = true
	}
	call, err := fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: ddi})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.WaitAnswered(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return api.countRecordings("recording") == 1 }, "recording row")
	time.Sleep(100 * time.Millisecond) // uuid_record follows the row
	fs.Advance(talk)
	call.A.Hangup("NORMAL_CLEARING")
	return api.waitRecording(func(r recordingView) bool { return !before[r.ID] && r.State == "ready" }, "recording ready")
}

// recordingView is the part of the API's recording the end-to-end tests look at.
type recordingView struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	Type       string `json:"type"`
	Trigger    string `json:"trigger"`
	DDIID      string `json:"ddi_id"`
	DurationMS int64  `json:"duration_ms"`
	FileName   string `json:"file_name"`
	Error      string `json:"error"`
}

// recordings lists every recording, any state.
func (a *apiClient) recordings() []recordingView {
	a.t.Helper()
	var all []recordingView
	for _, state := range []string{"recording", "processing", "ready", "failed", "discarded"} {
		var page struct {
			Items []recordingView `json:"items"`
		}
		a.get("/recordings?state="+state, &page)
		all = append(all, page.Items...)
	}
	return all
}

// waitRecording waits for a recording that satisfies ok; on timeout the test fails with every
// row's state and error.
func (a *apiClient) waitRecording(ok func(recordingView) bool, what string) recordingView {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var page struct {
			Items []recordingView `json:"items"`
		}
		a.get("/recordings", &page) // the default listing: every state but discarded
		for _, r := range page.Items {
			if ok(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("timed out waiting for %s; recordings: %+v", what, a.recordings())
			return recordingView{}
		}
		time.Sleep(100 * time.Millisecond) // the API allows 1200 requests a minute per token
	}
}

// playableMP3 downloads recording id's audio, checks it is served as the MP3 fileName, and
// returns its decoded duration.
func (a *apiClient) playableMP3(id, fileName string) time.Duration {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.base+"/recordings/"+id+"/audio?download=1", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	mp3, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/mpeg" || !strings.Contains(resp.Header.Get("Content-Disposition"), fileName) {
		a.t.Fatalf("audio: %d %v", resp.StatusCode, resp.Header)
	}
	d, _, err := audio.MP3Duration(bytes.NewReader(mp3))
	if err != nil {
		a.t.Fatalf("MP3: %v", err)
	}
	return d
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

type apiClient struct {
	t           *testing.T
	base, token string
}

func (a *apiClient) do(method, path string, in, out any) int {
	a.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, body)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		a.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (a *apiClient) create(kind string, v map[string]any) string {
	var out struct {
		ID string `json:"id"`
	}
	a.do("POST", "/"+kind, v, &out)
	return out.ID
}

func (a *apiClient) get(path string, out any) { a.do("GET", path, nil, out) }

func (a *apiClient) countRecordings(state string) int {
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	a.get("/recordings?state="+state, &page)
	return len(page.Items)
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond) // API polls: the limit is 1200 requests a minute per token
	}
}
