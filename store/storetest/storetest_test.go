package storetest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/store/storetest"
)

// envMutant names the mutant TestMutantChild runs the suite against (set by TestSuiteCatches
// for its child process only).
const envMutant = "STORETEST_MUTANT"

// openBolt is the reference opener: a bbolt store in t's temporary directory.
func openBolt(t *testing.T, o storetest.Options) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "callrec.db"),
		store.Options{Now: o.Now, DefaultCountry: o.DefaultCountry, NoSync: true, MaxBatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Mutants: the bbolt store with one promise of the contract broken, each a bug a backend could
// plausibly have. The suite must fail on every one of them.

// leaseless claims jobs with no lease: a claimed job is claimable again at once.
type leaseless struct{ store.Store }

func (s leaseless) ClaimJob(ctx context.Context, _ time.Duration) (*store.Job, error) {
	return s.Store.ClaimJob(ctx, 0)
}

// oldestFirst returns each listing page in the wrong order.
type oldestFirst struct{ store.Store }

func (s oldestFirst) ListRecordings(ctx context.Context, f store.RecordingFilter) ([]*store.Recording, store.Cursor, error) {
	page, next, err := s.Store.ListRecordings(ctx, f)
	for i, j := 0, len(page)-1; i < j; i, j = i+1, j-1 {
		page[i], page[j] = page[j], page[i]
	}
	return page, next, err
}

// unscoped ignores the company of a listing.
type unscoped struct{ store.Store }

func (s unscoped) ListRecordings(ctx context.Context, f store.RecordingFilter) ([]*store.Recording, store.Cursor, error) {
	f.CompanyID = ""
	return s.Store.ListRecordings(ctx, f)
}

// staleRules serves the snapshot of the moment it was opened.
type staleRules struct {
	store.Store
	first *store.Rules
}

func (s staleRules) Rules() *store.Rules { return s.first }

// holdBreaker releases the company's holds before deleting a recording.
type holdBreaker struct{ store.Store }

func (s holdBreaker) DeleteRecording(ctx context.Context, id string) (*store.Recording, error) {
	if r, err := s.Store.Recording(ctx, id); err == nil {
		hs, _ := s.Store.Holds(ctx, []string{r.CompanyID}, true)
		for _, h := range hs {
			s.Store.ReleaseHold(ctx, h.ID, "mutant")
		}
	}
	return s.Store.DeleteRecording(ctx, id)
}

// holdDropper deletes a company's active holds with it, as if they were history.
type holdDropper struct{ store.Store }

func (s holdDropper) DeleteCompany(ctx context.Context, id string) error {
	hs, _ := s.Store.Holds(ctx, []string{id}, true)
	for _, h := range hs {
		s.Store.ReleaseHold(ctx, h.ID, "mutant")
	}
	return s.Store.DeleteCompany(ctx, id)
}

// fieldless answers a DDI conflict without naming the field.
type fieldless struct{ store.Store }

func (s fieldless) CreateDDI(ctx context.Context, d *store.DDI) error {
	err := s.Store.CreateDDI(ctx, d)
	if store.ErrorCode(err) == store.ECONFLICT {
		return store.Conflict("", "taken")
	}
	return err
}

// unchained appends audit entries with no link to their predecessor.
type unchained struct{ store.Store }

func (s unchained) AppendAudit(ctx context.Context, entries ...*store.AuditEntry) error {
	for _, e := range entries {
		if err := s.Store.AppendAudit(ctx, e); err != nil {
			return err
		}
		e.PrevHash = ""
	}
	return nil
}

// mutant is a broken store and the case that must catch it.
type mutant struct {
	wrap      func(s store.Store) store.Store
	caughtBy  string // the case's name below TestMutantChild
	caughtMsg string // what its failure says
}

// mutants maps each mutant's name to it.
func mutants() map[string]mutant {
	return map[string]mutant{
		"leaseless":   {func(s store.Store) store.Store { return leaseless{s} }, "Queue/LeasesRetriesAndExpiry", "ClaimJob claimed the job of recording"},
		"oldestFirst": {func(s store.Store) store.Store { return oldestFirst{s} }, "List/KeysetPages", "not newest first"},
		"unscoped":    {func(s store.Store) store.Store { return unscoped{s} }, "List/KeysetPages", "pages of 1 = "},
		"staleRules": {func(s store.Store) store.Store { return staleRules{s, s.Rules()} },
			"Admin/RulesReadYourWrites", "not in the Rules snapshot"},
		"holdBreaker": {func(s store.Store) store.Store { return holdBreaker{s} }, "Holds/EachKindRefusesDeletionUntilReleased", "DeleteRecording of a held recording"},
		"holdDropper": {func(s store.Store) store.Store { return holdDropper{s} },
			"Admin/DeleteCompanyRefusedWithDependants/an_active_legal_hold", `want "conflict" "hold"`},
		"fieldless": {func(s store.Store) store.Store { return fieldless{s} }, "Admin/DDIs", `want "conflict" "number"`},
		"unchained": {func(s store.Store) store.Store { return unchained{s} }, "Audit/AppendPageVerify", "linked to"},
	}
}

// TestMutantChild runs the suite against the mutant envMutant names; it is skipped unless
// TestSuiteCatches started this process to run it.
func TestMutantChild(t *testing.T) {
	name := os.Getenv(envMutant)
	if name == "" {
		t.Skip("run by TestSuiteCatches only")
	}
	m, ok := mutants()[name]
	if !ok && name != "none" {
		t.Fatalf("unknown mutant %q", name)
	}
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		var s store.Store = openBolt(t, o)
		if ok {
			s = m.wrap(s)
		}
		return s
	})
}

// TestSuiteCatches proves the suite can fail: each mutant of the reference store, run in a
// child process, fails the case meant to catch it, while the unmutated store passes that case.
func TestSuiteCatches(t *testing.T) {
	if os.Getenv(envMutant) != "" {
		t.Skip("inside a child")
	}
	run := func(t *testing.T, mutant, pattern string) (string, bool) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMutantChild$/"+pattern, "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), envMutant+"="+mutant)
		out, err := cmd.CombinedOutput()
		if _, exited := err.(*exec.ExitError); err != nil && !exited {
			t.Fatalf("child: %v", err)
		}
		return string(out), err == nil
	}
	for name, m := range mutants() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pattern := levels(m.caughtBy)
			if out, passed := run(t, "none", pattern); !passed || !strings.Contains(out, "--- PASS: TestMutantChild/"+m.caughtBy) {
				t.Fatalf("the reference store does not pass %s:\n%s", m.caughtBy, out)
			}
			out, passed := run(t, name, pattern)
			if passed || !strings.Contains(out, "--- FAIL: TestMutantChild/"+m.caughtBy) || !strings.Contains(out, m.caughtMsg) {
				t.Fatalf("mutant %s not caught by %s (want a failure saying %q):\n%s", name, m.caughtBy, m.caughtMsg, out)
			}
		})
	}
}

// levels turns a case name into a -run pattern matching exactly it, level by level.
func levels(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + p + "$"
	}
	return strings.Join(parts, "/")
}
