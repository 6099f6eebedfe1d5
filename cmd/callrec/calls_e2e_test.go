package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// TestServe_EndToEnd_LiveCallPausedThroughTheAPI: through `callrec serve` as wired for
// production, a live call appears in GET /calls with its DDI recording, POST
// /calls/{id}/recording pauses and resumes it, and the finished recording lists the span.
func TestServe_EndToEnd_LiveCallPausedThroughTheAPI(t *testing.T) {
	dir := t.TempDir()
	srv := startServe(t, "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json")
	api := srv.api
	brand := api.create("brands", map[string]any{"name": "Brand"})
	company := api.create("companies", map[string]any{"brand_id": brand, "name": "Acme"})
	api.create("ddis", map[string]any{"company_id": company, "number": "+34911234567", "record_calls": "inbound"})
	api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})
	fs := renderedFreeSWITCH(t, fsconf.Options{ESLListen: srv.esl, RecordPath: filepath.Join(dir, "ondemand"), InboundPassword: "ClueCon"},
		operatorBridge(`^\+34911234567$`, "1001"), fstest.Options{Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}}})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "+34911234567"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.WaitAnswered(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	type liveCall struct {
		ID         string `json:"id"`
		Masked     bool   `json:"masked"`
		Recordings []struct {
			Type string `json:"type"`
		} `json:"recordings"`
	}
	var live struct{ Items []liveCall }
	waitUntil(t, func() bool {
		api.get("/calls", &live)
		return len(live.Items) == 1 && len(live.Items[0].Recordings) == 1
	}, "the call listed with its recording")
	id := live.Items[0].ID
	var got liveCall
	if st := api.do("POST", "/calls/"+id+"/recording", map[string]any{"action": "pause"}, &got); st != 200 || !got.Masked {
		t.Fatalf("pause: %d %+v", st, got)
	}
	fs.Advance(2 * time.Second)
	if st := api.do("POST", "/calls/"+id+"/recording", map[string]any{"action": "resume"}, &got); st != 200 || got.Masked {
		t.Fatalf("resume: %d %+v", st, got)
	}
	fs.Advance(time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	rec := api.waitRecording(func(r recordingView) bool { return r.State == "ready" }, "recording ready")
	var full struct {
		Masks []struct {
			OffsetMS, LengthMS int64
			By                 string
		} `json:"masks"`
	}
	api.get("/recordings/"+rec.ID, &full)
	if len(full.Masks) != 1 || full.Masks[0].By == "" {
		t.Fatalf("masks %+v, want the one paused span with who paused it", full.Masks)
	}
	waitUntil(t, func() bool { api.get("/calls", &live); return len(live.Items) == 0 }, "no live call after the hangup")
}
