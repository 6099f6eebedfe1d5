package dialplan

import (
	"reflect"
	"slices"
	"testing"
)

// Fixtures: company C1 with DDI +34911234567 and users 1001 (U1) and 1002 (U2).
const (
	ddiNumber = "+34911234567"
	external  = "+34600111222"
)

func company(mode OnDemandMode, code string) *CompanyRule {
	return &CompanyRule{ID: "C1", OnDemand: mode, Code: code}
}

func ddi(mode RecordMode, announcement string) *DDIRule {
	return &DDIRule{ID: "D1", Number: ddiNumber, CompanyID: "C1", Record: mode, Announcement: announcement}
}

var (
	user1 = &UserRule{ID: "U1", Extension: "1001", SIPUser: "1001", CompanyID: "C1"}
	user2 = &UserRule{ID: "U2", Extension: "1002", SIPUser: "1002", CompanyID: "C1"}
)

func inbound(d *DDIRule, c *CompanyRule) Facts {
	return Facts{Direction: DirectionInbound, Destination: "911234567", Caller: "600111222", DDI: d, Company: c, DefaultCountry: "ES"}
}

func outbound(d *DDIRule, u *UserRule, c *CompanyRule) Facts {
	return Facts{Direction: DirectionOutbound, Destination: "600111222", Caller: "1001", OutgoingDDI: "911234567", DDI: d, User: u, Company: c, DefaultCountry: "ES"}
}

func internal(u, callee *UserRule, c *CompanyRule) Facts {
	return Facts{Direction: DirectionInternal, Destination: "1002", Caller: "1001", User: u, Callee: callee, Company: c, DefaultCountry: "ES"}
}

func with(f Facts, change func(*Facts)) Facts { change(&f); return f }

