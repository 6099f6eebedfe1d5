package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrec/callrec/esl"
	"github.com/callrec/callrec/store"
)

// Browser tests of the compliance features in the page (issue 15): the live calls, legal holds
// and person views, and what a recording shows of its masks, consent and integrity.

// liveFake is a call controller whose calls change as a real one's do: pause and resume flip
// Masked (409 when they do not apply, as esl answers), start and stop add and drop the user's
// on-demand recording; it counts the listings.
type liveFake struct {
	mu       sync.Mutex
	calls    []esl.LiveCall
	got      []esl.ControlRequest
	listings atomic.Int64
}

func (f *liveFake) LiveCalls() []esl.LiveCall {
	f.listings.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *liveFake) LiveCall(id string) (esl.LiveCall, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c.ID == id {
			return c, true
		}
	}
	return esl.LiveCall{}, false
}

func (f *liveFake) add(c esl.LiveCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *liveFake) requests() []esl.ControlRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func (f *liveFake) ControlCall(_ context.Context, id string, r esl.ControlRequest) (esl.LiveCall, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r)
	i := slices.IndexFunc(f.calls, func(c esl.LiveCall) bool { return c.ID == id })
	if i < 0 {
		return esl.LiveCall{}, esl.ErrCallNotFound
	}
	c := &f.calls[i]
	switch r.Action {
	case esl.ActionPause, esl.ActionResume:
		switch {
		case len(c.Recordings) == 0:
			return *c, fmt.Errorf("%w: nothing is recording", esl.ErrControlConflict)
		case c.Masked == (r.Action == esl.ActionPause):
			return *c, fmt.Errorf("%w: the recordings are already %sd", esl.ErrControlConflict, r.Action)
		}
		c.Masked = r.Action == esl.ActionPause
	case esl.ActionStart:
		c.Recordings = append(c.Recordings, esl.LiveRecording{ID: "od-" + r.UserID, Type: store.TypeOnDemand, Trigger: "api", UserID: r.UserID, StartedAt: time.Now()})
	case esl.ActionStop:
		c.Recordings = slices.DeleteFunc(c.Recordings, func(lr esl.LiveRecording) bool { return lr.UserID == r.UserID })
	}
	return *c, nil
}

// press clicks the first element matching css from the page itself, once it is there: the
// views re-render their rows (live calls every few seconds), so an element WebDriver found can
// be replaced before its click lands. The click runs after the script returns, so a confirm it
// opens does not block the script.
func (b *browser) press(css string) {
	b.t.Helper()
	b.waitFor("element "+css+" to press", func() bool {
		return b.jsNumber(`const e = document.querySelector(`+jsString(css)+`); if (!e) return 0; setTimeout(() => e.click(), 0); return 1`) == 1
	})
}

// offered is the list of the tabs the signed-in role is offered.
func (b *browser) offered() []string {
	var tabs []string
	b.js(`return [...document.querySelectorAll("nav .tab")].filter(e => !e.hidden).map(e => e.dataset.view)`, &tabs)
	return tabs
}

// sideways is how far the page scrolls sideways (0: not at all).
func (b *browser) sideways() float64 {
	return b.jsNumber(`return document.documentElement.scrollWidth - document.documentElement.clientWidth`)
}

// TestBrowser_ComplianceTabsByRole: Live calls is offered to every role, Legal holds and Person
// to company admins and above only (the API refuses them to a company user), and a company
// user's Live calls view offers no control of another user's call.
func TestBrowser_ComplianceTabsByRole(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t, func(s *Server) { s.Calls = &liveFake{} })
	a1 := w.co("A1")
	for _, tt := range []struct {
		name, token string
		calls, held bool // offered Live calls; Legal holds and Person
	}{
		{"platform", w.platform, true, true},
		{"brand", w.brandTok["A"], true, true},
		{"company_admin", a1.adminTok, true, true},
		{"user", a1.userTok, true, false},
	} {
		b.signIn(w.srv.URL(), tt.token)
		tabs := b.offered()
		for view, want := range map[string]bool{"calls": tt.calls, "holds": tt.held, "person": tt.held} {
			if slices.Contains(tabs, view) != want {
				t.Errorf("%s: tab %s offered=%v, want %v (tabs %v)", tt.name, view, !want, want, tabs)
			}
		}
	}
}

