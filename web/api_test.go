package web

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callrec/callrec/store"
)

func TestAudio_RangeRequestsServeTheRightBytes(t *testing.T) {
	w := newWorld(t)
	tc := w.co("A1")
	c := newClient(t, w.srv, tc.adminTok)
	path := "/api/v1/recordings/" + tc.recDDI.ID + "/audio"
	size := len(w.mp3)
	cases := []struct {
		name, rng    string
		status       int
		from, to     int // expected body w.mp3[from:to]
		contentRange string
	}{
		{"no range is the whole file", "", 200, 0, size, ""},
		{"first bytes", "bytes=0-99", 206, 0, 100, fmt.Sprintf("bytes 0-99/%d", size)},
		{"middle", fmt.Sprintf("bytes=%d-%d", size/2, size/2+999), 206, size / 2, size/2 + 1000, fmt.Sprintf("bytes %d-%d/%d", size/2, size/2+999, size)},
		{"open end", fmt.Sprintf("bytes=%d-", size-10), 206, size - 10, size, fmt.Sprintf("bytes %d-%d/%d", size-10, size-1, size)},
		{"suffix", "bytes=-500", 206, size - 500, size, fmt.Sprintf("bytes %d-%d/%d", size-500, size-1, size)},
		{"end beyond the file is clamped", fmt.Sprintf("bytes=%d-%d", size-5, size+100), 206, size - 5, size, fmt.Sprintf("bytes %d-%d/%d", size-5, size-1, size)},
		{"start beyond the end is 416", fmt.Sprintf("bytes=%d-", size), 416, 0, 0, fmt.Sprintf("bytes */%d", size)},
		{"reversed range is 416", "bytes=100-50", 416, 0, 0, fmt.Sprintf("bytes */%d", size)},
		{"garbage range is 416", "bytes=abc-def", 416, 0, 0, fmt.Sprintf("bytes */%d", size)},
		{"another unit is ignored", "items=0-5", 200, 0, size, ""},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.rng != "" {
				hdr = []string{"Range", tt.rng}
			}
			resp, b := c.do("GET", path, nil, hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tt.status, b)
			}
			if got := resp.Header.Get("Content-Range"); got != tt.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tt.contentRange)
			}
			if tt.status == 416 {
				if apiErr(t, b).Code != codeRange {
					t.Errorf("416 body %s", b)
				}
				return
			}
			if !bytes.Equal(b, w.mp3[tt.from:tt.to]) {
				t.Errorf("body: %d bytes, want bytes %d..%d of the MP3", len(b), tt.from, tt.to)
			}
			if resp.Header.Get("Content-Type") != "audio/mpeg" || resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Errorf("headers %v", resp.Header)
			}
		})
	}
	t.Run("many seeks in a row on one connection", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			from := (i * 997) % (size - 10)
			resp, b := c.do("GET", path, nil, "Range", fmt.Sprintf("bytes=%d-%d", from, from+9))
			if resp.StatusCode != 206 || !bytes.Equal(b, w.mp3[from:from+10]) {
				t.Fatalf("seek %d: %d %x", i, resp.StatusCode, b)
			}
		}
	})
}

