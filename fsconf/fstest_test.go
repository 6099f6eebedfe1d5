package fsconf_test

import (
	"context"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// The operator's own routing, placed after callrec's entries exactly as INSTALL.md says.
const (
	operatorPublic = `
    <extension name="operator_ddi">
      <condition field="destination_number" expression="^(34911234567)$">
        <action application="set" data="route_ran=true"/>
        <action application="bridge" data="user/1001"/>
      </condition>
    </extension>`
	operatorDefault = `
    <extension name="operator_local">
      <condition field="destination_number" expression="^(10\d\d)$">
        <action application="set" data="route_ran=true"/>
        <action application="bridge" data="user/$1"/>
      </condition>
    </extension>
    <extension name="operator_external">
      <condition field="destination_number" expression="^\+?(\d{6,})$">
        <action application="set" data="route_ran=true"/>
        <action application="bridge" data="sofia/gateway/carrier/$1"/>
      </condition>
    </extension>`
)

// installedDialplan assembles what FreeSWITCH would load after INSTALL.md: callrec's file first
// in the public and default contexts, the operator's extensions after it, and the transfer
// context file.
func installedDialplan(tb testing.TB, out fsconf.Output) *fstest.Dialplan {
	tb.Helper()
	doc := out.InstalledDialplan(map[string]string{"public": operatorPublic, "default": operatorDefault})
	dp, err := fstest.ParseDialplan(doc)
	if err != nil {
		tb.Fatalf("rendered dialplan does not load: %v\n%s", err, doc)
	}
	return dp
}

func renderFor(tb testing.TB, eslAddr string) fsconf.Output {
	tb.Helper()
	o := testOptions()
	o.ESLListen = eslAddr
	_, out := mustRender(tb, o)
	return out
}

func startFS(tb testing.TB, dp *fstest.Dialplan) *fstest.FS {
	return fstest.Start(tb, fstest.Options{
		Profile:         fstest.Profile{Name: "internal", FireTransferEvents: true, RecordPath: tb.TempDir(), RecordTemplate: fsconf.RecordTemplate},
		Dialplan:        dp,
		InboundPassword: "pw",
		Phones:          map[string]fstest.Phone{"1001": {ToneHz: 700}, "1002": {ToneHz: 800}},
		External:        fstest.External{ToneHz: 1000},
		// FreeSWITCH waits 25 s for `connect`; the stand-in's timeout is configurable so the
		// silent-controller case takes a fraction of a second.
		ConnectTimeout: 300 * time.Millisecond,
	})
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// hasApp reports whether leg ran app with data.
func hasApp(fs *fstest.FS, uuid, app, data string) bool {
	for _, a := range fs.AppLog(uuid) {
		if a.App == app && a.Data == data {
			return true
		}
	}
	return false
}

// TestRenderedDialplan_CallsReachControllerOrFailOpenToTheRoute runs calls through the rendered
// dialplan: with the controller up each call reaches it, marked with its direction, and is
// handed back to the operator's route; with the controller refusing, silent, or closing early,
// the call still reaches the route (unrecorded).
func TestRenderedDialplan_CallsReachControllerOrFailOpenToTheRoute(t *testing.T) {
	type callCase struct {
		name          string
		place         func(context.Context, *fstest.FS) (*fstest.Call, error)
		target        string // the leg the operator's route dials
		wantDirection string
		wantDDI       string
		fallback      string // the fail-open transfer
	}
	calls := []callCase{
		{
			name: "inbound DDI",
			place: func(ctx context.Context, fs *fstest.FS) (*fstest.Call, error) {
				return fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "34911234567"})
			},
			target: "1001", wantDirection: "inbound", fallback: "34911234567 XML public",
		},
		{
			name: "user to user",
			place: func(ctx context.Context, fs *fstest.FS) (*fstest.Call, error) {
				return fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: "1002"})
			},
			target: "1002", wantDirection: "user", fallback: "1002 XML default",
		},
		{
			name: "user to external number",
			place: func(ctx context.Context, fs *fstest.FS) (*fstest.Call, error) {
				return fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: "+34600999888",
					Vars: map[string]string{"outbound_caller_id_number": "+34911234567"}})
			},
			target: "34600999888", wantDirection: "user", wantDDI: "+34911234567", fallback: "+34600999888 XML default",
		},
	}
	modes := []struct {
		name    string
		mode    ctlMode
		refused bool
	}{
		{"controller up", ctlHandOver, false},
		{"controller down (refused)", 0, true},
		{"controller silent", ctlSilent, false},
		{"controller closes before connect", ctlCloseBeforeConnect, false},
		{"controller closes after connect", ctlCloseAfterConnect, false},
	}
	for _, m := range modes {
		for _, cc := range calls {
			t.Run(m.name+"/"+cc.name, func(t *testing.T) {
				ctx := testCtx(t)
				var ctl *testCtl
				addr := refusedAddr(t)
				if !m.refused {
					ctl = startCtl(t, m.mode, "callrec_transfer")
					addr = ctl.addr()
				}
				fs := startFS(t, installedDialplan(t, renderFor(t, addr)))
				call, err := cc.place(ctx, fs)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := call.WaitAnswered(ctx, cc.target); err != nil {
					t.Fatalf("the call never reached the route: %v", err)
				}
				a := call.A
				if a.Var("route_ran") != "true" {
					t.Error("the operator's route did not run on the caller's leg")
				}
				if got := a.Var("callrec_direction"); got != cc.wantDirection {
					t.Errorf("callrec_direction = %q, want %q", got, cc.wantDirection)
				}
				fellBack := hasApp(fs, a.UUID(), "transfer", cc.fallback)
				if m.mode == ctlHandOver && !m.refused {
					seen := ctl.seen()
					if len(seen) != 1 {
						t.Fatalf("controller saw %d connections, want 1 (no re-entry after its transfer)", len(seen))
					}
					s := seen[0]
					if s.UUID != a.UUID() || s.Direction != cc.wantDirection || s.OutgoingDDI != cc.wantDDI {
						t.Errorf("controller saw %+v, want uuid %s direction %q outgoing DDI %q", s, a.UUID(), cc.wantDirection, cc.wantDDI)
					}
					if fellBack {
						t.Error("the fallback transfer ran although the controller moved the call")
					}
				} else if !fellBack {
					t.Errorf("the fail-open transfer %q did not run; apps: %v", cc.fallback, fs.AppLog(a.UUID()))
				}
			})
		}
	}
}

