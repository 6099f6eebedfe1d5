package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// receiver is an httptest server on 127.0.0.1 that keeps every request and answers with
// answer(n) for the n-th (1-based).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	n      atomic.Int32
	answer func(n int, w http.ResponseWriter)
}

type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) *receiver {
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: b, at: time.Now()})
		rc.mu.Unlock()
		n := int(rc.n.Add(1))
		if rc.answer != nil {
			rc.answer(n, w)
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

type world struct {
	db      *store.DB
	company *store.Company
	hook    *store.Webhook
	secret  string
}

// newWorld opens a store at path with a brand, a company and a webhook of url.
func newWorld(t *testing.T, path, url string) *world {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.Options{NoSync: true})
	must(t, err)
	b := &store.Brand{Name: "B"}
	must(t, db.CreateBrand(ctx, b))
	co := &store.Company{BrandID: b.ID, Name: "C"}
	must(t, db.CreateCompany(ctx, co))
	w := &store.Webhook{CompanyID: co.ID, URL: url, Active: true}
	secret, err := db.CreateWebhook(ctx, w)
	must(t, err)
	return &world{db: db, company: co, hook: w, secret: secret}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// recordingIn moves a new recording of the world's company to state (ready, failed or
// discarded) and returns its id.
func (w *world) recordingIn(t *testing.T, state string) string {
	t.Helper()
	ctx := context.Background()
	r := &store.Recording{CompanyID: w.company.ID, CallID: "call-" + state, Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, Caller: "+34600111222", Callee: "+34911234567"}
	must(t, w.db.CreateRecording(ctx, r))
	must(t, w.db.FinishRecording(ctx, r.ID, time.Now(), 1000, "/spool/"+r.ID+".wav"))
	switch state {
	case store.StateReady:
		j, err := w.db.ClaimJob(ctx, time.Minute)
		must(t, err)
		must(t, w.db.CompleteRecording(ctx, j.ID, store.RecordingResult{MP3Path: "/lib/a.mp3", DurationMS: 1000, FileSize: 10}))
	case store.StateFailed:
		must(t, w.db.FailRecording(ctx, r.ID, "encoder"))
	case store.StateDiscarded:
		must(t, w.db.DiscardRecording(ctx, r.ID, "silence"))
	}
	return r.ID
}

// run starts a dispatcher on the world's store (loopback allowed, fast poll, the given
// back-off) and stops it when the test ends.
func (w *world) run(t *testing.T, d *Dispatcher) {
	t.Helper()
	d.DB, d.AllowPrivateNetworks, d.Poll = w.db, true, 5*time.Millisecond
	d.Logger = zerolog.New(io.Discard)
	if d.Backoff == nil {
		d.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitFor polls cond for up to 30 s (generous: the machine is shared).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *world) deliveries(t *testing.T) []*store.Delivery {
	t.Helper()
	ds, _, err := w.db.WebhookDeliveries(context.Background(), w.hook.ID, "", 100)
	must(t, err)
	return ds
}

func (w *world) settled(t *testing.T, n int) func() bool {
	return func() bool {
		ds := w.deliveries(t)
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			if d.State == store.DeliveryPending {
				return false
			}
		}
		return true
	}
}

func TestDispatcher_DeliversReadyFailedDiscardedSigned(t *testing.T) {
	rc := newReceiver(t, nil)
	w := newWorld(t, filepath.Join(t.TempDir(), "c.db"), rc.srv.URL+"/hook?x=1")
	defer w.db.Close()
	ids := map[string]string{}
	for _, st := range []string{store.StateReady, store.StateFailed, store.StateDiscarded} {
		ids["recording."+st] = w.recordingIn(t, st)
	}
	w.run(t, &Dispatcher{})
	waitFor(t, "three deliveries", w.settled(t, 3))
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, r := range reqs {
		ev := r.header.Get(HeaderEvent)
		if err := Verify(w.secret, r.header.Get(HeaderSignature), r.body, time.Now(), 0); err != nil {
			t.Errorf("%s: signature %q: %v", ev, r.header.Get(HeaderSignature), err)
		}
		if err := Verify("whsec_wrong", r.header.Get(HeaderSignature), r.body, time.Now(), 0); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: verifies with a wrong secret: %v", ev, err)
		}
		var body struct {
			ID, Type  string
			CreatedAt time.Time `json:"created_at"`
			Data      store.Recording
		}
		must(t, json.Unmarshal(r.body, &body))
		if r.header.Get("Content-Type") != "application/json" || body.Type != ev || body.ID != r.header.Get(HeaderDelivery) ||
			body.Data.ID != ids[ev] || body.Data.State != strings.TrimPrefix(ev, "recording.") || body.CreatedAt.IsZero() {
			t.Errorf("request %v %s", r.header, r.body)
		}
	}
	for _, d := range w.deliveries(t) {
		if d.State != store.DeliveryDelivered || d.Attempts != 1 || d.LastStatus != 200 || d.DeliveredAt == nil {
			t.Errorf("delivery %+v", d)
		}
	}
}

