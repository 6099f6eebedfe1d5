package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/callrec/callrec/store"
)

func TestWebhooks_CreateShowsTheSecretOnceThenOnlyAHint(t *testing.T) {
	w := newWorld(t)
	tc := w.co("A1")
	admin := newClient(t, w.srv, tc.adminTok)
	resp, b := admin.do("POST", "/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/a1", "events": []string{"recording.missing", "recording.ready"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d: %s", resp.StatusCode, b)
	}
	var created struct {
		store.Webhook
		Secret string `json:"secret"`
	}
	must(t, json.Unmarshal(b, &created))
	if !strings.HasPrefix(created.Secret, store.WebhookSecretPrefix) || created.CompanyID != tc.co.ID || !created.Active ||
		created.SecretHint != created.Secret[len(created.Secret)-4:] || len(created.Events) != 2 {
		t.Fatalf("created %s", b)
	}
	for _, path := range []string{"/api/v1/webhooks/" + created.ID, "/api/v1/webhooks"} {
		resp, b := admin.do("GET", path, nil)
		if resp.StatusCode != 200 || bytesContains(b, created.Secret) || !bytesContains(b, created.SecretHint) {
			t.Errorf("GET %s = %d shows the secret or no hint: %s", path, resp.StatusCode, b)
		}
	}
	resp, b = admin.do("PATCH", "/api/v1/webhooks/"+created.ID, map[string]any{"events": []string{}, "active": false})
	var upd store.Webhook
	must(t, json.Unmarshal(b, &upd))
	if resp.StatusCode != 200 || upd.Active || len(upd.Events) != 0 || upd.URL != created.URL || bytesContains(b, created.Secret) {
		t.Errorf("PATCH = %d: %s", resp.StatusCode, b)
	}
	resp, b = admin.do("PATCH", "/api/v1/webhooks/"+created.ID, map[string]any{"company_id": w.co("A2").co.ID})
	if resp.StatusCode != 400 || apiErr(t, b).Field != "company_id" {
		t.Errorf("moving a webhook to another company = %d: %s", resp.StatusCode, b)
	}
}

func TestWebhooks_ValidatesURLAndEvents(t *testing.T) {
	for _, allowHTTP := range []bool{false, true} {
		// allowHTTP stands for both switches here: config off (production) and on (tests, LAN).
		w := newWorld(t, func(s *Server) { s.WebhookAllowHTTP, s.WebhookAllowPrivateNetworks = allowHTTP, allowHTTP })
		admin := newClient(t, w.srv, w.co("A1").adminTok)
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"url": "http://hooks.example.com/x"}, map[bool]string{false: "url", true: ""}[allowHTTP]},
			{map[string]any{"url": "https://hooks.example.com/x", "events": []string{"recording.played"}}, "events"},
			{map[string]any{"url": "ftp://hooks.example.com/x"}, "url"},
			{map[string]any{}, "url"},
			{map[string]any{"url": "https://hooks.example.com/x", "secret": "mine"}, "secret"},
			{map[string]any{"url": "https://169.254.169.254/latest/meta-data/"}, map[bool]string{false: "url", true: ""}[allowHTTP]},
			{map[string]any{"url": "https://[::1]:8443/x"}, map[bool]string{false: "url", true: ""}[allowHTTP]},
			{map[string]any{"url": "https://localhost/x"}, map[bool]string{false: "url", true: ""}[allowHTTP]},
			{map[string]any{"url": "https://8.8.8.8/x"}, ""},
		} {
			resp, b := admin.do("POST", "/api/v1/webhooks", c.body)
			switch {
			case c.field == "" && resp.StatusCode != 201:
				t.Errorf("allow_http %v: %v = %d: %s", allowHTTP, c.body, resp.StatusCode, b)
			case c.field != "" && (resp.StatusCode != 400 || apiErr(t, b).Field != c.field):
				t.Errorf("allow_http %v: %v = %d, want 400 on %s: %s", allowHTTP, c.body, resp.StatusCode, c.field, b)
			}
		}
	}
}

func TestWebhooks_DeliveryLogNewestFirstInPages(t *testing.T) {
	w := newWorld(t)
	admin := newClient(t, w.srv, w.co("B1").adminTok)
	_, b := admin.do("POST", "/api/v1/webhooks", map[string]any{"url": "https://hooks.example.com/b1"})
	var hook store.Webhook
	must(t, json.Unmarshal(b, &hook))
	var ids []string
	for range 5 {
		resp, b := admin.do("POST", "/api/v1/webhooks/"+hook.ID+"/test", nil)
		var d store.Delivery
		must(t, json.Unmarshal(b, &d))
		if resp.StatusCode != http.StatusAccepted || d.Event != store.EventPing || d.State != store.DeliveryPending {
			t.Fatalf("test = %d: %s", resp.StatusCode, b)
		}
		ids = append(ids, d.ID)
	}
	var got []string
	cursor := ""
	for page := 0; page < 5; page++ {
		resp, b := admin.do("GET", "/api/v1/webhooks/"+hook.ID+"/deliveries?limit=2&cursor="+cursor, nil)
		var p listReply[store.Delivery]
		must(t, json.Unmarshal(b, &p))
		if resp.StatusCode != 200 {
			t.Fatalf("deliveries = %d: %s", resp.StatusCode, b)
		}
		for _, d := range p.Items {
			got = append(got, d.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pages %v, want newest first %v", got, want)
	}
}

// Every role lists exactly the webhooks of its tenancy; company users may not list them.
func TestWebhooks_ListingHoldsExactlyTheCallersTenancy(t *testing.T) {
	w := newWorld(t)
	owner := map[string]string{} // webhook id → company key
	for _, tc := range w.cos {
		for range 2 {
			h := &store.Webhook{CompanyID: tc.co.ID, URL: "https://hooks.example.com/" + tc.key, Active: true}
			_, err := w.db.CreateWebhook(t.Context(), h)
			must(t, err)
			owner[h.ID] = tc.key
		}
	}
	for _, a := range w.actors() {
		resp, b := newClient(t, w.srv, a.token).do("GET", "/api/v1/webhooks", nil)
		if a.role == store.RoleUser {
			if resp.StatusCode != 403 {
				t.Errorf("%s lists webhooks: %d", a.name, resp.StatusCode)
			}
			continue
		}
		var p listReply[store.Webhook]
		must(t, json.Unmarshal(b, &p))
		want := w.companyCount(2)(a)
		if resp.StatusCode != 200 || len(p.Items) != want {
			t.Errorf("%s: %d, %d webhooks, want %d", a.name, resp.StatusCode, len(p.Items), want)
		}
		for _, h := range p.Items {
			if !a.sees(owner[h.ID]) {
				t.Errorf("LEAK: %s sees webhook %s of %s", a.name, h.ID, owner[h.ID])
			}
		}
	}
}
