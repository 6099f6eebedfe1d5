package esl

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// Several callrec instances (issue 16 item 3): fsconf renders each hand-over with every
// instance in turn before the fail-open fallback. With the first instance down the second takes
// the call and records it; with both up only the first is reached for an ordinary call; and a
// frustrated transfer to the code, which the first instance toggles and then closes on purpose,
// reaches the second instance too, which sees the hand-over taken and closes, so the recording is
// toggled once, not twice.
func TestInstances_NextInstanceTakesTheCallAndAToggleIsDecidedOnce(t *testing.T) {
	t.Run("first instance down", func(t *testing.T) {
		logs2 := &logLines{}
		h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, logs2: logs2,
			instances: func(_, b string) []string { return []string{"127.0.0.1:1", b} }})
		call, user := answeredInbound(t, h)
		if r := h.waitRecordings(store.StateRecording, 1)[0]; r.Type != store.TypeDDI {
			t.Fatalf("recording %+v, want the DDI's", r)
		}
		if n := logs2.count(`"message":"call decided"`); n != 1 {
			t.Errorf("the second instance decided %d calls, want this one", n)
		}
		user.Hangup("NORMAL_CLEARING")
		call.A.Hangup("NORMAL_CLEARING")
		h.waitSessions()
	})
	t.Run("code toggled once with both up", func(t *testing.T) {
		logs, logs2 := &logLines{}, &logLines{}
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "7", logs: logs, logs2: logs2,
			instances: func(a, b string) []string { return []string{a, b} }})
		call, user := answeredInbound(t, h)
		if n := logs2.count(`"message":"call decided"`); n != 0 {
			t.Fatalf("the second instance decided %d calls although the first took the call", n)
		}
		ctx := ctxT(t, 30*time.Second)
		for i, want := range []string{store.StateRecording, store.StateProcessing} {
			refer := user.BlindTransfer("*7")
			if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
				t.Fatalf("REFER %d to *7: NOTIFY %d %v, want 403", i+1, st, err)
			}
			if _, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.Hungup || s.PeerUUID == user.UUID() }); err != nil || call.A.State().Hungup {
				t.Fatalf("caller not re-joined after REFER %d: %+v %v", i+1, call.A.State(), err)
			}
			rows := ondemandRows(h)
			if len(rows) != 1 {
				t.Fatalf("after REFER %d: %d on-demand recordings, want 1", i+1, len(rows))
			}
			deadline := time.Now().Add(10 * time.Second)
			for rows[0].State != want && rows[0].State != store.StateReady && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				rows = ondemandRows(h)
			}
			if got := rows[0].State; got != want && !(want == store.StateProcessing && got == store.StateReady) {
				t.Fatalf("after REFER %d the recording is %s, want %s (toggled once)", i+1, got, want)
			}
			if n := logs2.count(`"decision":"taken_by_another_instance"`); n != i+1 {
				t.Fatalf("after REFER %d the second instance closed %d taken hand-overs, want %d", i+1, n, i+1)
			}
		}
		user.Hangup("NORMAL_CLEARING")
		call.A.Hangup("NORMAL_CLEARING")
		h.waitSessions()
	})
	t.Run("call on the second instance, code reaches the first", func(t *testing.T) {
		// The first instance was down when the call began (here: the public entry tries the
		// second first); at the REFER the transfer entry reaches the first, which knows no
		// session of the transferor and must close without taking the hand-over, so the
		// second, which follows the call, toggles the recording.
		logs, logs2 := &logLines{}, &logLines{}
		var a, b string
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "7", logs: logs, logs2: logs2,
			instances: func(x, y string) []string { a, b = x, y; return []string{x, y} },
			dialplanEdit: func(xml string) string {
				pub := strings.Index(xml, `<extension name="callrec_inbound">`)
				end := pub + strings.Index(xml[pub:], "</extension>")
				entry := strings.NewReplacer(`data="`+a+` async full"`, `data="`+b+` async full"`, `data="`+b+` async full"`, `data="`+a+` async full"`).Replace(xml[pub:end])
				return xml[:pub] + entry + xml[end:]
			}})
		call, user := answeredInbound(t, h)
		if n := logs2.count(`"message":"call decided"`); n != 1 {
			t.Fatalf("the second instance decided %d calls, want this one", n)
		}
		ctx := ctxT(t, 30*time.Second)
		refer := user.BlindTransfer("*7")
		if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
			t.Fatalf("REFER to *7: NOTIFY %d %v, want 403", st, err)
		}
		rows := ondemandRows(h)
		deadline := time.Now().Add(10 * time.Second)
		for len(rows) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			rows = ondemandRows(h)
		}
		if len(rows) != 1 || rows[0].State != store.StateRecording {
			t.Fatalf("on-demand recordings %v after *7, want one recording (the second instance toggled it)", rows)
		}
		if n := logs.count(`no live session of this instance knows the transferor`); n != 1 {
			t.Errorf("the first instance refused %d transfers, want 1", n)
		}
		user.Hangup("NORMAL_CLEARING")
		call.A.Hangup("NORMAL_CLEARING")
		h.waitSessions()
	})
}

