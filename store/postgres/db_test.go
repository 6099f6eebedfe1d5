package postgres

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// TestOpen_ConcurrentInstancesMigrateExactlyOnce: instances starting together on an empty
// database all open, and each migration ran once (a migration applied twice would fail on
// CREATE TABLE or leave a second row in `applied`).
func TestOpen_ConcurrentInstancesMigrateExactlyOnce(t *testing.T) {
	for _, c := range []struct {
		name string
		open func(ctx context.Context, dsn string) (*DB, error)
		want int // schema version reached; 0: the newest of migrations/
	}{
		{"sideeffect", func(ctx context.Context, dsn string) (*DB, error) {
			return openWith(ctx, dsn, Options{}, os.DirFS("testdata/sideeffect"), true)
		}, 2},
		{"callrec", func(ctx context.Context, dsn string) (*DB, error) { return Open(ctx, dsn, Options{}) }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsn := shared.EmptyDatabase(t)
			ctx := context.Background()
			const n = 8
			var wg sync.WaitGroup
			versions, errs := make([]int, n), make([]error, n)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					db, err := c.open(ctx, dsn)
					if err != nil {
						errs[i] = err
						return
					}
					versions[i] = db.SchemaVersion()
					db.Close()
				})
			}
			close(start)
			wg.Wait()
			want := c.want
			if want == 0 {
				migs, err := loadMigrations(migrationFiles)
				if err != nil {
					t.Fatal(err)
				}
				want = migs[len(migs)-1].version
			}
			for i := range n {
				if errs[i] != nil {
					t.Errorf("instance %d: %v", i, errs[i])
				} else if versions[i] != want {
					t.Errorf("instance %d: schema version %d, want %d", i, versions[i], want)
				}
			}
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var rows, distinct int
			if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&rows, &distinct); err != nil {
				t.Fatal(err)
			}
			if rows != distinct || rows == 0 {
				t.Errorf("schema_migrations: %d rows for %d versions", rows, distinct)
			}
			if c.name == "sideeffect" {
				var applied int
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM applied").Scan(&applied); err != nil {
					t.Fatal(err)
				}
				if applied != 1 {
					t.Errorf("migration 2 ran %d times, want once", applied)
				}
			}
		})
	}
}

// TestOpen_RefusesANewerSchema: a database migrated by a newer callrec is not touched.
func TestOpen_RefusesANewerSchema(t *testing.T) {
	db, dsn := mustOpen(t, Options{})
	if _, err := db.pool.Exec(context.Background(), "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), dsn, Options{})
	if store.ErrorCode(err) != store.ESCHEMA {
		t.Fatalf("Open on a newer schema: %v, want ESCHEMA", err)
	}
}

// TestOpen_FailedMigrationLeavesNothing: a migration that fails half-way is rolled back whole
// and not recorded, so the next start retries it.
func TestOpen_FailedMigrationLeavesNothing(t *testing.T) {
	dsn := shared.EmptyDatabase(t)
	dir := t.TempDir()
	must(t, os.MkdirAll(dir+"/migrations", 0o755))
	must(t, os.WriteFile(dir+"/migrations/0001_half.sql", []byte("CREATE TABLE half (n int); SELECT no_such_function();"), 0o644))
	ctx := context.Background()
	if _, err := openWith(ctx, dsn, Options{}, os.DirFS(dir), true); err == nil {
		t.Fatal("a failing migration opened")
	}
	conn, err := pgx.Connect(ctx, dsn)
	must(t, err)
	defer conn.Close(ctx)
	var tables, versions int
	must(t, conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM pg_tables WHERE tablename = 'half'), (SELECT count(*) FROM schema_migrations)").Scan(&tables, &versions))
	if tables != 0 || versions != 0 {
		t.Errorf("after a failed migration: %d half tables, %d versions recorded; want none", tables, versions)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
