package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// browser drives a headless chromium through chromedriver's WebDriver HTTP API.
type browser struct {
	t       *testing.T
	base    string // chromedriver URL
	session string
}

const webElementKey = "element-6066-11e4-a52e-4f735466cecf"

// startBrowser starts chromedriver and a headless chromium session. Without chromium it skips
// the test, unless CI=true, where it fails (CI installs chromium: .ci/run).
func startBrowser(t *testing.T, downloads string) *browser {
	t.Helper()
	chromium, err1 := exec.LookPath("chromium")
	driver, err2 := exec.LookPath("chromedriver")
	if err1 != nil || err2 != nil {
		msg := "chromium and chromedriver are needed for the browser test (apt-get install -y chromium chromium-driver)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, driver, fmt.Sprintf("--port=%d", port), "--allowed-ips=127.0.0.1")
	must(t, cmd.Start())
	t.Cleanup(func() { cancel(); cmd.Wait() })
	b := &browser{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(b.base + "/status")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
				"--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
				"--autoplay-policy=no-user-gesture-required", "--window-size=1280,900"},
			"prefs": map[string]any{"download.default_directory": downloads, "download.prompt_for_download": false},
		},
		"goog:loggingPrefs": map[string]any{"browser": "ALL"},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	b.call("POST", "/session", caps, &sess)
	b.session = sess.SessionID
	t.Cleanup(func() { b.call("DELETE", "/session/"+b.session, nil, nil) })
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot("failure")
		}
	})
	return b
}

// call runs one WebDriver command and decodes its "value" into out.
func (b *browser) call(method, path string, body, out any) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct{ Value json.RawMessage }
	if err := json.Unmarshal(raw, &env); err != nil || resp.StatusCode != 200 {
		b.t.Fatalf("webdriver %s %s: %d %.500s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(env.Value, out); err != nil {
			b.t.Fatalf("webdriver %s: %v in %.300s", path, err, env.Value)
		}
	}
}

func (b *browser) s(path string) string { return "/session/" + b.session + path }

func (b *browser) open(url string) { b.call("POST", b.s("/url"), map[string]any{"url": url}, nil) }

// find returns the first element matching css, waiting for it up to 10 s.
func (b *browser) find(css string) string {
	b.t.Helper()
	var id string
	b.waitFor("element "+css, func() bool {
		var els []map[string]string
		b.call("POST", b.s("/elements"), map[string]any{"using": "css selector", "value": css}, &els)
		if len(els) > 0 {
			id = els[0][webElementKey]
		}
		return id != ""
	})
	return id
}

func (b *browser) click(css string) {
	b.call("POST", b.s("/element/"+b.find(css)+"/click"), map[string]any{}, nil)
}

func (b *browser) typeInto(css, text string) {
	b.call("POST", b.s("/element/"+b.find(css)+"/value"), map[string]any{"text": text}, nil)
}

// js runs script (a function body; use `return`) and decodes the result into out.
func (b *browser) js(script string, out any) {
	b.t.Helper()
	b.call("POST", b.s("/execute/sync"), map[string]any{"script": script, "args": []any{}}, out)
}

func (b *browser) jsNumber(script string) float64 {
	var f float64
	b.js(script, &f)
	return f
}

