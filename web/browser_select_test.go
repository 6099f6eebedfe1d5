package web

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// alertText is the text of the open JavaScript dialog, ok false while there is none (the
// selection's Delete asks the API for the count first, so its confirm opens a moment later).
func (b *browser) alertText() (string, bool) {
	b.t.Helper()
	resp, err := http.Get(b.base + b.s("/alert/text"))
	if err != nil {
		b.t.Fatalf("webdriver alert: %v", err)
	}
	defer resp.Body.Close()
	var env struct{ Value json.RawMessage }
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(raw, &env) != nil {
		return "", false
	}
	var s string
	if json.Unmarshal(env.Value, &s) != nil {
		return "", false
	}
	return s, true
}

// text is the textContent of the first element matching css ("" when there is none).
func (b *browser) text(css string) string {
	b.t.Helper()
	var s string
	b.js(`const e = document.querySelector(`+jsString(css)+`); return e ? e.textContent : ""`, &s)
	return s
}

func jsString(s string) string { j, _ := json.Marshal(s); return string(j) }

// newZIP waits for a finished ZIP in dir that is not in seen, adds it to seen and returns its
// entries by name.
func newZIP(t *testing.T, b *browser, dir string, seen map[string]bool) map[string][]byte {
	t.Helper()
	var got map[string][]byte
	b.waitFor("a new ZIP in the download directory", func() bool {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".zip") || seen[e.Name()] {
				continue
			}
			zr, err := zip.OpenReader(filepath.Join(dir, e.Name()))
			if err != nil {
				continue // still being renamed into place
			}
			got = map[string][]byte{}
			signed := 0
			for _, f := range zr.File {
				if f.Name == ManifestName || f.Name == ManifestSigName {
					signed++ // the signed manifest every archive ends with (integrity.go)
					continue
				}
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				got[f.Name], _ = io.ReadAll(rc)
				rc.Close()
			}
			zr.Close()
			if signed != 2 {
				t.Errorf("the ZIP lacks its signed manifest (%d of its 2 entries)", signed)
			}
			seen[e.Name()] = true
			return true
		}
		return false
	})
	return got
}

// watchDownloads makes the page record every fetch and every Blob URL it makes, so a test can
// tell a ZIP streamed by the browser from one buffered in the page.
const watchDownloads = `window.__fetched = []; const f = window.fetch;
	window.fetch = (u, o) => { window.__fetched.push(String(u)); return f(u, o); };
	window.__blobs = 0; const c = URL.createObjectURL; URL.createObjectURL = (x) => { window.__blobs++; return c(x); };
	return null`

