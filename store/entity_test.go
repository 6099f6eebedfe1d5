package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestError_HelpersReadThroughWrapping(t *testing.T) {
	err := fmt.Errorf("handler: %w", Invalid("number", "bad %s", "x"))
	if ErrorCode(err) != EINVALID || ErrorField(err) != "number" || ErrorMessage(err) != "bad x" {
		t.Fatalf("got %q %q %q", ErrorCode(err), ErrorField(err), ErrorMessage(err))
	}
	if ErrorCode(errors.New("disk")) != EINTERNAL || ErrorMessage(errors.New("/secret/path")) != "Internal error." {
		t.Fatal("foreign errors must read as internal without leaking their text")
	}
	if ErrorCode(nil) != "" {
		t.Fatal("nil error has no code")
	}
}

func TestValidate_ReportsCodeAndField(t *testing.T) {
	yes := true
	okCompany := func(mod func(*Company)) *Company {
		c := &Company{BrandID: "b", Name: "Acme", OnDemand: OnDemandDisabled, AllowRecordingRemoval: &yes}
		mod(c)
		return c
	}
	okDDI := func(mod func(*DDI)) *DDI {
		d := &DDI{CompanyID: "c", Number: "+34911234567", RecordCalls: RecordNone}
		mod(d)
		return d
	}
	okUser := func(mod func(*User)) *User {
		u := &User{CompanyID: "c", Name: "A", Extension: "101", SIPUser: "alice"}
		mod(u)
		return u
	}
	hash := make([]byte, 32)
	okToken := func(mod func(*Token)) *Token {
		tk := &Token{Name: "t", Role: RolePlatform, Hash: hash}
		mod(tk)
		return tk
	}
	okRec := func(mod func(*Recording)) *Recording {
		r := newRecording("c", time.Now())
		r.State = StateRecording
		mod(r)
		return r
	}
	tests := []struct {
		name  string
		v     interface{ Validate() error }
		field string // "" = valid
	}{
		{"brand valid", &Brand{Name: "B", SIPDomain: "pbx.example.com"}, ""},
		{"brand name required", &Brand{Name: " "}, "name"},
		{"brand name has no control chars", &Brand{Name: "a\nb"}, "name"},
		{"brand name max length", &Brand{Name: strings.Repeat("x", MaxNameLen+1)}, "name"},
		{"brand domain lower-case DNS name", &Brand{Name: "B", SIPDomain: "PBX.example.com"}, "sip_domain"},
		{"brand domain no spaces", &Brand{Name: "B", SIPDomain: "pbx example.com"}, "sip_domain"},
		{"company valid", okCompany(func(*Company) {}), ""},
		{"company brand required", okCompany(func(c *Company) { c.BrandID = "" }), "brand_id"},
		{"company name required", okCompany(func(c *Company) { c.Name = "" }), "name"},
		{"company on_demand enum", okCompany(func(c *Company) { c.OnDemand = "always" }), "on_demand"},
		{"company code required unless disabled", okCompany(func(c *Company) { c.OnDemand = OnDemandKey }), "on_demand_code"},
		{"company code 1-3 digits", okCompany(func(c *Company) { c.OnDemand, c.OnDemandCode = OnDemandKey, "1234" }), "on_demand_code"},
		{"company code digits only", okCompany(func(c *Company) { c.OnDemand, c.OnDemandCode = OnDemandKey, "7a" }), "on_demand_code"},
		{"company key_dtmf with code", okCompany(func(c *Company) { c.OnDemand, c.OnDemandCode = OnDemandKeyDTMF, "77" }), ""},
		{"company mask code with key_dtmf", okCompany(func(c *Company) { c.OnDemand, c.OnDemandCode, c.MaskCode = OnDemandKeyDTMF, "7", "8" }), ""},
		{"company mask code needs key_dtmf", okCompany(func(c *Company) { c.OnDemand, c.OnDemandCode, c.MaskCode = OnDemandKey, "7", "8" }), "mask_code"},
		{"company mask code 1-3 digits", okCompany(func(c *Company) { c.OnDemand, c.OnDemandCode, c.MaskCode = OnDemandKeyDTMF, "7", "8888" }), "mask_code"},
		{"company mask code not the on-demand code", okCompany(func(c *Company) { c.OnDemand, c.OnDemandCode, c.MaskCode = OnDemandKeyDTMF, "7", "7" }), "mask_code"},
		{"company retention not negative", okCompany(func(c *Company) { c.RetentionDays = -1 }), "retention_days"},
		{"company quota not negative", okCompany(func(c *Company) { c.QuotaMB = -1 }), "quota_mb"},
		{"company country ISO alpha-2", okCompany(func(c *Company) { c.Country = "US" }), ""},
		{"company country known to the numbering plans", okCompany(func(c *Company) { c.Country = "XX" }), "country"},
		{"company country two letters", okCompany(func(c *Company) { c.Country = "ESP" }), "country"},
		{"ddi valid", okDDI(func(*DDI) {}), ""},
		{"ddi company required", okDDI(func(d *DDI) { d.CompanyID = "" }), "company_id"},
		{"ddi number E.164", okDDI(func(d *DDI) { d.Number = "0034911234567" }), "number"},
		{"ddi consent press_1 with an announcement", okDDI(func(d *DDI) {
			d.Consent, d.Announcement, d.RecordCalls = ConsentPress1, "ivr/consent.wav", RecordInbound
		}), ""},
		{"ddi consent press_1 needs an announcement", okDDI(func(d *DDI) { d.Consent, d.RecordCalls = ConsentPress1, RecordInbound }), "consent"},
		{"ddi consent press_1 only for inbound", okDDI(func(d *DDI) { d.Consent, d.Announcement, d.RecordCalls = ConsentPress1, "ivr/consent.wav", RecordAll }), "consent"},
		{"ddi consent enum", okDDI(func(d *DDI) { d.Consent = "maybe" }), "consent"},
		{"ddi record_calls enum", okDDI(func(d *DDI) { d.RecordCalls = "some" }), "record_calls"},
		{"ddi announcement sound name", okDDI(func(d *DDI) { d.Announcement = "ivr/disclaimer.wav" }), ""},
		{"ddi announcement none", okDDI(func(d *DDI) { d.Announcement = "" }), ""},
		{"ddi announcement tone_stream", okDDI(func(d *DDI) { d.Announcement = "tone_stream://%(200,0,800);loops=1" }), ""},
		{"ddi announcement no spaces", okDDI(func(d *DDI) { d.Announcement = "/a b.wav" }), "announcement"},
		{"ddi announcement no CRLF", okDDI(func(d *DDI) { d.Announcement = "/a.wav\r\napi hupall" }), "announcement"},
		{"ddi announcement no NUL", okDDI(func(d *DDI) { d.Announcement = "/a\x00.wav" }), "announcement"},
		{"ddi announcement max length", okDDI(func(d *DDI) { d.Announcement = "/" + strings.Repeat("a", MaxAnnouncementLen) }), "announcement"},
		{"user valid", okUser(func(*User) {}), ""},
		{"user company required", okUser(func(u *User) { u.CompanyID = "" }), "company_id"},
		{"user extension 2+ digits", okUser(func(u *User) { u.Extension = "1" }), "extension"},
		{"user extension max 10 digits", okUser(func(u *User) { u.Extension = "12345678901" }), "extension"},
		{"user extension digits only", okUser(func(u *User) { u.Extension = "10a" }), "extension"},
		{"user sip_user charset", okUser(func(u *User) { u.SIPUser = "al ice" }), "sip_user"},
		{"user sip_user required", okUser(func(u *User) { u.SIPUser = "" }), "sip_user"},
		{"user sip_user max 64", okUser(func(u *User) { u.SIPUser = strings.Repeat("a", 65) }), "sip_user"},
		{"user sip_user allows _.-", okUser(func(u *User) { u.SIPUser = "a_l.i-ce9" }), ""},
		{"user email validated", okUser(func(u *User) { u.Email = "not-an-address" }), "email"},
		{"user email without display name", okUser(func(u *User) { u.Email = "Alice <a@example.com>" }), "email"},
		{"token valid", okToken(func(*Token) {}), ""},
		{"token role enum", okToken(func(tk *Token) { tk.Role = "root" }), "role"},
		{"token brand role needs brand", okToken(func(tk *Token) { tk.Role = RoleBrand }), "brand_id"},
		{"token company_admin needs company", okToken(func(tk *Token) { tk.Role = RoleCompanyAdmin }), "company_id"},
		{"token user needs user", okToken(func(tk *Token) { tk.Role = RoleUser }), "user_id"},
		{"token hash is sha-256", okToken(func(tk *Token) { tk.Hash = []byte("x") }), "hash"},
		{"recording valid", okRec(func(*Recording) {}), ""},
		{"recording company required", okRec(func(r *Recording) { r.CompanyID = "" }), "company_id"},
		{"recording type enum", okRec(func(r *Recording) { r.Type = "x" }), "type"},
		{"recording ddi type has ddi trigger", okRec(func(r *Recording) { r.Trigger = TriggerKey }), "trigger"},
		{"recording ondemand has no ddi trigger", okRec(func(r *Recording) { r.Type = TypeOnDemand }), "trigger"},
		{"recording direction enum", okRec(func(r *Recording) { r.Direction = "sideways" }), "direction"},
		{"recording state enum", okRec(func(r *Recording) { r.State = "done" }), "state"},
		{"recording caller no control chars", okRec(func(r *Recording) { r.Caller = "a\nb" }), "caller"},
		{"recording ended before start", okRec(func(r *Recording) { e := r.StartedAt.Add(-time.Second); r.EndedAt = &e }), "ended_at"},
		{"recording duration not negative", okRec(func(r *Recording) { r.DurationMS = -1 }), "duration_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			wantCode(t, err, EINVALID, tt.field)
		})
	}
}

