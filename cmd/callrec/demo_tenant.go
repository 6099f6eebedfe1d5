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

// seedTenant creates, through the API, one brand with two companies, their DDIs and users, and a
// token for every role. Acme records its main DDI's inbound calls and its sales DDI's outbound
// calls, and lets users record on demand with the Record key and the DTMF code *7; Globex records
// every call of its main DDI (after an announcement) and allows the Record key and *8 (by blind
// transfer). Errors: the first refused request.
func seedTenant(ctx context.Context, api *demoAPI) (demoTenant, error) {
	var t demoTenant
	var err error
	id := func(kind string, v map[string]any) string {
		if err != nil {
			return ""
		}
		var got string
		got, err = api.create(ctx, kind, v)
		return got
	}
	tok := func(role, name, sees string, v map[string]any) {
		if err != nil {
			return
		}
		v["name"], v["role"] = name, role
		var secret string
		if secret, err = api.newToken(ctx, v); err == nil {
			t.tokens = append(t.tokens, demoToken{role: role, name: name, secret: secret, sees: sees})
		}
	}
	brand := id("brands", map[string]any{"name": "Demo Telecom"})
	acme := id("companies", map[string]any{"brand_id": brand, "name": "Acme", "on_demand": "key_dtmf", "on_demand_code": "7", "country": "ES"})
	globex := id("companies", map[string]any{"brand_id": brand, "name": "Globex", "on_demand": "key", "on_demand_code": "8", "country": "ES"})
	id("ddis", map[string]any{"company_id": acme, "number": "+34911234567", "record_calls": "inbound"})
	id("ddis", map[string]any{"company_id": acme, "number": "+34911234568", "record_calls": "outbound"})
	id("ddis", map[string]any{"company_id": acme, "number": "+34911234569", "record_calls": "none"})
	id("ddis", map[string]any{"company_id": globex, "number": "+34931000001", "record_calls": "all", "announcement": "ivr/ivr-this_call_may_be_recorded.wav"})
	id("ddis", map[string]any{"company_id": globex, "number": "+34931000002", "record_calls": "none"})
	ana := id("users", map[string]any{"company_id": acme, "name": "Ana", "extension": "1001", "sip_user": "1001"})
	bo := id("users", map[string]any{"company_id": acme, "name": "Bo", "extension": "1002", "sip_user": "1002"})
	carla := id("users", map[string]any{"company_id": globex, "name": "Carla", "extension": "2001", "sip_user": "2001"})
	tok("brand", "Demo Telecom admin", "both companies, every recording (4 Acme + 2 Globex)", map[string]any{"brand_id": brand})
	tok("company_admin", "Acme admin", "Acme only: its 2 DDI and 2 on-demand recordings", map[string]any{"company_id": acme})
	tok("company_admin", "Globex admin", "Globex only: its DDI and its transfer recording", map[string]any{"company_id": globex})
	tok("user", "Ana (Acme 1001)", "the on-demand recording Ana asked for (DTMF *7)", map[string]any{"user_id": ana})
	tok("user", "Bo (Acme 1002)", "the on-demand recording Bo asked for (Record key)", map[string]any{"user_id": bo})
	tok("user", "Carla (Globex 2001)", "the on-demand recording Carla asked for (transfer to *8)", map[string]any{"user_id": carla})
	return t, err
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
