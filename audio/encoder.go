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
// given 0 or less (see DECISION.md for why).
const DefaultBitrateKbps = 48

// Encoder turns an open WAV into an MP3 stream.
//
// Encode reads src to its end and writes the MP3 to dst. It stops with
// ctx.Err() (wrapped) soon after ctx is cancelled; dst then holds a partial
// MP3 the caller must discard. Errors: ErrNoAudio for a WAV without frames,
// ErrUnsupported for a sample rate with no MPEG-1 mapping, the WAV's read
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

// mpeg1Bitrates are the MPEG-1 Layer III bitrates in kbit/s, index = header
// bitrate index.
var mpeg1Bitrates = [...]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}

// streamBitrate picks the MPEG-1 bitrate for perChannel kbit/s on channels
// channels: the smallest legal bitrate at or above the product, at most 320.
func streamBitrate(perChannel, channels int) (kbps, index int) {
	if perChannel <= 0 {
		perChannel = DefaultBitrateKbps
	}
	want := perChannel * channels
	for i := 1; i < len(mpeg1Bitrates); i++ {
		if mpeg1Bitrates[i] >= want {
			return mpeg1Bitrates[i], i
		}
	}
	return 320, len(mpeg1Bitrates) - 1
}
