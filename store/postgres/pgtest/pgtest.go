// Package pgtest starts a real PostgreSQL server for tests: initdb into a temporary data
// directory, postgres listening on 127.0.0.1 on a free port (and on a temporary unix-socket
// directory), stopped and removed by Stop. PostgreSQL refuses to run as root, so when the test
// binary is root (CI) the server runs as the unprivileged `postgres` user Debian's package
// creates, with the temporary directories chowned to it.
//
// A test package shares one server per run: TestMain calls Start and Stop, and every test takes
// a fresh database from Server.Database, cloned from a template (CREATE DATABASE … TEMPLATE …)
// that Options.Prepare may fill once (e.g. with the schema), so tests stay independent and fast.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoServer is wrapped by Start's error when no PostgreSQL binaries are found (then tests
// skip locally and fail in CI: see Server.Database).
var ErrNoServer = errors.New("pgtest: PostgreSQL binaries not found (set PG_BINDIR, install postgresql, or put pg_config on PATH)")

// Options configures Start. The zero value is usable.
type Options struct {
	// BinDir holds initdb and postgres; default: $PG_BINDIR, else `pg_config --bindir`,
	// else the newest /usr/lib/postgresql/*/bin.
	BinDir string
	// Prepare, when set, runs once against the template database every Database clones (its
	// DSN is given); Start fails with its error.
	Prepare func(ctx context.Context, dsn string) error
}

// Server is a running PostgreSQL. Start it, share it between tests, Stop it once.
type Server struct {
	root    string // temp dir holding data/, sock/, log
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logPath string

	mu sync.Mutex // serialises CREATE DATABASE (the template must have no other session)
	n  int
}

const templateName = "callrec_template"

// Start initialises a cluster in a new temporary directory and starts postgres on it. Called
// by TestMain (or a test); Stop undoes it. Errors wrap ErrNoServer when no binaries are found;
// others (initdb, a server that does not become ready within 60 s, Prepare) carry the
// server's log tail.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "callrec-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{root: root, logPath: filepath.Join(root, "postgres.log")}
	if err := s.setUp(ctx, bin, cred, uid, gid); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.prepareTemplate(ctx, opts.Prepare); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// setUp makes the directories, runs initdb and starts postgres (retrying on a port taken
// between choosing and binding it).
func (s *Server) setUp(ctx context.Context, bin string, cred *syscall.Credential, uid, gid int) error {
	data, sock := filepath.Join(s.root, "data"), filepath.Join(s.root, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	if cred != nil {
		for _, p := range []string{s.root, data, sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fmt.Errorf("pgtest: chown %s to the postgres user: %w", p, err)
			}
		}
	}
	// -N: no fsync of the new cluster; trust: loopback test server only.
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C", "-N")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	var err error
	for try := 0; try < 3; try++ {
		if err = s.startPostgres(ctx, bin, data, sock, cred); err == nil {
			return nil
		}
	}
	return err
}

func (s *Server) startPostgres(ctx context.Context, bin, data, sock string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	// Durability off: a test cluster is thrown away. max_connections: several pools per test.
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", sock, "-h", "127.0.0.1",
		"-p", strconv.Itoa(port), "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: a killed test binary takes its server with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.cmd, s.port, s.exited = cmd, port, make(chan struct{})
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	return s.waitReady(ctx, 60*time.Second)
}

// waitReady polls a connection until the server answers, it exits, or d passes.
func (s *Server) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := pgx.Connect(cctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			return c.Close(ctx)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("pgtest: postgres exited: %v\n%s", s.waitErr, s.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not ready after %s: %w\n%s", d, err, s.logTail())
		}
	}
}

// prepareTemplate creates the template database and lets prepare fill it.
func (s *Server) prepareTemplate(ctx context.Context, prepare func(context.Context, string) error) error {
	if err := s.exec(ctx, "CREATE DATABASE "+templateName+" TEMPLATE template0"); err != nil {
		return err
	}
	if prepare == nil {
		return nil
	}
	if err := prepare(ctx, s.DSN(templateName)); err != nil {
		return fmt.Errorf("pgtest: prepare template: %w", err)
	}
	return nil
}

// exec runs one statement in the postgres database as the superuser.
func (s *Server) exec(ctx context.Context, sql string) error {
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}

