package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/callrec/callrec/store"
)

// Browser tests of the administration views by role (issue 14 item 4), on the harness of
// browser_test.go and the world of world_test.go.

// jsString runs script and returns its string result.
func (b *browser) jsString(script string) string {
	b.t.Helper()
	var s string
	b.js(script, &s)
	return s
}

// waitText waits until the text of css contains want, and returns it.
func (b *browser) waitText(css, want string) string {
	b.t.Helper()
	var got string
	b.waitFor(css+" to say "+want, func() bool {
		got = b.jsString(`const e = document.querySelector("` + css + `"); return e ? e.textContent : ""`)
		return strings.Contains(got, want)
	})
	return got
}

// setValue sets a control's value (or checkbox state) and fires its change event, as a person
// would.
func (b *browser) setValue(css, value string) {
	b.t.Helper()
	j, _ := json.Marshal(value)
	b.js(`const e = document.querySelector("`+css+`"); if (!e) throw new Error("no `+css+`"); const v = `+string(j)+`;
		if (e.type === "checkbox") e.checked = v === "true"; else e.value = v;
		e.dispatchEvent(new Event("change")); return null`, nil)
}

// acceptConfirm accepts the open confirm dialog and returns its text.
func (b *browser) acceptConfirm() string {
	b.t.Helper()
	var text string
	b.waitFor("a confirm dialog", func() bool {
		var env struct{ Value any }
		req, _ := http.NewRequest("GET", b.base+b.s("/alert/text"), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&env) != nil || resp.StatusCode != 200 {
			return false
		}
		text, _ = env.Value.(string)
		return true
	})
	b.call("POST", b.s("/alert/accept"), map[string]any{}, nil)
	return text
}

// signIn opens the page and signs in with token, waiting for the identity by name.
func (b *browser) signIn(url, token string) {
	b.t.Helper()
	// Forget any earlier sign-in on a page of the same origin that runs no script (the page
	// itself could store its token again while it signs in).
	b.open(url + "/ui/style.css")
	b.js(`sessionStorage.clear(); return null`, nil)
	b.open(url + "/")
	b.typeInto("#token", token)
	b.click("#signin-button")
	b.waitFor("the identity in the header", func() bool {
		return strings.Contains(b.jsString(`return document.querySelector("#whoami").textContent`), "token")
	})
}

