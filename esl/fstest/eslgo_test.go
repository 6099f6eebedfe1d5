package fstest

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
)

// freePort reserves an address for eslgo, whose ListenAndServe cannot report its port.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestESLGoController_RecordsBothPartiesInStereoWAV is the example controller of the
// brief: eslgo connects, subscribes, moves the call on with uuid_transfer, records the
// caller's leg on CHANNEL_BRIDGE and gets RECORD_START/RECORD_STOP; the WAV lasts the
// bridged time and holds the caller on L and the user on R.
func TestESLGoController_RecordsBothPartiesInStereoWAV(t *testing.T) {
	addr := freePort(t)
	dir := t.TempDir()
	fs := Start(t, Options{
		Dialplan: socketDialplan(addr, `<action application="set" data="socket_resume=true"/><action application="set" data="hangup_after_bridge=true"/>`),
		Phones:   map[string]Phone{"1001": {ToneHz: 700}},
	})
	type result struct {
		start, stop *eslgo.Event
		err         error
	}
	results := make(chan result, 1)
	recorded := make(chan struct{})
	opts := eslgo.DefaultOutboundOptions
	opts.Logger = eslgo.NilLogger{}
	go opts.ListenAndServe(addr, func(ctx context.Context, conn *eslgo.Conn, resp *eslgo.RawResponse) {
		uuid := resp.GetHeader("Unique-ID")
		evs := make(chan *eslgo.Event, 64)
		conn.RegisterEventListener(eslgo.EventListenAll, func(e *eslgo.Event) { evs <- e })
		send := func(c command.Command) {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if _, err := conn.SendCommand(cctx, c); err != nil {
				t.Errorf("%s: %v", c.BuildMessage(), err)
			}
		}
		send(command.API{Command: "uuid_setvar", Arguments: uuid + " socket_resume false"})
		send(command.Event{Format: "plain", Listen: []string{"CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "RECORD_START", "RECORD_STOP"}})
		send(command.Filter{EventHeader: "Unique-ID", FilterValue: uuid})
		send(command.Linger{Enabled: true, Seconds: 30})
		send(command.API{Command: "uuid_setvar", Arguments: uuid + " RECORD_STEREO true"})
		send(command.API{Command: "uuid_transfer", Arguments: uuid + " bleg XML route"})
		var r result
		deadline := time.After(5 * time.Second)
		for r.stop == nil {
			select {
			case e := <-evs:
				switch e.GetName() {
				case "CHANNEL_BRIDGE":
					send(command.API{Command: "uuid_record", Arguments: uuid + " start " + filepath.Join(dir, uuid+".wav")})
				case "RECORD_START":
					r.start = e
					close(recorded)
				case "RECORD_STOP":
					r.stop = e
				}
			case <-deadline:
				r.err = context.DeadlineExceeded
				results <- r
				return
			}
		}
		results <- r
	})
	var call *Call
	for i := 0; ; i++ { // eslgo listens asynchronously
		call = mustInbound(t, fs, CallSpec{From: "+34600111222", To: "34911234567", ToneHz: 440})
		if _, err := call.A.WaitState(ctx(t), func(s LegState) bool { return s.Controlled || s.Hungup }); err != nil {
			t.Fatal(err)
		}
		if call.A.State().Controlled || i > 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-recorded:
	case <-time.After(5 * time.Second):
		t.Fatal("no RECORD_START")
	}
	fs.Advance(10 * time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	r := <-results
	if r.err != nil {
		t.Fatal(r.err)
	}
	path := r.start.GetHeader("Record-File-Path")
	if path != r.stop.GetHeader("Record-File-Path") {
		t.Fatalf("paths differ: %q vs %q", path, r.stop.GetHeader("Record-File-Path"))
	}
	ms, _ := strconv.Atoi(r.stop.GetHeader("variable_record_ms"))
	if ms < 10000 || ms > 10500 {
		t.Errorf("record_ms = %d, want about 10000", ms)
	}
	w, err := fs.WAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Channels) != 2 || w.SampleRate != 8000 {
		t.Fatalf("wav: %d channels at %d Hz", len(w.Channels), w.SampleRate)
	}
	if d := w.Duration(); d < 10*time.Second || d > 10500*time.Millisecond {
		t.Errorf("wav lasts %v", d)
	}
	for _, sec := range []time.Duration{0, 5 * time.Second, 9 * time.Second} {
		if !w.Hears(0, 440, sec, sec+time.Second) || w.Hears(0, 700, sec, sec+time.Second) {
			t.Errorf("L at %v: caller %.2f user %.2f", sec, w.ToneLevel(0, 440, sec, sec+time.Second), w.ToneLevel(0, 700, sec, sec+time.Second))
		}
		if !w.Hears(1, 700, sec, sec+time.Second) || w.Hears(1, 440, sec, sec+time.Second) {
			t.Errorf("R at %v: user %.2f caller %.2f", sec, w.ToneLevel(1, 700, sec, sec+time.Second), w.ToneLevel(1, 440, sec, sec+time.Second))
		}
	}
}
