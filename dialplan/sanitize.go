package dialplan

import (
	"strings"

	"github.com/callrec/callrec/e164"
)

// maxToken caps every sanitised token: no legitimate number, extension or id is longer, and a
// bounded value keeps file names and command lines bounded.
const maxToken = 64

// NormalizeNumber returns raw as E.164 when e164.Normalize accepts it with defaultCountry, and
// otherwise raw stripped of every byte outside [0-9A-Za-z+*#._-] and cut to 64 bytes (SIP user
// parts such as "anonymous", extensions, feature codes). The result is safe in a FreeSWITCH command
// and in a file name; it may be empty. Anyone may call it.
func NormalizeNumber(raw, defaultCountry string) string {
	if e164.IsE164(raw) {
		// Already canonical (stored DDIs, most carriers): parsing would return it unchanged, or
		// fail and leave it unchanged as a token. Skipping the parse saves ~10 µs.
		return raw
	}
	if n, err := e164.Normalize(raw, defaultCountry); err == nil {
		return n
	}
	return Token(raw)
}

// externalNumber returns raw in E.164 and true when the public network can reach it, else
// NormalizeNumber's token and false.
func externalNumber(raw, defaultCountry string) (string, bool) {
	if n, err := e164.Normalize(raw, defaultCountry); err == nil {
		return n, true
	}
	return Token(raw), false
}

// Token returns s with every byte outside [0-9A-Za-z+*#._-] removed, cut to 64 bytes. Anyone may
// call it to make a value safe for a FreeSWITCH command line, a channel variable or a file name.
func Token(s string) string {
	return keep(s, isTokenByte)
}

// idToken is Token for ids embedded in names with '.' separators (see RecPrefix).
func idToken(s string) string {
	return keep(s, func(c byte) bool { return isAlnum(c) || c == '_' || c == '-' })
}

func keep(s string, ok func(byte) bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			clean = false
			break
		}
	}
	if !clean {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if ok(s[i]) {
				b.WriteByte(s[i])
			}
		}
		s = b.String()
	}
	if len(s) > maxToken {
		s = s[:maxToken]
	}
	return s
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isTokenByte(c byte) bool {
	switch c {
	case '+', '*', '#', '.', '_', '-':
		return true
	}
	return isAlnum(c)
}

// ValidCode reports whether code is a valid on-demand code: 1–3 ASCII digits, without the '*'
// the user dials first (SPEC.md §2). The store may use it to validate input; Decide treats a
// stored invalid code as no code.
func ValidCode(code string) bool {
	if len(code) < 1 || len(code) > 3 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// ValidAnnouncement reports whether s is an announcement Decide will hand to FreeSWITCH: that
// is, CheckAnnouncement(s) is nil. Anyone may call it.
func ValidAnnouncement(s string) bool { return CheckAnnouncement(s) == nil }

// ValidContext reports whether s can name a FreeSWITCH dialplan context in a channel variable
// or a command: 1–64 bytes of [0-9A-Za-z_.-]. Anyone may call it.
func ValidContext(s string) bool {
	if len(s) == 0 || len(s) > maxToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
