package dialplan

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func varMap(t *testing.T, what string, vs []Var) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, v := range vs {
		if _, dup := m[v.Name]; dup {
			t.Errorf("%s: variable %s twice", what, v.Name)
		}
		m[v.Name] = v.Value
	}
	return m
}

// The variables each kind of leg must carry, written out per SPEC.md §3.2 and REFERENCE.md §4, §5.
var (
	disabledLeg = map[string]string{"sip_disable_recording": "true"}
	externalKey = map[string]string{"sip_disable_recording": "true", "force_transfer_context": DefaultTransferContext}
	userKey     = func(uid string) map[string]string {
		return map[string]string{VarRecPrefix: "od.C1." + uid + ".", "confirm_blind_transfer": "true", "force_transfer_context": DefaultTransferContext}
	}
	userInfoOnly = func(uid string) map[string]string { return map[string]string{VarRecPrefix: "od.C1." + uid + "."} }
)

func TestDecide_OnDemandGate(t *testing.T) {
	type gateWant struct {
		info, transfer, dtmf bool
		code                 string
		reason               GateReason
	}
	disabled := gateWant{reason: GateDisabled}
	modes := []struct {
		name string
		c    *CompanyRule
		gate gateWant
	}{
		{"disabled", company(OnDemandDisabled, "12"), disabled},
		{"default (empty) mode", company("", "12"), disabled},
		{"unknown stored mode", company("always", "12"), gateWant{reason: GateInvalidMode}},
		{"key", company(OnDemandKey, "12"), gateWant{info: true, transfer: true, code: "12"}},
		{"key_dtmf", company(OnDemandKeyDTMF, "12"), gateWant{info: true, transfer: true, dtmf: true, code: "12"}},
		{"key with an invalid stored code", company(OnDemandKey, "12a"), gateWant{info: true, reason: GateInvalidCode}},
		{"key_dtmf with an invalid stored code", company(OnDemandKeyDTMF, "1234"), gateWant{info: true, reason: GateInvalidCode}},
		{"key_dtmf with no code", company(OnDemandKeyDTMF, ""), gateWant{info: true, reason: GateInvalidCode}},
	}
	// For each call shape: the facts, the role of the controlled leg and of the legs it creates,
	// the users on them, and the legs whose digits count in key_dtmf.
	calls := []struct {
		name               string
		facts              func(*CompanyRule) Facts
		setRole, exportRol LegRole
		setUser, exportUsr string
		dtmfLegs           []Leg
	}{
		{"inbound", func(c *CompanyRule) Facts { return inbound(ddi(RecordAll, ""), c) }, RoleExternal, RoleUser, "", "", []Leg{LegUserPeer}},
		{"outbound", func(c *CompanyRule) Facts { return outbound(ddi(RecordAll, ""), user1, c) }, RoleUser, RoleExternal, "U1", "", []Leg{LegControlled}},
		{"internal", func(c *CompanyRule) Facts { return internal(user1, user2, c) }, RoleUser, RoleUser, "U1", "U2", []Leg{LegControlled, LegUserPeer}},
		{"outbound to an extension", func(c *CompanyRule) Facts {
			return with(outbound(ddi(RecordAll, ""), user1, c), func(f *Facts) { f.Destination = "1002"; f.Callee = user2 })
		}, RoleUser, RoleUser, "U1", "U2", []Leg{LegControlled, LegUserPeer}},
	}
	want := func(role LegRole, uid string, g gateWant) map[string]string {
		switch {
		case role == RoleExternal && g.transfer:
			return externalKey
		case role == RoleExternal || !g.info:
			return disabledLeg
		case g.transfer:
			return userKey(uid)
		}
		return userInfoOnly(uid)
	}
	for _, call := range calls {
		for _, mode := range modes {
			t.Run(call.name+"/"+mode.name, func(t *testing.T) {
				p := Decide(call.facts(mode.c))
				g := p.OnDemand
				if g.AllowInfo != mode.gate.info || g.AllowTransfer != mode.gate.transfer || g.InspectDTMF != mode.gate.dtmf {
					t.Errorf("info/transfer/dtmf = %v/%v/%v, want %v/%v/%v", g.AllowInfo, g.AllowTransfer, g.InspectDTMF, mode.gate.info, mode.gate.transfer, mode.gate.dtmf)
				}
				if g.Code != mode.gate.code || g.Reason != mode.gate.reason {
					t.Errorf("code %q reason %q, want %q %q", g.Code, g.Reason, mode.gate.code, mode.gate.reason)
				}
				wantLegs := []Leg(nil)
				if mode.gate.dtmf {
					wantLegs = call.dtmfLegs
				}
				if !slices.Equal(g.DTMFLegs, wantLegs) {
					t.Errorf("DTMF legs %v, want %v", g.DTMFLegs, wantLegs)
				}
				if got, w := varMap(t, "SetVars", p.SetVars), want(call.setRole, call.setUser, mode.gate); !maps.Equal(got, w) {
					t.Errorf("SetVars %v, want %v", got, w)
				}
				if got, w := varMap(t, "ExportVars", p.ExportVars), want(call.exportRol, call.exportUsr, mode.gate); !maps.Equal(got, w) {
					t.Errorf("ExportVars %v, want %v", got, w)
				}
			})
		}
	}
}

