package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/audio"
)

// TestConfig_AudioBitrateAboveWhatARateCarriesLoadsWithAWarning: 8 kHz recordings are encoded at
// 8 kHz (MPEG-2.5), at most 56 kbit/s per channel, and 16 kHz ones at 16 kHz (MPEG-2), at most
// 112 mono and 80 stereo. A file written for the earlier 8…160 range still loads, and the operator
// is told what those recordings get instead; the default and every value up to 56 load silently.
func TestConfig_AudioBitrateAboveWhatARateCarriesLoadsWithAWarning(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		kbps    int
		warning string // "" = no warning
	}{
		{"default", "", audio.DefaultBitrateKbps, ""},
		{"8", "audio:\n  bitrate_kbps: 8\n", 8, ""},
		{"56", "audio:\n  bitrate_kbps: 56\n", 56, ""},
		{"64", "audio:\n  bitrate_kbps: 64\n", 64, "audio.bitrate_kbps 64 is more than some recordings can be encoded at; they get (kbit/s per channel): 8 kHz mono 56, 8 kHz stereo 56"},
		{"80", "audio:\n  bitrate_kbps: 80\n", 80, "audio.bitrate_kbps 80 is more than some recordings can be encoded at; they get (kbit/s per channel): 8 kHz mono 56, 8 kHz stereo 56"},
		{"96", "audio:\n  bitrate_kbps: 96\n", 96, "audio.bitrate_kbps 96 is more than some recordings can be encoded at; they get (kbit/s per channel): 8 kHz mono 56, 8 kHz stereo 56, 16 kHz stereo 80"},
		{"160", "audio:\n  bitrate_kbps: 160\n", 160, "audio.bitrate_kbps 160 is more than some recordings can be encoded at; they get (kbit/s per channel): 8 kHz mono 56, 8 kHz stereo 56, 16 kHz mono 112, 16 kHz stereo 80"},
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
			case tc.warning != "" && (len(got) != 1 || got[0] != tc.warning):
				t.Errorf("warnings %q, want %q", got, tc.warning)
			}
		})
	}
}
