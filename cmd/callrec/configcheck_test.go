package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestConfig_RefusesWhatWasAcceptedSilently: bare-number durations, values out of range and
// unknown keys in the file, the environment and the flags are errors naming the key.
func TestConfig_RefusesWhatWasAcceptedSilently(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		f, err := os.CreateTemp(dir, "*.yaml")
		must(t, err)
		_, err = f.WriteString(body)
		must(t, err)
		must(t, f.Close())
		return f.Name()
	}
	cfgFile := func(body string) []string { return []string{"--config", write(body)} }
	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"bare number duration in the file (was 2 ns)", cfgFile("esl:\n  plan_deadline: 2\n"), nil, []string{"esl.plan_deadline", "no unit"}},
		{"bare number duration string in the environment", nil, []string{"CALLREC_ESL__COMMAND_TIMEOUT=5"}, []string{"esl.command_timeout", "no unit"}},
		{"not a duration", cfgFile("shutdown_grace: soon\n"), nil, []string{"shutdown_grace", "not a duration"}},
		{"negative duration (fell back to the default)", cfgFile("esl:\n  plan_deadline: -1s\n"), nil, []string{"esl.plan_deadline", "outside"}},
		{"zero plan deadline", nil, []string{"CALLREC_ESL__PLAN_DEADLINE=0s"}, []string{"esl.plan_deadline", "outside"}},
		{"huge command timeout", cfgFile("esl:\n  command_timeout: 10h\n"), nil, []string{"esl.command_timeout", "outside"}},
		{"negative shutdown grace", cfgFile("shutdown_grace: -5s\n"), nil, []string{"shutdown_grace", "outside"}},
		{"negative workers", cfgFile("audio:\n  workers: -1\n"), nil, []string{"audio.workers", "outside"}},
		{"bitrate too high", cfgFile("audio:\n  bitrate_kbps: 1000\n"), nil, []string{"audio.bitrate_kbps", "outside"}},
		{"bitrate zero", cfgFile("audio:\n  bitrate_kbps: 0\n"), nil, []string{"audio.bitrate_kbps", "outside"}},
		{"zero attempts", cfgFile("audio:\n  max_attempts: 0\n"), nil, []string{"audio.max_attempts", "outside"}},
		{"port out of range", []string{"--esl.listen", "127.0.0.1:70000"}, nil, []string{"esl.listen", "port"}},
		{"port not a number", []string{"--http.listen", "127.0.0.1:http"}, nil, []string{"http.listen", "port"}},
		{"node port zero", nil, []string{"CALLREC_FREESWITCH__NODES=127.0.0.1:0"}, []string{"freeswitch.nodes[0].addr", "port"}},
		{"default country", nil, []string{"CALLREC_DEFAULT_COUNTRY=XX"}, []string{"default_country"}},
		{"tone with a space", nil, []string{"CALLREC_ESL__TONE=tone_stream://%(250, 0, 880)"}, []string{"esl.tone"}},
		{"tone with a variable", nil, []string{"CALLREC_ESL__TONE=$${sounds_dir}/beep.wav"}, []string{"esl.tone"}},
		{"log level", nil, []string{"CALLREC_LOG__LEVEL=loud"}, []string{"log.level"}},
		{"profiling on a public address", nil, []string{"CALLREC_DEBUG__PPROF_LISTEN=0.0.0.0:6060"}, []string{"debug.pprof_listen", "loopback"}},
		{"profiling on a host name", nil, []string{"CALLREC_DEBUG__PPROF_LISTEN=example.com:6060"}, []string{"debug.pprof_listen", "loopback"}},
		{"unknown key in the file", cfgFile("esl:\n  plan_deadlne: 2s\n"), nil, []string{"esl.plan_deadlne", "unknown key"}},
		{"unknown top-level key", cfgFile("libary_dir: /x\n"), nil, []string{"libary_dir", "unknown key"}},
		{"unknown key in a node", cfgFile("freeswitch:\n  nodes:\n    - addr: 127.0.0.1:8021\n      pasword: x\n"), nil, []string{"freeswitch.nodes[0].pasword", "unknown key"}},
		{"misspelt environment name", nil, []string{"CALLREC_ESL__PLAN_DEADLNE=2s"}, []string{"CALLREC_ESL__PLAN_DEADLNE", "esl.plan_deadlne", "unknown key"}},
		{"single underscore in the environment", nil, []string{"CALLREC_ESL_LISTEN=127.0.0.1:1"}, []string{"CALLREC_ESL_LISTEN", "did you mean esl.listen"}},
		{"unknown flag", []string{"--esl.plan_deadline", "2s"}, nil, []string{"esl.plan_deadline"}},
		{"every bad key at once", cfgFile("esl:\n  plan_deadline: 2\naudio:\n  workers: -3\nbogus: 1\n"), []string{"CALLREC_NOPE=1"},
			[]string{"esl.plan_deadline", "audio.workers", "bogus", "CALLREC_NOPE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), tt.args, tt.env)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestConfig_AcceptsGoodValuesAndRemovedKeys: durations with units reach Config as written, and
// the keys issue 11 removed still load, each with a warning.
func TestConfig_AcceptsGoodValuesAndRemovedKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "callrec.yaml")
	must(t, os.WriteFile(file, []byte("esl:\n  plan_deadline: 1500ms\n  command_timeout: 3s\nshutdown_grace: 0s\n"+
		"freeswitch:\n  internal_extension_regex: '^\\d+$'\n  xml_curl_password: old\naudio:\n  workers: 2\n  bitrate_kbps: 48\n  max_attempts: 3\n"), 0o600))
	cfg, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), []string{"--config", file}, []string{"CALLREC_ESL__COMMAND_TIMEOUT=4s", "OTHER_X=1", "CALLREC_DEFAULT_COUNTRY=es"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ESL.PlanDeadline != 1500*time.Millisecond || cfg.ESL.CommandTimeout != 4*time.Second || cfg.ShutdownGrace != 0 || cfg.Audio.Workers != 2 {
		t.Errorf("durations/values not as written: %+v %+v %v", cfg.ESL, cfg.Audio, cfg.ShutdownGrace)
	}
	if len(cfg.Warnings) != 2 || !strings.Contains(strings.Join(cfg.Warnings, "\n"), "xml_curl_password") {
		t.Errorf("warnings %q, want one per removed key", cfg.Warnings)
	}
	def, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), nil, nil)
	if err != nil || def.ESL.PlanDeadline != 2*time.Second || def.ESL.CommandTimeout != 5*time.Second || def.ShutdownGrace != 10*time.Second {
		t.Errorf("defaults: %v %+v %v", err, def.ESL, def.ShutdownGrace)
	}
}

// TestServe_BadConfigurationExitsTwoListingEveryKey: serve refuses to start.
func TestServe_BadConfigurationExitsTwoListingEveryKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve", "--data_dir", t.TempDir(), "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0"},
		[]string{"CALLREC_ESL__PLAN_DEADLINE=2", "CALLREC_AUDIO__WORKER=4"}, io.Discard, io.Discard)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "esl.plan_deadline") || !strings.Contains(err.Error(), "CALLREC_AUDIO__WORKER") {
		t.Fatalf("serve: %v, want exit 2 naming esl.plan_deadline and CALLREC_AUDIO__WORKER", err)
	}
}