func TestDecide_OnDemandGateClosedWithoutIdentity(t *testing.T) {
	c := company(OnDemandKeyDTMF, "12")
	tests := []struct {
		name   string
		facts  Facts
		reason GateReason
	}{
		{"inbound to an unknown DDI", inbound(nil, nil), GateUnknownCompany},
		{"outbound by an unidentified user", outbound(ddi(RecordAll, ""), nil, c), GateUnknownUser},
		{"internal by an unidentified user", internal(nil, user2, c), GateUnknownUser},
		{"outbound by a user of another company", outbound(ddi(RecordAll, ""), &UserRule{ID: "U7", CompanyID: "C2"}, c), GateUnknownCompany},
		{"unmarked call", with(internal(user1, user2, c), func(f *Facts) { f.Direction = "" }), GateUnknownCompany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(tt.facts)
			g := p.OnDemand
			if g.AllowInfo || g.AllowTransfer || g.InspectDTMF || g.Reason != tt.reason {
				t.Errorf("gate %+v, want everything refused with reason %q", g, tt.reason)
			}
			for _, vs := range [][]Var{p.SetVars, p.ExportVars} {
				if m := varMap(t, "vars", vs); !maps.Equal(m, disabledLeg) {
					t.Errorf("vars %v, want only sip_disable_recording=true", m)
				}
			}
		})
	}
}

func TestDecide_TransferContext(t *testing.T) {
	c := company(OnDemandKey, "7")
	f := with(outbound(ddi(RecordAll, ""), user1, c), func(f *Facts) { f.TransferContext = "xfer_c1" })
	p := Decide(f)
	if m := varMap(t, "ExportVars", p.ExportVars); m["force_transfer_context"] != "xfer_c1" {
		t.Errorf("external legs go to %q, want the configured context xfer_c1", m["force_transfer_context"])
	}
	f.TransferContext = "xfer c1"
	p = Decide(f)
	if p.OnDemand.AllowTransfer || p.OnDemand.Reason != GateInvalidTransferContext || !p.OnDemand.AllowInfo {
		t.Errorf("unsafe context: gate %+v, want transfer refused, Record key still allowed", p.OnDemand)
	}
}

