package web

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/callrec/callrec/store"
)

// TestSubjects_ListExportEraseByNumber: a company admin finds every recording of one number in
// its company — exactly that number (not a longer one containing it), national form accepted,
// never another company's — exports them as a signed archive link, and erases them: a held one
// is refused with 409 naming the hold and stays, the others are gone; a dry run erases nothing;
// a brand admin must name the company; a company user is refused.
func TestSubjects_ListExportEraseByNumber(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	a1 := w.co("A1")
	longer := &store.Recording{CompanyID: a1.co.ID, CallID: "call-longer", Type: store.TypeDDI, Trigger: store.TriggerDDI, DDIID: a1.ddi.ID,
		Direction: store.DirectionInbound, Recorder: a1.ddi.Number, Caller: "+346001112229", Callee: a1.ddi.Number}
	must(t, w.db.CreateRecording(ctx, longer))
	mine := []string{a1.recDDI.ID, a1.recOwn.ID, a1.recOther.ID} // the world's caller is +34600111222
	admin := newClient(t, w.srv, a1.adminTok)

	resp, b := admin.do("GET", "/api/v1/subjects/recordings?number=0034600111222", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	var list struct {
		Number string
		Items  []struct{ ID string }
	}
	must(t, json.Unmarshal(b, &list))
	var ids []string
	for _, r := range list.Items {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	want := slices.Clone(mine)
	slices.Sort(want)
	if list.Number != "+34600111222" || !slices.Equal(ids, want) {
		t.Fatalf("listed %s %v, want +34600111222 %v (not the longer number, not another company's)", list.Number, ids, want)
	}
	if resp, b := admin.do("POST", "/api/v1/subjects/archive/link", map[string]any{"number": "+34 600 111 222"}); resp.StatusCode != 200 || !bytesContains(b, `"count":3`) {
		t.Errorf("export: %d %s, want a link to the 3 ready recordings", resp.StatusCode, b)
	}
	hold := &store.Hold{CompanyID: a1.co.ID, Kind: store.HoldRecording, RecordingID: a1.recOwn.ID, Reason: "claim"}
	must(t, w.db.PlaceHold(ctx, hold, "token:T"))
	if resp, b := admin.do("POST", "/api/v1/subjects/erase", map[string]any{"number": "+34600111222", "dry_run": true}); resp.StatusCode != 200 ||
		!bytesContains(b, hold.ID) || !bytesContains(b, `"dry_run":true`) {
		t.Errorf("dry run: %d %s, want the held one refused naming its hold", resp.StatusCode, b)
	}
	if n := len(must1(w.db.RecordingsOfNumber(ctx, a1.co.ID, "+34600111222"))); n != 3 {
		t.Fatalf("a dry run erased: %d left", n)
	}
	// Narrowed to the ids a dry run listed: only those go.
	if resp, b := admin.do("POST", "/api/v1/subjects/erase", map[string]any{"number": "+34600111222", "ids": []string{a1.recOther.ID, longer.ID}}); resp.StatusCode != 200 ||
		!bytesContains(b, `"erased":["`+a1.recOther.ID+`"]`) {
		t.Fatalf("erase by ids: %d %s, want only the listed recording of the person", resp.StatusCode, b)
	}
	resp, b = admin.do("POST", "/api/v1/subjects/erase", map[string]any{"number": "+34600111222"})
	if resp.StatusCode != 200 {
		t.Fatalf("erase: %d %s", resp.StatusCode, b)
	}
	var er struct {
		Erased  []string
		Refused []struct {
			ID     string
			Status int
		}
	}
	must(t, json.Unmarshal(b, &er))
	if len(er.Erased) != 1 || len(er.Refused) != 1 || er.Refused[0].ID != a1.recOwn.ID || er.Refused[0].Status != 409 {
		t.Fatalf("erase: %s, want the last free one erased and the held one refused with 409", b)
	}
	left := must1(w.db.RecordingsOfNumber(ctx, a1.co.ID, "+34600111222"))
	if len(left) != 1 || left[0].ID != a1.recOwn.ID {
		t.Errorf("left after the erasure: %v", left)
	}
	if _, err := w.db.Recording(ctx, longer.ID); err != nil {
		t.Errorf("the recording of a longer number went too: %v", err)
	}
	if n := len(must1(w.db.RecordingsOfNumber(ctx, w.co("B1").co.ID, "+34600111222"))); n != 3 {
		t.Errorf("another company's recordings of the number: %d left, want 3", n)
	}
	if resp, b := newClient(t, w.srv, w.brandTok["A"]).do("GET", "/api/v1/subjects/recordings?number=+34600111222", nil); resp.StatusCode != 400 || !bytesContains(b, "company_id") {
		t.Errorf("a brand admin without company_id: %d %s, want 400 naming company_id", resp.StatusCode, b)
	}
	if resp, _ := newClient(t, w.srv, w.brandTok["B"]).do("GET", "/api/v1/subjects/recordings?number=+34600111222&company_id="+a1.co.ID, nil); resp.StatusCode != 400 {
		t.Errorf("another brand naming A1: %d, want 400 (no such company)", resp.StatusCode)
	}
	if resp, _ := newClient(t, w.srv, a1.userTok).do("GET", "/api/v1/subjects/recordings?number=+34600111222", nil); resp.StatusCode != 403 {
		t.Errorf("a company user: %d, want 403", resp.StatusCode)
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
