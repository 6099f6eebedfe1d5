package audio

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Quality floor for the default bitrate, justified in DECISION.md: 20 dB
// (plain and segmental, after alignment and level matching) is what 32 kbit/s
// ADPCM telephony reaches; a desynchronised, misaligned, resampled-wrong or
// channel-swapped stream scores near or below 0 dB.
const (
	minSNR    = 20.0
	minSegSNR = 20.0
)

type encodeCase struct {
	name     string
	rate     int
	channels int
	seconds  float64
}

var encodeCases = []encodeCase{
	{"8 kHz mono", 8000, 1, 3},
	{"8 kHz stereo", 8000, 2, 3},
	{"16 kHz mono", 16000, 1, 3},
	{"22.05 kHz mono uses padded 44.1 kHz frames", 22050, 1, 2},
	{"48 kHz mono", 48000, 1, 2},
	{"48 kHz stereo", 48000, 2, 2},
}

// caseSignal returns the per-channel speech-like signals of a case (different
// talkers on left and right) and the WAV file holding them.
func caseSignal(c encodeCase) (chans [][]int16, wav []byte) {
	n := c.seconds
	chans = [][]int16{speechLike(c.rate, n, 1)}
	samples := chans[0]
	if c.channels == 2 {
		chans = append(chans, speechLike(c.rate, n, 2))
		samples = interleave(chans[0], chans[1])
	}
	return chans, buildWAV(wavSpec{rate: c.rate, channels: c.channels, samples: samples})
}

// checkEncoded verifies an encoded stream against its source: result fields,
// frame count and exact frame-walk duration, decoded length, and quality of
// every channel (and that channels are not swapped).
func checkEncoded(t *testing.T, c encodeCase, chans [][]int16, res Result, mp3 []byte, exactFrames bool) {
	t.Helper()
	frames := int64(len(chans[0]))
	outRate, factor, _ := OutputRate(c.rate)
	if want := (frames*1000 + int64(c.rate)/2) / int64(c.rate); res.DurationMS != want {
		t.Errorf("DurationMS = %d, want %d", res.DurationMS, want)
	}
	if res.Bytes != int64(len(mp3)) || res.MIME != "audio/mpeg" || res.SampleRate != outRate || res.Channels != c.channels {
		t.Errorf("Result = %+v, want %d bytes of audio/mpeg at %d Hz, %d channels", res, len(mp3), outRate, c.channels)
	}
	up := frames * int64(factor)
	perFrame := int64(frameSamples(outRate))
	wantFrames := (up + perFrame - 1) / perFrame
	dur, mp3Frames, err := MP3Duration(bytes.NewReader(mp3))
	if err != nil {
		t.Fatalf("MP3Duration: %v", err)
	}
	if exactFrames && (mp3Frames != wantFrames || dur != framesDuration(wantFrames*perFrame, outRate)) {
		t.Errorf("MP3Duration = %v, %d frames; want %d frames of %d samples at %d Hz", dur, mp3Frames, wantFrames, perFrame, outRate)
	}
	left, right, rate := decodeMP3(t, mp3)
	if rate != outRate {
		t.Fatalf("decoded rate %d, want %d", rate, outRate)
	}
	if d := int64(len(left)) - up; d < -1152 || d > 2*1152 {
		t.Errorf("decoded %d samples per channel, source %d at %d Hz: off by %d, want within a frame (plus LAME's extra)", len(left), up, outRate, d)
	}
	if exactFrames && int64(len(left)) != mp3Frames*perFrame {
		t.Errorf("decoded %d samples, want %d frames × %d", len(left), mp3Frames, perFrame)
	}
	decoded := [][]int16{left, right}
	for ch, src := range chans {
		ref := upsampleRef(src, factor)
		lag, gain, snr, seg := quality(ref, decoded[ch], outRate)
		t.Logf("channel %d: lag %d, gain %.3f, SNR %.1f dB, segmental SNR %.1f dB, %d bytes", ch, lag, gain, snr, seg, len(mp3))
		if snr < minSNR || seg < minSegSNR {
			t.Errorf("channel %d: SNR %.1f dB, segmental %.1f dB; want ≥ %.0f and ≥ %.0f", ch, snr, seg, minSNR, minSegSNR)
		}
		if len(chans) == 2 {
			other := upsampleRef(chans[1-ch], factor)
			if _, _, snr, _ := quality(other, decoded[ch], outRate); snr > 3 {
				t.Errorf("channel %d resembles the other channel's source (SNR %.1f dB): channels mixed or swapped", ch, snr)
			}
		}
	}
}

