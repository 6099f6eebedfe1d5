package fstest

import (
	"testing"
	"time"
)

func TestFaults_DelayDropCloseAndMalformedFrames(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), resumeVars)})
	call := mustInbound(t, fs, CallSpec{From: "1", To: "2"})
	ctl.accept()
	ctl.cmd("connect")

	fs.SetFaults(Faults{ReplyDelay: 150 * time.Millisecond})
	start := time.Now()
	ctl.cmd("linger")
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("reply came after %v, want >= 150ms", el)
	}

	fs.SetFaults(Faults{DropReplies: true})
	ctl.send("myevents")
	ctl.timeout = 100 * time.Millisecond
	if _, err := ctl.read(); err == nil {
		t.Error("a reply was sent despite DropReplies")
	}
	ctl.timeout = 0
	fs.SetFaults(Faults{})

	bad := "Content-Type: log/data\nContent-Length: 5\n\nhello"
	if n := fs.InjectFrame(call.A.UUID(), []byte(bad)); n != 1 {
		t.Fatalf("injected into %d connections", n)
	}
	if f := ctl.mustRead(); f.get("Content-Type") != "log/data" || f.body != "hello" {
		t.Errorf("injected frame arrived as %q", f.raw)
	}

	fs.SetFaults(Faults{CloseOn: "api uuid_record"})
	ctl.send("api uuid_record " + call.A.UUID() + " start /tmp/never.wav")
	if f, err := ctl.read(); err == nil {
		t.Errorf("connection still open, got %q", f.raw)
	}
	// The controller vanished mid-call with socket_resume still true: fallback runs.
	if _, err := call.A.WaitHangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if call.A.Var("fallback_ran") != "true" {
		t.Error("fallback did not run after the connection dropped")
	}
}

func TestDropConn_ClosesWithoutNotice(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), "")})
	call := mustInbound(t, fs, CallSpec{From: "1", To: "2"})
	ctl.accept()
	ctl.cmd("connect")
	if n := fs.DropConn(call.A.UUID()); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	if f, err := ctl.read(); err == nil {
		t.Errorf("got a frame after the drop: %q", f.raw)
	}
}

// TestInjectInbound_WritesRawBytesOnAuthenticatedInboundConnections: the inbound counterpart of
// InjectFrame reaches an authenticated node connection byte for byte.
func TestInjectInbound_WritesRawBytesOnAuthenticatedInboundConnections(t *testing.T) {
	fs := Start(t, Options{InboundPassword: "ClueCon"})
	ctl := inboundCtl(t, fs, "ClueCon")
	bad := "Content-Type: api/response\nContent-Length: 3\n\nabc"
	if n := fs.InjectInbound([]byte(bad)); n != 1 {
		t.Fatalf("injected into %d connections", n)
	}
	if f := ctl.mustRead(); f.get("Content-Type") != "api/response" || f.body != "abc" {
		t.Errorf("injected frame arrived as %q", f.raw)
	}
}