func TestDecide_AutomaticDDIRecording(t *testing.T) {
	c := company(OnDemandDisabled, "")
	stereo := &CompanyRule{ID: "C1", Stereo: true}
	noRecord := RecordPlan{}
	tests := []struct {
		name     string
		facts    Facts
		decision Decision
		dir      Direction
		record   RecordPlan
		recorder string
		caller   string
		callee   string
	}{
		{"inbound to a DDI recording inbound is recorded on the caller's leg from answer",
			inbound(ddi(RecordInbound, ""), c), DecisionRecordInbound, DirectionInbound,
			RecordPlan{Leg: LegControlled, StartOn: StartOnAnswer, Trigger: TriggerDDI}, ddiNumber, external, ddiNumber},
		{"inbound to a DDI recording all is recorded",
			inbound(ddi(RecordAll, ""), c), DecisionRecordInbound, DirectionInbound,
			RecordPlan{Leg: LegControlled, StartOn: StartOnAnswer, Trigger: TriggerDDI}, ddiNumber, external, ddiNumber},
		{"inbound with an announcement plays it before recording",
			inbound(ddi(RecordAll, "ivr/recording_notice.wav"), c), DecisionRecordInbound, DirectionInbound,
			RecordPlan{Leg: LegControlled, StartOn: StartOnAnswer, Announcement: "ivr/recording_notice.wav", Trigger: TriggerDDI}, ddiNumber, external, ddiNumber},
		{"inbound recording is stereo when the company says so",
			inbound(ddi(RecordInbound, ""), stereo), DecisionRecordInbound, DirectionInbound,
			RecordPlan{Leg: LegControlled, StartOn: StartOnAnswer, Stereo: true, Trigger: TriggerDDI}, ddiNumber, external, ddiNumber},
		{"inbound to a DDI recording none is not recorded",
			inbound(ddi(RecordNone, "x.wav"), c), DecisionNoRecordModeNone, DirectionInbound, noRecord, "", external, ddiNumber},
		{"inbound to a DDI with no mode set is not recorded (default none)",
			inbound(ddi("", ""), c), DecisionNoRecordModeNone, DirectionInbound, noRecord, "", external, ddiNumber},
		{"inbound to a DDI recording outbound only is not recorded",
			inbound(ddi(RecordOutbound, ""), c), DecisionNoRecordOutboundOnly, DirectionInbound, noRecord, "", external, ddiNumber},
		{"inbound to a DDI with an unknown stored mode is not recorded",
			inbound(ddi("sometimes", ""), c), DecisionInvalidRecordMode, DirectionInbound, noRecord, "", external, ddiNumber},
		{"inbound to an unknown DDI is not recorded",
			inbound(nil, nil), DecisionUnknownDDI, DirectionInbound, noRecord, "", external, ddiNumber},
		{"inbound to a DDI without company is not recorded",
			inbound(ddi(RecordAll, ""), nil), DecisionUnknownCompany, DirectionInbound, noRecord, "", external, ddiNumber},
		{"inbound to a DDI of another company than the one given is not recorded",
			inbound(ddi(RecordAll, ""), &CompanyRule{ID: "C2"}), DecisionCompanyMismatch, DirectionInbound, noRecord, "", external, ddiNumber},
		{"inbound with an announcement that cannot be played safely is not recorded",
			inbound(ddi(RecordAll, "${system(rm)}"), c), DecisionInvalidAnnouncement, DirectionInbound, noRecord, "", external, ddiNumber},

		{"outbound with a DDI recording outbound records the external peer from its answer",
			outbound(ddi(RecordOutbound, ""), user1, c), DecisionRecordOutbound, DirectionOutbound,
			RecordPlan{Leg: LegExternalPeer, StartOn: StartOnAnswer, Trigger: TriggerDDI}, ddiNumber, ddiNumber, external},
		{"outbound with a DDI recording all records the external peer, announcement first",
			outbound(ddi(RecordAll, "tone_stream://%(250,0,880)"), user1, c), DecisionRecordOutbound, DirectionOutbound,
			RecordPlan{Leg: LegExternalPeer, StartOn: StartOnAnswer, Announcement: "tone_stream://%(250,0,880)", Trigger: TriggerDDI}, ddiNumber, ddiNumber, external},
		{"outbound with a DDI recording inbound only is not recorded",
			outbound(ddi(RecordInbound, ""), user1, c), DecisionNoRecordInboundOnly, DirectionOutbound, noRecord, "", ddiNumber, external},
		{"outbound with a DDI recording none is not recorded",
			outbound(ddi(RecordNone, ""), user1, c), DecisionNoRecordModeNone, DirectionOutbound, noRecord, "", ddiNumber, external},
		{"outbound to an internal extension is internal and never recorded automatically",
			with(outbound(ddi(RecordAll, ""), user1, c), func(f *Facts) { f.Destination = "1002"; f.Callee = user2 }),
			DecisionNoRecordInternal, DirectionInternal, noRecord, "", "1001", "1002"},
		{"outbound to a feature code is not an external call",
			with(outbound(ddi(RecordAll, ""), user1, c), func(f *Facts) { f.Destination = "*12" }),
			DecisionNoRecordNotExternal, DirectionOutbound, noRecord, "", ddiNumber, "*12"},
		{"outbound from an unidentified user is not recorded",
			outbound(ddi(RecordAll, ""), nil, c), DecisionUnknownUser, DirectionOutbound, noRecord, "", ddiNumber, external},
		{"outbound without a known outgoing DDI is not recorded",
			outbound(nil, user1, c), DecisionUnknownDDI, DirectionOutbound, noRecord, "", ddiNumber, external},
		{"outbound without a company is not recorded",
			outbound(ddi(RecordAll, ""), user1, nil), DecisionUnknownCompany, DirectionOutbound, noRecord, "", ddiNumber, external},
		{"outbound presenting another company's DDI is not recorded",
			outbound(&DDIRule{ID: "D9", Number: "+34919999999", CompanyID: "C2", Record: RecordAll}, user1, c),
			DecisionCompanyMismatch, DirectionOutbound, noRecord, "", ddiNumber, external},
		{"outbound by a user of another company than the one given is not recorded",
			outbound(ddi(RecordAll, ""), &UserRule{ID: "U7", CompanyID: "C2"}, c), DecisionCompanyMismatch, DirectionOutbound, noRecord, "", ddiNumber, external},
		{"outbound caller falls back to the DDI number when no outgoing DDI was reported",
			with(outbound(ddi(RecordAll, ""), user1, c), func(f *Facts) { f.OutgoingDDI = "" }), DecisionRecordOutbound, DirectionOutbound,
			RecordPlan{Leg: LegExternalPeer, StartOn: StartOnAnswer, Trigger: TriggerDDI}, ddiNumber, ddiNumber, external},

		{"internal call is never recorded automatically",
			internal(user1, user2, c), DecisionNoRecordInternal, DirectionInternal, noRecord, "", "1001", "1002"},
		{"internal call keeps extensions as they are even with a default country",
			with(internal(user1, nil, c), func(f *Facts) { f.Destination = "2345" }), DecisionNoRecordInternal, DirectionInternal, noRecord, "", "1001", "2345"},
		{"internal call of an unidentified user is not recorded",
			internal(nil, user2, c), DecisionUnknownUser, DirectionInternal, noRecord, "", "1001", "1002"},
		{"a call the dialplan did not mark is not recorded",
			with(inbound(ddi(RecordAll, ""), c), func(f *Facts) { f.Direction = "sideways" }), DecisionUnknownDirection, "sideways", noRecord, "", external, ddiNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(tt.facts)
			if p.Decision != tt.decision || p.Direction != tt.dir {
				t.Errorf("decision %q direction %q, want %q %q", p.Decision, p.Direction, tt.decision, tt.dir)
			}
			if p.Record != tt.record {
				t.Errorf("record %+v, want %+v", p.Record, tt.record)
			}
			if p.Decision.Records() != (tt.record.Leg != LegNone) {
				t.Errorf("Decision.Records() = %v with record leg %q", p.Decision.Records(), p.Record.Leg)
			}
			if p.Recorder != tt.recorder || p.Caller != tt.caller || p.Callee != tt.callee {
				t.Errorf("recorder/caller/callee %q %q %q, want %q %q %q", p.Recorder, p.Caller, p.Callee, tt.recorder, tt.caller, tt.callee)
			}
		})
	}
}