// TestBrowser_SelectRowsZIPAllMatchingDelete (issue 14 item 3): a company admin selects two rows
// and gets a ZIP of exactly those MP3s, streamed by the browser into its download directory;
// selects a whole page, then every match of a filter, and gets the filter's ready recordings
// (the one not ready named as left out); selects two rows and deletes them after a
// confirmation with the exact count: the rows go, and so do the rows and files in the store.
func TestBrowser_SelectRowsZIPAllMatchingDelete(t *testing.T) {
	downloads := t.TempDir()
	b := startBrowser(t, downloads)
	w := newWorld(t)
	ctx := context.Background()
	a1 := w.co("A1")
	may := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	var mayReady []*store.Recording
	for i := range 30 {
		mayReady = append(mayReady, w.recording(t, a1, store.TypeDDI, "", may.Add(time.Duration(i)*time.Minute)))
	}
	failed := &store.Recording{CompanyID: a1.co.ID, CallID: "call-failed", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, DDIID: a1.ddi.ID, Recorder: a1.ddi.Number, Caller: "+34600999888", Callee: a1.ddi.Number,
		StartedAt: may.Add(time.Hour)}
	must(t, w.db.CreateRecording(ctx, failed))
	must(t, w.db.FailRecording(ctx, failed.ID, "the recording file was not found"))

	b.open(w.srv.URL() + "/")
	b.typeInto("#token", a1.adminTok)
	b.click("#signin-button")
	rows := func() float64 { return b.jsNumber(`return document.querySelectorAll("#rec-table tr.rec").length`) }
	b.waitFor("a page of 25 recordings", func() bool { return rows() == 25 })
	b.js(watchDownloads, nil)
	row := func(id string) string { return "#rec-table tr.rec[data-id='" + id + "']" }

	// Two rows → a ZIP of exactly those two.
	pick := []*store.Recording{mayReady[29], mayReady[27]}
	for _, r := range pick {
		b.click(row(r.ID) + " td.sel input")
	}
	b.waitFor("2 selected", func() bool { return b.text("#sel-count") == "2 selected" })
	b.click("#sel-zip")
	seen := map[string]bool{}
	got := newZIP(t, b, downloads, seen)
	var names []string
	for n, data := range got {
		names = append(names, n)
		if !bytes.Equal(data, w.mp3) {
			t.Errorf("%s in the ZIP is not the recording's MP3 (%d bytes)", n, len(data))
		}
	}
	slices.Sort(names)
	if want := []string{pick[1].FileName, pick[0].FileName}; !slices.Equal(names, want) {
		t.Errorf("ZIP of two rows holds %v, want %v", names, want)
	}
	var fetched []string
	b.js(`return window.__fetched`, &fetched)
	for _, u := range fetched {
		if strings.Contains(u, "/recordings/archive") && !strings.Contains(u, "/recordings/archive/link") {
			t.Errorf("the page fetched the ZIP itself (%s): it must be the browser's download, streamed to disk", u)
		}
	}
	if n := b.jsNumber(`return window.__blobs`); n != 0 {
		t.Errorf("the page made %v Blob URLs: the ZIP must not be buffered in the page", n)
	}

	// A filter, its whole first page, then every match of the filter.
	b.click("#sel-clear")
	b.js(`document.querySelector("#filters [name=from]").value = "2025-05-01T00:00"; return null`, nil)
	b.click("#apply-filters")
	b.waitFor("May's first page", func() bool {
		return rows() == 25 && b.jsNumber(`return document.querySelector("#next-page").disabled ? 0 : 1`) == 1 &&
			b.text("#rec-table tr.rec td.state") == "failed: the recording file was not found"
	})
	b.click("#sel-page")
	b.waitFor("25 selected and the offer of all 31", func() bool {
		return b.text("#sel-count") == "25 selected" && strings.Contains(b.text("#sel-all-matching"), "31") &&
			b.jsNumber(`return document.querySelector("#sel-all-matching").hidden ? 0 : 1`) == 1
	})
	b.click("#sel-all-matching")
	b.waitFor("all 31 matching selected", func() bool { return b.text("#sel-count") == "All 31 matching selected" })
	b.click("#sel-zip")
	b.waitFor("the note of the one left out", func() bool {
		return b.text("#sel-note") == "Downloading 30 recordings as a ZIP; 1 selected left out (not ready)."
	})
	got = newZIP(t, b, downloads, seen)
	names = names[:0]
	for n := range got {
		names = append(names, n)
	}
	var want []string
	for _, r := range mayReady {
		want = append(want, r.FileName)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("ZIP of all matching holds %d entries %v, want the filter's %d ready recordings", len(names), names, len(want))
	}

	// Select two rows and delete them.
	b.click("#sel-clear")
	del := []*store.Recording{mayReady[29], mayReady[28]}
	for _, r := range del {
		b.click(row(r.ID) + " td.sel input")
	}
	b.waitFor("2 selected for deletion", func() bool { return b.text("#sel-count") == "2 selected" })
	b.click("#sel-delete")
	var confirmText string
	b.waitFor("the confirmation", func() bool {
		var ok bool
		confirmText, ok = b.alertText()
		return ok
	})
	if !strings.HasPrefix(confirmText, "Delete 2 recordings?") {
		t.Errorf("confirmation %q, want the exact count 2", confirmText)
	}
	b.call("POST", b.s("/alert/accept"), map[string]any{}, nil)
	b.waitFor("the two rows to go", func() bool {
		return b.jsNumber(`return document.querySelectorAll("`+row(del[0].ID)+`, `+row(del[1].ID)+`").length`) == 0 &&
			b.text("#sel-note") == "Deleted 2."
	})
	for _, r := range del {
		if _, err := w.db.Recording(ctx, r.ID); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("%s deleted in the page but still stored: %v", r.ID, err)
		}
		if _, err := os.Stat(r.MP3Path); !os.IsNotExist(err) {
			t.Errorf("%s deleted but its MP3 is still in the library: %v", r.ID, err)
		}
	}
	if _, err := w.db.Recording(ctx, mayReady[27].ID); err != nil {
		t.Errorf("a recording not selected went too: %v", err)
	}
}

