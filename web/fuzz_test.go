package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/callrec/callrec/store"
)

// fuzzWorld is the world the fuzz targets call into, with the per-token rate limit out of the
// way, and the failed-authentication limit too (all in-memory requests come from one address;
// a 429 would hide the code behind it).
func fuzzWorld(f *testing.F) (*world, []string) {
	w := newWorld(f, func(s *Server) { s.RateLimit, s.AuthFailLimit = 1<<30, 1<<30 })
	a1 := w.co("A1")
	return w, []string{w.platform, w.brandTok["A"], a1.adminTok, a1.userTok, "crt_nope", ""}
}

// fuzzDo sends one request through the app in memory (no socket) and returns status and body.
// A request the client side cannot even build is skipped.
func fuzzDo(t *testing.T, w *world, method, target, token string, body []byte) (int, []byte) {
	req, err := http.NewRequest(method, "http://callrec"+target, bytes.NewReader(body))
	if err != nil {
		t.Skip()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.srv.app.Test(req, -1)
	if err != nil {
		t.Skip() // fasthttp refused the request line itself
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the reply: %v", method, target, err)
	}
	return resp.StatusCode, b
}

// checkReply holds for every reply: never a 5xx (a recovered panic is a 500 too), every error is
// SPEC's error body with a code and a message, and every JSON reply is one value.
func checkReply(t *testing.T, what string, status int, b []byte) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: %d %.500s", what, status, b)
	}
	if status >= 400 {
		var e errorBody
		if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s: %d with a body that is not SPEC's error: %.500s", what, status, b)
		}
	}
}

// bodyRoutes are every route that reads a JSON body; ids are filled in by FuzzAPIBodies.
var bodyRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/brands"},
	{"PATCH", "/api/v1/brands/{brand}"},
	{"POST", "/api/v1/companies"},
	{"PATCH", "/api/v1/companies/{company}"},
	{"POST", "/api/v1/ddis"},
	{"PATCH", "/api/v1/ddis/{ddi}"},
	{"POST", "/api/v1/users"},
	{"PATCH", "/api/v1/users/{user}"},
	{"POST", "/api/v1/tokens"},
	{"POST", "/api/v1/recordings/archive"},
	{"POST", "/api/v1/recordings/archive/link"},
	{"POST", "/api/v1/recordings/delete"},
	{"POST", "/api/v1/webhooks"},
	{"PATCH", "/api/v1/webhooks/{webhook}"},
	{"POST", "/api/v1/holds"},
	{"POST", "/api/v1/subjects/archive/link"},
	{"POST", "/api/v1/subjects/erase"},
	{"POST", "/api/v1/calls/{call}/recording"},
}

// TestBodyRoutes_CoverEveryOperationWithABody: every documented operation that takes a body is
// fuzzed (a new one cannot be forgotten here).
func TestBodyRoutes_CoverEveryOperationWithABody(t *testing.T) {
	fuzzed := map[string]bool{}
	for _, r := range bodyRoutes {
		fuzzed[r.method+" "+regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllString(strings.TrimPrefix(r.path, "/api/v1"), "{id}")] = true
	}
	for _, op := range apiOps {
		if op.body != "" && !fuzzed[op.method+" "+op.path] {
			t.Errorf("%s %s takes a body and is not in bodyRoutes", op.method, op.path)
		}
	}
}

