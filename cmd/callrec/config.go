package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/objstore"
)

// Config is callrec's whole configuration. Every key is documented in README.md; the sources are
// layered defaults < callrec.yaml (or --config) < CALLREC_* environment < command-line flags.
type Config struct {
	DataDir       string `koanf:"data_dir"`
	SpoolDir      string `koanf:"spool_dir"`
	SpoolGroup    string `koanf:"spool_group"`
	LibraryDir    string `koanf:"library_dir"`
	MasterKeyFile string `koanf:"master_key_file"`
	// Library is where finished MP3s are kept: library_dir (backend dir, the default) or an
	// S3-compatible bucket (backend s3, library.s3.*; README "Recordings on object storage").
	Library objstore.Config `koanf:"library"`
	// Store is the store of record: the embedded bbolt file in data_dir (backend bolt, the
	// default) or a PostgreSQL database several instances share (backend postgres; README
	// "Running more than one callrec").
	Store          StoreConfig   `koanf:"store"`
	DefaultCountry string        `koanf:"default_country"`
	BootstrapToken string        `koanf:"bootstrap_token"`
	HTTP           HTTPConfig    `koanf:"http"`
	ESL            ESLConfig     `koanf:"esl"`
	FreeSWITCH     FSConfig      `koanf:"freeswitch"`
	Log            LogConfig     `koanf:"log"`
	Audio          AudioConfig   `koanf:"audio"`
	Debug          DebugConfig   `koanf:"debug"`
	Webhooks       WebhookConfig `koanf:"webhooks"`
	ShutdownGrace  time.Duration `koanf:"shutdown_grace"`
	// Warnings are notes about the configuration given (keys no longer used) for the caller to
	// log; they never stop callrec.
	Warnings []string `koanf:"-"`
}

// StoreConfig selects the store of record.
type StoreConfig struct {
	Backend  string         `koanf:"backend"` // bolt (default) | postgres
	Postgres PostgresConfig `koanf:"postgres"`
}

// Store backends.
const (
	StoreBolt     = "bolt"
	StorePostgres = "postgres"
)

// PostgresConfig is the database of store.backend postgres.
type PostgresConfig struct {
	// DSN is a libpq connection string or URL ("postgres://callrec@db1/callrec?sslmode=verify-full");
	// what it leaves out comes from libpq's environment (PGHOST, PGPASSWORD, ~/.pgpass), so the
	// password need not be in the file.
	DSN string `koanf:"dsn"`
}

// HTTPConfig configures the API and web page listener.
type HTTPConfig struct {
	Listen            string        `koanf:"listen"`
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	ReadTimeout       time.Duration `koanf:"read_timeout"`
	IdleTimeout       time.Duration `koanf:"idle_timeout"`
	MaxConns          int           `koanf:"max_conns"`
	MaxConnsPerIP     int           `koanf:"max_conns_per_ip"`
	AuthFailures      int           `koanf:"auth_failures_per_minute"`
	MetricsToken      string        `koanf:"metrics_token"`
}

// ESLConfig configures the outbound Event Socket listener FreeSWITCH connects to, and the contexts
// the rendered dialplan uses.
type ESLConfig struct {
	Listen          string        `koanf:"listen"`
	RouteContext    string        `koanf:"route_context"`
	TransferContext string        `koanf:"transfer_context"`
	CommandTimeout  time.Duration `koanf:"command_timeout"`
	PlanDeadline    time.Duration `koanf:"plan_deadline"`
	Tone            string        `koanf:"tone"`
	MaxConns        int           `koanf:"max_conns"` // live outbound connections; over it a call falls back at once
	// Instances are the outbound ESL addresses of every callrec instance, in the order the
	// rendered dialplan tries them (fsconf Options.Instances); empty: this one (listen).
	Instances []string `koanf:"instances"`
}