func TestDispatcher_RetriesA500ThenDelivers(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			http.Error(w, strings.Repeat("stack trace ", 1000), http.StatusInternalServerError)
		}
	})
	w := newWorld(t, filepath.Join(t.TempDir(), "c.db"), rc.srv.URL)
	defer w.db.Close()
	w.recordingIn(t, store.StateReady)
	var waits []int
	var mu sync.Mutex
	w.run(t, &Dispatcher{Backoff: func(n int) time.Duration {
		mu.Lock()
		waits = append(waits, n)
		mu.Unlock()
		return time.Millisecond
	}})
	waitFor(t, "the retry", w.settled(t, 1))
	d := w.deliveries(t)[0]
	if d.State != store.DeliveryDelivered || d.Attempts != 2 || d.LastStatus != 200 || d.LastError != "" {
		t.Errorf("delivery %+v", d)
	}
	reqs := rc.requests()
	if len(reqs) != 2 || string(reqs[0].body) != string(reqs[1].body) || reqs[0].header.Get(HeaderDelivery) != reqs[1].header.Get(HeaderDelivery) {
		t.Errorf("the retry is not the same delivery: %d requests", len(reqs))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 1 || waits[0] != 1 {
		t.Errorf("back-off asked for attempts %v, want [1]", waits)
	}
}

func TestDispatcher_FailsAfterTheLastAttemptAndLogsIt(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	w := newWorld(t, filepath.Join(t.TempDir(), "c.db"), rc.srv.URL)
	defer w.db.Close()
	w.recordingIn(t, store.StateFailed)
	w.run(t, &Dispatcher{MaxAttempts: 3})
	waitFor(t, "the delivery to fail", w.settled(t, 1))
	d := w.deliveries(t)[0]
	if d.State != store.DeliveryFailed || d.Attempts != 3 || d.LastStatus != 503 || d.LastError != "HTTP 503" || d.NextAttemptAt != nil {
		t.Errorf("delivery %+v", d)
	}
	if n := len(rc.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// An event committed by a process that was then killed before delivering it (a claimed,
// unfinished attempt included) is delivered by the next process.
func TestDispatcher_DeliversAfterAKillBeforeDelivery(t *testing.T) {
	rc := newReceiver(t, nil)
	path := filepath.Join(t.TempDir(), "c.db")
	w := newWorld(t, path, rc.srv.URL)
	id := w.recordingIn(t, store.StateDiscarded)
	if _, _, err := w.db.ClaimDelivery(context.Background(), time.Hour); err != nil { // the killed process's attempt, its lease far from over
		t.Fatal(err)
	}
	must(t, w.db.Close()) // what was committed is all that survives a SIGKILL
	db, err := store.Open(context.Background(), path, store.Options{NoSync: true})
	must(t, err)
	defer db.Close()
	w.db = db
	w.run(t, &Dispatcher{})
	waitFor(t, "the delivery after restart", w.settled(t, 1))
	reqs := rc.requests()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].body), id) {
		t.Fatalf("requests %v", reqs)
	}
	if d := w.deliveries(t)[0]; d.Attempts != 2 || d.State != store.DeliveryDelivered {
		t.Errorf("delivery %+v", d)
	}
}

