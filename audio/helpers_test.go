package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	gomp3 "github.com/hajimehoshi/go-mp3"
)

// wavSpec describes a WAV file to build for a test.
type wavSpec struct {
	rate, channels, bits int
	format               uint16 // 0 means PCM
	extensible           bool
	samples              []int16 // interleaved
	riffSize, dataSize   *uint32 // nil: the correct value
	extraBeforeData      []byte  // a raw chunk (id+size+body) put between fmt and data
	trailing             []byte  // bytes appended after the data
}

func u32(v uint32) *uint32 { return &v }

// buildWAV lays out a canonical WAV like libsndfile's: RIFF, fmt, optional
// extra chunk, data.
func buildWAV(s wavSpec) []byte {
	if s.bits == 0 {
		s.bits = 16
	}
	if s.format == 0 {
		s.format = wavFormatPCM
	}
	var fmtBody bytes.Buffer
	tag := s.format
	if s.extensible {
		tag = wavFormatExtensible
	}
	block := s.channels * s.bits / 8
	le := binary.LittleEndian
	fmtBody.Write(le.AppendUint16(nil, tag))
	fmtBody.Write(le.AppendUint16(nil, uint16(s.channels)))
	fmtBody.Write(le.AppendUint32(nil, uint32(s.rate)))
	fmtBody.Write(le.AppendUint32(nil, uint32(s.rate*block)))
	fmtBody.Write(le.AppendUint16(nil, uint16(block)))
	fmtBody.Write(le.AppendUint16(nil, uint16(s.bits)))
	if s.extensible {
		fmtBody.Write(le.AppendUint16(nil, 22))
		fmtBody.Write(le.AppendUint16(nil, uint16(s.bits)))
		fmtBody.Write(le.AppendUint32(nil, 3)) // channel mask
		fmtBody.Write(le.AppendUint16(nil, s.format))
		fmtBody.Write(ksDataFormatTail[:])
	}
	data := make([]byte, 0, 2*len(s.samples))
	for _, v := range s.samples {
		data = le.AppendUint16(data, uint16(v))
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	b.Write([]byte{0, 0, 0, 0})
	b.WriteString("WAVE")
	b.WriteString("fmt ")
	b.Write(le.AppendUint32(nil, uint32(fmtBody.Len())))
	b.Write(fmtBody.Bytes())
	b.Write(s.extraBeforeData)
	b.WriteString("data")
	ds := uint32(len(data))
	if s.dataSize != nil {
		ds = *s.dataSize
	}
	b.Write(le.AppendUint32(nil, ds))
	b.Write(data)
	out := b.Bytes()
	rs := uint32(len(out) - 8)
	if s.riffSize != nil {
		rs = *s.riffSize
	}
	le.PutUint32(out[4:], rs)
	return append(out, s.trailing...)
}

// speechLike builds a deterministic speech-like signal: a glottal pulse train
// with wandering pitch through three formant resonators, vowel changes every
// syllable, unvoiced noise bursts, and pauses with a faint noise floor. Peak
// level about -6 dBFS. seed varies the talker.
func speechLike(rate int, seconds float64, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	n := int(seconds * float64(rate))
	out := make([]float64, n)
	vowels := [][3]float64{{730, 1090, 2440}, {270, 2290, 3010}, {300, 870, 2240}, {530, 1840, 2480}, {570, 840, 2410}}
	type res struct{ a1, a2, g, y1, y2 float64 }
	mk := func(f, bw float64) res {
		r := math.Exp(-math.Pi * bw / float64(rate))
		th := 2 * math.Pi * f / float64(rate)
		return res{a1: 2 * r * math.Cos(th), a2: -r * r, g: 1 - r}
	}
	f0 := 110 + 60*rng.Float64()
	phase := 0.0
	i := 0
	for i < n {
		// a talk spurt of 2..5 syllables, then a pause
		syll := 2 + rng.IntN(4)
		for s := 0; s < syll && i < n; s++ {
			v := vowels[rng.IntN(len(vowels))]
			var rs [3]res
			for k := range rs {
				rs[k] = mk(math.Min(v[k], 0.45*float64(rate)), 60+40*float64(k))
			}
			length := int((0.12 + 0.15*rng.Float64()) * float64(rate))
			unvoiced := rng.IntN(4) == 0
			for j := 0; j < length && i < n; j, i = j+1, i+1 {
				env := math.Sin(math.Pi * float64(j) / float64(length))
				var x float64
				if unvoiced {
					x = 0.3 * (rng.Float64()*2 - 1)
				} else {
					f := f0 * (1 + 0.15*math.Sin(2*math.Pi*float64(i)/float64(rate)*1.3))
					phase += f / float64(rate)
					if phase >= 1 {
						phase -= 1
						x = 1
					}
					x += 0.01 * (rng.Float64()*2 - 1)
				}
				var y float64
				for k := range rs {
					r := &rs[k]
					o := r.g*x + r.a1*r.y1 + r.a2*r.y2
					r.y2, r.y1 = r.y1, o
					y += o / float64(k+1)
				}
				out[i] = env * y
			}
		}
		pause := int((0.2 + 0.4*rng.Float64()) * float64(rate))
		for j := 0; j < pause && i < n; j, i = j+1, i+1 {
			out[i] = 0.0005 * (rng.Float64()*2 - 1)
		}
	}
	peak := 0.0
	for _, v := range out {
		peak = math.Max(peak, math.Abs(v))
	}
	pcm := make([]int16, n)
	for k, v := range out {
		pcm[k] = int16(math.Round(v / peak * 16000))
	}
	return pcm
}

// interleave merges two mono signals of equal length into stereo.
func interleave(l, r []int16) []int16 {
	out := make([]int16, 2*len(l))
	for i := range l {
		out[2*i], out[2*i+1] = l[i], r[i]
	}
	return out
}

// channel extracts channel c of an interleaved signal.
func channel(s []int16, channels, c int) []int16 {
	out := make([]int16, len(s)/channels)
	for i := range out {
		out[i] = s[i*channels+c]
	}
	return out
}

// writeTemp writes b to a file in a test temp dir and returns its path.
func writeTemp(tb testing.TB, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// mustWAV parses b as a WAV or fails.
func mustWAV(tb testing.TB, b []byte) *WAV {
	tb.Helper()
	w, err := NewWAV(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("NewWAV: %v", err)
	}
	return w
}

// decodeMP3 decodes with go-mp3 and returns per-channel samples (go-mp3
// always yields stereo; for a mono stream both channels are equal) and the
// sample rate. go-mp3 v0.3.4 refuses MPEG-2.5 (internal/frame/frame.go
// Read: "MPEG version 2.5 is not supported"), so an MPEG-2.5 stream (8 kHz)
// is decoded by `lame --decode` instead (decodeLAME).
func decodeMP3(tb testing.TB, b []byte) (left, right []int16, rate int) {
	tb.Helper()
	if h, err := parseFrameHeader(b); err == nil && h.sampleRate < 16000 {
		return decodeLAME(tb, b)
	}
	d, err := gomp3.NewDecoder(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("go-mp3: %v", err)
	}
	raw, err := io.ReadAll(d)
	if err != nil && !errors.Is(err, io.EOF) {
		tb.Fatalf("go-mp3 read: %v", err)
	}
	n := len(raw) / 4
	left, right = make([]int16, n), make([]int16, n)
	for i := range n {
		left[i] = int16(binary.LittleEndian.Uint16(raw[4*i:]))
		right[i] = int16(binary.LittleEndian.Uint16(raw[4*i+2:]))
	}
	return left, right, d.SampleRate()
}

// upsampleRef upsamples a mono reference the way the encoder does.
func upsampleRef(x []int16, factor int) []int16 {
	if factor == 1 {
		return x
	}
	u := newUpsampler(factor, 1)
	out := u.push(nil, x)
	return u.flush(out)
}

// quality aligns dec against ref (dec lags by 0..maxLag samples), scales ref
// by the least-squares gain (an encoder's level error of a dB is not
// audible, but would otherwise cap the SNR: shine's output is 1 dB hot) and
// returns the lag, the gain, the SNR and the segmental SNR in dB. Segmental
// SNR uses 20 ms segments whose reference level is above -50 dBFS, each
// clamped to [-10, 35] dB, the usual convention.
func quality(ref, dec []int16, rate int) (lag int, gain, snr, segSNR float64) {
	const maxLag = 2400
	// find the lag on the first seconds by normalised cross-correlation
	win := min(len(ref), rate/2)
	best := math.Inf(-1)
	for l := 0; l <= maxLag && l+win <= len(dec); l++ {
		var xy, yy float64
		for i := 0; i < win; i++ {
			x, y := float64(ref[i]), float64(dec[i+l])
			xy += x * y
			yy += y * y
		}
		if yy == 0 {
			continue
		}
		if c := xy / math.Sqrt(yy); c > best {
			best, lag = c, l
		}
	}
	n := min(len(ref), len(dec)-lag)
	var xy, xx float64
	for i := range n {
		xy += float64(ref[i]) * float64(dec[i+lag])
		xx += float64(ref[i]) * float64(ref[i])
	}
	gain = xy / xx
	seg := rate / 50
	var sig, noise float64
	var segSum float64
	var segs int
	for s := 0; s+seg <= n; s += seg {
		var ss, nn float64
		for i := s; i < s+seg; i++ {
			x := gain * float64(ref[i])
			e := x - float64(dec[i+lag])
			ss += x * x
			nn += e * e
		}
		sig += ss
		noise += nn
		if math.Sqrt(ss/float64(seg)) < 32768*math.Pow(10, -50.0/20) {
			continue
		}
		v := 35.0
		if nn > 0 {
			v = math.Min(35, math.Max(-10, 10*math.Log10(ss/nn)))
		}
		segSum += v
		segs++
	}
	snr = 10 * math.Log10(sig/noise)
	if segs > 0 {
		segSNR = segSum / float64(segs)
	}
	return lag, gain, snr, segSNR
}

// decodeLAME decodes with `lame --decode` (LAME's mpglib decoder, which reads
// MPEG-1, 2 and 2.5) to raw PCM and returns per-channel samples (equal for
// a mono stream, as decodeMP3) and the sample rate. LAME drops the 528 + 1
// samples of decoder delay; decodeLAME puts them back as silence, so its
// output lines up with go-mp3's. Without lame in PATH the test is skipped,
// except in CI (CI=true), where .ci/run installs it and its absence fails.
func decodeLAME(tb testing.TB, b []byte) (left, right []int16, rate int) {
	tb.Helper()
	lame := lameForDecoding(tb)
	h, err := parseFrameHeader(b)
	if err != nil {
		tb.Fatalf("decodeLAME: %v", err)
	}
	in := writeTemp(tb, "decode.mp3", b) // lame reads MP3 input from a file only
	raw, err := exec.Command(lame, "--decode", "--quiet", "-t", in, "-").Output()
	if err != nil {
		tb.Fatalf("lame --decode: %v", err)
	}
	n := len(raw) / 2 / h.channels
	left, right = make([]int16, lameDecodeDelay+n), make([]int16, lameDecodeDelay+n)
	for i := range n {
		left[lameDecodeDelay+i] = int16(binary.LittleEndian.Uint16(raw[2*h.channels*i:]))
		right[lameDecodeDelay+i] = int16(binary.LittleEndian.Uint16(raw[2*h.channels*i+2*(h.channels-1):]))
	}
	return left, right, h.sampleRate
}

// lameDecodeDelay is the decoder delay `lame --decode` removes from a stream
// without a LAME tag ("skipping initial 529 samples", LAME 3.100's frontend).
const lameDecodeDelay = 528 + 1

// lameForDecoding returns the path of lame or skips the test (fails it in CI).
func lameForDecoding(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("lame")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("lame not in PATH: .ci/run installs it to decode MPEG-2.5 (8 kHz) streams")
		}
		tb.Skip("lame not installed (apt-get install lame): it decodes the MPEG-2.5 (8 kHz) streams go-mp3 cannot")
	}
	return p
}