func TestAudio_ETagRevalidationAndDisposition(t *testing.T) {
	w := newWorld(t)
	tc := w.co("A1")
	c := newClient(t, w.srv, tc.adminTok)
	path := "/api/v1/recordings/" + tc.recDDI.ID + "/audio"
	resp, _ := c.do("GET", path, nil)
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("no strong ETag: %q", etag)
	}
	if d := resp.Header.Get("Content-Disposition"); d != `inline; filename=`+tc.recDDI.FileName {
		t.Errorf("disposition %q, want inline with %s", d, tc.recDDI.FileName)
	}
	resp, b := c.do("GET", path, nil, "If-None-Match", etag)
	if resp.StatusCode != 304 || len(b) != 0 {
		t.Errorf("If-None-Match with the ETag: %d, %d bytes; want 304 empty", resp.StatusCode, len(b))
	}
	resp, b = c.do("GET", path, nil, "If-None-Match", `"something-else"`)
	if resp.StatusCode != 200 || len(b) != len(w.mp3) {
		t.Errorf("If-None-Match with another ETag: %d, %d bytes; want 200 whole", resp.StatusCode, len(b))
	}
	resp, b = c.do("GET", path, nil, "Range", "bytes=0-9", "If-Range", `"stale"`)
	if resp.StatusCode != 200 || len(b) != len(w.mp3) {
		t.Errorf("Range with a stale If-Range: %d; want 200 whole", resp.StatusCode)
	}
	resp, _ = c.do("GET", path, nil, "Range", "bytes=0-9", "If-Range", etag)
	if resp.StatusCode != 206 {
		t.Errorf("Range with a current If-Range: %d; want 206", resp.StatusCode)
	}
	resp, _ = c.do("GET", path+"?download=1", nil)
	if d := resp.Header.Get("Content-Disposition"); d != "attachment; filename="+tc.recDDI.FileName {
		t.Errorf("download disposition %q", d)
	}
	if !strings.HasSuffix(tc.recDDI.FileName, ".mp3") {
		t.Errorf("file name %q", tc.recDDI.FileName)
	}
}

func TestAudio_NotReadyIsConflictNotServerError(t *testing.T) {
	w := newWorld(t)
	tc := w.co("A1")
	r := &store.Recording{CompanyID: tc.co.ID, CallID: "c", Type: store.TypeDDI, Trigger: store.TriggerDDI, Direction: store.DirectionInbound,
		DDIID: tc.ddi.ID, Recorder: tc.ddi.Number, Caller: "+34600000000", Callee: tc.ddi.Number}
	must(t, w.db.CreateRecording(context.Background(), r))
	resp, b := newClient(t, w.srv, tc.adminTok).do("GET", "/api/v1/recordings/"+r.ID+"/audio", nil)
	if resp.StatusCode != 409 || apiErr(t, b).Field != "state" {
		t.Errorf("audio of a recording in progress: %d %s", resp.StatusCode, b)
	}
}

func TestArchive_FiftyRecordingsStreamWithBoundedMemory(t *testing.T) {
	w := newWorld(t)
	tc := w.co("A1")
	big := bytes.Repeat(w.mp3, (1<<20)/len(w.mp3)+1) // ~1 MiB each, 50+ MiB in all
	var ids []string
	for i := 0; i < 50; i++ {
		r := w.recording(t, tc, store.TypeDDI, "", time.Date(2025, 5, 1, 0, 0, i, 0, time.UTC))
		w.replaceMP3(t, r, big)
		ids = append(ids, r.ID)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	req, _ := http.NewRequest("GET", w.srv.URL()+"/api/v1/recordings/archive?ids="+strings.Join(ids, ","), nil)
	req.Header.Set("Authorization", "Bearer "+tc.adminTok)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(t.TempDir(), "*.zip")
	must(t, err)
	n, err := io.Copy(tmp, resp.Body)
	close(done)
	must(t, err)
	total := int64(len(big)) * 50
	if resp.StatusCode != 200 || n < total {
		t.Fatalf("status %d, %d bytes, want 200 and at least %d", resp.StatusCode, n, total)
	}
	if te := resp.TransferEncoding; len(te) == 0 || te[0] != "chunked" {
		t.Errorf("transfer encoding %v: the ZIP was not streamed", te)
	}
	grew := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("zip of 50 × %d KiB = %d MiB; heap in use grew by at most %d KiB while streaming", len(big)>>10, n>>20, grew>>10)
	if grew > total/4 {
		t.Errorf("heap grew by %d bytes while streaming %d: the archive is buffered", grew, total)
	}
	zr, err := zip.OpenReader(tmp.Name())
	must(t, err)
	defer zr.Close()
	if len(zr.File) != 50+2 { // and manifest.json, manifest.json.sig
		t.Fatalf("%d entries, want 50 and the manifest", len(zr.File))
	}
	f, err := zr.File[7].Open()
	must(t, err)
	got, _ := io.ReadAll(f)
	if !bytes.Equal(got, big) {
		t.Errorf("entry 7 differs from its MP3")
	}
}

func TestArchive_RejectsBadInputBeforeStreaming(t *testing.T) {
	w := newWorld(t)
	tc := w.co("A1")
	c := newClient(t, w.srv, tc.adminTok)
	cases := []struct {
		name   string
		query  string
		status int
	}{
		{"no ids", "", 400},
		{"another company's recording", "?ids=" + tc.recDDI.ID + "," + w.co("A2").recDDI.ID, 404},
		{"unknown id", "?ids=nope", 404},
	}
	for _, tt := range cases {
		resp, b := c.do("GET", "/api/v1/recordings/archive"+tt.query, nil)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d, want %d: %s", tt.name, resp.StatusCode, tt.status, b)
		}
		apiErr(t, b)
	}
}

