package esl

import (
	"context"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
	"github.com/callrec/callrec/store"
)

// One FreeSWITCH, two tenants (FusionPBX style): each brand's users register to its own domain
// and place their calls in the domain's own context; both brands have users 1001 and 1002.
var tenantDomains = []string{"a.example.com", "b.example.com"}

type tenant struct {
	domain       string
	company      *store.Company
	u1001, u1002 *store.User
}

type tenantRig struct {
	t       *testing.T
	db      *store.DB
	srv     *Server
	fs      *fstest.FS
	tenants map[string]*tenant
}

// tenantOperator is one domain's own routing after callrec's hand-over file.
func tenantOperator(domain string) string {
	return `
    <extension name="users">
      <condition field="destination_number" expression="^(10\d\d)$">
        <action application="bridge" data="user/$1@` + domain + `"/>
      </condition>
    </extension>
    <extension name="external">
      <condition field="destination_number" expression="^(\+\d+)$">
        <action application="bridge" data="sofia/gateway/carrier/$1"/>
      </condition>
    </extension>`
}

// newTenantRig stores both tenants (on-demand key, so transfers go through the transfer context),
// starts callrec, and installs fsconf's rendering into a stand-in as INSTALL.md says: the same
// user file first in each domain's context.
func newTenantRig(t *testing.T) *tenantRig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, dir+"/callrec.db", store.Options{NoSync: true})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	rig := &tenantRig{t: t, db: db, tenants: map[string]*tenant{}}
	phones := map[string]fstest.Phone{}
	public := ""
	for i, d := range tenantDomains {
		b := &store.Brand{Name: "Brand " + d, SIPDomain: d}
		must(t, db.CreateBrand(ctx, b))
		tn := &tenant{domain: d, company: &store.Company{BrandID: b.ID, Name: "Co " + d, OnDemand: store.OnDemandKey, OnDemandCode: "7"}}
		must(t, db.CreateCompany(ctx, tn.company))
		ddi := "+3492200000" + string(rune('0'+i))
		must(t, db.CreateDDI(ctx, &store.DDI{CompanyID: tn.company.ID, Number: ddi, RecordCalls: store.RecordNone}))
		tn.u1001 = &store.User{CompanyID: tn.company.ID, Name: "Ana", Extension: "1001", SIPUser: "1001"}
		must(t, db.CreateUser(ctx, tn.u1001))
		tn.u1002 = &store.User{CompanyID: tn.company.ID, Name: "Bo", Extension: "1002", SIPUser: "1002"}
		must(t, db.CreateUser(ctx, tn.u1002))
		rig.tenants[d] = tn
		phones["1001@"+d] = fstest.Phone{ToneHz: tone1001, Domain: d, Context: d}
		phones["1002@"+d] = fstest.Phone{ToneHz: tone1002, Domain: d, Context: d}
		public += `
    <extension name="ddi_` + d + `">
      <condition field="destination_number" expression="^\` + ddi + `$">
        <action application="transfer" data="1001 XML ` + d + `"/>
      </condition>
    </extension>`
	}
	rig.srv = &Server{
		Addr: "127.0.0.1:0", DB: db, Logger: testLogger(t),
		SpoolDir: dir + "/spool", OnDemandPath: dir + "/ondemand", TransferContext: "callrec_transfer",
		UserContext: tenantDomains[0], CommandTimeout: 2 * time.Second, HangupDrain: 2 * time.Second,
	}
	must(t, rig.srv.Open())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rig.srv.Close(ctx)
	})
	r, err := fsconf.New(fsconf.Options{ESLListen: rig.srv.BoundAddr(), RecordPath: dir + "/ondemand",
		InboundPassword: "ClueCon", UserContexts: tenantDomains})
	must(t, err)
	out, err := r.Render()
	must(t, err)
	operator := map[string]string{"public": public}
	for _, d := range tenantDomains {
		operator[d] = tenantOperator(d)
	}
	doc := out.InstalledDialplan(operator)
	rig.fs = fstest.Start(t, fstest.Options{
		Profile:   fstest.Profile{Name: "internal", RecordPath: dir + "/ondemand", RecordTemplate: fsconf.RecordTemplate, FireTransferEvents: true},
		Dialplan:  fstest.MustParseDialplan(doc),
		Phones:    phones,
		External:  fstest.External{ToneHz: toneExternal},
		TimeScale: 1,
	})
	return rig
}

func (r *tenantRig) waitSessions() {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for r.srv.LiveSessions() > 0 {
		if time.Now().After(deadline) {
			r.t.Fatalf("%d sessions still live", r.srv.LiveSessions())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// handedBack reports whether callrec moved leg on with `uuid_transfer <leg> <dest> XML <ctx>`.
func (r *tenantRig) handedBack(leg, dest, ctx string) bool {
	for _, f := range r.fs.Transcript() {
		if f.Dir == fstest.ToFS && f.Command() == "api uuid_transfer "+leg+" "+dest+" XML "+ctx {
			return true
		}
	}
	return false
}

// recordings lists every row of company id.
func (r *tenantRig) recordings(companyID string) []*store.Recording {
	r.t.Helper()
	recs, _, err := r.db.ListRecordings(context.Background(), store.RecordingFilter{CompanyID: companyID, Limit: store.MaxListLimit, IncludeDiscarded: true})
	must(r.t, err)
	return recs
}

// TestTenants_UserCallsAreHandedToCallrecAndRoutedBackIntoTheirOwnContext: users 1001 of both
// domains place a call to an extension and to an external number; callrec identifies each as its
// own brand's user (the Record key books the row for that company and user) and hands each call
// back into the domain's own context, where the domain's route reaches the domain's users. The old
// callrec read the rendered `user` mark as an inbound DDI call (Record key refused).
func TestTenants_UserCallsAreHandedToCallrecAndRoutedBackIntoTheirOwnContext(t *testing.T) {
	rig := newTenantRig(t)
	for _, d := range tenantDomains {
		for _, dest := range []string{"1002", "+34600999888"} {
			t.Run(d+"/"+dest, func(t *testing.T) {
				tn := rig.tenants[d]
				ctx := ctxT(t, 20*time.Second)
				before := len(rig.recordings(tn.company.ID))
				call, err := rig.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", Domain: d, To: dest})
				must(t, err)
				peer, err := call.WaitLeg(ctx, dest)
				must(t, err)
				must(t, peer.WaitAnswer(ctx))
				if !rig.handedBack(call.A.UUID(), dest, d) {
					t.Errorf("callrec did not hand the call back into %s", d)
				}
				if dest == "1002" && peer.Var("dialed_domain") != d {
					t.Errorf("the call reached 1002@%s, want 1002@%s", peer.Var("dialed_domain"), d)
				}
				if status, reason := call.A.SendInfoRecord(true); status != 200 {
					t.Fatalf("Record key: %d %s, want 200", status, reason)
				}
				deadline := time.Now().Add(20 * time.Second)
				for len(rig.recordings(tn.company.ID)) == before && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				call.A.Hangup("NORMAL_CLEARING")
				rig.waitSessions()
				recs := rig.recordings(tn.company.ID)
				if len(recs) != before+1 {
					t.Fatalf("%d rows for %s, want %d", len(recs), d, before+1)
				}
				if r := recs[0]; r.UserID != tn.u1001.ID || r.Callee != dest {
					t.Errorf("row user %q callee %q, want %s's 1001 (%s) and %s", r.UserID, r.Callee, d, tn.u1001.ID, dest)
				}
			})
		}
	}
}

// TestTenants_OrdinaryBlindTransferContinuesInTheTransferorsContext: a user of b.example.com
// blind-transfers the other party to 1002; force_transfer_context sends that party to the
// transfer context, whose catch-all continues in the transferor's own context (callrec's
// callrec_user_context: the user's call context, or on an inbound call the bridged user leg's
// user_context, which wins over the configured default a.example.com). The old catch-all went to
// `XML default`, which this switch does not have.
func TestTenants_OrdinaryBlindTransferContinuesInTheTransferorsContext(t *testing.T) {
	rig := newTenantRig(t)
	const d = "b.example.com"
	tests := []struct {
		name  string
		place func(context.Context) (*fstest.Call, *fstest.Leg, *fstest.Leg, error) // call, transferor, transferee
	}{
		{"outbound call: the user transfers the carrier", func(ctx context.Context) (*fstest.Call, *fstest.Leg, *fstest.Leg, error) {
			call, err := rig.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", Domain: d, To: "+34600999888"})
			if err != nil {
				return nil, nil, nil, err
			}
			ext, err := call.WaitLeg(ctx, "+34600999888")
			if err != nil {
				return nil, nil, nil, err
			}
			return call, call.A, ext, ext.WaitAnswer(ctx)
		}},
		{"inbound call: the user transfers the caller", func(ctx context.Context) (*fstest.Call, *fstest.Leg, *fstest.Leg, error) {
			call, err := rig.fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "+34922000001"})
			if err != nil {
				return nil, nil, nil, err
			}
			user, err := call.WaitLeg(ctx, "1001")
			if err != nil {
				return nil, nil, nil, err
			}
			return call, user, call.A, user.WaitAnswer(ctx)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxT(t, 30*time.Second)
			call, transferor, transferee, err := tt.place(ctx)
			must(t, err)
			if _, err := transferee.WaitState(ctx, func(s fstest.LegState) bool { return s.PeerUUID == transferor.UUID() }); err != nil {
				t.Fatal(err)
			}
			// callrec has set the gate's variables on the bridged leg once they are there.
			deadline := time.Now().Add(20 * time.Second)
			for transferee.Var("force_transfer_context") == "" || transferee.Var("callrec_user_context") != d {
				if time.Now().After(deadline) {
					t.Fatalf("transferee force_transfer_context %q callrec_user_context %q, want callrec_transfer and %s",
						transferee.Var("force_transfer_context"), transferee.Var("callrec_user_context"), d)
				}
				time.Sleep(10 * time.Millisecond)
			}
			refer := transferor.BlindTransfer("1002")
			b2, err := call.WaitLeg(ctx, "1002")
			if err != nil {
				t.Fatalf("the ordinary transfer did not reach 1002: %v (apps %v)", err, rig.fs.AppLog(transferee.UUID()))
			}
			must(t, b2.WaitAnswer(ctx))
			if got := b2.Var("dialed_domain"); got != d {
				t.Errorf("the transfer reached 1002@%s, want 1002@%s (the transferor's context)", got, d)
			}
			if status, err := refer.WaitNotify(ctx); err != nil || status != 200 {
				t.Errorf("NOTIFY %d (%v), want 200", status, err)
			}
			call.A.Hangup("NORMAL_CLEARING")
			b2.Hangup("NORMAL_CLEARING")
			rig.waitSessions()
		})
	}
}
