package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// Issue 12 items 1, 12, 15: the HTTP side's limits are configuration keys with safe defaults,
// and a value out of range is an error naming its key.
func TestConfig_HTTPLimits(t *testing.T) {
	cfg, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), nil, nil)
	must(t, err)
	h := cfg.HTTP
	if h.ReadHeaderTimeout != 10*time.Second || h.ReadTimeout != time.Minute || h.IdleTimeout != time.Minute ||
		h.MaxConns != 512 || h.MaxConnsPerIP != 64 || h.AuthFailures != 30 || h.MetricsToken != "" {
		t.Errorf("defaults %+v", h)
	}
	for _, tc := range []struct{ env, want string }{
		{"CALLREC_HTTP__READ_HEADER_TIMEOUT=2", "http.read_header_timeout"}, // 2 ns
		{"CALLREC_HTTP__IDLE_TIMEOUT=-1s", "http.idle_timeout"},
		{"CALLREC_HTTP__MAX_CONNS=0", "http.max_conns"},
		{"CALLREC_HTTP__MAX_CONNS_PER_IP=1000", "http.max_conns_per_ip"}, // above max_conns
		{"CALLREC_HTTP__AUTH_FAILURES_PER_MINUTE=0", "http.auth_failures_per_minute"},
	} {
		_, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), nil, []string{tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %s", tc.env, err, tc.want)
		}
	}
	cfg, err = loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), nil, []string{"CALLREC_HTTP__METRICS_TOKEN=s3cret"})
	must(t, err)
	if cfg.HTTP.MetricsToken != "s3cret" {
		t.Errorf("metrics token %q", cfg.HTTP.MetricsToken)
	}
}