// TestBrowser_LegalHoldPlaceDeleteRefusedRelease: a company admin places a hold on a recording
// (a missing reason is shown next to its input), the recordings view's Delete of it is refused
// naming the hold, the hold is released after a confirmation and listed as released with who
// and when, and the recording can then be deleted. A brand admin places a number hold for the
// company it picks.
func TestBrowser_LegalHoldPlaceDeleteRefusedRelease(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	a1, a2 := w.co("A1"), w.co("A2")
	b.signIn(w.srv.URL(), a1.adminTok)
	b.click("nav .tab[data-view=holds]")
	b.waitText("#holds-table tbody", "No legal holds.")
	if b.jsNumber(`return document.querySelector("#hold-create .hold-company").hidden ? 1 : 0`) != 1 {
		t.Error("a company admin is offered a company picker for its hold")
	}

	// No reason: the API's field error next to the reason input, nothing placed.
	b.setValue("#hold-create [name=kind]", "recording")
	b.typeInto("#hold-create [name=recording_id]", a1.recDDI.ID)
	b.click("#hold-create button.place-hold")
	b.waitText("#hold-create .field-error[data-field=reason]", "required")
	if hs, _ := w.db.Holds(ctx, []string{a1.co.ID}, false); len(hs) != 0 {
		t.Fatalf("a hold without a reason was placed: %+v", hs)
	}
	b.typeInto("#hold-create [name=reason]", "case 2026-17")
	b.click("#hold-create button.place-hold")
	b.waitText("#holds-table tr.hold.active", "case 2026-17")
	if got := b.text("#holds-table tr.hold.active .what"); !strings.Contains(got, a1.recDDI.ID) {
		t.Errorf("the hold row says %q, want the recording", got)
	}
	if got := b.text("#holds-table tr.hold.active .placed"); !strings.Contains(got, "by token") {
		t.Errorf("the hold row says %q, want who placed it", got)
	}
	if b.text("#hold-create .field-error[data-field=reason]") != "" {
		t.Error("the reason's error stays after the hold was placed")
	}

	// Delete the held recording in the recordings view: refused, naming the hold.
	b.click("nav .tab[data-view=recordings]")
	b.press("#rec-table tr.rec[data-id='" + a1.recDDI.ID + "'] .delete")
	b.acceptConfirm()
	b.waitText("#rec-error", "legal hold")
	if _, err := w.db.Recording(ctx, a1.recDDI.ID); err != nil {
		t.Fatalf("the held recording went: %v", err)
	}

	// Release after the confirmation: listed as released, by whom.
	b.click("nav .tab[data-view=holds]")
	b.press("#holds-table tr.hold.active .release")
	if text := b.acceptConfirm(); !strings.Contains(text, "case 2026-17") {
		t.Errorf("release confirmation %q does not name the hold", text)
	}
	b.waitText("#holds-table tr.hold.released .released-cell", "by token")
	if b.jsNumber(`return document.querySelectorAll("#holds-table tr.hold.released .release").length`) != 0 {
		t.Error("a released hold still offers Release")
	}
	b.click("nav .tab[data-view=recordings]")
	b.press("#rec-table tr.rec[data-id='" + a1.recDDI.ID + "'] .delete")
	b.acceptConfirm()
	b.waitFor("the released recording to be deleted", func() bool {
		_, err := w.db.Recording(ctx, a1.recDDI.ID)
		return store.ErrorCode(err) == store.ENOTFOUND
	})

	// A brand admin picks the company; a number hold takes the number input.
	b.signIn(w.srv.URL(), w.brandTok["A"])
	b.click("nav .tab[data-view=holds]")
	b.find("#holds-table tr.hold.released")
	b.setValue("#hold-create [name=company_id]", a2.co.ID)
	b.setValue("#hold-create [name=kind]", "number")
	if b.jsNumber(`return [...document.querySelectorAll("#hold-create .hold-by")].filter(l => !l.hidden).length`) != 1 {
		t.Error("a number hold shows more than its number input")
	}
	b.typeInto("#hold-create [name=number]", "+34600111222")
	b.typeInto("#hold-create [name=reason]", "matter 9")
	b.click("#hold-create button.place-hold")
	b.waitText("#holds-table tr.hold.active", "matter 9")
	hs, err := w.db.Holds(ctx, []string{a2.co.ID}, true)
	must(t, err)
	if len(hs) != 1 || hs[0].Kind != store.HoldNumber || hs[0].Number != "+34600111222" {
		t.Errorf("company A2's holds: %+v, want the number hold", hs)
	}
}