// FuzzAPIBodies sends any bytes as the body of every body-reading route, as every role: no
// reply is a 5xx or a panic, errors are SPEC's error body, and a body that is not exactly one
// JSON object is never accepted.
func FuzzAPIBodies(f *testing.F) {
	w, tokens := fuzzWorld(f)
	a1 := w.co("A1")
	hook := &store.Webhook{CompanyID: a1.co.ID, URL: "https://hooks.example.com/f", Active: true}
	if _, err := w.db.CreateWebhook(f.Context(), hook); err != nil {
		f.Fatal(err)
	}
	ids := map[string]string{"{brand}": a1.brand.ID, "{company}": a1.co.ID, "{ddi}": a1.ddi.ID, "{user}": a1.user.ID, "{webhook}": hook.ID, "{call}": "no-such-call"}
	for i, b := range []string{
		`{"url":"https://hooks.example.com/x","events":["recording.ready"]}`, `{"kind":"number","number":"+34600111222","reason":"r"}`,
		`{"kind":"range","from":"2025-01-01T00:00:00Z","to":"x","reason":"r"}`, `{"number":"0034600111222","dry_run":true,"ids":[]}`, `{"action":"pause"}`, `{"events":null,"active":false}`, `{"url":"http://[::1"}`,
		`{"name":"Brand F"}`, `{"name":"x","sip_domain":"f.example.com"}`, `{}}`, `null`, `[]`, `{"name":1}`,
		`{"allow_recording_removal":true}`, `{"allow_recording_removal":null}`, `{"on_demand":"key_dtmf","on_demand_code":"*12"}`,
		`{"number":"911234599","company_id":"` + a1.co.ID + `"}`, `{"extension":"1234","sip_user":"f","name":"F"}`,
		`{"role":"user","user_id":"` + a1.user.ID + `"}`, `{"ids":["` + a1.recDDI.ID + `"]}`, `{"filter":{"from":"2025-01-01T00:00:00Z"}}`,
		`{"filter":{"min_duration_ms":1e400}}`, `{"filter":{"to":"0000-01-01T00:00:00Z"}}`, `{"retention_days":99999999999999999999}`,
		"{\"name\":\"\xff\"}", `{"name":"a"} x`, `{"a":{"b":[[[[[[[[[[]]]]]]]]]]}}`,
	} {
		f.Add(uint8(i), uint8(i), []byte(b))
	}
	f.Fuzz(func(t *testing.T, route, role uint8, body []byte) {
		r := bodyRoutes[int(route)%len(bodyRoutes)]
		path := r.path
		for k, v := range ids {
			path = string(bytes.ReplaceAll([]byte(path), []byte(k), []byte(v)))
		}
		status, reply := fuzzDo(t, w, r.method, path, tokens[int(role)%len(tokens)], body)
		checkReply(t, r.method+" "+path, status, reply)
		if status < 300 && !oneObject(body) {
			t.Fatalf("%s %s accepted %q (%d): not exactly one JSON object", r.method, path, body, status)
		}
	})
}

// oneObject reports whether b is exactly one JSON value and that value an object.
func oneObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var v map[string]any
	if dec.Decode(&v) != nil {
		return false
	}
	_, err := dec.Token()
	return err == io.EOF
}

// listRoutes are every listing (and the archive's query form).
var listRoutes = []string{
	"/api/v1/recordings", "/api/v1/brands", "/api/v1/companies", "/api/v1/ddis", "/api/v1/users", "/api/v1/tokens",
	"/api/v1/recordings/archive", "/api/v1/webhooks",
}

// FuzzListingQuery sends any query string to every listing as every role: no 5xx, no panic, and
// a next_cursor a listing hands out is accepted by the same listing.
func FuzzListingQuery(f *testing.F) {
	w, tokens := fuzzWorld(f)
	a1 := w.co("A1")
	for i, q := range []string{
		"", "limit=1", "limit=0", "limit=-1", "limit=999999999999999999999", "cursor=AAAA", "cursor=%FF%FE", "cursor=====",
		"from=2025-03-01T00:00:00Z&to=2025-02-01T00:00:00Z", "from=0000-01-01T00:00:00Z", "to=9999-12-31T23:59:59Z",
		"state=ready&type=ondemand&trigger=key", "state=nope", "min_duration_ms=-5", "min_duration_ms=1e9",
		"company_id=" + a1.co.ID + "&limit=1", "brand_id=" + a1.brand.ID, "user_id=" + a1.user.ID, "ddi_id=" + a1.ddi.ID,
		"ids=" + a1.recDDI.ID + "," + a1.recOwn.ID, "ids=,,,", "limit=1&limit=2", "%zz", "a=%00",
		"number=600111&limit=1", "number=%2B34+600+111+222", "number=0034600111222&state=ready", "number=12", "number=6%00%FF",
		"number=911234501&caller=%2B34600111222&limit=1", "number=999999999999999", "number=(91)-123.45&from=2025-03-01T00:00:00Z",
	} {
		f.Add(uint8(i), uint8(i), q)
	}
	f.Fuzz(func(t *testing.T, route, role uint8, query string) {
		path := listRoutes[int(route)%len(listRoutes)]
		tok := tokens[int(role)%len(tokens)]
		status, reply := fuzzDo(t, w, "GET", path+"?"+query, tok, nil)
		checkReply(t, "GET "+path+"?"+query, status, reply)
		if status != 200 || path == "/api/v1/recordings/archive" {
			return
		}
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := json.Unmarshal(reply, &page); err != nil || page.Items == nil {
			t.Fatalf("GET %s?%s: 200 but not a listing (%v): %.300s", path, query, err, reply)
		}
		if page.NextCursor == "" || strings.Contains(strings.ToLower(query), "cursor") {
			return
		}
		// A cursor belongs to its listing (same filters): the same query with it must work.
		next := query + "&cursor=" + page.NextCursor
		status, reply = fuzzDo(t, w, "GET", path+"?"+next, tok, nil)
		if status != 200 {
			t.Fatalf("GET %s?%s: the next_cursor it handed out answers %d %.300s", path, next, status, reply)
		}
	})
}
