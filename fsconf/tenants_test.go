package fsconf_test

import (
	"context"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// A multi-tenant switch (FusionPBX style): each domain's users place their calls in the
// domain's own context; the public context routes each DDI to a user of its domain.
var tenantDomains = []string{"a.example.com", "b.example.com"}

// tenantOperator is the operator's own routing of one domain's context, after callrec's file.
func tenantOperator(domain string) string {
	return `
    <extension name="operator_local">
      <condition field="destination_number" expression="^(10\d\d)$">
        <action application="set" data="route_ran=` + domain + `"/>
        <action application="bridge" data="user/$1@` + domain + `"/>
      </condition>
    </extension>`
}

const tenantPublic = `
    <extension name="ddi_b">
      <condition field="destination_number" expression="^(34922000000)$">
        <action application="transfer" data="1001 XML b.example.com"/>
      </condition>
    </extension>`

// tenantDialplan installs the rendering as INSTALL.md says, the same user file in every domain's
// context.
func tenantDialplan(tb testing.TB, out fsconf.Output) *fstest.Dialplan {
	tb.Helper()
	operator := map[string]string{"public": tenantPublic}
	for _, d := range tenantDomains {
		operator[d] = tenantOperator(d)
	}
	doc := out.InstalledDialplan(operator)
	dp, err := fstest.ParseDialplan(doc)
	if err != nil {
		tb.Fatalf("rendered dialplan does not load: %v\n%s", err, doc)
	}
	return dp
}

func renderTenants(tb testing.TB, eslAddr string) fsconf.Output {
	tb.Helper()
	o := testOptions()
	o.ESLListen = eslAddr
	o.UserContexts = tenantDomains
	_, out := mustRender(tb, o)
	if a, b := out.File("dialplan/a.example.com/00_callrec.xml"), out.File("dialplan/b.example.com/00_callrec.xml"); a == nil || string(a) != string(b) {
		tb.Fatalf("the user file must be rendered for every user context, the same for each:\n%s\n---\n%s", a, b)
	}
	return out
}

func startTenantFS(tb testing.TB, dp *fstest.Dialplan) *fstest.FS {
	phones := map[string]fstest.Phone{}
	for _, d := range tenantDomains {
		for _, ext := range []string{"1001", "1002"} {
			phones[ext+"@"+d] = fstest.Phone{Domain: d, Context: d}
		}
	}
	return fstest.Start(tb, fstest.Options{
		Profile:         fstest.Profile{Name: "internal", FireTransferEvents: true, RecordPath: tb.TempDir(), RecordTemplate: fsconf.RecordTemplate},
		Dialplan:        dp,
		InboundPassword: "pw",
		Phones:          phones,
		External:        fstest.External{ToneHz: 1000},
		ConnectTimeout:  300 * time.Millisecond,
	})
}

// TestRenderedDialplan_EachTenantsCallsStayInTheirContext: one rendering, installed unchanged in
// every domain's context, hands each domain's user calls to callrec and routes them back into
// that domain's context — through callrec (it transfers into the call's own context) and through
// the fail-open fallback (`${context}`). The old rendering fell back to `XML default`.
func TestRenderedDialplan_EachTenantsCallsStayInTheirContext(t *testing.T) {
	for _, mode := range []string{"controller up", "controller down"} {
		for _, domain := range tenantDomains {
			t.Run(mode+"/"+domain, func(t *testing.T) {
				ctx := testCtx(t)
				addr := refusedAddr(t)
				var ctl *testCtl
				if mode == "controller up" {
					ctl = startCtl(t, ctlHandOver, "callrec_transfer")
					addr = ctl.addr()
				}
				fs := startTenantFS(t, tenantDialplan(t, renderTenants(t, addr)))
				call, err := fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", Domain: domain, To: "1002"})
				if err != nil {
					t.Fatal(err)
				}
				b, err := call.WaitLeg(ctx, "1002")
				if err != nil {
					t.Fatalf("the call never reached the domain's route: %v (apps %v)", err, fs.AppLog(call.A.UUID()))
				}
				if got := b.Var("dialed_domain"); got != domain {
					t.Errorf("reached 1002@%s, want 1002@%s", got, domain)
				}
				a := call.A
				if got := a.Var("route_ran"); got != domain {
					t.Errorf("route of %q ran, want %q's", got, domain)
				}
				if ctl != nil {
					if s := ctl.seen(); len(s) != 1 || s[0].Context != domain || s[0].Direction != "user" {
						t.Errorf("controller saw %+v, want one call in %s marked user", s, domain)
					}
				} else if !hasApp(fs, a.UUID(), "transfer", "1002 XML "+domain) {
					t.Errorf("fail-open fallback did not return into %s: %v", domain, fs.AppLog(a.UUID()))
				}
			})
		}
	}
}

// TestRenderedDialplan_OrdinaryBlindTransferContinuesInTheUsersContext: a user of b.example.com
// blind-transfers an inbound caller to 1002; the caller, sent to the transfer context by
// force_transfer_context, continues in b.example.com (callrec_user_context, as callrec sets it),
// and in the first user context when the variable is missing (never back into the transfer
// context: an empty context would be force_transfer_context again). The old catch-all went to
// `XML default`.
func TestRenderedDialplan_OrdinaryBlindTransferContinuesInTheUsersContext(t *testing.T) {
	for _, tc := range []struct{ name, userContext, want string }{
		{"callrec set the users' context", "b.example.com", "b.example.com"},
		{"no users' context on the leg", "", "a.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			ctl := startCtl(t, ctlHandOver, "callrec_transfer")
			fs := startTenantFS(t, tenantDialplan(t, renderTenants(t, ctl.addr())))
			call, err := fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "34922000000"})
			if err != nil {
				t.Fatal(err)
			}
			user, err := call.WaitAnswered(ctx, "1001")
			if err != nil {
				t.Fatal(err)
			}
			ext := call.A
			waitFor(t, func() bool { return ext.State().PeerUUID == user.UUID() }, "caller bridged to 1001")
			fsAPI(t, fs.InboundAddr(), "pw", "uuid_setvar "+ext.UUID()+" force_transfer_context callrec_transfer")
			if tc.userContext != "" {
				fsAPI(t, fs.InboundAddr(), "pw", "uuid_setvar "+ext.UUID()+" callrec_user_context "+tc.userContext)
			}
			refer := user.BlindTransfer("1002")
			other, err := call.WaitAnswered(ctx, "1002")
			if err != nil {
				t.Fatalf("ordinary blind transfer did not proceed: %v (apps %v)", err, fs.AppLog(ext.UUID()))
			}
			if !hasApp(fs, ext.UUID(), "transfer", "1002 XML "+tc.want) || other.Var("dialed_domain") != tc.want {
				t.Errorf("transfer continued to 1002@%s, want %s: %v", other.Var("dialed_domain"), tc.want, fs.AppLog(ext.UUID()))
			}
			nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if status, err := refer.WaitNotify(nctx); err != nil || status != 200 {
				t.Errorf("NOTIFY %d (%v), want 200", status, err)
			}
		})
	}
}
