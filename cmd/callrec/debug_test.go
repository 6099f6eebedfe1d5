package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
)

var debugAddr = regexp.MustCompile(`"debug":"([^"]+)"`)

// TestServe_ProfilingListenerOnlyWhenConfigured: without debug.pprof_listen nothing serves
// profiles; with a loopback address /debug/vars answers memstats and /debug/pprof/ the index.
func TestServe_ProfilingListenerOnlyWhenConfigured(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		on   bool
	}{
		{"default: off", nil, false},
		{"loopback", []string{"CALLREC_DEBUG__PPROF_LISTEN=127.0.0.1:0"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var stdout, stderr syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--data_dir", t.TempDir(), "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"},
					append([]string{"CALLREC_FREESWITCH__NODES="}, tc.env...), &stdout, &stderr)
			}()
			defer func() { cancel(); <-done }()
			waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
			addr := ""
			if m := debugAddr.FindStringSubmatch(stderr.String()); m != nil {
				addr = m[1]
			}
			if (addr != "") != tc.on {
				t.Fatalf("profiling listener logged %q, want on=%v:\n%s", addr, tc.on, stderr.String())
			}
			if !tc.on {
				return
			}
			resp, err := http.Get("http://" + addr + "/debug/vars")
			if err != nil {
				t.Fatal(err)
			}
			var vars struct {
				MemStats struct{ HeapAlloc uint64 } `json:"memstats"`
			}
			err = json.NewDecoder(resp.Body).Decode(&vars)
			resp.Body.Close()
			if err != nil || vars.MemStats.HeapAlloc == 0 {
				t.Fatalf("/debug/vars: %v %+v", err, vars)
			}
			resp, err = http.Get("http://" + addr + "/debug/pprof/")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("/debug/pprof/: %v %v", err, resp)
			}
			resp.Body.Close()
		})
	}
}
