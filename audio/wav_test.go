package audio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func ramp(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(i*7 - 3000)
	}
	return s
}

func TestReadWAVInfo(t *testing.T) {
	listOdd := []byte("LIST\x05\x00\x00\x00abcde\x00") // odd chunk, padded
	tests := []struct {
		name       string
		file       []byte
		wantErr    error
		errText    string
		rate, ch   int
		frames     int64
		patched    bool
		dataOffset int64
	}{
		{name: "patched mono 8 kHz", file: buildWAV(wavSpec{rate: 8000, channels: 1, samples: ramp(8000)}),
			rate: 8000, ch: 1, frames: 8000, patched: true, dataOffset: 44},
		{name: "stereo 8 kHz counts frames not samples", file: buildWAV(wavSpec{rate: 8000, channels: 2, samples: ramp(16000)}),
			rate: 8000, ch: 2, frames: 8000, patched: true, dataOffset: 44},
		{name: "16 kHz", file: buildWAV(wavSpec{rate: 16000, channels: 1, samples: ramp(1600)}),
			rate: 16000, ch: 1, frames: 1600, patched: true, dataOffset: 44},
		{name: "48 kHz stereo", file: buildWAV(wavSpec{rate: 48000, channels: 2, samples: ramp(9600)}),
			rate: 48000, ch: 2, frames: 4800, patched: true, dataOffset: 44},
		{name: "sizes left at zero are computed from the file length",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, samples: ramp(4000), riffSize: u32(36), dataSize: u32(0)}),
			rate: 8000, ch: 1, frames: 4000, dataOffset: 44},
		{name: "sizes 0xFFFFFFFF are computed from the file length",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, samples: ramp(4000), riffSize: u32(0xFFFFFFFF), dataSize: u32(0xFFFFFFFF)}),
			rate: 8000, ch: 1, frames: 4000, dataOffset: 44},
		{name: "data size beyond end of file is cut to the file",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, samples: ramp(4000), dataSize: u32(1 << 30)}),
			rate: 8000, ch: 1, frames: 4000, dataOffset: 44},
		{name: "stale sizes with data last and more bytes written use the file length",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, samples: ramp(4000), riffSize: u32(36 + 2000), dataSize: u32(2000)}),
			rate: 8000, ch: 1, frames: 4000, dataOffset: 44},
		{name: "unpatched mono with odd trailing byte ignores the byte",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, samples: ramp(100), dataSize: u32(0), riffSize: u32(36), trailing: []byte{0x7f}}),
			rate: 8000, ch: 1, frames: 100, dataOffset: 44},
		{name: "unpatched stereo with half a frame at the end ignores it",
			file: buildWAV(wavSpec{rate: 8000, channels: 2, samples: ramp(201), dataSize: u32(0), riffSize: u32(36)}),
			rate: 8000, ch: 2, frames: 100, dataOffset: 44},
		{name: "patched header with a pad byte after odd data",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, samples: ramp(100), dataSize: u32(199), trailing: nil}),
			rate: 8000, ch: 1, frames: 99, patched: true, dataOffset: 44},
		{name: "odd-sized chunk before data is skipped with its pad byte",
			file: buildWAV(wavSpec{rate: 16000, channels: 1, samples: ramp(320), extraBeforeData: listOdd}),
			rate: 16000, ch: 1, frames: 320, patched: true, dataOffset: 44 + int64(len(listOdd))},
		{name: "header-only file has no frames and no error",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, samples: nil}),
			rate: 8000, ch: 1, frames: 0, patched: true, dataOffset: 44},
		{name: "empty data chunk followed by a chunk the RIFF size covers is empty",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, samples: nil, riffSize: u32(36 + 14),
				trailing: []byte("LIST\x06\x00\x00\x00INFOab")}),
			rate: 8000, ch: 1, frames: 0, patched: true, dataOffset: 44},
		{name: "extensible PCM16 is accepted",
			file: buildWAV(wavSpec{rate: 48000, channels: 2, extensible: true, samples: ramp(96)}),
			rate: 48000, ch: 2, frames: 48, patched: true, dataOffset: 68},
		{name: "empty file is not a WAV", file: nil, wantErr: ErrNotWAV},
		{name: "garbage is not a WAV", file: []byte(strings.Repeat("garbage!", 20)), wantErr: ErrNotWAV, errText: `"garb"`},
		{name: "header cut inside fmt is not a WAV",
			file: buildWAV(wavSpec{rate: 8000, channels: 1})[:28], wantErr: ErrNotWAV},
		{name: "header cut before data chunk is not a WAV",
			file: buildWAV(wavSpec{rate: 8000, channels: 1})[:38], wantErr: ErrNotWAV, errText: "no data chunk"},
		{name: "float WAV is refused by format number",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, bits: 32, format: 3, samples: ramp(10)}), wantErr: ErrUnsupported,
			errText: "not PCM16: format 3 (IEEE float)"},
		{name: "mu-law WAV is refused",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, bits: 8, format: 7}), wantErr: ErrUnsupported, errText: "format 7 (mu-law)"},
		{name: "8-bit PCM is refused",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, bits: 8}), wantErr: ErrUnsupported, errText: "not PCM16: 8 bits per sample"},
		{name: "extensible float is refused",
			file: buildWAV(wavSpec{rate: 8000, channels: 1, bits: 32, format: 3, extensible: true}), wantErr: ErrUnsupported, errText: "not PCM16"},
		{name: "three channels are refused",
			file: buildWAV(wavSpec{rate: 8000, channels: 3, samples: ramp(30)}), wantErr: ErrUnsupported, errText: "3 channels"},
		{name: "data before fmt is not a WAV",
			file: append([]byte("RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00"), 1, 2, 3, 4), wantErr: ErrNotWAV, errText: "before fmt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(tc.file)
			info, err := ReadWAVInfo(r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %q, want it to mention %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.SampleRate != tc.rate || info.Channels != tc.ch || info.BitsPerSample != 16 {
				t.Errorf("format = %d Hz %d ch %d bits, want %d Hz %d ch 16 bits", info.SampleRate, info.Channels, info.BitsPerSample, tc.rate, tc.ch)
			}
			if info.Frames != tc.frames {
				t.Errorf("Frames = %d, want %d", info.Frames, tc.frames)
			}
			if info.HeaderPatched != tc.patched {
				t.Errorf("HeaderPatched = %v, want %v", info.HeaderPatched, tc.patched)
			}
			if info.DataOffset != tc.dataOffset {
				t.Errorf("DataOffset = %d, want %d", info.DataOffset, tc.dataOffset)
			}
			if want := tc.frames * int64(2*tc.ch); info.DataBytes != want {
				t.Errorf("DataBytes = %d, want %d", info.DataBytes, want)
			}
			if want := time.Duration(tc.frames) * time.Second / time.Duration(tc.rate); info.Duration != want {
				t.Errorf("Duration = %v, want %v", info.Duration, want)
			}
			if pos, _ := r.Seek(0, io.SeekCurrent); pos != tc.dataOffset {
				t.Errorf("reader left at %d, want data offset %d", pos, tc.dataOffset)
			}
		})
	}
}