func TestDeleteRecording_RemovesRowAndFileOnlyWhenCompanyAllows(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tc := w.co("A1")
	c := newClient(t, w.srv, tc.adminTok)

	off := false
	co := *tc.co
	co.AllowRecordingRemoval = &off
	must(t, w.db.UpdateCompany(ctx, &co))
	resp, b := c.do("DELETE", "/api/v1/recordings/"+tc.recDDI.ID, nil)
	if resp.StatusCode != 403 || apiErr(t, b).Field != "allow_recording_removal" {
		t.Fatalf("delete while removal is off: %d %s", resp.StatusCode, b)
	}
	if _, err := os.Stat(tc.recDDI.MP3Path); err != nil {
		t.Fatalf("refused delete removed the file: %v", err)
	}

	on := true
	co.AllowRecordingRemoval = &on
	must(t, w.db.UpdateCompany(ctx, &co))
	resp, b = newClient(t, w.srv, tc.userTok).do("DELETE", "/api/v1/recordings/"+tc.recOwn.ID, nil)
	if resp.StatusCode != 403 {
		t.Errorf("company user deleting its own recording: %d %s, want 403", resp.StatusCode, b)
	}
	resp, b = c.do("DELETE", "/api/v1/recordings/"+tc.recDDI.ID, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	if _, err := os.Stat(tc.recDDI.MP3Path); !os.IsNotExist(err) {
		t.Errorf("MP3 still there after delete: %v", err)
	}
	if _, err := w.db.Recording(ctx, tc.recDDI.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("row still there: %v", err)
	}
	resp, _ = c.do("GET", "/api/v1/recordings?ddi_id="+tc.ddi.ID, nil)
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	resp, _ = c.do("DELETE", "/api/v1/recordings/"+tc.recDDI.ID, nil)
	if resp.StatusCode != 404 {
		t.Errorf("second delete: %d, want 404", resp.StatusCode)
	}
}

func TestRecordings_ListFiltersAndPaging(t *testing.T) {
	w := newWorld(t)
	tc := w.co("B1")
	c := newClient(t, w.srv, tc.adminTok)
	list := func(q string) ([]store.Recording, string) {
		t.Helper()
		resp, b := c.do("GET", "/api/v1/recordings"+q, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", q, resp.StatusCode, b)
		}
		var r struct {
			Items      []store.Recording
			NextCursor string `json:"next_cursor"`
		}
		must(t, json.Unmarshal(b, &r))
		return r.Items, r.NextCursor
	}
	ids := func(rs []store.Recording) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	all, _ := list("")
	if got, want := ids(all), []string{tc.recOther.ID, tc.recOwn.ID, tc.recDDI.ID}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("newest first: %v, want %v", got, want)
	}
	cases := []struct {
		q    string
		want []string
	}{
		{"?type=ddi", []string{tc.recDDI.ID}},
		{"?trigger=key", []string{tc.recOther.ID, tc.recOwn.ID}},
		{"?user_id=" + tc.user.ID, []string{tc.recOwn.ID}},
		{"?ddi_id=" + tc.ddi.ID, []string{tc.recDDI.ID}},
		{"?state=ready&caller=%2B34600111222&callee=" + strings.ReplaceAll(tc.ddi.Number, "+", "%2B"), ids(all)},
		{"?caller=%2B34000", nil},
		{"?min_duration_ms=5000", ids(all)},
		{"?min_duration_ms=5001", nil},
		{"?from=" + tc.recOwn.StartedAt.Format(time.RFC3339), []string{tc.recOther.ID, tc.recOwn.ID}},
		{"?to=" + tc.recOwn.StartedAt.Format(time.RFC3339), []string{tc.recOwn.ID, tc.recDDI.ID}},
	}
	for _, tt := range cases {
		got, _ := list(tt.q)
		if fmt.Sprint(ids(got)) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %v, want %v", tt.q, ids(got), tt.want)
		}
	}
	var paged []string
	cur := ""
	for i := 0; i < 10; i++ {
		page, next := list("?limit=1" + map[bool]string{true: "&cursor=" + cur}[cur != ""])
		paged = append(paged, ids(page)...)
		if next == "" {
			break
		}
		cur = next
	}
	if fmt.Sprint(paged) != fmt.Sprint(ids(all)) {
		t.Errorf("paging by 1: %v, want %v", paged, ids(all))
	}
}

