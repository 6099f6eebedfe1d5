package webhook

import (
	"errors"
	"testing"
	"time"
)

// FuzzVerify: any header and body never panic Verify; what Sign signs verifies, and the same
// header over a body with one more byte, or under another secret, does not.
func FuzzVerify(f *testing.F) {
	for _, s := range []struct{ header, body string }{
		{"t=1800000000,v1=00", `{}`},
		{"t=,v1=", ""},
		{"v1=zz,t=-1,v1=" + "ab", `{"id":"x"}`},
		{"t=99999999999999999999999,v1=00", "x"},
		{",,,=,t=1=2", "\x00\xff"},
	} {
		f.Add("whsec_s", s.header, []byte(s.body), int64(1_800_000_000))
	}
	f.Fuzz(func(t *testing.T, secret, header string, body []byte, unix int64) {
		now := time.Unix(unix%(1<<40), 0)
		_ = Verify(secret, header, body, now, 0) // must not panic
		sig := Sign(secret, now, body)
		if err := Verify(secret, sig, body, now, 0); err != nil {
			t.Fatalf("Sign's own signature does not verify: %v", err)
		}
		if err := Verify(secret, sig, append(append([]byte{}, body...), 'x'), now, 0); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("a longer body verifies: %v", err)
		}
		if err := Verify(secret+"x", sig, body, now, 0); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("another secret verifies: %v", err)
		}
	})
}
