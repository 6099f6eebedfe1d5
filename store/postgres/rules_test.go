package postgres

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestRuleRows_MapEveryFieldOfTheRuleEntities: each column of brands, companies, DDIs and
// users comes back into its store field (an unset allow_recording_removal stays nil, so
// RemovalAllowed keeps its default).
func TestRuleRows_MapEveryFieldOfTheRuleEntities(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	ctx := context.Background()
	no := false
	brand := store.Brand{ID: "B1", Name: "Demo Telecom", SIPDomain: "pbx.example.com"}
	companies := []store.Company{
		{ID: "C1", BrandID: "B1", Name: "Acme", OnDemand: store.OnDemandKeyDTMF, OnDemandCode: "7", MaskCode: "9",
			AllowRecordingRemoval: &no, Stereo: true, RetentionDays: 30, QuotaMB: 100, Country: "ES"},
		{ID: "C2", BrandID: "B1", Name: "Globex", OnDemand: store.OnDemandDisabled},
	}
	ddi := store.DDI{ID: "D1", CompanyID: "C1", Number: "+34911234567", RecordCalls: store.RecordInbound,
		Announcement: "This call is recorded", Consent: store.ConsentPress1}
	user := store.User{ID: "U1", CompanyID: "C1", Name: "Ana", Extension: "1001", SIPUser: "ana", Email: "ana@example.com"}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("INSERT INTO brands (id, name, sip_domain) VALUES ($1, $2, $3)", brand.ID, brand.Name, brand.SIPDomain)
	for _, c := range companies {
		exec(`INSERT INTO companies (id, brand_id, name, on_demand, on_demand_code, mask_code, allow_recording_removal,
			stereo, retention_days, quota_mb, country) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			c.ID, c.BrandID, c.Name, c.OnDemand, c.OnDemandCode, c.MaskCode, c.AllowRecordingRemoval, c.Stereo, c.RetentionDays, c.QuotaMB, c.Country)
	}
	exec("INSERT INTO ddis (id, company_id, number, record_calls, announcement, consent) VALUES ($1, $2, $3, $4, $5, $6)",
		ddi.ID, ddi.CompanyID, ddi.Number, ddi.RecordCalls, ddi.Announcement, ddi.Consent)
	exec("INSERT INTO users (id, company_id, brand_id, name, extension, sip_user, email) VALUES ($1, $2, 'B1', $3, $4, $5, $6)",
		user.ID, user.CompanyID, user.Name, user.Extension, user.SIPUser, user.Email)
	got, err := db.RuleRows(ctx)
	must(t, err)
	want := &RuleRows{Brands: []store.Brand{brand}, Companies: companies, DDIs: []store.DDI{ddi}, Users: []store.User{user}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rule rows:\n got %+v\nwant %+v", got, want)
	}
	if got.Companies[1].AllowRecordingRemoval != nil || !got.Companies[1].RemovalAllowed() {
		t.Errorf("unset allow_recording_removal came back as %v", got.Companies[1].AllowRecordingRemoval)
	}
}

// TestCreateRecording_EveryFieldRoundTrips: a recording with every field set comes back equal,
// masks and consent included; a missing company is EINVALID company_id, as in store.
func TestCreateRecording_EveryFieldRoundTrips(t *testing.T) {
	clk := newClock()
	db, _ := mustOpen(t, Options{Now: clk.Now})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	played := clk.Now().Add(-3 * time.Second)
	r := &store.Recording{CompanyID: tn.companyID, CallID: "c-1", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, DDIID: "D1", UserID: "U1", Recorder: "+34911234567", Caller: "+34600111222",
		Callee: "+34911234567", StartedAt: clk.Now().Add(-time.Minute + 123456*time.Nanosecond), MIME: "audio/mpeg",
		SHA256: strings.Repeat("ab", 32), Integrity: store.IntegrityMismatch,
		Masks:   []store.MaskSpan{{OffsetMS: 1000, LengthMS: 2500, By: "U1"}, {OffsetMS: 9000, Open: true, By: "U1"}},
		Consent: &store.Consent{Method: store.ConsentPress1, Announcement: "Press 1", PlayedAt: played},
		WAVPath: "/spool/a.wav", RecordedLeg: "leg-a", RequesterLeg: "leg-b"}
	must(t, db.CreateRecording(ctx, r))
	got, err := db.Recording(ctx, r.ID)
	must(t, err)
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
	}
	if err := db.CreateRecording(ctx, &store.Recording{CompanyID: "nope", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound}); store.ErrorField(err) != "company_id" {
		t.Errorf("recording of a missing company: %v, want EINVALID company_id", err)
	}
}

// TestRules_SnapshotFollowsWritesOnEveryInstance: the call path's snapshot (Rules) shows an
// admin write at once on the instance that made it, and on another instance by the time its
// subscribers are woken (the listener rebuilds before it wakes them); the delay is logged.
func TestRules_SnapshotFollowsWritesOnEveryInstance(t *testing.T) {
	ctx := context.Background()
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	waitFor(t, "b's listener", b.RulesListening)
	ch, unsubscribe := b.Subscribe()
	defer unsubscribe()

	brand := &store.Brand{Name: "Brand 1"}
	if err := a.CreateBrand(ctx, brand); err != nil {
		t.Fatal(err)
	}
	co := &store.Company{BrandID: brand.ID, Name: "Acme", OnDemand: store.OnDemandKey, OnDemandCode: "7"}
	if err := a.CreateCompany(ctx, co); err != nil {
		t.Fatal(err)
	}
	d := &store.DDI{CompanyID: co.ID, Number: "+34911234567", RecordCalls: store.RecordInbound}
	settle(ch) // the brand's and the company's wake-ups (CI once took a late one for the next write's)
	start := time.Now()
	if err := a.CreateDDI(ctx, d); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		db   *DB
	}{{"writer", a}, {"other instance", b}} {
		if c.db == b {
			t.Logf("other instance woken %s after the write began", waitSignal(t, start, ch, "ddi create"))
		}
		r := c.db.Rules()
		got, _, ok := r.DDIByNumber("+34911234567")
		if !ok || got.CompanyID != co.ID || got.RecordCalls != store.RecordInbound {
			t.Errorf("%s: DDIByNumber = %+v, %v; want the new DDI of %s", c.name, got, ok, co.ID)
		}
		if cc, ok := r.Company(co.ID); !ok || cc.OnDemandCode != "7" {
			t.Errorf("%s: Company = %+v, %v", c.name, cc, ok)
		}
	}
	settle(ch)
	before := b.Rules().Version()
	if err := a.DeleteDDI(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := a.Rules().DDIByNumber("+34911234567"); ok {
		t.Error("writer: deleted DDI still in its snapshot")
	}
	waitSignal(t, time.Now(), ch, "ddi delete")
	if _, _, ok := b.Rules().DDIByNumber("+34911234567"); ok {
		t.Error("other instance: deleted DDI still in its snapshot after the wake-up")
	}
	if b.Rules().Version() <= before {
		t.Errorf("other instance's snapshot version %d, was %d: not republished", b.Rules().Version(), before)
	}
}
