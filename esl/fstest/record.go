package fstest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// recording is one media bug writing a WAV (switch_ivr_record_session).
type recording struct {
	path        string
	start, stop time.Time
	stereo      bool
	readOnly    bool
	writeOnly   bool
	masks       []span
}

const sampleRate = 8000

// startRecordingLocked starts recording l to path. It returns (false, nil) when the same
// path already records ("Already recording": +OK without effect, REFERENCE.md §2).
// A relative path is written under sound_prefix or the base dir (resolveRecordPathLocked);
// the recording is known by that resolved path from then on, as FreeSWITCH's channel
// private is, so the repeat check and a later stop by the relative path do not find it.
func (l *Leg) startRecordingLocked(path string) (bool, error) {
	if l.hungup {
		return false, errors.New("channel down")
	}
	for _, r := range l.recs {
		if r.path == path {
			if isTrue(l.vars.getFold("RECORD_TOGGLE_ON_REPEAT")) {
				l.stopRecordingLocked(r, "success-maxtime")
				l.removeRec(r)
			}
			return false, nil
		}
	}
	path = l.resolveRecordPathLocked(path)
	if err := l.fs.mayCreateLocked(path); err != nil {
		return false, err
	}
	// switch_ivr_record_session_event (~3105) creates the parents SWITCH_DEFAULT_DIR_PERMS (0750).
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return false, err
	}
	l.preAnswerLocked() // switch_channel_pre_answer: 183 on an unanswered leg
	r := &recording{path: path, start: l.fs.clock.Now(),
		stereo:    isTrue(l.vars.getFold("RECORD_STEREO")),
		readOnly:  isTrue(l.vars.getFold("RECORD_READ_ONLY")),
		writeOnly: isTrue(l.vars.getFold("RECORD_WRITE_ONLY"))}
	// The file is opened (its header written) before the media bug is added
	// (switch_ivr_record_session_event: switch_core_file_open ~3137, switch_core_media_bug_add
	// ~3309): it exists for the whole recording; stopRecordingLocked writes the audio.
	empty := *r
	empty.stop = r.start
	if err := os.WriteFile(path, l.renderWAV(&empty), 0o644); err != nil {
		return false, err
	}
	l.fs.ownFileLocked(path)
	l.recs = append(l.recs, r)
	ev := l.chanEvent("RECORD_START", "switch_ivr_async.c", "record_callback", 1481)
	ev.add("Record-File-Path", path)
	l.fireLocked(ev)
	return true, nil
}

// resolveRecordPathLocked is where FreeSWITCH writes a record path: a path that is not a file
// path (switch_is_file_path: no leading "/", no "://") gets sound_prefix (the channel
// variable, else the global one) or else SWITCH_GLOBAL_dirs.base_dir and "/" put in front,
// by plain concatenation, nothing cleaned (switch_ivr_async.c switch_ivr_record_session_event
// ~3079–3100). The "[...]" / "{...}" file-parameter prefixes are not simulated.
func (l *Leg) resolveRecordPathLocked(path string) string {
	if strings.HasPrefix(path, "/") || strings.Contains(path, "://") {
		return path
	}
	prefix := l.vars.getFold("sound_prefix")
	if prefix == "" {
		prefix = l.fs.opts.SoundPrefix
	}
	if prefix == "" {
		prefix = l.fs.opts.BaseDir
	}
	return prefix + "/" + path
}

func (l *Leg) removeRec(r *recording) {
	for i, x := range l.recs {
		if x == r {
			l.recs = append(l.recs[:i], l.recs[i+1:]...)
			return
		}
	}
}

func (l *Leg) findRec(path string) *recording {
	for _, r := range l.recs {
		if r.path == path {
			return r
		}
	}
	return nil
}

// stopRecordingByPathLocked stops path, or every recording for "all". False when nothing
// matched.
func (l *Leg) stopRecordingByPathLocked(path string) bool {
	if path == "all" {
		ok := len(l.recs) > 0
		for _, r := range append([]*recording(nil), l.recs...) {
			l.stopRecordingLocked(r, "success-maxtime")
			l.removeRec(r)
		}
		return ok
	}
	r := l.findRec(path)
	if r == nil {
		return false
	}
	l.stopRecordingLocked(r, "success-maxtime")
	l.removeRec(r)
	return true
}

