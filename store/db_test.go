package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestIndexes_StayConsistentUnderRandomOperations(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	rng := rand.New(rand.NewPCG(7, 11))
	var brands, companies, ddis, users, tokens, recs []string
	pickID := func(ids []string) string {
		if len(ids) == 0 || rng.IntN(20) == 0 {
			return "missing"
		}
		return ids[rng.IntN(len(ids))]
	}
	drop := func(ids []string, id string) []string {
		for i, v := range ids {
			if v == id {
				return append(ids[:i], ids[i+1:]...)
			}
		}
		return ids
	}
	codes := map[string]int{}
	for i := 0; i < 1500; i++ {
		var err error
		op := rng.IntN(22)
		switch op {
		case 0:
			b := &Brand{Name: "b", SIPDomain: []string{"", "a.example", "b.example", "c.example"}[rng.IntN(4)]}
			if err = db.CreateBrand(ctx, b); err == nil {
				brands = append(brands, b.ID)
			}
		case 1:
			b := &Brand{ID: pickID(brands), Name: "b2", SIPDomain: []string{"", "a.example", "d.example"}[rng.IntN(3)]}
			err = db.UpdateBrand(ctx, b)
		case 2:
			id := pickID(brands)
			if err = db.DeleteBrand(ctx, id); err == nil {
				brands = drop(brands, id)
			}
		case 3, 4:
			c := &Company{BrandID: pickID(brands), Name: "c", OnDemand: OnDemandKey, OnDemandCode: fmt.Sprint(rng.IntN(9))}
			if err = db.CreateCompany(ctx, c); err == nil {
				companies = append(companies, c.ID)
			}
		case 5:
			id := pickID(companies)
			if err = db.DeleteCompany(ctx, id); err == nil {
				companies = drop(companies, id)
			}
		case 6, 7:
			d := &DDI{CompanyID: pickID(companies), Number: fmt.Sprintf("+3491100%04d", rng.IntN(30))}
			if err = db.CreateDDI(ctx, d); err == nil {
				ddis = append(ddis, d.ID)
			}
		case 8:
			d, gerr := db.DDI(ctx, pickID(ddis))
			if gerr == nil {
				d.Number = fmt.Sprintf("+3491100%04d", rng.IntN(30))
				d.CompanyID = pickID(companies)
				err = db.UpdateDDI(ctx, d)
			}
		case 9:
			id := pickID(ddis)
			if err = db.DeleteDDI(ctx, id); err == nil {
				ddis = drop(ddis, id)
			}
		case 10, 11:
			u := &User{CompanyID: pickID(companies), Extension: fmt.Sprint(10 + rng.IntN(10)), SIPUser: fmt.Sprintf("u%d", rng.IntN(15))}
			if err = db.CreateUser(ctx, u); err == nil {
				users = append(users, u.ID)
			}
		case 12:
			u, gerr := db.User(ctx, pickID(users))
			if gerr == nil {
				u.Extension, u.SIPUser = fmt.Sprint(10+rng.IntN(10)), fmt.Sprintf("u%d", rng.IntN(15))
				err = db.UpdateUser(ctx, u)
			}
		case 13:
			id := pickID(users)
			if err = db.DeleteUser(ctx, id); err == nil {
				users = drop(users, id)
			}
		case 14:
			tk := &Token{Role: RoleUser, UserID: pickID(users), Hash: HashToken(fmt.Sprint(rng.IntN(40)))}
			if err = db.CreateToken(ctx, tk); err == nil {
				tokens = append(tokens, tk.ID)
			}
		case 15:
			err = db.DeleteToken(ctx, pickID(tokens))
		case 16, 17:
			r := newRecording(pickID(companies), time.Time{})
			r.UserID, r.DDIID = pickID(users), pickID(ddis)
			if err = db.CreateRecording(ctx, r); err == nil {
				recs = append(recs, r.ID)
			}
		case 18:
			err = db.FinishRecording(ctx, pickID(recs), time.Now().Add(time.Hour), 5, "/w.wav")
		case 19:
			id := pickID(recs)
			if _, err = db.DeleteRecording(ctx, id); err == nil {
				recs = drop(recs, id)
			}
		case 20:
			if j, cerr := db.ClaimJob(ctx, time.Minute); cerr == nil {
				switch rng.IntN(3) {
				case 0:
					err = db.CompleteRecording(ctx, j.ID, RecordingResult{MP3Path: "/m.mp3"})
				case 1:
					err = db.RetryJob(ctx, j.ID, time.Now(), "x")
				default:
					err = db.FailRecording(ctx, j.RecordingID, "y")
				}
			}
		case 21:
			if rng.IntN(2) == 0 {
				err = db.DiscardRecording(ctx, pickID(recs), "z")
			} else {
				c, gerr := db.Company(ctx, pickID(companies))
				if gerr == nil {
					c.OnDemand = []string{OnDemandDisabled, OnDemandKeyDTMF}[rng.IntN(2)]
					err = db.UpdateCompany(ctx, c)
				}
			}
		}
		codes[ErrorCode(err)]++
		if c := ErrorCode(err); c == EINTERNAL {
			t.Fatalf("op %d: internal error %v", op, err)
		}
		if i%100 == 0 {
			checkDB(t, db)
			checkRulesMatchRebuild(t, db)
		}
	}
	checkDB(t, db)
	checkRulesMatchRebuild(t, db)
	if codes[""] < 500 || codes[ECONFLICT] < 20 {
		t.Fatalf("random walk too tame to prove much: %v", codes)
	}
	t.Logf("outcomes: %v; rows: %d brands %d companies %d ddis %d users %d recordings", codes, len(brands), len(companies), len(ddis), len(users), len(recs))
}

