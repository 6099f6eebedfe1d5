package web

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/callrec/callrec/esl"
	"github.com/callrec/callrec/store"
)

// fakeCalls stands in for esl.Server: live calls by id, and the control requests it received.
type fakeCalls struct {
	mu    sync.Mutex
	calls []esl.LiveCall
	got   []esl.ControlRequest
}

func (f *fakeCalls) LiveCalls() []esl.LiveCall { return slices.Clone(f.calls) }
func (f *fakeCalls) LiveCall(id string) (esl.LiveCall, bool) {
	for _, c := range f.calls {
		if c.ID == id {
			return c, true
		}
	}
	return esl.LiveCall{}, false
}
func (f *fakeCalls) ControlCall(_ context.Context, id string, r esl.ControlRequest) (esl.LiveCall, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r)
	c, _ := f.LiveCall(id)
	if r.Action == esl.ActionResume {
		return c, fmt.Errorf("%w: nothing is recording", esl.ErrControlConflict)
	}
	return c, nil
}

// TestCalls_TenancyAndRoles: every actor lists exactly the live calls of its tenancy (a company
// user: the calls it is on) and may control exactly those it sees, as its role allows; a call
// outside is 404 like one that does not exist; a user acts on its own recording only; a conflict
// from the call is 409 with its plain reason.
func TestCalls_TenancyAndRoles(t *testing.T) {
	fake := &fakeCalls{}
	w := newWorld(t, func(s *Server) { s.Calls = fake })
	for _, tc := range w.cos {
		fake.calls = append(fake.calls, esl.LiveCall{ID: "call-" + tc.key, CompanyID: tc.co.ID, UserIDs: []string{tc.user.ID}},
			esl.LiveCall{ID: "other-" + tc.key, CompanyID: tc.co.ID, UserIDs: []string{tc.user2.ID}}) // not the world's user's call
	}
	// Company A2 does not allow on-demand recording: its user may not control anything.
	a2 := w.co("A2")
	a2.co.OnDemand, a2.co.OnDemandCode = store.OnDemandDisabled, ""
	must(t, w.db.UpdateCompany(context.Background(), a2.co))

	for _, a := range w.actors() {
		t.Run(a.name, func(t *testing.T) {
			cl := newClient(t, w.srv, a.token)
			resp, body := cl.do("GET", "/api/v1/calls", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET /calls: %d %s", resp.StatusCode, body)
			}
			var list struct{ Items []esl.LiveCall }
			must(t, json.Unmarshal(body, &list))
			var listed []string
			for _, c := range list.Items {
				listed = append(listed, c.ID)
			}
			for _, tc := range w.cos {
				want := a.sees(tc.key) // the world's user is the one on each call
				if slices.Contains(listed, "call-"+tc.key) != want {
					t.Errorf("call of %s listed=%v, want %v", tc.key, !want, want)
				}
				resp, body := cl.do("POST", "/api/v1/calls/call-"+tc.key+"/recording", map[string]any{"action": "pause"})
				wantStatus := 200
				switch {
				case !want:
					wantStatus = 404
				case a.role == store.RoleUser && tc.key == "A2":
					wantStatus = 403
				}
				if resp.StatusCode != wantStatus {
					t.Errorf("pause the call of %s: %d %s, want %d", tc.key, resp.StatusCode, body, wantStatus)
				}
				// Another user's call of the company: admins see it, the user does not.
				wantOther := want && a.role != store.RoleUser
				if slices.Contains(listed, "other-"+tc.key) != wantOther {
					t.Errorf("another user's call of %s listed=%v, want %v", tc.key, !wantOther, wantOther)
				}
				if resp, _ := cl.do("POST", "/api/v1/calls/other-"+tc.key+"/recording", map[string]any{"action": "pause"}); (resp.StatusCode == 404) == wantOther {
					t.Errorf("pause another user's call of %s: %d", tc.key, resp.StatusCode)
				}
			}
		})
	}
	a1 := w.co("A1")
	user := newClient(t, w.srv, a1.userTok)
	if resp, body := user.do("POST", "/api/v1/calls/call-A1/recording", map[string]any{"action": "start", "user_id": a1.user2.ID}); resp.StatusCode != 403 {
		t.Errorf("a user starting another user's recording: %d %s, want 403", resp.StatusCode, body)
	}
	fake.got = nil
	if resp, body := user.do("POST", "/api/v1/calls/call-A1/recording", map[string]any{"action": "start"}); resp.StatusCode != 200 {
		t.Fatalf("a user starting its own: %d %s", resp.StatusCode, body)
	}
	if len(fake.got) != 1 || fake.got[0].UserID != a1.user.ID || fake.got[0].By == "" {
		t.Errorf("the controller got %+v, want the user's own id and who asked", fake.got)
	}
	admin := newClient(t, w.srv, a1.adminTok)
	for _, tt := range []struct {
		body   map[string]any
		status int
		field  string
	}{
		{map[string]any{}, 400, "action"},
		{map[string]any{"action": "rewind"}, 400, "action"},
		{map[string]any{"action": "start", "user_id": a1.user2.ID}, 400, "user_id"}, // not on the call
		{map[string]any{"action": "resume"}, 409, "action"},
	} {
		resp, body := admin.do("POST", "/api/v1/calls/call-A1/recording", tt.body)
		if resp.StatusCode != tt.status || !bytesContains(body, `"field":"`+tt.field+`"`) {
			t.Errorf("%v: %d %s, want %d on %s", tt.body, resp.StatusCode, body, tt.status, tt.field)
		}
	}
	if resp, body := admin.do("POST", "/api/v1/calls/call-A1/recording", map[string]any{"action": "resume"}); !bytesContains(body, "nothing is recording") {
		t.Errorf("a conflict's reason is not shown: %d %s", resp.StatusCode, body)
	}
}
