package audio

import (
	"bytes"
	"context"
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
//	SNR_dB     SNR of the go-mp3 decode against the source, aligned and level-matched
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

func benchEncode(b *testing.B, enc Encoder, in encodeCase, chans [][]int16, wav []byte) {
	var out bytes.Buffer
	if _, err := enc.Encode(context.Background(), &out, mustWAV(b, wav)); err != nil {
		b.Fatal(err)
	}
	outRate, factor, _ := OutputRate(in.rate)
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
}
