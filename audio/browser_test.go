package audio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestShineEncoder_8And16kHzMP3sDecodeInChromium: the 8 kHz MPEG-2.5 (and 16 kHz MPEG-2) MP3s callrec
// now writes are decoded by a browser, not only by LAME and go-mp3. Headless chromium (whose MP3
// decoder is FFmpeg's) runs decodeAudioData on each in an OfflineAudioContext at the MP3's rate
// (no resampling) and posts the samples;
// they must match the source like LAME's decode does (quality floor, length within a frame,
// stereo channels kept apart). Without chromium the test skips, except in CI (CI=true), where
// .ci/run installs it and its absence fails.
func TestShineEncoder_8And16kHzMP3sDecodeInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not in PATH: .ci/run installs it")
		}
		t.Skip("chromium not installed (apt-get install chromium): the browser decode check is skipped")
	}
	for _, c := range []encodeCase{{"8 kHz mono", 8000, 1, 3}, {"8 kHz stereo", 8000, 2, 3}, {"16 kHz stereo", 16000, 2, 2}} {
		t.Run(c.name, func(t *testing.T) {
			chans, wav := caseSignal(c)
			var out bytes.Buffer
			if _, err := NewShineEncoder(0).Encode(context.Background(), &out, mustWAV(t, wav)); err != nil {
				t.Fatal(err)
			}
			if h, _ := parseFrameHeader(out.Bytes()); h.sampleRate != c.rate || h.mpeg1 {
				t.Fatalf("MP3 at %d Hz (MPEG-1 %v), want %d (MPEG-2 or 2.5)", h.sampleRate, h.mpeg1, c.rate)
			}
			dec := decodeInChromium(t, chromium, out.Bytes(), c.rate)
			if len(dec) != c.channels {
				t.Fatalf("chromium decoded %d channels, want %d", len(dec), c.channels)
			}
			for ch, src := range chans {
				if d := len(dec[ch]) - len(src); d < 0 || d >= 2*576 {
					t.Errorf("channel %d: %d samples decoded from %d: want within a frame plus the decoder delay", ch, len(dec[ch]), len(src))
				}
				lag, gain, snr, seg := quality(src, dec[ch], c.rate)
				t.Logf("channel %d: lag %d, gain %.3f, SNR %.1f dB, segmental %.1f dB", ch, lag, gain, snr, seg)
				if snr < minSNR || seg < minSegSNR {
					t.Errorf("channel %d: SNR %.1f dB, segmental %.1f dB; want ≥ %.0f and ≥ %.0f", ch, snr, seg, minSNR, minSegSNR)
				}
				if c.channels == 2 {
					if _, _, snr, _ := quality(chans[1-ch], dec[ch], c.rate); snr > 3 {
						t.Errorf("channel %d resembles the other channel's source (SNR %.1f dB)", ch, snr)
					}
				}
			}
		})
	}
}

// decodeInChromium decodes mp3 with chromium's decodeAudioData at rate Hz and returns the samples
// of each channel. The page and the MP3 come from a loopback HTTP server, and the page posts the
// decoded samples back to it, so the test waits for the decode itself, not for a time budget.
func decodeInChromium(t *testing.T, chromium string, mp3 []byte, rate int) [][]int16 {
	t.Helper()
	type result struct {
		Rate int
		D    [][]int
		Err  string
	}
	results := make(chan result, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, decodePage, rate)
	})
	mux.HandleFunc("GET /a.mp3", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", MIMEType)
		w.Write(mp3)
	})
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		var res result
		if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
			res.Err = "bad result: " + err.Error()
		}
		select {
		case results <- res:
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"http://"+ln.Addr().String()+"/")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill() // the chromium this test started
		<-exited
	}()
	var r result
	select {
	case r = <-results:
	case err := <-exited:
		t.Fatalf("chromium exited before decoding: %v: %.500s", err, stderr.Bytes())
	case <-ctx.Done():
		t.Fatalf("chromium sent no result within 2 minutes: %.500s", stderr.Bytes())
	}
	if r.Err != "" || r.Rate != rate {
		t.Fatalf("chromium decodeAudioData: %q, rate %d", r.Err, r.Rate)
	}
	out := make([][]int16, len(r.D))
	for c, d := range r.D {
		out[c] = make([]int16, len(d))
		for i, v := range d {
			out[c][i] = int16(max(-32768, min(32767, v)))
		}
	}
	return out
}

// decodePage (a format: %d is the sample rate) fetches a.mp3, decodes it in an OfflineAudioContext
// at that rate and posts the samples (or the error) to /result.
const decodePage = `<html><body><script>
const post = r => fetch("/result", {method: "POST", body: JSON.stringify(r)});
fetch("/a.mp3").then(r => r.arrayBuffer())
  .then(b => new OfflineAudioContext(2, 1, %d).decodeAudioData(b))
  .then(buf => {
    const r = {rate: buf.sampleRate, d: []};
    for (let c = 0; c < buf.numberOfChannels; c++) r.d.push(Array.from(buf.getChannelData(c), v => Math.round(v * 32768)));
    return post(r);
  }, e => post({err: String(e)}));
</script></body></html>`