func TestDecide_RowOwners(t *testing.T) {
	c := company(OnDemandKey, "12")
	p := Decide(outbound(ddi(RecordAll, ""), user1, c))
	if p.CompanyID != "C1" || p.DDIID != "D1" || p.UserID != "U1" {
		t.Errorf("outbound owners %q %q %q, want C1 D1 U1", p.CompanyID, p.DDIID, p.UserID)
	}
	p = Decide(inbound(ddi(RecordAll, ""), c))
	if p.CompanyID != "C1" || p.DDIID != "D1" || p.UserID != "" {
		t.Errorf("inbound owners %q %q %q, want C1 D1 and no user", p.CompanyID, p.DDIID, p.UserID)
	}
	p = Decide(outbound(&DDIRule{ID: "D9", Number: "+34919999999", CompanyID: "C2", Record: RecordAll}, user1, c))
	if p.DDIID != "" {
		t.Errorf("another company's DDI %q leaked into the plan", p.DDIID)
	}
}

func TestNormalizeNumber(t *testing.T) {
	tests := []struct{ raw, country, want string }{
		{"+34 911 234 567", "", "+34911234567"},
		{"0034911234567", "", "+34911234567"},
		{"911234567", "ES", "+34911234567"},
		{"911234567", "", "911234567"},
		{"anonymous", "ES", "anonymous"},
		{"1001", "ES", "1001"},
		{"*12", "ES", "*12"},
		{"+34911234567\r\napi system reboot", "ES", "+34911234567apisystemreboot"},
		{"sip:bob@host;x=1 y", "", "sipbobhostx1y"},
		{"ñandú", "", "and"},
		{"", "ES", ""},
	}
	for _, tt := range tests {
		if got := NormalizeNumber(tt.raw, tt.country); got != tt.want {
			t.Errorf("NormalizeNumber(%q, %q) = %q, want %q", tt.raw, tt.country, got, tt.want)
		}
	}
	long := NormalizeNumber(string(make([]byte, 500))+"1234567890123456789012345678901234567890123456789012345678901234567890", "")
	if len(long) != maxToken {
		t.Errorf("a long raw value gives %d bytes, want it cut to %d", len(long), maxToken)
	}
}

func TestValidCode(t *testing.T) {
	for code, want := range map[string]bool{"1": true, "12": true, "123": true, "": false, "1234": false, "*1": false, "1a": false, "١": false, " 1": false} {
		if ValidCode(code) != want {
			t.Errorf("ValidCode(%q) = %v, want %v", code, !want, want)
		}
	}
}

// allStrings returns every string reachable in v (fields, slices, pointers).
func allStrings(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			allStrings(v.Field(i), out)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			allStrings(v.Index(i), out)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			allStrings(v.Elem(), out)
		}
	}
}

