package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// TestServe_EndToEnd_InboundDDICallBecomesAPlayableMP3 runs the whole product: `callrec serve`
// in-process, configured through its API, the FreeSWITCH configuration rendered by fsconf and
// loaded into the stand-in, one inbound call to a recorded DDI, and the MP3 served by the API.
func TestServe_EndToEnd_InboundDDICallBecomesAPlayableMP3(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}, nil, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	base := waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
	eslAddr := waitForLog(t, &stderr, `"esl":"([^"]+)"`, done)
	token := regexp.MustCompile(`crt_\S+`).FindString(stdout.String())
	api := &apiClient{t: t, base: base + "/api/v1", token: token}

	brand := api.create("brands", map[string]any{"name": "Brand"})
	company := api.create("companies", map[string]any{"brand_id": brand, "name": "Acme"})
	ddi := api.create("ddis", map[string]any{"company_id": company, "number": "+34 911 234 567", "record_calls": "inbound"})
	api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})

	r, err := fsconf.New(fsconf.Options{ESLListen: eslAddr, RecordPath: filepath.Join(dir, "ondemand"), InboundPassword: "ClueCon"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	body := func(p string) string {
		s := string(out.File(p))
		_, s, _ = strings.Cut(s, "<include>")
		s, _, _ = strings.Cut(s, "</include>")
		return s
	}
	operator := `<extension name="operator_ddi"><condition field="destination_number" expression="^\+34911234567$">` +
		`<action application="bridge" data="user/1001"/></condition></extension>`
	doc := `<document type="freeswitch/xml"><section name="dialplan">` +
		`<context name="public">` + body("dialplan/public/00_callrec.xml") + operator + `</context>` +
		`<context name="default">` + body("dialplan/default/00_callrec.xml") + `</context>` +
		body(fsconf.TransferFile) + `</section></document>`
	fs := fstest.Start(t, fstest.Options{
		Profile:  fstest.Profile{Name: "internal", RecordPath: filepath.Join(dir, "ondemand"), RecordTemplate: fsconf.RecordTemplate},
		Dialplan: fstest.MustParseDialplan([]byte(doc)),
		Phones:   map[string]fstest.Phone{"1001": {ToneHz: 700}},
	})

	callCtx, callCancel := context.WithTimeout(ctx, 20*time.Second)
	defer callCancel()
	call, err := fs.Inbound(callCtx, fstest.CallSpec{From: "+34600111222", To: "+34911234567"})
	if err != nil {
		t.Fatal(err)
	}
	user, err := call.WaitLeg(callCtx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if err := user.WaitAnswer(callCtx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return api.countRecordings("recording") == 1 }, "recording row")
	time.Sleep(100 * time.Millisecond) // uuid_record follows the row
	fs.Advance(3 * time.Second)
	call.A.Hangup("NORMAL_CLEARING")

	var rec struct {
		ID         string `json:"id"`
		State      string `json:"state"`
		DDIID      string `json:"ddi_id"`
		DurationMS int64  `json:"duration_ms"`
		FileName   string `json:"file_name"`
	}
	waitUntil(t, func() bool {
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		api.get("/recordings", &page)
		if len(page.Items) != 1 {
			return false
		}
		json.Unmarshal(page.Items[0], &rec)
		return rec.State == "ready"
	}, "recording ready")
	if rec.DDIID != ddi || rec.DurationMS < 2900 || rec.DurationMS > 3600 || !strings.HasSuffix(rec.FileName, "_ddi-+34911234567_+34600111222_+34911234567.mp3") {
		t.Fatalf("recording %+v", rec)
	}
	req, _ := http.NewRequest("GET", api.base+"/recordings/"+rec.ID+"/audio?download=1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mp3, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/mpeg" || !strings.Contains(resp.Header.Get("Content-Disposition"), rec.FileName) {
		t.Fatalf("audio: %d %v", resp.StatusCode, resp.Header)
	}
	d, _, err := audio.MP3Duration(bytes.NewReader(mp3))
	if err != nil || d < 2900*time.Millisecond || d > 3700*time.Millisecond {
		t.Fatalf("MP3 duration %v, %v", d, err)
	}

	resp, err = http.Get(base + "/metrics")
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
		time.Sleep(20 * time.Millisecond)
	}
}
