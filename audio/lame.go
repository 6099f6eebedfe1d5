package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"
)

// NewLAMEEncoder returns an encoder that runs the `lame` program at path
// (for example "lame", looked up in PATH) with raw PCM on stdin and the MP3
// on stdout. It is the quality and speed reference of DECISION.md, not the
// production encoder. bitrateKbps is per channel as for NewShineEncoder, and
// the output rate is the same OutputRate, so both encoders make comparable
// streams. Errors: as Encoder, plus exec.ErrNotFound (wrapped) when a bare
// name is not in PATH (fs.ErrNotExist for a missing absolute path), and the
// process's exit status with its stderr.
func NewLAMEEncoder(path string, bitrateKbps int) Encoder {
	return lameEncoder{path: path, kbps: bitrateKbps}
}

type lameEncoder struct {
	path string
	kbps int
}

func (lameEncoder) Name() string { return "lame" }

func (e lameEncoder) Encode(ctx context.Context, dst io.Writer, src *WAV) (Result, error) {
	if src.Frames == 0 {
		return Result{}, fmt.Errorf("lame: %w", ErrNoAudio)
	}
	rate, _, err := OutputRate(src.SampleRate)
	if err != nil {
		return Result{}, fmt.Errorf("lame: %w", err)
	}
	kbps, _ := streamBitrate(e.kbps, src.Channels, rate)
	mode := "m"
	if src.Channels == 2 {
		mode = "j"
	}
	khz := func(hz int) string { return strconv.FormatFloat(float64(hz)/1000, 'f', -1, 64) }
	cmd := exec.CommandContext(ctx, e.path,
		"--quiet", "-r", "-s", khz(src.SampleRate), "--bitwidth", "16", "--signed", "--little-endian",
		"-m", mode, "-b", strconv.Itoa(kbps), "--cbr", "--resample", khz(rate), "-", "-")
	cw := &countingWriter{w: dst}
	var stderr bytes.Buffer
	cmd.Stdin = pcmReader{src}
	cmd.Stdout = cw
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("lame: %w", ctx.Err())
		}
		return Result{}, fmt.Errorf("lame: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return Result{
		DurationMS:  src.DurationMS(),
		Bytes:       cw.n,
		MIME:        MIMEType,
		Encoder:     "lame",
		SampleRate:  rate,
		Channels:    src.Channels,
		BitrateKbps: kbps,
	}, nil
}

// pcmReader presents a WAV's samples as raw little-endian PCM16 bytes.
type pcmReader struct{ w *WAV }

func (p pcmReader) Read(b []byte) (int, error) {
	buf := make([]int16, len(b)/2)
	n, err := p.w.ReadSamples(buf)
	for i := range n {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(buf[i]))
	}
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil
	}
	return 2 * n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