// safeForFreeSWITCH: printable ASCII without space, and without the expansion characters.
func safeForFreeSWITCH(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '$' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

func hostileFacts(h string) []Facts {
	hc := &CompanyRule{ID: "C1" + h, OnDemand: OnDemandKeyDTMF, Code: "1" + h, Stereo: true}
	hc2 := &CompanyRule{ID: "C1" + h, OnDemand: OnDemandKeyDTMF, Code: "12"}
	hd := &DDIRule{ID: "D1" + h, Number: ddiNumber + h, Record: RecordAll, Announcement: "a.wav" + h}
	hd2 := &DDIRule{ID: "D1" + h, Number: ddiNumber + h, Record: RecordAll}
	hu := &UserRule{ID: "U1" + h, Extension: "1001" + h, SIPUser: "1001" + h}
	var fs []Facts
	for _, dir := range []Direction{DirectionInbound, DirectionOutbound, DirectionInternal, Direction("x" + h)} {
		for _, c := range []*CompanyRule{hc, hc2} {
			for _, d := range []*DDIRule{hd, hd2} {
				for _, callee := range []*UserRule{nil, hu} {
					fs = append(fs, Facts{
						Direction: dir, Destination: "600111222" + h, Caller: "+34600111222" + h, OutgoingDDI: ddiNumber + h,
						DDI: d, User: hu, Callee: callee, Company: c, DefaultCountry: "ES" + h, TransferContext: "xfer" + h,
					}, Facts{
						Direction: dir, Destination: "600111222" + h, Caller: h, OutgoingDDI: h,
						DDI: d, User: hu, Callee: callee, Company: c, DefaultCountry: "ES",
					})
				}
			}
		}
	}
	return fs
}

func TestDecide_HostileInputNeverReachesFreeSWITCH(t *testing.T) {
	for _, h := range []string{"\r\napi system reboot\r\n\r\n", " x", "\n", "\t${system(id)}", "\x00\x7f", "é€", "%0d%0a"} {
		for i, f := range hostileFacts(h) {
			p := Decide(f)
			var ss []string
			allStrings(reflect.ValueOf(p), &ss)
			for _, s := range ss {
				if !safeForFreeSWITCH(s) {
					t.Errorf("hostile input %q, facts #%d (%s): plan carries unsafe %q", h, i, f.Direction, s)
				}
			}
			// "%0d%0a" is harmless literal text: FreeSWITCH never URL-decodes incoming header values
			// (REFERENCE.md §1.1), and tone_stream:// needs '%'.
			if p.Decision.Records() && p.Record.Announcement != "" && !safeForFreeSWITCH(h) {
				t.Errorf("hostile input %q, facts #%d: announcement %q accepted", h, i, p.Record.Announcement)
			}
		}
	}
}

func FuzzDecide(f *testing.F) {
	f.Add("inbound", "911234567", "600111222", "911234567", "C1", "key_dtmf", "12", "a.wav", "xfer", "U1")
	f.Add("outbound", "600\r\n111222", "1001 ", "${x}", "C\n1", "key", "1\n", "a b", "x y", "U\r1")
	f.Fuzz(func(t *testing.T, dir, dest, caller, outDDI, cid, mode, code, ann, ctx, uid string) {
		c := &CompanyRule{ID: cid, OnDemand: OnDemandMode(mode), Code: code}
		fs := Facts{
			Direction: Direction(dir), Destination: dest, Caller: caller, OutgoingDDI: outDDI,
			DDI:  &DDIRule{ID: cid, Number: outDDI, Record: RecordAll, Announcement: ann},
			User: &UserRule{ID: uid, Extension: caller}, Company: c, DefaultCountry: "ES", TransferContext: ctx,
		}
		var ss []string
		allStrings(reflect.ValueOf(Decide(fs)), &ss)
		for _, s := range ss {
			if !safeForFreeSWITCH(s) {
				t.Fatalf("plan carries unsafe %q", s)
			}
		}
	})
}

func TestDecide_PlanDoesNotAliasInput(t *testing.T) {
	c := company(OnDemandKeyDTMF, "12")
	p1 := Decide(internal(user1, user2, c))
	p2 := Decide(internal(user1, user2, c))
	p1.OnDemand.DTMFLegs[0] = LegNone
	if !slices.Equal(p2.OnDemand.DTMFLegs, []Leg{LegControlled, LegUserPeer}) {
		t.Errorf("plans share DTMFLegs: %v", p2.OnDemand.DTMFLegs)
	}
}

func BenchmarkDecide(b *testing.B) {
	c := company(OnDemandKeyDTMF, "12")
	cases := []struct {
		name string
		f    Facts
	}{
		{"inbound_recorded", inbound(ddi(RecordAll, "ivr/notice.wav"), c)},
		{"outbound_recorded", outbound(ddi(RecordAll, ""), user1, c)},
		{"internal", internal(user1, user2, c)},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if p := Decide(bc.f); p.Decision == "" {
					b.Fatal("no decision")
				}
			}
		})
	}
}
