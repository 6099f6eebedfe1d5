package e164

import (
	"strings"
	"testing"
)

// FuzzNormalize: Normalize never panics; what it accepts is E.164, is accepted again unchanged
// (with or without a default country), and has a region lookup that does not panic.
func FuzzNormalize(f *testing.F) {
	for _, s := range [][2]string{
		{"+34 911 23 45 67", ""}, {"0034911234567", ""}, {"911234567", "ES"}, {"(212) 555-0100", "US"},
		{"+1", ""}, {"+", "ES"}, {"00", "ES"}, {"+999999999999999999", ""}, {"٣٤٥", "ES"}, {"+34911234567\r\n", "es"},
		{"1234", "ZZ"}, {"+8613800138000", ""}, {"+44 20 7946 0958", "GB"}, {"+882123456789", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, country string) {
		n, err := Normalize(raw, country)
		ValidRegion(country)
		if err != nil {
			if n != "" {
				t.Fatalf("Normalize(%q, %q) = %q with error %v", raw, country, n, err)
			}
			return
		}
		if !IsE164(n) {
			t.Fatalf("Normalize(%q, %q) = %q, not E.164", raw, country, n)
		}
		for _, c := range []string{"", country} {
			if again, err := Normalize(n, c); err != nil || again != n {
				t.Fatalf("Normalize(%q, %q) = %q, %v; want %q again (from %q)", n, c, again, err, n, raw)
			}
		}
		if r := Region(n); r != "" && !ValidRegion(r) && strings.ToUpper(r) == r {
			t.Fatalf("Region(%q) = %q, not a valid region", n, r)
		}
	})
}