// stopRecordingLocked writes the WAV, sets record_* variables and fires RECORD_STOP
// (send_record_stop_event).
func (l *Leg) stopRecordingLocked(r *recording, cause string) {
	r.stop = l.fs.clock.Now()
	if n := len(r.masks); n > 0 && r.masks[n-1].to.IsZero() {
		r.masks[n-1].to = r.stop
	}
	data := l.renderWAV(r)
	size := 0
	samples := int(r.stop.Sub(r.start) * sampleRate / time.Second)
	minSec, _ := strconv.Atoi(l.vars.getFold("RECORD_MIN_SEC"))
	if err := os.WriteFile(r.path, data, 0o644); err == nil {
		size = len(data)
		l.fs.ownFileLocked(r.path)
	} else {
		cause = "uri-failure"
	}
	// record_callback SWITCH_ABC_TYPE_CLOSE (switch_ivr_async.c ~1664–1673): no frame written
	// → "empty-file", fewer samples than RECORD_MIN_SEC → "input-too-short"; the file is removed
	// and RECORD_DISCARDED=true set on the channel (never cleared) before RECORD_STOP.
	if size > 0 && (samples == 0 || samples < sampleRate*minSec) {
		os.Remove(r.path)
		l.vars.set("RECORD_DISCARDED", "true")
		cause = "input-too-short"
		if samples == 0 {
			cause = "empty-file"
		}
	}
	ms := samples * 1000 / sampleRate
	l.vars.set("record_samples", fmt.Sprint(samples))
	l.vars.set("record_seconds", fmt.Sprint(ms/1000))
	l.vars.set("record_ms", fmt.Sprint(ms))
	l.vars.set("record_file_size", fmt.Sprint(size))
	l.vars.set("record_completion_cause", cause)
	ev := l.chanEvent("RECORD_STOP", "switch_ivr_async.c", "send_record_stop_event", 1240)
	ev.add("Record-File-Path", r.path)
	ev.add("Record-Completion-Cause", cause)
	l.fireLocked(ev)
}

func inSpans(sp []span, t time.Time) bool {
	for _, s := range sp {
		if s.covers(t) {
			return true
		}
	}
	return false
}

// speaks reports whether l's far end sends audio at t: media up, not hung up, not held.
func (l *Leg) speaks(t time.Time) bool {
	up := (l.answered && !t.Before(l.answeredAt)) || (l.preAnswered && !t.Before(l.progressAt))
	if !up || (l.hungup && !t.Before(l.hangupAt)) {
		return false
	}
	return !inSpans(l.holds, t)
}

// renderWAV synthesises what the media bug would have captured: L = what the leg sends
// (its own tone), R = what it hears (its bridge partner's tone while bridged and neither
// side holds). Mono mixes both.
func (l *Leg) renderWAV(r *recording) []byte {
	n := int(r.stop.Sub(r.start) * sampleRate / time.Second)
	chans := 1
	if r.stereo {
		chans = 2
	}
	pcm := make([]int16, n*chans)
	const amp = 8000.0
	for i := 0; i < n; i++ {
		t := r.start.Add(time.Duration(i) * time.Second / sampleRate)
		var send, hear float64
		if !inSpans(r.masks, t) {
			if !r.writeOnly && l.speaks(t) {
				send = amp * math.Sin(2*math.Pi*l.phone.ToneHz*float64(i)/sampleRate)
			}
			if !r.readOnly && !inSpans(l.holds, t) {
				for _, s := range l.spans {
					if s.covers(t) && s.peer.speaks(t) {
						hear = amp * math.Sin(2*math.Pi*s.peer.phone.ToneHz*float64(i)/sampleRate)
						break
					}
				}
			}
		}
		if r.stereo {
			pcm[2*i], pcm[2*i+1] = int16(send), int16(hear)
		} else {
			pcm[i] = int16(send + hear)
		}
	}
	var b bytes.Buffer
	dataLen := len(pcm) * 2
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+dataLen))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, uint16(1))
	binary.Write(&b, binary.LittleEndian, uint16(chans))
	binary.Write(&b, binary.LittleEndian, uint32(sampleRate))
	binary.Write(&b, binary.LittleEndian, uint32(sampleRate*2*chans))
	binary.Write(&b, binary.LittleEndian, uint16(2*chans))
	binary.Write(&b, binary.LittleEndian, uint16(16))
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(dataLen))
	binary.Write(&b, binary.LittleEndian, pcm)
	return b.Bytes()
}

