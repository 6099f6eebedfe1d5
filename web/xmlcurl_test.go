package web

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestXMLCurl_AnswersOnlyAuthenticatedTransferContextRequests(t *testing.T) {
	rendered := 0
	srv := &Server{Addr: "127.0.0.1:0", DB: MustOpenStore(t), XMLCurl: &XMLCurl{
		Password: "s3cret",
		Contexts: []string{"callrec_transfer"},
		Render: func(section, context string) ([]byte, error) {
			rendered++
			return []byte("<document><context name=\"" + context + "\"/></document>"), nil
		},
	}}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	post := func(pw string, form url.Values) (int, string) {
		req, _ := http.NewRequest("POST", srv.URL()+"/fsconf/xml", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if pw != "" {
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("freeswitch:"+pw)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	dialplan := url.Values{"section": {"dialplan"}, "Hunt-Context": {"callrec_transfer"}}
	tests := []struct {
		name   string
		pw     string
		form   url.Values
		status int
		want   string
	}{
		{"no credentials", "", dialplan, 401, "unauthorized"},
		{"wrong password", "nope", dialplan, 401, "unauthorized"},
		{"transfer context", "s3cret", dialplan, 200, `<context name="callrec_transfer"/>`},
		{"other context falls back to static XML", "s3cret", url.Values{"section": {"dialplan"}, "Hunt-Context": {"public"}}, 200, `status="not found"`},
		{"other section", "s3cret", url.Values{"section": {"directory"}}, 200, `status="not found"`},
	}
	for _, tt := range tests {
		status, body := post(tt.pw, tt.form)
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %q, want %d containing %q", tt.name, status, body, tt.status, tt.want)
		}
	}
	if rendered != 1 {
		t.Errorf("rendered %d times, want once", rendered)
	}
}
