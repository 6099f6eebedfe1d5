package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestAudioLink_SignedURLWorksWithoutHeaderUntilTamperedOrRevoked(t *testing.T) {
	w := newWorld(t)
	tc := w.co("A1")
	admin := newClient(t, w.srv, tc.adminTok)
	_, b := admin.do("GET", "/api/v1/recordings/"+tc.recDDI.ID+"/link", nil)
	var link linkReply
	must(t, json.Unmarshal(b, &link))
	anon := newClient(t, w.srv, "")
	if resp, body := anon.do("GET", link.URL, nil, "Range", "bytes=0-9"); resp.StatusCode != http.StatusPartialContent || len(body) != 10 {
		t.Fatalf("signed link: %d %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := anon.do("GET", link.DownloadURL, nil); !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download link disposition %q", resp.Header.Get("Content-Disposition"))
	}
	other := strings.Replace(link.URL, tc.recDDI.ID, tc.recOwn.ID, 1)
	tampered := link.URL[:len(link.URL)-2] + "xx"
	for name, u := range map[string]string{"another recording": other, "tampered signature": tampered} {
		if resp, body := anon.do("GET", u, nil); resp.StatusCode != 401 {
			t.Errorf("%s: %d %s, want 401", name, resp.StatusCode, body)
		}
	}
	if resp, _ := newClient(t, w.srv, w.platform).do("DELETE", "/api/v1/tokens/"+tc.adminTokID, nil); resp.StatusCode != 204 {
		t.Fatal("revoke failed")
	}
	if resp, _ := anon.do("GET", link.URL, nil); resp.StatusCode != 401 {
		t.Errorf("link of a revoked token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := newClient(t, w.srv, w.co("B1").adminTok).do("GET", "/api/v1/recordings/"+tc.recDDI.ID+"/link", nil); resp.StatusCode != 404 {
		t.Errorf("link across tenants: %d, want 404", resp.StatusCode)
	}
}
