package web

import (
	"crypto/subtle"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// tenantLabels are the label names whose values are tenant ids (library's
// callrec_library_bytes{company_id} today). A series carrying one is served only behind the
// metrics token: the ids and the bytes each tenant keeps are nobody else's business.
var tenantLabels = []string{"company_id", "brand_id", "user_id"}

// metricsHandler serves s.Metrics: every series to a caller with the metrics token, only the
// tenant-free series when no token is configured, 401 when one is configured and not sent.
//
// A dedicated bearer token rather than API tokens: Prometheus scrapes with one static
// credential (authorization.credentials_file), API tokens are per tenant and revocable from the
// API, and the per-company figures are the operator's view across tenants.
func (s *Server) metricsHandler() fiber.Handler {
	full := adaptor.HTTPHandler(promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{}))
	public := adaptor.HTTPHandler(promhttp.HandlerFor(withoutTenantSeries(s.Metrics), promhttp.HandlerOpts{}))
	want := []byte(s.MetricsToken)
	return func(c *fiber.Ctx) error {
		if len(want) == 0 {
			return public(c)
		}
		scheme, got, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="callrec metrics"`)
			return errUnauthorized("The metrics token is required.")
		}
		return full(c)
	}
}

// withoutTenantSeries gathers from g and drops every series labelled with a tenant id (and a
// family left empty by that).
func withoutTenantSeries(g prometheus.Gatherer) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		out := mfs[:0]
		for _, mf := range mfs {
			mf.Metric = slices.DeleteFunc(mf.Metric, hasTenantLabel)
			if len(mf.Metric) > 0 {
				out = append(out, mf)
			}
		}
		return out, err
	})
}

func hasTenantLabel(m *dto.Metric) bool {
	for _, l := range m.GetLabel() {
		if slices.Contains(tenantLabels, l.GetName()) {
			return true
		}
	}
	return false
}

// HTTPMetrics are the HTTP surface's own series; NewHTTPMetrics registers them and
// Server.HTTPMetrics observes every request (logRequests). Labels are bounded: the method (one
// of the standard ones, else "OTHER"), the route pattern as registered ("/api/v1/recordings/:id",
// never the raw path; "unmatched" for a URL no route serves) and the status class ("2xx").
type HTTPMetrics struct {
	requests *prometheus.CounterVec   // callrec_http_requests_total{method,route,status}
	duration *prometheus.HistogramVec // callrec_http_request_duration_seconds{method,route}
}

// NewHTTPMetrics creates the HTTP series and registers them with reg (cmd/callrec calls it once
// per process); the error is reg's, for a name already registered.
func NewHTTPMetrics(reg prometheus.Registerer) (*HTTPMetrics, error) {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callrec_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status class.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "callrec_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (a streamed body until its end), by method and route pattern.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("web metrics: %w", err)
		}
	}
	return m, nil
}

// observe counts one answered request.
func (m *HTTPMetrics) observe(method, route string, status int, elapsed time.Duration) {
	switch method {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch,
		fiber.MethodDelete, fiber.MethodOptions:
	default:
		method = "OTHER" // any token is a method to fasthttp: keep the label set bounded
	}
	m.requests.WithLabelValues(method, route, statusClass(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// statusClass is "2xx" for 200–299 and so on; "other" outside 100–599.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// routePattern is the pattern of the route that answered c ("/api/v1/recordings/:id"), never
// its raw path. A request no route matched is "unmatched"; one a middleware answered before its
// route ran (401, 429 under /api/v1) carries that middleware's prefix ("/api/v1").
func routePattern(c *fiber.Ctx) string {
	r := c.Route()
	// With no route matched, Fiber leaves the last app-wide middleware (path "/") as the route;
	// the only route whose pattern is "/" itself is the page at "/".
	if r == nil || r.Path == "" || (r.Path == "/" && c.Path() != "/") {
		return "unmatched"
	}
	return r.Path
}