// waitFor polls cond for up to 10 s.
func (b *browser) waitFor(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// consoleErrors returns the browser's SEVERE log entries (script errors, failed loads) since the
// last call; chromedriver keeps them because startBrowser asks for goog:loggingPrefs.
func (b *browser) consoleErrors() []string {
	var entries []struct{ Level, Message string }
	b.call("POST", b.s("/se/log"), map[string]any{"type": "browser"}, &entries)
	var out []string
	for _, e := range entries {
		if e.Level == "SEVERE" {
			out = append(out, e.Message)
		}
	}
	return out
}

// screenshot saves a PNG as a test artifact (go test -artifacts keeps them).
func (b *browser) screenshot(name string) {
	var png string
	b.call("GET", b.s("/screenshot"), nil, &png)
	raw, err := base64.StdEncoding.DecodeString(png)
	if err != nil {
		return
	}
	path := filepath.Join(b.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, raw, 0o644); err == nil {
		b.t.Logf("screenshot: %s", path)
	}
}

func TestBrowser_SignInFilterPlaySeekDownloadDeleteEditDDI(t *testing.T) {
	downloads := t.TempDir()
	b := startBrowser(t, downloads)
	w := newWorld(t)
	ctx := context.Background()
	tc := w.co("A1")
	long := testMP3(t, 6)
	w.replaceMP3(t, tc.recDDI, long)

	b.open(w.srv.URL() + "/")
	b.typeInto("#token", "crt_wrong")
	b.click("#signin-button")
	b.waitFor("the sign-in error", func() bool {
		var s string
		b.js(`return document.querySelector("#signin-error").textContent`, &s)
		return strings.Contains(s, "not valid")
	})
	b.js(`document.querySelector("#token").value = ""; return null`, nil)
	b.typeInto("#token", tc.adminTok)
	b.click("#signin-button")
	rows := func() float64 { return b.jsNumber(`return document.querySelectorAll("#rec-table tr.rec").length`) }
	b.waitFor("three recordings listed", func() bool { return rows() == 3 })
	var first string
	b.js(`return document.querySelector("#rec-table tr.rec").dataset.id`, &first)
	if first != tc.recOther.ID {
		t.Errorf("first row %s, want the newest %s", first, tc.recOther.ID)
	}
	var who string
	b.js(`return document.querySelector("#rec-table tr.rec[data-id='`+tc.recOwn.ID+`'] .requested-by").textContent`, &who)
	if !strings.Contains(who, tc.user.Name) {
		t.Errorf("requesting user shown as %q, want %q", who, tc.user.Name)
	}

	// Filter: DDI recordings only, then back to all.
	b.js(`document.querySelector("#filters [name=type]").value = "ddi"; return null`, nil)
	b.click("#apply-filters")
	b.waitFor("the DDI filter", func() bool { return rows() == 1 })
	b.js(`document.querySelector("#filters [name=type]").value = ""; return null`, nil)
	b.click("#apply-filters")
	b.waitFor("all recordings again", func() bool { return rows() == 3 })

	// Number search as people type it: the listing follows the box, no button.
	typeNumber := func(v string) {
		b.js(`const i = document.querySelector("#filters [name=number]"); i.value = "`+v+`"; i.dispatchEvent(new Event("input")); return null`, nil)
	}
	typeNumber("+34 600 111")
	b.waitFor("a number every recording has", func() bool { return rows() == 3 })
	typeNumber("600 999")
	b.waitFor("a number no recording has", func() bool { return rows() == 0 })
	typeNumber("")
	b.waitFor("all recordings after clearing the search", func() bool { return rows() == 3 })

	// Play and seek.
	b.click("#rec-table tr.rec[data-id='" + tc.recDDI.ID + "'] .play")
	b.waitFor("the player to load the MP3", func() bool {
		return b.jsNumber(`const p = document.querySelector("#player"); return p.readyState >= 1 && p.duration > 3 ? p.duration : 0`) > 3
	})
	b.js(`const p = document.querySelector("#player"); p.pause(); p.currentTime = 4.5; return null`, nil)
	b.waitFor("the position to move to 4.5 s", func() bool {
		return b.jsNumber(`const p = document.querySelector("#player"); return p.seeking ? 0 : p.currentTime`) >= 4.4
	})
	b.js(`const p = document.querySelector("#player"); p.currentTime = 1.25; return null`, nil)
	b.waitFor("the position to move back to 1.25 s", func() bool {
		pos := b.jsNumber(`const p = document.querySelector("#player"); return p.seeking ? -1 : p.currentTime`)
		return pos >= 1.2 && pos < 2
	})

	// Download.
	b.click("#rec-table tr.rec[data-id='" + tc.recDDI.ID + "'] .download")
	b.waitFor("the download "+tc.recDDI.FileName, func() bool {
		got, err := os.ReadFile(filepath.Join(downloads, tc.recDDI.FileName))
		return err == nil && bytes.Equal(got, long)
	})

	// Delete (confirm dialog accepted).
	b.click("#rec-table tr.rec[data-id='" + tc.recOther.ID + "'] .delete")
	b.call("POST", b.s("/alert/accept"), map[string]any{}, nil)
	b.waitFor("the row to go", func() bool { return rows() == 2 })
	if _, err := w.db.Recording(ctx, tc.recOther.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("deleted in the page but still stored: %v", err)
	}

	// DDI recording mode.
	b.click("nav .tab[data-view=ddis]")
	b.find("#ddi-table tr.ddi[data-id='" + tc.ddi.ID + "'] select.record-calls")
	b.js(`const s = document.querySelector("#ddi-table tr.ddi[data-id='`+tc.ddi.ID+`'] select.record-calls");
		s.value = "inbound"; return null`, nil)
	b.click("#ddi-table tr.ddi[data-id='" + tc.ddi.ID + "'] button.save")
	b.waitFor("the DDI mode stored", func() bool {
		d, err := w.db.DDI(ctx, tc.ddi.ID)
		return err == nil && d.RecordCalls == store.RecordInbound
	})

	// Phone width: the page itself does not scroll sideways (tables scroll in their box).
	b.call("POST", b.s("/window/rect"), map[string]any{"width": 390, "height": 844}, nil)
	b.click("nav .tab[data-view=recordings]")
	b.waitFor("rows at phone width", func() bool { return rows() == 2 })
	if over := b.jsNumber(`return document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 0 {
		b.screenshot("phone")
		var wide []string
		b.js(`const w = document.documentElement.clientWidth; return [...document.querySelectorAll("body *")]
			.filter(e => e.getBoundingClientRect().right > w && !e.closest(".scroll"))
			.slice(0, 8).map(e => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))`, &wide)
		t.Errorf("page is %v px wider than a phone screen; too wide: %v", over, wide)
	}
	// ...and no recording needs sideways scrolling either: each is a card whose actions are in
	// view (issue 14 item 3), even with a long error text.
	b.js(`const td = document.querySelector("#rec-table tr.rec td.state"); td.textContent = "failed: " + "a very long reason ".repeat(30); return null`, nil)
	var hidden []string
	b.js(`const w = document.documentElement.clientWidth; return [...document.querySelectorAll("#rec-table tr.rec td, #rec-table tr.rec button")]
		.filter(e => e.getBoundingClientRect().right > w + 1).map(e => e.className + " " + Math.round(e.getBoundingClientRect().right))`, &hidden)
	if len(hidden) > 0 {
		b.screenshot("phone-cards")
		t.Errorf("at phone width parts of a recording are off-screen: %v", hidden)
	}
}

// TestBrowser_ColumnsUTCAndProblemCount: the listing shows the DDI, direction and recorder of each
// recording and its start in UTC (as the download names are), the company only to brand admins;
// an admin sees how many recordings of the filter failed, with a link that lists them.
func TestBrowser_ColumnsUTCAndProblemCount(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	tc := w.co("A1")
	failed := &store.Recording{CompanyID: tc.co.ID, CallID: "call-failed", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, DDIID: tc.ddi.ID, Recorder: tc.ddi.Number, Caller: "+34600999888", Callee: tc.ddi.Number}
	must(t, w.db.CreateRecording(ctx, failed))
	must(t, w.db.FailRecording(ctx, failed.ID, "the recording file was not found"))
	b.open(w.srv.URL() + "/")
	b.typeInto("#token", tc.adminTok)
	b.click("#signin-button")
	rows := func() float64 { return b.jsNumber(`return document.querySelectorAll("#rec-table tr.rec").length`) }
	b.waitFor("recordings listed", func() bool { return rows() == 4 })
	var cells map[string]string
	b.js(`const tr = document.querySelector("#rec-table tr.rec[data-id='`+tc.recDDI.ID+`']");
		return {started: tr.querySelector(".started").textContent, ddi: tr.querySelector(".ddi").textContent,
			direction: tr.querySelector(".direction").textContent, recorder: tr.querySelector(".recorder").textContent,
			companyShown: String(!tr.querySelector(".col-company").hidden), header: document.querySelector("#rec-table thead").textContent}`, &cells)
	wantStart := tc.recDDI.StartedAt.UTC().Format("2006-01-02 15:04:05")
	if cells["started"] != wantStart || !strings.Contains(cells["header"], "UTC") {
		t.Errorf("started %q (header %q), want %q in UTC", cells["started"], cells["header"], wantStart)
	}
	if cells["ddi"] != tc.ddi.Number || cells["direction"] != tc.recDDI.Direction || cells["recorder"] != tc.recDDI.Recorder {
		t.Errorf("cells %v, want DDI %s, direction %s, recorder %s", cells, tc.ddi.Number, tc.recDDI.Direction, tc.recDDI.Recorder)
	}
	if cells["companyShown"] != "false" {
		t.Error("a company admin sees the company column")
	}
	b.waitFor("the failed count", func() bool {
		var s string
		b.js(`return document.querySelector("#rec-problems").hidden ? "" : document.querySelector("#rec-problems").textContent`, &s)
		return strings.Contains(s, "1 failed")
	})
	b.click("#rec-problems a.show-failed")
	b.waitFor("only the failed recording listed", func() bool {
		var st string
		b.js(`const r = document.querySelectorAll("#rec-table tr.rec"); return r.length === 1 ? r[0].querySelector(".state").textContent : ""`, &st)
		return strings.Contains(st, "not found")
	})
}

func TestBrowser_BrandAdminEditsCompanyOnDemand(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	tc := w.co("B2")
	b.open(w.srv.URL() + "/")
	b.typeInto("#token", w.brandTok["B"])
	b.click("#signin-button")
	b.click("nav .tab[data-view=companies]")
	row := "#co-table tr.company[data-id='" + tc.co.ID + "']"
	b.find(row + " select.on-demand")
	b.js(`document.querySelector("`+row+` select.on-demand").value = "key_dtmf";
		const c = document.querySelector("`+row+` input.on-demand-code"); c.value = "42"; return null`, nil)
	b.click(row + " button.save")
	b.waitFor("the company's on-demand setting stored", func() bool {
		co, err := w.db.Company(context.Background(), tc.co.ID)
		return err == nil && co.OnDemand == store.OnDemandKeyDTMF && co.OnDemandCode == "42"
	})
	if n := b.jsNumber(`return document.querySelectorAll("#co-table tr.company").length`); n != 2 {
		t.Errorf("brand B admin sees %v companies, want its 2", n)
	}
}
