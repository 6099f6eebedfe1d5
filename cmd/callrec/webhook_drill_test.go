//go:build !race

// Built without -race like the other drills: the child serve holds eslgo connections (README
// Known limits); .ci/run runs it in its non-race line.

package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/webhook"
)

// TestDrill_WebhookSurvivesSIGKILLBeforeDelivery: a child `callrec serve` records a DDI call; its
// recording.ready goes to a receiver that answers 500, so the delivery waits for its retry when
// the process is SIGKILLed. The next process on the same store delivers it — the same delivery,
// validly signed — once the receiver answers 200, and the log shows it delivered.
func TestDrill_WebhookSurvivesSIGKILLBeforeDelivery(t *testing.T) {
	var up atomic.Bool
	var mu sync.Mutex
	type hit struct {
		delivery, event, sig string
		body                 []byte
		ok                   bool
	}
	var hits []hit
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ok := up.Load()
		mu.Lock()
		hits = append(hits, hit{r.Header.Get(webhook.HeaderDelivery), r.Header.Get(webhook.HeaderEvent), r.Header.Get(webhook.HeaderSignature), b, ok})
		mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer rc.Close()
	seen := func() []hit { mu.Lock(); defer mu.Unlock(); return append([]hit(nil), hits...) }

	dir := t.TempDir()
	const token = "crt_drill-platform-token-0123456789"
	httpAddr, eslAddr := freeAddr(t), freeAddr(t)
	fs := drillFreeSWITCH(t, dir, eslAddr)
	args := []string{"serve", "--data_dir", dir, "--http.listen", httpAddr, "--esl.listen", eslAddr, "--log.format", "json"}
	env := []string{"CALLREC_BOOTSTRAP_TOKEN=" + token, "CALLREC_FREESWITCH__NODES=" + fs.InboundAddr() + "=ClueCon",
		"CALLREC_WEBHOOKS__ALLOW_HTTP=true", "CALLREC_WEBHOOKS__ALLOW_PRIVATE_NETWORKS=true",
		"CALLREC_WEBHOOKS__BACKOFF_BASE=1s", "CALLREC_WEBHOOKS__BACKOFF_MAX=1s"}
	first := startDrillCallrec(t, args, env)
	api := &apiClient{t: t, base: "http://" + httpAddr + "/api/v1", token: token}
	brand := api.create("brands", map[string]any{"name": "Brand"})
	company := api.create("companies", map[string]any{"brand_id": brand, "name": "Acme"})
	api.create("ddis", map[string]any{"company_id": company, "number": "+34911234567", "record_calls": "inbound"})
	api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	api.do("POST", "/webhooks", map[string]any{"company_id": company, "url": rc.URL + "/hook", "events": []string{"recording.ready"}}, &hook)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	call, err := fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "+34911234567"})
	must(t, err)
	_, err = call.WaitAnswered(ctx, "1001")
	must(t, err)
	waitDrill(t, time.Minute, func() bool { return len(allRecordings(api, "recording")) == 1 }, "the call recording")
	fs.Advance(3 * time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	waitDrill(t, time.Minute, func() bool { return len(seen()) >= 1 }, "the first, refused, delivery attempt")

	must(t, first.cmd.Process.Signal(syscall.SIGKILL))
	<-first.done
	up.Store(true)
	second := startDrillCallrec(t, args, env)
	var log struct {
		Items []struct {
			ID, Event, State string
			Attempts         int
			LastStatus       int `json:"last_status"`
		} `json:"items"`
	}
	waitDrill(t, time.Minute, func() bool {
		api.get("/webhooks/"+hook.ID+"/deliveries", &log)
		return len(log.Items) == 1 && log.Items[0].State == "delivered"
	}, "the delivery after the restart")
	d := log.Items[0]
	if d.Event != "recording.ready" || d.Attempts < 2 || d.LastStatus != 200 {
		t.Errorf("delivery %+v", d)
	}
	var okHits int
	for _, h := range seen() {
		if h.delivery != d.ID || h.event != "recording.ready" {
			t.Errorf("a request for another delivery: %+v", h)
		}
		if err := webhook.Verify(hook.Secret, h.sig, h.body, time.Now(), 0); err != nil {
			t.Errorf("signature of delivery %s: %v", h.delivery, err)
		}
		if h.ok {
			okHits++
		}
	}
	if okHits != 1 {
		t.Errorf("%d successful requests, want exactly 1", okHits)
	}
	second.stop(t)
}
