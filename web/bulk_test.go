package web

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// bulkWorld is the test world plus, in A1, a recording still being recorded and a failed one,
// and company A2 with removal switched off.
type bulkWorld struct {
	*world
	running, failed *store.Recording // A1
}

func newBulkWorld(t *testing.T, opt ...func(*Server)) *bulkWorld {
	t.Helper()
	ctx := context.Background()
	w := &bulkWorld{world: newWorld(t, opt...)}
	a1 := w.co("A1")
	at := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	w.running = &store.Recording{CompanyID: a1.co.ID, CallID: "call-running", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, DDIID: a1.ddi.ID, Recorder: a1.ddi.Number, Caller: "+34600111222", Callee: a1.ddi.Number, StartedAt: at}
	must(t, w.db.CreateRecording(ctx, w.running))
	w.failed = &store.Recording{CompanyID: a1.co.ID, CallID: "call-failed", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, DDIID: a1.ddi.ID, Recorder: a1.ddi.Number, Caller: "+34600111222", Callee: a1.ddi.Number, StartedAt: at.Add(time.Minute)}
	must(t, w.db.CreateRecording(ctx, w.failed))
	must(t, w.db.FailRecording(ctx, w.failed.ID, "the recording file was not found"))
	off := false
	co := *w.co("A2").co
	co.AllowRecordingRemoval = &off
	must(t, w.db.UpdateCompany(ctx, &co))
	return w
}

// stored reports whether recording id is still in the store.
func (w *bulkWorld) stored(t *testing.T, id string) bool {
	t.Helper()
	_, err := w.db.Recording(context.Background(), id)
	if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatal(err)
	}
	return err == nil
}

