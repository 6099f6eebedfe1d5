package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
)

// synthFrame builds a frame with a valid header and a zero body. version: 3
// MPEG-1, 2 MPEG-2, 0 MPEG-2.5; Layer III, mono.
func synthFrame(version, brIndex, srIndex uint32) []byte {
	h := uint32(0xFFE00000) | version<<19 | 1<<17 | 1<<16 | brIndex<<12 | srIndex<<10 | 3<<6
	f, err := parseFrameHeader(binary.BigEndian.AppendUint32(nil, h))
	if err != nil {
		panic(err)
	}
	b := make([]byte, f.length)
	binary.BigEndian.PutUint32(b, h)
	return b
}

func repeatFrames(f []byte, n int) []byte {
	return bytes.Repeat(f, n)
}

// infoFrame builds a Xing "Info" frame with a LAME tag recording delay and
// padding.
func infoFrame(delay, pad int) []byte {
	f := synthFrame(3, 3, 2) // MPEG-1 48 kbit/s 32 kHz: 216 bytes
	p := 4 + 17
	copy(f[p:], "Info")
	binary.BigEndian.PutUint32(f[p+4:], 0x0F) // frames, bytes, TOC, quality
	q := p + 8 + 4 + 4 + 100 + 4
	copy(f[q:], "LAME3.100")
	f[q+21] = byte(delay >> 4)
	f[q+22] = byte(delay<<4) | byte(pad>>8)
	f[q+23] = byte(pad)
	return f
}

func TestMP3Duration(t *testing.T) {
	m1 := synthFrame(3, 3, 2)  // 1152 samples at 32 kHz = 36 ms
	m2 := synthFrame(2, 8, 2)  // MPEG-2 16 kHz, 576 samples = 36 ms
	m25 := synthFrame(0, 4, 2) // MPEG-2.5 8 kHz 32 kbit/s: 288 bytes, 576 samples = 72 ms
	id3v2 := append([]byte("ID3\x04\x00\x00\x00\x00\x01\x00"), make([]byte, 128)...)
	id3v1 := append([]byte("TAG"), make([]byte, 125)...)
	tests := []struct {
		name    string
		stream  []byte
		dur     time.Duration
		frames  int64
		wantErr error
	}{
		{"MPEG-1 frames at 32 kHz", repeatFrames(m1, 10), 360 * time.Millisecond, 10, nil},
		{"MPEG-2 frames have 576 samples", repeatFrames(m2, 10), 360 * time.Millisecond, 10, nil},
		{"MPEG-2.5 8 kHz frames have 576 samples", repeatFrames(m25, 10), 720 * time.Millisecond, 10, nil},
		{"MPEG-2.5 frames of 8 kbit/s are 72 bytes", repeatFrames(synthFrame(0, 1, 2), 3), 216 * time.Millisecond, 3, nil},
		{"MPEG-2.5 stream cut short", repeatFrames(m25, 3)[:3*len(m25)-1], 0, 0, io.ErrUnexpectedEOF},
		{"ID3v2 before and ID3v1 after are skipped",
			append(append(append([]byte{}, id3v2...), repeatFrames(m1, 5)...), id3v1...), 180 * time.Millisecond, 5, nil},
		{"Info frame is not counted and LAME delay and padding are removed",
			append(infoFrame(576+529, 1152-100), repeatFrames(m1, 10)...),
			time.Duration(10*1152-(576+529)-(1152-100)) * time.Second / 32000, 10, nil},
		{"empty stream", nil, 0, 0, ErrNotMP3},
		{"garbage", bytes.Repeat([]byte("not an mp3 "), 20), 0, 0, ErrNotMP3},
		{"garbage between frames", append(repeatFrames(m1, 3), append([]byte("junk"), m1...)...), 0, 0, ErrNotMP3},
		{"sample rate change", append(repeatFrames(m1, 3), synthFrame(3, 3, 1)...), 0, 0, ErrNotMP3},
		{"last frame cut short", repeatFrames(m1, 3)[:3*len(m1)-10], 0, 0, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dur, frames, err := MP3Duration(bytes.NewReader(tc.stream))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if dur != tc.dur || frames != tc.frames {
				t.Fatalf("= %v, %d frames; want %v, %d", dur, frames, tc.dur, tc.frames)
			}
		})
	}
}
