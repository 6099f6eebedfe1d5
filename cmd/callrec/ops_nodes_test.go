//go:build !race && linux

// The node connections are eslgo inbound connections: built without -race for eslgo v1.5.2's own
// data races (README Known limits); .ci/run runs it in a non-race line.

package main

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
)

// TestServe_MetricsBuildInfoNodeStateAndHTTP (issue 14 item 5): /metrics carries
// callrec_build_info{version,go_version} 1, callrec_freeswitch_node_up{node} 1 for a connected
// node and 0 for one that is not, and the HTTP request series; still without tenant series
// while no metrics token is configured.
func TestServe_MetricsBuildInfoNodeStateAndHTTP(t *testing.T) {
	fs := fstest.Start(t, fstest.Options{InboundPassword: "ClueCon"})
	dead := freeAddr(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"},
			[]string{"CALLREC_FREESWITCH__NODES=" + fs.InboundAddr() + "=ClueCon," + dead + "=ClueCon"}, &stdout, &stderr)
	}()
	t.Cleanup(func() { cancel(); <-done })
	base := waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
	var text string
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, text = plainGet(t, base+"/metrics")
		if strings.Contains(text, `callrec_freeswitch_node_up{node="`+fs.InboundAddr()+`"} 1`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, text = plainGet(t, base+"/metrics") // counts the scrapes before it
	for _, want := range []string{
		`callrec_build_info{go_version="` + runtime.Version() + `",version="` + version + `"} 1`,
		`callrec_freeswitch_node_up{node="` + fs.InboundAddr() + `"} 1`,
		`callrec_freeswitch_node_up{node="` + dead + `"} 0`,
		`callrec_http_requests_total{method="GET",route="/metrics",status="2xx"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "company_id") {
		t.Errorf("tenant series without the metrics token")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepLines(text, "callrec_"))
	}
}