func TestErrors_EveryDocumentedStatusFromBadInput(t *testing.T) {
	w := newWorld(t, func(s *Server) { s.RateLimit = 20; s.RateWindow = time.Minute })
	ctx := context.Background()
	tc := w.co("A1")
	admin := newClient(t, w.srv, tc.adminTok)
	brand := newClient(t, w.srv, w.brandTok["A"])
	// A fresh token for the rate-limit case, so the other cases stay under the limit.
	limited := newClient(t, w.srv, mustToken(t, w.db, store.Token{Role: store.RoleCompanyAdmin, CompanyID: tc.co.ID}))
	cases := []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed JSON", brand, "POST", "/companies", `{"name":`, 400, store.EINVALID, "body"},
		{"wrong JSON type", brand, "POST", "/companies", `{"name": 5}`, 400, store.EINVALID, "name"},
		{"unknown field", brand, "POST", "/companies", `{"name":"x","colour":"red"}`, 400, store.EINVALID, "colour"},
		{"empty body", brand, "POST", "/companies", ``, 400, store.EINVALID, "body"},
		{"validation names the field", brand, "POST", "/companies", `{"name":"x","on_demand":"sometimes"}`, 400, store.EINVALID, "on_demand"},
		{"bad number", brand, "POST", "/ddis", map[string]any{"company_id": tc.co.ID, "number": "12ab"}, 400, store.EINVALID, "number"},
		{"bad limit", admin, "GET", "/recordings?limit=500", nil, 400, store.EINVALID, "limit"},
		{"bad from", admin, "GET", "/recordings?from=yesterday", nil, 400, store.EINVALID, "from"},
		{"bad cursor", admin, "GET", "/recordings?cursor=%%%", nil, 400, store.EINVALID, "cursor"},
		{"bad state", admin, "GET", "/recordings?state=lost", nil, 400, store.EINVALID, "state"},
		{"no token", newClient(t, w.srv, ""), "GET", "/recordings", nil, 401, codeUnauthorized, ""},
		{"unknown token", newClient(t, w.srv, "crt_nope"), "GET", "/recordings", nil, 401, codeUnauthorized, ""},
		{"company admin changes on_demand", admin, "PATCH", "/companies/" + tc.co.ID, map[string]any{"on_demand": "key_dtmf"}, 403, store.EFORBIDDEN, "on_demand"},
		{"company admin changes on_demand_code", admin, "PATCH", "/companies/" + tc.co.ID, map[string]any{"on_demand_code": "99"}, 403, store.EFORBIDDEN, "on_demand_code"},
		{"company admin grants a brand token", admin, "POST", "/tokens", map[string]any{"role": "brand", "brand_id": tc.brand.ID}, 403, store.EFORBIDDEN, "role"},
		{"no such recording", admin, "GET", "/recordings/01ARZ3NDEKTSV4RRFFQ69G5FAV", nil, 404, store.ENOTFOUND, ""},
		{"no such route", admin, "GET", "/nothing", nil, 404, store.ENOTFOUND, ""},
		{"duplicate DDI number", brand, "POST", "/ddis", map[string]any{"company_id": tc.co.ID, "number": tc.ddi.Number}, 409, store.ECONFLICT, "number"},
		{"duplicate extension", admin, "POST", "/users", map[string]any{"name": "X", "extension": tc.user.Extension, "sip_user": "fresh"}, 409, store.ECONFLICT, "extension"},
		{"body too large", brand, "POST", "/companies", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413, codeTooLarge, ""},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var b []byte
			if tt.status == 413 {
				resp, b = tooLarge(t, tt.c, tt.method, "/api/v1"+tt.path, tt.body.(string))
			} else {
				resp, b = tt.c.do(tt.method, "/api/v1"+tt.path, tt.body)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("%d, want %d: %.300s", resp.StatusCode, tt.status, b)
			}
			e := apiErr(t, b)
			if e.Code != tt.code || e.Field != tt.field || e.Message == "" {
				t.Errorf("error %+v, want code %q field %q", e, tt.code, tt.field)
			}
		})
	}
	t.Run("brand admin may change on_demand", func(t *testing.T) {
		resp, b := brand.do("PATCH", "/api/v1/companies/"+tc.co.ID, map[string]any{"on_demand": "key_dtmf", "on_demand_code": "55"})
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		co, err := w.db.Company(ctx, tc.co.ID)
		must(t, err)
		if co.OnDemand != "key_dtmf" || co.OnDemandCode != "55" {
			t.Errorf("stored %+v", co)
		}
		resp, _ = admin.do("PATCH", "/api/v1/companies/"+tc.co.ID, map[string]any{"on_demand": "key_dtmf", "stereo": true})
		if resp.StatusCode != 200 {
			t.Errorf("company admin sending the unchanged on_demand with another field: %d", resp.StatusCode)
		}
	})
	t.Run("company country is validated and stored upper-case", func(t *testing.T) {
		resp, b := admin.do("PATCH", "/api/v1/companies/"+tc.co.ID, map[string]any{"country": "Narnia"})
		if e := apiErr(t, b); resp.StatusCode != 400 || e.Field != "country" {
			t.Fatalf("country Narnia: %d %s, want 400 on field country", resp.StatusCode, b)
		}
		resp, b = admin.do("PATCH", "/api/v1/companies/"+tc.co.ID, map[string]any{"country": "us"})
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		co, err := w.db.Company(ctx, tc.co.ID)
		must(t, err)
		if co.Country != "US" || w.db.Rules().CompanyCountry(tc.co.ID) != "US" {
			t.Errorf("stored country %q, rules %q; want US", co.Country, w.db.Rules().CompanyCountry(tc.co.ID))
		}
	})
	t.Run("rate limit per token", func(t *testing.T) {
		var last *http.Response
		var b []byte
		for i := 0; i < 21; i++ {
			last, b = limited.do("GET", "/api/v1/me", nil)
		}
		if last.StatusCode != 429 || apiErr(t, b).Code != codeRateLimited {
			t.Fatalf("21st request in a window of 20: %d %s", last.StatusCode, b)
		}
		if resp, _ := admin.do("GET", "/api/v1/me", nil); resp.StatusCode != 200 {
			t.Errorf("another token is limited too: %d", resp.StatusCode)
		}
	})
}

