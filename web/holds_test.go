package web

import (
	"encoding/json"
	"testing"
)

// TestHolds_RefuseDeletionUntilReleased: a company admin holds a recording; a single and a bulk
// delete are refused with 409 naming the hold, another brand's admin gets 404 for the hold and
// a company user 403; after the release the delete goes through.
func TestHolds_RefuseDeletionUntilReleased(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	admin := newClient(t, w.srv, a1.adminTok)
	resp, b := admin.do("POST", "/api/v1/holds", map[string]any{"kind": "recording", "recording_id": a1.recDDI.ID, "reason": "case 17"})
	if resp.StatusCode != 201 {
		t.Fatalf("place: %d %s", resp.StatusCode, b)
	}
	var hold struct{ ID, CompanyID string }
	must(t, json.Unmarshal(b, &hold))
	if resp, b := admin.do("DELETE", "/api/v1/recordings/"+a1.recDDI.ID, nil); resp.StatusCode != 409 || !bytesContains(b, `"field":"hold"`) || !bytesContains(b, hold.ID) {
		t.Errorf("delete a held recording: %d %s, want 409 naming the hold", resp.StatusCode, b)
	}
	// A dry run says so too (it deletes nothing, so only the hold check can refuse it).
	if resp, b := admin.do("POST", "/api/v1/recordings/delete", map[string]any{"ids": []string{a1.recDDI.ID}, "dry_run": true}); resp.StatusCode != 200 ||
		!bytesContains(b, `"deleted":[]`) || !bytesContains(b, hold.ID) {
		t.Errorf("bulk dry run of a held recording: %d %s, want it refused naming the hold", resp.StatusCode, b)
	}
	if resp, b := admin.do("POST", "/api/v1/recordings/delete", map[string]any{"ids": []string{a1.recDDI.ID, a1.recOther.ID}}); resp.StatusCode != 200 ||
		!bytesContains(b, `"deleted":["`+a1.recOther.ID+`"]`) || !bytesContains(b, `"status":409`) {
		t.Errorf("bulk delete: %d %s, want the free one deleted and the held one refused with 409", resp.StatusCode, b)
	}
	if resp, _ := newClient(t, w.srv, w.brandTok["B"]).do("GET", "/api/v1/holds/"+hold.ID, nil); resp.StatusCode != 404 {
		t.Errorf("another brand reads the hold: %d, want 404", resp.StatusCode)
	}
	if resp, _ := newClient(t, w.srv, a1.userTok).do("GET", "/api/v1/holds", nil); resp.StatusCode != 403 {
		t.Errorf("a company user lists holds: %d, want 403", resp.StatusCode)
	}
	if resp, b := newClient(t, w.srv, w.brandTok["A"]).do("GET", "/api/v1/holds?active=true", nil); resp.StatusCode != 200 || !bytesContains(b, hold.ID) {
		t.Errorf("the brand admin lists its companies' holds: %d %s", resp.StatusCode, b)
	}
	if resp, b := admin.do("POST", "/api/v1/holds/"+hold.ID+"/release", nil); resp.StatusCode != 200 || !bytesContains(b, `"released_at"`) {
		t.Fatalf("release: %d %s", resp.StatusCode, b)
	}
	if resp, b := admin.do("DELETE", "/api/v1/recordings/"+a1.recDDI.ID, nil); resp.StatusCode != 204 {
		t.Errorf("delete after the release: %d %s", resp.StatusCode, b)
	}
}
