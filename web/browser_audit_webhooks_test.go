package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestBrowser_PersonEraseSendsTheDryRunsIDs: a recording of the person that arrives between the
// dry run and the confirmation is not erased unseen: the page erases only the ids the dry run
// listed, so the newcomer survives and the person still has it.
func TestBrowser_PersonEraseSendsTheDryRunsIDs(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	a1 := w.co("A1")

	b.signIn(w.srv.URL(), a1.adminTok)
	b.click("nav .tab[data-view=person]")
	b.typeInto("#person-form [name=number]", "+34600111222")
	b.click("#person-form button.person-lookup")
	b.waitText("#person-count", "3 recordings involve +34600111222")

	b.click("#person-erase")
	var text string
	b.waitFor("the erase confirmation", func() bool { var ok bool; text, ok = b.alertText(); return ok })
	if !strings.HasPrefix(text, "Erase 3 recordings of +34600111222?") {
		t.Errorf("confirmation %q, want the exact count 3", text)
	}
	// While the admin reads the confirmation, a new call of the person is recorded.
	late := w.recording(t, a1, store.TypeDDI, "", time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC))
	b.call("POST", b.s("/alert/accept"), map[string]any{}, nil)
	b.waitText("#person-note", "Erased 3 recordings.")
	b.waitText("#person-count", "1 recording involve")
	if _, err := w.db.Recording(ctx, late.ID); err != nil {
		t.Errorf("the recording that arrived after the dry run was erased unseen: %v", err)
	}
	for _, r := range []*store.Recording{a1.recDDI, a1.recOwn, a1.recOther} {
		if _, err := w.db.Recording(ctx, r.ID); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("recording %s not erased: %v", r.ID, err)
		}
	}
}
