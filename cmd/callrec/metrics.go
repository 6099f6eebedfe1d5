package main

import (
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callrec/callrec/esl"
)

// registerBuildInfo registers callrec_build_info{version,go_version}, always 1: which binary
// answers, for dashboards and alerts across an upgrade. The error is reg's.
func registerBuildInfo(reg prometheus.Registerer, version string) error {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "callrec_build_info",
		Help: "Always 1; the labels name the running build.",
	}, []string{"version", "go_version"})
	g.WithLabelValues(version, runtime.Version()).Set(1)
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("build info metric: %w", err)
	}
	return nil
}

// newNodeUpGauge registers callrec_freeswitch_node_up{node}: 1 while callrec's inbound Event
// Socket connection to that FreeSWITCH is up, 0 otherwise. Node addresses are the operator's
// configuration, not tenant data, so the series is served without the metrics token.
func newNodeUpGauge(reg prometheus.Registerer) (*prometheus.GaugeVec, error) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "callrec_freeswitch_node_up",
		Help: "1 while the inbound Event Socket connection to the FreeSWITCH node is up, else 0.",
	}, []string{"node"})
	if err := reg.Register(g); err != nil {
		return nil, fmt.Errorf("node metric: %w", err)
	}
	return g, nil
}

// nodeState is one node's health reporter (esl.Node.Health): it passes every report on to the
// health registry (/readyz) and mirrors it in the node's callrec_freeswitch_node_up gauge.
type nodeState struct {
	esl.HealthReporter
	up prometheus.Gauge
}

// Up reports the node's connection up.
func (n nodeState) Up(part string) {
	n.HealthReporter.Up(part)
	n.up.Set(1)
}

// Down reports the node's connection down, because of err.
func (n nodeState) Down(part string, err error) {
	n.HealthReporter.Down(part, err)
	n.up.Set(0)
}
