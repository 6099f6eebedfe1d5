package main

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/v2"

	"github.com/callrec/callrec/e164"
)

// removedKeys are keys earlier versions read and this one ignores with a warning: old installs
// still have them, and refusing to start over them would turn an upgrade into an outage.
var removedKeys = []string{"freeswitch.internal_extension_regex", "freeswitch.xml_curl_password"}

// nodeKeys are the keys of one freeswitch.nodes entry.
var nodeKeys = []string{"addr", "password"}

// knownKeys is every key callrec reads: the defaults' keys, the lists that have no default and
// the removed keys.
func knownKeys() map[string]bool {
	known := map[string]bool{"freeswitch.user_contexts": true}
	for key := range defaults() {
		known[key] = true
	}
	for _, key := range removedKeys {
		known[key] = true
	}
	return known
}

// unknownFileKeys names every key of the configuration file callrec does not read, and every
// unknown key inside a freeswitch.nodes entry.
func unknownFileKeys(path string, fk *koanf.Koanf) []error {
	known := knownKeys()
	var errs []error
	for _, key := range fk.Keys() {
		if !known[key] {
			errs = append(errs, fmt.Errorf("%s: config file %s: unknown key%s", key, path, suggest(key, known)))
		}
	}
	if nodes, ok := fk.Get("freeswitch.nodes").([]any); ok {
		for i, n := range nodes {
			m, ok := n.(map[string]any)
			if !ok {
				errs = append(errs, fmt.Errorf("freeswitch.nodes[%d]: config file %s: want a map with addr and password", i, path))
				continue
			}
			for _, key := range slices.Sorted(maps.Keys(m)) {
				if !slices.Contains(nodeKeys, key) {
					errs = append(errs, fmt.Errorf("freeswitch.nodes[%d].%s: config file %s: unknown key (addr, password)", i, key, path))
				}
			}
		}
	}
	return errs
}

// unknownEnvKeys names every CALLREC_* variable that maps to no key: a misspelt name (or a single
// underscore where a level needs two) would otherwise be ignored.
func unknownEnvKeys(environ []string) []error {
	known := knownKeys()
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "CALLREC_") {
			continue
		}
		if key, _ := envKey(name, value); !known[key] {
			errs = append(errs, fmt.Errorf("%s: environment variable %s: unknown key (levels are separated by a double underscore, e.g. CALLREC_ESL__LISTEN)%s", key, name, suggest(key, known)))
		}
	}
	return errs
}

// suggest names the known key that differs from key only in its level separators, if any.
func suggest(key string, known map[string]bool) string {
	flat := func(s string) string { return strings.NewReplacer(".", "", "_", "").Replace(s) }
	for _, k := range slices.Sorted(maps.Keys(known)) {
		if flat(k) == flat(key) {
			return fmt.Sprintf("; did you mean %s?", k)
		}
	}
	return ""
}

// durationKeys are the keys holding a duration, with where each goes in Config.
var durationKeys = []struct {
	key   string
	field func(*Config) *time.Duration
}{
	{"esl.command_timeout", func(c *Config) *time.Duration { return &c.ESL.CommandTimeout }},
	{"esl.plan_deadline", func(c *Config) *time.Duration { return &c.ESL.PlanDeadline }},
	{"shutdown_grace", func(c *Config) *time.Duration { return &c.ShutdownGrace }},
	{"webhooks.timeout", func(c *Config) *time.Duration { return &c.Webhooks.Timeout }},
	{"webhooks.backoff_base", func(c *Config) *time.Duration { return &c.Webhooks.BackoffBase }},
	{"webhooks.backoff_max", func(c *Config) *time.Duration { return &c.Webhooks.BackoffMax }},
}

// parsedDurations holds the duration keys read by takeDurations.
type parsedDurations map[string]time.Duration

// takeDurations reads every duration key as a Go duration with a unit ("2s", "500ms") and removes
// it from k: the decoder would read a bare number as nanoseconds (esl.plan_deadline: 2 was 2 ns
// and recorded nothing). A bad value is an error naming the key; the default stands in for it so
// the other keys are still checked.
func takeDurations(k *koanf.Koanf) (parsedDurations, []error) {
	def := defaults()
	out := parsedDurations{}
	var errs []error
	for _, d := range durationKeys {
		fallback, _ := time.ParseDuration(def[d.key].(string))
		v, err := durationValue(k.Get(d.key))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.key, err))
			v = fallback
		}
		out[d.key] = v
		k.Delete(d.key)
	}
	return out, errs
}

// durationValue reads one raw configuration value as a duration with a unit.
func durationValue(raw any) (time.Duration, error) {
	switch v := raw.(type) {
	case string:
		s := strings.TrimSpace(v)
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return 0, fmt.Errorf("%q has no unit: write e.g. %ss or %sms", v, s, s)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 2s, 500ms): %w", v, err)
		}
		return d, nil
	case time.Duration:
		return v, nil
	case nil:
		return 0, fmt.Errorf("is empty: want a duration such as 2s")
	default:
		return 0, fmt.Errorf("%v has no unit: write a duration such as %vs or %vms", v, v, v)
	}
}