func TestNormalizeNumber_AcceptsE164FormsAndRejectsGarbageOnFieldNumber(t *testing.T) {
	tests := []struct{ raw, country, want string }{
		{"+34 911 234 567", "", "+34911234567"},
		{"0034911234567", "", "+34911234567"},
		{"911234567", "ES", "+34911234567"},
		{"34911234567", "", ""},
		{"911234567", "", ""},
		{"hello", "ES", ""},
		{"+3491", "", ""},
		{"", "ES", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeNumber(tt.raw, tt.country)
		if tt.want == "" {
			if ErrorCode(err) != EINVALID || ErrorField(err) != "number" {
				t.Errorf("NormalizeNumber(%q,%q) = %q, %v; want EINVALID number", tt.raw, tt.country, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeNumber(%q,%q) = %q, %v; want %q", tt.raw, tt.country, got, err, tt.want)
		}
	}
}

func TestDownloadName_UTCAndSafeParts(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	r := Recording{Type: TypeOnDemand, Recorder: "101", Caller: "+34 600/111", Callee: "bob@x", StartedAt: time.Date(2026, 3, 4, 7, 8, 9, 0, loc)}
	if got, want := r.DownloadName(), "20260304050809_ondemand-101_+34_600_111_bob_x.mp3"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestTokenSecret_PrefixAndHash(t *testing.T) {
	s, h, err := NewTokenSecret()
	if err != nil || !strings.HasPrefix(s, TokenPrefix) || len(h) != 32 || string(HashToken(s)) != string(h) {
		t.Fatalf("secret %q hash %x err %v", s, h, err)
	}
	s2, _, _ := NewTokenSecret()
	if s == s2 || len(s) < 40 {
		t.Fatal("secrets must be random and long")
	}
}
