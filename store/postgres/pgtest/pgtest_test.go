package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

var shared Shared // set once by TestMain

func TestMain(m *testing.M) {
	os.Exit(Main(m, &shared, Options{Prepare: func(ctx context.Context, dsn string) error {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, "CREATE TABLE prepared (n int); INSERT INTO prepared VALUES (7)")
		return err
	}}))
}

// TestDatabase_ClonesTheTemplateAndIsolatesTests: each database starts as the prepared
// template, and a write in one is not seen in another; the server runs unprivileged.
func TestDatabase_ClonesTheTemplateAndIsolatesTests(t *testing.T) {
	ctx := context.Background()
	a, b := connect(t, shared.Database(t)), connect(t, shared.Database(t))
	if _, err := a.Exec(ctx, "INSERT INTO prepared VALUES (8)"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		conn *pgx.Conn
		want int
	}{{"written", a, 2}, {"other", b, 1}} {
		var n int
		if err := c.conn.QueryRow(ctx, "SELECT count(*) FROM prepared").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Errorf("%s database: %d rows, want %d", c.name, n, c.want)
		}
	}
	var super bool
	var who string
	if err := a.QueryRow(ctx, "SELECT current_setting('is_superuser') = 'on', current_user").Scan(&super, &who); err != nil {
		t.Fatal(err)
	}
	if !super || who != "postgres" {
		t.Errorf("connected as %s (superuser %v), want the postgres superuser", who, super)
	}
}

// TestEmptyDatabase_HasNoTemplateContents: migration tests start from nothing.
func TestEmptyDatabase_HasNoTemplateContents(t *testing.T) {
	c := connect(t, shared.EmptyDatabase(t))
	var n int
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE tablename = 'prepared'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("empty database has the template's table")
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestStart_ServerRunsUnprivileged: under root (CI) the server runs as the postgres user
// (PostgreSQL refuses root); otherwise as the test's own user.
func TestStart_ServerRunsUnprivileged(t *testing.T) {
	shared.need(t)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", shared.Server.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	want := os.Geteuid()
	if want == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		want, _ = strconv.Atoi(u.Uid)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			if f[1] != strconv.Itoa(want) {
				t.Errorf("server runs as uid %s, want %d", f[1], want)
			}
			return
		}
	}
	t.Error("no Uid line in the server's status")
}
