package dialplan

// Decision is a short machine word saying why a Plan records or not, for logs and metrics.
type Decision string

// The decisions Decide returns.
const (
	DecisionRecordInbound        Decision = "record_inbound"                     // inbound call to a DDI recording inbound|all
	DecisionRecordOutbound       Decision = "record_outbound"                    // outbound call with an outgoing DDI recording outbound|all
	DecisionNoRecordModeNone     Decision = "no_record_mode_none"                // the DDI records nothing
	DecisionNoRecordInboundOnly  Decision = "no_record_ddi_inbound_only"         // outbound call, the DDI records inbound calls only
	DecisionNoRecordOutboundOnly Decision = "no_record_ddi_outbound_only"        // inbound call, the DDI records outbound calls only
	DecisionNoRecordInternal     Decision = "no_record_internal"                 // internal calls are never recorded automatically
	DecisionNoRecordNotExternal  Decision = "no_record_destination_not_external" // outbound destination is no public number (feature code, service number)
	DecisionUnknownDirection     Decision = "unknown_direction"                  // the dialplan did not mark the call
	DecisionUnknownDDI           Decision = "unknown_ddi"                        // no stored DDI for the call
	DecisionUnknownUser          Decision = "unknown_user"                       // the controlled user leg matches no stored user
	DecisionUnknownCompany       Decision = "unknown_company"                    // no company for the call
	DecisionCompanyMismatch      Decision = "company_mismatch"                   // DDI, user and company do not belong together
	DecisionInvalidRecordMode    Decision = "invalid_record_mode"                // a stored mode this version does not know
	DecisionInvalidAnnouncement  Decision = "invalid_announcement"               // the announcement fails ValidAnnouncement: not recorded, since the disclaimer cannot be played
	DecisionOptInUnavailable     Decision = "no_record_opt_in_unavailable"       // the DDI records only after the caller opts in, which only an inbound call with an announcement can ask
)

// Records reports whether the decision starts an automatic recording.
func (d Decision) Records() bool {
	return d == DecisionRecordInbound || d == DecisionRecordOutbound
}

// StartOn says when an automatic recording starts.
type StartOn string

// The start points.
const (
	StartNever    StartOn = ""       // no automatic recording
	StartOnAnswer StartOn = "answer" // on the answer of the recorded leg (at once if it is already answered)
)

// TriggerDDI is the Recording trigger (and type) of an automatic recording.
const TriggerDDI = "ddi"

// RecordPlan is the automatic (DDI) recording of a call (SPEC.md §3.1).
type RecordPlan struct {
	// Leg is the leg to record: LegControlled (inbound: the external caller), LegExternalPeer
	// (outbound: the carrier leg once CHANNEL_BRIDGE reveals it), or LegNone.
	Leg Leg
	// StartOn is when recording starts: the answer of Leg.
	StartOn StartOn
	// Announcement, when not empty, is played to the external party (on Leg) before recording
	// starts. It always satisfies ValidAnnouncement.
	Announcement string
	// OptIn: record only if the caller presses 1 during or right after the Announcement (the
	// DDI's consent "press_1"); otherwise staying on the line past it is the consent.
	OptIn bool
	// Stereo puts each party on its own channel (the company's stereo setting).
	Stereo bool
	// Trigger is TriggerDDI when Leg is set.
	Trigger string
}

// Plan is what the controller does with a call. Every string in it is safe for a FreeSWITCH
// command (no CR, LF, spaces or control characters).
type Plan struct {
	// Decision says why the call is or is not recorded automatically.
	Decision Decision
	// Direction is the effective direction: an outbound call to an internal extension is internal.
	Direction Direction
	// Record is the automatic recording, Leg == LegNone when there is none.
	Record RecordPlan
	// Recorder (the DDI number, when Record is set), Caller and Callee are the normalised values
	// for the Recording row: E.164 where possible, else sanitised tokens.
	Recorder, Caller, Callee string
	// CompanyID, DDIID and UserID (the controlled leg's user) identify the row's owners, sanitised;
	// empty when unknown.
	CompanyID, DDIID, UserID string
	// OnDemand is the on-demand gate for every user of the call.
	OnDemand Gate
	// SetVars go on the controlled leg now (uuid_setvar).
	SetVars []Var
	// ExportVars go on the legs this call will create: the controller runs
	// "export nolocal:<name>=<value>" on the controlled leg, so they do not apply to it
	// (REFERENCE.md §9). Legs created earlier need uuid_setvar with Gate.VarsFor.
	ExportVars []Var
}