// checkRulesMatchRebuild asserts the published snapshot equals one rebuilt from the file.
func checkRulesMatchRebuild(t *testing.T, db *DB) {
	t.Helper()
	cur := db.Rules()
	must(t, db.bolt.View(func(tx *bolt.Tx) error {
		fresh, err := buildRules(tx, cur.version)
		if err != nil {
			return err
		}
		if !rulesEqual(fresh, cur) {
			t.Fatalf("published rules differ from a rebuild")
		}
		return nil
	}))
}

func rulesEqual(a, b *Rules) bool {
	if len(a.companies) != len(b.companies) || len(a.users) != len(b.users) || len(a.ddis) != len(b.ddis) || len(a.brands) != len(b.brands) {
		return false
	}
	for id, c := range a.companies {
		bc, ok := b.companies[id]
		if !ok || c.OnDemand != bc.OnDemand || c.OnDemandCode != bc.OnDemandCode || c.Name != bc.Name {
			return false
		}
	}
	for id, u := range a.users {
		if b.users[id] != u {
			return false
		}
	}
	for id, d := range a.ddis {
		if b.ddis[id] != d {
			return false
		}
	}
	for id, br := range a.brands {
		if b.brands[id] != br {
			return false
		}
	}
	return fmt.Sprint(a.codes) == fmt.Sprint(b.codes) && fmt.Sprint(a.brandByDomain) == fmt.Sprint(b.brandByDomain) &&
		fmt.Sprint(a.ddiByNumber) == fmt.Sprint(b.ddiByNumber) && fmt.Sprint(a.userBySIP) == fmt.Sprint(b.userBySIP) &&
		fmt.Sprint(a.usersBySIP) == fmt.Sprint(b.usersBySIP) && fmt.Sprint(a.userByExt) == fmt.Sprint(b.userByExt)
}

func TestBackup_ReopensWithSameContents(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	mustInsertRecordings(t, db, manyRecordings(tn.company.ID, 100)...)
	var buf bytes.Buffer
	// Writers carry on during the backup.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if err := db.CreateRecording(ctx, newRecording(tn.company.ID, time.Time{})); err != nil {
				t.Error(err)
			}
		}
	}()
	n, err := db.Backup(ctx, &buf)
	must(t, err)
	wg.Wait()
	if n != int64(buf.Len()) || n == 0 {
		t.Fatalf("backup reported %d bytes, wrote %d", n, buf.Len())
	}
	path := filepath.Join(t.TempDir(), "restored.db")
	must(t, os.WriteFile(path, buf.Bytes(), 0o600))
	restored, err := Open(ctx, path, Options{NoSync: true})
	must(t, err)
	defer restored.Close()
	checkDB(t, restored)
	snapshotOf := func(d *DB) map[string]string {
		m := map[string]string{}
		must(t, d.bolt.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error { m[string(name)+"/"+string(k)] = string(v); return nil })
			})
		}))
		return m
	}
	got := snapshotOf(restored)
	if len(got) < 100 {
		t.Fatalf("restored db has %d keys", len(got))
	}
	// Everything in the backup is identical in the live db, except rows written after it and
	// the running totals they moved (checkDB proved the backup's totals match its rows).
	live := snapshotOf(db)
	for k, v := range got {
		if strings.HasPrefix(k, string(bUsage)+"/") {
			continue
		}
		if live[k] != v {
			t.Fatalf("key %q differs between backup and live db", k)
		}
	}
	if r, _, ok := restored.Rules().User(tn.user.ID); !ok || r.ID != tn.user.ID {
		t.Fatal("restored rules lack the user")
	}
}