// TestBrowser_SelectAsUserAndAtPhoneWidth: a company user may select and download its
// recordings but is offered no Delete; at phone width (390 px) the page's select box, the row
// boxes and the bar's buttons are in view and clickable, and the page does not scroll sideways.
func TestBrowser_SelectAsUserAndAtPhoneWidth(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	a1 := w.co("A1")
	ctx := context.Background()
	failed := &store.Recording{CompanyID: a1.co.ID, CallID: "call-failed", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, DDIID: a1.ddi.ID, Recorder: a1.ddi.Number, Caller: "+34600999888", Callee: a1.ddi.Number}
	must(t, w.db.CreateRecording(ctx, failed))
	must(t, w.db.FailRecording(ctx, failed.ID, "the recording file was not found"))
	rows := func() float64 { return b.jsNumber(`return document.querySelectorAll("#rec-table tr.rec").length`) }
	signIn := func(tok string, n float64) {
		b.open(w.srv.URL() + "/")
		b.js(`sessionStorage.clear(); return null`, nil)
		b.open(w.srv.URL() + "/")
		b.typeInto("#token", tok)
		b.click("#signin-button")
		b.waitFor("the recordings listed", func() bool { return rows() == n })
	}
	visible := func(css string) bool {
		return b.jsNumber(`const e = document.querySelector(`+jsString(css)+`); if (!e) return 0;
			const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && !e.closest("[hidden]") ? 1 : 0`) == 1
	}

	signIn(a1.userTok, 1)
	b.click("#rec-table tr.rec td.sel input")
	b.waitFor("the user's selection", func() bool { return b.text("#sel-count") == "1 selected" })
	if !visible("#sel-zip") {
		t.Error("a user is offered no Download ZIP")
	}
	if visible("#sel-delete") || visible("#rec-table tr.rec .delete") {
		t.Error("a user (role user) is offered Delete")
	}

	b.call("POST", b.s("/window/rect"), map[string]any{"width": 390, "height": 844}, nil)
	signIn(a1.adminTok, 4)
	// The problem counts name only what there is: "1 failed", not "0 discarded" beside it.
	b.waitFor("the problem counts", func() bool { return strings.Contains(b.text("#rec-problems"), "1 failed") })
	if s := b.text("#rec-problems"); strings.Contains(s, "discarded") {
		t.Errorf("problem counts %q name a state with no recording", s)
	}
	b.waitFor("the page's select box at phone width", func() bool { return visible("#sel-page") })
	b.click("#sel-page")
	b.waitFor("4 selected at phone width", func() bool { return b.text("#sel-count") == "4 selected" })
	b.click("#rec-table tr.rec[data-id='" + a1.recOwn.ID + "'] td.sel input")
	b.waitFor("3 selected at phone width", func() bool { return b.text("#sel-count") == "3 selected" })
	for _, css := range []string{"#sel-zip", "#sel-delete", "#sel-clear", "#sel-page", "#rec-table tr.rec td.sel input"} {
		if !visible(css) {
			t.Errorf("%s is not shown at phone width", css)
		}
	}
	var off []string
	b.js(`const w = document.documentElement.clientWidth; return [...document.querySelectorAll("#sel-bar, #sel-bar *, #rec-table input, th.sel *")]
		.filter(e => e.getBoundingClientRect().right > w + 1 || e.getBoundingClientRect().left < 0)
		.map(e => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))`, &off)
	if len(off) > 0 {
		b.screenshot("phone-selection")
		t.Errorf("at phone width parts of the selection are off-screen: %v", off)
	}
	if over := b.jsNumber(`return document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 0 {
		b.screenshot("phone-selection-wide")
		t.Errorf("page is %v px wider than a phone screen with the selection bar", over)
	}
	if n := b.jsNumber(`const r = document.querySelector("#rec-table tr.rec td.sel input").getBoundingClientRect(); return Math.min(r.width, r.height)`); n < 20 {
		t.Errorf("row checkbox of %v px at phone width: too small to tap", n)
	}
	b.screenshot("phone-selection")
}

// TestBrowser_SelectAllMatchingBeyondOneListingPage: past one listing page (200) the offer says
// "more than 200" rather than guess, and Delete still confirms the exact count (a dry run);
// dismissing the confirmation deletes nothing.
func TestBrowser_SelectAllMatchingBeyondOneListingPage(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	a1 := w.co("A1")
	may := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	for i := range 201 {
		w.recording(t, a1, store.TypeDDI, "", may.Add(time.Duration(i)*time.Minute))
	}
	b.open(w.srv.URL() + "/")
	b.typeInto("#token", a1.adminTok)
	b.click("#signin-button")
	b.waitFor("a page of 25", func() bool {
		return b.jsNumber(`return document.querySelectorAll("#rec-table tr.rec").length`) == 25
	})
	b.click("#sel-page")
	b.waitFor("the offer of more than 200", func() bool {
		return b.text("#sel-all-matching") == "Select all matching (more than 200)" &&
			b.jsNumber(`return document.querySelector("#sel-all-matching").hidden ? 0 : 1`) == 1
	})
	b.click("#sel-all-matching")
	b.waitFor("all matching selected", func() bool { return b.text("#sel-count") == "All matching selected (more than 200)" })
	b.click("#sel-delete")
	var text string
	b.waitFor("the confirmation", func() bool {
		var ok bool
		text, ok = b.alertText()
		return ok
	})
	if !strings.HasPrefix(text, "Delete 204 recordings?") {
		t.Errorf("confirmation %q, want the exact count 204", text)
	}
	b.call("POST", b.s("/alert/dismiss"), map[string]any{}, nil)
	recs, _, err := w.db.ListRecordings(context.Background(), store.RecordingFilter{CompanyID: a1.co.ID, Limit: store.MaxListLimit})
	must(t, err)
	if len(recs) != 200 { // one full page: nothing went
		t.Errorf("%d recordings on the first store page after dismissing, want 200", len(recs))
	}
	if _, err := w.db.Recording(context.Background(), a1.recDDI.ID); err != nil {
		t.Errorf("dismissed, yet deleted: %v", err)
	}
}