// FSConfig lists the FreeSWITCH nodes callrec keeps an inbound connection to.
type FSConfig struct {
	Nodes            []FSNode `koanf:"nodes"`
	InboundPassword  string   `koanf:"inbound_password"`
	RecordPath       string   `koanf:"record_path"`
	PublicContext    string   `koanf:"public_context"`
	UserContext      string   `koanf:"user_context"`  // one-element form of UserContexts (older configurations)
	UserContexts     []string `koanf:"user_contexts"` // contexts users place calls in, one per domain; default [default]
	ExternalGateway  string   `koanf:"external_gateway"`
	InternalExtRegex string   `koanf:"internal_extension_regex"` // no longer used: read only to warn
}

// FSNode is one FreeSWITCH's inbound Event Socket.
type FSNode struct {
	Addr     string `koanf:"addr"`
	Password string `koanf:"password"`
}

// LogConfig selects the level and format of zerolog's output.
type LogConfig struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"` // auto | json | console
}

// AudioConfig configures the MP3 worker.
type AudioConfig struct {
	Workers     int `koanf:"workers"`
	BitrateKbps int `koanf:"bitrate_kbps"`
	MaxAttempts int `koanf:"max_attempts"`
}

// WebhookConfig configures the webhook dispatcher (package webhook, README "Webhooks").
type WebhookConfig struct {
	Workers              int           `koanf:"workers"`
	Timeout              time.Duration `koanf:"timeout"`
	MaxAttempts          int           `koanf:"max_attempts"`
	BackoffBase          time.Duration `koanf:"backoff_base"`
	BackoffMax           time.Duration `koanf:"backoff_max"`
	AllowHTTP            bool          `koanf:"allow_http"`
	AllowPrivateNetworks bool          `koanf:"allow_private_networks"`
}

func defaults() map[string]any {
	return map[string]any{
		"data_dir":        "./data",
		"spool_dir":       "",
		"spool_group":     "",
		"library_dir":     "",
		"master_key_file": "",
		// The library on object storage (issue 16 item 1): objstore.Config's keys.
		"library.backend":                   objstore.BackendDir,
		"library.s3.endpoint":               "",
		"library.s3.region":                 "",
		"library.s3.bucket":                 "",
		"library.s3.prefix":                 "",
		"library.s3.path_style":             false,
		"library.s3.access_key_id":          "",
		"library.s3.secret_access_key":      "",
		"library.s3.session_token":          "",
		"library.s3.multipart_threshold":    0,
		"library.s3.part_size":              0,
		"library.s3.read_ahead":             0,
		"library.s3.checksum_when_required": false,
		"library.presign_ttl":               "0s",
		"store.backend":                     StoreBolt,
		"store.postgres.dsn":                "",
		"default_country":                   "",
		"bootstrap_token":                   "",
		"http.listen":                       "127.0.0.1:8080",
		"esl.listen":                        "127.0.0.1:8084",
		"esl.route_context":                 "",
		"esl.transfer_context":              "callrec_transfer",
		"esl.command_timeout":               "5s",
		"esl.plan_deadline":                 "2s",
		"esl.tone":                          "tone_stream://%(250,0,880)",
		"esl.max_conns":                     4096,
		"esl.instances":                     []string{},
		// The event socket fsconf renders (event_socket.conf.xml) on the same host: with it, calls
		// whose own connection is lost (an ESL reload, a callrec restart) are followed again.
		"freeswitch.nodes":                    []map[string]any{{"addr": "127.0.0.1:8021"}},
		"freeswitch.inbound_password":         "ClueCon",
		"freeswitch.record_path":              "",
		"freeswitch.public_context":           "public",
		"freeswitch.user_context":             "",
		"freeswitch.external_gateway":         "sofia/gateway/carrier",
		"freeswitch.internal_extension_regex": "", // removed; an old file's value is ignored with a warning
		"log.level":                           "info",
		"log.format":                          "auto",
		"audio.workers":                       0,
		"audio.bitrate_kbps":                  audio.DefaultBitrateKbps, // per channel; see audio/DECISION.md
		"audio.max_attempts":                  5,
		"shutdown_grace":                      "10s",
		"debug.pprof_listen":                  "",

		// One client must not hold every descriptor (issue 12): see README "http.*".
		"http.read_header_timeout":      "10s",
		"http.read_timeout":             "60s",
		"http.idle_timeout":             "60s",
		"http.max_conns":                512,
		"http.max_conns_per_ip":         64,
		"http.auth_failures_per_minute": 30,
		"http.metrics_token":            "",

		// Webhooks (README "Webhooks"): ~10 attempts over about a day, https to public addresses only.
		"webhooks.workers":                4,
		"webhooks.timeout":                "10s",
		"webhooks.max_attempts":           10,
		"webhooks.backoff_base":           "30s",
		"webhooks.backoff_max":            "6h",
		"webhooks.allow_http":             false,
		"webhooks.allow_private_networks": false,
	}
}