func TestShineEncoder_DecodesToSourceLengthAndQuality(t *testing.T) {
	for _, c := range encodeCases {
		t.Run(c.name, func(t *testing.T) {
			chans, wav := caseSignal(c)
			var out bytes.Buffer
			res, err := NewShineEncoder(0).Encode(context.Background(), &out, mustWAV(t, wav))
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := streamBitrate(DefaultBitrateKbps, c.channels, res.SampleRate); res.BitrateKbps != want {
				t.Errorf("bitrate %d, want default %d", res.BitrateKbps, want)
			}
			checkEncoded(t, c, chans, res, out.Bytes(), true)
		})
	}
}

func TestShineEncoder_UnpatchedHeaderGivesTheSameMP3AsPatched(t *testing.T) {
	src := speechLike(8000, 2, 3)
	patched := buildWAV(wavSpec{rate: 8000, channels: 1, samples: src})
	unpatched := buildWAV(wavSpec{rate: 8000, channels: 1, samples: src, riffSize: u32(36), dataSize: u32(0), trailing: []byte{9}})
	var a, b bytes.Buffer
	enc := NewShineEncoder(0)
	ra, err := enc.Encode(context.Background(), &a, mustWAV(t, patched))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := enc.Encode(context.Background(), &b, mustWAV(t, unpatched))
	if err != nil {
		t.Fatal(err)
	}
	if ra != rb || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("unpatched WAV gave %+v (%d bytes), patched %+v (%d bytes)", rb, b.Len(), ra, a.Len())
	}
}

func TestStreamBitrate_PerChannelRoundedUpToALegalRate(t *testing.T) {
	tests := []struct{ per, ch, rate, want int }{
		{0, 1, 32000, DefaultBitrateKbps}, {0, 2, 32000, 2 * DefaultBitrateKbps}, {32, 1, 32000, 32}, {33, 1, 32000, 40},
		{20, 1, 32000, 32}, {72, 2, 32000, 160}, {200, 2, 32000, 320}, {160, 1, 48000, 160},
		// MPEG-1 mono above 224 kbit/s overfills a granule (maxGranuleBits)
		{256, 1, 32000, 224}, {256, 1, 48000, 256},
		// MPEG-2.5 8 kHz: the lower-sampling-frequency table, at most 56 kbit/s per channel
		{0, 1, 8000, DefaultBitrateKbps}, {8, 1, 8000, 8}, {20, 1, 8000, 24}, {8, 2, 8000, 16},
		{56, 1, 8000, 56}, {64, 1, 8000, 56}, {160, 1, 8000, 56}, {60, 2, 8000, 112}, {160, 2, 8000, 112},
		// MPEG-2 16 kHz: at most 112 kbit/s mono, and the table's 160 for a stereo stream
		{0, 1, 16000, DefaultBitrateKbps}, {112, 1, 16000, 112}, {160, 1, 16000, 112}, {72, 2, 16000, 144}, {160, 2, 16000, 160},
	}
	for _, tc := range tests {
		if got, _ := streamBitrate(tc.per, tc.ch, tc.rate); got != tc.want {
			t.Errorf("streamBitrate(%d, %d, %d) = %d, want %d", tc.per, tc.ch, tc.rate, got, tc.want)
		}
	}
	for _, tc := range []struct{ rate, per, want int }{{16000, 64, 64}, {8000, 64, 56}} {
		src := speechLike(tc.rate, 1, 1)
		var out bytes.Buffer
		res, err := NewShineEncoder(tc.per).Encode(context.Background(), &out, mustWAV(t, buildWAV(wavSpec{rate: tc.rate, channels: 1, samples: src})))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := parseFrameHeader(out.Bytes())
		if res.BitrateKbps != tc.want || h.bitrate != tc.want {
			t.Errorf("%d Hz, asked %d kbit/s: result %d, frame header %d; want %d", tc.rate, tc.per, res.BitrateKbps, h.bitrate, tc.want)
		}
		if got, err := StreamBitrate(tc.rate, 1, tc.per); got != tc.want || err != nil {
			t.Errorf("StreamBitrate(%d, 1, %d) = %d, %v; want %d", tc.rate, tc.per, got, err, tc.want)
		}
	}
}

// frameSamples is the samples per channel in a Layer III frame at an MP3
// rate: 1152 for MPEG-1, 576 for MPEG-2/2.5.
func frameSamples(rate int) int {
	if rate >= 32000 {
		return 1152
	}
	return 576
}

// cancelOnWrite cancels a context at the first write it sees.
type cancelOnWrite struct {
	cancel context.CancelFunc
	n      int
}

func (c *cancelOnWrite) Write(b []byte) (int, error) {
	c.cancel()
	c.n += len(b)
	return len(b), nil
}

