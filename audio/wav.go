package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Errors returned (wrapped, test with errors.Is) by the WAV and MP3 readers
// and by the encoders.
var (
	// ErrNotWAV: the input is not a RIFF/WAVE file, or its header is cut short
	// before the data chunk begins.
	ErrNotWAV = errors.New("not a RIFF/WAVE file")
	// ErrUnsupported: a well-formed WAV this package does not handle (not
	// PCM16, more than two channels, a sample rate with no MP3 mapping).
	ErrUnsupported = errors.New("unsupported audio format")
	// ErrNoAudio: the WAV holds no complete frame (for instance the header-only
	// file FreeSWITCH leaves when it dies right after starting a recording).
	ErrNoAudio = errors.New("no audio frames")
	// ErrNotMP3: MP3Duration found no MPEG audio frame or a damaged one.
	ErrNotMP3 = errors.New("not an MPEG audio stream")
)

// Info describes the PCM data of a WAV file.
//
// Frames counts sample frames (one sample per channel). DataOffset and
// DataBytes locate the whole frames in the file; a trailing partial frame
// (an odd byte, or half a stereo frame) is not counted. HeaderPatched is false
// when the sizes in the header were unusable and the data length was computed
// from the file length instead.
type Info struct {
	SampleRate    int
	Channels      int
	BitsPerSample int
	Frames        int64
	Duration      time.Duration
	DataOffset    int64
	DataBytes     int64
	HeaderPatched bool
}

// DurationMS is the exact duration in milliseconds, Frames/SampleRate rounded
// to the nearest millisecond. This is the duration shown to users.
func (i Info) DurationMS() int64 {
	if i.SampleRate <= 0 {
		return 0
	}
	r := int64(i.SampleRate)
	return (i.Frames*1000 + r/2) / r
}

func framesDuration(frames int64, rate int) time.Duration {
	r := int64(rate)
	return time.Duration(frames/r)*time.Second + time.Duration((frames%r)*int64(time.Second)/r)
}

const (
	wavFormatPCM        = 0x0001
	wavFormatExtensible = 0xFFFE
	maxSampleRate       = 384000
	unpatchedSize       = 0xFFFFFFFF
)

// formatNames names the WAVE format tags people meet, for error messages.
var formatNames = map[uint16]string{
	0x0002: "MS ADPCM",
	0x0003: "IEEE float",
	0x0006: "A-law",
	0x0007: "mu-law",
	0x0011: "IMA ADPCM",
	0x0031: "GSM 6.10",
	0x0055: "MPEG Layer 3",
}