func TestPanic_BecomesLogged500WithRequestID(t *testing.T) {
	db := MustOpenStore(t)
	var logs bytes.Buffer
	s := &Server{DB: db, Logger: zerologTo(&logs)}
	app := s.newApp()
	app.Get("/boom", func(*fiber.Ctx) error { panic("kaboom") })
	req, _ := http.NewRequest("GET", "/boom", nil)
	resp, err := app.Test(req, 5000)
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	e := apiErr(t, b)
	if e.RequestID == "" || e.Code != store.EINTERNAL || strings.Contains(e.Message, "kaboom") {
		t.Errorf("error body %+v", e)
	}
	if !strings.Contains(logs.String(), "kaboom") || !strings.Contains(logs.String(), e.RequestID) {
		t.Errorf("log lacks the panic or its request id: %s", logs.String())
	}
	resp, err = app.Test(httptestGet("/healthz"), 5000)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("server dead after a panic: %v", err)
	}
}

func TestOpenAPI_DocumentsExactlyTheRoutes(t *testing.T) {
	db := MustOpenStore(t)
	s := &Server{DB: db}
	app := s.newApp()
	served := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == "HEAD" {
			continue
		}
		p := strings.TrimPrefix(r.Path, "/api/v1")
		for _, seg := range strings.Split(p, "/") {
			if strings.HasPrefix(seg, ":") {
				p = strings.Replace(p, seg, "{"+seg[1:]+"}", 1)
			}
		}
		served[r.Method+" "+p] = true
	}
	resp, err := app.Test(httptestGet("/api/v1/openapi.json"), 5000)
	must(t, err)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&doc))
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q; routes not documented: %v; documented routes that do not exist: %v", doc.OpenAPI, missing, extra)
	}
	if len(served) < 25 {
		t.Errorf("only %d routes found: the comparison is not looking at the API", len(served))
	}
}

