package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// linkStore is the signed-link part of store.Store, so a signature drifting from the interface
// fails to compile here.
type linkStore interface {
	LinkKey(ctx context.Context) ([]byte, error)
	AddArchiveGrant(ctx context.Context, g *store.ArchiveGrant, perToken, total int) error
	FindArchiveGrant(ctx context.Context, handle string) (*store.ArchiveGrant, error)
}

var _ linkStore = (*DB)(nil)

// TestLinkKey_OneKeyForEveryInstance: the link key is 32 bytes, the same on every instance and
// on every call, and it is the shared secret of that name (so SharedSecret's users and
// LinkKey's agree).
func TestLinkKey_OneKeyForEveryInstance(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	ctx := context.Background()
	ka, err := a.LinkKey(ctx)
	must(t, err)
	kb, err := b.LinkKey(ctx)
	must(t, err)
	again, err := a.LinkKey(ctx)
	must(t, err)
	shared, err := b.SharedSecret(ctx, "link-key", 32)
	must(t, err)
	if len(ka) != 32 || !bytes.Equal(ka, kb) || !bytes.Equal(ka, again) || !bytes.Equal(ka, shared) {
		t.Errorf("link keys %x, %x, %x, shared secret %x: want one 32-byte key", ka, kb, again, shared)
	}
}

// TestAddArchiveGrant_CapsAndExpiry: the per-token and total caps count only unexpired grants
// (a grant expires once the clock is past ExpiresAt, not at it), as store's do, and
// FindArchiveGrant answers ENOTFOUND for an unknown or expired handle.
func TestAddArchiveGrant_CapsAndExpiry(t *testing.T) {
	const perToken, total = 2, 3
	for _, c := range []struct {
		name    string
		before  []store.ArchiveGrant // added first (ExpiresAt relative to the clock in minutes)
		advance time.Duration        // then the clock moves
		add     store.ArchiveGrant
		wantErr error
	}{
		{"under both caps", []store.ArchiveGrant{{TokenID: "t1"}}, 0, store.ArchiveGrant{TokenID: "t1"}, nil},
		{"token at its cap", []store.ArchiveGrant{{TokenID: "t1"}, {TokenID: "t1"}}, 0, store.ArchiveGrant{TokenID: "t1"}, store.ErrTooManyGrants},
		{"another token under its cap", []store.ArchiveGrant{{TokenID: "t1"}, {TokenID: "t1"}}, 0, store.ArchiveGrant{TokenID: "t2"}, nil},
		{"store at its cap", []store.ArchiveGrant{{TokenID: "t1"}, {TokenID: "t2"}, {TokenID: "t3"}}, 0, store.ArchiveGrant{TokenID: "t4"}, store.ErrTooManyGrants},
		{"expired grants do not count", []store.ArchiveGrant{{TokenID: "t1"}, {TokenID: "t1"}, {TokenID: "t2"}}, 11 * time.Minute, store.ArchiveGrant{TokenID: "t1"}, nil},
		{"a grant at its expiry still counts", []store.ArchiveGrant{{TokenID: "t1"}, {TokenID: "t1"}}, 10 * time.Minute, store.ArchiveGrant{TokenID: "t1"}, store.ErrTooManyGrants},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			db, _ := mustOpen(t, Options{Now: clk.Now})
			ctx := context.Background()
			var handles []string
			for i, g := range c.before {
				g.Handle, g.IDs, g.ExpiresAt = fmt.Sprintf("h%d", i), []string{"R1"}, clk.Now().Add(10*time.Minute)
				must(t, db.AddArchiveGrant(ctx, &g, perToken, total))
				handles = append(handles, g.Handle)
			}
			clk.Add(c.advance)
			g := c.add
			g.Handle, g.IDs, g.ExpiresAt = "new", []string{"R1", "R2"}, clk.Now().Add(10*time.Minute)
			err := db.AddArchiveGrant(ctx, &g, perToken, total)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("AddArchiveGrant = %v, want %v", err, c.wantErr)
			}
			got, err := db.FindArchiveGrant(ctx, "new")
			if c.wantErr != nil {
				if store.ErrorCode(err) != store.ENOTFOUND {
					t.Errorf("a refused grant is found: %+v, %v", got, err)
				}
				return
			}
			must(t, err)
			if got.TokenID != g.TokenID || !slices.Equal(got.IDs, g.IDs) || !got.ExpiresAt.Equal(g.ExpiresAt) {
				t.Errorf("found %+v, want %+v", got, g)
			}
			if c.advance > 10*time.Minute { // the earlier grants expired: gone, and pruned
				for _, h := range handles {
					if _, err := db.FindArchiveGrant(ctx, h); store.ErrorCode(err) != store.ENOTFOUND {
						t.Errorf("expired grant %s: %v, want ENOTFOUND", h, err)
					}
				}
				var n int
				must(t, db.pool.QueryRow(ctx, "SELECT count(*) FROM archive_grants").Scan(&n))
				if n != 1 {
					t.Errorf("%d grant rows after the prune, want 1", n)
				}
			}
		})
	}
}

