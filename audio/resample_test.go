package audio

import (
	"errors"
	"math"
	"testing"
)

func TestOutputRate_MapsEveryFreeSWITCHRateToAnMP3Rate(t *testing.T) {
	tests := []struct{ in, out, factor int }{
		{8000, 8000, 1}, {11025, 44100, 4}, {12000, 48000, 4}, {16000, 16000, 1},
		{22050, 44100, 2}, {24000, 48000, 2}, {32000, 32000, 1}, {44100, 44100, 1}, {48000, 48000, 1},
	}
	for _, tc := range tests {
		out, f, err := OutputRate(tc.in)
		if err != nil || out != tc.out || f != tc.factor {
			t.Errorf("OutputRate(%d) = %d, ×%d, %v; want %d, ×%d", tc.in, out, f, err, tc.out, tc.factor)
		}
	}
	for _, bad := range []int{0, 7000, 96000} {
		if _, _, err := OutputRate(bad); !errors.Is(err, ErrUnsupported) {
			t.Errorf("OutputRate(%d) err = %v, want ErrUnsupported", bad, err)
		}
	}
}

func tone(rate, n int, hz, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(math.Round(amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))))
	}
	return s
}

func TestUpsampler_KeepsInputSamplesAndLengthAndInterpolatesATone(t *testing.T) {
	for _, tc := range []struct {
		factor int
		in     int
		hz     float64
	}{{4, 8000, 1000}, {4, 8000, 3000}, {2, 16000, 5000}, {3, 16000, 440}} {
		x := tone(tc.in, tc.in, tc.hz, 12000)
		u := newUpsampler(tc.factor, 1)
		var y []int16
		for i := 0; i < len(x); i += 333 { // uneven blocks: streaming must not matter
			y = u.push(y, x[i:min(i+333, len(x))])
		}
		y = u.flush(y)
		if len(y) != tc.factor*len(x) {
			t.Fatalf("×%d: %d samples out of %d, want exactly %d", tc.factor, len(y), len(x), tc.factor*len(x))
		}
		for i := range x {
			if y[i*tc.factor] != x[i] {
				t.Fatalf("×%d: output %d = %d, want input sample %d = %d", tc.factor, i*tc.factor, y[i*tc.factor], i, x[i])
			}
		}
		// Away from the edges the output is the same tone sampled at the new
		// rate: no images of the old rate, no delay.
		want := tone(tc.in*tc.factor, len(y), tc.hz, 12000)
		var sig, noise float64
		for i := 100 * tc.factor; i < len(y)-100*tc.factor; i++ {
			d := float64(y[i]) - float64(want[i])
			sig += float64(want[i]) * float64(want[i])
			noise += d * d
		}
		if snr := 10 * math.Log10(sig/noise); snr < 60 {
			t.Errorf("×%d %v Hz: SNR against the ideal tone %.1f dB, want ≥ 60", tc.factor, tc.hz, snr)
		}
	}
}

func TestUpsampler_KeepsStereoChannelsApart(t *testing.T) {
	l := tone(8000, 800, 500, 10000)
	r := make([]int16, 800)
	u := newUpsampler(4, 2)
	y := u.flush(u.push(nil, interleave(l, r)))
	for i, v := range channel(y, 2, 1) {
		if v != 0 {
			t.Fatalf("right channel sample %d = %d, want silence", i, v)
		}
	}
}
