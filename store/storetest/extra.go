package storetest

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func extraCases() []suiteCase {
	return []suiteCase{
		{"StartRecording/CommitStoresTheRow", testStartRecording},
		{"StartRecording/Refused", testStartRecordingRefused},
		{"DataKeys/AddRetireFind", testDataKeys},
		{"DataKeys/Rewrap", testRewrapDataKeys},
		{"Links/LinkKeyStable", testLinkKey},
		{"Links/ArchiveGrants", testArchiveGrants},
		{"HashBackfill/WalksUnhashedReadyRows", testHashBackfill},
	}
}

// StartRecording fills r as CreateRecording does; once commit returns nil the row is stored,
// and commit answers the same each time it is called.
func testStartRecording(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	r := newRecording(tn.company.ID, time.Time{})
	r.RecordedLeg = "leg-a"
	commit, err := e.s.StartRecording(e.ctx, r)
	must(t, err)
	if r.ID == "" || r.State != store.StateRecording || !r.StartedAt.Equal(e.clk.Now()) || r.FileName != r.DownloadName() {
		t.Fatalf("StartRecording did not fill: %+v", r)
	}
	for i := range 2 {
		if err := commit(); err != nil {
			t.Fatalf("commit call %d: %v", i+1, err)
		}
	}
	got, err := e.s.Recording(e.ctx, r.ID)
	must(t, err)
	if got.State != store.StateRecording || got.CompanyID != tn.company.ID || got.RecordedLeg != "leg-a" || !got.StartedAt.Equal(r.StartedAt) || got.Caller != r.Caller {
		t.Fatalf("the committed row %+v, want %+v", got, r)
	}
	// The row goes on like any other: finish, claim, complete.
	must(t, e.s.FinishRecording(e.ctx, r.ID, e.clk.Now(), 10, "/spool/x.wav"))
	j := e.claim(t, time.Minute, r.ID)
	must(t, e.s.CompleteRecording(e.ctx, j.ID, store.RecordingResult{MP3Path: "/lib/x.mp3"}))

	// Many at once, as the call path does.
	var wg sync.WaitGroup
	started := make([]*store.Recording, 8)
	errs := make([]error, len(started))
	for i := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := newRecording(tn.company.ID, time.Time{})
			commit, err := e.s.StartRecording(e.ctx, r)
			if err == nil {
				err = commit()
			}
			started[i], errs[i] = r, err
		}()
	}
	wg.Wait()
	for i, r := range started {
		if errs[i] != nil {
			t.Fatalf("concurrent StartRecording %d: %v", i, errs[i])
		}
		if _, err := e.s.Recording(e.ctx, r.ID); err != nil {
			t.Fatalf("concurrent StartRecording %d: row %s not stored: %v", i, r.ID, err)
		}
	}
}

// StartRecording refuses an invalid recording (nothing stored), and a company that does not
// exist either at once or at commit (EINVALID "company_id", nothing stored).
func testStartRecordingRefused(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	bad := newRecording(tn.company.ID, time.Time{})
	bad.Type = "video"
	if commit, err := e.s.StartRecording(e.ctx, bad); commit != nil || store.ErrorCode(err) != store.EINVALID || store.ErrorField(err) != "type" {
		t.Fatalf("StartRecording of a bad type: commit %v, %v; want EINVALID \"type\" and no commit", commit != nil, err)
	}
	gone := newRecording("no-such-company", time.Time{})
	commit, err := e.s.StartRecording(e.ctx, gone)
	if err == nil {
		err = commit()
		if again := commit(); store.ErrorCode(again) != store.ErrorCode(err) {
			t.Errorf("commit answered %v, then %v: want the same each time", err, again)
		}
	}
	checkCode(t, "StartRecording of a missing company (at once or at commit)", err, store.EINVALID, "company_id")
	if gone.ID != "" {
		_, err := e.s.Recording(e.ctx, gone.ID)
		checkCode(t, "the refused recording", err, store.ENOTFOUND, "")
	}
	if page, _, err := e.s.ListRecordings(e.ctx, store.RecordingFilter{IncludeDiscarded: true}); err != nil || len(page) != 0 {
		t.Fatalf("refused recordings were stored: %d rows, %v", len(page), err)
	}
}