// The external party typing "*12" must change nothing; the user typing it is a request.
func TestDecide_OnlyTheUsersDigitsCount(t *testing.T) {
	type digit struct {
		leg Leg
		d   rune
	}
	typed := func(leg Leg, s string) []digit {
		var ds []digit
		for _, r := range s {
			ds = append(ds, digit{leg, r})
		}
		return ds
	}
	tests := []struct {
		name   string
		facts  Facts
		digits []digit
		want   []string
	}{
		{"inbound: the external caller types the code", inbound(ddi(RecordNone, ""), company(OnDemandKeyDTMF, "12")), typed(LegControlled, "*12"), nil},
		{"inbound: the answering user types the code", inbound(ddi(RecordNone, ""), company(OnDemandKeyDTMF, "12")), typed(LegUserPeer, "*12"), []string{"12"}},
		{"outbound: the far end types the code", outbound(ddi(RecordNone, ""), user1, company(OnDemandKeyDTMF, "12")), typed(LegExternalPeer, "*12"), nil},
		{"outbound: the user types the code", outbound(ddi(RecordNone, ""), user1, company(OnDemandKeyDTMF, "12")), typed(LegControlled, "*12"), []string{"12"}},
		{"outbound: external digits interleaved do not disturb the user's code",
			outbound(ddi(RecordNone, ""), user1, company(OnDemandKeyDTMF, "12")),
			[]digit{{LegControlled, '*'}, {LegExternalPeer, '9'}, {LegExternalPeer, '*'}, {LegControlled, '1'}, {LegExternalPeer, '#'}, {LegControlled, '2'}}, []string{"12"}},
		{"internal: each user's digits are matched on their own", internal(user1, user2, company(OnDemandKeyDTMF, "12")),
			[]digit{{LegControlled, '*'}, {LegUserPeer, '1'}, {LegControlled, '2'}}, nil},
		{"key mode: the user's code is not inspected", outbound(ddi(RecordNone, ""), user1, company(OnDemandKey, "12")), typed(LegControlled, "*12"), nil},
		{"disabled mode: the user's code is not inspected", outbound(ddi(RecordNone, ""), user1, company(OnDemandDisabled, "12")), typed(LegControlled, "*12"), nil},
		{"invalid stored code: nothing is inspected", outbound(ddi(RecordNone, ""), user1, company(OnDemandKeyDTMF, "x")), typed(LegControlled, "*x"), nil},
	}
	t0 := time.Unix(1_800_000_000, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Decide(tt.facts).OnDemand
			matchers := map[Leg]*CodeMatcher{}
			for _, leg := range g.DTMFLegs {
				m, err := g.NewMatcher(DefaultInterDigit)
				if err != nil {
					t.Fatal(err)
				}
				matchers[leg] = m
			}
			if _, err := g.NewMatcher(DefaultInterDigit); !g.InspectDTMF && err == nil {
				t.Errorf("a gate without DTMF made a matcher")
			}
			var got []string
			for i, d := range tt.digits {
				if !g.InspectsDigitsFrom(d.leg) {
					continue
				}
				if code, ok := matchers[d.leg].Feed(d.d, t0.Add(time.Duration(i)*200*time.Millisecond)); ok {
					got = append(got, code)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("matched %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRecPrefix_RoundTrips(t *testing.T) {
	tests := []struct{ company, user, prefix string }{
		{"01JD5Y8Z3K4M", "01JD5Y90ABCD", "od.01JD5Y8Z3K4M.01JD5Y90ABCD."},
		{"C1", "", "od.C1.."},
		{"c-1_x", "u_2", "od.c-1_x.u_2."},
	}
	for _, tt := range tests {
		p := RecPrefix(tt.company, tt.user)
		if p != tt.prefix {
			t.Errorf("RecPrefix(%q, %q) = %q, want %q", tt.company, tt.user, p, tt.prefix)
		}
		c, u, ok := ParseRecPrefix(p + "8d1c-uuid_20261124100031.wav")
		if !ok || c != tt.company || u != tt.user {
			t.Errorf("ParseRecPrefix(%q…) = %q %q %v, want %q %q", p, c, u, ok, tt.company, tt.user)
		}
	}
	if p := RecPrefix("C1\r\n", "U 1"); p != "od.C1.U1." {
		t.Errorf("hostile ids give %q, want them stripped", p)
	}
	for _, name := range []string{"8d1c_20261124.wav", "od.", "od..U1.x.wav", "od.C1", "od.C1.U1", "xod.C1.U1.a.wav", "od.C 1.U1.a"} {
		if c, u, ok := ParseRecPrefix(name); ok {
			t.Errorf("ParseRecPrefix(%q) = %q %q, want not a prefix", name, c, u)
		}
	}
}

func TestGate_IsTransferCode(t *testing.T) {
	key := Decide(outbound(ddi(RecordNone, ""), user1, company(OnDemandKey, "12"))).OnDemand
	disabled := Decide(outbound(ddi(RecordNone, ""), user1, company(OnDemandDisabled, "12"))).OnDemand
	badCode := Decide(outbound(ddi(RecordNone, ""), user1, company(OnDemandKey, "1x"))).OnDemand
	tests := []struct {
		name string
		g    Gate
		dest string
		want bool
	}{
		{"the company's code is a record request", key, "*12", true},
		{"the code without star is an ordinary transfer", key, "12", false},
		{"a longer number is an ordinary transfer", key, "*123", false},
		{"another code is an ordinary transfer", key, "*13", false},
		{"an extension is an ordinary transfer", key, "1002", false},
		{"empty destination", key, "", false},
		{"disabled company: the code is no request", disabled, "*12", false},
		{"invalid stored code: nothing is a request", badCode, "*1x", false},
		{"invalid stored code: not even a bare star", badCode, "*", false},
	}
	for _, tt := range tests {
		if got := tt.g.IsTransferCode(tt.dest); got != tt.want {
			t.Errorf("%s: IsTransferCode(%q) = %v, want %v", tt.name, tt.dest, got, tt.want)
		}
	}
}

func TestCompanyGate_DecidesFromTheCompanyAsItStandsNow(t *testing.T) {
	tests := []struct {
		name string
		c    *CompanyRule
		dest string
		want bool
	}{
		{"key with code 34: *34 is a record request", company(OnDemandKey, "34"), "*34", true},
		{"key with code 34: the old *12 is an ordinary transfer", company(OnDemandKey, "34"), "*12", false},
		{"key_dtmf with code 34", company(OnDemandKeyDTMF, "34"), "*34", true},
		{"disabled: the code is an ordinary transfer", company(OnDemandDisabled, "34"), "*34", false},
		{"invalid mode", company("sometimes", "34"), "*34", false},
		{"unknown company", nil, "*34", false},
	}
	for _, tt := range tests {
		g := CompanyGate(tt.c, "")
		if got := g.IsTransferCode(tt.dest); got != tt.want {
			t.Errorf("%s: IsTransferCode(%q) = %v, want %v", tt.name, tt.dest, got, tt.want)
		}
		if len(g.DTMFLegs) != 0 {
			t.Errorf("%s: DTMF legs %v, want none (no direction)", tt.name, g.DTMFLegs)
		}
	}
}

// The mask code is honoured only where digits are inspected (key_dtmf), only when valid and not
// the on-demand code itself, and the matcher then recognises both codes.
func TestDecide_MaskCode(t *testing.T) {
	tests := []struct {
		name     string
		mode     OnDemandMode
		code     string
		mask     string
		wantMask string
	}{
		{"key_dtmf with a mask code", OnDemandKeyDTMF, "7", "8", "8"},
		{"key: no digits are inspected", OnDemandKey, "7", "8", ""},
		{"disabled", OnDemandDisabled, "7", "8", ""},
		{"invalid stored mask code", OnDemandKeyDTMF, "7", "8x", ""},
		{"the on-demand code itself", OnDemandKeyDTMF, "7", "7", ""},
		{"none", OnDemandKeyDTMF, "7", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &CompanyRule{ID: "C1", OnDemand: tt.mode, Code: tt.code, MaskCode: tt.mask}
			g := CompanyGate(c, "")
			if g.MaskCode != tt.wantMask {
				t.Fatalf("MaskCode %q, want %q", g.MaskCode, tt.wantMask)
			}
			if !g.InspectDTMF {
				return
			}
			m, err := g.NewMatcher(DefaultInterDigit)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for _, code := range []string{tt.code, tt.wantMask} {
				if code == "" {
					continue
				}
				var got string
				for _, d := range "*" + code + "#" {
					if c, ok := m.Feed(d, now); ok {
						got = c
					}
				}
				if got != code {
					t.Errorf("typed *%s#: matched %q", code, got)
				}
			}
		})
	}
}