// loadConfig layers the configuration sources. args are the flags after the subcommand.
func loadConfig(fs *pflag.FlagSet, args []string, environ []string) (Config, error) {
	configPath := fs.String("config", "", "configuration file (default: ./callrec.yaml when present)")
	fs.String("data_dir", "", "directory of the store (callrec.db) and, by default, spool and library")
	fs.String("http.listen", "", "address of the HTTP API and web page")
	fs.String("esl.listen", "", "address FreeSWITCH's socket application connects to")
	fs.String("log.level", "", "debug | info | warn | error")
	fs.String("log.format", "", "auto | json | console")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults(), "."), nil); err != nil {
		return Config{}, fmt.Errorf("defaults: %w", err)
	}
	path, explicit := *configPath, *configPath != ""
	if !explicit {
		path = "callrec.yaml"
	}
	// Every source is checked for keys callrec does not know before it is merged: a misspelt key
	// would otherwise leave its default in place without a word. All bad keys are reported at once.
	var errs []error
	if _, err := os.Stat(path); err == nil {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		errs = append(errs, unknownFileKeys(path, fk)...)
		if err := k.Merge(fk); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	} else if explicit {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	errs = append(errs, unknownEnvKeys(environ)...)
	envProvider := env.Provider(".", env.Opt{
		Prefix:        "CALLREC_",
		TransformFunc: envKey,
		EnvironFunc:   func() []string { return environ },
	})
	if err := k.Load(envProvider, nil); err != nil {
		return Config{}, fmt.Errorf("environment: %w", err)
	}
	if err := k.Load(posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
		if !f.Changed || f.Name == "config" {
			return "", nil
		}
		return f.Name, posflag.FlagVal(fs, f)
	}), nil); err != nil {
		return Config{}, fmt.Errorf("flags: %w", err)
	}
	// The environment gives freeswitch.nodes and freeswitch.user_contexts as one string; the
	// file gives lists.
	var envNodes []FSNode
	if s, ok := k.Get("freeswitch.nodes").(string); ok {
		envNodes = parseNodes(s)
		if envNodes == nil {
			envNodes = []FSNode{} // CALLREC_FREESWITCH__NODES= : no node at all
		}
		k.Delete("freeswitch.nodes")
	}
	var envContexts []string
	if s, ok := k.Get("freeswitch.user_contexts").(string); ok {
		envContexts = splitList(s)
		k.Delete("freeswitch.user_contexts")
	}
	var warnings []string
	if k.String("freeswitch.internal_extension_regex") != "" {
		warnings = append(warnings, "freeswitch.internal_extension_regex is no longer used and is ignored: callrec tells internal "+
			"from outbound calls itself (the company's users' extensions and its country); remove the key and render fsconf again")
	}
	if k.Exists("freeswitch.xml_curl_password") {
		warnings = append(warnings, "freeswitch.xml_curl_password is no longer used and is ignored: callrec serves no mod_xml_curl "+
			"endpoint any more; remove the key and render fsconf again")
		k.Delete("freeswitch.xml_curl_password")
	}
	durations, derrs := takeDurations(k)
	errs = append(errs, derrs...)
	var cfg Config
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, errors.Join(append(errs, fmt.Errorf("configuration: %w", err))...)
	}
	durations.apply(&cfg)
	if envNodes != nil {
		cfg.FreeSWITCH.Nodes = envNodes
	}
	if envContexts != nil {
		cfg.FreeSWITCH.UserContexts = envContexts
	}
	cfg.Warnings = append(warnings, audioBitrateWarnings(cfg.Audio.BitrateKbps)...)
	if err := cfg.fillDerived(); err != nil {
		return Config{}, errors.Join(append(errs, err)...)
	}
	if err := errors.Join(append(errs, cfg.validate())...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// envKey maps CALLREC_HTTP__LISTEN to http.listen and CALLREC_DATA_DIR to data_dir: a double
// underscore separates levels, a single one stays part of the key.
func envKey(k, v string) (string, any) {
	k = strings.ToLower(strings.TrimPrefix(k, "CALLREC_"))
	return strings.ReplaceAll(k, "__", "."), v
}

// splitList reads the environment form of a list: "a,b" (blanks trimmed, empty items dropped).
func splitList(s string) []string {
	out := []string{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseNodes reads the environment form of freeswitch.nodes: "addr=password,addr=password".
func parseNodes(s string) []FSNode {
	var nodes []FSNode
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		addr, pw, _ := strings.Cut(item, "=")
		nodes = append(nodes, FSNode{Addr: addr, Password: pw})
	}
	return nodes
}

// fillDerived fills the keys that default from others and makes every directory absolute and
// clean, resolved against the working directory once, at load: FreeSWITCH puts its own
// sound_prefix or base dir before a relative record path (switch_ivr_async.c
// switch_ivr_record_session_event ~3079), so a relative spool would be written where callrec
// never looks. Errors: a directory that cannot be made absolute (no working directory).
func (c *Config) fillDerived() error {
	if c.DataDir == "" {
		return nil // validate reports it
	}
	var errs []error
	abs := func(key string, p *string) {
		if *p == "" {
			return
		}
		a, err := filepath.Abs(*p) // cleans too
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", key, *p, err))
			return
		}
		*p = a
	}
	abs("data_dir", &c.DataDir)
	if c.SpoolDir == "" {
		c.SpoolDir = filepath.Join(c.DataDir, "spool")
	}
	abs("spool_dir", &c.SpoolDir)
	if c.LibraryDir == "" {
		c.LibraryDir = filepath.Join(c.DataDir, "library")
	}
	abs("library_dir", &c.LibraryDir)
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	abs("master_key_file", &c.MasterKeyFile)
	if c.FreeSWITCH.RecordPath == "" {
		c.FreeSWITCH.RecordPath = filepath.Join(c.SpoolDir, "ondemand")
	}
	if len(c.FreeSWITCH.UserContexts) == 0 {
		c.FreeSWITCH.UserContexts = []string{"default"}
		if c.FreeSWITCH.UserContext != "" {
			c.FreeSWITCH.UserContexts = []string{c.FreeSWITCH.UserContext}
		}
	}
	abs("freeswitch.record_path", &c.FreeSWITCH.RecordPath)
	for i := range c.FreeSWITCH.Nodes {
		if c.FreeSWITCH.Nodes[i].Password == "" {
			c.FreeSWITCH.Nodes[i].Password = c.FreeSWITCH.InboundPassword
		}
	}
	return errors.Join(errs...)
}

func (c Config) validate() error {
	var errs []error
	for _, l := range []struct{ key, addr string }{{"http.listen", c.HTTP.Listen}, {"esl.listen", c.ESL.Listen}} {
		if err := checkHostPort(l.key, l.addr, true); err != nil {
			errs = append(errs, err)
		}
	}
	for i, n := range c.FreeSWITCH.Nodes {
		if err := checkHostPort(fmt.Sprintf("freeswitch.nodes[%d].addr", i), n.Addr, false); err != nil {
			errs = append(errs, err)
		}
	}
	for i, a := range c.ESL.Instances {
		if err := checkHostPort(fmt.Sprintf("esl.instances[%d]", i), a, false); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Library.Backend {
	case "", objstore.BackendDir:
	case objstore.BackendS3:
		if c.Library.S3.Bucket == "" {
			errs = append(errs, errors.New("library.s3.bucket: required with library.backend s3"))
		}
		if c.Library.PresignTTL < 0 || c.Library.PresignTTL > 7*24*time.Hour {
			errs = append(errs, fmt.Errorf("library.presign_ttl: %v: want 0 (stream) to 168h", c.Library.PresignTTL))
		}
	default:
		errs = append(errs, fmt.Errorf("library.backend: %q: want %s or %s", c.Library.Backend, objstore.BackendDir, objstore.BackendS3))
	}
	switch c.Store.Backend {
	case StoreBolt:
	case StorePostgres:
		if strings.TrimSpace(c.Store.Postgres.DSN) == "" {
			errs = append(errs, errors.New("store.postgres.dsn: required with store.backend postgres"))
		}
	default:
		errs = append(errs, fmt.Errorf("store.backend: %q: want %s or %s", c.Store.Backend, StoreBolt, StorePostgres))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout}, {"http.read_timeout", c.HTTP.ReadTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout}} {
		if d.v < time.Second || d.v > time.Hour {
			errs = append(errs, fmt.Errorf("%s: %v must be from 1s to 1h", d.key, d.v))
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"http.max_conns", c.HTTP.MaxConns}, {"http.max_conns_per_ip", c.HTTP.MaxConnsPerIP}, {"http.auth_failures_per_minute", c.HTTP.AuthFailures}} {
		if n.v < 1 || n.v > 1_000_000 {
			errs = append(errs, fmt.Errorf("%s: %d must be from 1 to 1000000", n.key, n.v))
		}
	}
	if c.HTTP.MaxConnsPerIP > c.HTTP.MaxConns {
		errs = append(errs, fmt.Errorf("http.max_conns_per_ip: %d is above http.max_conns %d", c.HTTP.MaxConnsPerIP, c.HTTP.MaxConns))
	}
	errs = append(errs, c.checkRanges()...)
	if err := c.Debug.check(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.checkStrings()...)
	if _, err := zerolog.ParseLevel(c.Log.Level); err != nil || c.Log.Level == "" {
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	if c.ESL.MaxConns <= 0 {
		errs = append(errs, fmt.Errorf("esl.max_conns: %d: must be at least 1", c.ESL.MaxConns))
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not auto, json or console", c.Log.Format))
	}
	if u := c.FreeSWITCH.UserContext; u != "" && !slices.Contains(c.FreeSWITCH.UserContexts, u) {
		errs = append(errs, fmt.Errorf("freeswitch.user_context: %q is not in freeswitch.user_contexts %v: set only freeswitch.user_contexts", u, c.FreeSWITCH.UserContexts))
	}
	for _, s := range []struct{ key, v string }{{"esl.route_context", c.ESL.RouteContext}, {"esl.transfer_context", c.ESL.TransferContext}} {
		if (s.v == "" && s.key != "esl.route_context") || strings.ContainsAny(s.v, " \t\r\n'\"<>&") {
			errs = append(errs, fmt.Errorf("%s: %q must be a plain context name", s.key, s.v))
		}
	}
	return errors.Join(errs...)
}

// dbPath is where the store lives.
func (c Config) dbPath() string { return filepath.Join(c.DataDir, "callrec.db") }

// audioBitrateWarnings tells the operator when audio.bitrate_kbps (per channel) is more than some
// recordings can be encoded at: 8 kHz WAVs are encoded at 8 kHz (MPEG-2.5) and 16 kHz ones at
// 16 kHz (MPEG-2), where shine fills at most 56 kbit/s per channel at 8 kHz and 112 mono / 80
// stereo at 16 kHz, so a higher setting is lowered for them (the nearest bitrate they carry). An
// earlier version took 8…160 for every rate, so the value still loads.
func audioBitrateWarnings(perChannel int) []string {
	if perChannel <= 0 {
		return nil // out of range: checkRanges reports it
	}
	var lowered []string
	for _, rate := range []int{8000, 16000} {
		for _, ch := range []int{1, 2} {
			got, err := audio.StreamBitrate(rate, ch, perChannel)
			if err == nil && got/ch < perChannel {
				lowered = append(lowered, fmt.Sprintf("%d kHz %s %d", rate/1000, map[int]string{1: "mono", 2: "stereo"}[ch], got/ch))
			}
		}
	}
	if len(lowered) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("audio.bitrate_kbps %d is more than some recordings can be encoded at; they get (kbit/s per channel): %s",
		perChannel, strings.Join(lowered, ", "))}
}