// AddDataKey makes the new key the company's current one and retires the one before;
// DataKeys lists oldest first; FindDataKey looks one up within its company.
func testDataKeys(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	_, err := e.s.CurrentDataKey(e.ctx, tn.company.ID)
	checkCode(t, "CurrentDataKey of a company without keys", err, store.ENOTFOUND, "")
	if used, err := e.s.MasterKeysInUse(e.ctx); err != nil || len(used) != 0 {
		t.Fatalf("MasterKeysInUse of an empty store = %v, %v", used, err)
	}
	id1, id2 := e.s.NewDataKeyID(), e.s.NewDataKeyID()
	if !strings.HasPrefix(id1, "dk_") || id1 == id2 {
		t.Fatalf("NewDataKeyID = %q, %q: want distinct dk_ ids", id1, id2)
	}
	tests := []struct {
		name string
		k    store.DataKey
		code string
	}{
		{"no id", store.DataKey{CompanyID: tn.company.ID, MasterKeyID: "mk1", Wrapped: []byte("w")}, store.EINVALID},
		{"no wrapped key", store.DataKey{ID: e.s.NewDataKeyID(), CompanyID: tn.company.ID, MasterKeyID: "mk1"}, store.EINVALID},
		{"no master key", store.DataKey{ID: e.s.NewDataKeyID(), CompanyID: tn.company.ID, Wrapped: []byte("w")}, store.EINVALID},
		{"a missing company", store.DataKey{ID: e.s.NewDataKeyID(), CompanyID: "no-such-company", MasterKeyID: "mk1", Wrapped: []byte("w")}, store.ENOTFOUND},
	}
	for _, tt := range tests {
		k := tt.k
		if err := e.s.AddDataKey(e.ctx, &k); store.ErrorCode(err) != tt.code {
			t.Errorf("AddDataKey with %s: %v, want %s", tt.name, err, tt.code)
		}
	}

	k1 := &store.DataKey{ID: id1, CompanyID: tn.company.ID, MasterKeyID: "mk1", Wrapped: []byte("wrapped-1")}
	must(t, e.s.AddDataKey(e.ctx, k1))
	if !k1.CreatedAt.Equal(e.clk.Now()) || k1.RetiredAt != nil {
		t.Fatalf("AddDataKey did not fill: %+v", k1)
	}
	cur, err := e.s.CurrentDataKey(e.ctx, tn.company.ID)
	must(t, err)
	if cur.ID != id1 || !bytes.Equal(cur.Wrapped, []byte("wrapped-1")) || cur.MasterKeyID != "mk1" {
		t.Fatalf("CurrentDataKey = %+v", cur)
	}
	rotated := e.clk.Advance(time.Hour)
	k2 := &store.DataKey{ID: id2, CompanyID: tn.company.ID, MasterKeyID: "mk2", Wrapped: []byte("wrapped-2")}
	must(t, e.s.AddDataKey(e.ctx, k2))
	other := &store.DataKey{ID: e.s.NewDataKeyID(), CompanyID: tn2.company.ID, MasterKeyID: "mk2", Wrapped: []byte("wrapped-3")}
	must(t, e.s.AddDataKey(e.ctx, other))

	keys, err := e.s.DataKeys(e.ctx, tn.company.ID)
	must(t, err)
	if len(keys) != 2 || keys[0].ID != id1 || keys[1].ID != id2 || keys[0].RetiredAt == nil || !keys[0].RetiredAt.Equal(rotated) || keys[1].RetiredAt != nil {
		t.Fatalf("DataKeys after a rotation = %+v, want [retired %s, current %s]", keys, id1, id2)
	}
	if cur, err := e.s.CurrentDataKey(e.ctx, tn.company.ID); err != nil || cur.ID != id2 {
		t.Fatalf("CurrentDataKey after a rotation = %+v, %v; want %s", cur, err, id2)
	}
	if old, err := e.s.FindDataKey(e.ctx, tn.company.ID, id1); err != nil || !bytes.Equal(old.Wrapped, []byte("wrapped-1")) || old.RetiredAt == nil {
		t.Fatalf("FindDataKey of the retired key = %+v, %v", old, err)
	}
	_, err = e.s.FindDataKey(e.ctx, tn2.company.ID, id1)
	checkCode(t, "FindDataKey in another company", err, store.ENOTFOUND, "")
	used, err := e.s.MasterKeysInUse(e.ctx)
	must(t, err)
	if len(used) != 2 || !used["mk1"] || !used["mk2"] {
		t.Fatalf("MasterKeysInUse = %v, want mk1 and mk2", used)
	}
}

