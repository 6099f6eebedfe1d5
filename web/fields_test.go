package web

import (
	"strings"
	"testing"
)

// TestErrors_EveryInvalidFieldAtOnce: a body invalid in several fields answers 400 naming all of
// them (issue 14 item 2), the first also as `field` (clients that read one keep working), and a
// missing required value says "required". Before, only the first field came back.
func TestErrors_EveryInvalidFieldAtOnce(t *testing.T) {
	w := newWorld(t)
	tc := w.co("A1")
	admin := newClient(t, w.srv, tc.adminTok)
	brand := newClient(t, w.srv, w.brandTok["A"])
	cases := []struct {
		name   string
		c      *client
		path   string
		body   map[string]any
		fields map[string]string // field → a word its message must contain
	}{
		{"company", brand, "/companies", map[string]any{"name": "", "on_demand": "sometimes", "retention_days": -1, "country": "XX"},
			map[string]string{"name": "required", "on_demand": "one of", "retention_days": "days", "country": "ISO"}},
		{"user", admin, "/users", map[string]any{"name": "Ana", "email": "not mail"},
			map[string]string{"extension": "required", "sip_user": "required", "email": "e-mail"}},
		{"ddi", brand, "/ddis", map[string]any{"company_id": tc.co.ID, "number": "+34911000999", "record_calls": "sometimes", "announcement": "$${sounds_dir}/x.wav"},
			map[string]string{"record_calls": "one of", "announcement": ""}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := tt.c.do("POST", "/api/v1"+tt.path, tt.body)
			if resp.StatusCode != 400 {
				t.Fatalf("%d, want 400: %s", resp.StatusCode, b)
			}
			e := apiErr(t, b)
			got := map[string]string{}
			for _, f := range e.Fields {
				got[f.Field] = f.Message
			}
			if len(got) != len(tt.fields) {
				t.Fatalf("fields %v, want every one of %v: %s", got, tt.fields, b)
			}
			for f, word := range tt.fields {
				if msg, ok := got[f]; !ok || !strings.Contains(msg, word) {
					t.Errorf("field %s: %q, want a message with %q", f, msg, word)
				}
			}
			if _, ok := tt.fields[e.Field]; !ok || e.Fields[0].Field != e.Field {
				t.Errorf("field %q is not the first of the list %v", e.Field, e.Fields)
			}
		})
	}
}
