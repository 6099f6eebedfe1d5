package fsconf

import (
	"strings"
	"testing"

	"github.com/callrec/callrec/store"
)

// TestRender_SkipsAndReportsInvalidCodes: a code that is not 1-3 digits never reaches the XML,
// whatever the store holds; it is reported in Output.Skipped.
func TestRender_SkipsAndReportsInvalidCodes(t *testing.T) {
	r, err := New(Options{RecordPath: "/r", InboundPassword: "pw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.codes = func(*store.Rules) []string {
		return []string{"77", "7a", `1"/><action application="system" data="rm`, "1234", "", "77", "*5", "5"}
	}
	out, err := r.Render()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"7a", `1"/><action application="system" data="rm`, "1234", "", "*5"}
	if strings.Join(out.Skipped, "|") != strings.Join(want, "|") {
		t.Errorf("Skipped = %q, want %q", out.Skipped, want)
	}
	xfer := string(out.File(TransferFile))
	if strings.Count(xfer, "<extension ") != 4 {
		t.Errorf("want extensions for 5, 77 and the catch-all (two) only:\n%s", xfer)
	}
	for _, bad := range []string{"system", "1234", "7a"} {
		if strings.Contains(xfer, bad) {
			t.Errorf("transfer context contains %q:\n%s", bad, xfer)
		}
	}
	b, err := r.DialplanXML("dialplan", "callrec_transfer")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "system") {
		t.Errorf("DialplanXML leaks an invalid code:\n%s", b)
	}
}
