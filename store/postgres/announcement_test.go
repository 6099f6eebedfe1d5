package postgres

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDDIsWithInvalidAnnouncements_AnnouncementTable: DDIs stored with each announcement of the
// one announcement table (dialplan/testdata/announcements.txt), as rows an older version may
// have written (no validation on the way in): exactly the "bad" ones are listed, by id, and a
// DDI without announcement is not.
func TestDDIsWithInvalidAnnouncements_AnnouncementTable(t *testing.T) {
	f, err := os.Open("../../dialplan/testdata/announcements.txt")
	must(t, err)
	defer f.Close()
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	insert := func(n int, ann string) string {
		id := db.newID(db.now())
		_, err := db.pool.Exec(ctx, "INSERT INTO ddis (id, company_id, number, record_calls, announcement) VALUES ($1, $2, $3, 'all', $4)",
			id, tn.companyID, fmt.Sprintf("+3491200%04d", n), ann)
		must(t, err)
		return id
	}
	insert(9999, "")
	var want []string
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verdict, quoted, _ := strings.Cut(line, "\t")
		ann, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatalf("bad table line %q: %v", line, err)
		}
		if strings.ContainsRune(ann, 0) { // PostgreSQL text cannot hold NUL: no row can carry it
			continue
		}
		id := insert(n, ann)
		if verdict != "ok" {
			want = append(want, id)
		}
	}
	must(t, sc.Err())
	if len(want) == 0 {
		t.Fatal("the table has no bad announcement")
	}
	bad, err := db.DDIsWithInvalidAnnouncements(ctx)
	must(t, err)
	var got []string
	for _, d := range bad {
		got = append(got, d.ID)
		if d.Announcement == "" || d.CompanyID != tn.companyID {
			t.Errorf("listed %+v", d)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
}

// TestDDIsWithInvalidAnnouncements_NoneWhenAllPlay: nil when every stored announcement plays.
func TestDDIsWithInvalidAnnouncements_NoneWhenAllPlay(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	_, err := db.pool.Exec(ctx, "INSERT INTO ddis (id, company_id, number, announcement) VALUES ('D1', $1, '+34912000101', 'ivr/notice.wav')", tn.companyID)
	must(t, err)
	if bad, err := db.DDIsWithInvalidAnnouncements(ctx); err != nil || bad != nil {
		t.Errorf("DDIsWithInvalidAnnouncements = %+v, %v; want none", bad, err)
	}
}
