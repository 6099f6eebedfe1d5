package audio

import (
	"fmt"
	"math"
)

// mp3Rates are the MPEG-1 Layer III sample rates, the output for every WAV
// rate that is not in directRates.
var mp3Rates = [...]int{32000, 44100, 48000}

// directRates are the WAV rates encoded at their own rate, without
// upsampling: 8 kHz (narrowband codecs: PCMU, PCMA, G.729, GSM) as MPEG-2.5
// and 16 kHz (wideband: G.722, Opus at 16 kHz) as MPEG-2, 576 samples a
// frame. shine-mp3 v0.2.0's 8 kHz band table (tables.go
// scaleFactorBandIndex[8]) is the one LAME and FFmpeg decode with. Its
// 16 kHz table has two typos (45 and 248 where ISO 13818-3 has 54 and 284),
// but shine writes no scale factors and uses the table only for the Huffman
// region boundaries, which never fall on those entries (band 8 or 17) for
// any big_values: TestShineEncoder_RegionBoundariesAvoidShinesTableTypos
// checks every granule it writes. Other rates below 32 kHz are not rates
// FreeSWITCH records calls at and keep their MPEG-1 mapping. See DECISION.md.
var directRates = [...]int{8000, 16000}

// OutputRate returns the MP3 sample rate used for a WAV recorded at rate Hz
// and the integer upsampling factor that gets there: the WAV's own rate for
// 8 kHz (MPEG-2.5) and 16 kHz (MPEG-2), ×1; otherwise the smallest MPEG-1
// rate that is a whole multiple of rate. Every rate FreeSWITCH records at has
// one (8k and 16k ×1, 12k→48k ×4, 24k→48k ×2, 11.025k/22.05k→44.1k,
// 32k/44.1k/48k ×1). Errors: ErrUnsupported for any other rate.
func OutputRate(rate int) (out, factor int, err error) {
	for _, r := range directRates {
		if rate == r {
			return rate, 1, nil
		}
	}
	if rate > 0 {
		for _, r := range mp3Rates {
			if r%rate == 0 {
				return r, r / rate, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("%w: no MPEG-1 rate is a whole multiple of %d Hz", ErrUnsupported, rate)
}

// upsampler raises the sample rate of interleaved int16 audio by an integer
// factor with a Kaiser-windowed sinc interpolator. Phase 0 of the filter is a
// unit impulse, so every input sample reappears unchanged at every factor-th
// output position and the output is aligned with the input (no delay). The
// output has exactly factor × input frames.
type upsampler struct {
	factor, half, ch int
	coef             [][]float64 // [phase][tap]; tap j weighs x[n-half+1+j]
	hist             [][]float64 // per channel: x[next-half+1 ...]
	next             int64       // next input index to interpolate from
	in               int64       // input frames seen
}

const (
	upsampleHalfTaps = 16  // input samples each side: 32 taps per phase
	upsampleBeta     = 8.0 // Kaiser beta: about 80 dB stopband
)

func newUpsampler(factor, channels int) *upsampler {
	u := &upsampler{factor: factor, half: upsampleHalfTaps, ch: channels}
	u.coef = make([][]float64, factor)
	for p := range factor {
		c := make([]float64, 2*u.half)
		for j := range c {
			t := float64(p)/float64(factor) + float64(u.half-1-j)
			c[j] = sinc(t) * kaiser(t/float64(u.half), upsampleBeta)
		}
		u.coef[p] = c
	}
	u.hist = make([][]float64, channels)
	for c := range u.hist {
		u.hist[c] = make([]float64, u.half-1, 4096) // x[-half+1 .. -1] = 0
	}
	return u
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

func kaiser(x, beta float64) float64 {
	if x <= -1 || x >= 1 {
		return 0
	}
	return bessel0(beta*math.Sqrt(1-x*x)) / bessel0(beta)
}

// bessel0 is the modified Bessel function of the first kind, order 0.
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// push adds interleaved input frames and appends the output frames that are
// now complete to dst.
func (u *upsampler) push(dst, src []int16) []int16 {
	for i, s := range src {
		c := i % u.ch
		u.hist[c] = append(u.hist[c], float64(s))
	}
	u.in += int64(len(src) / u.ch)
	return u.drain(dst, u.in-1-int64(u.half))
}

// flush pads the input with silence and appends the remaining output frames.
func (u *upsampler) flush(dst []int16) []int16 {
	for c := range u.hist {
		for range u.half {
			u.hist[c] = append(u.hist[c], 0)
		}
	}
	return u.drain(dst, u.in-1)
}

// drain interpolates around input indices next..last.
func (u *upsampler) drain(dst []int16, last int64) []int16 {
	taps := 2 * u.half
	k := 0
	for ; u.next+int64(k) <= last; k++ {
		for p := range u.factor {
			co := u.coef[p]
			for c := range u.ch {
				x := u.hist[c][k : k+taps]
				var acc float64
				for j, v := range x {
					acc += v * co[j]
				}
				dst = append(dst, clip16(acc))
			}
		}
	}
	u.next += int64(k)
	for c := range u.hist {
		n := copy(u.hist[c], u.hist[c][k:])
		u.hist[c] = u.hist[c][:n]
	}
	return dst
}

func clip16(v float64) int16 {
	v = math.Round(v)
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}
