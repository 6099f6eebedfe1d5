package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/audio"
)

// TestConfig_AudioBitrateAbove8kHzsMostLoadsWithAWarning: 8 kHz recordings are encoded at 8 kHz
// (MPEG-2.5), which carries at most 56 kbit/s per channel. A file written for the earlier
// 8…160 range still loads, and the operator is told what 8 kHz recordings get instead; the
// default and every value up to 56 load silently.
func TestConfig_AudioBitrateAbove8kHzsMostLoadsWithAWarning(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		kbps    int
		warning string // "" = no warning
	}{
		{"default", "", audio.DefaultBitrateKbps, ""},
		{"8", "audio:\n  bitrate_kbps: 8\n", 8, ""},
		{"56", "audio:\n  bitrate_kbps: 56\n", 56, ""},
		{"64", "audio:\n  bitrate_kbps: 64\n", 64, "audio.bitrate_kbps 64: 8 kHz recordings are encoded at 56 kbit/s per channel"},
		{"160", "audio:\n  bitrate_kbps: 160\n", 160, "audio.bitrate_kbps 160: 8 kHz recordings are encoded at 56 kbit/s per channel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "callrec.yaml")
			must(t, os.WriteFile(file, []byte(tc.yaml), 0o600))
			cfg, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), []string{"--config", file}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Audio.BitrateKbps != tc.kbps {
				t.Errorf("audio.bitrate_kbps = %d, want %d", cfg.Audio.BitrateKbps, tc.kbps)
			}
			var got []string
			for _, w := range cfg.Warnings {
				if strings.Contains(w, "audio.bitrate_kbps") {
					got = append(got, w)
				}
			}
			switch {
			case tc.warning == "" && len(got) != 0:
				t.Errorf("warnings %q, want none about the bitrate", got)
			case tc.warning != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tc.warning)):
				t.Errorf("warnings %q, want one starting %q", got, tc.warning)
			}
		})
	}
}