func TestTokens_SecretShownOnceAndWorks(t *testing.T) {
	w := newWorld(t)
	tc := w.co("A2")
	admin := newClient(t, w.srv, tc.adminTok)
	resp, b := admin.do("POST", "/api/v1/tokens", map[string]any{"name": "phone app", "role": "user", "user_id": tc.user2.ID})
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var created struct {
		ID, Secret, Role string
		UserID           string `json:"user_id"`
	}
	must(t, json.Unmarshal(b, &created))
	if !strings.HasPrefix(created.Secret, store.TokenPrefix) || created.Role != "user" || created.UserID != tc.user2.ID {
		t.Fatalf("created %s", b)
	}
	_, b = admin.do("GET", "/api/v1/tokens/"+created.ID, nil)
	if strings.Contains(string(b), created.Secret) || strings.Contains(string(b), "secret") {
		t.Errorf("GET token shows the secret: %s", b)
	}
	user2 := newClient(t, w.srv, created.Secret)
	resp, b = user2.do("GET", "/api/v1/recordings", nil)
	var page struct{ Items []store.Recording }
	must(t, json.Unmarshal(b, &page))
	if resp.StatusCode != 200 || len(page.Items) != 1 || page.Items[0].ID != tc.recOther.ID {
		t.Errorf("new user token lists %s", b)
	}
	if resp, _ := admin.do("DELETE", "/api/v1/tokens/"+created.ID, nil); resp.StatusCode != 204 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp, _ := user2.do("GET", "/api/v1/me", nil); resp.StatusCode != 401 {
		t.Errorf("revoked token still works: %d", resp.StatusCode)
	}
}

func TestBackup_PlatformOnlyStreamsTheStore(t *testing.T) {
	w := newWorld(t)
	resp, b := newClient(t, w.srv, w.brandTok["A"]).do("GET", "/api/v1/backup", nil)
	if resp.StatusCode != 403 {
		t.Errorf("brand admin backup: %d", resp.StatusCode)
	}
	resp, b = newClient(t, w.srv, w.platform).do("GET", "/api/v1/backup", nil)
	if resp.StatusCode != 200 || len(b) < 4096 {
		t.Fatalf("backup: %d, %d bytes", resp.StatusCode, len(b))
	}
	path := t.TempDir() + "/copy.db"
	must(t, os.WriteFile(path, b, 0o600))
	db, err := store.Open(context.Background(), path, store.Options{})
	must(t, err)
	defer db.Close()
	if bs, err := db.Brands(context.Background()); err != nil || len(bs) != 2 {
		t.Errorf("backup holds %d brands (%v), want 2", len(bs), err)
	}
}

func TestMetrics_ServedWhenSet(t *testing.T) {
	db := MustOpenStore(t)
	s := MustServe(t, db, func(s *Server) {
		reg := prometheus.NewRegistry()
		up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "callrec_up", Help: "1"})
		up.Set(1)
		reg.MustRegister(up)
		s.Metrics = reg
	})
	resp, b := newClient(t, s, "").do("GET", "/metrics", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "\ncallrec_up 1\n") {
		t.Errorf("metrics: %d %q", resp.StatusCode, b)
	}
}

// tooLarge sends an oversized body with Expect: 100-continue, as a careful client does: the
// server answers 413 from the headers alone, so the answer is read rather than lost to a
// connection reset while the client is still writing the body (a race that made this case flaky).
func tooLarge(t *testing.T, c *client, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
	resp, err := hc.Do(req)
	must(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp, out
}
