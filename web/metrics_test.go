package web

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callrec/callrec/library"
)

// tenantRegistry is a registry holding the library's metrics with one company's bytes.
func tenantRegistry(t *testing.T, companyID string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	m, err := library.NewMetrics(reg)
	must(t, err)
	m.BytesStored.WithLabelValues(companyID).Set(4242)
	m.QueueDepth.Set(3)
	return reg
}

// Issue 12 item 15: an unauthenticated /metrics listed every company id and its bytes. Without
// the metrics token only series without tenant labels are served; with a token configured,
// /metrics needs it and then serves everything.
func TestMetrics_NoTenantIDsWithoutTheMetricsToken(t *testing.T) {
	const company = "01JCOMPANYSECRETID0000000"
	for _, tc := range []struct {
		name       string
		token      string // Server.MetricsToken
		send       string // bearer sent
		status     int
		wantTenant bool
	}{
		{"no token configured", "", "", 200, false},
		{"no token configured, any bearer", "", "whatever", 200, false},
		{"token configured, none sent", "s3cret", "", 401, false},
		{"token configured, wrong one", "s3cret", "nope", 401, false},
		{"token configured and sent", "s3cret", "s3cret", 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := MustOpenStore(t)
			s := MustServe(t, db, func(s *Server) {
				s.Metrics = metricsOf(tenantRegistry(t, company))
				s.MetricsToken = tc.token
			})
			resp, b := newClient(t, s, tc.send).do("GET", "/metrics", nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, b, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := strings.Contains(string(b), company); got != tc.wantTenant {
				t.Errorf("company id in /metrics: %v, want %v:\n%s", got, tc.wantTenant, b)
			}
			if !strings.Contains(string(b), "callrec_library_queue_depth 3") {
				t.Errorf("series without tenant labels missing:\n%s", b)
			}
		})
	}
}

func metricsOf(reg *prometheus.Registry) prometheus.Gatherer { return reg }