// RewrapDataKeys rewraps every key or, when rewrap fails, none.
func testRewrapDataKeys(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	for _, co := range []string{tn.company.ID, tn.company.ID, tn2.company.ID} {
		must(t, e.s.AddDataKey(e.ctx, &store.DataKey{ID: e.s.NewDataKeyID(), CompanyID: co, MasterKeyID: "old", Wrapped: []byte("by-old")}))
		e.clk.Advance(time.Second)
	}
	boom := errors.New("master key unavailable")
	calls := 0
	_, err := e.s.RewrapDataKeys(e.ctx, func(k *store.DataKey) (string, []byte, error) {
		calls++
		if calls == 2 {
			return "", nil, boom
		}
		return "new", []byte("by-new"), nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("RewrapDataKeys with a failing rewrap: %v, want it to wrap %v", err, boom)
	}
	if used, _ := e.s.MasterKeysInUse(e.ctx); len(used) != 1 || !used["old"] {
		t.Fatalf("a failed rewrap stored some keys: master keys in use %v", used)
	}
	n, err := e.s.RewrapDataKeys(e.ctx, func(k *store.DataKey) (string, []byte, error) {
		if k.MasterKeyID != "old" || !bytes.Equal(k.Wrapped, []byte("by-old")) {
			return "", nil, errors.New("rewrap was handed a key without its wrapped bytes")
		}
		return "new", append([]byte("by-new:"), k.ID...), nil
	})
	must(t, err)
	if n != 3 {
		t.Fatalf("RewrapDataKeys rewrapped %d keys, want 3", n)
	}
	if used, _ := e.s.MasterKeysInUse(e.ctx); len(used) != 1 || !used["new"] {
		t.Fatalf("after the rewrap: master keys in use %v, want only new", used)
	}
	keys, err := e.s.DataKeys(e.ctx, tn.company.ID)
	must(t, err)
	for _, k := range keys {
		if k.MasterKeyID != "new" || string(k.Wrapped) != "by-new:"+k.ID || k.CompanyID != tn.company.ID {
			t.Errorf("key %s after the rewrap: %+v", k.ID, k)
		}
	}
	if len(keys) != 2 || keys[0].RetiredAt == nil || keys[1].RetiredAt != nil {
		t.Fatalf("the rewrap changed which key is current: %+v", keys)
	}
}

// LinkKey is 32 bytes made at the first call, the same for every later and concurrent call.
func testLinkKey(t *testing.T, e *env) {
	keys := make([][]byte, 6)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() { defer wg.Done(); keys[i], errs[i] = e.s.LinkKey(e.ctx) }()
	}
	wg.Wait()
	for i, k := range keys {
		must(t, errs[i])
		if len(k) != 32 || !bytes.Equal(k, keys[0]) {
			t.Fatalf("LinkKey call %d = %x, want the same 32 bytes as call 0 (%x)", i, k, keys[0])
		}
	}
	again, err := e.s.LinkKey(e.ctx)
	must(t, err)
	if !bytes.Equal(again, keys[0]) {
		t.Fatal("LinkKey changed between calls")
	}
	if bytes.Equal(again, make([]byte, 32)) {
		t.Fatal("LinkKey is all zeros")
	}
}

