package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// lockedBuffer is a bytes.Buffer the logger and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// requestLines are the "http request" log lines in log, by path.
func requestLines(t *testing.T, log string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line["message"] == "http request" {
			p, _ := line["path"].(string)
			out[p] = append(out[p], line)
		}
	}
	return out
}

// TestRequestLog_HealthChecksOnlyAtDebug (issue 14 item 5): a prober calling /healthz and
// /readyz every few seconds filled the info log; at info they are not logged, at debug they
// are (level debug), and other requests stay at info.
func TestRequestLog_HealthChecksOnlyAtDebug(t *testing.T) {
	for _, tc := range []struct {
		level      zerolog.Level
		wantHealth bool
	}{
		{zerolog.InfoLevel, false},
		{zerolog.DebugLevel, true},
	} {
		t.Run(tc.level.String(), func(t *testing.T) {
			var buf lockedBuffer
			s := MustServe(t, MustOpenStore(t), func(s *Server) { s.Logger = zerolog.New(&buf).Level(tc.level) })
			c := newClient(t, s, "")
			for _, p := range []string{"/healthz", "/readyz", "/api/v1/me"} {
				c.do("GET", p, nil)
			}
			lines := requestLines(t, buf.String())
			for _, p := range []string{"/healthz", "/readyz"} {
				if got := len(lines[p]) > 0; got != tc.wantHealth {
					t.Errorf("%s logged: %v, want %v:\n%s", p, got, tc.wantHealth, buf.String())
				}
				for _, l := range lines[p] {
					if l["level"] != "debug" {
						t.Errorf("%s logged at %v", p, l["level"])
					}
				}
			}
			if l := lines["/api/v1/me"]; len(l) != 1 || l[0]["level"] != "info" {
				t.Errorf("an API request is logged at info once: %v", l)
			}
		})
	}
}

// TestMetrics_HTTPRequestsByRoutePattern (issue 14 item 5): /metrics counts requests by method,
// route pattern and status class, with a duration histogram; no raw path (no recording id, no
// path of an unknown URL) is ever a label value.
func TestMetrics_HTTPRequestsByRoutePattern(t *testing.T) {
	db := MustOpenStore(t)
	reg := prometheus.NewRegistry()
	m, err := NewHTTPMetrics(reg)
	must(t, err)
	s := MustServe(t, db, func(s *Server) { s.Metrics = reg; s.HTTPMetrics = m })
	secret, hash, err := store.NewTokenSecret()
	must(t, err)
	must(t, db.CreateToken(context.Background(), &store.Token{Name: "p", Role: store.RolePlatform, Hash: hash}))
	c := newClient(t, s, secret)
	const id, stray = "01JRECORDINGIDTHATISSECRET", "strayPathSegment"
	for _, p := range []string{"/healthz", "/healthz", "/api/v1/recordings/" + id, "/" + stray + "/x", "/api/v1/recordings"} {
		c.do("GET", p, nil)
	}
	newClient(t, s, "").do("GET", "/api/v1/recordings/"+id, nil) // 401 before the route runs
	_, b := c.do("GET", "/metrics", nil)
	text := string(b)
	for _, want := range []string{
		`callrec_http_requests_total{method="GET",route="/healthz",status="2xx"} 2`,
		`callrec_http_requests_total{method="GET",route="/api/v1/recordings/:id",status="4xx"} 1`,
		`callrec_http_requests_total{method="GET",route="/api/v1/recordings",status="2xx"} 1`,
		`callrec_http_requests_total{method="GET",route="unmatched",status="4xx"} 1`,
		`callrec_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"} 2`,
		`callrec_http_request_duration_seconds_count{method="GET",route="/api/v1/recordings/:id"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, raw := range []string{id, stray} {
		if strings.Contains(text, raw) {
			t.Errorf("a raw path segment %q is a label value:\n%s", raw, grepMetric(text, raw))
		}
	}
	if t.Failed() {
		t.Logf("http series:\n%s", grepMetric(text, "callrec_http_"))
	}
}

func grepMetric(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