// TestBrowser_PersonLookupZIPAndEraseWithAHeldRecording: a company admin looks a number up (the
// count of its recordings), downloads them as one ZIP, and erases them: the confirmation names
// the exact count and the held recording, which stays; the others go.
func TestBrowser_PersonLookupZIPAndEraseWithAHeldRecording(t *testing.T) {
	downloads := t.TempDir()
	b := startBrowser(t, downloads)
	w := newWorld(t)
	ctx := context.Background()
	a1 := w.co("A1")
	held := &store.Hold{CompanyID: a1.co.ID, Kind: store.HoldRecording, RecordingID: a1.recOwn.ID, Reason: "case 44"}
	must(t, w.db.PlaceHold(ctx, held, "test"))

	b.signIn(w.srv.URL(), a1.adminTok)
	b.click("nav .tab[data-view=person]")
	b.typeInto("#person-form [name=number]", "600 111 222x")
	b.click("#person-form button.person-lookup")
	b.waitFor("the number's error next to its input", func() bool {
		return b.text("#person-form .field-error[data-field=number]") != ""
	})
	b.js(`document.querySelector("#person-form [name=number]").value = ""; return null`, nil)
	b.typeInto("#person-form [name=number]", "+34600111222")
	b.click("#person-form button.person-lookup")
	b.waitText("#person-count", "3 recordings involve +34600111222")
	if n := b.jsNumber(`return document.querySelectorAll("#person-table tr.subject-rec").length`); n != 3 {
		t.Errorf("%v recordings listed, want 3", n)
	}

	b.click("#person-zip")
	zip := newZIP(t, b, downloads, map[string]bool{})
	if len(zip) != 3 {
		t.Errorf("the ZIP holds %d recordings, want 3", len(zip))
	}

	b.click("#person-erase")
	var text string
	b.waitFor("the erase confirmation", func() bool { var ok bool; text, ok = b.alertText(); return ok })
	if !strings.HasPrefix(text, "Erase 2 recordings of +34600111222?") || !strings.Contains(text, held.ID) {
		t.Errorf("confirmation %q, want the exact count 2 and the hold %s named", text, held.ID)
	}
	b.call("POST", b.s("/alert/accept"), map[string]any{}, nil)
	note := b.waitText("#person-note", "Erased 2 recordings.")
	if !strings.Contains(note, "legal hold") {
		t.Errorf("the outcome %q does not say why one was not erased", note)
	}
	b.waitText("#person-count", "1 recording involve")
	if _, err := w.db.Recording(ctx, a1.recOwn.ID); err != nil {
		t.Errorf("the held recording was erased: %v", err)
	}
	for _, r := range []*store.Recording{a1.recDDI, a1.recOther} {
		if _, err := w.db.Recording(ctx, r.ID); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("recording %s not erased: %v", r.ID, err)
		}
	}
}