// TestFindArchiveGrant_UnknownAndExpired: ENOTFOUND for a handle never stored and for one whose
// expiry the clock has passed; the grant as stored up to then.
func TestFindArchiveGrant_UnknownAndExpired(t *testing.T) {
	clk := newClock()
	db, _ := mustOpen(t, Options{Now: clk.Now})
	ctx := context.Background()
	exp := clk.Now().Add(5 * time.Minute)
	must(t, db.AddArchiveGrant(ctx, &store.ArchiveGrant{Handle: "h", TokenID: "t1", IDs: []string{"R1"}, ExpiresAt: exp}, 20, 4096))
	for _, c := range []struct {
		name    string
		handle  string
		advance time.Duration
		found   bool
	}{
		{"unknown", "nope", 0, false},
		{"unexpired", "h", 0, true},
		{"at its expiry", "h", 5 * time.Minute, true},
		{"expired", "h", time.Microsecond, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk.Add(c.advance)
			g, err := db.FindArchiveGrant(ctx, c.handle)
			switch {
			case !c.found && store.ErrorCode(err) != store.ENOTFOUND:
				t.Errorf("%+v, %v; want ENOTFOUND", g, err)
			case c.found && (err != nil || g.Handle != "h" || g.TokenID != "t1" || !slices.Equal(g.IDs, []string{"R1"}) || !g.ExpiresAt.Equal(exp)):
				t.Errorf("%+v, %v; want the grant", g, err)
			}
		})
	}
}

// TestAddArchiveGrant_CapsHoldAcrossInstances: many adds at once on two instances pass
// neither cap (counted and inserted separately, they would: each sees room before the other
// inserts).
func TestAddArchiveGrant_CapsHoldAcrossInstances(t *testing.T) {
	for _, c := range []struct {
		name            string
		perToken, total int
		tokens          int // grants spread round-robin over this many tokens
		want            int // grants stored
	}{
		{"per token", 5, 1000, 1, 5},
		{"total", 1000, 7, 40, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, dsn := mustOpen(t, Options{})
			b := mustOpenDSN(t, dsn, Options{})
			ctx := context.Background()
			const workers, perWorker = 16, 4
			exp := time.Now().Add(time.Hour)
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, refused := 0, 0
			for w := range workers {
				in := []*DB{a, b}[w%2]
				wg.Go(func() {
					for i := range perWorker {
						n := w*perWorker + i
						err := in.AddArchiveGrant(ctx, &store.ArchiveGrant{Handle: fmt.Sprintf("h%d", n), TokenID: fmt.Sprintf("t%d", n%c.tokens),
							IDs: []string{"R1"}, ExpiresAt: exp}, c.perToken, c.total)
						mu.Lock()
						switch {
						case err == nil:
							ok++
						case errors.Is(err, store.ErrTooManyGrants):
							refused++
						default:
							t.Error(err)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			var rows int
			must(t, a.pool.QueryRow(ctx, "SELECT count(*) FROM archive_grants").Scan(&rows))
			if ok != c.want || rows != c.want || refused != workers*perWorker-c.want {
				t.Errorf("%d stored (%d rows), %d refused; want %d stored", ok, rows, refused, c.want)
			}
		})
	}
}
