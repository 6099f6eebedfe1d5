package dialplan

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// key is one digit typed after a pause (since the previous key); flush asks the matcher to resolve
// at that moment, as the controller does when the Deadline passes.
type key struct {
	d     rune
	pause time.Duration
	flush bool
}

func keys(s string) []key {
	var ks []key
	for _, r := range s {
		ks = append(ks, key{d: r, pause: 150 * time.Millisecond})
	}
	return ks
}

func then(a []key, b ...key) []key { return append(slices.Clone(a), b...) }

func silence(d time.Duration) key { return key{pause: d, flush: true} }

func TestCodeMatcher(t *testing.T) {
	const gap = DefaultInterDigit
	long := gap + time.Millisecond
	tests := []struct {
		name  string
		codes []string
		keys  []key
		want  []string
	}{
		{"exact code matches at its last digit", []string{"12"}, keys("*12"), []string{"12"}},
		{"single digit code", []string{"7"}, keys("*7"), []string{"7"}},
		{"three digit code", []string{"123"}, keys("*123"), []string{"123"}},
		{"code without star does not match", []string{"12"}, keys("12"), nil},
		{"partial code then timeout does not match", []string{"123"}, then(keys("*12"), silence(long)), nil},
		{"partial code then a later digit does not complete it", []string{"123"}, then(keys("*12"), key{d: '3', pause: long}), nil},
		{"other digits before the star are ignored", []string{"12"}, keys("5551*12"), []string{"12"}},
		{"a wrong digit abandons the attempt", []string{"12"}, keys("*132"), nil},
		{"a wrong digit then a new star matches", []string{"12"}, keys("*13*12"), []string{"12"}},
		{"repeated star starts over", []string{"12"}, keys("***12"), []string{"12"}},
		{"star inside the code starts over", []string{"12"}, keys("*1*12"), []string{"12"}},
		{"the code typed twice matches twice", []string{"12"}, keys("*12*12"), []string{"12", "12"}},
		{"digits after a match are ignored", []string{"12"}, keys("*1212"), []string{"12"}},
		{"hash ends a partial code without a match", []string{"12"}, keys("*1#2"), nil},
		{"letters A-D abandon the attempt", []string{"12"}, keys("*1A2"), nil},
		{"non-DTMF runes are ignored", []string{"12"}, keys("*1x2"), []string{"12"}},
		{"digits split by a long pause do not match", []string{"12"}, []key{{d: '*'}, {d: '1', pause: 100 * time.Millisecond}, {d: '2', pause: long}}, nil},
		{"a pause just under the timeout still matches", []string{"12"}, []key{{d: '*'}, {d: '1', pause: gap - time.Millisecond}, {d: '2', pause: gap - time.Millisecond}}, []string{"12"}},
		{"star then a long pause then the code does not match", []string{"12"}, []key{{d: '*'}, {d: '1', pause: long}, {d: '2'}}, nil},
		{"flush before the deadline does nothing", []string{"1", "12"}, then(keys("*1"), key{pause: gap / 2, flush: true}, key{d: '2', pause: 100 * time.Millisecond}), []string{"12"}},

		{"overlapping: longer code", []string{"1", "12"}, keys("*12"), []string{"12"}},
		{"overlapping: shorter code resolved by silence", []string{"1", "12"}, then(keys("*1"), silence(gap)), []string{"1"}},
		{"overlapping: shorter code resolved by hash", []string{"1", "12"}, keys("*1#"), []string{"1"}},
		{"overlapping: shorter code resolved by a new star", []string{"1", "12"}, keys("*1*12"), []string{"1", "12"}},
		{"overlapping: shorter code then a digit fitting neither", []string{"1", "12"}, keys("*13"), nil},
		{"overlapping: shorter code expired before the next key is reported late", []string{"1", "12"},
			then(keys("*1"), key{d: '*', pause: long}, key{d: '1', pause: 100 * time.Millisecond}, key{d: '2', pause: 100 * time.Millisecond}), []string{"1", "12"}},
		{"overlapping: shorter code expired, a digit after the pause counts for nothing", []string{"1", "12"},
			then(keys("*1"), key{d: '2', pause: long}), []string{"1"}},
		{"overlapping three levels", []string{"1", "12", "123"}, then(keys("*12"), silence(gap), key{d: '*'}, key{d: '1'}, key{d: '2'}, key{d: '3'}), []string{"12", "123"}},
		{"prefix that is no code times out silently", []string{"12", "13"}, then(keys("*1"), silence(gap)), nil},
		{"duplicate codes are one code", []string{"12", "12"}, keys("*12"), []string{"12"}},
	}
	t0 := time.Unix(1_800_000_000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewCodeMatcher(tt.codes, gap)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			now := t0
			for _, k := range tt.keys {
				now = now.Add(k.pause)
				var code string
				var ok bool
				if k.flush {
					code, ok = m.Flush(now)
				} else {
					code, ok = m.Feed(k.d, now)
				}
				if ok {
					got = append(got, code)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("matched %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCodeMatcher_Deadline(t *testing.T) {
	m, err := NewCodeMatcher([]string{"1", "12"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	if _, ok := m.Deadline(); ok {
		t.Error("idle matcher has a deadline")
	}
	m.Feed('*', t0)
	if d, ok := m.Deadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Errorf("after '*' deadline %v %v, want %v", d, ok, t0.Add(time.Second))
	}
	m.Feed('1', t0.Add(300*time.Millisecond))
	if d, ok := m.Deadline(); !ok || !d.Equal(t0.Add(1300*time.Millisecond)) {
		t.Errorf("after '1' deadline %v %v, want it moved to %v", d, ok, t0.Add(1300*time.Millisecond))
	}
	if code, ok := m.Flush(t0.Add(1300 * time.Millisecond)); !ok || code != "1" {
		t.Errorf("Flush at the deadline = %q %v, want 1", code, ok)
	}
	if _, ok := m.Deadline(); ok {
		t.Error("matcher still has a deadline after Flush")
	}
	m.Feed('*', t0.Add(2*time.Second))
	m.Reset()
	if _, ok := m.Deadline(); ok {
		t.Error("matcher still has a deadline after Reset")
	}
	if _, ok := m.Feed('1', t0.Add(2100*time.Millisecond)); ok {
		t.Error("Reset did not abandon the attempt")
	}
}

func TestNewCodeMatcher_RefusesBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		codes []string
		gap   time.Duration
		err   error
	}{
		{"no code", nil, time.Second, ErrInvalidCode},
		{"empty code", []string{""}, time.Second, ErrInvalidCode},
		{"four digits", []string{"1234"}, time.Second, ErrInvalidCode},
		{"star included", []string{"*1"}, time.Second, ErrInvalidCode},
		{"one bad among good", []string{"1", "x"}, time.Second, ErrInvalidCode},
		{"zero timeout", []string{"1"}, 0, ErrInvalidTimeout},
		{"negative timeout", []string{"1"}, -time.Second, ErrInvalidTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewCodeMatcher(tt.codes, tt.gap); !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
		})
	}
}

func BenchmarkCodeMatcherFeed(b *testing.B) {
	m, err := NewCodeMatcher([]string{"1", "12", "123"}, DefaultInterDigit)
	if err != nil {
		b.Fatal(err)
	}
	digits := []rune("5*12*1#*123*9")
	t0 := time.Unix(1_800_000_000, 0)
	matches := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := m.Feed(digits[i%len(digits)], t0.Add(time.Duration(i)*time.Millisecond)); ok {
			matches++
		}
	}
	b.ReportMetric(float64(matches)/float64(b.N), "matches/digit")
}