// Decide applies SPEC.md §3.1 (automatic DDI recording) and §3.2 (the on-demand gate) to the
// facts of one call. It never fails: missing or inconsistent facts give a Plan that records
// nothing, gates nothing, and says why in Decision. It is pure and safe for concurrent use.
func Decide(f Facts) Plan {
	switch f.Direction {
	case DirectionInbound:
		return decideInbound(f)
	case DirectionOutbound, DirectionInternal, DirectionUser:
		return decideUserCall(f)
	}
	g := newGate(nil, "", "", "")
	return Plan{
		Decision:   DecisionUnknownDirection,
		Direction:  Direction(Token(string(f.Direction))),
		Caller:     NormalizeNumber(f.Caller, f.DefaultCountry),
		Callee:     NormalizeNumber(f.Destination, f.DefaultCountry),
		OnDemand:   g,
		SetVars:    g.VarsFor(RoleUser, nil),
		ExportVars: g.VarsFor(RoleUser, nil),
	}
}

// decideInbound: the controlled leg is the external caller; the legs it creates are users'.
func decideInbound(f Facts) Plan {
	p := Plan{
		Direction: DirectionInbound,
		Caller:    NormalizeNumber(f.Caller, f.DefaultCountry),
		Callee:    NormalizeNumber(f.Destination, f.DefaultCountry),
	}
	company := f.Company
	switch {
	case f.DDI == nil:
		p.Decision = DecisionUnknownDDI
	case company == nil:
		p.Decision = DecisionUnknownCompany
	case f.DDI.CompanyID != "" && f.DDI.CompanyID != company.ID:
		p.Decision = DecisionCompanyMismatch
		company = nil
	default:
		p.Decision = ddiDecision(f.DDI, DirectionInbound)
	}
	if f.DDI != nil {
		p.DDIID = idToken(f.DDI.ID)
		if p.Callee == "" {
			p.Callee = NormalizeNumber(f.DDI.Number, f.DefaultCountry)
		}
	}
	if company != nil {
		p.CompanyID = idToken(company.ID)
	}
	if p.Decision.Records() {
		p.Record = recordPlan(LegControlled, f.DDI, company)
		p.Recorder = NormalizeNumber(f.DDI.Number, f.DefaultCountry)
	}
	p.OnDemand = newGate(company, DirectionInbound, f.TransferContext, f.UserContext)
	p.SetVars = p.OnDemand.VarsFor(RoleExternal, nil)
	p.ExportVars = p.OnDemand.VarsFor(RoleUser, nil)
	return p
}