// ksDataFormatTail is bytes 2..15 of the KSDATAFORMAT_SUBTYPE_* GUIDs used by
// WAVE_FORMAT_EXTENSIBLE; bytes 0..1 carry the plain format tag.
var ksDataFormatTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// ReadWAVInfo parses the RIFF header, fmt chunk and data chunk header of r
// and leaves r positioned at the first data byte. Any caller may use it; it
// reads only the header (it seeks to the end once to learn the file length).
//
// Sizes FreeSWITCH never patched (a data size of 0 or 0xFFFFFFFF, or one
// reaching beyond the end of the file, or a header whose data chunk is the
// last chunk yet the file is longer) are replaced by the length of the file
// after the data chunk header, and HeaderPatched is false. A trailing partial
// frame is ignored. A header-only file gives Frames == 0 and no error.
//
// Errors: ErrNotWAV (not RIFF/WAVE, header cut short, no fmt before data),
// ErrUnsupported (not PCM16, e.g. "not PCM16: format 3 (IEEE float)", more
// than two channels, absurd sample rate), or the reader's own I/O error.
func ReadWAVInfo(r io.ReadSeeker) (Info, error) {
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return Info{}, fmt.Errorf("wav: measuring length: %w", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Info{}, fmt.Errorf("wav: seeking to start: %w", err)
	}
	br := bufio.NewReaderSize(r, 512)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return Info{}, fmt.Errorf("wav: %w: only %d bytes", ErrNotWAV, size)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return Info{}, fmt.Errorf("wav: %w: starts with %q", ErrNotWAV, hdr[0:4])
	}
	riffSize := int64(binary.LittleEndian.Uint32(hdr[4:8]))

	var (
		info    Info
		haveFmt bool
		pos     int64 = 12
	)
	for {
		var ch [8]byte
		if _, err := io.ReadFull(br, ch[:]); err != nil {
			if haveFmt {
				return Info{}, fmt.Errorf("wav: %w: no data chunk before end of file at byte %d", ErrNotWAV, pos)
			}
			return Info{}, fmt.Errorf("wav: %w: no fmt chunk before end of file at byte %d", ErrNotWAV, pos)
		}
		id := string(ch[0:4])
		csize := int64(binary.LittleEndian.Uint32(ch[4:8]))
		pos += 8
		switch id {
		case "fmt ":
			if err := parseFmt(br, csize, size-pos, &info); err != nil {
				return Info{}, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return Info{}, fmt.Errorf("wav: %w: data chunk before fmt chunk", ErrNotWAV)
			}
			dataBytes, patched := dataLength(csize, size-pos, riffSize, pos)
			block := int64(info.Channels * info.BitsPerSample / 8)
			info.Frames = dataBytes / block
			info.DataBytes = info.Frames * block
			info.DataOffset = pos
			info.HeaderPatched = patched
			info.Duration = framesDuration(info.Frames, info.SampleRate)
			if _, err := r.Seek(pos, io.SeekStart); err != nil {
				return Info{}, fmt.Errorf("wav: seeking to data: %w", err)
			}
			return info, nil
		}
		if id != "fmt " {
			if _, err := br.Discard(int(min(csize, size))); err != nil {
				return Info{}, fmt.Errorf("wav: %w: chunk %q runs past end of file", ErrNotWAV, id)
			}
		} else if csize > 40 {
			if _, err := br.Discard(int(csize - 40)); err != nil {
				return Info{}, fmt.Errorf("wav: %w: fmt chunk runs past end of file", ErrNotWAV)
			}
		}
		pos += csize
		if csize&1 == 1 { // RIFF pads odd chunks to even length
			if _, err := br.Discard(1); err != nil {
				return Info{}, fmt.Errorf("wav: %w: chunk %q runs past end of file", ErrNotWAV, id)
			}
			pos++
		}
	}
}

// parseFmt reads the fmt chunk body (at most 40 bytes of it) and checks it is
// PCM16 with one or two channels.
func parseFmt(br *bufio.Reader, csize, remaining int64, info *Info) error {
	if csize < 16 {
		return fmt.Errorf("wav: %w: fmt chunk of %d bytes", ErrNotWAV, csize)
	}
	n := min(csize, 40)
	if n > remaining {
		return fmt.Errorf("wav: %w: fmt chunk cut short", ErrNotWAV)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return fmt.Errorf("wav: %w: fmt chunk cut short", ErrNotWAV)
	}
	format := binary.LittleEndian.Uint16(b[0:2])
	channels := int(binary.LittleEndian.Uint16(b[2:4]))
	rate := int(binary.LittleEndian.Uint32(b[4:8]))
	bits := int(binary.LittleEndian.Uint16(b[14:16]))
	if format == wavFormatExtensible {
		if n < 40 {
			return fmt.Errorf("wav: %w: extensible fmt chunk of %d bytes", ErrNotWAV, csize)
		}
		if [14]byte(b[26:40]) != ksDataFormatTail {
			return fmt.Errorf("wav: %w: not PCM16: extensible subformat % x", ErrUnsupported, b[24:40])
		}
		format = binary.LittleEndian.Uint16(b[24:26])
	}
	if format != wavFormatPCM {
		if name, ok := formatNames[format]; ok {
			return fmt.Errorf("wav: %w: not PCM16: format %d (%s)", ErrUnsupported, format, name)
		}
		return fmt.Errorf("wav: %w: not PCM16: format %d", ErrUnsupported, format)
	}
	if bits != 16 {
		return fmt.Errorf("wav: %w: not PCM16: %d bits per sample", ErrUnsupported, bits)
	}
	if channels < 1 || channels > 2 {
		return fmt.Errorf("wav: %w: %d channels (want 1 or 2)", ErrUnsupported, channels)
	}
	if rate <= 0 || rate > maxSampleRate {
		return fmt.Errorf("wav: %w: sample rate %d Hz", ErrUnsupported, rate)
	}
	info.SampleRate, info.Channels, info.BitsPerSample = rate, channels, bits
	return nil
}

