package postgres

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestToken_ValidOnEveryInstance: a token created through one instance authenticates through
// another with its scope completed, its use is recorded at most once per TouchUnit, and its
// revocation on the second instance holds on the first.
func TestToken_ValidOnEveryInstance(t *testing.T) {
	clk := newClock()
	a, dsn := mustOpen(t, Options{Now: clk.Now})
	b := mustOpenDSN(t, dsn, Options{Now: clk.Now})
	tn := mustTenant(t, a, "1")
	ctx := context.Background()
	userID := a.newID(a.now())
	_, err := a.pool.Exec(ctx, "INSERT INTO users (id, company_id, brand_id, extension, sip_user) VALUES ($1, $2, $3, '1001', '1001')", userID, tn.companyID, tn.brandID)
	must(t, err)
	secret, hash, err := store.NewTokenSecret()
	must(t, err)
	tok := &store.Token{Name: " Ana ", Role: store.RoleUser, UserID: userID, Hash: hash, BrandID: "stale"}
	must(t, a.CreateToken(ctx, tok))
	got, err := b.TokenByHash(ctx, store.HashToken(secret))
	must(t, err)
	if got.ID != tok.ID || got.Name != "Ana" || got.CompanyID != tn.companyID || got.BrandID != tn.brandID || got.LastUsedAt != nil || !got.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("token on the other instance: %+v", got)
	}
	if err := a.CreateToken(ctx, &store.Token{Name: "dup", Role: store.RolePlatform, Hash: hash}); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("second token with one hash: %v, want ECONFLICT", err)
	}
	if err := a.CreateToken(ctx, &store.Token{Name: "x", Role: store.RoleCompanyAdmin, CompanyID: "nope", Hash: bytes.Repeat([]byte{1}, 32)}); store.ErrorField(err) != "company_id" {
		t.Errorf("token of a missing company: %v, want EINVALID company_id", err)
	}
	first := clk.Now()
	for _, step := range []struct {
		advance time.Duration
		want    time.Time
	}{{0, first}, {time.Second, first}, {store.TouchUnit, first.Add(time.Second + store.TouchUnit)}} {
		clk.Add(step.advance)
		must(t, b.TouchToken(ctx, tok.ID, clk.Now()))
		got, err := a.Token(ctx, tok.ID)
		must(t, err)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(step.want) {
			t.Errorf("after a touch at %s: last used %v, want %s", clk.Now(), got.LastUsedAt, step.want)
		}
	}
	must(t, b.DeleteToken(ctx, tok.ID))
	if _, err := a.TokenByHash(ctx, hash); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("revoked token on the first instance: %v, want ENOTFOUND", err)
	}
	for name, err := range map[string]error{"touch": a.TouchToken(ctx, tok.ID, clk.Now()), "delete": a.DeleteToken(ctx, tok.ID)} {
		if store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("%s of a revoked token: %v, want ENOTFOUND", name, err)
		}
	}
}

// TestSharedSecret_EveryInstanceGetsTheSameKey: instances asking at once for the link key all
// get the one created first, and asking again never replaces it.
func TestSharedSecret_EveryInstanceGetsTheSameKey(t *testing.T) {
	_, dsn := mustOpen(t, Options{})
	const n = 6
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		in := mustOpenDSN(t, dsn, Options{})
		wg.Go(func() {
			k, err := in.SharedSecret(context.Background(), "link-key", 32)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	again, err := mustOpenDSN(t, dsn, Options{}).SharedSecret(context.Background(), "link-key", 32)
	must(t, err)
	for i, k := range append(keys, again) {
		if len(k) != 32 || !bytes.Equal(k, keys[0]) {
			t.Errorf("instance %d got key %x, instance 0 %x", i, k, keys[0])
		}
	}
}
