package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/esl"
)

// checkSelfTest has FreeSWITCH record a short null-channel call into the spool, then reads the
// WAV as callrec's user, checks it has audio, encodes it to an MP3 in a temporary directory
// under library_dir and removes both, as callrec's worker would.
func checkSelfTest(ctx context.Context, p *esl.Probe, in Install, prefix string) Result {
	check := prefix + ": self-test recording into " + in.SpoolDir
	path := filepath.Join(in.SpoolDir, "callrec-selftest-"+randomID()+".wav")
	defer os.Remove(path)
	st, err := p.SelfTestRecording(ctx, path, in.SelfTestFor)
	var se *esl.SelfTestError
	switch {
	case errors.As(err, &se) && se.Step == esl.StepOriginate && strings.Contains(se.Reply, "CHAN_NOT_IMPLEMENTED"):
		return fail(check, "FreeSWITCH cannot place the self-test call: originate null/… answered "+se.Reply+" (mod_loopback is not loaded)",
			`load mod_loopback (fs_cli -x 'load mod_loopback', and <load module="mod_loopback"/> in modules.conf.xml), then run doctor again`)
	case errors.As(err, &se) && se.Step == esl.StepOriginate:
		return fail(check, "FreeSWITCH refused the self-test call: "+se.Err.Error(), "")
	case errors.As(err, &se) && se.Step == esl.StepRecordStart:
		return fail(check, fmt.Sprintf("FreeSWITCH cannot create %s (uuid_record: %s)", path, strings.TrimSpace(se.Reply)),
			fmt.Sprintf("make spool_dir writable by FreeSWITCH's user: it must exist on FreeSWITCH's host at the same path and be group-writable by a group FreeSWITCH is in (e.g. chgrp freeswitch %s && chmod 2770 %s, callrec's user in that group too)", in.SpoolDir, in.SpoolDir))
	case err != nil:
		return fail(check, "the self-test recording failed: "+err.Error(), "")
	}
	if st.Path != path {
		return fail(check, fmt.Sprintf("FreeSWITCH wrote %q, callrec asked for %q", st.Path, path),
			"callrec's paths must be absolute and the same on both sides; set spool_dir to an absolute path")
	}
	if st.Cause == "uri-failure" {
		return fail(check, fmt.Sprintf("FreeSWITCH could not write %s (Record-Completion-Cause uri-failure)", path),
			"make spool_dir writable by FreeSWITCH's user and check the disk has room")
	}
	ms, problem, fix := readSelfTestWAV(path)
	if problem != "" {
		return fail(check, problem, fix)
	}
	size, problem, fix := encodeSelfTest(ctx, in, path)
	if problem != "" {
		return fail(check, problem, fix)
	}
	if err := os.Remove(path); err != nil {
		return fail(check, fmt.Sprintf("callrec's user cannot delete %s (%v); callrec removes every WAV once its MP3 is made", path, err),
			"make spool_dir writable by callrec's user (its group, with the setgid bit: chmod 2770 "+in.SpoolDir+")")
	}
	return ok(check, fmt.Sprintf("FreeSWITCH wrote %d ms with audio, callrec's user read it, encoded a %d-byte MP3 under %s and removed both", ms, size, in.LibraryDir))
}

