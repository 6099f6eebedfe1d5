package dialplan

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// AnnouncementCase is one line of testdata/announcements.txt.
type announcementCase struct {
	ok bool
	s  string
}

// readAnnouncementTable reads the shared table; store's tests read the same file.
func readAnnouncementTable(t *testing.T) []announcementCase {
	t.Helper()
	f, err := os.Open("testdata/announcements.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []announcementCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verdict, quoted, _ := strings.Cut(line, "\t")
		s, err := strconv.Unquote(quoted)
		if err != nil || (verdict != "ok" && verdict != "bad") {
			t.Fatalf("bad table line %q: %v", line, err)
		}
		out = append(out, announcementCase{ok: verdict == "ok", s: s})
	}
	return out
}

// TestCheckAnnouncement_Table: the validation itself, on the shared table and on the length bound.
func TestCheckAnnouncement_Table(t *testing.T) {
	cases := append(readAnnouncementTable(t),
		announcementCase{true, strings.Repeat("a", MaxAnnouncement)},
		announcementCase{false, strings.Repeat("a", MaxAnnouncement+1)},
		announcementCase{false, ""})
	for _, tc := range cases {
		if err := CheckAnnouncement(tc.s); (err == nil) != tc.ok {
			t.Errorf("CheckAnnouncement(%q) = %v, want ok=%v", tc.s, err, tc.ok)
		}
	}
}

// TestDecide_AnnouncementTable: the call path plays exactly what the table accepts and does not
// record (DecisionInvalidAnnouncement) what it refuses, the same verdicts the API gives.
func TestDecide_AnnouncementTable(t *testing.T) {
	c := company(OnDemandDisabled, "")
	for _, tc := range readAnnouncementTable(t) {
		p := Decide(inbound(ddi(RecordAll, tc.s), c))
		switch {
		case tc.ok && (p.Decision != DecisionRecordInbound || p.Record.Announcement != tc.s):
			t.Errorf("%q: decision %s, announcement %q; want it recorded after the announcement", tc.s, p.Decision, p.Record.Announcement)
		case !tc.ok && p.Decision != DecisionInvalidAnnouncement:
			t.Errorf("%q: decision %s, want %s", tc.s, p.Decision, DecisionInvalidAnnouncement)
		}
	}
}