// A receiver that answers a huge body or never answers cannot hold a worker: the first is
// read to MaxResponseRead and delivered, the second times out and is retried.
func TestDispatcher_SurvivesHugeAndSlowReceivers(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := newReceiver(t, func(_ int, w http.ResponseWriter) { <-release })
	huge := newReceiver(t, func(_ int, w http.ResponseWriter) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1600 { // 100 MB unless the client stops reading
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	w := newWorld(t, filepath.Join(t.TempDir(), "c.db"), huge.srv.URL)
	defer w.db.Close()
	slowHook := &store.Webhook{CompanyID: w.company.ID, URL: slow.srv.URL, Active: true}
	_, err := w.db.CreateWebhook(context.Background(), slowHook)
	must(t, err)
	w.recordingIn(t, store.StateReady)
	w.run(t, &Dispatcher{Timeout: 300 * time.Millisecond, MaxAttempts: 2})
	waitFor(t, "the huge answer's delivery", w.settled(t, 1))
	if d := w.deliveries(t)[0]; d.State != store.DeliveryDelivered {
		t.Errorf("huge: %+v", d)
	}
	waitFor(t, "the slow receiver's delivery to fail", func() bool {
		ds, _, err := w.db.WebhookDeliveries(context.Background(), slowHook.ID, "", 10)
		must(t, err)
		return len(ds) == 1 && ds[0].State == store.DeliveryFailed
	})
	ds, _, _ := w.db.WebhookDeliveries(context.Background(), slowHook.ID, "", 10)
	if !strings.Contains(ds[0].LastError, "timeout") || ds[0].Attempts != 2 || ds[0].LastStatus != 0 {
		t.Errorf("slow: %+v", ds[0])
	}
}

func TestSend_RefusesNonPublicAddressesAtConnect(t *testing.T) {
	rc := newReceiver(t, nil)
	hook := &store.Webhook{Secret: "whsec_x"}
	dl := &store.Delivery{ID: "d", Event: store.EventPing, Payload: []byte(`{}`)}
	for _, c := range []struct {
		url          string
		allowPrivate bool
		refused      bool
	}{
		{"http://10.0.0.1/hook", false, true},
		{"http://169.254.169.254/latest/meta-data/", false, true},
		{"http://[::1]:9/hook", false, true},
		{"http://[::ffff:127.0.0.1]:9/hook", false, true},
		{"http://0.0.0.0:9/hook", false, true},
		{rc.srv.URL, false, true},                                               // 127.0.0.1
		{strings.Replace(rc.srv.URL, "127.0.0.1", "localhost", 1), false, true}, // a name resolving to loopback
		{rc.srv.URL, true, false},
	} {
		hook.URL = c.url
		_, err := Send(context.Background(), NewClient(2*time.Second, c.allowPrivate), 2*time.Second, hook, dl, time.Now())
		if got := errors.Is(err, ErrRefusedAddress); got != c.refused {
			t.Errorf("%s (allow private %v): %v, refused %v", c.url, c.allowPrivate, err, c.refused)
		}
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("the receiver got %d requests, want only the allowed one", n)
	}
}

func TestSend_DoesNotFollowRedirects(t *testing.T) {
	target := newReceiver(t, nil)
	redirect := newReceiver(t, func(_ int, w http.ResponseWriter) {
		w.Header().Set("Location", target.srv.URL)
		w.WriteHeader(http.StatusFound)
	})
	hook := &store.Webhook{Secret: "whsec_x", URL: redirect.srv.URL}
	status, err := Send(context.Background(), NewClient(2*time.Second, true), 2*time.Second, hook,
		&store.Delivery{ID: "d", Event: store.EventPing, Payload: []byte(`{}`)}, time.Now())
	if status != http.StatusFound || err == nil || len(target.requests()) != 0 {
		t.Errorf("status %d err %v, target got %d", status, err, len(target.requests()))
	}
}

func TestNonPublic(t *testing.T) {
	for _, c := range []struct{ ip, why string }{
		{"8.8.8.8", ""}, {"2001:4860:4860::8888", ""},
		{"127.0.0.1", "loopback"}, {"::1", "loopback"}, {"10.1.2.3", "private"}, {"172.16.0.1", "private"},
		{"192.168.1.1", "private"}, {"100.64.0.1", "private"}, {"fd00::1", "private"},
		{"169.254.169.254", "link-local"}, {"fe80::1", "link-local"}, {"224.0.0.1", "multicast"}, {"ff02::1", "multicast"},
		{"0.0.0.0", "unspecified"}, {"::", "unspecified"}, {"0.1.2.3", "unspecified"}, {"::ffff:10.0.0.1", "private"},
	} {
		if got := NonPublic(netip.MustParseAddr(c.ip)); got != c.why {
			t.Errorf("NonPublic(%s) = %q, want %q", c.ip, got, c.why)
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"d","type":"ping"}`)
	sig := Sign("whsec_s", now, body)
	for _, c := range []struct {
		name, secret, header string
		body                 []byte
		at                   time.Time
		want                 error
	}{
		{"valid", "whsec_s", sig, body, now.Add(time.Minute), nil},
		{"tampered body", "whsec_s", sig, []byte(`{"id":"d","type":"pong"}`), now, ErrBadSignature},
		{"wrong secret", "whsec_t", sig, body, now, ErrBadSignature},
		{"replayed later", "whsec_s", sig, body, now.Add(6 * time.Minute), ErrStale},
		{"no v1", "whsec_s", "t=1800000000", body, now, ErrBadSignature},
		{"garbage", "whsec_s", "nonsense", body, now, ErrBadSignature},
	} {
		if err := Verify(c.secret, c.header, c.body, c.at, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if !strings.HasPrefix(sig, "t=1800000000,v1=") || len(sig) != len("t=1800000000,v1=")+64 {
		t.Errorf("signature %q", sig)
	}
}

func TestExpBackoff_TenAttemptsSpanAboutADay(t *testing.T) {
	var total time.Duration
	for n := 1; n < DefaultMaxAttempts; n++ {
		total += ExpBackoff(DefaultBackoffBase, DefaultBackoffMax, n)
	}
	if ExpBackoff(DefaultBackoffBase, DefaultBackoffMax, 1) != 30*time.Second || ExpBackoff(DefaultBackoffBase, DefaultBackoffMax, 20) != 6*time.Hour ||
		total < 12*time.Hour || total > 30*time.Hour {
		t.Errorf("schedule total %s", total)
	}
	for range 100 {
		if j := Jitter(time.Minute); j < 48*time.Second || j > 72*time.Second {
			t.Fatalf("jitter %s", j)
		}
	}
}

// A receiver that keeps failing never makes the dispatcher unhealthy; a store it cannot read
// does, and that is reported through Health.
func TestDispatcher_HealthIsDownOnlyWhenTheStoreFails(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) })
	w := newWorld(t, filepath.Join(t.TempDir(), "c.db"), rc.srv.URL)
	w.recordingIn(t, store.StateReady)
	var mu sync.Mutex
	var downs []error
	w.run(t, &Dispatcher{MaxAttempts: 2, Health: func(err error) {
		if err != nil {
			mu.Lock()
			downs = append(downs, err)
			mu.Unlock()
		}
	}})
	waitFor(t, "the delivery to fail", w.settled(t, 1))
	mu.Lock()
	n := len(downs)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("a failing receiver made the dispatcher down: %v", downs)
	}
	must(t, w.db.Close()) // the store goes away under the dispatcher
	waitFor(t, "the dispatcher to report the store", func() bool { mu.Lock(); defer mu.Unlock(); return len(downs) > 0 })
}