// readSelfTestWAV opens the self-test WAV as this process's user and measures it. It returns
// the duration, or a problem and its fix.
func readSelfTestWAV(path string) (ms int64, problem, fix string) {
	w, err := audio.OpenWAV(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Sprintf("FreeSWITCH reports writing %s, but callrec finds no such file", path),
			"FreeSWITCH and callrec must see spool_dir at the same path: the same host, or one shared mount at the same path (a container, a systemd PrivateTmp or another host hides it)"
	case errors.Is(err, fs.ErrPermission):
		return 0, fmt.Sprintf("callrec's user (uid %d) cannot read %s (%s)", os.Geteuid(), path, describe(path)),
			"let FreeSWITCH's files be readable by callrec's group: make spool_dir setgid with a group both users are in (chmod 2770) and give FreeSWITCH a umask that keeps group read (UMask=0007 in its systemd unit)"
	case err != nil:
		return 0, fmt.Sprintf("callrec cannot read the self-test WAV %s: %v", path, err), ""
	}
	defer w.Close()
	buf := make([]int16, 8000)
	var sum float64
	var n int64
	for {
		k, err := w.ReadSamples(buf)
		for _, s := range buf[:k] {
			sum += float64(s) * float64(s)
		}
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Sprintf("the self-test WAV %s is damaged: %v", path, err), ""
		}
	}
	if n == 0 || math.Sqrt(sum/float64(n)) < 50 {
		return w.DurationMS(), fmt.Sprintf("the self-test WAV %s holds no audio (%d ms, silent): FreeSWITCH recorded but not the tone it played", path, w.DurationMS()),
			"check FreeSWITCH's log for the self-test channel null/callrec-selftest (mod_tone_stream loaded? RECORD_READ_ONLY set globally?)"
	}
	return w.DurationMS(), "", ""
}

// describe names a file's mode and owner.
func describe(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("mode %04o, owner %d:%d", st.Mode().Perm(), sys.Uid, sys.Gid)
	}
	return fmt.Sprintf("mode %04o", st.Mode().Perm())
}

// encodeSelfTest encodes the WAV into a temporary directory under library_dir, as the worker
// does, and removes it. It returns the MP3's size, or a problem and its fix.
func encodeSelfTest(ctx context.Context, in Install, path string) (int64, string, string) {
	dir, err := os.MkdirTemp(in.LibraryDir, ".callrec-doctor-")
	if err != nil {
		return 0, fmt.Sprintf("callrec's user cannot write into library_dir %s: %v", in.LibraryDir, err),
			"create library_dir and make it writable by callrec's user"
	}
	defer os.RemoveAll(dir)
	res, err := audio.EncodeFile(ctx, in.Encoder, path, filepath.Join(dir, "selftest.mp3"))
	if err != nil {
		return 0, "callrec could not encode the self-test WAV: " + err.Error(), ""
	}
	if res.Bytes == 0 {
		return 0, "the self-test MP3 is empty", ""
	}
	return res.Bytes, "", ""
}

// checkHTTP checks that callrec answers /healthz and /readyz on http.listen.
func checkHTTP(ctx context.Context, in Install) Result {
	check := "callrec HTTP (http.listen " + in.HTTPListen + ")"
	client := &http.Client{Timeout: in.Timeout}
	base := "http://" + dialable(in.HTTPListen)
	get := func(path string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var body struct {
			Status string `json:"status"`
			Down   []struct {
				Part   string `json:"part"`
				Reason string `json:"reason"`
			} `json:"down"` // /readyz: each part of callrec that is down
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
		status := body.Status
		for _, d := range body.Down {
			status += "; " + d.Part + ": " + d.Reason
		}
		return resp.StatusCode, status, nil
	}
	code, _, err := get("/healthz")
	if err != nil {
		return fail(check, "callrec is not running: no answer on "+in.HTTPListen+" ("+err.Error()+")",
			"start callrec (callrec serve) with this configuration, or fix http.listen")
	}
	if code != http.StatusOK {
		return fail(check, fmt.Sprintf("GET /healthz answered %d: %s is not callrec", code, in.HTTPListen), "fix http.listen")
	}
	code, status, err := get("/readyz")
	switch {
	case err != nil:
		return fail(check, "GET /readyz failed: "+err.Error(), "")
	case code != http.StatusOK:
		return fail(check, fmt.Sprintf("callrec runs but is not ready (GET /readyz %d %q)", code, status), "see callrec's log")
	}
	return ok(check, "running and ready (/healthz, /readyz)")
}
