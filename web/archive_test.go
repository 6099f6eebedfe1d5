package web

import (
	"archive/zip"
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// zipNames opens a ZIP reply and returns the names of its MP3 entries (the manifest and its
// signature left out: integrity_test.go checks them).
func zipNames(t *testing.T, b []byte) []string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a ZIP (%v): %.200s", err, b)
	}
	var names []string
	for _, f := range zr.File {
		if f.Name != ManifestName && f.Name != ManifestSigName {
			names = append(names, f.Name)
		}
	}
	return names
}

// Issue 12 item 11: GET /recordings/archive failed with 431 from ~150 ids (the query string
// outgrew the header buffer). POST takes the ids in its body, or a filter (the listing's, a whole
// listing, tenant-scoped), streamed the same way.
func TestArchive_ManyIDsInTheBodyAndByFilter(t *testing.T) {
	w := newWorld(t, func(s *Server) { s.ArchiveLimit = 250 })
	a1, b1 := w.co("A1"), w.co("B1")
	var ids []string
	may := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 200 {
		r := w.recording(t, a1, store.TypeDDI, "", may.Add(time.Duration(i)*time.Second))
		ids = append(ids, r.ID)
	}
	admin := newClient(t, w.srv, a1.adminTok)

	resp, b := admin.do("GET", "/api/v1/recordings/archive?ids="+strings.Join(ids, ","), nil)
	t.Logf("GET with %d ids: %d", len(ids), resp.StatusCode) // 431 before and after: a query string has its limit

	resp, b = admin.do("POST", "/api/v1/recordings/archive", map[string]any{"ids": ids})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("POST 200 ids: %d %.300s", resp.StatusCode, b)
	}
	if n := len(zipNames(t, b)); n != 200 {
		t.Fatalf("POST 200 ids: %d entries", n)
	}

	for _, tc := range []struct {
		name   string
		tok    string
		filter map[string]any
		want   int
	}{
		{"company admin, May", a1.adminTok, map[string]any{"from": "2025-05-01T00:00:00Z"}, 200},
		{"company admin, first minute of May", a1.adminTok, map[string]any{"from": "2025-05-01T00:00:00Z", "to": "2025-05-01T00:00:59Z"}, 60},
		{"company admin, whole listing", a1.adminTok, map[string]any{}, 203},
		{"company admin, own on-demand", a1.adminTok, map[string]any{"type": "ondemand"}, 2},
		{"company user: only its own", a1.userTok, map[string]any{}, 1},
		{"another company's admin naming A1", b1.adminTok, map[string]any{"company_id": a1.co.ID}, 0},
		{"brand B naming A1", w.brandTok["B"], map[string]any{"company_id": a1.co.ID}, 0},
		{"brand A, min duration", w.brandTok["A"], map[string]any{"company_id": a1.co.ID, "min_duration_ms": 1}, 203},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := newClient(t, w.srv, tc.tok).do("POST", "/api/v1/recordings/archive", map[string]any{"filter": tc.filter})
			if resp.StatusCode != 200 {
				t.Fatalf("%d %.300s", resp.StatusCode, b)
			}
			if got := zipNames(t, b); len(got) != tc.want {
				t.Errorf("%d entries, want %d", len(got), tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name, field string
		body        any
		status      int
	}{
		{"neither", "body", map[string]any{}, 400},
		{"both", "body", map[string]any{"ids": ids[:1], "filter": map[string]any{}}, 400},
		{"unknown filter key", "filter.colour", map[string]any{"filter": map[string]any{"colour": "red"}}, 400},
		{"bad from", "filter.from", map[string]any{"filter": map[string]any{"from": "yesterday"}}, 400},
		{"not only ready", "filter.state", map[string]any{"filter": map[string]any{"state": "failed"}}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := admin.do("POST", "/api/v1/recordings/archive", tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tc.status)
			}
			if e := apiErr(t, b); e.Field != tc.field {
				t.Errorf("field %q, want %q (%s)", e.Field, tc.field, e.Message)
			}
		})
	}
	resp, b = admin.do("POST", "/api/v1/recordings/archive", map[string]any{"ids": append(slices.Clone(ids), ids[0]+"x")})
	if resp.StatusCode != 404 {
		t.Errorf("an unknown id among 201: %d %.200s, want 404", resp.StatusCode, b)
	}
}

// A filter matching more than ArchiveLimit recordings is refused before the first byte.
func TestArchive_FilterIsBounded(t *testing.T) {
	w := newWorld(t, func(s *Server) { s.ArchiveLimit = 5 })
	resp, b := newClient(t, w.srv, w.platform).do("POST", "/api/v1/recordings/archive", map[string]any{"filter": map[string]any{}})
	if resp.StatusCode != 400 {
		t.Fatalf("12 recordings over a limit of 5: %d %.200s, want 400", resp.StatusCode, b)
	}
	if e := apiErr(t, b); e.Field != "filter" {
		t.Errorf("field %q, want filter", e.Field)
	}
}
