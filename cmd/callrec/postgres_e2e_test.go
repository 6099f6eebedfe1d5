package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
	"github.com/callrec/callrec/health"
	"github.com/callrec/callrec/store/postgres/pgtest"
)

// TestServe_EndToEnd_StoreOnPostgreSQL is two `callrec serve` instances with store.backend
// postgres on one real PostgreSQL database, configured as README "Running more than one
// callrec" says (shared library_dir, spool and master key file, a data_dir each): the first
// prints the bootstrap token and the second does not make another; the token works on both;
// what is configured through the first reaches the second's call path, which records a DDI call
// that the first lists and plays; both publish one archive signing key; /backup refuses with a
// pointer to pg_dump; and an instance given another master key file refuses to start (exit 1)
// and leaves no new key behind.
func TestServe_EndToEnd_StoreOnPostgreSQL(t *testing.T) {
	dsn := pgtest.Database(t, pgtest.Options{})
	shared := t.TempDir()
	config := func(masterKey string) string {
		return `
store:
  backend: postgres
  postgres:
    dsn: "` + dsn + `"
library_dir: ` + filepath.Join(shared, "library") + `
spool_dir: ` + filepath.Join(shared, "spool") + `
master_key_file: ` + masterKey + `
freeswitch:
  nodes: []
`
	}
	common := config(filepath.Join(shared, "master.key"))
	start := func(name string) *servedCallrec {
		dir := filepath.Join(t.TempDir(), name)
		must(t, os.MkdirAll(dir, 0o700))
		return startServe(t, "--config", writeYAML(t, dir, common), "--data_dir", dir,
			"--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json")
	}
	a := start("a")
	if a.api.token == "" {
		t.Fatal("the first instance printed no bootstrap token")
	}
	b := start("b")
	if b.api.token != "" {
		t.Fatalf("the second instance made another bootstrap token %q: one deployment, one bootstrap", b.api.token)
	}
	b.api.token = a.api.token
	for _, in := range []*servedCallrec{a, b} {
		waitUntil(t, func() bool { return readyzStatus(in.base) == 200 }, "/readyz 200 (the store's listener and liveness lock up)")
	}

	brand := a.api.create("brands", map[string]any{"name": "Brand"})
	company := a.api.create("companies", map[string]any{"brand_id": brand, "name": "Acme"})
	a.api.create("ddis", map[string]any{"company_id": company, "number": "+34 911 234 567", "record_calls": "inbound"})
	a.api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})
	var companies struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	b.api.get("/companies", &companies)
	if len(companies.Items) != 1 || companies.Items[0].ID != company {
		t.Fatalf("companies through the second instance: %+v", companies.Items)
	}

	// FreeSWITCH hands the call to the second instance, which learnt the DDI from the first.
	fs := renderedFreeSWITCH(t, fsconf.Options{ESLListen: b.esl, RecordPath: filepath.Join(shared, "spool", "ondemand"), InboundPassword: "ClueCon"},
		operatorBridge(`^\+34911234567$`, "1001"), fstest.Options{Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}}})
	rec := placeRecordedInboundCall(t, fs, b.api, "+34911234567", 3*time.Second)
	if rec.Type != "ddi" {
		t.Fatalf("recording %+v, want the DDI's", rec)
	}
	if d := a.api.playableMP3(rec.ID, rec.FileName); d < 2900*time.Millisecond || d > 3700*time.Millisecond {
		t.Fatalf("MP3 played through the first instance: duration %v", d)
	}

	var ka, kb struct {
		KeyID string `json:"key_id"`
	}
	a.api.get("/signing-key", &ka)
	b.api.get("/signing-key", &kb)
	if ka.KeyID == "" || ka.KeyID != kb.KeyID {
		t.Fatalf("archive signing keys %q and %q: every instance must sign with the deployment's key", ka.KeyID, kb.KeyID)
	}
	if status, body := a.api.raw("GET", "/backup"); status != 403 || !strings.Contains(string(body), "pg_dump") {
		t.Fatalf("/backup on PostgreSQL: %d %s", status, body)
	}

	other := filepath.Join(t.TempDir(), "other.key")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	err := run(ctx, []string{"serve", "--config", writeYAML(t, dir, config(other)), "--data_dir", dir,
		"--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}, nil, &syncBuffer{}, &syncBuffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !errors.Is(err, errOtherMasterKey) {
		t.Fatalf("serve with another master key file: %v, want exit 1 (%v)", err, errOtherMasterKey)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused instance left the master key file it made: %v", err)
	}
}

// TestSharedStore_ReadyzFollowsTheLivenessLock: on a shared store /readyz's part "store" is up
// while the instance holds its liveness lock and its rule-change listener is connected, and down,
// naming the lock, once the lock is gone (the other instances may take its calls over then).
func TestSharedStore_ReadyzFollowsTheLivenessLock(t *testing.T) {
	dsn := pgtest.Database(t, pgtest.Options{})
	cfg := Config{DataDir: t.TempDir(), Store: StoreConfig{Backend: StorePostgres, Postgres: PostgresConfig{DSN: dsn}}}
	st, err := openStore(context.Background(), cfg, zerolog.Nop())
	must(t, err)
	t.Cleanup(func() { st.Close() })
	parts := health.New()
	lockCtx, dropLock := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	must(t, st.runInstance(lockCtx, &wg))
	watchCtx, stopWatch := context.WithCancel(context.Background())
	wg.Add(1)
	go func() { defer wg.Done(); st.watch(watchCtx, parts) }()
	defer func() { stopWatch(); dropLock(); wg.Wait() }()
	storeProblem := func() string {
		for _, p := range parts.Problems() {
			if p.Part == health.Store {
				return p.Reason
			}
		}
		return ""
	}
	waitUntil(t, func() bool { return st.shared.RulesListening() && storeProblem() == "" }, "store part up")
	dropLock()
	waitUntil(t, func() bool { return strings.Contains(storeProblem(), "liveness lock") }, "store part down naming the liveness lock")
}

// readyzStatus is the status of GET base/readyz (0 when it does not answer).
func readyzStatus(base string) int {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
