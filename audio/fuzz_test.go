package audio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"
)

// FuzzWAVHeader feeds any bytes to the WAV reader (issue 12: hostile WAV headers): it never
// panics and what it accepts is
// self-consistent: PCM16, one or two channels, a sane rate, the data inside the file, and every
// frame it promises readable. A short WAV it accepts is encoded too (no panic in the encoder).
func FuzzWAVHeader(f *testing.F) {
	tone := speechLike(8000, 0.05, 1)
	for _, s := range []wavSpec{
		{rate: 8000, channels: 1, samples: tone},
		{rate: 16000, channels: 2, samples: interleave(tone, tone)},
		{rate: 8000, channels: 1, extensible: true, samples: tone},
		{rate: 8000, channels: 1, samples: tone, dataSize: u32(0xFFFFFFFF), riffSize: u32(0xFFFFFFFF)},
		{rate: 8000, channels: 1, samples: tone, dataSize: u32(0), riffSize: u32(36)},
		{rate: 8000, channels: 1, samples: tone, dataSize: u32(0x7FFFFFFF)},
		{rate: 8000, channels: 1, samples: tone, extraBeforeData: []byte("LIST\xff\xff\xff\xffjunk")},
		{rate: 8000, channels: 1, samples: tone, extraBeforeData: []byte("odd \x03\x00\x00\x00abc\x00")},
		{rate: 8000, channels: 1},
		{rate: 44100, channels: 2, format: 3, bits: 32, samples: tone},
		{rate: 1, channels: 1, samples: tone[:16]},
	} {
		f.Add(buildWAV(s))
	}
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\xff"))
	f.Add([]byte("RIFF"))
	f.Add([]byte("not a wav at all"))
	f.Fuzz(func(t *testing.T, b []byte) {
		stop := time.AfterFunc(5*time.Second, func() {
			panic(fmt.Sprintf("input of %d bytes still running after 5 s: %x", len(b), b[:min(len(b), 64)]))
		})
		defer stop.Stop()
		w, err := NewWAV(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrNotWAV) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v is neither ErrNotWAV nor ErrUnsupported", err)
			}
			return
		}
		info := w.Info
		block := int64(info.Channels * 2)
		switch {
		case info.BitsPerSample != 16, info.Channels < 1 || info.Channels > 2:
			t.Fatalf("accepted %+v: not PCM16 mono/stereo", info)
		case info.SampleRate <= 0 || info.SampleRate > maxSampleRate:
			t.Fatalf("accepted sample rate %d", info.SampleRate)
		case info.DataOffset < 12 || info.DataBytes < 0 || info.DataOffset+info.DataBytes > int64(len(b)):
			t.Fatalf("data [%d, +%d) outside a file of %d bytes", info.DataOffset, info.DataBytes, len(b))
		case info.Frames*block != info.DataBytes:
			t.Fatalf("%d frames of %d bytes but %d data bytes", info.Frames, block, info.DataBytes)
		}
		buf := make([]int16, 4096)
		var samples int64
		for {
			n, err := w.ReadSamples(buf)
			samples += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reading promised frames: %v", err)
			}
		}
		if samples != info.Frames*int64(info.Channels) {
			t.Fatalf("read %d samples, header promised %d frames × %d", samples, info.Frames, info.Channels)
		}
	})
}

// TestReadWAV_HostileSizesAllocateLittle: sizes a header claims (chunks of 4 GiB, a fmt chunk of
// 4 GiB, data sizes beyond the file) never make the reader allocate by them: opening and reading
// such a file costs a fixed amount (the buffers) plus nothing proportional to the claims. The
// fuzzer checks the invariants; allocation is measured here, where ReadMemStats is cheap enough.
func TestReadWAV_HostileSizesAllocateLittle(t *testing.T) {
	tone := speechLike(8000, 0.05, 1)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"data size 4 GiB", buildWAV(wavSpec{rate: 8000, channels: 1, samples: tone, dataSize: u32(0xFFFFFFFE)})},
		{"riff and data unpatched", buildWAV(wavSpec{rate: 8000, channels: 1, samples: tone, dataSize: u32(0xFFFFFFFF), riffSize: u32(0xFFFFFFFF)})},
		{"unknown chunk of 4 GiB", buildWAV(wavSpec{rate: 8000, channels: 1, samples: tone, extraBeforeData: []byte("LIST\xff\xff\xff\xffjunk")})},
		{"fmt chunk of 4 GiB", []byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\xff\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00")},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if w, err := NewWAV(bytes.NewReader(tc.b)); err == nil {
			buf := make([]int16, 4096)
			for {
				if _, err := w.ReadSamples(buf); err != nil {
					break
				}
			}
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<10 {
			t.Errorf("%s: reading a %d-byte file allocated %d bytes", tc.name, len(tc.b), grew)
		}
	}
}