// DSN returns the connection string of database name (user postgres, trust auth, 127.0.0.1).
func (s *Server) DSN(name string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", s.port, name)
}

// Port returns the TCP port the server listens on (127.0.0.1).
func (s *Server) Port() int { return s.port }

// NewDatabase creates a database cloned from the template (Options.Prepare's result) and
// returns its DSN. Safe for concurrent use. Errors: the CREATE DATABASE's.
func (s *Server) NewDatabase(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	name := fmt.Sprintf("t%d", s.n)
	if err := s.exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+templateName); err != nil {
		return "", err
	}
	return s.DSN(name), nil
}

// NewEmptyDatabase creates a database with nothing in it (cloned from template0, not from
// the prepared template) and returns its DSN: for migration tests.
func (s *Server) NewEmptyDatabase(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	name := fmt.Sprintf("e%d", s.n)
	if err := s.exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", err
	}
	return s.DSN(name), nil
}

// Stop stops the server (fast shutdown, then SIGKILL after 10 s) and removes its directory.
// Safe on a partly started Server; call once.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown: ends sessions, checkpoint
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	_ = os.RemoveAll(s.root)
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Shared is what TestMain keeps: the server, or why there is none.
type Shared struct {
	Server *Server
	Err    error
}

// Main starts a server for a test package, runs its tests and stops the server; TestMain
// calls os.Exit(pgtest.Main(m, &shared, opts)). A server that cannot start does not stop the
// run: each test that asks shared.Database for a database then skips or fails.
func Main(m *testing.M, shared *Shared, opts Options) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	shared.Server, shared.Err = Start(ctx, opts)
	cancel()
	if shared.Server != nil {
		defer shared.Server.Stop()
	}
	return m.Run()
}

// Database returns the DSN of a fresh database cloned from the prepared template. When there
// is no server it skips tb, or fails it when CI=true (CI must never skip it silently).
func (sh *Shared) Database(tb testing.TB) string {
	tb.Helper()
	sh.need(tb)
	dsn, err := sh.Server.NewDatabase(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return dsn
}

// EmptyDatabase is Database without the template's contents (for migration tests).
func (sh *Shared) EmptyDatabase(tb testing.TB) string {
	tb.Helper()
	sh.need(tb)
	dsn, err := sh.Server.NewEmptyDatabase(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return dsn
}

// Database starts a server for one test (stopped at its cleanup) and returns the DSN of a fresh
// database cloned from the template opts prepared: for a package with a single PostgreSQL test,
// which needs no TestMain. Without the binaries it skips tb, or fails it when CI=true.
func Database(tb testing.TB, opts Options) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sh := &Shared{}
	sh.Server, sh.Err = Start(ctx, opts)
	if sh.Server != nil {
		tb.Cleanup(sh.Server.Stop)
	}
	return sh.Database(tb)
}

func (sh *Shared) need(tb testing.TB) {
	tb.Helper()
	switch {
	case sh.Server != nil:
	case errors.Is(sh.Err, ErrNoServer) && os.Getenv("CI") != "true":
		tb.Skip(sh.Err)
	case sh.Err != nil:
		tb.Fatal(sh.Err)
	default:
		tb.Fatal("pgtest: Main did not run (TestMain missing?)")
	}
}

// findBinDir returns the directory holding initdb and postgres.
func findBinDir(dir string) (string, error) {
	var candidates []string
	if dir != "" {
		candidates = append(candidates, dir)
	}
	if d := os.Getenv("PG_BINDIR"); d != "" {
		candidates = append(candidates, d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	candidates = append(candidates, debianBinDirs()...)
	for _, d := range candidates {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w (looked in %s)", ErrNoServer, strings.Join(candidates, ", "))
}

// debianBinDirs lists /usr/lib/postgresql/<major>/bin, newest major first.
func debianBinDirs() []string {
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(ms, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(ms[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(ms[j])))
		return a > b
	})
	return ms
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// runAs returns the credential to run the server with: none when the test is not root,
// else the `postgres` user's (PostgreSQL refuses to run as root).
func runAs() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, 0, 0, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("pgtest: running as root needs the unprivileged postgres user (apt-get install postgresql creates it): %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, 0, 0, fmt.Errorf("pgtest: postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// freePort asks the kernel for a free loopback port (postgres binds it right after; Start
// retries when another process took it meanwhile).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
