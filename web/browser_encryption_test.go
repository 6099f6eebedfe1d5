package web

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// Encryption at rest in the page (issue 15 item 6): a brand admin turns it on in the company
// form and is told when it applies; the Keys button shows the company's data keys and rotates
// them after a confirmation; a company admin sees the setting read-only, the keys, and a sealed
// recording marked "encrypted at rest" in the recordings' checks, playing as any other.
func TestBrowser_EncryptionAtRestTurnedOnKeysRotatedSealedRecordingShown(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	a1 := w.co("A1")
	row := "#co-table tr.company[data-id='" + a1.co.ID + "']"

	b.signIn(w.srv.URL(), w.brandTok["A"])
	b.click("nav .tab[data-view=companies]")
	b.find(row + " input.encrypt")
	if hint := b.text(row + " .encrypt-hint"); !strings.Contains(hint, "a copied disk or backup holds no audio") {
		t.Errorf("the encryption hint says %q", hint)
	}
	b.setValue(row+" input.encrypt", "true")
	b.click(row + " button.save")
	msg := b.waitText(row+" .status.ok", "Saved")
	if !strings.Contains(msg, "every MP3 encoded from now") {
		t.Errorf("save message %q does not say when encryption applies", msg)
	}
	co, err := w.db.Company(ctx, a1.co.ID)
	must(t, err)
	if !co.EncryptAtRest {
		t.Fatal("encrypt_at_rest was not stored")
	}

	b.click(row + " button.keys")
	b.waitText("#co-table tr.keys-row", "No key yet")
	b.click("#co-table tr.keys-row button.rotate-key")
	if text := b.acceptConfirm(); !strings.Contains(text, "older keys still open theirs") {
		t.Errorf("rotation confirmation %q", text)
	}
	b.waitText("#co-table tr.keys-row .status.ok", "seals the recordings that start from now")
	keys, err := w.db.DataKeys(ctx, a1.co.ID)
	must(t, err)
	if len(keys) != 1 {
		t.Fatalf("%d data keys after one rotation from the page, want 1", len(keys))
	}
	if got := b.text("#co-table tr.keys-row .key-list"); !strings.Contains(got, keys[0].ID) || !strings.Contains(got, "current") {
		t.Errorf("key list %q, want %s current", got, keys[0].ID)
	}

	content := bytes.Repeat([]byte{0xff, 0xf3, 0x14, 0xc4}, 4000)
	sealed := w.sealedRecording(t, a1, content)
	if sealed.EncryptionKeyID != keys[0].ID {
		t.Fatalf("sealed with %s, want %s", sealed.EncryptionKeyID, keys[0].ID)
	}
	for _, width := range []int{1280, 390} {
		b.call("POST", b.s("/window/rect"), map[string]any{"width": width, "height": 900}, nil)
		b.signIn(w.srv.URL(), a1.adminTok)
		checks := "#rec-table tr.rec[data-id='" + sealed.ID + "'] .compliance"
		b.find(checks)
		if got := b.waitText(checks, "encrypted at rest"); !strings.Contains(got, "SHA-256 "+sealed.SHA256[:12]) {
			t.Errorf("%d px: the sealed recording's checks say %q", width, got)
		}
		if got := b.text("#rec-table tr.rec[data-id='" + a1.recDDI.ID + "'] .compliance"); strings.Contains(got, "encrypted") {
			t.Errorf("%d px: a clear recording is shown as %q", width, got)
		}
		b.click("nav .tab[data-view=companies]")
		b.waitText(row+" .ro-encrypt", "on: new recordings are sealed")
		if n := b.jsNumber(`return document.querySelectorAll("` + row + ` input.encrypt").length`); n != 0 {
			t.Errorf("%d px: a company admin is offered the encryption switch (the API refuses it)", width)
		}
		b.click(row + " button.keys")
		b.waitText("#co-table tr.keys-row", "Encryption at rest is on")
		b.screenshot(fmt.Sprintf("company-keys-%d", width))
		b.click(row + " button.keys") // closes it again
		b.waitFor("the keys row closed", func() bool {
			return b.jsNumber(`return document.querySelectorAll("#co-table tr.keys-row").length`) == 0
		})
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors: %v", errs)
	}
}

// The platform admin rotates the master key from the Companies view; brand admins are not
// offered it.
func TestBrowser_PlatformAdminRotatesTheMasterKey(t *testing.T) {
	b := startBrowser(t, t.TempDir())
	w := newWorld(t)
	ctx := context.Background()
	a1 := w.co("A1")
	if _, err := w.srv.Keys.Rotate(ctx, a1.co.ID); err != nil {
		t.Fatal(err)
	}
	before := w.srv.Keys.MasterKeyID()
	b.signIn(w.srv.URL(), w.brandTok["A"])
	b.click("nav .tab[data-view=companies]")
	b.find("#co-table tr.company")
	if n := b.jsNumber(`return document.querySelector("#master-key").hidden ? 0 : 1`); n != 0 {
		t.Error("a brand admin is offered the master key rotation (the API refuses it)")
	}
	b.signIn(w.srv.URL(), w.platform)
	b.click("nav .tab[data-view=companies]")
	b.find("#co-table tr.company")
	b.click("#master-key button.rotate-master")
	if text := b.acceptConfirm(); !strings.Contains(text, "Back the file up again") {
		t.Errorf("confirmation %q", text)
	}
	msg := b.waitText("#master-key .status.ok", "New master key")
	after := w.srv.Keys.MasterKeyID()
	if after == before || !strings.Contains(msg, after) || !strings.Contains(msg, "wraps 1 data key.") {
		t.Errorf("status %q; master key %s → %s", msg, before, after)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("browser console errors: %v", errs)
	}
}
