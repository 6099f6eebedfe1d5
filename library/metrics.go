package library

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the library's figures served on /metrics. Build them with NewMetrics and give
// them to Worker.Metrics and Sweeper.Metrics; a nil *Metrics is allowed everywhere and records
// nothing.
type Metrics struct {
	QueueDepth    prometheus.Gauge       // jobs in the durable queue (leased or not)
	EncodeSeconds prometheus.Histogram   // wall time of one successful encode, WAV to final MP3
	Jobs          *prometheus.CounterVec // jobs ended, by outcome: ready, failed, discarded, dropped
	Failures      *prometheus.CounterVec // failed attempts, by kind: retry (will be retried), final, machine (not the recording's fault)
	MachineFault  prometheus.Gauge       // 1 while a machine fault (disk full or failing, library not writable) stops encoding
	BytesStored   *prometheus.GaugeVec   // MP3 bytes of ready recordings, by company
	Removed       *prometheus.CounterVec // recordings removed by the sweeper, by reason: retention, quota
}

// NewMetrics creates the library's collectors and registers them on reg (nil: not
// registered, useful in tests). cmd/callrec calls it once per registry. Errors: the first
// failed registration (prometheus.AlreadyRegisteredError for a second call on one registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "callrec_library_queue_depth", Help: "Recordings waiting in the durable queue to be encoded.",
		}),
		EncodeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "callrec_library_encode_seconds", Help: "Time to encode one WAV into its final MP3.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callrec_library_jobs_total", Help: "Encoding jobs ended, by outcome (ready, failed, discarded, dropped).",
		}, []string{"outcome"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callrec_library_failures_total", Help: "Failed encoding attempts, by kind (retry: will be retried; final: the recording failed; machine: disk full or failing, retried without spending an attempt).",
		}, []string{"kind"}),
		MachineFault: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "callrec_library_machine_fault", Help: "1 while the machine (disk full or failing, library_dir not writable) stops encoding, else 0.",
		}),
		BytesStored: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "callrec_library_bytes", Help: "Bytes of MP3 kept for ready recordings, by company.",
		}, []string{"company_id"}),
		Removed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callrec_library_removed_total", Help: "Recordings removed by the sweeper, by reason (retention, quota).",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.QueueDepth, m.EncodeSeconds, m.Jobs, m.Failures, m.MachineFault, m.BytesStored, m.Removed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) machineFault(on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.MachineFault.Set(v)
}

func (m *Metrics) queueDepth(n int) {
	if m != nil {
		m.QueueDepth.Set(float64(n))
	}
}

func (m *Metrics) encoded(d time.Duration) {
	if m != nil {
		m.EncodeSeconds.Observe(d.Seconds())
	}
}

func (m *Metrics) job(outcome string) {
	if m != nil {
		m.Jobs.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) failure(kind string) {
	if m != nil {
		m.Failures.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) addBytes(companyID string, n int64) {
	if m != nil {
		m.BytesStored.WithLabelValues(companyID).Add(float64(n))
	}
}

func (m *Metrics) setBytes(companyID string, n int64) {
	if m != nil {
		m.BytesStored.WithLabelValues(companyID).Set(float64(n))
	}
}

func (m *Metrics) removed(reason string) {
	if m != nil {
		m.Removed.WithLabelValues(reason).Inc()
	}
}
