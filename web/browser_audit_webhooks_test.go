package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestBrowser_PersonEraseSendsTheDryRunsIDs: a recording of the person that arrives between the
// dry run and the confirmation is not erased unseen: the page erases only the ids the dry run
// listed, so the newcomer survives and the person still has it.
func TestBrowser_PersonEraseSendsTheDryRunsIDs(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	a1 := w.co("A1")

	b.signIn(w.srv.URL(), a1.adminTok)
	b.click("nav .tab[data-view=person]")
	b.typeInto("#person-form [name=number]", "+34600111222")
	b.click("#person-form button.person-lookup")
	b.waitText("#person-count", "3 recordings involve +34600111222")

	b.click("#person-erase")
	var text string
	b.waitFor("the erase confirmation", func() bool { var ok bool; text, ok = b.alertText(); return ok })
	if !strings.HasPrefix(text, "Erase 3 recordings of +34600111222?") {
		t.Errorf("confirmation %q, want the exact count 3", text)
	}
	// While the admin reads the confirmation, a new call of the person is recorded.
	late := w.recording(t, a1, store.TypeDDI, "", time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC))
	b.call("POST", b.s("/alert/accept"), map[string]any{}, nil)
	b.waitText("#person-note", "Erased 3 recordings.")
	b.waitText("#person-count", "1 recording involve")
	if _, err := w.db.Recording(ctx, late.ID); err != nil {
		t.Errorf("the recording that arrived after the dry run was erased unseen: %v", err)
	}
	for _, r := range []*store.Recording{a1.recDDI, a1.recOwn, a1.recOther} {
		if _, err := w.db.Recording(ctx, r.ID); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("recording %s not erased: %v", r.ID, err)
		}
	}
}

