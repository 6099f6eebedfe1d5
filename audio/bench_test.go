package audio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkEncode encodes the same 20 s speech-like WAVs with shine and with
// LAME and reports, per encoder and input:
//
//	xRT        seconds of audio encoded per second of wall time, one core
//	           (shine runs in one goroutine; lame is one single-threaded process)
//	xRT_cpu    seconds of audio per CPU second (this process plus the lame
//	           children): less disturbed by other work on a shared machine
//	SNR_dB     SNR of the decode (go-mp3; lame --decode for MPEG-2.5) against
//	           the source, aligned and level-matched
//	segSNR_dB  segmental SNR (20 ms segments, clamped to [-10, 35] dB)
//	kB         size of the MP3
//
// Sub-benchmarks of one input run back to back, so their ratio is fair even
// on a noisy machine. The LAME half skips when `lame` is not in PATH.
func BenchmarkEncode(b *testing.B) {
	const seconds = 20
	inputs := []encodeCase{
		{"8kHz-mono", 8000, 1, seconds},
		{"8kHz-stereo", 8000, 2, seconds},
		{"16kHz-mono", 16000, 1, seconds},
		{"48kHz-mono", 48000, 1, seconds},
	}
	lamePath, lameErr := exec.LookPath("lame")
	for _, in := range inputs {
		chans, wav := caseSignal(in)
		b.Run(in.name, func(b *testing.B) {
			encoders := []Encoder{NewShineEncoder(0), NewLAMEEncoder(lamePath, 0)}
			for _, enc := range encoders {
				b.Run(enc.Name(), func(b *testing.B) {
					if enc.Name() == "lame" && lameErr != nil {
						b.Skip("lame not installed (apt-get install lame): LAME reference skipped")
					}
					benchEncode(b, enc, in, chans, wav)
				})
			}
		})
	}
}

// BenchmarkEncodeRate measures what encoding speech at its own rate (8 kHz
// as MPEG-2.5 and 16 kHz as MPEG-2, the default since issue 13) gains over
// upsampling it to 32 kHz MPEG-1 first (what callrec did before), at each
// bitrate per channel, mono and stereo, with shine. For 8 kHz it also
// measures the middle choice, upsampling ×2 to 16 kHz MPEG-2. The choices run
// back to back for each bitrate, so their ratio is fair on a noisy machine.
// Metrics as BenchmarkEncode, plus kbps, the stream's bitrate (MPEG-1 has
// nothing below 32 kbit/s: lower requests round up). MPEG-2.5 is decoded by
// `lame --decode` for the quality figures (go-mp3 cannot); without lame
// those sub-benchmarks skip.
//
//	go test -run '^$' -bench EncodeRate -benchtime 3x ./audio
func BenchmarkEncodeRate(b *testing.B) {
	const seconds = 20
	inputs := []encodeCase{
		{"8kHz-mono", 8000, 1, seconds}, {"8kHz-stereo", 8000, 2, seconds},
		{"16kHz-mono", 16000, 1, seconds}, {"16kHz-stereo", 16000, 2, seconds},
	}
	for _, in := range inputs {
		chans, wav := caseSignal(in)
		b.Run(in.name, func(b *testing.B) {
			for _, kbps := range []int{8, 16, 24, 32, 40, 48} {
				b.Run(fmt.Sprintf("%dkbps", kbps), func(b *testing.B) {
					type choice struct {
						name string
						enc  Encoder
					}
					choices := []choice{{"direct", NewShineEncoder(kbps)}}
					if in.rate == 8000 {
						choices = append(choices, choice{"mpeg2-16kHz", shineEncoder{kbps: kbps, outRate: 16000}})
					}
					choices = append(choices, choice{"mpeg1-32kHz-before", shineEncoder{kbps: kbps, outRate: 32000}})
					for _, v := range choices {
						b.Run(v.name, func(b *testing.B) { benchEncode(b, v.enc, in, chans, wav) })
					}
				})
			}
		})
	}
}

func benchEncode(b *testing.B, enc Encoder, in encodeCase, chans [][]int16, wav []byte) {
	var out bytes.Buffer
	res, err := enc.Encode(context.Background(), &out, mustWAV(b, wav))
	if err != nil {
		b.Fatal(err)
	}
	outRate, factor := res.SampleRate, res.SampleRate/in.rate
	left, right, _ := decodeMP3(b, out.Bytes())
	var snr, seg float64
	for ch, dec := range [][]int16{left, right}[:len(chans)] {
		_, _, s, g := quality(upsampleRef(chans[ch], factor), dec, outRate)
		snr += s / float64(len(chans))
		seg += g / float64(len(chans))
	}
	b.SetBytes(int64(len(wav)))
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for b.Loop() {
		if _, err := enc.Encode(context.Background(), io.Discard, mustWAV(b, wav)); err != nil {
			b.Fatal(err)
		}
	}
	el, cpu := time.Since(start), cpuTime()-cpu0
	b.ReportMetric(in.seconds*float64(b.N)/el.Seconds(), "xRT")
	if cpu > 0 {
		b.ReportMetric(in.seconds*float64(b.N)/cpu.Seconds(), "xRT_cpu")
	}
	b.ReportMetric(snr, "SNR_dB")
	b.ReportMetric(seg, "segSNR_dB")
	b.ReportMetric(float64(out.Len())/1000, "kB")
	b.ReportMetric(float64(res.BitrateKbps), "kbps")
}
