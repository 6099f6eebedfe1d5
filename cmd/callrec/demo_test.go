//go:build !race

// Built without -race like the drills: the demo's callrec holds eslgo connections (its inbound
// connection to the stand-in's event socket as freeswitch.nodes, the frustrated transfer's
// outbound one), and eslgo v1.5.2 reads its responseChannels map in disconnectLoop without the
// mutex close() holds while deleting from it (.ci/run). .ci/run runs it on the non-race line.

package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
)

// TestDemo_RecordsEveryKindOfCall runs `callrec demo` in-process and checks, through the API with
// the tokens it printed, that every kind of call it placed left a ready, playable MP3 (inbound and
// outbound DDI, Record key, DTMF code, frustrated transfer), that the unrecorded call reached
// callrec and left none, that each company's and user's token sees only its own, that the page
// loads, and that the throw-away directory is gone after Ctrl-C.
func TestDemo_RecordsEveryKindOfCall(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // the demo's directory lands here even if the test fails
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"demo", "--http.listen", "127.0.0.1:0"}, nil, stdout, stderr) }()

	ready := waitForOutput(t, stdout, `ready: \d+ recordings ready in \S+; open (http://\S+)/ and sign in`, done)
	out := stdout.String()
	if strings.Contains(out, "FAILED") || !strings.Contains(out, "ok      unrecorded") {
		t.Fatalf("demo calls:\n%s\nstderr:\n%s", out, stderr.String())
	}
	dir := regexp.MustCompile(`directory (\S+) \(removed on exit`).FindStringSubmatch(out)
	if dir == nil {
		t.Fatalf("no directory in:\n%s", out)
	}
	tokens := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  (?:platform|brand|company_admin|user)\s+(.+?)\s+(crt_\S+)$`).FindAllStringSubmatch(out, -1) {
		tokens[m[1]] = m[2]
	}
	as := func(name string) *apiClient {
		if tokens[name] == "" {
			t.Fatalf("no token for %q printed:\n%s", name, out)
		}
		return &apiClient{t: t, base: ready + "/api/v1", token: tokens[name]}
	}

	platform := as("platform admin")
	var companies struct {
		Items []struct{ ID, Name string } `json:"items"`
	}
	platform.get("/companies", &companies)
	company := map[string]string{} // id → name
	for _, c := range companies.Items {
		company[c.ID] = c.Name
	}

	// Every recording, of every state, as the platform admin sees them: one per recorded call.
	type kind struct{ company, typ, trigger, direction string }
	want := map[kind]int{
		{"Acme", "ddi", "ddi", "inbound"}:             1,
		{"Acme", "ddi", "ddi", "outbound"}:            1,
		{"Acme", "ondemand", "key", "inbound"}:        1,
		{"Acme", "ondemand", "dtmf", "inbound"}:       1,
		{"Globex", "ddi", "ddi", "inbound"}:           1,
		{"Globex", "ondemand", "transfer", "inbound"}: 1,
	}
	// The two parties of each, by their tones (caller or carrier, and the user).
	tones := map[kind][2]float64{
		{"Acme", "ddi", "ddi", "inbound"}:             {440, 700},
		{"Acme", "ddi", "ddi", "outbound"}:            {demoExternalHz, 700},
		{"Acme", "ondemand", "key", "inbound"}:        {480, 900},
		{"Acme", "ondemand", "dtmf", "inbound"}:       {560, 700},
		{"Globex", "ddi", "ddi", "inbound"}:           {520, 1200},
		{"Globex", "ondemand", "transfer", "inbound"}: {600, 1200},
	}
	got := map[kind]int{}
	mp3s := map[kind]string{} // recording id of each kind
	mp3Bytes := map[string][]byte{}
	all := demoRecordings(platform)
	for _, r := range all {
		if r.State != "ready" {
			t.Errorf("recording %+v not ready", r)
			continue
		}
		k := kind{company[r.CompanyID], r.Type, r.Trigger, r.Direction}
		got[k]++
		mp3s[k] = r.ID
		if r.Caller == "+34600777888" || r.Callee == "+34600777888" {
			t.Errorf("the unrecorded call has a recording: %+v", r)
		}
		if d := platform.playableMP3(r.ID, r.FileName); d < 5*time.Second || d > 7*time.Second {
			t.Errorf("recording %s (%s/%s): MP3 of %v, want about %v", r.ID, r.Type, r.Trigger, d, demoTalk)
		}
		mp3Bytes[r.ID] = platform.audioBytes(r.ID)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%+v: %d recordings, want %d; all: %+v", k, got[k], n, got)
		}
	}
	if len(all) != 6 {
		t.Errorf("%d recordings, want 6", len(all))
	}
	// The unrecorded call did reach callrec: three calls to DDIs that record nothing (the Record
	// key's, the transfer's and the unrecorded one).
	if m := metricsText(t, ready); !strings.Contains(m, `callrec_calls_total{decision="no_record_mode_none"} 3`) {
		t.Errorf("/metrics: want three no_record_mode_none decisions:\n%s", metricLines(m, "callrec_calls_total"))
	}

	// Each token sees its own tenancy only.
	tests := []struct {
		token, company string
		n              int
		trigger        string // for user tokens: the one recording they asked for
	}{
		{"Demo Telecom admin", "", 6, ""},
		{"Acme admin", "Acme", 4, ""},
		{"Globex admin", "Globex", 2, ""},
		{"Ana (Acme 1001)", "Acme", 1, "dtmf"},
		{"Bo (Acme 1002)", "Acme", 1, "key"},
		{"Carla (Globex 2001)", "Globex", 1, "transfer"},
	}
	for _, tt := range tests {
		recs := demoRecordings(as(tt.token))
		if len(recs) != tt.n {
			t.Errorf("%s sees %d recordings, want %d", tt.token, len(recs), tt.n)
		}
		for _, r := range recs {
			if tt.company != "" && company[r.CompanyID] != tt.company {
				t.Errorf("%s sees a recording of %s", tt.token, company[r.CompanyID])
			}
			if tt.trigger != "" && r.Trigger != tt.trigger {
				t.Errorf("%s sees a %s recording, want only its %s one", tt.token, r.Trigger, tt.trigger)
			}
		}
	}

	resp, err := http.Get(ready + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<title>callrec") {
		t.Errorf("page: %d %.200s", resp.StatusCode, page)
	}

	cancel() // Ctrl-C
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo did not stop")
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("demo directory %s still there after exit: %v", dir[1], err)
	}

	// Last, as it needs lame (.ci/run installs it): both parties are heard in each MP3, each
	// with its own tone, and no other party's.
	lame, err := exec.LookPath("lame")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("lame not in PATH: .ci/run installs it to decode the 8 kHz MP3s")
		}
		t.Skip("lame not installed (apt-get install lame): the tones of the MP3s were not checked; everything else was")
	}
	every := []float64{440, 480, 520, 560, 600, 700, 900, demoExternalHz, 1200}
	for k, id := range mp3s {
		w := decodeMP3(t, lame, mp3Bytes[id])
		for _, hz := range every {
			want := hz == tones[k][0] || hz == tones[k][1]
			if heard := w.Hears(0, hz, time.Second, 5*time.Second); heard != want {
				t.Errorf("%+v: tone %v Hz heard %v (level %.2f), want %v", k, hz, heard, w.ToneLevel(0, hz, time.Second, 5*time.Second), want)
			}
		}
	}
}

// decodeMP3 decodes an MP3 with `lame --decode` into a WAV the stand-in's tone checks read.
func decodeMP3(t *testing.T, lame string, mp3 []byte) *fstest.WAV {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.mp3"), filepath.Join(dir, "out.wav")
	if err := os.WriteFile(in, mp3, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(lame, "--decode", "--quiet", in, out).CombinedOutput(); err != nil {
		t.Fatalf("lame --decode: %v %s", err, b)
	}
	w, err := fstest.ReadWAV(out)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// audioBytes downloads recording id's MP3.
func (a *apiClient) audioBytes(id string) []byte {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.base+"/recordings/"+id+"/audio", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		a.t.Fatalf("audio %s: %d %v", id, resp.StatusCode, err)
	}
	return b
}

// demoRecording is the part of a recording the demo test looks at.
type demoRecording struct {
	recordingView
	CompanyID string `json:"company_id"`
	Direction string `json:"direction"`
	Caller    string `json:"caller"`
	Callee    string `json:"callee"`
}

// demoRecordings lists every recording the client's token sees, in every state.
func demoRecordings(a *apiClient) []demoRecording {
	a.t.Helper()
	var all []demoRecording
	for _, state := range []string{"recording", "processing", "ready", "failed", "discarded"} {
		var page struct {
			Items []demoRecording `json:"items"`
		}
		a.get("/recordings?limit=200&state="+state, &page)
		all = append(all, page.Items...)
	}
	return all
}

// waitForOutput waits (generously: a slow machine) for pattern on buf and returns its first
// group; it fails the test if the command ends first.
func waitForOutput(t *testing.T, buf *syncBuffer, pattern string, done chan error) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(buf.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("demo ended: %v\n%s", err, buf.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("timed out waiting for %q in:\n%s", pattern, buf.String())
	return ""
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricLines is the lines of the /metrics text m naming metric.
func metricLines(m, metric string) string {
	var out []string
	for _, l := range strings.Split(m, "\n") {
		if strings.Contains(l, metric) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDemo_CtrlCStopsItAndRemovesTheDirectoryUnlessKeep: Ctrl-C while the demo places its calls
// ends it cleanly (serve's own shutdown, the stand-in closed) and removes its directory; with
// --keep the directory stays, with the store and the configuration serve ran on.
func TestDemo_CtrlCStopsItAndRemovesTheDirectoryUnlessKeep(t *testing.T) {
	tests := []struct {
		name string
		args []string
		kept bool
	}{
		{"default", nil, false},
		{"--keep", []string{"--keep"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout, stderr := &syncBuffer{}, &syncBuffer{}
			done := make(chan error, 1)
			args := append([]string{"demo", "--http.listen", "127.0.0.1:0"}, tt.args...)
			go func() { done <- run(ctx, args, nil, stdout, stderr) }()
			dir := waitForOutput(t, stdout, `directory (\S+) \((?:removed|kept) on exit`, done)
			waitForOutput(t, stdout, `(placing calls)`, done)
			cancel() // Ctrl-C while the calls are placed
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("demo: %v\n%s", err, stderr.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatal("demo did not stop")
			}
			for _, f := range []string{"", "callrec.yaml", "data/callrec.db"} {
				_, err := os.Stat(filepath.Join(dir, f))
				if tt.kept && err != nil {
					t.Errorf("--keep: %v", err)
				}
				if !tt.kept && !os.IsNotExist(err) {
					t.Errorf("%s still there after exit: %v", filepath.Join(dir, f), err)
				}
			}
		})
	}
}
