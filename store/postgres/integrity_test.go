package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
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

// TestHashBackfill_HandsOutTheReadyRowsWithoutAHashOnceAcrossInstances is store's
// TestMigration4 on PostgreSQL: the migration leaves the backfill pending; batches of scan rows
// by id hand out exactly the ready rows that have an MP3 and no SHA-256, in id order; the
// instance doing it "dies" after the first batch and another instance on the same database
// carries on from the shared cursor; once done, it is done for every instance, and an advance
// after that does not start it again. For several batch sizes, the exact multiple of the rows
// included (the walk ends with the last full batch, as store's).
func TestHashBackfill_HandsOutTheReadyRowsWithoutAHashOnceAcrossInstances(t *testing.T) {
	const rows = 10
	for _, c := range []struct {
		scan, batches int
	}{{3, 4}, {5, 2}, {10, 1}, {0, 1}, {1, 10}} {
		t.Run(fmt.Sprint("scan=", c.scan), func(t *testing.T) {
			ctx := context.Background()
			first, dsn := mustOpen(t, Options{})
			second := mustOpenDSN(t, dsn, Options{})
			if p, err := first.HashBackfillPending(ctx); err != nil || !p {
				t.Fatalf("pending %v, %v after the migration; want true", p, err)
			}
			if recs, next, done, err := first.HashBackfillBatch(ctx, c.scan); err != nil || len(recs) != 0 || next != "" || !done {
				t.Fatalf("empty store: %v %q %v %v; want nothing, done", recs, next, done, err)
			}
			tn := mustTenant(t, first, "1")
			base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			var all []*store.Recording
			var want []string
			for i := range rows {
				r := &store.Recording{CompanyID: tn.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
					Direction: store.DirectionInbound, StartedAt: base.Add(time.Duration(i) * time.Minute)}
				prepared(first, r)
				r.MP3Path = "/lib/" + r.ID + ".mp3"
				switch i {
				case 2:
					r.State = store.StateRecording // nothing to hash yet
				case 5:
					r.SHA256 = hexSum("has one")
				case 7:
					r.MP3Path = "" // no file
				default:
					want = append(want, r.ID)
				}
				all = append(all, r)
			}
			copyRecordings(t, first, all)
			var got []string
			batch := func(db *DB) bool {
				recs, next, done, err := db.HashBackfillBatch(ctx, c.scan)
				must(t, err)
				for _, r := range recs {
					got = append(got, r.ID)
					must(t, db.SetRecordingSHA256(ctx, r.ID, r.MP3Path, hexSum(r.ID)))
				}
				must(t, db.AdvanceHashBackfill(ctx, next, done))
				return done
			}
			n := 1
			if !batch(first) { // then the first instance is gone: the second resumes
				for n = 2; !batch(second); n++ {
					if n > rows+1 {
						t.Fatal("the backfill does not end")
					}
				}
			}
			if n != c.batches {
				t.Errorf("%d batches, want %d", n, c.batches)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("backfilled %v, want %v", got, want)
			}
			for _, id := range want {
				if r, err := first.Recording(ctx, id); err != nil || r.SHA256 != hexSum(id) {
					t.Errorf("%s: %v, %v", id, r, err)
				}
			}
			for _, db := range []*DB{first, second} {
				if p, err := db.HashBackfillPending(ctx); err != nil || p {
					t.Errorf("pending %v, %v after the end", p, err)
				}
			}
			must(t, first.AdvanceHashBackfill(ctx, all[3].ID, false)) // a late advance: still done
			if recs, _, done, err := second.HashBackfillBatch(ctx, c.scan); err != nil || !done || len(recs) != 0 {
				t.Fatalf("finished backfill: %v %v %v", recs, done, err)
			}
			if p, _ := second.HashBackfillPending(ctx); p {
				t.Fatal("a late advance made the backfill pending again")
			}
		})
	}
}

func hexSum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