// decideUserCall: the controlled leg is a user; outbound calls create an external leg, internal
// calls (and outbound calls to an extension) another user's leg.
func decideUserCall(f Facts) Plan {
	country := f.Country
	if country == "" {
		country = f.DefaultCountry
	}
	dir, callee, isExternal := userCallDirection(f.Direction, f.Destination, f.Callee != nil, country)
	p := Plan{Direction: dir}
	company := f.Company
	switch {
	case f.User == nil:
		p.Decision = DecisionUnknownUser
		company = nil // on-demand is a user's feature: no user, no gate
	case company == nil:
		p.Decision = DecisionUnknownCompany
	case f.User.CompanyID != "" && f.User.CompanyID != company.ID:
		p.Decision = DecisionCompanyMismatch
		company = nil
	case dir == DirectionInternal:
		p.Decision = DecisionNoRecordInternal
	case !isExternal:
		p.Decision = DecisionNoRecordNotExternal
	case f.DDI == nil:
		p.Decision = DecisionUnknownDDI
	case f.DDI.CompanyID != "" && f.DDI.CompanyID != company.ID:
		// A user presenting another tenant's DDI never records into that tenant.
		p.Decision = DecisionCompanyMismatch
	default:
		p.Decision = ddiDecision(f.DDI, DirectionOutbound)
	}
	if f.User != nil {
		p.UserID = idToken(f.User.ID)
	}
	if company != nil {
		p.CompanyID = idToken(company.ID)
	}
	if f.DDI != nil && dir == DirectionOutbound && p.Decision != DecisionCompanyMismatch {
		p.DDIID = idToken(f.DDI.ID)
	}
	if dir == DirectionInternal {
		p.Caller = userNumber(f.User, f.Caller)
		p.Callee = userNumber(f.Callee, f.Destination)
	} else {
		p.Caller = NormalizeNumber(f.OutgoingDDI, country)
		if p.Caller == "" && f.DDI != nil {
			p.Caller = NormalizeNumber(f.DDI.Number, country)
		}
		if p.Caller == "" {
			p.Caller = NormalizeNumber(f.Caller, country)
		}
		p.Callee = callee
	}
	if p.Decision.Records() {
		p.Record = recordPlan(LegExternalPeer, f.DDI, company)
		p.Recorder = NormalizeNumber(f.DDI.Number, country)
	}
	p.OnDemand = newGate(company, dir, f.TransferContext, f.UserContext)
	if f.User == nil {
		p.OnDemand.Reason = GateUnknownUser
	}
	p.SetVars = p.OnDemand.VarsFor(RoleUser, f.User)
	if dir == DirectionInternal {
		var callee *UserRule
		if f.Callee != nil && company != nil && (f.Callee.CompanyID == "" || f.Callee.CompanyID == company.ID) {
			callee = f.Callee
		}
		p.ExportVars = p.OnDemand.VarsFor(RoleUser, callee)
	} else {
		p.ExportVars = p.OnDemand.VarsFor(RoleExternal, nil)
	}
	return p
}

// userCallDirection classifies a call a user places from what the store knows and from the
// number itself, not from a digit-length pattern (issue 11 point 4): a destination that is the
// extension of one of the company's users (calleeIsUser) is internal; one that is a possible
// phone number in international form, or in national form for country, is outbound (its E.164
// form returned, external true); anything else (feature codes such as *98, short strings no
// user has) is internal, never recorded automatically. mark is what the dialplan set: an
// "internal" mark of an older rendering is overridden by a valid external number, an
// "outbound" mark to no public number stays outbound (and is not recorded, not external).
func userCallDirection(mark Direction, dest string, calleeIsUser bool, country string) (dir Direction, callee string, external bool) {
	if calleeIsUser {
		return DirectionInternal, "", false
	}
	if n, ok := externalNumber(dest, country); ok {
		return DirectionOutbound, n, true
	}
	if mark == DirectionOutbound {
		return DirectionOutbound, Token(dest), false
	}
	return DirectionInternal, "", false
}

// ddiDecision applies a known DDI's mode (and announcement) to a call of direction d.
func ddiDecision(ddi *DDIRule, d Direction) Decision {
	mode := ddi.Record
	if mode == "" {
		mode = RecordNone
	}
	switch {
	case !mode.Valid():
		return DecisionInvalidRecordMode
	case mode == RecordNone:
		return DecisionNoRecordModeNone
	case !mode.records(d) && d == DirectionInbound:
		return DecisionNoRecordOutboundOnly
	case !mode.records(d):
		return DecisionNoRecordInboundOnly
	case ddi.Announcement != "" && !ValidAnnouncement(ddi.Announcement):
		return DecisionInvalidAnnouncement
	case ddi.OptIn && (d != DirectionInbound || ddi.Announcement == ""):
		return DecisionOptInUnavailable
	case d == DirectionInbound:
		return DecisionRecordInbound
	}
	return DecisionRecordOutbound
}

func recordPlan(leg Leg, ddi *DDIRule, c *CompanyRule) RecordPlan {
	return RecordPlan{
		Leg:          leg,
		StartOn:      StartOnAnswer,
		Announcement: ddi.Announcement, // checked by ddiDecision
		OptIn:        ddi.OptIn,
		Stereo:       c.Stereo,
		Trigger:      TriggerDDI,
	}
}

// userNumber is the extension of u when known, else raw as a token: internal numbers are not
// E.164 and must not be turned into one by a default country.
func userNumber(u *UserRule, raw string) string {
	if u != nil {
		if ext := Token(u.Extension); ext != "" {
			return ext
		}
	}
	return Token(raw)
}
