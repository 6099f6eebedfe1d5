package web

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/callrec/callrec/store"
)

// GET /recordings?number= finds recordings by any part of a number, in every form people type,
// within the caller's tenancy only; each company's DDI is the callee of its own recordings.
func TestRecordings_NumberSearchHoldsTheCallersTenancy(t *testing.T) {
	w := newWorld(t)
	w.tb = t
	a1 := w.co("A1") // DDI +34911234501
	for _, a := range w.actors() {
		c := newClient(t, w.srv, a.token)
		for _, tt := range []struct {
			q    string
			only string // the one company whose recordings match ("" = every company's)
		}{
			{"600111", ""},
			{"+34 600 111 222", ""},
			{"0034600111222", ""},
			{"600-111-222", ""},
			{"911234501", "A1"},    // national form of A1's DDI
			{"+34911234501", "A1"}, // international
			{"234501", "A1"},       // partial
			{"911 234 509", "-"},   // nobody's
		} {
			resp, b := c.do("GET", "/api/v1/recordings?limit=200&number="+url.QueryEscape(tt.q), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%s number=%q: %d %s", a.name, tt.q, resp.StatusCode, b)
			}
			var page struct{ Items []store.Recording }
			must(t, json.Unmarshal(b, &page))
			want := 0
			for _, tc := range w.cos {
				if !a.sees(tc.key) || tt.only != "" && tt.only != tc.key {
					continue
				}
				want += map[bool]int{true: 1, false: 3}[a.role == store.RoleUser]
			}
			if len(page.Items) != want {
				t.Errorf("%s number=%q: %d recordings, want %d", a.name, tt.q, len(page.Items), want)
			}
			for _, r := range page.Items {
				key := w.companyOf("company_id")(map[string]any{"company_id": r.CompanyID})
				if !a.sees(key) || tt.only != "" && key != tt.only {
					t.Errorf("%s number=%q: recording %s of %s", a.name, tt.q, r.ID, key)
				}
			}
		}
	}
	// Paging through a search with the cursor: A1's three, one per page, newest first.
	c := newClient(t, w.srv, a1.adminTok)
	var ids []string
	q := "/api/v1/recordings?limit=1&number=" + url.QueryEscape("91 123 4501")
	for cur := ""; ; {
		_, b := c.do("GET", q+cur, nil)
		var page recordingsReply
		must(t, json.Unmarshal(b, &page))
		for _, r := range page.Items {
			ids = append(ids, r.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cur = "&cursor=" + page.NextCursor
	}
	if want := []string{a1.recOther.ID, a1.recOwn.ID, a1.recDDI.ID}; strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("paged search %v, want %v", ids, want)
	}
}

func TestRecordings_NumberSearchErrorsNameTheField(t *testing.T) {
	w := newWorld(t)
	c := newClient(t, w.srv, w.co("A1").adminTok)
	for _, q := range []string{"60", "+3", "00 12", "600abc", "1234567890123456"} {
		resp, b := c.do("GET", "/api/v1/recordings?number="+url.QueryEscape(q), nil)
		if resp.StatusCode != 400 {
			t.Fatalf("number=%q: %d %s", q, resp.StatusCode, b)
		}
		if e := apiErr(t, b); e.Code != store.EINVALID || e.Field != "number" {
			t.Errorf("number=%q: %+v, want EINVALID on number", q, e)
		}
	}
	resp, b := c.do("POST", "/api/v1/recordings/archive", map[string]any{"filter": map[string]any{"number": "6x"}})
	if resp.StatusCode != 400 || apiErr(t, b).Field != "filter.number" {
		t.Errorf("archive filter number=6x: %d %s", resp.StatusCode, b)
	}
}
