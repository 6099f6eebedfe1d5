package dialplan

import "testing"

// userCall is a call user1 places with the rendered `callrec_direction=user` mark: Decide
// classifies it from the store's facts (Callee) and the number itself (Country).
func userCall(dest, country string) Facts {
	return Facts{Direction: DirectionUser, Destination: dest, Caller: "1001", OutgoingDDI: "+34911234567",
		DDI: ddi(RecordOutbound, ""), User: user1, Company: company(OnDemandDisabled, ""), Country: country}
}

// TestDecide_UserCallDirection: internal from the users' extensions, external from the number
// in the company's country, anything else internal (issue 11 point 4). The old global
// ^(\d{2,10})$ classified the Spanish and US national numbers below as internal extensions.
func TestDecide_UserCallDirection(t *testing.T) {
	usDDI := &DDIRule{ID: "D2", Number: "+12125550100", CompanyID: "C1", Record: RecordOutbound}
	tests := []struct {
		name     string
		facts    Facts
		dir      Direction
		decision Decision
		callee   string
	}{
		{"Spanish national 9-digit number, company in ES", userCall("600999888", "ES"),
			DirectionOutbound, DecisionRecordOutbound, "+34600999888"},
		{"US national 10-digit number, company in US",
			with(userCall("2125551234", "US"), func(f *Facts) { f.DDI, f.OutgoingDDI = usDDI, "+12125550100" }),
			DirectionOutbound, DecisionRecordOutbound, "+12125551234"},
		{"international form whatever the country", userCall("+4930123456", "ES"),
			DirectionOutbound, DecisionRecordOutbound, "+4930123456"},
		{"00 international prefix", userCall("004930123456", "ES"),
			DirectionOutbound, DecisionRecordOutbound, "+4930123456"},
		{"an extension of one of the company's users is internal",
			with(userCall("1002", "ES"), func(f *Facts) { f.Callee = user2 }),
			DirectionInternal, DecisionNoRecordInternal, "1002"},
		{"a user's extension is internal even when it is also a possible national number",
			with(userCall("600999888", "ES"), func(f *Facts) { f.Callee = &UserRule{ID: "U3", Extension: "600999888", CompanyID: "C1"} }),
			DirectionInternal, DecisionNoRecordInternal, "600999888"},
		{"a 4-digit string no user has is internal", userCall("1234", "ES"),
			DirectionInternal, DecisionNoRecordInternal, "1234"},
		{"a feature code is internal", userCall("*98", "ES"),
			DirectionInternal, DecisionNoRecordInternal, "*98"},
		{"a national number without any country cannot be told: internal", userCall("600999888", ""),
			DirectionInternal, DecisionNoRecordInternal, "600999888"},
		{"default_country stands in for an unknown company country",
			with(userCall("600999888", ""), func(f *Facts) { f.DefaultCountry = "ES" }),
			DirectionOutbound, DecisionRecordOutbound, "+34600999888"},
		{"the company's country wins over default_country",
			with(userCall("600999888", "US"), func(f *Facts) { f.DefaultCountry = "ES" }),
			DirectionInternal, DecisionNoRecordInternal, "600999888"},
		{"an old dialplan's internal mark is overridden by a valid external number",
			with(userCall("600999888", "ES"), func(f *Facts) { f.Direction = DirectionInternal }),
			DirectionOutbound, DecisionRecordOutbound, "+34600999888"},
		{"an old dialplan's internal mark to an extension stays internal",
			with(userCall("1002", "ES"), func(f *Facts) { f.Direction = DirectionInternal; f.Callee = user2 }),
			DirectionInternal, DecisionNoRecordInternal, "1002"},
		{"an old dialplan's outbound mark to a feature code stays outbound, not external",
			with(userCall("*12", "ES"), func(f *Facts) { f.Direction = DirectionOutbound }),
			DirectionOutbound, DecisionNoRecordNotExternal, "*12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(tt.facts)
			if p.Direction != tt.dir || p.Decision != tt.decision || p.Callee != tt.callee {
				t.Errorf("direction %q decision %q callee %q, want %q %q %q", p.Direction, p.Decision, p.Callee, tt.dir, tt.decision, tt.callee)
			}
			if p.Direction == DirectionInternal && p.DDIID != "" {
				t.Errorf("internal call carries the outgoing DDI %q", p.DDIID)
			}
			if tt.dir == DirectionInternal && p.Record.Leg != LegNone {
				t.Errorf("internal call recorded on %q", p.Record.Leg)
			}
		})
	}
}

// TestDecide_UserContextTravelsWithForceTransferContext: the legs that can land in the transfer
// context carry the context of the call's users, where the catch-all continues an ordinary
// blind transfer (issue 11 point 5).
func TestDecide_UserContextTravelsWithForceTransferContext(t *testing.T) {
	key := company(OnDemandKey, "7")
	tests := []struct {
		name     string
		facts    Facts
		set, exp string // VarUserContext on SetVars / ExportVars ("" = absent)
	}{
		{"user call: the user's context on both legs",
			with(outbound(ddi(RecordAll, ""), user1, key), func(f *Facts) { f.UserContext = "a.example.com" }), "a.example.com", "a.example.com"},
		{"inbound call: the known context on the caller and the user legs",
			with(inbound(ddi(RecordAll, ""), key), func(f *Facts) { f.UserContext = "default" }), "default", "default"},
		{"unknown context: not set",
			outbound(ddi(RecordAll, ""), user1, key), "", ""},
		{"unsafe context: not set",
			with(outbound(ddi(RecordAll, ""), user1, key), func(f *Facts) { f.UserContext = "a b" }), "", ""},
		{"no frustrated transfer (disabled company): not set",
			with(outbound(ddi(RecordAll, ""), user1, company(OnDemandDisabled, "")), func(f *Facts) { f.UserContext = "default" }), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Decide(tt.facts)
			if got := varMap(t, "SetVars", p.SetVars)[VarUserContext]; got != tt.set {
				t.Errorf("SetVars %s = %q, want %q", VarUserContext, got, tt.set)
			}
			if got := varMap(t, "ExportVars", p.ExportVars)[VarUserContext]; got != tt.exp {
				t.Errorf("ExportVars %s = %q, want %q", VarUserContext, got, tt.exp)
			}
		})
	}
	g := Decide(inbound(ddi(RecordAll, ""), key)).OnDemand
	if !g.SetUserContext("b.example.com") || g.SetUserContext("b.example.com") || g.SetUserContext("x y") {
		t.Error("SetUserContext: want true once for a new valid context, false for the same or an unsafe one")
	}
	if got := varMap(t, "external", g.VarsFor(RoleExternal, nil))[VarUserContext]; got != "b.example.com" {
		t.Errorf("after SetUserContext the external leg gets %q", got)
	}
}
