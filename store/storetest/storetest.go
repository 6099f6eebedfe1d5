// Package storetest is the conformance suite of store.Store (issue 16: "one test suite runs
// against both"): the behaviour the doc comments of *store.DB's methods promise, checked through
// the interface only, so that the bbolt store (the reference) and the PostgreSQL store are held
// to one contract. Each backend's tests call Run with a function that opens a fresh store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store { ... })
//	}
//
// Cases that need something only one backend can do (a file path, a backup, releasing every
// lease at start-up, reaching into its rows) are not here; they stay in the backends' own tests.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// Options is what a case asks of the store it opens; the opener passes each field to its
// backend's own Options (both store.Options and postgres.Options have these).
type Options struct {
	// Now is the store's clock: the suite pins it and moves it by hand, so leases, due times
	// and expiries are tested without sleeping. The opener must use it as Options.Now.
	Now func() time.Time
	// DefaultCountry reads numbers given in national form (always "ES" in the suite).
	DefaultCountry string
}

// Opener opens a fresh, empty, migrated store configured with o, and closes it at t's
// cleanup. It fails t (t.Fatal) when the store cannot be opened.
type Opener func(t *testing.T, o Options) store.Store

// Run runs every case of the suite as a subtest of t, each on a store of its own from open.
// Call it from a backend's test (one Test function per backend). Cases run sequentially; a
// failure names the case and the contract it checks.
func Run(t *testing.T, open Opener) {
	t.Helper()
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newEnv(t, open)) })
	}
}

// suiteCase is one behaviour of the contract.
type suiteCase struct {
	name string
	fn   func(t *testing.T, e *env)
}

// cases lists every case, grouped as store.Store groups its methods; each file of the package
// has its group.
func cases() []suiteCase {
	var out []suiteCase
	for _, g := range [][]suiteCase{adminCases(), tokenCases(), recordingCases(), listCases(), holdCases(),
		queueCases(), webhookCases(), auditCases(), searchCases(), extraCases()} {
		out = append(out, g...)
	}
	return out
}

// epoch is where every case's clock starts: a whole second, so that times survive PostgreSQL's
// microsecond precision unchanged.
func epoch() time.Time { return time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC) }

// clock is a settable clock, safe for concurrent use (the stores read it from their own
// goroutines).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time (the stores' Options.Now). Any goroutine may call it.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d and returns the new time. Any goroutine may call it.
func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// env is one case's store, clock and context.
type env struct {
	s   store.Store
	clk *clock
	ctx context.Context
}

func newEnv(t *testing.T, open Opener) *env {
	t.Helper()
	clk := &clock{t: epoch()}
	s := open(t, Options{Now: clk.Now, DefaultCountry: "ES"})
	if s == nil {
		t.Fatal("opener returned a nil store")
	}
	return &env{s: s, clk: clk, ctx: t.Context()}
}

// tenant is a brand (with a sip_domain) and one company with one DDI and one user.
type tenant struct {
	brand   *store.Brand
	company *store.Company
	ddi     *store.DDI
	user    *store.User
}

// tenant creates tenant n (a digit: it makes the names, numbers and codes distinct).
func (e *env) tenant(t *testing.T, n int) tenant {
	t.Helper()
	tn := tenant{brand: &store.Brand{Name: fmt.Sprintf("Brand %d", n), SIPDomain: fmt.Sprintf("pbx%d.example.com", n)}}
	must(t, e.s.CreateBrand(e.ctx, tn.brand))
	tn.company = &store.Company{BrandID: tn.brand.ID, Name: fmt.Sprintf("Company %d", n), OnDemand: store.OnDemandKeyDTMF, OnDemandCode: fmt.Sprintf("*7%d", n)}
	must(t, e.s.CreateCompany(e.ctx, tn.company))
	tn.ddi = &store.DDI{CompanyID: tn.company.ID, Number: fmt.Sprintf("+3491123456%d", n), RecordCalls: store.RecordAll}
	must(t, e.s.CreateDDI(e.ctx, tn.ddi))
	tn.user = &store.User{CompanyID: tn.company.ID, Name: "Alice", Extension: fmt.Sprintf("10%d", n), SIPUser: fmt.Sprintf("alice%d", n), Email: "alice@example.com"}
	must(t, e.s.CreateUser(e.ctx, tn.user))
	return tn
}

// company creates a bare company (no DDI, no user) of brandID.
func (e *env) company(t *testing.T, brandID, name string) *store.Company {
	t.Helper()
	c := &store.Company{BrandID: brandID, Name: name}
	must(t, e.s.CreateCompany(e.ctx, c))
	return c
}

// newRecording is an inbound DDI recording of companyID started at at (zero: the store's now).
func newRecording(companyID string, at time.Time) *store.Recording {
	return &store.Recording{CompanyID: companyID, CallID: "call-1", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, Recorder: "+34911234567", Caller: "+34600111222", Callee: "+34911234567", StartedAt: at}
}

// recording creates r and returns it (filled by CreateRecording).
func (e *env) recording(t *testing.T, r *store.Recording) *store.Recording {
	t.Helper()
	must(t, e.s.CreateRecording(e.ctx, r))
	return r
}

// processing creates a recording of companyID and finishes it: it is processing with a job.
func (e *env) processing(t *testing.T, companyID string) *store.Recording {
	t.Helper()
	r := e.recording(t, newRecording(companyID, time.Time{}))
	must(t, e.s.FinishRecording(e.ctx, r.ID, e.clk.Now(), 1000, "/spool/"+r.ID+".wav"))
	return r
}

// claim claims the next job and fails t unless it belongs to recording wantRec ("" = any).
func (e *env) claim(t *testing.T, lease time.Duration, wantRec string) *store.Job {
	t.Helper()
	j, err := e.s.ClaimJob(e.ctx, lease)
	must(t, err)
	if wantRec != "" && j.RecordingID != wantRec {
		t.Fatalf("ClaimJob claimed the job of recording %s, want %s's", j.RecordingID, wantRec)
	}
	return j
}

// ready takes a recording of companyID through finish, claim and complete, with res.
func (e *env) ready(t *testing.T, companyID string, res store.RecordingResult) *store.Recording {
	t.Helper()
	r := e.processing(t, companyID)
	j := e.claim(t, time.Minute, r.ID)
	must(t, e.s.CompleteRecording(e.ctx, j.ID, res))
	got, err := e.s.Recording(e.ctx, r.ID)
	must(t, err)
	return got
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode fails t unless err is a *store.Error with code and field.
func wantCode(t *testing.T, err error, code, field string) {
	t.Helper()
	if store.ErrorCode(err) != code || store.ErrorField(err) != field {
		t.Fatalf("error %v: code %q field %q, want %q %q", err, store.ErrorCode(err), store.ErrorField(err), code, field)
	}
}

// checkCode is wantCode that lets the case go on.
func checkCode(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	if store.ErrorCode(err) != code || store.ErrorField(err) != field {
		t.Errorf("%s: error %v: code %q field %q, want %q %q", what, err, store.ErrorCode(err), store.ErrorField(err), code, field)
	}
}

// ids returns the ids of rs in order.
func ids(rs []*store.Recording) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
