package esl

import (
	"fmt"
	"path/filepath"
	"strings"
)

// absPath returns p absolute and clean. FreeSWITCH writes a relative record path under its own
// sound_prefix or base dir (switch_ivr_async.c switch_ivr_record_session_event ~3079–3100),
// never under callrec's working directory, so every path callrec hands FreeSWITCH or compares
// with FreeSWITCH's is made absolute once, here. Empty stays empty when optional; a required
// empty path is an error naming field.
func absPath(field, p string, required bool) (string, error) {
	if p == "" {
		if required {
			return "", fmt.Errorf("esl: %s is required", field)
		}
		return "", nil
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("esl: %s %q: %w", field, p, err)
	}
	return abs, nil // filepath.Abs cleans
}

// underDir reports whether path (as FreeSWITCH reported it, maybe with doubled slashes from
// record-path + "/" + template) lies directly in or below dir (absolute and clean).
func underDir(path, dir string) bool {
	if dir == "" {
		return false
	}
	return strings.HasPrefix(filepath.Clean(path), dir+string(filepath.Separator))
}

// samePath compares two file paths cleaned.
func samePath(a, b string) bool { return a != "" && b != "" && filepath.Clean(a) == filepath.Clean(b) }