// meStatus calls /api/v1/me with secret and returns the status and the role.
func meStatus(t *testing.T, base, secret string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var me struct {
		Role string `json:"role"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&me)
	return resp.StatusCode, me.Role
}

func TestBrowser_BrandAdminEditsCompaniesAndCreatesDDI(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	tc := w.co("B2")
	b.signIn(w.srv.URL(), w.brandTok["B"])
	b.click("nav .tab[data-view=companies]")
	row := "#co-table tr.company[data-id='" + tc.co.ID + "']"
	b.find(row + " select.on-demand")

	// The explanation of the modes and their cost is on the page.
	help := b.jsString(`const h = document.querySelector("#on-demand-help"); return h.hidden ? "" : h.textContent`)
	for _, want := range []string{"Record key", "SIP INFO", "blind", "typed on the keypad", "every digit", "heard", "pay nothing"} {
		if !strings.Contains(help, want) {
			t.Errorf("on-demand explanation lacks %q: %q", want, help)
		}
	}
	b.setValue(row+" select.on-demand", "key_dtmf")
	b.waitText(row+" .on-demand-hint", "every digit")

	// Every field at once.
	b.setValue(row+" input.name", "Company B2 renamed")
	b.setValue(row+" input.on-demand-code", "55")
	b.setValue(row+" input.removal", "false")
	b.setValue(row+" input.retention", "30")
	b.setValue(row+" input.quota", "500")
	b.setValue(row+" input.stereo", "true")
	b.setValue(row+" input.country", "pt")
	b.click(row + " button.save")
	msg := b.waitText(row+" .status.ok", "Saved")
	for _, want := range []string{"calls in progress keep the old", "blind transfer to the code follows it at once", "next sweep", "within an hour", "stereo applies to recordings of calls that start from now"} {
		if !strings.Contains(msg, want) {
			t.Errorf("save message %q lacks %q", msg, want)
		}
	}
	co, err := w.db.Company(ctx, tc.co.ID)
	must(t, err)
	if co.Name != "Company B2 renamed" || co.OnDemand != store.OnDemandKeyDTMF || co.OnDemandCode != "55" || co.RemovalAllowed() ||
		co.RetentionDays != 30 || co.QuotaMB != 500 || !co.Stereo || co.Country != "PT" {
		t.Fatalf("stored company %+v, want every field as edited", co)
	}

	// Invalid values: each error next to its input, all at once, nothing stored, no "Saved".
	b.setValue(row+" input.on-demand-code", "5x")
	b.setValue(row+" input.retention", "-1")
	b.setValue(row+" input.country", "ZZ")
	b.click(row + " button.save")
	b.waitText(row+" .status.error", "Not saved")
	for _, f := range []string{"on_demand_code", "retention_days", "country"} {
		if e := b.jsString(`return document.querySelector("` + row + ` .field-error[data-field=` + f + `]").textContent`); e == "" {
			t.Errorf("no error shown next to %s", f)
		}
	}
	if s := b.jsString(`return document.querySelector("` + row + ` .status").textContent`); strings.Contains(s, "Saved") {
		t.Errorf("status %q after a refused save", s)
	}
	co2, err := w.db.Company(ctx, tc.co.ID)
	must(t, err)
	if co2.OnDemandCode != "55" || co2.RetentionDays != 30 || co2.Country != "PT" {
		t.Fatalf("a refused save changed the store: %+v", co2)
	}

	// Create a company in the brand, then delete it (empty).
	if b.jsNumber(`return document.querySelector("#co-create [name=brand_id]").closest("label").hidden ? 0 : 1`) != 0 {
		t.Error("a brand admin is offered a brand picker")
	}
	b.typeInto("#co-create [name=name]", "Company B3")
	b.click("#co-create button.create-company")
	b.waitText("#co-create .status.ok", "Created")
	var created *store.Company
	b.waitFor("the new company stored", func() bool {
		cos, err := w.db.Companies(ctx, tc.brand.ID)
		must(t, err)
		for _, c := range cos {
			if c.Name == "Company B3" {
				created = c
			}
		}
		return created != nil
	})
	newRow := "#co-table tr.company[data-id='" + created.ID + "']"
	b.click(newRow + " button.delete")
	b.acceptConfirm()
	b.waitFor("the new company's row to go", func() bool {
		return b.jsNumber(`return document.querySelectorAll("`+newRow+`").length`) == 0
	})
	if _, err := w.db.Company(ctx, created.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("deleted company still stored: %v", err)
	}
	// A company with DDIs and users: the API's 409 is shown plainly and nothing is removed.
	b1 := "#co-table tr.company[data-id='" + w.co("B1").co.ID + "']"
	b.click(b1 + " button.delete")
	b.acceptConfirm()
	b.waitText(b1+" .status.error", "still has")
	if _, err := w.db.Company(ctx, w.co("B1").co.ID); err != nil {
		t.Fatalf("company B1 gone after a refused delete: %v", err)
	}

	// A DDI: number and company.
	b.click("nav .tab[data-view=ddis]")
	b.find("#ddi-create:not([hidden]) [name=number]")
	b.typeInto("#ddi-create [name=number]", "+34 911 000 999")
	b.setValue("#ddi-create [name=company_id]", tc.co.ID)
	b.setValue("#ddi-create [name=record_calls]", "all")
	b.click("#ddi-create button.create-ddi")
	b.waitText("#ddi-create .status.ok", "Created")
	ddis, err := w.db.DDIs(ctx, tc.co.ID)
	must(t, err)
	found := false
	for _, d := range ddis {
		found = found || d.Number == "+34911000999" && d.RecordCalls == store.RecordAll
	}
	if !found {
		t.Fatalf("DDIs of B2 %+v, want +34911000999 recording all", ddis)
	}
	// An invalid number: its error next to the input, nothing stored.
	b.typeInto("#ddi-create [name=number]", "12")
	b.click("#ddi-create button.create-ddi")
	b.waitText("#ddi-create .field-error[data-field=number]", "E.164")
	if after, _ := w.db.DDIs(ctx, tc.co.ID); len(after) != len(ddis) {
		t.Errorf("%d DDIs after a refused create, want %d", len(after), len(ddis))
	}
}

func TestBrowser_CompanyAdminEditsDDIAndUsers(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	tc := w.co("A1")
	b.signIn(w.srv.URL(), tc.adminTok)

	// Its own company: what the brand decides is shown, not offered.
	b.click("nav .tab[data-view=companies]")
	row := "#co-table tr.company[data-id='" + tc.co.ID + "']"
	b.waitText(row+" .ro-on-demand", "key · *7")
	for _, css := range []string{"#co-table select.on-demand", "#co-table input.on-demand-code", "#co-table input.removal",
		"#co-table input.retention", "#co-table input.quota", "#co-table button.delete", "#co-create:not([hidden])", "#on-demand-help:not([hidden])"} {
		if n := b.jsNumber(`return document.querySelectorAll("` + css + `").length`); n != 0 {
			t.Errorf("a company admin is offered %s", css)
		}
	}
	b.setValue(row+" input.stereo", "true")
	b.click(row + " button.save")
	b.waitText(row+" .status.ok", "Saved")
	if co, err := w.db.Company(ctx, tc.co.ID); err != nil || !co.Stereo {
		t.Fatalf("stereo not stored: %+v %v", co, err)
	}

	// A DDI's mode and announcement; no brand-only controls.
	b.click("nav .tab[data-view=ddis]")
	drow := "#ddi-table tr.ddi[data-id='" + tc.ddi.ID + "']"
	b.find(drow + " select.record-calls")
	if n := b.jsNumber(`return document.querySelectorAll("#ddi-create:not([hidden]), #ddi-table button.delete").length`); n != 0 {
		t.Error("a company admin is offered DDI create or delete")
	}
	if !strings.Contains(b.jsString(`return document.querySelector("#announcement-help").textContent`), "tone_stream://") {
		t.Error("the announcement's allowed forms are not shown")
	}
	b.setValue(drow+" select.record-calls", "outbound")
	b.setValue(drow+" input.announcement", "ivr/recording_notice.wav")
	b.click(drow + " button.save")
	msg := b.waitText(drow+" .status.ok", "Saved")
	if !strings.Contains(msg, "calls that start from now; calls in progress keep the old setting") {
		t.Errorf("save message %q does not say when calls honour it", msg)
	}
	if d, err := w.db.DDI(ctx, tc.ddi.ID); err != nil || d.RecordCalls != store.RecordOutbound || d.Announcement != "ivr/recording_notice.wav" {
		t.Fatalf("stored DDI %+v %v", d, err)
	}
	b.setValue(drow+" input.announcement", "$${sounds_dir}/notice.wav")
	b.click(drow + " button.save")
	if e := b.waitText(drow+" .field-error[data-field=announcement]", "variable"); e == "" {
		t.Error("no announcement error")
	}
	if d, _ := w.db.DDI(ctx, tc.ddi.ID); d.Announcement != "ivr/recording_notice.wav" {
		t.Fatalf("a refused announcement was stored: %q", d.Announcement)
	}

	// Users: create, edit, refuse an invalid edit, delete.
	b.click("nav .tab[data-view=users]")
	b.find("#user-table tr.user")
	if !strings.Contains(b.jsString(`return document.querySelector("#sip-user-help").textContent`), "FreeSWITCH directory user") {
		t.Error("the SIP user is not explained")
	}
	if b.jsNumber(`return document.querySelector("#user-create .user-company").hidden ? 0 : 1`) != 0 {
		t.Error("a company admin is offered a company picker")
	}
	b.typeInto("#user-create [name=name]", "Carla A1")
	b.typeInto("#user-create [name=extension]", "103")
	b.typeInto("#user-create [name=sip_user]", "carlaA1")
	b.typeInto("#user-create [name=email]", "carla@example.com")
	b.click("#user-create button.create-user")
	b.waitText("#user-create .status.ok", "Created")
	var carla *store.User
	users, err := w.db.Users(ctx, tc.co.ID)
	must(t, err)
	for _, u := range users {
		if u.SIPUser == "carlaA1" {
			carla = u
		}
	}
	if carla == nil || carla.Extension != "103" || carla.Email != "carla@example.com" || carla.Name != "Carla A1" {
		t.Fatalf("created user %+v", carla)
	}
	urow := "#user-table tr.user[data-id='" + carla.ID + "']"
	b.setValue(urow+" input.extension", "104")
	b.click(urow + " button.save")
	b.waitText(urow+" .status.ok", "the extension applies to calls that start from now")
	if u, err := w.db.User(ctx, carla.ID); err != nil || u.Extension != "104" {
		t.Fatalf("extension not stored: %+v %v", u, err)
	}
	b.setValue(urow+" input.extension", "x")
	b.setValue(urow+" input.email", "not an address")
	b.click(urow + " button.save")
	b.waitText(urow+" .field-error[data-field=extension]", "digits")
	b.waitText(urow+" .field-error[data-field=email]", "e-mail")
	if u, _ := w.db.User(ctx, carla.ID); u.Extension != "104" || u.Email != "carla@example.com" {
		t.Fatalf("a refused edit was stored: %+v", u)
	}
	mustToken(t, w.db, store.Token{Role: store.RoleUser, UserID: carla.ID})
	b.click(urow + " button.delete")
	if text := b.acceptConfirm(); !strings.Contains(text, "tokens are revoked") {
		t.Errorf("delete confirmation %q does not say the user's tokens go", text)
	}
	b.waitFor("the user's row to go", func() bool { return b.jsNumber(`return document.querySelectorAll("`+urow+`").length`) == 0 })
	if _, err := w.db.User(ctx, carla.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("deleted user still stored: %v", err)
	}
	if toks, _ := w.db.Tokens(ctx, store.TokenFilter{UserID: carla.ID}); len(toks) != 0 {
		t.Errorf("%d tokens left of the deleted user", len(toks))
	}
}

func TestBrowser_TokensShownOnceAndRevoked(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	tc := w.co("A1")
	b.signIn(w.srv.URL(), tc.adminTok)
	b.click("nav .tab[data-view=tokens]")
	b.find("#token-table tr.token")
	var roles []string
	b.js(`return [...document.querySelectorAll("#token-create [name=role] option")].map(o => o.value)`, &roles)
	if strings.Join(roles, ",") != "company_admin,user" {
		t.Errorf("a company admin may grant %v, want company_admin,user", roles)
	}
	b.typeInto("#token-create [name=name]", "Alice app")
	b.setValue("#token-create [name=role]", "user")
	b.setValue("#token-create [name=user_id]", tc.user.ID)
	b.click("#token-create button.create-token")
	b.waitText("#token-secret-box:not([hidden])", "it will not be shown again")
	secret := b.jsString(`return document.querySelector("#token-secret").textContent`)
	if !strings.HasPrefix(secret, "crt_") || b.jsNumber(`return document.querySelectorAll("#token-secret-box button#token-copy").length`) != 1 {
		t.Fatalf("secret %q shown without its Copy button", secret)
	}
	if st, role := meStatus(t, w.srv.URL(), secret); st != 200 || role != store.RoleUser {
		t.Fatalf("the shown secret on /me: %d %s, want 200 user", st, role)
	}
	var tokRow string
	b.waitFor("the new token listed by name and scope", func() bool {
		tokRow = b.jsString(`const r = [...document.querySelectorAll("#token-table tr.token")].find(r => r.querySelector(".name").textContent === "Alice app");
			return r ? r.dataset.id + "|" + r.querySelector(".scope").textContent : ""`)
		return strings.Contains(tokRow, tc.user.Name) && strings.Contains(tokRow, tc.co.Name)
	})
	id, _, _ := strings.Cut(tokRow, "|")

	// After a reload the secret is nowhere on the page.
	b.open(w.srv.URL() + "/")
	b.waitFor("signed in again", func() bool { return b.jsNumber(`return document.querySelector("#nav").hidden ? 0 : 1`) == 1 })
	b.click("nav .tab[data-view=tokens]")
	b.find("#token-table tr.token[data-id='" + id + "']")
	if strings.Contains(b.jsString(`return document.documentElement.outerHTML + document.body.innerText`), secret) {
		t.Fatal("the secret is shown again after a reload")
	}

	// Revoke: the token then gets 401.
	b.click("#token-table tr.token[data-id='" + id + "'] button.revoke")
	b.acceptConfirm()
	b.waitFor("the revoked token's row to go", func() bool {
		return b.jsNumber(`return document.querySelectorAll("#token-table tr.token[data-id='`+id+`']").length`) == 0
	})
	if st, _ := meStatus(t, w.srv.URL(), secret); st != http.StatusUnauthorized {
		t.Fatalf("revoked token on /me: %d, want 401", st)
	}

	// Revoking the token one is signed in with says so, and signs out.
	b.click("#token-table tr.token[data-id='" + tc.adminTokID + "'] button.revoke")
	if text := b.acceptConfirm(); !strings.Contains(text, "signed out") {
		t.Errorf("confirmation %q does not say it signs you out", text)
	}
	b.waitFor("the sign-in page", func() bool {
		return b.jsNumber(`const s = document.querySelector("#signin"); return s && !s.hidden && document.querySelector("#nav").hidden ? 1 : 0`) == 1
	})
	if st, _ := meStatus(t, w.srv.URL(), tc.adminTok); st != http.StatusUnauthorized {
		t.Fatalf("own revoked token on /me: %d, want 401", st)
	}
}

func TestBrowser_IdentityByNameAndSignInHelp(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	a1 := w.co("A1")
	b.open(w.srv.URL() + "/")
	help := b.waitText("#signin-help", "Tokens tab")
	for _, want := range []string{"callrec serve", "bootstrap_token", "callrec demo"} {
		if !strings.Contains(help, want) {
			t.Errorf("sign-in help %q lacks %q", help, want)
		}
	}
	for _, tt := range []struct{ name, token, want string }{
		{"platform", w.platform, "platform admin — token “test platform”"},
		{"brand", w.brandTok["B"], "Brand B · brand admin — token “test brand”"},
		{"company admin", a1.adminTok, "Company A1 · company admin — token “test company_admin”"},
		{"user", a1.userTok, "Alice A1 · user · Company A1 — token “test user”"},
	} {
		b.signIn(w.srv.URL(), tt.token)
		if got := b.jsString(`return document.querySelector("#whoami").textContent`); got != tt.want {
			t.Errorf("%s: header says %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestBrowser_AdminViewsAtPhoneWidth: at 390 px no admin view scrolls sideways and every control
// of it is on screen, for a brand admin and for a company admin.
func TestBrowser_AdminViewsAtPhoneWidth(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	b.call("POST", b.s("/window/rect"), map[string]any{"width": 390, "height": 844}, nil)
	for _, tt := range []struct{ name, token string }{{"brand admin", w.brandTok["A"]}, {"company admin", w.co("A1").adminTok}} {
		{ // one browser for both roles: its harness fails the parent test
			b.signIn(w.srv.URL(), tt.token)
			for _, view := range []struct{ name, row string }{{"companies", "tr.company"}, {"ddis", "tr.ddi"}, {"users", "tr.user"}, {"tokens", "tr.token"}} {
				b.click("nav .tab[data-view=" + view.name + "]")
				b.find("#" + view.name + " " + view.row)
				if view.name == "tokens" { // the secret box too
					b.typeInto("#token-create [name=name]", "phone check")
					b.click("#token-create button.create-token")
					b.find("#token-secret-box:not([hidden])")
				}
				if over := b.jsNumber(`return document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 0 {
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
}

// TestBrowser_PlatformAdminPicksBrandsAndDeletesDDI: the platform admin picks the brand of a new
// company and of a brand token (its scope pickers), and deletes a DDI.
func TestBrowser_PlatformAdminPicksBrandsAndDeletesDDI(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	brandB := w.brands["B"]
	b.signIn(w.srv.URL(), w.platform)

	b.click("nav .tab[data-view=companies]")
	b.find("#co-table tr.company")
	if n := b.jsNumber(`return document.querySelectorAll("#co-table tr.company").length`); n != 4 {
		t.Errorf("platform admin sees %v companies, want 4", n)
	}
	b.typeInto("#co-create [name=name]", "Company B9")
	b.setValue("#co-create [name=brand_id]", brandB.ID)
	b.click("#co-create button.create-company")
	b.waitText("#co-create .status.ok", "Created")
	cos, err := w.db.Companies(ctx, brandB.ID)
	must(t, err)
	var names []string
	for _, c := range cos {
		names = append(names, c.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "Company B9") {
		t.Fatalf("companies of brand B %v, want Company B9 among them", names)
	}

	b.click("nav .tab[data-view=tokens]")
	b.find("#token-table tr.token")
	b.setValue("#token-create [name=role]", "brand")
	if b.jsNumber(`return document.querySelector("#token-create .scope-brand").hidden ? 0 : 1`) != 1 {
		t.Fatal("no brand picker for a brand token")
	}
	b.typeInto("#token-create [name=name]", "Brand B ops")
	b.setValue("#token-create [name=brand_id]", brandB.ID)
	b.click("#token-create button.create-token")
	b.find("#token-secret-box:not([hidden])")
	secret := b.jsString(`return document.querySelector("#token-secret").textContent`)
	if st, role := meStatus(t, w.srv.URL(), secret); st != 200 || role != store.RoleBrand {
		t.Fatalf("new brand token on /me: %d %s", st, role)
	}
	toks, err := w.db.Tokens(ctx, store.TokenFilter{BrandID: brandB.ID})
	must(t, err)
	found := false
	for _, tk := range toks {
		found = found || tk.Name == "Brand B ops" && tk.Role == store.RoleBrand
	}
	if !found {
		t.Fatal("the brand token is not stored in brand B")
	}

	a1 := w.co("A1")
	// A1's DDI has recordings: deleting it keeps them (the DDI goes, its recordings stay).
	b.click("nav .tab[data-view=ddis]")
	row := "#ddi-table tr.ddi[data-id='" + a1.ddi.ID + "']"
	b.click(row + " button.delete")
	b.acceptConfirm()
	b.waitFor("the DDI's row to go", func() bool { return b.jsNumber(`return document.querySelectorAll("`+row+`").length`) == 0 })
	if _, err := w.db.DDI(ctx, a1.ddi.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("deleted DDI still stored: %v", err)
	}
	if _, err := w.db.Recording(ctx, a1.recDDI.ID); err != nil {
		t.Fatalf("the DDI's recording went with it: %v", err)
	}
}
