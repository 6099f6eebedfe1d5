package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestIntegrityAndRetry_AsStore: a hash is set once and only on the ready file it was taken
// of; integrity toggles; a failed recording with a WAV is queued again with fresh attempts.
func TestIntegrityAndRetry_AsStore(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	recs := mustProcessing(t, db, tn, 2)
	j, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	must(t, db.CompleteRecording(ctx, j.ID, store.RecordingResult{MP3Path: "/lib/a.mp3"}))
	sum, other := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for _, c := range []struct {
		name  string
		call  func() error
		code  string
		field string
	}{
		{"bad hash", func() error { return db.SetRecordingSHA256(ctx, j.RecordingID, "/lib/a.mp3", "x") }, store.EINVALID, "sha256"},
		{"another file", func() error { return db.SetRecordingSHA256(ctx, j.RecordingID, "/lib/b.mp3", sum) }, store.ECONFLICT, "state"},
		{"set", func() error { return db.SetRecordingSHA256(ctx, j.RecordingID, "/lib/a.mp3", sum) }, "", ""},
		{"same again", func() error { return db.SetRecordingSHA256(ctx, j.RecordingID, "/lib/a.mp3", sum) }, "", ""},
		{"another hash", func() error { return db.SetRecordingSHA256(ctx, j.RecordingID, "/lib/a.mp3", other) }, store.ECONFLICT, "sha256"},
		{"mismatch", func() error {
			return db.SetRecordingIntegrity(ctx, j.RecordingID, "/lib/a.mp3", store.IntegrityMismatch)
		}, "", ""},
		{"bad integrity", func() error { return db.SetRecordingIntegrity(ctx, j.RecordingID, "/lib/a.mp3", "meh") }, store.EINVALID, "integrity"},
		{"missing", func() error { return db.SetRecordingIntegrity(ctx, "nope", "/lib/a.mp3", "") }, store.ENOTFOUND, ""},
	} {
		err := c.call()
		if store.ErrorCode(err) != c.code && !(c.code == "" && err == nil) || store.ErrorField(err) != c.field {
			t.Errorf("%s: %v, want %q %q", c.name, err, c.code, c.field)
		}
	}
	r, err := db.Recording(ctx, j.RecordingID)
	must(t, err)
	if r.SHA256 != sum || r.Integrity != store.IntegrityMismatch {
		t.Errorf("recording %+v", r)
	}
	failed := recs[0].ID
	if failed == j.RecordingID {
		failed = recs[1].ID
	}
	if _, err := db.RetryRecording(ctx, failed); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("retry of a processing recording: %v", err)
	}
	must(t, db.FailRecording(ctx, failed, "lame crashed"))
	again, err := db.RetryRecording(ctx, failed)
	must(t, err)
	if again.State != store.StateProcessing || again.Error != "" {
		t.Errorf("retried recording %+v", again)
	}
	j2, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	if j2.RecordingID != failed || j2.Attempts != 1 {
		t.Errorf("job of the retried recording: %+v", j2)
	}
}

// TestTokensAndHolds_Lists: the listings filter as store's.
func TestTokensAndHolds_Lists(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	ctx := context.Background()
	if ok, err := db.HasPlatformToken(ctx); err != nil || ok {
		t.Fatalf("platform token in a new store: %v %v", ok, err)
	}
	for _, tk := range []*store.Token{
		{Name: "p", Role: store.RolePlatform},
		{Name: "ca", Role: store.RoleCompanyAdmin, CompanyID: a.companyID},
		{Name: "cb", Role: store.RoleCompanyAdmin, CompanyID: b.companyID},
	} {
		_, tk.Hash, _ = store.NewTokenSecret()
		must(t, db.CreateToken(ctx, tk))
	}
	if ok, err := db.HasPlatformToken(ctx); err != nil || !ok {
		t.Errorf("platform token not found: %v %v", ok, err)
	}
	for _, c := range []struct {
		f    store.TokenFilter
		want int
	}{{store.TokenFilter{}, 3}, {store.TokenFilter{CompanyID: a.companyID}, 1}, {store.TokenFilter{BrandID: b.brandID}, 1}} {
		if ts, err := db.Tokens(ctx, c.f); err != nil || len(ts) != c.want {
			t.Errorf("tokens %+v: %d, %v; want %d", c.f, len(ts), err, c.want)
		}
	}
	var ids []string
	for _, co := range []string{a.companyID, b.companyID, a.companyID} {
		h := &store.Hold{CompanyID: co, Kind: store.HoldCall, CallID: "c", Reason: "r"}
		must(t, db.PlaceHold(ctx, h, "x"))
		ids = append(ids, h.ID)
	}
	_, err := db.ReleaseHold(ctx, ids[2], "y")
	must(t, err)
	for _, c := range []struct {
		cos    []string
		active bool
		want   []string
	}{
		{nil, false, ids},
		{nil, true, ids[:2]},
		{[]string{b.companyID, a.companyID}, false, []string{ids[1], ids[0], ids[2]}},
		{[]string{}, false, nil},
	} {
		hs, err := db.Holds(ctx, c.cos, c.active)
		must(t, err)
		var got []string
		for _, h := range hs {
			got = append(got, h.ID)
		}
		if !equalStrings(got, c.want) {
			t.Errorf("holds %v active %v: %v, want %v", c.cos, c.active, got, c.want)
		}
	}
}