// TestBrowser_LiveCallsPauseResumeStartStop: a company admin sees the company's live calls with
// caller, callee, users by name and recordings; Pause and Resume go through the controller and
// the row follows; a 409 reason is shown next to its call; a call that starts while the tab is
// open appears without a click, and the refreshing stops once another tab is shown. A company
// user sees its own call only, with Pause and Start my recording; the user of a company without
// on-demand is offered no control.
func TestBrowser_LiveCallsPauseResumeStartStop(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	fake := &liveFake{}
	w := newWorld(t, func(s *Server) { s.Calls = fake })
	ctx := context.Background()
	a1, a2 := w.co("A1"), w.co("A2")
	now := time.Now().UTC()
	fake.add(esl.LiveCall{ID: "call-A1", CompanyID: a1.co.ID, Direction: store.DirectionInbound, Caller: "+34600111222", Callee: a1.ddi.Number,
		UserIDs: []string{a1.user.ID}, StartedAt: now, Recordings: []esl.LiveRecording{{ID: "r1", Type: store.TypeDDI, Trigger: store.TriggerDDI, StartedAt: now}}})
	fake.add(esl.LiveCall{ID: "quiet-A1", CompanyID: a1.co.ID, Direction: store.DirectionInbound, Caller: "+34600999888", Callee: a1.ddi.Number,
		UserIDs: []string{a1.user2.ID}, StartedAt: now})
	fake.add(esl.LiveCall{ID: "call-A2", CompanyID: a2.co.ID, Caller: "+34600777666", UserIDs: []string{a2.user.ID}, StartedAt: now,
		Recordings: []esl.LiveRecording{{ID: "r2", Type: store.TypeDDI, Trigger: store.TriggerDDI, StartedAt: now}}})
	a2.co.OnDemand, a2.co.OnDemandCode = store.OnDemandDisabled, ""
	must(t, w.db.UpdateCompany(ctx, a2.co))

	row := func(id string) string { return "#calls-table tr.call[data-id='" + id + "']" }
	b.signIn(w.srv.URL(), a1.adminTok)
	b.click("nav .tab[data-view=calls]")
	b.find(row("call-A1"))
	if got := b.text(row("call-A1")); !strings.Contains(got, "+34600111222") || !strings.Contains(got, a1.user.Name) || !strings.Contains(got, "DDI") {
		t.Errorf("the call's row says %q, want its caller, its user by name and its DDI recording", got)
	}
	if b.jsNumber(`return document.querySelectorAll("#calls-table tr.call").length`) != 2 {
		t.Error("the company admin does not see exactly its company's two calls")
	}
	b.press(row("call-A1") + " button.pause")
	b.waitText(row("call-A1")+" .paused", "paused")
	b.press(row("call-A1") + " button.resume")
	b.waitText(row("call-A1")+" .paused", "no")
	if got := fake.requests(); len(got) != 2 || got[0].Action != "pause" || got[1].Action != "resume" {
		t.Errorf("the controller got %+v, want pause then resume", got)
	}
	// A call with nothing recording: the API's 409 reason, next to the call, across refreshes.
	b.press(row("quiet-A1") + " button.pause")
	b.waitText(row("quiet-A1")+" .call-note", "nothing is recording")
	// The admin starts the recording of the call's user.
	b.press(row("quiet-A1") + " button.start")
	b.waitText(row("quiet-A1")+" .recs", "on demand ("+a1.user2.Name+")")
	if got := fake.requests(); got[len(got)-1].Action != "start" || got[len(got)-1].UserID != a1.user2.ID {
		t.Errorf("the admin's start reached the controller as %+v", got[len(got)-1])
	}

	// Refreshed while open: a new call appears on its own.
	fake.add(esl.LiveCall{ID: "new-A1", CompanyID: a1.co.ID, Caller: "+34600555444", UserIDs: []string{a1.user.ID}, StartedAt: now})
	b.find(row("new-A1"))
	// ... and not once another tab is shown.
	b.click("nav .tab[data-view=recordings]")
	b.find("#rec-table tr.rec")
	before := fake.listings.Load()
	time.Sleep(7 * time.Second) // more than two refresh periods: a running refresh would list again
	if after := fake.listings.Load(); after > before+1 {
		t.Errorf("the live calls were listed %d more times with the tab closed", after-before)
	}

	// The company user: its own call only, Pause and Start my recording.
	b.signIn(w.srv.URL(), a1.userTok)
	b.click("nav .tab[data-view=calls]")
	b.find(row("call-A1"))
	if b.jsNumber(`return document.querySelectorAll("#calls-table `+`tr.call[data-id='quiet-A1']").length`) != 0 {
		t.Error("the user sees another user's call")
	}
	b.press(row("call-A1") + " button.start")
	b.waitText(row("call-A1")+" button.stop", "Stop my recording")
	if got := fake.requests(); got[len(got)-1].UserID != a1.user.ID {
		t.Errorf("the user's start acted for %q", got[len(got)-1].UserID)
	}
	b.press(row("call-A1") + " button.pause")
	b.waitText(row("call-A1")+" .paused", "paused")

	// A user of a company without on-demand: the call, no control (the API would refuse).
	b.signIn(w.srv.URL(), a2.userTok)
	b.click("nav .tab[data-view=calls]")
	b.find(row("call-A2"))
	if n := b.jsNumber(`return document.querySelectorAll("#calls-table tr.call button").length`); n != 0 {
		t.Errorf("the user of a company without on-demand is offered %v controls", n)
	}
}

