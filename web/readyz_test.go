package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/callrec/callrec/health"
)

// TestReadyz_NamesEachPartDown: /readyz answers 503 naming every part that is down and why
// (the ESL listener out of descriptors, a node), and 200 once they are all up again; /healthz
// stays 200 (liveness) throughout.
func TestReadyz_NamesEachPartDown(t *testing.T) {
	reg := health.New()
	s := MustServe(t, MustOpenStore(t), func(s *Server) { s.Health = reg })
	get := func(path string) (int, map[string]any) {
		t.Helper()
		res, err := http.Get(s.URL() + path)
		must(t, err)
		defer res.Body.Close()
		var body map[string]any
		must(t, json.NewDecoder(res.Body).Decode(&body))
		return res.StatusCode, body
	}
	reg.Up(health.ESLListener)
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("all up: %d %v", code, body)
	}
	reg.Down(health.ESLListener, errors.New("accept: too many open files"))
	reg.Down(health.Node("10.0.0.5:8021"), errors.New("dial: connection refused"))
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("parts down: %d %v", code, body)
	}
	down, _ := body["down"].([]any)
	if len(down) != 2 {
		t.Fatalf("down parts %v", body)
	}
	first := down[0].(map[string]any)
	if first["part"] != health.ESLListener || first["reason"] != "accept: too many open files" {
		t.Fatalf("first part down %v", first)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d while parts are down", code)
	}
	reg.Up(health.ESLListener)
	reg.Up(health.Node("10.0.0.5:8021"))
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("recovered: %d %v", code, body)
	}
}