func TestInfo_DurationIsExactToTheFrame(t *testing.T) {
	tests := []struct {
		rate   int
		frames int64
		dur    time.Duration
		ms     int64
	}{
		{8000, 1, 125 * time.Microsecond, 0},
		{8000, 4, 500 * time.Microsecond, 1}, // 0.5 ms rounds up
		{8000, 8003, time.Second + 375*time.Microsecond, 1000},
		{16000, 16000*3600 + 8, time.Hour + 500*time.Microsecond, 3600001},
		{48000, 47, 979166 * time.Nanosecond, 1}, // 0.979166… ms
		{44100, 44100 * 90, 90 * time.Second, 90000},
	}
	for _, tc := range tests {
		info := Info{SampleRate: tc.rate, Frames: tc.frames, Duration: framesDuration(tc.frames, tc.rate)}
		if info.Duration != tc.dur || info.DurationMS() != tc.ms {
			t.Errorf("%d frames at %d Hz: %v / %d ms, want %v / %d ms", tc.frames, tc.rate, info.Duration, info.DurationMS(), tc.dur, tc.ms)
		}
	}
}

func TestWAV_ReadSamplesReturnsInterleavedStereoExactly(t *testing.T) {
	want := ramp(2 * 5000)
	w := mustWAV(t, buildWAV(wavSpec{rate: 8000, channels: 2, samples: want, dataSize: u32(0), riffSize: u32(36), trailing: []byte{1}}))
	var got []int16
	buf := make([]int16, 777) // odd length: reads must stay whole frames
	for {
		n, err := w.ReadSamples(buf)
		if n%2 != 0 {
			t.Fatalf("read %d samples, not whole stereo frames", n)
		}
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slicesEqual(got, want) {
		t.Fatalf("read %d samples, want %d equal to those written", len(got), len(want))
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOpenWAV_FileShrunkAfterOpenGivesUnexpectedEOF(t *testing.T) {
	p := writeTemp(t, "rec.wav", buildWAV(wavSpec{rate: 8000, channels: 1, samples: ramp(8000)}))
	w, err := OpenWAV(p)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.Truncate(p, 44+1000); err != nil {
		t.Fatal(err)
	}
	buf := make([]int16, 8000)
	_, err = w.ReadSamples(buf)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestOpenWAV_ErrorsNameThePath(t *testing.T) {
	p := writeTemp(t, "float.wav", buildWAV(wavSpec{rate: 8000, channels: 1, bits: 32, format: 3}))
	_, err := OpenWAV(p)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want ErrUnsupported naming %s", err, p)
	}
	if _, err := OpenWAV(p + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want os.ErrNotExist", err)
	}
}
