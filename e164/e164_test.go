package e164

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		raw, country, want string
		ok                 bool
	}{
		{"+34 911 234 567", "", "+34911234567", true},
		{"0034911234567", "", "+34911234567", true},
		{"0034 911-234.567", "", "+34911234567", true},
		{"911234567", "ES", "+34911234567", true},
		{"(020) 7946 0018", "GB", "+442079460018", true},
		{"+1 415 555 2671", "ES", "+14155552671", true},
		{"911234567", "", "", false},
		{"", "ES", "", false},
		{"hello", "ES", "", false},
		{"+34 91x 234", "", "", false},
		{"+12", "", "", false},
		{"+3491123456789012345", "", "", false},
		{"34+911234567", "", "", false},
		{"+34911234567\n", "", "+34911234567", true},
		{"+34911\r\n234567", "", "", false},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.raw, tt.country)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("Normalize(%q, %q) = %q, %v; want %q ok=%v", tt.raw, tt.country, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Normalize(%q) error %v does not wrap ErrInvalid", tt.raw, err)
		}
	}
}

func TestIsE164(t *testing.T) {
	for s, want := range map[string]bool{"+34911234567": true, "34911234567": false, "+0123": false, "+34 91": false, "+1234": true, "": false} {
		if IsE164(s) != want {
			t.Errorf("IsE164(%q) = %v, want %v", s, !want, want)
		}
	}
}

func TestRegion(t *testing.T) {
	for number, want := range map[string]string{
		"+34911234567": "ES", "+34600999888": "ES", "+12125550100": "US", "+442079460018": "GB",
		"+1": "", "not a number": "", "": "",
	} {
		if got := Region(number); got != want {
			t.Errorf("Region(%q) = %q, want %q", number, got, want)
		}
	}
}

func TestValidRegion(t *testing.T) {
	for code, want := range map[string]bool{"ES": true, "US": true, "GB": true, "es": false, "ZZ": false, "EU": false, "": false, "ESP": false} {
		if got := ValidRegion(code); got != want {
			t.Errorf("ValidRegion(%q) = %v, want %v", code, got, want)
		}
	}
}