// TestRenderedDialplan_BlindTransferToStarDigitsReachesControllerAndOtherTransfersProceed: a
// user's REFER to `*` and 1-3 digits — any, the rendering knows no codes — lands the external
// party in the generic extension, which reaches the controller; when the controller closes, the
// extension ends, the transfer fails (NOTIFY 403) and the parties are re-joined. A REFER to an
// extension transfers normally through the catch-all.
func TestRenderedDialplan_BlindTransferToStarDigitsReachesControllerAndOtherTransfersProceed(t *testing.T) {
	for _, dial := range []string{"*7", "*77", "*123"} {
		t.Run(dial, func(t *testing.T) {
			ctx := testCtx(t)
			ctl := startCtl(t, ctlHandOver, "callrec_transfer")
			fs := startFS(t, installedDialplan(t, renderFor(t, ctl.addr())))
			call, err := fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "34911234567"})
			if err != nil {
				t.Fatal(err)
			}
			user, err := call.WaitAnswered(ctx, "1001")
			if err != nil {
				t.Fatal(err)
			}
			ext := call.A
			waitFor(t, func() bool { return ext.State().PeerUUID == user.UUID() }, "caller bridged to 1001")
			// What callrec does for a company with on-demand (dialplan.Gate.VarsFor).
			fsAPI(t, fs.InboundAddr(), "pw", "uuid_setvar "+ext.UUID()+" force_transfer_context callrec_transfer")
			fsAPI(t, fs.InboundAddr(), "pw", "uuid_setvar "+user.UUID()+" confirm_blind_transfer true")

			refer := user.BlindTransfer(dial)
			status, err := refer.WaitNotify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if status != 403 {
				t.Errorf("NOTIFY %d after REFER to %s, want 403 (the frustrated transfer fails)", status, dial)
			}
			var code *seenCall
			for _, s := range ctl.seen() {
				if s.Context == "callrec_transfer" {
					s := s
					code = &s
				}
			}
			if code == nil {
				t.Fatalf("REFER to %s never reached the controller; it saw %+v", dial, ctl.seen())
			}
			if code.UUID != ext.UUID() || code.Destination != dial || code.BlindTransferUUID != user.UUID() {
				t.Errorf("code connection %+v, want transferee %s dest %s blind_transfer_uuid %s", *code, ext.UUID(), dial, user.UUID())
			}
			waitFor(t, func() bool {
				return ext.State().PeerUUID == user.UUID() || user.State().PeerUUID == ext.UUID()
			}, "the two parties re-joined after the failed transfer")

			before := len(ctl.seen())
			refer = user.BlindTransfer("1002")
			if _, err := call.WaitAnswered(ctx, "1002"); err != nil {
				t.Fatalf("ordinary blind transfer to 1002 did not proceed: %v", err)
			}
			if !hasApp(fs, ext.UUID(), "transfer", "1002 XML default") {
				t.Errorf("the catch-all did not continue the transfer in the user context: %v", fs.AppLog(ext.UUID()))
			}
			if n := len(ctl.seen()); n != before {
				t.Errorf("an ordinary transfer reached the controller (%d new connections)", n-before)
			}
			nctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			// REFERENCE.md §5: the transferee's INDICATE_BRIDGE completes a confirmed blind
			// transfer with NOTIFY 200.
			status, err = refer.WaitNotify(nctx)
			if err != nil || status != 200 {
				t.Errorf("ordinary transfer NOTIFY %d (%v), want 200", status, err)
			}
		})
	}
}
