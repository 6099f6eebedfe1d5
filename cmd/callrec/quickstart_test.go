package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestREADME_QuickStartRuns runs README's "Quick start" block, as it is, against a callrec serve,
// and checks that what it created works: the company admin's token sees the company's DDI, the
// user's token signs in as that user. curl and jq are what the README asks for (.ci/run installs
// them); under CI their absence fails the test.
func TestREADME_QuickStartRuns(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed (apt-get install -y curl jq)", tool)
			}
			t.Skipf("%s not installed (apt-get install -y curl jq)", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	must(t, err)
	m := regexp.MustCompile("(?s)<!-- quickstart -->\\s*```sh\\n(.*?)```\\s*<!-- /quickstart -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no quick start block between <!-- quickstart --> markers")
	}
	const token = "crt_quickstart-platform-token-0123456789"
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data_dir", t.TempDir(), "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"},
			[]string{"CALLREC_BOOTSTRAP_TOKEN=" + token, "CALLREC_FREESWITCH__NODES="}, &stdout, &stderr)
	}()
	defer func() { cancel(); <-done }()
	base := waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", string(m[1]))
	cmd.Env = append(os.Environ(), "CALLREC="+base, "TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the quick start failed: %v\n%s", err, out)
	}
	secret := func(label string) string {
		mm := regexp.MustCompile(label + ` token: (crt_\S+)`).FindSubmatch(out)
		if mm == nil {
			t.Fatalf("no %s token in the output:\n%s", label, out)
		}
		return string(mm[1])
	}
	get := func(tok, path string, v any) {
		req, _ := http.NewRequest("GET", base+"/api/v1"+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		must(t, json.NewDecoder(resp.Body).Decode(v))
	}
	var ddis struct {
		Items []struct{ Number, RecordCalls string } `json:"items"`
	}
	get(secret("company admin"), "/ddis", &ddis)
	if len(ddis.Items) != 1 || ddis.Items[0].Number != "+34911234567" {
		t.Errorf("the company admin sees DDIs %+v", ddis.Items)
	}
	var me struct{ Role, Name string }
	get(secret("user"), "/me", &me)
	if me.Role != "user" || !strings.Contains(me.Name, "Ana") {
		t.Errorf("the user's token signs in as %+v", me)
	}
}
