package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCreateDDI_AnnouncementTable: the API side of the one announcement table
// (dialplan/testdata/announcements.txt, which dialplan's TestDecide_AnnouncementTable plays
// through the call path): what the call path would refuse is a 400 on the announcement field,
// what it plays is stored.
func TestCreateDDI_AnnouncementTable(t *testing.T) {
	f, err := os.Open("../dialplan/testdata/announcements.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
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
		d := &DDI{CompanyID: tn.company.ID, Number: fmt.Sprintf("+3491200%04d", n), RecordCalls: RecordAll, Announcement: ann}
		err = db.CreateDDI(ctx, d)
		switch verdict {
		case "ok":
			if err != nil || d.Announcement != ann {
				t.Errorf("%q: %v (stored %q), want it accepted as given", ann, err, d.Announcement)
			}
		default:
			if ErrorCode(err) != EINVALID || ErrorField(err) != "announcement" {
				t.Errorf("%q: %v, want invalid announcement", ann, err)
			}
		}
	}
}

// TestDDIsWithInvalidAnnouncements_NamesWhatAnOlderVersionAccepted: a DDI stored before the
// shared validation with an announcement the call path refuses is listed, so serve can say that
// its calls go unrecorded.
func TestDDIsWithInvalidAnnouncements_NamesWhatAnOlderVersionAccepted(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	good := &DDI{CompanyID: tn.company.ID, Number: "+34912000101", RecordCalls: RecordAll, Announcement: "ivr/notice.wav"}
	must(t, db.CreateDDI(ctx, good))
	old := &DDI{CompanyID: tn.company.ID, Number: "+34912000102", RecordCalls: RecordAll}
	must(t, db.CreateDDI(ctx, old))
	old.Announcement = "$${sounds_dir}/notice.wav" // as an older version stored it
	must(t, db.adminUpdate(ctx, func(tx *bolt.Tx) error { return putJSON(tx, bDDIs, old.ID, old) }))
	bad, err := db.DDIsWithInvalidAnnouncements(ctx)
	must(t, err)
	if len(bad) != 1 || bad[0].ID != old.ID {
		t.Fatalf("listed %+v, want only %s", bad, old.ID)
	}
}