// dataLength decides how many data bytes to trust. declared is the data chunk
// size, available the bytes after the data chunk header, riffSize the RIFF
// size field and dataOffset where the data starts. A header FreeSWITCH never
// patched (it died; REFERENCE.md §2, SPEC.md §3.3) is recognised and the file
// length used instead.
func dataLength(declared, available, riffSize, dataOffset int64) (n int64, patched bool) {
	switch {
	case declared == unpatchedSize, declared > available:
		return available, false
	case declared == available:
		return declared, true
	case declared == 0 && riffSize+8 <= dataOffset:
		// RIFF ends at the data header: sizes written at open, never updated.
		return available, false
	case riffSize == 0 || riffSize == unpatchedSize:
		return available, false
	case declared > 0 && riffSize+8 == dataOffset+declared && available-declared > 1:
		// The header says data is the last chunk, yet more bytes follow:
		// sizes updated once, then writing went on.
		return available, false
	}
	return declared, true
}

// WAV is an open PCM16 WAV positioned at its audio data. It reads the
// interleaved int16 samples of whole frames, left then right for stereo.
// A WAV is not safe for concurrent use.
type WAV struct {
	Info
	r      *bufio.Reader
	closer io.Closer
	left   int64 // data bytes not yet read
	raw    []byte
}

// OpenWAV opens the WAV at path and parses its header (see ReadWAVInfo).
// The caller must Close it. Errors: those of os.Open and ReadWAVInfo, with
// the path in the message.
func OpenWAV(path string) (*WAV, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wav: %w", err)
	}
	w, err := NewWAV(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w.closer = f
	return w, nil
}

// NewWAV parses the header of r (see ReadWAVInfo) and returns a WAV reading
// its data. Close does not close r. Errors: those of ReadWAVInfo.
func NewWAV(r io.ReadSeeker) (*WAV, error) {
	info, err := ReadWAVInfo(r)
	if err != nil {
		return nil, err
	}
	return &WAV{Info: info, r: bufio.NewReaderSize(r, 64<<10), left: info.DataBytes}, nil
}

// ReadSamples fills dst with interleaved samples and returns how many it
// stored, always a multiple of Channels (dst shorter than one frame reads
// nothing). At the end of the data it returns 0, io.EOF. If the file turns
// out shorter than its header said, io.ErrUnexpectedEOF.
func (w *WAV) ReadSamples(dst []int16) (int, error) {
	if w.left <= 0 {
		return 0, io.EOF
	}
	n := len(dst) - len(dst)%w.Channels
	n = int(min(int64(n), w.left/2))
	if n == 0 {
		return 0, nil
	}
	if cap(w.raw) < 2*n {
		w.raw = make([]byte, 2*n)
	}
	raw := w.raw[:2*n]
	if _, err := io.ReadFull(w.r, raw); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("wav: reading samples: %w", err)
	}
	for i := range n {
		dst[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	w.left -= int64(2 * n)
	return n, nil
}

// Close closes the file opened by OpenWAV; for a WAV made by NewWAV it does
// nothing. It returns the file's Close error.
func (w *WAV) Close() error {
	if w.closer == nil {
		return nil
	}
	c := w.closer
	w.closer = nil
	return c.Close()
}