// TestBrowser_AuditLogNamesTheTokenAndVerifiesTheChain: a play, a download and a deletion made
// with a named token are shown in the audit log, newest first, in plain words with the token's
// name, its role and address; the deleted recording is marked as gone; Older/Newer page through
// the log; "Verify chain" says the chain is intact with its count. A broken verification (the
// API's answer, as /audit/verify gives it for a tampered store: store/audit_test.go tampers the
// bolt file, which package web cannot reach) is shown with its entry and problem. At 390 px the
// entries are cards, without sideways scrolling.
func TestBrowser_AuditLogNamesTheTokenAndVerifiesTheChain(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	a1 := w.co("A1")
	ops := mustToken(t, w.db, store.Token{Role: store.RoleCompanyAdmin, CompanyID: a1.co.ID, Name: "ops laptop"})
	cl := newClient(t, w.srv, ops)
	for _, st := range []struct{ method, path string }{
		{"GET", "/api/v1/recordings/" + a1.recOwn.ID + "/audio"},
		{"GET", "/api/v1/recordings/" + a1.recDDI.ID + "/audio?download=1"},
		{"DELETE", "/api/v1/recordings/" + a1.recOther.ID},
	} {
		if resp, body := cl.do(st.method, st.path, nil); resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", st.method, st.path, resp.StatusCode, body)
		}
	}

	b.signIn(w.srv.URL(), a1.adminTok)
	b.click("nav .tab[data-view=audit]")
	b.waitFor("the three entries", func() bool {
		return b.jsNumber(`return document.querySelectorAll("#audit-table tr.audit").length`) == 3
	})
	var rows []string
	b.js(`return [...document.querySelectorAll("#audit-table tr.audit")].map(r => r.innerText.replace(/\s+/g, " "))`, &rows)
	wants := []struct{ action, rec string }{{"deleted", a1.recOther.ID}, {"downloaded", a1.recDDI.ID}, {"played", a1.recOwn.ID}}
	for i, want := range wants {
		if i >= len(rows) {
			break
		}
		r := rows[i]
		if !strings.Contains(r, want.action) || !strings.Contains(r, want.rec) || !strings.Contains(r, "ops laptop · company admin") {
			t.Errorf("entry %d %q, want %q of %s by the token named ops laptop", i, r, want.action, want.rec)
		}
	}
	if len(rows) == 3 && (!strings.Contains(rows[0], "no longer exists") || strings.Contains(rows[1], "no longer exists")) {
		t.Errorf("the deleted recording %q is not marked as gone", rows[0])
	}
	if b.jsNumber(`return document.querySelector("#audit-older").disabled && document.querySelector("#audit-newer").disabled ? 1 : 0`) != 1 {
		t.Error("one page of entries offers Older or Newer")
	}

	if n := b.jsNumber(`return document.querySelectorAll("#audit-table button.show-rec").length`); n != 2 {
		t.Errorf("%v entries link their recording, want 2 (the deleted one is not linked)", n)
	}
	// The played recording's link opens Recordings filtered to it.
	b.click("#audit-table tr.audit:nth-child(3) button.show-rec")
	b.waitFor("the recordings view with the played recording only", func() bool {
		var ids []string
		b.js(`return document.querySelector("#recordings").hidden ? [] : [...document.querySelectorAll("#rec-table tr.rec")].map(r => r.dataset.id)`, &ids)
		return len(ids) == 1 && ids[0] == a1.recOwn.ID
	})
	b.click("nav .tab[data-view=audit]")
	b.waitFor("the three entries again", func() bool {
		return b.jsNumber(`return document.querySelectorAll("#audit-table tr.audit").length`) == 3
	})

	b.click("#audit-verify")
	b.waitText("#audit-verify-result", "Intact, 3 entries.")

	// A broken chain as the API reports it: the page says which entry and what is wrong.
	b.js(`const real = window.fetch;
		window.fetch = (u, o) => String(u).includes("/audit/verify")
			? Promise.resolve(new Response(JSON.stringify({chain: "x", entries: 3, ok: false, broken_at: 2, problem: "its hash does not match its content"}), {status: 200, headers: {"Content-Type": "application/json"}}))
			: real(u, o);
		return null`, nil)
	b.click("#audit-verify")
	b.waitText("#audit-verify-result", "Broken at entry 2: its hash does not match its content.")

	// Paging: 60 more entries make two pages, newest first.
	for i := range 60 {
		must(t, w.db.AppendAudit(ctx, &store.AuditEntry{Action: store.AuditSettingChange, CompanyID: a1.co.ID,
			Target: fmt.Sprintf("ddi:%d", i), Detail: "changed: record_calls", Role: store.RoleCompanyAdmin}))
	}
	b.click("nav .tab[data-view=recordings]")
	b.click("nav .tab[data-view=audit]")
	b.waitText("#audit-table tr.audit", "ddi:59")
	b.click("#audit-older")
	b.waitFor("the older page with the play", func() bool {
		return strings.Contains(b.text("#audit-table tbody"), "played")
	})
	b.click("#audit-newer")
	b.waitText("#audit-table tr.audit", "ddi:59")

	b.call("POST", b.s("/window/rect"), map[string]any{"width": 390, "height": 900}, nil)
	b.waitFor("cards at phone width", func() bool {
		return b.jsNumber(`return getComputedStyle(document.querySelector("#audit-table thead")).display === "none" ? 1 : 0`) == 1
	})
	if over := b.jsNumber(`return document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 0 {
		t.Errorf("the audit log at 390 px scrolls sideways by %v px", over)
	}
	b.screenshot("audit-390")
}

// TestBrowser_WebhookCreateSecretOnceTestPingAndDelete: a brand admin picks a company and
// creates a webhook; a plain-http URL is refused next to its input; the signing secret is shown
// once in a box with Copy and is gone after a reload; the list shows the URL, the events and the
// secret's hint; switching it off is saved; "Send test" puts a ping in the delivery log (pending,
// 0 attempts: the dispatcher does not run in these tests, so it is never sent); at 390 px the
// page does not scroll sideways; Delete (confirmed) removes it.
func TestBrowser_WebhookCreateSecretOnceTestPingAndDelete(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	a2 := w.co("A2")

	b.signIn(w.srv.URL(), w.brandTok["A"])
	b.click("nav .tab[data-view=webhooks]")
	b.waitText("#webhook-table tbody", "No webhooks yet.")
	b.setValue("#webhook-create [name=company_id]", a2.co.ID)
	b.typeInto("#webhook-create [name=url]", "http://hooks.example.com/callrec")
	b.click("#webhook-create button.create-webhook")
	b.waitText("#webhook-create .field-error[data-field=url]", "https://")

	b.js(`document.querySelector("#webhook-create [name=url]").value = ""; return null`, nil)
	b.typeInto("#webhook-create [name=url]", "https://hooks.example.com/callrec")
	b.click(`#webhook-create [name=events][value="recording.ready"]`)
	b.click(`#webhook-create [name=events][value="recording.missing"]`)
	b.click("#webhook-create button.create-webhook")
	b.waitText("#webhook-table tr.webhook", "https://hooks.example.com/callrec")
	hooks, err := w.db.Webhooks(ctx, a2.co.ID)
	must(t, err)
	if len(hooks) != 1 || strings.Join(hooks[0].Events, ",") != "recording.missing,recording.ready" || !hooks[0].Active {
		for _, h := range hooks {
			t.Logf("webhook %+v", *h)
		}
		t.Fatalf("company A2 has %d webhooks, want one active for recording.ready and recording.missing", len(hooks))
	}
	hook := hooks[0]
	if b.jsNumber(`return document.querySelector("#webhook-secret-box").hidden ? 0 : 1`) != 1 {
		t.Fatal("the new secret is not shown")
	}
	secret := b.text("#webhook-secret")
	if len(secret) < 16 || !strings.HasSuffix(secret, hook.SecretHint) || !strings.Contains(b.text("#webhook-secret-box"), "will not be shown again") {
		t.Errorf("secret box %q with secret %q, want the secret (hint %s) and that it will not be shown again", b.text("#webhook-secret-box"), secret, hook.SecretHint)
	}
	if b.jsNumber(`return document.querySelector("#webhook-copy") ? 1 : 0`) != 1 {
		t.Error("no Copy button next to the secret")
	}
	row := b.text("#webhook-table tr.webhook")
	if !strings.Contains(row, "recording.missing, recording.ready") || !strings.Contains(row, "Company A2") || !strings.Contains(row, hook.SecretHint) {
		t.Errorf("webhook row %q, want its events, company and secret hint", row)
	}

	// After a reload the secret is nowhere on the page.
	b.open(w.srv.URL() + "/")
	b.waitFor("signed in again", func() bool { return b.jsNumber(`return document.querySelector("#nav").hidden ? 0 : 1`) == 1 })
	b.click("nav .tab[data-view=webhooks]")
	b.waitText("#webhook-table tr.webhook", "https://hooks.example.com/callrec")
	if b.jsNumber(`return document.body.innerHTML.includes(`+jsString(secret)+`) ? 1 : 0`) != 0 {
		t.Error("the secret is still on the page after a reload")
	}

	b.click("#webhook-table tr.webhook input.active")
	b.waitText("#webhook-table tr.webhook .status", "Off.")
	if got, err := w.db.Webhook(ctx, hook.ID); err != nil || got.Active {
		t.Errorf("after switching it off the webhook is %+v (%v), want inactive", got, err)
	}

	b.click("#webhook-table tr.webhook button.send-test")
	b.waitText("#delivery-table tr.delivery", "ping")
	d := b.text("#delivery-table tr.delivery")
	if !strings.Contains(d, "pending") {
		t.Errorf("the test ping %q, want pending (no dispatcher runs here)", d)
	}
	// Paging: 20 more pings make a second page of the log (20 a page).
	for range 20 {
		_, err := w.db.EnqueuePing(ctx, hook.ID)
		must(t, err)
	}
	deliveries := func() float64 {
		return b.jsNumber(`return document.querySelectorAll("#delivery-table tr.delivery").length`)
	}
	b.click("#delivery-refresh")
	b.waitFor("a full first page with Older", func() bool {
		return deliveries() == 20 && b.jsNumber(`return document.querySelector("#delivery-older").disabled ? 0 : 1`) == 1
	})
	b.click("#delivery-older")
	b.waitFor("the oldest ping alone on the second page", func() bool { return deliveries() == 1 })
	b.click("#delivery-newer")
	b.waitFor("the first page again", func() bool { return deliveries() == 20 })

	b.call("POST", b.s("/window/rect"), map[string]any{"width": 390, "height": 900}, nil)
	b.waitFor("cards at phone width", func() bool {
		return b.jsNumber(`return getComputedStyle(document.querySelector("#delivery-table thead")).display === "none" ? 1 : 0`) == 1
	})
	if over := b.jsNumber(`return document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 0 {
		var wide []string
		b.js(`const W = document.documentElement.clientWidth; return [...document.querySelectorAll("#webhooks *")].filter(e => e.getBoundingClientRect().right > W).slice(0, 5).map(e => e.tagName + "." + e.className + "#" + e.id + " " + Math.round(e.getBoundingClientRect().right))`, &wide)
		t.Errorf("the webhooks view at 390 px scrolls sideways by %v px: %v", over, wide)
	}
	b.screenshot("webhooks-390")
	b.call("POST", b.s("/window/rect"), map[string]any{"width": 1280, "height": 900}, nil)

	b.click("#webhook-table tr.webhook button.delete")
	var text string
	b.waitFor("the delete confirmation", func() bool { var ok bool; text, ok = b.alertText(); return ok })
	if !strings.Contains(text, "https://hooks.example.com/callrec") {
		t.Errorf("confirmation %q does not name the webhook", text)
	}
	b.call("POST", b.s("/alert/accept"), map[string]any{}, nil)
	b.waitFor("the row gone", func() bool {
		return b.jsNumber(`return document.querySelectorAll("#webhook-table tr.webhook").length`) == 0
	})
	if _, err := w.db.Webhook(ctx, hook.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("the webhook was not deleted: %v", err)
	}
}

// TestBrowser_AuditLogBrandAdminPicksTheCompany: a brand admin picks whose log to read (its
// companies, or the brand's own entries) and sees that company's entries; a company admin is
// offered no picker and reads its own company's only.
func TestBrowser_AuditLogBrandAdminPicksTheCompany(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	a1, a2 := w.co("A1"), w.co("A2")
	if resp, body := newClient(t, w.srv, a1.adminTok).do("DELETE", "/api/v1/recordings/"+a1.recOther.ID, nil); resp.StatusCode >= 300 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}

	b.signIn(w.srv.URL(), w.brandTok["A"])
	b.click("nav .tab[data-view=audit]")
	var opts []string
	b.waitFor("the chain picker", func() bool {
		b.js(`return [...document.querySelectorAll("#audit-chain option")].map(o => o.textContent)`, &opts)
		return len(opts) > 0
	})
	if joined := strings.Join(opts, "|"); !strings.Contains(joined, "Company A1") || !strings.Contains(joined, "Company A2") ||
		strings.Contains(joined, "Company B1") || !strings.Contains(joined, "Brand A") {
		t.Errorf("brand A's admin may pick %q, want its companies and its brand, not brand B's", joined)
	}
	b.setValue("#audit-chain", "company:"+a1.co.ID)
	b.waitText("#audit-table tr.audit", "deleted")
	b.setValue("#audit-chain", "company:"+a2.co.ID)
	b.waitText("#audit-table tbody", "No entries.")

	b.signIn(w.srv.URL(), a2.adminTok)
	b.click("nav .tab[data-view=audit]")
	b.waitText("#audit-table tbody", "No entries.")
	if b.jsNumber(`return document.querySelector("#audit-chain").closest("label").hidden ? 1 : 0`) != 1 {
		t.Error("a company admin is offered a chain picker")
	}
}