func (p parsedDurations) apply(c *Config) {
	for _, d := range durationKeys {
		*d.field(c) = p[d.key]
	}
}

// Ranges of the numeric keys. A value outside is a mistake worth stopping for, not a default.
var (
	commandTimeoutRange = [2]time.Duration{100 * time.Millisecond, 5 * time.Minute}
	planDeadlineRange   = [2]time.Duration{100 * time.Millisecond, 30 * time.Second}
	shutdownGraceRange  = [2]time.Duration{0, 10 * time.Minute}
	webhookTimeoutRange = [2]time.Duration{time.Second, time.Minute}
	webhookBackoffRange = [2]time.Duration{time.Second, 24 * time.Hour}
)

const (
	maxWorkers      = 256
	minBitrateKbps  = 8   // per channel; the MP3 stream is at most 320 kbit/s (audio/shine.go)
	maxBitrateKbps  = 160 // per channel: 2 × 160 = 320
	maxMaxAttempts  = 1000
	maxPortNumber   = 65535
	portZeroAllowed = true
)

// checkRanges range-checks every numeric key.
func (c Config) checkRanges() []error {
	var errs []error
	for _, d := range []struct {
		key string
		v   time.Duration
		r   [2]time.Duration
	}{
		{"esl.command_timeout", c.ESL.CommandTimeout, commandTimeoutRange},
		{"esl.plan_deadline", c.ESL.PlanDeadline, planDeadlineRange},
		{"shutdown_grace", c.ShutdownGrace, shutdownGraceRange},
		{"webhooks.timeout", c.Webhooks.Timeout, webhookTimeoutRange},
		{"webhooks.backoff_base", c.Webhooks.BackoffBase, webhookBackoffRange},
		{"webhooks.backoff_max", c.Webhooks.BackoffMax, webhookBackoffRange},
	} {
		if d.v < d.r[0] || d.v > d.r[1] {
			errs = append(errs, fmt.Errorf("%s: %s is outside %s…%s", d.key, d.v, d.r[0], d.r[1]))
		}
	}
	for _, n := range []struct {
		key     string
		v       int
		min, mx int
	}{
		{"audio.workers", c.Audio.Workers, 0, maxWorkers},
		{"audio.bitrate_kbps", c.Audio.BitrateKbps, minBitrateKbps, maxBitrateKbps},
		{"audio.max_attempts", c.Audio.MaxAttempts, 1, maxMaxAttempts},
		{"webhooks.workers", c.Webhooks.Workers, 1, 64},
		{"webhooks.max_attempts", c.Webhooks.MaxAttempts, 1, 100},
	} {
		if n.v < n.min || n.v > n.mx {
			errs = append(errs, fmt.Errorf("%s: %d is outside %d…%d", n.key, n.v, n.min, n.mx))
		}
	}
	if c.Webhooks.BackoffMax < c.Webhooks.BackoffBase {
		errs = append(errs, fmt.Errorf("webhooks.backoff_max: %s is below webhooks.backoff_base %s", c.Webhooks.BackoffMax, c.Webhooks.BackoffBase))
	}
	return errs
}

// checkStrings checks the string keys whose mistakes would otherwise only show on a call:
// default_country must be a region with a numbering plan, esl.tone one uuid_displace argument
// (callrec's command layer refuses spaces; nothing expands variables in an api command).
func (c Config) checkStrings() []error {
	var errs []error
	if dc := c.DefaultCountry; dc != "" && !e164.ValidRegion(strings.ToUpper(dc)) {
		errs = append(errs, fmt.Errorf("default_country: %q is not an ISO 3166 alpha-2 region with a numbering plan (e.g. ES, US)", dc))
	}
	for i := 0; i < len(c.ESL.Tone); i++ {
		if b := c.ESL.Tone[i]; b <= ' ' || b >= 0x7f || b == '$' || b == '{' || b == '}' {
			errs = append(errs, fmt.Errorf("esl.tone: %q must be one playback string without spaces, variables or non-ASCII (e.g. tone_stream://%%(250,0,880))", c.ESL.Tone))
			break
		}
	}
	return errs
}

// checkHostPort checks a listen or node address: host:port with a numeric port in range. Port 0
// (any free port) is allowed only where callrec listens.
func checkHostPort(key, addr string, listen bool) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", key, addr, err)
	}
	n, err := strconv.Atoi(port)
	min := 1
	if listen && portZeroAllowed {
		min = 0
	}
	if err != nil || n < min || n > maxPortNumber {
		return fmt.Errorf("%s: %q: port %q is not a number in %d…%d", key, addr, port, min, maxPortNumber)
	}
	return nil
}
