package web

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Signed links are the store's, not one server's: an audio link and an archive link issued by
// one callrec are honoured by another sharing the store (several instances; a restart), and a
// link signed with a key other than the store's is not.
func TestLinks_HonouredByEveryServerOfTheStore(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	other := MustServe(t, w.db) // a second instance on the same store
	admin := newClient(t, w.srv, a1.adminTok)

	resp, b := admin.do("GET", "/api/v1/recordings/"+a1.recDDI.ID+"/link", nil)
	var l linkReply
	if resp.StatusCode != 200 || json.Unmarshal(b, &l) != nil {
		t.Fatalf("audio link: %d %s", resp.StatusCode, b)
	}
	anon := newClient(t, other, "")
	if resp, body := anon.do("GET", l.URL, nil); resp.StatusCode != 200 || !bytes.Equal(body, w.mp3) {
		t.Fatalf("the other instance answers the audio link %d (%d bytes)", resp.StatusCode, len(body))
	}
	status, al, b := archiveLinkOf(t, admin, map[string]any{"ids": []string{a1.recDDI.ID, a1.recOwn.ID}})
	if status != 200 {
		t.Fatalf("archive link: %d %s", status, b)
	}
	if resp, body := anon.do("GET", al.URL, nil); resp.StatusCode != 200 || len(zipNames(t, body)) != 2 {
		t.Fatalf("the other instance answers the archive link %d", resp.StatusCode)
	}

	forged := MustServe(t, MustOpenStore(t)) // another store: another key
	if sig := forged.linkSig("/api/v1/recordings/"+a1.recDDI.ID+"/audio", a1.adminTokID, 4102444800); sig == w.srv.linkSig("/api/v1/recordings/"+a1.recDDI.ID+"/audio", a1.adminTokID, 4102444800) {
		t.Fatal("two stores sign links with the same key")
	}
}