// TestBrowser_RecordingShowsMasksConsentIntegrity: a recording lists its paused spans with who
// paused them, its consent record, its SHA-256 shortened (the whole in the title); a recording
// whose file no longer matches is shown as the problem it is. At phone width the card holds it.
func TestBrowser_RecordingShowsMasksConsentIntegrity(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	a1 := w.co("A1")
	played := time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)
	masked := mustReadyRecording(t, w.db, w.dir, &store.Recording{CompanyID: a1.co.ID, CallID: "call-masked", Type: store.TypeDDI,
		Trigger: store.TriggerDDI, DDIID: a1.ddi.ID, Recorder: a1.ddi.Number, Direction: store.DirectionInbound, Caller: "+34600111222",
		Callee: a1.ddi.Number, StartedAt: played,
		Masks:   []store.MaskSpan{{OffsetMS: 12000, LengthMS: 19000, By: a1.user.ID}},
		Consent: &store.Consent{Method: store.ConsentPress1, Announcement: "ivr/press1.wav", PlayedAt: played}}, w.mp3)
	if len(masked.Masks) != 1 || masked.Consent == nil {
		t.Fatalf("the store did not keep the masks and consent of the test recording: %+v", masked)
	}
	must(t, w.db.SetRecordingIntegrity(ctx, a1.recOther.ID, a1.recOther.MP3Path, store.IntegrityMismatch))

	row := func(id string) string { return "#rec-table tr.rec[data-id='" + id + "'] .compliance" }
	for _, width := range []int{1280, 390} {
		b.call("POST", b.s("/window/rect"), map[string]any{"width": width, "height": 900}, nil)
		b.signIn(w.srv.URL(), a1.adminTok)
		b.find(row(masked.ID))
		got := b.waitText(row(masked.ID), "paused 0:12–0:31 by "+a1.user.Name)
		if !strings.Contains(got, "caller pressed 1") {
			t.Errorf("%d px: the recording's checks say %q, want its consent", width, got)
		}
		if sum := b.jsString(`return document.querySelector("` + row(masked.ID) + ` code.sha256").title`); !strings.Contains(sum, masked.SHA256) {
			t.Errorf("%d px: the SHA-256's title %q, want %s", width, sum, masked.SHA256)
		}
		if got := b.text(row(a1.recOther.ID)); !strings.Contains(got, "integrity: mismatch") {
			t.Errorf("%d px: an altered file is shown as %q", width, got)
		}
		if n := b.jsNumber(`return document.querySelectorAll("#rec-table tr.rec[data-id='` + a1.recOther.ID + `'] :is(.play, .download)").length`); n != 0 {
			t.Errorf("%d px: an altered file is offered Play/Download (the API refuses to serve it)", width)
		}
		if got := b.text(row(a1.recDDI.ID)); !strings.Contains(got, "SHA-256 "+a1.recDDI.SHA256[:12]) || strings.Contains(got, "consent") {
			t.Errorf("%d px: a plain recording's checks say %q", width, got)
		}
		b.screenshot(fmt.Sprintf("recordings-checks-%d", width))
		if over := b.sideways(); over > 0 {
			t.Errorf("%d px: the recordings scroll sideways by %v px", width, over)
		}
	}
}