func TestMigrations_RunOnceAndNewerSchemaIsRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	v1 := migrations[:1] // a binary that knows schema v1 only
	db, err := openWith(ctx, path, Options{NoSync: true}, v1)
	must(t, err)
	if db.SchemaVersion() != 1 {
		t.Fatalf("schema %d", db.SchemaVersion())
	}
	tn := mustTenant(t, db, "1")
	must(t, db.Close())

	runs := 0
	v2 := append(append([]migration{}, v1...), migration{2, "add fake bucket", func(tx *bolt.Tx) error {
		runs++
		_, err := tx.CreateBucket([]byte("fake_v2"))
		return err
	}})
	db, err = openWith(ctx, path, Options{NoSync: true}, v2)
	must(t, err)
	if db.SchemaVersion() != 2 || runs != 1 {
		t.Fatalf("schema %d after %d runs", db.SchemaVersion(), runs)
	}
	if _, err := db.Brand(ctx, tn.brand.ID); err != nil {
		t.Fatal("data lost by migration")
	}
	must(t, db.Close())
	db, err = openWith(ctx, path, Options{NoSync: true}, v2)
	must(t, err)
	if runs != 1 {
		t.Fatal("migration ran twice")
	}
	must(t, db.Close())

	// A binary that only knows v1 refuses the v2 file, untouched.
	_, err = openWith(ctx, path, Options{NoSync: true}, v1)
	if ErrorCode(err) != ESCHEMA || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "up to version 1") {
		t.Fatalf("newer schema: %v", err)
	}
	// A failing migration leaves the file at its old version.
	bad := append(append([]migration{}, v2...), migration{3, "broken", func(tx *bolt.Tx) error { return errors.New("boom") }})
	_, err = openWith(ctx, path, Options{NoSync: true}, bad)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migration %d", 3)) {
		t.Fatalf("broken migration: %v", err)
	}
	db, err = openWith(ctx, path, Options{NoSync: true}, v2)
	must(t, err)
	defer db.Close()
	if db.SchemaVersion() != 2 {
		t.Fatal("failed migration changed the version")
	}
}

func TestOpen_LockedFileGivesClearErrorNotHang(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	db, err := Open(ctx, path, Options{NoSync: true})
	must(t, err)
	defer db.Close()
	start := time.Now()
	_, err = Open(ctx, path, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("second open waited far beyond its timeout")
	}
}

func TestOpen_CorruptFileGivesClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	must(t, os.WriteFile(path, bytes.Repeat([]byte("not a database "), 2000), 0o600))
	_, err := Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt file: %v", err)
	}
}

func TestOpen_CreatesDirectories(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "c.db")
	db, err := Open(context.Background(), path, Options{NoSync: true})
	must(t, err)
	must(t, db.Close())
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

const killChildEnv = "CALLREC_STORE_KILL_CHILD"

// TestKillChild is the child half of TestKill_IndexesConsistentAfterSIGKILLMidBatch: it writes
// recordings through Batch from several goroutines until it is killed.
func TestKillChild(t *testing.T) {
	spec := os.Getenv(killChildEnv)
	if spec == "" {
		t.Skip("only run as the child of the kill test")
	}
	path, companyID, _ := strings.Cut(spec, "|")
	ctx := context.Background()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	var once sync.Once
	for w := 0; w < 8; w++ {
		go func() {
			for i := 0; ; i++ {
				r := newRecording(companyID, time.Time{})
				r.UserID = fmt.Sprint("u", i%5)
				if err := db.CreateRecording(ctx, r); err != nil {
					fmt.Println("create:", err)
					os.Exit(4)
				}
				switch i % 3 {
				case 0:
					_ = db.FinishRecording(ctx, r.ID, time.Now(), 10, "/w.wav")
				case 1:
					_, _ = db.DeleteRecording(ctx, r.ID)
				}
				if i == 20 {
					once.Do(func() { fmt.Println("writing") })
				}
			}
		}()
	}
	select {}
}

func TestKill_IndexesConsistentAfterSIGKILLMidBatch(t *testing.T) {
	if os.Getenv(killChildEnv) != "" {
		t.Skip("child")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kill.db")
	db, err := Open(ctx, path, Options{})
	must(t, err)
	tn := mustTenant(t, db, "1")
	must(t, db.Close())

	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+path+"|"+tn.company.ID)
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		line, _ := bufio.NewReader(out).ReadString('\n')
		if !strings.HasPrefix(line, "writing") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not start writing: %q", line)
		}
		time.Sleep(time.Duration(20+round*40) * time.Millisecond)
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		db, err := Open(ctx, path, Options{Timeout: 5 * time.Second})
		must(t, err)
		checkDB(t, db)
		n := 0
		must(t, db.bolt.View(func(tx *bolt.Tx) error { n = tx.Bucket(bRecordings).Stats().KeyN; return nil }))
		must(t, db.Close())
		if n == 0 {
			t.Fatal("child wrote nothing durable")
		}
		t.Logf("round %d: %d recordings survived the kill, indexes consistent", round, n)
	}
}
