package fsconf_test

import (
	"strings"
	"testing"
)

// TestRender_SurvivesFreeSWITCHPreprocessor: FreeSWITCH pre-processes configuration line by line
// (switch_xml.c preprocess): it drops every line that contains "<include>", "</include>" or
// "<?", expands "$${var}" anywhere, and acts on "X-PRE-PROCESS" anywhere, comments included. So
// the wrapper tags must stand alone on their lines and nothing else may trip those rules.
func TestRender_SurvivesFreeSWITCHPreprocessor(t *testing.T) {
	_, out := mustRender(t, testOptions())
	for _, f := range out.Files {
		if !strings.HasSuffix(f.Path, ".xml") {
			continue
		}
		for i, line := range strings.Split(string(f.Data), "\n") {
			trimmed := strings.TrimSpace(line)
			if (strings.Contains(line, "<include>") || strings.Contains(line, "</include>")) &&
				trimmed != "<include>" && trimmed != "</include>" {
				t.Errorf("%s:%d: the pre-processor would drop this whole line: %q", f.Path, i+1, line)
			}
			for _, bad := range []string{"<?", "$${", "X-PRE-PROCESS"} {
				if strings.Contains(line, bad) {
					t.Errorf("%s:%d: contains %q: %q", f.Path, i+1, bad, line)
				}
			}
		}
	}
}
