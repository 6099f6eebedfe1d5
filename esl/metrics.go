package esl

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the call-control figures served on /metrics. Build them with NewMetrics and give
// them to Server.Metrics; nil Metrics are allowed everywhere.
type Metrics struct {
	Calls              *prometheus.CounterVec   // calls handled, by decision
	Recordings         *prometheus.CounterVec   // recordings by event: started, stopped, failed, discarded
	CommandSeconds     *prometheus.HistogramVec // FreeSWITCH command latency, by command and outcome
	LiveSessions       prometheus.Gauge
	EventQueueOverflow prometheus.Counter     // events dropped over a connection's queue bound (eventQueueMax)
	Refused            *prometheus.CounterVec // outbound connections closed by callrec: over the cap, or a frame the guard refused (by reason)
}

// NewMetrics creates the collectors and registers them on reg.
// It returns the error of the first registration that fails (a duplicate registration).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callrec_calls_total", Help: "Calls handed to callrec, by the policy's decision.",
		}, []string{"decision"}),
		Recordings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callrec_recordings_total", Help: "Recordings by lifecycle event and type.",
		}, []string{"event", "type"}),
		CommandSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "callrec_esl_command_seconds", Help: "Latency of FreeSWITCH commands.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"command", "outcome"}),
		LiveSessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "callrec_live_sessions", Help: "Calls currently followed by callrec.",
		}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callrec_esl_refused_total", Help: "ESL connections closed by callrec: over esl.max_conns, or a frame out of bounds (by reason).",
		}, []string{"reason"}),
		EventQueueOverflow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callrec_esl_event_queue_overflow_total", Help: "Events dropped because too many were waiting on one connection (a peer flooding events).",
		}),
	}
	for _, c := range []prometheus.Collector{m.Calls, m.Recordings, m.CommandSeconds, m.LiveSessions, m.Refused, m.EventQueueOverflow} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observeCommand(name string, d time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.CommandSeconds.WithLabelValues(name, outcome).Observe(d.Seconds())
}

func (m *Metrics) call(decision string) {
	if m != nil {
		m.Calls.WithLabelValues(decision).Inc()
	}
}

func (m *Metrics) recording(event, typ string) {
	if m != nil {
		m.Recordings.WithLabelValues(event, typ).Inc()
	}
}

func (m *Metrics) refused(reason string) {
	if m != nil {
		m.Refused.WithLabelValues(reason).Inc()
	}
}
