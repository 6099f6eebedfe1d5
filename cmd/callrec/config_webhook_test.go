package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestConfig_Webhooks: the webhooks keys load with their defaults and units, and a bare number,
// an unknown key or a value out of range stops start-up naming the key.
func TestConfig_Webhooks(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        []string
		check      func(WebhookConfig) bool
		err        string // "" = loads
	}{
		{"defaults", "", nil, func(w WebhookConfig) bool {
			return w.Workers == 4 && w.Timeout == 10*time.Second && w.MaxAttempts == 10 && w.BackoffBase == 30*time.Second &&
				w.BackoffMax == 6*time.Hour && !w.AllowHTTP && !w.AllowPrivateNetworks
		}, ""},
		{"set", "webhooks:\n  timeout: 3s\n  allow_private_networks: true\n  allow_http: true\n", nil, func(w WebhookConfig) bool {
			return w.Timeout == 3*time.Second && w.AllowPrivateNetworks && w.AllowHTTP
		}, ""},
		{"environment", "", []string{"CALLREC_WEBHOOKS__ALLOW_PRIVATE_NETWORKS=true"}, func(w WebhookConfig) bool { return w.AllowPrivateNetworks }, ""},
		{"bare number", "webhooks:\n  timeout: 10\n", nil, nil, "webhooks.timeout"},
		{"unknown key", "webhooks:\n  allow_private: true\n", nil, nil, "webhooks.allow_private"},
		{"out of range", "webhooks:\n  max_attempts: 0\n", nil, nil, "webhooks.max_attempts"},
		{"max below base", "webhooks:\n  backoff_base: 1h\n  backoff_max: 1m\n", nil, nil, "webhooks.backoff_max"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "callrec.yaml")
			must(t, os.WriteFile(file, []byte(tc.yaml), 0o600))
			cfg, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), []string{"--config", file}, tc.env)
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one naming %s", err, tc.err)
			case tc.err == "" && !tc.check(cfg.Webhooks):
				t.Errorf("webhooks %+v", cfg.Webhooks)
			}
		})
	}
}