func TestEncoders_ContextCancelStopsALongEncode(t *testing.T) {
	// 20 minutes of 8 kHz audio: about 7 MB of MP3 at the default bitrate.
	samples := make([]int16, 8000*60*20)
	copy(samples, speechLike(8000, 5, 4))
	wav := buildWAV(wavSpec{rate: 8000, channels: 1, samples: samples})
	encoders := []Encoder{NewShineEncoder(0)}
	if _, err := exec.LookPath("lame"); err == nil {
		encoders = append(encoders, NewLAMEEncoder("lame", 0))
	}
	for _, enc := range encoders {
		t.Run(enc.Name(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &cancelOnWrite{cancel: cancel}
			start := time.Now()
			_, err := enc.Encode(ctx, w, mustWAV(t, wav))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if w.n > 1<<20 {
				t.Errorf("wrote %d bytes after cancellation; want it to stop within a buffer", w.n)
			}
			t.Logf("stopped after %v, %d bytes written", time.Since(start), w.n)
		})
	}
}

func TestEncoders_HeaderOnlyWAVIsNoAudio(t *testing.T) {
	wav := buildWAV(wavSpec{rate: 8000, channels: 1})
	for _, enc := range []Encoder{NewShineEncoder(0), NewLAMEEncoder("lame", 0)} {
		var out bytes.Buffer
		if _, err := enc.Encode(context.Background(), &out, mustWAV(t, wav)); !errors.Is(err, ErrNoAudio) {
			t.Errorf("%s: err = %v, want ErrNoAudio", enc.Name(), err)
		}
	}
}

func TestEncodeFile_WritesTheMP3AndRemovesItOnFailure(t *testing.T) {
	dir := t.TempDir()
	wavPath := filepath.Join(dir, "call.wav")
	if err := os.WriteFile(wavPath, buildWAV(wavSpec{rate: 8000, channels: 2, samples: interleave(speechLike(8000, 1.5, 1), speechLike(8000, 1.5, 2))}), 0o644); err != nil {
		t.Fatal(err)
	}
	mp3Path := filepath.Join(dir, "call.mp3.tmp")
	res, err := EncodeFile(context.Background(), NewShineEncoder(0), wavPath, mp3Path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(mp3Path)
	if err != nil || st.Size() != res.Bytes || res.DurationMS != 1500 {
		t.Fatalf("mp3 %v (err %v), result %+v; want %d bytes lasting 1500 ms", st, err, res, res.Bytes)
	}
	if _, err := os.Stat(wavPath); err != nil {
		t.Fatalf("EncodeFile touched the WAV: %v", err)
	}

	empty := filepath.Join(dir, "empty.wav")
	if err := os.WriteFile(empty, buildWAV(wavSpec{rate: 8000, channels: 1}), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "empty.mp3")
	if _, err := EncodeFile(context.Background(), NewShineEncoder(0), empty, bad); !errors.Is(err, ErrNoAudio) {
		t.Fatalf("err = %v, want ErrNoAudio", err)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial mp3 left behind: %v", err)
	}
}

func TestLAMEEncoder_ReferenceDecodesWithinAFrameAndAboveTheFloor(t *testing.T) {
	if _, err := exec.LookPath("lame"); err != nil {
		t.Skip("lame not installed (apt-get install lame); the LAME reference is optional")
	}
	for _, c := range []encodeCase{encodeCases[0], encodeCases[1], encodeCases[4]} {
		t.Run(c.name, func(t *testing.T) {
			chans, wav := caseSignal(c)
			var out bytes.Buffer
			res, err := NewLAMEEncoder("lame", 0).Encode(context.Background(), &out, mustWAV(t, wav))
			if err != nil {
				t.Fatal(err)
			}
			checkEncoded(t, c, chans, res, out.Bytes(), false)
		})
	}
}

func TestLAMEEncoder_MissingProgramIsNotFound(t *testing.T) {
	var out bytes.Buffer
	wav := buildWAV(wavSpec{rate: 8000, channels: 1, samples: ramp(800)})
	_, err := NewLAMEEncoder("callrec-no-such-lame", 0).Encode(context.Background(), &out, mustWAV(t, wav))
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("err = %v, want exec.ErrNotFound", err)
	}
}

func TestShineEncoder_LoudInputKeepsItsLevelWithoutClipping(t *testing.T) {
	src := speechLike(8000, 3, 1)
	for i, v := range src { // peak at -1 dBFS: shine's own +1 dB would clip it
		src[i] = int16(max(-32768, min(32767, int(v)*29204/16000)))
	}
	var out bytes.Buffer
	if _, err := NewShineEncoder(0).Encode(context.Background(), &out, mustWAV(t, buildWAV(wavSpec{rate: 8000, channels: 1, samples: src}))); err != nil {
		t.Fatal(err)
	}
	left, _, _ := decodeMP3(t, out.Bytes())
	clipped := 0
	for _, v := range left {
		if v == 32767 || v == -32768 {
			clipped++
		}
	}
	rate, factor, _ := OutputRate(8000)
	_, gain, _, _ := quality(upsampleRef(src, factor), left, rate)
	if clipped > 0 || gain < 0.944 || gain > 1.059 { // ±0.5 dB
		t.Fatalf("%d clipped samples, level gain %.3f; want none and within ±0.5 dB", clipped, gain)
	}
}
