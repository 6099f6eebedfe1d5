//go:build !race

// Built without -race like the other drills: the child serve process holds eslgo connections
// (README Known limits); .ci/run runs it in its non-race line.

package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store/postgres/pgtest"
)

// TestDrill_PostgreSQLDownMidLoad: a child `callrec serve` on a PostgreSQL store loses its
// database (every connection closed, new ones refused: a restart or a fail-over) for about 6 s
// while calls come and go. Calls recording when it goes, calls that start and end while it is
// away, and calls after it is back are all recorded: /readyz says 503 meanwhile and 200 after,
// and in the end every call has one ready recording that plays its talk, no job is left in the
// queue and no WAV in the spool; the API answers 503 with Retry-After while the database is
// away. Before, a recording that started while the database was away
// lost its WAV at its end (its row's commit had failed once) and later came back as a row with
// no audio.
func TestDrill_PostgreSQLDownMidLoad(t *testing.T) {
	const talk = 2 * time.Second
	dsn := pgtest.Database(t, pgtest.Options{})
	outage, through := pgtest.NewOutage(t, dsn)
	dir := t.TempDir()
	httpAddr, eslAddr := freeAddr(t), freeAddr(t)
	fs := drillFreeSWITCH(t, dir, eslAddr)
	cfg := writeYAML(t, dir, fmt.Sprintf(`
data_dir: %q
spool_dir: %q
library_dir: %q
bootstrap_token: crt_drill-platform-token-0123456789
store:
  backend: postgres
  postgres:
    dsn: %q
freeswitch:
  nodes:
    - addr: %q
      password: ClueCon
`, dir, filepath.Join(dir, "spool"), filepath.Join(dir, "library"), through, fs.InboundAddr()))
	c := startDrillCallrec(t, []string{"serve", "--config", cfg, "--http.listen", httpAddr, "--esl.listen", eslAddr, "--log.format", "json"}, nil)
	api := &apiClient{t: t, base: "http://" + httpAddr + "/api/v1", token: "crt_drill-platform-token-0123456789"}
	base := "http://" + httpAddr
	waitDrill(t, 30*time.Second, func() bool { return readyzStatus(base) == 200 }, "/readyz 200")
	seedDrillTenant(api)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	started := newRecordStarts(fs)
	var calls []*fstest.Call
	place := func(n int, tag string) []*fstest.Call {
		var out []*fstest.Call
		for i := 0; i < n; i++ {
			from := fmt.Sprintf("+34600%s%05d", tag, len(calls)+len(out))
			call, err := fs.Inbound(ctx, fstest.CallSpec{From: from, To: "+34911234567"})
			must(t, err)
			user, err := call.WaitAnswered(ctx, "1001")
			must(t, err)
			must(t, started.wait(ctx, call.A.UUID(), user.UUID()))
			out = append(out, call)
		}
		calls = append(calls, out...)
		return out
	}
	hangUp := func(cs []*fstest.Call) {
		time.Sleep(talk)
		for _, call := range cs {
			call.A.Hangup("NORMAL_CLEARING")
			_, err := call.A.WaitHangup(ctx)
			must(t, err)
		}
	}

	before := place(3, "1")
	time.Sleep(500 * time.Millisecond)
	outage.Cut()
	down := time.Now()
	waitDrill(t, 15*time.Second, func() bool { return readyzStatus(base) == 503 }, "/readyz 503 with the database away")
	// The API says so too: 503 with Retry-After, not 500.
	req, err := http.NewRequest("GET", api.base+"/recordings", nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+api.token)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("GET /recordings with the database away: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	hangUp(before) // their recordings stop while the database is away
	hangUp(place(3, "2"))
	time.Sleep(time.Until(down.Add(6 * time.Second)))
	outage.Restore()
	t.Logf("database away for %v", time.Since(down).Round(100*time.Millisecond))
	waitDrill(t, 30*time.Second, func() bool { return readyzStatus(base) == 200 }, "/readyz 200 once the database is back")
	hangUp(place(3, "3"))

	// The rows of the calls that ended while the database was away are finished by the
	// reconcile (every minute, once a WAV has been quiet for 30 s).
	waitDrill(t, 3*time.Minute, func() bool {
		ready := instanceRecordings(api, "ready")
		return len(ready) >= len(calls)
	}, "every recording ready")
	rows := instanceRecordings(api, "")
	byCall := map[string]instanceRecording{}
	for _, r := range rows {
		if _, twice := byCall[r.CallID]; twice {
			t.Errorf("call %s has two recordings", r.CallID)
		}
		byCall[r.CallID] = r
	}
	for i, call := range calls {
		r, ok := byCall[call.A.UUID()]
		switch {
		case !ok:
			t.Errorf("call %d (%s) has no recording", i, call.A.UUID())
		case r.State != "ready":
			t.Errorf("call %d: recording %s is %s (%s)", i, r.ID, r.State, r.Error)
		default:
			if d := api.playableMP3(r.ID, r.FileName); d < talk-200*time.Millisecond {
				t.Errorf("call %d: recording %s plays %v, want at least %v", i, r.ID, d, talk)
			}
		}
	}
	if len(rows) != len(calls) {
		t.Errorf("%d recordings for %d calls", len(rows), len(calls))
	}
	if wavs, _ := filepath.Glob(filepath.Join(dir, "spool", "*.wav")); len(wavs) != 0 {
		t.Errorf("%d WAVs left in the spool", len(wavs))
	}
	expectEmptyQueue(ctx, t, dsn)
	if left, _ := filepath.Glob(filepath.Join(dir, "postgres.intents", "*")); len(left) != 0 {
		t.Errorf("intents left: %v", left)
	}
	c.stop(t)
	if t.Failed() {
		t.Logf("callrec's log:\n%s", tail(c.stderr.String()))
	}
}