// TestBrowser_ComplianceViewsAtPhoneWidth: at 390 px each new view, with its rows and messages
// in, stays inside the screen (no sideways scroll, no control off-screen).
func TestBrowser_ComplianceViewsAtPhoneWidth(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	fake := &liveFake{}
	w := newWorld(t, func(s *Server) { s.Calls = fake })
	ctx := context.Background()
	a1 := w.co("A1")
	fake.add(esl.LiveCall{ID: "call-A1", CompanyID: a1.co.ID, Direction: store.DirectionInbound, Caller: "+34600111222", Callee: a1.ddi.Number,
		UserIDs: []string{a1.user.ID, a1.user2.ID}, StartedAt: time.Now()})
	must(t, w.db.PlaceHold(ctx, &store.Hold{CompanyID: a1.co.ID, Kind: store.HoldCall, CallID: "call-A1-with-a-rather-long-identifier-0123456789",
		Reason: "a long matter reference that goes on and on past the width of a phone screen"}, "test"))
	b.call("POST", b.s("/window/rect"), map[string]any{"width": 390, "height": 844}, nil)
	for _, tt := range []struct{ name, token string }{{"brand admin", w.brandTok["A"]}, {"company admin", a1.adminTok}} {
		b.signIn(w.srv.URL(), tt.token)
		for _, view := range []struct {
			name string
			fill func()
		}{
			{"calls", func() {
				b.press("#calls-table tr.call button.pause")
				b.waitText("#calls-table tr.call .call-note", "nothing is recording")
			}},
			{"holds", func() {
				b.find("#holds-table tr.hold")
				b.click("#hold-create button.place-hold")
				b.waitText("#hold-create .field-error[data-field=reason]", "required")
			}},
			{"person", func() {
				if tt.name == "brand admin" {
					b.setValue("#person-form [name=company_id]", a1.co.ID)
				}
				b.js(`document.querySelector("#person-form [name=number]").value = "+34600111222"; return null`, nil)
				b.click("#person-form button.person-lookup")
				b.find("#person-table tr.subject-rec")
			}},
		} {
			b.click("nav .tab[data-view=" + view.name + "]")
			view.fill()
			b.screenshot(strings.ReplaceAll(tt.name, " ", "-") + "-390-" + view.name)
			if over := b.sideways(); over > 0 {
				b.screenshot(tt.name + "-" + view.name)
				t.Errorf("%s, %s: the page is %v px wider than the phone", tt.name, view.name, over)
			}
			var off []string
			b.js(`const w = document.documentElement.clientWidth; return [...document.querySelectorAll("#`+view.name+` :is(button, input, select, code, .status)")]
				.filter(e => e.offsetParent !== null).filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > w + 1; })
				.slice(0, 8).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))`, &off)
			if len(off) > 0 {
				b.screenshot(tt.name + "-" + view.name + "-off")
				t.Errorf("%s, %s: controls off-screen at 390 px: %v", tt.name, view.name, off)
			}
		}
	}
}

// TestBrowser_MaskCodeAndConsentForms: a brand admin sets a company's mask code and is told when
// calls honour it; a company admin sees it read-only; a company admin's press_1 without an
// announcement is refused next to the consent select, and with one is saved, saying from when.
func TestBrowser_MaskCodeAndConsentForms(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	a1 := w.co("A1")
	a1.co.OnDemand = store.OnDemandKeyDTMF
	must(t, w.db.UpdateCompany(ctx, a1.co))
	a1.ddi.RecordCalls = store.RecordInbound
	must(t, w.db.UpdateDDI(ctx, a1.ddi))

	co := "#co-table tr.company[data-id='" + a1.co.ID + "']"
	b.signIn(w.srv.URL(), w.brandTok["A"])
	b.click("nav .tab[data-view=companies]")
	b.find(co + " input.mask-code")
	b.typeInto(co+" input.mask-code", "9")
	b.click(co + " button.save")
	b.waitText(co+" .status", "the mask code applies to calls that start from now")
	got, err := w.db.Company(ctx, a1.co.ID)
	must(t, err)
	if got.MaskCode != "9" {
		t.Fatalf("mask code stored %q, want 9", got.MaskCode)
	}

	b.signIn(w.srv.URL(), a1.adminTok)
	b.click("nav .tab[data-view=companies]")
	b.waitText(co+" .ro-mask", "*9")
	if b.jsNumber(`return document.querySelectorAll("`+co+` input.mask-code").length`) != 0 {
		t.Error("a company admin is offered the mask code to edit (the API refuses it)")
	}

	ddi := "#ddi-table tr.ddi[data-id='" + a1.ddi.ID + "']"
	b.click("nav .tab[data-view=ddis]")
	b.find(ddi + " select.consent")
	b.setValue(ddi+" select.consent", "press_1")
	b.click(ddi + " button.save")
	b.waitText(ddi+" .field-error[data-field=consent]", "announcement")
	b.typeInto(ddi+" input.announcement", "ivr/press1.wav")
	b.click(ddi + " button.save")
	b.waitText(ddi+" .status", "the consent mode applies to calls that start from now")
	d, err := w.db.DDI(ctx, a1.ddi.ID)
	must(t, err)
	if d.Consent != store.ConsentPress1 {
		t.Errorf("consent stored %q, want press_1", d.Consent)
	}
}