// TestBulkDelete (issue 14 item 3): POST /recordings/delete deletes what a single DELETE would
// and refuses the rest with that call's status: 404 outside the tenancy (nothing of the other
// tenant touched), 403 where removal is off, 409 while recording; a user token is refused
// whole; a filter is bounded; files go from the library; dry_run deletes nothing.
func TestBulkDelete(t *testing.T) {
	type refusal struct {
		id     func(w *bulkWorld) string
		status int
	}
	for _, tc := range []struct {
		name    string
		limit   int
		token   func(w *bulkWorld) string
		body    func(w *bulkWorld) map[string]any
		status  int
		field   string                      // of a 4xx reply
		deleted func(w *bulkWorld) []string // deleted, in this order
		refused []refusal
		kept    func(w *bulkWorld) []string // still stored with their MP3, whatever the reply
	}{
		{
			name:  "ids across tenants: 404 entries, the other tenant's untouched",
			token: func(w *bulkWorld) string { return w.co("A1").adminTok },
			body: func(w *bulkWorld) map[string]any {
				return map[string]any{"ids": []string{w.co("A1").recDDI.ID, w.co("B1").recDDI.ID, w.co("A2").recOwn.ID, w.co("A1").recOwn.ID, "rec_nosuch"}}
			},
			status:  200,
			deleted: func(w *bulkWorld) []string { return []string{w.co("A1").recDDI.ID, w.co("A1").recOwn.ID} },
			refused: []refusal{{func(w *bulkWorld) string { return w.co("B1").recDDI.ID }, 404},
				{func(w *bulkWorld) string { return w.co("A2").recOwn.ID }, 404}, {func(*bulkWorld) string { return "rec_nosuch" }, 404}},
			kept: func(w *bulkWorld) []string {
				return []string{w.co("B1").recDDI.ID, w.co("A2").recOwn.ID, w.co("A1").recOther.ID}
			},
		},
		{
			name:  "removal forbidden in the company: 403 each",
			token: func(w *bulkWorld) string { return w.co("A2").adminTok },
			body: func(w *bulkWorld) map[string]any {
				return map[string]any{"ids": []string{w.co("A2").recDDI.ID, w.co("A2").recOwn.ID}}
			},
			status:  200,
			deleted: func(*bulkWorld) []string { return nil },
			refused: []refusal{{func(w *bulkWorld) string { return w.co("A2").recDDI.ID }, 403}, {func(w *bulkWorld) string { return w.co("A2").recOwn.ID }, 403}},
			kept:    func(w *bulkWorld) []string { return []string{w.co("A2").recDDI.ID, w.co("A2").recOwn.ID} },
		},
		{
			name:  "brand admin over two companies: one allows, one does not",
			token: func(w *bulkWorld) string { return w.brandTok["A"] },
			body: func(w *bulkWorld) map[string]any {
				return map[string]any{"ids": []string{w.co("A1").recOther.ID, w.co("A2").recOther.ID}}
			},
			status:  200,
			deleted: func(w *bulkWorld) []string { return []string{w.co("A1").recOther.ID} },
			refused: []refusal{{func(w *bulkWorld) string { return w.co("A2").recOther.ID }, 403}},
			kept:    func(w *bulkWorld) []string { return []string{w.co("A2").recOther.ID} },
		},
		{
			name:    "still recording: 409, a failed one goes",
			token:   func(w *bulkWorld) string { return w.co("A1").adminTok },
			body:    func(w *bulkWorld) map[string]any { return map[string]any{"ids": []string{w.running.ID, w.failed.ID}} },
			status:  200,
			deleted: func(w *bulkWorld) []string { return []string{w.failed.ID} },
			refused: []refusal{{func(w *bulkWorld) string { return w.running.ID }, 409}},
			kept:    func(w *bulkWorld) []string { return []string{w.running.ID} },
		},
		{
			name:   "a user token is refused whole",
			token:  func(w *bulkWorld) string { return w.co("A1").userTok },
			body:   func(w *bulkWorld) map[string]any { return map[string]any{"ids": []string{w.co("A1").recOwn.ID}} },
			status: 403,
			kept:   func(w *bulkWorld) []string { return []string{w.co("A1").recOwn.ID} },
		},
		{
			name:   "a filter over the bound is refused before deleting anything",
			limit:  3,
			token:  func(w *bulkWorld) string { return w.co("A1").adminTok },
			body:   func(w *bulkWorld) map[string]any { return map[string]any{"filter": map[string]any{}} },
			status: 400, field: "filter",
			kept: func(w *bulkWorld) []string {
				return []string{w.co("A1").recDDI.ID, w.co("A1").recOwn.ID, w.co("A1").recOther.ID}
			},
		},
		{
			name:    "a filter: every match of the tenancy, newest first",
			token:   func(w *bulkWorld) string { return w.co("A1").adminTok },
			body:    func(w *bulkWorld) map[string]any { return map[string]any{"filter": map[string]any{"type": "ondemand"}} },
			status:  200,
			deleted: func(w *bulkWorld) []string { return []string{w.co("A1").recOther.ID, w.co("A1").recOwn.ID} },
			kept: func(w *bulkWorld) []string {
				return []string{w.co("A1").recDDI.ID, w.co("A2").recOwn.ID, w.co("B1").recOwn.ID}
			},
		},
		{
			name:  "a filter naming another company matches nothing",
			token: func(w *bulkWorld) string { return w.co("B1").adminTok },
			body: func(w *bulkWorld) map[string]any {
				return map[string]any{"filter": map[string]any{"company_id": w.co("A1").co.ID}}
			},
			status:  200,
			deleted: func(*bulkWorld) []string { return nil },
			kept: func(w *bulkWorld) []string {
				return []string{w.co("A1").recDDI.ID, w.co("A1").recOwn.ID, w.co("A1").recOther.ID}
			},
		},
		{
			name:  "dry run: the answer of a real run, nothing deleted",
			token: func(w *bulkWorld) string { return w.co("A1").adminTok },
			body: func(w *bulkWorld) map[string]any {
				return map[string]any{"filter": map[string]any{"from": "2025-04-01T00:00:00Z", "to": "2025-04-30T00:00:00Z"}, "dry_run": true}
			},
			status:  200,
			deleted: func(w *bulkWorld) []string { return []string{w.failed.ID} },
			refused: []refusal{{func(w *bulkWorld) string { return w.running.ID }, 409}},
			kept:    func(w *bulkWorld) []string { return []string{w.failed.ID, w.running.ID} },
		},
		{
			name:   "neither ids nor filter",
			token:  func(w *bulkWorld) string { return w.co("A1").adminTok },
			body:   func(*bulkWorld) map[string]any { return map[string]any{} },
			status: 400, field: "body",
		},
		{
			name:  "both ids and filter",
			token: func(w *bulkWorld) string { return w.co("A1").adminTok },
			body: func(w *bulkWorld) map[string]any {
				return map[string]any{"ids": []string{w.co("A1").recDDI.ID}, "filter": map[string]any{}}
			},
			status: 400, field: "body",
			kept: func(w *bulkWorld) []string { return []string{w.co("A1").recDDI.ID} },
		},
		{
			name:  "more ids than the bound",
			limit: 2,
			token: func(w *bulkWorld) string { return w.co("A1").adminTok },
			body: func(w *bulkWorld) map[string]any {
				return map[string]any{"ids": []string{w.co("A1").recDDI.ID, w.co("A1").recOwn.ID, w.co("A1").recOther.ID}}
			},
			status: 400, field: "ids",
			kept: func(w *bulkWorld) []string {
				return []string{w.co("A1").recDDI.ID, w.co("A1").recOwn.ID, w.co("A1").recOther.ID}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newBulkWorld(t, func(s *Server) { s.ArchiveLimit = tc.limit })
			before := map[string]*store.Recording{}
			for _, r := range []*store.Recording{w.running, w.failed} {
				before[r.ID] = r
			}
			for _, co := range w.cos {
				for _, r := range []*store.Recording{co.recDDI, co.recOwn, co.recOther} {
					before[r.ID] = r
				}
			}
			resp, b := newClient(t, w.srv, tc.token(w)).do("POST", "/api/v1/recordings/delete", tc.body(w))
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tc.status)
			}
			if tc.status != 200 {
				if e := apiErr(t, b); tc.field != "" && e.Field != tc.field {
					t.Errorf("field %q, want %q (%s)", e.Field, tc.field, e.Message)
				}
			} else {
				var got bulkDeleteReply
				must(t, json.Unmarshal(b, &got))
				if want := tc.deleted(w); !slices.Equal(got.Deleted, want) && (len(want) > 0 || len(got.Deleted) > 0) {
					t.Errorf("deleted %v, want %v", got.Deleted, want)
				}
				if len(got.Refused) != len(tc.refused) {
					t.Fatalf("refused %+v, want %d", got.Refused, len(tc.refused))
				}
				for i, want := range tc.refused {
					r := got.Refused[i]
					if r.ID != want.id(w) || r.Status != want.status || r.Message == "" {
						t.Errorf("refused[%d] = %+v, want %s with %d", i, r, want.id(w), want.status)
					}
					if r.Status == 404 && r.Message != "Not found." {
						t.Errorf("a 404 entry says %q: it must read as a single DELETE's 404 (no leak)", r.Message)
					}
				}
				dry, _ := tc.body(w)["dry_run"].(bool)
				for _, id := range got.Deleted {
					if dry {
						continue
					}
					if w.stored(t, id) {
						t.Errorf("%s answered deleted but still stored", id)
					}
					if p := before[id].MP3Path; p != "" {
						if _, err := os.Stat(p); !os.IsNotExist(err) {
							t.Errorf("%s deleted but its MP3 is still in the library (%v)", id, err)
						}
					}
				}
			}
			if tc.kept != nil {
				for _, id := range tc.kept(w) {
					if !w.stored(t, id) {
						t.Errorf("%s was deleted, must be kept", id)
					}
					if p := before[id].MP3Path; p != "" {
						if _, err := os.Stat(p); err != nil {
							t.Errorf("%s kept but its MP3 is gone: %v", id, err)
						}
					}
				}
			}
		})
	}
}

