// Package e164 normalises telephone numbers to E.164 (`+34911234567`).
//
// It is the one place where callrec parses numbers: the store validates DDIs with it and the
// call policy (package dialplan) normalises what FreeSWITCH reports as caller and destination.
// It wraps github.com/nyaruka/phonenumbers, the Go port of Google's libphonenumber.
package e164

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("not a valid E.164 number")

// Normalize returns raw in E.164 form. It accepts an international number written with `+` or
// the `00` international prefix (spaces, dots, dashes and parentheses are ignored), and a national
// number when defaultCountry (ISO 3166 alpha-2, e.g. "ES") is given. Anyone may call it; the error
// wraps ErrInvalid and says why the number was refused.
func Normalize(raw, defaultCountry string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	}
	var digits strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && i == 0:
			digits.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", fmt.Errorf("%w: unexpected character %q", ErrInvalid, r)
		}
	}
	n := digits.String()
	if strings.HasPrefix(n, "00") {
		n = "+" + n[2:]
	}
	region := strings.ToUpper(defaultCountry)
	if !strings.HasPrefix(n, "+") && region == "" {
		return "", fmt.Errorf("%w: %q has no country code and no default country is configured", ErrInvalid, raw)
	}
	if len(strings.TrimPrefix(n, "+")) < 4 || len(strings.TrimPrefix(n, "+")) > 15 {
		return "", fmt.Errorf("%w: %q has the wrong number of digits", ErrInvalid, raw)
	}
	num, err := phonenumbers.Parse(n, region)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalid, raw, err)
	}
	if !phonenumbers.IsPossibleNumber(num) {
		return "", fmt.Errorf("%w: %q is not a possible number", ErrInvalid, raw)
	}
	out := phonenumbers.Format(num, phonenumbers.E164)
	if !IsE164(out) { // a national number with default_country can grow past 15 digits (FuzzNormalize)
		return "", fmt.Errorf("%w: %q is longer than E.164 allows", ErrInvalid, raw)
	}
	// The result must be its own normal form: a stored number is compared with what FreeSWITCH
	// reports by normalising that again. libphonenumber drops a national prefix after the
	// country code (+81 0…), so some digit strings shrink each time they are parsed
	// (+810000000000 → +81000000000 → +8100000000, found by FuzzNormalize): refuse those.
	if again, err := phonenumbers.Parse(out, ""); err != nil || phonenumbers.Format(again, phonenumbers.E164) != out {
		return "", fmt.Errorf("%w: %q has no stable E.164 form", ErrInvalid, raw)
	}
	return out, nil
}

// IsE164 reports whether s is already in normalised form (`+` and 4–15 digits, no leading zero).
func IsE164(s string) bool {
	if len(s) < 5 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Region returns the ISO 3166 alpha-2 region of an E.164 number ("+34911234567" → "ES"): the
// region whose numbering plan the number is valid in, else the main region of its country
// code ("+1…" → "US"), else "". Anyone may call it.
func Region(number string) string {
	num, err := phonenumbers.Parse(number, "")
	if err != nil {
		return ""
	}
	if r := phonenumbers.GetRegionCodeForNumber(num); r != "" && r != "ZZ" && r != "001" {
		return r
	}
	if r := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode())); r != "ZZ" && r != "001" {
		return r
	}
	return ""
}

// ValidRegion reports whether code is an upper-case ISO 3166 alpha-2 region with a telephone
// numbering plan ("ES", "US"; not "es", "ZZ" or "EU"). Anyone may call it.
func ValidRegion(code string) bool {
	if len(code) != 2 || strings.ToUpper(code) != code {
		return false
	}
	return phonenumbers.GetCountryCodeForRegion(code) != 0
}
