package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// frameHeader is a decoded MPEG audio frame header (ISO 11172-3 / 13818-3).
type frameHeader struct {
	mpeg1      bool // MPEG-1; otherwise MPEG-2 or 2.5 (lower sampling frequencies)
	layer      int  // 1, 2 or 3
	bitrate    int  // kbit/s
	sampleRate int  // Hz
	channels   int
	length     int // bytes, header included
	samples    int // samples per channel in the frame
	sideInfo   int // bytes of Layer III side information after the header
}

var (
	// [mpeg1?0:1][layer-1][index] kbit/s
	mpegBitrates = [2][3][16]int{
		{
			{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, -1},
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, -1},
			{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, -1},
		},
		{
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, -1},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, -1},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, -1},
		},
	}
	mpeg1SampleRates = [3]int{44100, 48000, 32000}
)

// parseFrameHeader decodes the 4 header bytes at the start of b. Free-format
// streams (bitrate index 0) are refused.
func parseFrameHeader(b []byte) (frameHeader, error) {
	if len(b) < 4 {
		return frameHeader{}, fmt.Errorf("%w: header cut short", ErrNotMP3)
	}
	h := binary.BigEndian.Uint32(b)
	if h&0xFFE00000 != 0xFFE00000 {
		return frameHeader{}, fmt.Errorf("%w: no frame sync (% x)", ErrNotMP3, b[:4])
	}
	version := (h >> 19) & 3 // 0 = 2.5, 1 reserved, 2 = MPEG-2, 3 = MPEG-1
	layerBits := (h >> 17) & 3
	brIndex := (h >> 12) & 15
	srIndex := (h >> 10) & 3
	padding := int((h >> 9) & 1)
	mode := (h >> 6) & 3
	if version == 1 || layerBits == 0 || brIndex == 15 || srIndex == 3 {
		return frameHeader{}, fmt.Errorf("%w: reserved value in header % x", ErrNotMP3, b[:4])
	}
	if brIndex == 0 {
		return frameHeader{}, fmt.Errorf("%w: free-format bitrate not supported", ErrNotMP3)
	}
	f := frameHeader{mpeg1: version == 3, layer: int(4 - layerBits), channels: 2}
	if mode == 3 {
		f.channels = 1
	}
	lsf := 1
	if f.mpeg1 {
		lsf = 0
	}
	f.bitrate = mpegBitrates[lsf][f.layer-1][brIndex]
	f.sampleRate = mpeg1SampleRates[srIndex]
	switch version {
	case 2:
		f.sampleRate /= 2
	case 0:
		f.sampleRate /= 4
	}
	switch {
	case f.layer == 1:
		f.samples = 384
		f.length = (12*f.bitrate*1000/f.sampleRate + padding) * 4
	case f.layer == 2 || f.mpeg1:
		f.samples = 1152
		f.length = 144*f.bitrate*1000/f.sampleRate + padding
	default: // Layer III, MPEG-2/2.5: one granule
		f.samples = 576
		f.length = 72*f.bitrate*1000/f.sampleRate + padding
	}
	switch {
	case f.mpeg1 && f.channels == 1, !f.mpeg1 && f.channels == 2:
		f.sideInfo = 17
	case f.mpeg1:
		f.sideInfo = 32
	default:
		f.sideInfo = 9
	}
	return f, nil
}

