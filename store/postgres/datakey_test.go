package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/envelope"
	"github.com/callrec/callrec/store"
)

// keyStore is what this package's data-key tests ask of *DB: the data-key part of store.Store,
// so a signature drifting from the interface fails to compile here.
type keyStore interface {
	NewDataKeyID() string
	AddDataKey(ctx context.Context, k *store.DataKey) error
	CurrentDataKey(ctx context.Context, companyID string) (*store.DataKey, error)
	DataKeys(ctx context.Context, companyID string) ([]*store.DataKey, error)
	FindDataKey(ctx context.Context, companyID, id string) (*store.DataKey, error)
	MasterKeysInUse(ctx context.Context) (map[string]bool, error)
	RewrapDataKeys(ctx context.Context, rewrap func(k *store.DataKey) (masterKeyID string, wrapped []byte, err error)) (int, error)
}

var _ keyStore = (*DB)(nil)

// waitLockWaiter waits until some other session of db's database waits on a lock (a table,
// row or advisory lock): the call a test started in the background has reached the lock.
func waitLockWaiter(t *testing.T, db *DB, what string) {
	t.Helper()
	waitFor(t, what, func() bool {
		var waiting bool
		must(t, db.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid())`).Scan(&waiting))
		return waiting
	})
}

func mustDataKey(t testing.TB, db *DB, companyID, master string) *store.DataKey {
	t.Helper()
	k := &store.DataKey{ID: db.NewDataKeyID(), CompanyID: companyID, MasterKeyID: master, Wrapped: []byte("wrapped:" + master)}
	must(t, db.AddDataKey(context.Background(), k))
	return k
}

// TestAddDataKey_Refuses: what store.DB.AddDataKey refuses, with its codes; nothing is stored.
func TestAddDataKey_Refuses(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		key   store.DataKey
		code  string
		field string
	}{
		{"no id", store.DataKey{CompanyID: tn.companyID, MasterKeyID: "m1", Wrapped: []byte("w")}, store.EINVALID, "data_key"},
		{"no wrapped key", store.DataKey{ID: "dk_x", CompanyID: tn.companyID, MasterKeyID: "m1"}, store.EINVALID, "data_key"},
		{"no master key id", store.DataKey{ID: "dk_x", CompanyID: tn.companyID, Wrapped: []byte("w")}, store.EINVALID, "data_key"},
		{"no such company", store.DataKey{ID: "dk_x", CompanyID: "nope", MasterKeyID: "m1", Wrapped: []byte("w")}, store.ENOTFOUND, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := c.key
			err := db.AddDataKey(ctx, &k)
			if store.ErrorCode(err) != c.code || store.ErrorField(err) != c.field {
				t.Fatalf("AddDataKey: %v, want %s %q", err, c.code, c.field)
			}
		})
	}
	if keys, err := db.DataKeys(ctx, tn.companyID); err != nil || keys != nil {
		t.Errorf("DataKeys after the refusals: %+v, %v; want nil", keys, err)
	}
	if used, err := db.MasterKeysInUse(ctx); err != nil || used == nil || len(used) != 0 {
		t.Errorf("MasterKeysInUse with no keys: %v, %v; want an empty map", used, err)
	}
}

// TestDataKeys_RotationRetiresTheCurrentKey: each AddDataKey makes the new key current and
// retires the one before at that moment; every key is still found with its wrapped bytes, and
// the reads answer as store's do for a company with keys, one without and a key of another
// company.
func TestDataKeys_RotationRetiresTheCurrentKey(t *testing.T) {
	clk := newClock()
	db, _ := mustOpen(t, Options{Now: clk.Now})
	a, b := mustTenant(t, db, "A"), mustTenant(t, db, "B")
	ctx := context.Background()
	var added []*store.DataKey
	var at []time.Time
	for _, m := range []string{"m1", "m1", "m2"} {
		at = append(at, clk.Now())
		added = append(added, mustDataKey(t, db, a.companyID, m))
		clk.Add(time.Hour)
	}
	if !envelope.ValidKeyID(added[0].ID) || !strings.HasPrefix(added[0].ID, "dk_") {
		t.Errorf("NewDataKeyID gave %q", added[0].ID)
	}
	keys, err := db.DataKeys(ctx, a.companyID)
	must(t, err)
	if len(keys) != len(added) {
		t.Fatalf("DataKeys: %d keys, want %d", len(keys), len(added))
	}
	for i, k := range keys {
		var wantRetired *time.Time
		if i+1 < len(added) {
			wantRetired = &at[i+1]
		}
		switch {
		case k.ID != added[i].ID || k.CompanyID != a.companyID:
			t.Errorf("key %d is %s of %s, want %s", i, k.ID, k.CompanyID, added[i].ID)
		case !k.CreatedAt.Equal(at[i]) || k.CreatedAt != added[i].CreatedAt:
			t.Errorf("key %d created %v (AddDataKey set %v), want %v", i, k.CreatedAt, added[i].CreatedAt, at[i])
		case (k.RetiredAt == nil) != (wantRetired == nil) || k.RetiredAt != nil && !k.RetiredAt.Equal(*wantRetired):
			t.Errorf("key %d retired at %v, want %v", i, k.RetiredAt, wantRetired)
		case k.MasterKeyID != added[i].MasterKeyID || !bytes.Equal(k.Wrapped, added[i].Wrapped):
			t.Errorf("key %d wrapped by %s as %q", i, k.MasterKeyID, k.Wrapped)
		}
	}

	for _, c := range []struct {
		name      string
		call      func() (*store.DataKey, error)
		want      string // key id; "" for ENOTFOUND
		wantRetir bool
	}{
		{"current", func() (*store.DataKey, error) { return db.CurrentDataKey(ctx, a.companyID) }, added[2].ID, false},
		{"current of a company without keys", func() (*store.DataKey, error) { return db.CurrentDataKey(ctx, b.companyID) }, "", false},
		{"find retired", func() (*store.DataKey, error) { return db.FindDataKey(ctx, a.companyID, added[0].ID) }, added[0].ID, true},
		{"find current", func() (*store.DataKey, error) { return db.FindDataKey(ctx, a.companyID, added[2].ID) }, added[2].ID, false},
		{"find under another company", func() (*store.DataKey, error) { return db.FindDataKey(ctx, b.companyID, added[0].ID) }, "", false},
		{"find unknown", func() (*store.DataKey, error) { return db.FindDataKey(ctx, a.companyID, "dk_nope") }, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := c.call()
			if c.want == "" {
				if store.ErrorCode(err) != store.ENOTFOUND {
					t.Fatalf("%+v, %v; want ENOTFOUND", k, err)
				}
				return
			}
			must(t, err)
			if k.ID != c.want || (k.RetiredAt != nil) != c.wantRetir || len(k.Wrapped) == 0 {
				t.Errorf("got %+v, want %s (retired %v) with its wrapped key", k, c.want, c.wantRetir)
			}
		})
	}
	if keys, err := db.DataKeys(ctx, b.companyID); err != nil || keys != nil {
		t.Errorf("DataKeys of a company without keys: %+v, %v", keys, err)
	}
	used, err := db.MasterKeysInUse(ctx)
	must(t, err)
	if len(used) != 2 || !used["m1"] || !used["m2"] {
		t.Errorf("MasterKeysInUse = %v, want m1 and m2", used)
	}
	// The company's deletion takes its keys with it, as store's does.
	must(t, db.DeleteCompany(ctx, a.companyID))
	if used, err := db.MasterKeysInUse(ctx); err != nil || len(used) != 0 {
		t.Errorf("MasterKeysInUse after the company's deletion: %v, %v", used, err)
	}
}

// TestAddDataKey_InstancesRotatingOneCompanyAtOnce: rotations of one company from two
// instances at once all succeed and leave every key but one retired (without the company's
// lock, two would retire the same key and collide on the one-current-key index).
func TestAddDataKey_InstancesRotatingOneCompanyAtOnce(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	tn := mustTenant(t, a, "1")
	ctx := context.Background()
	const perWorker = 10
	var wg sync.WaitGroup
	for w, in := range []*DB{a, b, a, b} {
		wg.Go(func() {
			for i := range perWorker {
				k := &store.DataKey{ID: in.NewDataKeyID(), CompanyID: tn.companyID, MasterKeyID: "m1", Wrapped: fmt.Appendf(nil, "w%d-%d", w, i)}
				if err := in.AddDataKey(ctx, k); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	keys, err := b.DataKeys(ctx, tn.companyID)
	must(t, err)
	current := 0
	for _, k := range keys {
		if k.RetiredAt == nil {
			current++
		}
	}
	if len(keys) != 4*perWorker || current != 1 {
		t.Errorf("%d keys, %d current; want %d keys, 1 current", len(keys), current, 4*perWorker)
	}
}

// TestRewrapDataKeys_AllOrNothing: a rewrap stores every key's new wrapping and master key id
// and counts them; one that fails part way stores nothing.
func TestRewrapDataKeys_AllOrNothing(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	ctx := context.Background()
	var keys []*store.DataKey
	for _, n := range []string{"A", "B"} {
		tn := mustTenant(t, db, n)
		keys = append(keys, mustDataKey(t, db, tn.companyID, "m1"), mustDataKey(t, db, tn.companyID, "m1"))
	}
	failing := errors.New("master key ring unavailable")
	for _, c := range []struct {
		name    string
		failAt  int // the call that fails, 1-based; 0: none
		wantN   int
		wantErr error
		master  string // every key's master key id afterwards
	}{
		{"fails on the third key", 3, 0, failing, "m1"},
		{"rewraps all", 0, len(keys), nil, "m2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			n, err := db.RewrapDataKeys(ctx, func(k *store.DataKey) (string, []byte, error) {
				calls++
				if calls == c.failAt {
					return "", nil, failing
				}
				return "m2", append([]byte("re:"), k.Wrapped...), nil
			})
			if !errors.Is(err, c.wantErr) || n != c.wantN {
				t.Fatalf("RewrapDataKeys = %d, %v; want %d, %v", n, err, c.wantN, c.wantErr)
			}
			for _, k := range keys {
				got, err := db.FindDataKey(ctx, k.CompanyID, k.ID)
				must(t, err)
				want := k.Wrapped
				if c.master == "m2" {
					want = append([]byte("re:"), k.Wrapped...)
				}
				if got.MasterKeyID != c.master || !bytes.Equal(got.Wrapped, want) {
					t.Errorf("key %s: %s %q, want %s %q", k.ID, got.MasterKeyID, got.Wrapped, c.master, want)
				}
			}
			used, err := db.MasterKeysInUse(ctx)
			must(t, err)
			if len(used) != 1 || !used[c.master] {
				t.Errorf("MasterKeysInUse = %v, want only %s", used, c.master)
			}
		})
	}
}

// TestRewrapDataKeys_TwoInstancesFollowEachOther: a rewrap on instance B started while A's is
// under way waits for A's to commit and rewraps what A stored: every key carries both
// rewrappings, in one order (a lost update would leave a key with one).
func TestRewrapDataKeys_TwoInstancesFollowEachOther(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	ctx := context.Background()
	var keys []*store.DataKey
	for _, n := range []string{"A", "B", "C"} {
		tn := mustTenant(t, a, n)
		keys = append(keys, mustDataKey(t, a, tn.companyID, "m0"), mustDataKey(t, a, tn.companyID, "m0"))
	}
	inA, releaseCh := make(chan struct{}), make(chan struct{})
	var once, released sync.Once
	releaseA := func() { released.Do(func() { close(releaseCh) }) }
	defer releaseA() // a failing test must not leave A's transaction open: Close would wait for it
	doneA := make(chan error, 1)
	go func() {
		_, err := a.RewrapDataKeys(ctx, func(k *store.DataKey) (string, []byte, error) {
			once.Do(func() { close(inA); <-releaseCh })
			return "mA", append(k.Wrapped, 'A'), nil
		})
		doneA <- err
	}()
	<-inA
	doneB := make(chan error, 1)
	var nB int
	go func() {
		var err error
		nB, err = b.RewrapDataKeys(ctx, func(k *store.DataKey) (string, []byte, error) {
			if k.MasterKeyID != "mA" {
				return "", nil, fmt.Errorf("B saw key %s wrapped by %s, not by A's rewrap", k.ID, k.MasterKeyID)
			}
			return "mB", append(k.Wrapped, 'B'), nil
		})
		doneB <- err
	}()
	waitLockWaiter(t, a, "B's rewrap to wait for A's")
	releaseA()
	for _, ch := range []chan error{doneA, doneB} {
		select {
		case err := <-ch:
			must(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("a rewrap never returned")
		}
	}
	if nB != len(keys) {
		t.Errorf("B rewrapped %d keys, want %d", nB, len(keys))
	}
	for _, k := range keys {
		got, err := b.FindDataKey(ctx, k.CompanyID, k.ID)
		must(t, err)
		if want := append(append([]byte(nil), k.Wrapped...), 'A', 'B'); got.MasterKeyID != "mB" || !bytes.Equal(got.Wrapped, want) {
			t.Errorf("key %s: %s %q, want mB %q", k.ID, got.MasterKeyID, got.Wrapped, want)
		}
	}
}

// TestRewrapDataKeys_WaitsForAKeyBeingAdded: a key being added (its transaction open, as
// AddDataKey's: the current key retired, the new one inserted) when a rewrap starts is
// rewrapped too once it commits, so the rotation leaves no key wrapped by the old master key.
// Row locks alone would not do: the new row is not in the rewrap's snapshot.
func TestRewrapDataKeys_WaitsForAKeyBeingAdded(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	old := mustDataKey(t, db, tn.companyID, "m1")
	tx, err := db.pool.Begin(ctx)
	must(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, "UPDATE data_keys SET retired_at = now() WHERE company_id = $1 AND retired_at IS NULL", tn.companyID)
	must(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO data_keys (company_id, id, created_at, master_key_id, wrapped) VALUES ($1, 'dk_new', now(), 'm1', 'w')", tn.companyID)
	must(t, err)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := db.RewrapDataKeys(ctx, func(k *store.DataKey) (string, []byte, error) { return "m2", k.Wrapped, nil })
		done <- result{n, err}
	}()
	waitLockWaiter(t, db, "the rewrap to wait for the key being added")
	must(t, tx.Commit(ctx))
	select {
	case r := <-done:
		if r.err != nil || r.n != 2 {
			t.Fatalf("RewrapDataKeys = %d, %v; want both keys (%s and dk_new)", r.n, r.err, old.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the rewrap never returned")
	}
	used, err := db.MasterKeysInUse(ctx)
	must(t, err)
	if len(used) != 1 || !used["m2"] {
		t.Errorf("MasterKeysInUse after the rotation = %v, want only m2", used)
	}
}
