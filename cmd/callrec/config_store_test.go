package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestConfig_Store: store.backend defaults to the embedded bbolt file; postgres needs a dsn,
// which the environment may give; any other backend, or an unknown key, stops start-up naming
// the key.
func TestConfig_Store(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        []string
		check      func(StoreConfig) bool
		err        string // "" = loads
	}{
		{"default", "", nil, func(s StoreConfig) bool { return s.Backend == StoreBolt && s.Postgres.DSN == "" }, ""},
		{"postgres", "store:\n  backend: postgres\n  postgres:\n    dsn: postgres://callrec@db1/callrec\n", nil,
			func(s StoreConfig) bool {
				return s.Backend == StorePostgres && s.Postgres.DSN == "postgres://callrec@db1/callrec"
			}, ""},
		{"environment", "", []string{"CALLREC_STORE__BACKEND=postgres", "CALLREC_STORE__POSTGRES__DSN=host=db1 dbname=callrec"},
			func(s StoreConfig) bool {
				return s.Backend == StorePostgres && s.Postgres.DSN == "host=db1 dbname=callrec"
			}, ""},
		{"postgres without dsn", "store:\n  backend: postgres\n", nil, nil, "store.postgres.dsn"},
		{"blank dsn", "store:\n  backend: postgres\n  postgres:\n    dsn: '  '\n", nil, nil, "store.postgres.dsn"},
		{"unknown backend", "store:\n  backend: sqlite\n", nil, nil, "store.backend"},
		{"unknown key", "store:\n  postgres:\n    url: x\n", nil, nil, "store.postgres.url"},
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
			case tc.err == "" && !tc.check(cfg.Store):
				t.Errorf("store %+v", cfg.Store)
			}
		})
	}
}

// TestBackup_RefusesAPostgreSQLStore: `callrec backup` copies the embedded store only; with
// store.backend postgres it says to use the database's own tools and writes nothing.
func TestBackup_RefusesAPostgreSQLStore(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "copy.db")
	err := run(context.Background(), []string{"backup", "--data_dir", dir, target},
		[]string{"CALLREC_STORE__BACKEND=postgres", "CALLREC_STORE__POSTGRES__DSN=host=127.0.0.1 port=1"}, &syncBuffer{}, &syncBuffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("backup on postgres: %v, want exit 2 naming pg_dump", err)
	}
	if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("backup wrote %s: %v", target, err)
	}
}
