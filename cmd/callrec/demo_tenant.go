package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/callrec/callrec/esl/fstest"
)

// demoAPI is the demo's client of callrec's own API (the tenant is seeded the way an operator
// would, with the platform token).
type demoAPI struct {
	base, token string
	client      *http.Client
}

func newDemoAPI(base, token string) *demoAPI {
	return &demoAPI{base: base, token: token, client: &http.Client{Timeout: 10 * time.Second}}
}

// do sends in as JSON and decodes the answer into out; a status of 300 or more is an error
// carrying the API's message.
func (a *demoAPI) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// create POSTs v to /kind and returns the new id.
func (a *demoAPI) create(ctx context.Context, kind string, v map[string]any) (string, error) {
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := a.do(ctx, "POST", "/"+kind, v, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// token creates an API token and returns its secret (shown once).
func (a *demoAPI) newToken(ctx context.Context, v map[string]any) (string, error) {
	var out struct {
		Secret string `json:"secret"`
	}
	if err := a.do(ctx, "POST", "/tokens", v, &out); err != nil {
		return "", err
	}
	return out.Secret, nil
}

// countRecordings counts the recordings in state the token sees (up to one page of 200).
func (a *demoAPI) countRecordings(ctx context.Context, state string) (int, error) {
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := a.do(ctx, "GET", "/recordings?limit=200&state="+state, nil, &page); err != nil {
		return 0, err
	}
	return len(page.Items), nil
}

// demoToken is one printed token and what its holder sees.
type demoToken struct {
	role, name, secret, sees string
}

// demoTenant is what seedTenant created.
type demoTenant struct {
	tokens []demoToken
}

// The seeded tenant: one brand, two companies. Acme records its main DDI's inbound calls and its
// sales DDI's outbound calls and lets users record on demand with the Record key and the DTMF
// code *7; Globex records every call of its main DDI (after an announcement) and allows the
// Record key and *8 (by blind transfer). demoCalls and demoOperatorRoutes use these numbers.
const demoBrand = "Demo Telecom"

type demoDDI struct{ number, mode, announcement string }

type demoUser struct{ name, ext, sees string }

type demoCompany struct {
	name, onDemand, code, sees string
	ddis                       []demoDDI
	users                      []demoUser
}

var demoCompanies = []demoCompany{
	{name: "Acme", onDemand: "key_dtmf", code: "7", sees: "Acme only: its 2 DDI and 2 on-demand recordings",
		ddis: []demoDDI{{"+34911234567", "inbound", ""}, {"+34911234568", "outbound", ""}, {"+34911234569", "none", ""}},
		users: []demoUser{{"Ana", "1001", "the on-demand recording Ana asked for (DTMF *7)"},
			{"Bo", "1002", "the on-demand recording Bo asked for (Record key)"}}},
	{name: "Globex", onDemand: "key", code: "8", sees: "Globex only: its DDI and its transfer recording",
		ddis:  []demoDDI{{"+34931000001", "all", "ivr/ivr-this_call_may_be_recorded.wav"}, {"+34931000002", "none", ""}},
		users: []demoUser{{"Carla", "2001", "the on-demand recording Carla asked for (transfer to *8)"}}},
}

// seedTenant creates demoCompanies through the API, as an operator would, printing each, and a
// token for every role. Errors: the first refused request.
func seedTenant(ctx context.Context, api *demoAPI, w io.Writer) (demoTenant, error) {
	var t demoTenant
	brand, err := api.create(ctx, "brands", map[string]any{"name": demoBrand})
	if err != nil {
		return t, err
	}
	fmt.Fprintf(w, "callrec demo: tenant: brand %s\n", demoBrand)
	if err := t.addToken(ctx, api, "brand", demoBrand+" admin", "both companies, every recording (4 Acme + 2 Globex)",
		map[string]any{"brand_id": brand}); err != nil {
		return t, err
	}
	for _, c := range demoCompanies {
		if err := t.seedCompany(ctx, api, w, brand, c); err != nil {
			return t, err
		}
	}
	return t, nil
}

// seedCompany creates one company with its DDIs, users, admin token and user tokens.
func (t *demoTenant) seedCompany(ctx context.Context, api *demoAPI, w io.Writer, brand string, c demoCompany) error {
	id, err := api.create(ctx, "companies", map[string]any{"brand_id": brand, "name": c.name, "on_demand": c.onDemand,
		"on_demand_code": c.code, "country": "ES"})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  company %s: on demand %s, code *%s\n", c.name, c.onDemand, c.code)
	for _, d := range c.ddis {
		if _, err := api.create(ctx, "ddis", map[string]any{"company_id": id, "number": d.number, "record_calls": d.mode,
			"announcement": d.announcement}); err != nil {
			return err
		}
		note := ""
		if d.announcement != "" {
			note = ", announcement " + d.announcement
		}
		fmt.Fprintf(w, "    DDI %s records %s%s\n", d.number, d.mode, note)
	}
	if err := t.addToken(ctx, api, "company_admin", c.name+" admin", c.sees, map[string]any{"company_id": id}); err != nil {
		return err
	}
	for _, u := range c.users {
		uid, err := api.create(ctx, "users", map[string]any{"company_id": id, "name": u.name, "extension": u.ext, "sip_user": u.ext})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "    user %s, extension and SIP user %s\n", u.name, u.ext)
		name := fmt.Sprintf("%s (%s %s)", u.name, c.name, u.ext)
		if err := t.addToken(ctx, api, "user", name, u.sees, map[string]any{"user_id": uid}); err != nil {
			return err
		}
	}
	return nil
}

// addToken creates a token of role with scope and keeps its secret to print.
func (t *demoTenant) addToken(ctx context.Context, api *demoAPI, role, name, sees string, scope map[string]any) error {
	scope["name"], scope["role"] = name, role
	secret, err := api.newToken(ctx, scope)
	if err != nil {
		return err
	}
	t.tokens = append(t.tokens, demoToken{role: role, name: name, secret: secret, sees: sees})
	return nil
}

// demoWatch counts what the stand-in reports through Options.Probe: events fired (by name) and
// outbound connections ended ("end"), so the calls can wait for callrec's reactions.
type demoWatch struct {
	mu      sync.Mutex
	counts  map[string]int
	changed chan struct{}
}

func newDemoWatch() *demoWatch {
	return &demoWatch{counts: map[string]int{}, changed: make(chan struct{})}
}

// probe is the stand-in's Probe: called with its lock held, so it only counts.
func (w *demoWatch) probe(e fstest.ProbeEvent) {
	key := ""
	switch e.Kind {
	case fstest.ProbeFired:
		key = e.Name
	case fstest.ProbeEnd:
		key = "end"
	default:
		return
	}
	w.mu.Lock()
	w.counts[key]++
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

func (w *demoWatch) count(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[key]
}

// wait blocks until key has been seen more than after times. Errors when ctx ends first.
func (w *demoWatch) wait(ctx context.Context, key string, after int) error {
	for {
		w.mu.Lock()
		n, ch := w.counts[key], w.changed
		w.mu.Unlock()
		if n > after {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", key, ctx.Err())
		case <-ch:
		}
	}
}