// WAV is a PCM16 WAV file read back for assertions.
type WAV struct {
	SampleRate int
	// Channels holds one slice of samples per channel (1 = mono, 2 = stereo L/R).
	Channels [][]int16
}

// Duration is the length of the audio.
func (w *WAV) Duration() time.Duration {
	if len(w.Channels) == 0 || w.SampleRate == 0 {
		return 0
	}
	return time.Duration(len(w.Channels[0])) * time.Second / time.Duration(w.SampleRate)
}

// ToneLevel measures how strongly frequency hz is present in channel ch between from and
// to (offsets from the start), as a 0..1 amplitude ratio (Goertzel, relative to full scale
// of the stand-in's tone amplitude 8000).
func (w *WAV) ToneLevel(ch int, hz float64, from, to time.Duration) float64 {
	if ch >= len(w.Channels) {
		return 0
	}
	s := w.Channels[ch]
	i0 := int(from * time.Duration(w.SampleRate) / time.Second)
	i1 := int(to * time.Duration(w.SampleRate) / time.Second)
	if i0 < 0 {
		i0 = 0
	}
	if i1 > len(s) {
		i1 = len(s)
	}
	n := i1 - i0
	if n <= 0 {
		return 0
	}
	k := 2 * math.Cos(2*math.Pi*hz/float64(w.SampleRate))
	var s1, s2 float64
	for i := i0; i < i1; i++ {
		s0 := float64(s[i]) + k*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - k*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(n) / 8000
}

// Hears reports whether tone hz is clearly present (level above 0.3) in channel ch
// between from and to.
func (w *WAV) Hears(ch int, hz float64, from, to time.Duration) bool {
	return w.ToneLevel(ch, hz, from, to) > 0.3
}

// ReadWAV reads a PCM16 WAV file. Errors: I/O, or not a PCM16 RIFF/WAVE file.
func ReadWAV(path string) (*WAV, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fstest: read wav: %w", err)
	}
	if len(data) < 44 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, fmt.Errorf("fstest: %s: not a RIFF/WAVE file", path)
	}
	var chans, bits int
	var rate int
	pos := 12
	for pos+8 <= len(data) {
		id := string(data[pos : pos+4])
		sz := int(binary.LittleEndian.Uint32(data[pos+4 : pos+8]))
		body := data[pos+8:]
		if sz > len(body) {
			sz = len(body)
		}
		switch id {
		case "fmt ":
			if binary.LittleEndian.Uint16(body[0:2]) != 1 {
				return nil, fmt.Errorf("fstest: %s: not PCM", path)
			}
			chans = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = int(binary.LittleEndian.Uint16(body[14:16]))
		case "data":
			if bits != 16 || chans < 1 {
				return nil, fmt.Errorf("fstest: %s: want 16-bit PCM, got %d bits %d channels", path, bits, chans)
			}
			w := &WAV{SampleRate: rate, Channels: make([][]int16, chans)}
			frames := sz / (2 * chans)
			for c := range w.Channels {
				w.Channels[c] = make([]int16, frames)
			}
			for i := 0; i < frames; i++ {
				for c := 0; c < chans; c++ {
					off := (i*chans + c) * 2
					w.Channels[c][i] = int16(binary.LittleEndian.Uint16(body[off : off+2]))
				}
			}
			return w, nil
		}
		pos += 8 + sz + sz%2
	}
	return nil, fmt.Errorf("fstest: %s: no data chunk", path)
}

// WAV reads back a file uuid_record (or INFO Record: on) wrote.
func (fs *FS) WAV(path string) (*WAV, error) { return ReadWAV(path) }
