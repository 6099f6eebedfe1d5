package dialplan

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var codeSyntax = regexp.MustCompile(`^[0-9]{1,3}$`)

// FuzzCodeMatcher: code parsing (ValidCode, NewCodeMatcher) agrees with the syntax of SPEC.md
// §2, and a matcher fed any digits at any pace never panics, reports only its own codes, only
// codes the user typed after a '*', and after Reset always finds "*"+code+"#" typed in time.
func FuzzCodeMatcher(f *testing.F) {
	f.Add("7", "*7", []byte{0, 1})
	f.Add("1,12", "*1*12#*1", []byte{0, 200, 1, 1, 1, 1, 1, 1})
	f.Add("123,12,1", "**12#3*123", []byte{10, 20, 30})
	f.Add("0,00,000", "*000*00#*0", []byte{255, 255, 0})
	f.Add("1234,a,,*1", "*1234", []byte{})
	f.Add("9", "A*9D*9#xyz*", []byte{5, 5, 5, 5, 5, 5, 5, 5, 5})
	f.Fuzz(func(t *testing.T, codeList, digits string, gaps []byte) {
		codes := strings.Split(codeList, ",")
		allValid := true
		for _, c := range codes {
			if ValidCode(c) != codeSyntax.MatchString(c) {
				t.Fatalf("ValidCode(%q) = %v, syntax says %v", c, ValidCode(c), codeSyntax.MatchString(c))
			}
			allValid = allValid && ValidCode(c)
		}
		const interDigit = 100 * time.Millisecond
		m, err := NewCodeMatcher(codes, interDigit)
		if (err == nil) != allValid {
			t.Fatalf("NewCodeMatcher(%q) error %v, want one iff a code is invalid", codes, err)
		}
		if err != nil {
			return
		}
		at := time.Unix(1_800_000_000, 0)
		typed := ""
		check := func(code string, ok bool) {
			if !ok {
				return
			}
			if !slices.Contains(codes, code) {
				t.Fatalf("matched %q, not one of %q", code, codes)
			}
			if !strings.Contains(typed, "*"+code) {
				t.Fatalf("matched %q after typing only %q", code, typed)
			}
		}
		for i, d := range digits {
			if i < len(gaps) {
				at = at.Add(time.Duration(gaps[i]) * time.Millisecond)
			}
			if strings.ContainsRune("0123456789*#ABCDabcd", d) {
				typed += string(d) // Feed ignores anything else
			}
			check(m.Feed(d, at))
			if dl, pending := m.Deadline(); pending && !at.Before(dl) {
				check(m.Flush(at))
			}
		}
		at = at.Add(time.Hour)
		check(m.Flush(at))
		for _, c := range codes {
			m.Reset()
			got := 0
			for _, d := range "*" + c + "#" {
				at = at.Add(interDigit / 2)
				typed += string(d)
				if code, ok := m.Feed(d, at); ok {
					check(code, ok)
					if code != c {
						t.Fatalf("typing *%s# matched %q", c, code)
					}
					got++
				}
			}
			if got != 1 {
				t.Fatalf("typing *%s# matched %d times, want once (codes %q)", c, got, codes)
			}
		}
	})
}