// fakePeers is a Peers whose answers the test sets.
type fakePeers struct {
	mu       sync.Mutex
	dead     map[string]bool
	adopting bool
	asked    int
}

func (p *fakePeers) Alive(_ context.Context, id string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked++
	return !p.dead[id], nil
}

func (p *fakePeers) Adopting() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.adopting }

func (p *fakePeers) kill(id string) { p.mu.Lock(); p.dead[id] = true; p.mu.Unlock() }

func (p *fakePeers) setAdopting(v bool) { p.mu.Lock(); p.adopting = v; p.mu.Unlock() }

func (p *fakePeers) askedN() int { p.mu.Lock(); defer p.mu.Unlock(); return p.asked }

// TestInstances_ACallOfADeadInstanceIsReadoptedByTheAdoptingOne (issue 16 item 3): two
// instances follow the same node. The call is taken by the first, which marks the controlled
// leg with its id; while the first is alive the second's node leaves the call alone, however
// often it looks. Once the first is gone (its Server closed, the call going on in FreeSWITCH,
// and Peers no longer finding it alive) the second, the adopting instance, takes the call over
// within a few of its periodic looks, moves the mark to itself, and the call is under control
// again: the DTMF code starts a recording, and the hangup finishes every recording.
func TestInstances_ACallOfADeadInstanceIsReadoptedByTheAdoptingOne(t *testing.T) {
	logs2 := &logLines{}
	peersA := &fakePeers{dead: map[string]bool{}}
	peersB := &fakePeers{dead: map[string]bool{}} // adopting only while the test watches: looks keep the stand-in from going quiet
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandKeyDTMF, code: "7", inbound: true,
		logs2: logs2, instances: func(a, b string) []string { return []string{a, b} },
		peers: [2]Peers{peersA, peersB}, readoptEvery: 100 * time.Millisecond})
	stopA := h.startNode(h.srv)
	h.startNode(h.srv2)
	call, user := answeredInbound(t, h)
	h.waitRecordings(store.StateRecording, 1)
	if got := call.A.Var(dialplan.VarOwner); got != "a" {
		t.Fatalf("controlled leg's %s = %q, want the first instance's id", dialplan.VarOwner, got)
	}
	// Several looks by the second instance while the first is alive: it asks, and leaves the call.
	peersB.setAdopting(true)
	start := peersB.askedN()
	waitFor(t, func() bool { return peersB.askedN() >= start+3 || logs2.count(`"decision":"readopted"`) > 0 }, "three looks by the second instance")
	if n := logs2.count(`"decision":"readopted"`); n != 0 {
		t.Fatalf("the second instance took over a call of a live instance (%d times)", n)
	}

	stopA()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	must(t, h.srv.Close(ctx))
	cancel()
	peersB.kill("a")
	waitFor(t, func() bool { return logs2.count(`"decision":"readopted"`) == 1 }, "the second instance re-adopts the call")
	if got := call.A.Var(dialplan.VarOwner); got != "b" {
		t.Errorf("after the take-over %s = %q, want the second instance's id", dialplan.VarOwner, got)
	}
	time.Sleep(500 * time.Millisecond) // more looks: the call is the second's own now
	if n := logs2.count(`"decision":"readopted"`); n != 1 {
		t.Errorf("the call was taken over %d times, want once", n)
	}
	peersB.setAdopting(false) // the looks stop, so the connections can go quiet for the stand-in's clock
	h.waitFollowedInbound(call.A.UUID())
	h.waitQuiet()
	h.fs.Advance(time.Second)
	user.SendDTMF("*7")
	recs := h.waitRecordings(store.StateRecording, 2)
	if !hasTrigger(recs, store.TriggerDTMF) {
		t.Fatalf("no DTMF recording after the take-over: %+v", recs)
	}
	h.waitQuiet()
	h.fs.Advance(time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	h.waitRecordings(store.StateProcessing, 2)
}