// archiveLinkOf asks POST /recordings/archive/link with body and decodes the reply.
func archiveLinkOf(t *testing.T, c *client, body any) (int, archiveLinkReply, []byte) {
	t.Helper()
	resp, b := c.do("POST", "/api/v1/recordings/archive/link", body)
	var l archiveLinkReply
	if resp.StatusCode == 200 {
		must(t, json.Unmarshal(b, &l))
	}
	return resp.StatusCode, l, b
}

// resign returns link u with its path, token id or expiry changed and signed again with the
// server's key: what a forger who had the key could make, to check the checks behind the
// signature (grant owner, grant expiry).
func resign(t *testing.T, s *Server, path, tid string, exp int64) string {
	t.Helper()
	return path + "?tid=" + tid + "&exp=" + strconv.FormatInt(exp, 10) + "&sig=" + s.linkSig(path, tid, exp)
}

// TestArchiveLink (issue 14 item 3): a signed URL for a ZIP of a selection, usable by <a
// download> (no Authorization header) once issued; refused when tampered with or expired, and
// scoped to the token that asked for it. Only ready recordings go in; the others are listed.
func TestArchiveLink(t *testing.T) {
	w := newBulkWorld(t)
	a1, b1 := w.co("A1"), w.co("B1")
	admin, anon := newClient(t, w.srv, a1.adminTok), newClient(t, w.srv, "")

	for _, tc := range []struct {
		name    string
		tok     string
		body    any
		status  int
		want    []string // ids in the ZIP
		leftOut []string
	}{
		{"ids, one not ready", a1.adminTok, map[string]any{"ids": []string{a1.recDDI.ID, w.failed.ID, a1.recOwn.ID}}, 200,
			[]string{a1.recDDI.ID, a1.recOwn.ID}, []string{w.failed.ID}},
		{"filter of any state", a1.adminTok, map[string]any{"filter": map[string]any{"type": "ddi"}}, 200,
			[]string{a1.recDDI.ID}, []string{w.failed.ID, w.running.ID}},
		{"a user's filter: only its own", a1.userTok, map[string]any{"filter": map[string]any{}}, 200, []string{a1.recOwn.ID}, nil},
		{"another tenant's id", a1.adminTok, map[string]any{"ids": []string{a1.recDDI.ID, b1.recDDI.ID}}, 404, nil, nil},
		{"none ready", a1.adminTok, map[string]any{"ids": []string{w.failed.ID}}, 409, nil, nil},
		{"neither ids nor filter", a1.adminTok, map[string]any{}, 400, nil, nil},
		{"unknown field", a1.adminTok, map[string]any{"ids": []string{a1.recDDI.ID}, "colour": "red"}, 400, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, l, b := archiveLinkOf(t, newClient(t, w.srv, tc.tok), tc.body)
			if status != tc.status {
				t.Fatalf("%d %s, want %d", status, b, tc.status)
			}
			if status != 200 {
				apiErr(t, b)
				return
			}
			if l.Count != len(tc.want) || !slices.Equal(l.LeftOut, append([]string{}, tc.leftOut...)) {
				t.Errorf("count %d left out %v, want %d and %v", l.Count, l.LeftOut, len(tc.want), tc.leftOut)
			}
			if time.Until(l.ExpiresAt) <= 0 || time.Until(l.ExpiresAt) > linkTTL {
				t.Errorf("expires at %v", l.ExpiresAt)
			}
			resp, zb := anon.do("GET", l.URL, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" ||
				!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
				t.Fatalf("GET the link without a token: %d %q %.200s", resp.StatusCode, resp.Header.Get("Content-Disposition"), zb)
			}
			var want []string
			for _, id := range tc.want {
				r, err := w.db.Recording(context.Background(), id)
				must(t, err)
				want = append(want, r.FileName)
			}
			got := zipNames(t, zb)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("ZIP holds %v, want %v", got, want)
			}
		})
	}

	_, l, b := archiveLinkOf(t, admin, map[string]any{"ids": []string{a1.recDDI.ID}})
	if l.URL == "" {
		t.Fatalf("no link: %s", b)
	}
	if len(l.URL) > 200 {
		t.Errorf("link of %d characters: it must stay short whatever the selection", len(l.URL))
	}
	u, err := url.Parse(l.URL)
	must(t, err)
	q := u.Query()
	exp, _ := strconv.ParseInt(q.Get("exp"), 10, 64)
	_, other, _ := archiveLinkOf(t, newClient(t, w.srv, b1.adminTok), map[string]any{"ids": []string{b1.recDDI.ID}})
	otherPath := strings.SplitN(other.URL, "?", 2)[0]
	var b1TokID string
	if toks, err := w.db.Tokens(context.Background(), store.TokenFilter{CompanyID: b1.co.ID}); err == nil {
		for _, tk := range toks {
			if tk.Role == store.RoleCompanyAdmin {
				b1TokID = tk.ID
			}
		}
	}
	for _, tc := range []struct {
		name   string
		url    string
		token  string
		status int
	}{
		{"tampered signature", l.URL[:len(l.URL)-2] + "xx", "", 401},
		{"another handle under this signature", otherPath + "?" + u.RawQuery, "", 401},
		{"expiry moved on", u.Path + "?tid=" + q.Get("tid") + "&exp=" + strconv.FormatInt(exp+3600, 10) + "&sig=" + q.Get("sig"), "", 401},
		{"expired link", resign(t, w.srv, u.Path, q.Get("tid"), time.Now().Add(-time.Second).Unix()), "", 401},
		{"signed for another token: the grant is not its", resign(t, w.srv, u.Path, b1TokID, exp), "", 404},
		{"another tenant's admin with its own token", u.Path, b1.adminTok, 404},
		{"the issuer with its token", u.Path, a1.adminTok, 200},
		{"unknown handle", resign(t, w.srv, "/api/v1/recordings/archive/nosuch", q.Get("tid"), exp), "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := newClient(t, w.srv, tc.token).do("GET", tc.url, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %.200s, want %d", resp.StatusCode, b, tc.status)
			}
			if tc.status == 200 {
				zipNames(t, b)
			} else {
				apiErr(t, b)
			}
		})
	}

	// The grant outlives nothing: once its time is up it is gone even under a valid signature.
	handle := strings.TrimPrefix(u.Path, "/api/v1/recordings/archive/")
	g, err := w.db.FindArchiveGrant(context.Background(), handle)
	must(t, err)
	g.ExpiresAt = time.Now().Add(-time.Second) // the same handle, its time up
	must(t, w.db.AddArchiveGrant(context.Background(), g, maxGrantsPerToken, maxGrants))
	if resp, b := anon.do("GET", l.URL, nil); resp.StatusCode != 404 {
		t.Errorf("expired grant: %d %.200s, want 404", resp.StatusCode, b)
	}

	// A recording deleted after the link was issued is left out; none left is 409, not an empty ZIP.
	_, l, _ = archiveLinkOf(t, admin, map[string]any{"ids": []string{a1.recOther.ID}})
	if resp, b := admin.do("POST", "/api/v1/recordings/delete", map[string]any{"ids": []string{a1.recOther.ID}}); resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	if resp, b := anon.do("GET", l.URL, nil); resp.StatusCode != 409 {
		t.Errorf("link whose only recording was deleted: %d %.200s, want 409", resp.StatusCode, b)
	}

	// Revoking the token kills its links.
	_, l, _ = archiveLinkOf(t, admin, map[string]any{"ids": []string{a1.recDDI.ID}})
	if resp, _ := newClient(t, w.srv, w.platform).do("DELETE", "/api/v1/tokens/"+a1.adminTokID, nil); resp.StatusCode != 204 {
		t.Fatal("revoke failed")
	}
	if resp, b := anon.do("GET", l.URL, nil); resp.StatusCode != 401 {
		t.Errorf("link of a revoked token: %d %.200s, want 401", resp.StatusCode, b)
	}
}

// A token cannot pile up archive grants in the server's memory.
func TestArchiveLink_GrantsAreBounded(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	c := newClient(t, w.srv, a1.adminTok)
	for i := range maxGrantsPerToken {
		if status, _, b := archiveLinkOf(t, c, map[string]any{"ids": []string{a1.recDDI.ID}}); status != 200 {
			t.Fatalf("link %d: %d %s", i, status, b)
		}
	}
	if status, _, b := archiveLinkOf(t, c, map[string]any{"ids": []string{a1.recDDI.ID}}); status != 429 {
		t.Errorf("link %d: %d %s, want 429", maxGrantsPerToken+1, status, b)
	}
	if status, _, b := archiveLinkOf(t, newClient(t, w.srv, w.co("A2").adminTok), map[string]any{"ids": []string{w.co("A2").recDDI.ID}}); status != 200 {
		t.Errorf("another token's link: %d %s", status, b)
	}
}
