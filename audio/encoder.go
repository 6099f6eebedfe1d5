package audio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// MIMEType is the media type of every MP3 this package writes.
const MIMEType = "audio/mpeg"

// DefaultBitrateKbps is the MP3 bitrate per channel used when an encoder is
// given 0 or less, and the default of audio.bitrate_kbps: at 8 kHz it keeps
// the measured SNR 6 dB or more above the tests' 20 dB floor (see
// DECISION.md for why).
const DefaultBitrateKbps = 32

// Encoder turns an open WAV into an MP3 stream.
//
// Encode reads src to its end and writes the MP3 to dst. It stops with
// ctx.Err() (wrapped) soon after ctx is cancelled; dst then holds a partial
// MP3 the caller must discard. Errors: ErrNoAudio for a WAV without frames,
// ErrUnsupported for a sample rate with no MP3 mapping (OutputRate), the WAV's read
// errors, dst's write errors. Implementations are safe for concurrent use by
// several goroutines, each with its own src and dst.
type Encoder interface {
	Name() string
	Encode(ctx context.Context, dst io.Writer, src *WAV) (Result, error)
}

// Result describes an encoded MP3.
//
// DurationMS is the WAV's exact duration (frames / sample rate, rounded to
// the millisecond): what users are shown. Bytes is the size of the MP3
// written. SampleRate, Channels and BitrateKbps describe the MP3 stream
// (the sample rate may be higher than the WAV's; see OutputRate).
type Result struct {
	DurationMS  int64
	Bytes       int64
	MIME        string
	Encoder     string
	SampleRate  int
	Channels    int
	BitrateKbps int
}

// EncodeFile encodes the WAV at wavPath into a new file at mp3Path
// (created or truncated), fsyncs and closes it. It does not rename
// anything: writing to a temporary name and renaming it into place is the
// caller's job. On any error the partial mp3Path is removed and the WAV is
// left alone. Errors: those of OpenWAV, the encoder, and file creation,
// write, sync and close.
func EncodeFile(ctx context.Context, enc Encoder, wavPath, mp3Path string) (Result, error) {
	src, err := OpenWAV(wavPath)
	if err != nil {
		return Result{}, err
	}
	defer src.Close()
	f, err := os.Create(mp3Path)
	if err != nil {
		return Result{}, fmt.Errorf("encode: %w", err)
	}
	res, err := enc.Encode(ctx, f, src)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Result{}, errors.Join(fmt.Errorf("encode %s with %s: %w", wavPath, enc.Name(), err), removeIfExists(mp3Path))
	}
	return res, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Layer III bitrates in kbit/s, index = header bitrate index: ISO 11172-3
// for MPEG-1, ISO 13818-3 for the lower sampling frequencies (MPEG-2, and
// MPEG-2.5, which uses the same table).
var (
	mpeg1Bitrates = [...]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}
	lsfBitrates   = [...]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}
)

// maxGranuleBits is the largest part2_3_length a Layer III granule can
// declare (12 bits). shine-mp3 v0.2.0 has no bit reservoir (its
// reservoirMaxSize is 0, layer3.go NewEncoder), so a frame whose main data
// per granule and channel exceeds this cannot be filled and comes out shorter
// than its header says.
const maxGranuleBits = 4095

// streamBitrate picks the bitrate of a shine stream at rate Hz (an MP3 rate,
// see OutputRate) for perChannel kbit/s on channels channels (perChannel 0 or
// less means DefaultBitrateKbps): the smallest legal bitrate at or above the
// product, but at most the largest one whose granules shine can fill (see
// maxGranuleBits: 56 kbit/s mono and 112 stereo at 8 kHz, 112 mono and 160
// stereo at 16 kHz, 224 mono and 320 stereo at 32 kHz). index is the
// header's bitrate index.
func streamBitrate(perChannel, channels, rate int) (kbps, index int) {
	if perChannel <= 0 {
		perChannel = DefaultBitrateKbps
	}
	table, granules := lsfBitrates[:], 1 // MPEG-2/2.5: one granule per frame
	if rate >= 32000 {
		table, granules = mpeg1Bitrates[:], 2
	}
	side := 9 // bytes of side information (ISO 11172-3 2.4.1.7, 13818-3 2.4.1.7)
	switch {
	case granules == 2 && channels == 2:
		side = 32
	case granules == 2, channels == 2:
		side = 17
	}
	want := perChannel * channels
	best := 1
	for i := 1; i < len(table); i++ {
		// bytes per frame, plus a padding byte, less header and side information
		main := granules*576*table[i]*1000/8/rate + 1 - 4 - side
		if main*8/granules/channels > maxGranuleBits {
			break
		}
		best = i
		if table[i] >= want {
			break
		}
	}
	return table[best], best
}

// StreamBitrate returns the bitrate in kbit/s of the MP3 stream the shine
// encoder writes for a WAV of channels channels at wavRate Hz when asked for
// perChannel kbit/s per channel (see NewShineEncoder). Any caller may use it,
// for example to tell an operator what a configured bitrate becomes at 8 kHz.
// Errors: ErrUnsupported for a sample rate OutputRate cannot map.
func StreamBitrate(wavRate, channels, perChannel int) (int, error) {
	rate, _, err := OutputRate(wavRate)
	if err != nil {
		return 0, err
	}
	kbps, _ := streamBitrate(perChannel, channels, rate)
	return kbps, nil
}
