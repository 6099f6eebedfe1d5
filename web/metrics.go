package web

import (
	"crypto/subtle"
	"slices"
	"strings"

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
