package web

import (
	"encoding/json"
	"testing"

	"github.com/callrec/callrec/store"
)

// TestAudit_WhoDidWhatToWhichRecording: plays, downloads, archives, deletions, setting changes,
// tokens and holds each leave one entry in their company's chain with the token, role and
// address; seeking within a playback adds none; another company's admin sees none of them, a
// company user may not read the log, and the chain verifies.
func TestAudit_WhoDidWhatToWhichRecording(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	admin := newClient(t, w.srv, a1.adminTok)
	user := newClient(t, w.srv, a1.userTok)
	steps := []struct {
		cl     *client
		method string
		path   string
		body   any
		hdr    []string
	}{
		{user, "GET", "/api/v1/recordings/" + a1.recOwn.ID + "/audio", nil, nil},                                        // play
		{user, "GET", "/api/v1/recordings/" + a1.recOwn.ID + "/audio", nil, []string{"Range", "bytes=100-"}},            // seek: no entry
		{admin, "GET", "/api/v1/recordings/" + a1.recDDI.ID + "/audio?download=1", nil, nil},                            // download
		{admin, "GET", "/api/v1/recordings/archive?ids=" + a1.recDDI.ID + "," + a1.recOwn.ID, nil, nil},                 // archive ×2
		{admin, "DELETE", "/api/v1/recordings/" + a1.recOther.ID, nil, nil},                                             // delete
		{admin, "PATCH", "/api/v1/companies/" + a1.co.ID, map[string]any{"stereo": true}, nil},                          // setting
		{admin, "PATCH", "/api/v1/ddis/" + a1.ddi.ID, map[string]any{"record_calls": "inbound"}, nil},                   // setting
		{admin, "POST", "/api/v1/holds", map[string]any{"kind": "call", "call_id": "call-A1", "reason": "case 9"}, nil}, // hold
	}
	for _, st := range steps {
		resp, b := st.cl.do(st.method, st.path, st.body, st.hdr...)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", st.method, st.path, resp.StatusCode, b)
		}
	}
	resp, b := admin.do("GET", "/api/v1/audit?limit=200", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /audit: %d %s", resp.StatusCode, b)
	}
	var page struct{ Items []store.AuditEntry }
	must(t, json.Unmarshal(b, &page))
	count := map[string]int{}
	for _, e := range page.Items {
		count[e.Action]++
		if e.CompanyID != a1.co.ID || e.TokenID == "" || e.Role == "" || e.Address == "" || e.Hash == "" {
			t.Errorf("entry %+v lacks who, where or its hash", e)
		}
	}
	want := map[string]int{store.AuditPlay: 1, store.AuditDownload: 1, store.AuditArchive: 2, store.AuditDelete: 1,
		store.AuditSettingChange: 2, store.AuditHoldPlaced: 1}
	for k, v := range want {
		if count[k] != v {
			t.Errorf("%d %s entries, want %d (all: %v)", count[k], k, v, count)
		}
	}
	if len(page.Items) != 8 {
		t.Errorf("%d entries, want 8: %v", len(page.Items), count)
	}
	if page.Items[len(page.Items)-1].Action != store.AuditPlay || page.Items[len(page.Items)-1].Role != store.RoleUser {
		t.Errorf("oldest entry %+v, want the user's play", page.Items[len(page.Items)-1])
	}
	if resp, b := newClient(t, w.srv, w.co("A2").adminTok).do("GET", "/api/v1/audit", nil); resp.StatusCode != 200 || bytesContains(b, a1.recOwn.ID) {
		t.Errorf("another company's admin: %d %s", resp.StatusCode, b)
	}
	if resp, _ := user.do("GET", "/api/v1/audit", nil); resp.StatusCode != 403 {
		t.Errorf("a company user reads the log: %d, want 403", resp.StatusCode)
	}
	if resp, b := admin.do("GET", "/api/v1/audit/verify", nil); resp.StatusCode != 200 || !bytesContains(b, `"ok":true`) || !bytesContains(b, `"entries":8`) {
		t.Errorf("verify: %d %s", resp.StatusCode, b)
	}
	if resp, b := newClient(t, w.srv, w.brandTok["A"]).do("GET", "/api/v1/audit?company_id="+a1.co.ID+"&limit=3", nil); resp.StatusCode != 200 || !bytesContains(b, `"next_cursor":"6"`) {
		t.Errorf("the brand admin pages A1's chain: %d %s", resp.StatusCode, b)
	}
	if resp, _ := newClient(t, w.srv, w.brandTok["B"]).do("GET", "/api/v1/audit?company_id="+a1.co.ID, nil); resp.StatusCode != 400 {
		t.Errorf("another brand's admin naming A1: %d, want 400", resp.StatusCode)
	}
}