// AddArchiveGrant bounds the unexpired grants per token and in total; FindArchiveGrant finds
// a grant until it expires.
func testArchiveGrants(t *testing.T, e *env) {
	exp := e.clk.Now().Add(time.Hour)
	g := &store.ArchiveGrant{Handle: "h1", TokenID: "tok-a", IDs: []string{"r1", "r2"}, ExpiresAt: exp}
	must(t, e.s.AddArchiveGrant(e.ctx, g, 2, 3))
	got, err := e.s.FindArchiveGrant(e.ctx, "h1")
	must(t, err)
	if got.Handle != "h1" || got.TokenID != "tok-a" || len(got.IDs) != 2 || got.IDs[1] != "r2" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("FindArchiveGrant = %+v", got)
	}
	_, err = e.s.FindArchiveGrant(e.ctx, "no-such-handle")
	checkCode(t, "FindArchiveGrant of an unknown handle", err, store.ENOTFOUND, "")

	must(t, e.s.AddArchiveGrant(e.ctx, &store.ArchiveGrant{Handle: "h2", TokenID: "tok-a", IDs: []string{"r3"}, ExpiresAt: exp}, 2, 3))
	if err := e.s.AddArchiveGrant(e.ctx, &store.ArchiveGrant{Handle: "h3", TokenID: "tok-a", IDs: []string{"r4"}, ExpiresAt: exp}, 2, 3); !errors.Is(err, store.ErrTooManyGrants) {
		t.Fatalf("a third grant of one token with perToken 2: %v, want ErrTooManyGrants", err)
	}
	must(t, e.s.AddArchiveGrant(e.ctx, &store.ArchiveGrant{Handle: "h4", TokenID: "tok-b", IDs: []string{"r5"}, ExpiresAt: exp.Add(time.Hour)}, 2, 3))
	if err := e.s.AddArchiveGrant(e.ctx, &store.ArchiveGrant{Handle: "h5", TokenID: "tok-c", IDs: []string{"r6"}, ExpiresAt: exp}, 2, 3); !errors.Is(err, store.ErrTooManyGrants) {
		t.Fatalf("a fourth grant with total 3: %v, want ErrTooManyGrants", err)
	}
	_, err = e.s.FindArchiveGrant(e.ctx, "h3")
	checkCode(t, "FindArchiveGrant of a refused grant", err, store.ENOTFOUND, "")

	// Expired grants are not found and no longer count.
	e.clk.Advance(time.Hour + time.Second)
	_, err = e.s.FindArchiveGrant(e.ctx, "h1")
	checkCode(t, "FindArchiveGrant of an expired grant", err, store.ENOTFOUND, "")
	if _, err := e.s.FindArchiveGrant(e.ctx, "h4"); err != nil {
		t.Fatalf("a grant expiring later is gone: %v", err)
	}
	must(t, e.s.AddArchiveGrant(e.ctx, &store.ArchiveGrant{Handle: "h6", TokenID: "tok-a", IDs: []string{"r7"}, ExpiresAt: e.clk.Now().Add(time.Hour)}, 2, 3))
	must(t, e.s.AddArchiveGrant(e.ctx, &store.ArchiveGrant{Handle: "h7", TokenID: "tok-a", IDs: []string{"r8"}, ExpiresAt: e.clk.Now().Add(time.Hour)}, 2, 3))
}

// The hash backfill walks, while pending, every ready recording without SHA256 once (not the
// hashed or unfinished ones), in batches; once advanced to done it is no longer pending and
// hands out nothing.
func testHashBackfill(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	want := map[string]bool{}
	for i := range 7 {
		res := store.RecordingResult{MP3Path: "/lib/" + string(rune('a'+i)) + ".mp3", FileSize: 10}
		if i%3 == 0 {
			res.SHA256 = strings.Repeat("0a", 32)
		}
		r := e.ready(t, tn.company.ID, res)
		if res.SHA256 == "" {
			want[r.ID] = true
		}
		e.processing(t, tn.company.ID) // not ready: never handed out
		if _, err := e.s.ClaimJob(e.ctx, time.Hour); err != nil {
			t.Fatal(err) // keep the queue's head clear for the next e.ready
		}
	}
	pending, err := e.s.HashBackfillPending(e.ctx)
	must(t, err)
	if !pending {
		// A store whose fresh schema has nothing left to backfill: it must say so consistently.
		recs, _, done, err := e.s.HashBackfillBatch(e.ctx, 3)
		must(t, err)
		if len(recs) != 0 || !done {
			t.Fatalf("HashBackfillBatch while not pending: %d rows, done %v; want none, done", len(recs), done)
		}
		t.Skip("the backend's fresh schema has no hash backfill pending; the walk is not exercised")
	}
	got := map[string]int{}
	for n := 0; ; n++ {
		if n > 100 {
			t.Fatal("the backfill walk did not end after 100 batches")
		}
		recs, next, done, err := e.s.HashBackfillBatch(e.ctx, 3)
		must(t, err)
		for _, r := range recs {
			got[r.ID]++
			if r.State != store.StateReady || r.SHA256 != "" || r.MP3Path == "" {
				t.Errorf("HashBackfillBatch handed out %+v: want ready rows without SHA256 only", r)
			}
			must(t, e.s.SetRecordingSHA256(e.ctx, r.ID, r.MP3Path, strings.Repeat("1b", 32)))
		}
		must(t, e.s.AdvanceHashBackfill(e.ctx, next, done))
		if done {
			break
		}
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("unhashed ready recording %s handed out %d times, want once", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("the walk handed out %d recordings, want %d", len(got), len(want))
	}
	if pending, err := e.s.HashBackfillPending(e.ctx); err != nil || pending {
		t.Fatalf("HashBackfillPending after the walk = %v, %v; want false", pending, err)
	}
	recs, _, done, err := e.s.HashBackfillBatch(e.ctx, 3)
	must(t, err)
	if len(recs) != 0 || !done {
		t.Fatalf("HashBackfillBatch after the walk: %d rows, done %v; want none, done", len(recs), done)
	}
	must(t, e.s.AdvanceHashBackfill(e.ctx, "", true)) // advancing a finished backfill is a no-op
}