// MP3Duration walks the MPEG frame headers of r and returns the playable
// length and the number of audio frames. Any caller may use it; it reads r to
// the end. It skips a leading ID3v2 tag and a trailing ID3v1 tag, does not
// count a Xing/Info frame, and subtracts the encoder delay and padding a LAME
// tag records. The stream must keep one sample rate.
//
// For an MP3 made by this package's shine encoder the result is the whole
// frames it wrote: at most one frame (1152 samples) longer than the WAV.
// The duration shown to users is the WAV's (Info.DurationMS), not this.
//
// Errors: ErrNotMP3 when no frame is found, a header is damaged or the
// sample rate changes; io.ErrUnexpectedEOF when the last frame is cut short;
// or the reader's error.
func MP3Duration(r io.Reader) (time.Duration, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	if err := skipID3v2(br, &off); err != nil {
		return 0, 0, err
	}
	var (
		frames, samples int64
		rate            int
		trim            int64
		first           = true
	)
	for {
		b, err := br.Peek(4)
		if len(b) < 4 {
			if err != nil && !errors.Is(err, io.EOF) {
				return 0, 0, fmt.Errorf("mp3: reading at byte %d: %w", off, err)
			}
			if len(b) > 0 && frames == 0 {
				return 0, 0, fmt.Errorf("mp3: %w: %d stray bytes", ErrNotMP3, len(b))
			}
			break
		}
		if string(b[:3]) == "TAG" {
			break // ID3v1 trailer
		}
		f, err := parseFrameHeader(b)
		if err != nil {
			return 0, 0, fmt.Errorf("mp3: at byte %d: %w", off, err)
		}
		if rate == 0 {
			rate = f.sampleRate
		} else if f.sampleRate != rate {
			return 0, 0, fmt.Errorf("mp3: %w: sample rate changes from %d to %d Hz at byte %d", ErrNotMP3, rate, f.sampleRate, off)
		}
		body, err := br.Peek(f.length)
		if len(body) < f.length {
			if err != nil && !errors.Is(err, io.EOF) {
				return 0, 0, fmt.Errorf("mp3: reading at byte %d: %w", off, err)
			}
			return 0, 0, fmt.Errorf("mp3: frame %d at byte %d has %d of %d bytes: %w", frames+1, off, len(body), f.length, io.ErrUnexpectedEOF)
		}
		isTag := false
		if first && f.layer == 3 {
			isTag, trim = xingInfo(body, f)
		}
		first = false
		if !isTag {
			frames++
			samples += int64(f.samples)
		}
		if _, err := br.Discard(f.length); err != nil {
			return 0, 0, fmt.Errorf("mp3: reading at byte %d: %w", off, err)
		}
		off += int64(f.length)
	}
	if frames == 0 {
		return 0, 0, fmt.Errorf("mp3: %w: no audio frame", ErrNotMP3)
	}
	samples = max(samples-trim, 0)
	return framesDuration(samples, rate), frames, nil
}

// skipID3v2 discards an ID3v2 tag at the start of the stream, if any.
func skipID3v2(br *bufio.Reader, off *int64) error {
	b, _ := br.Peek(10)
	if len(b) < 10 || string(b[:3]) != "ID3" {
		return nil
	}
	size := int64(b[6]&0x7F)<<21 | int64(b[7]&0x7F)<<14 | int64(b[8]&0x7F)<<7 | int64(b[9]&0x7F)
	size += 10
	if b[5]&0x10 != 0 { // footer present
		size += 10
	}
	n, err := br.Discard(int(size))
	*off += int64(n)
	if err != nil {
		return fmt.Errorf("mp3: ID3v2 tag of %d bytes cut short: %w", size, io.ErrUnexpectedEOF)
	}
	return nil
}

// xingInfo reports whether the Layer III frame body is a Xing/Info tag frame
// (it holds no audio) and, if it carries a LAME extension, the encoder delay
// plus padding in samples.
func xingInfo(frame []byte, f frameHeader) (bool, int64) {
	p := 4 + f.sideInfo
	if len(frame) < p+8 {
		return false, 0
	}
	if id := string(frame[p : p+4]); id != "Xing" && id != "Info" {
		return false, 0
	}
	flags := binary.BigEndian.Uint32(frame[p+4:])
	q := p + 8
	for _, fl := range []struct {
		bit  uint32
		size int
	}{{1, 4}, {2, 4}, {4, 100}, {8, 4}} {
		if flags&fl.bit != 0 {
			q += fl.size
		}
	}
	// LAME extension: 9-byte version string, then at +21 two 12-bit fields.
	if len(frame) < q+24 || string(frame[q:q+4]) != "LAME" {
		return true, 0
	}
	d := frame[q+21:]
	delay := int64(d[0])<<4 | int64(d[1])>>4
	pad := int64(d[1]&0x0F)<<8 | int64(d[2])
	return true, delay + pad
}
