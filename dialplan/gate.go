package dialplan

import "strings"

// Leg names a channel of the call relative to the one handed to callrec.
type Leg string

// The legs a Plan refers to.
const (
	LegNone         Leg = ""              // nothing
	LegControlled   Leg = "controlled"    // the channel the dialplan handed to callrec (inbound: the external caller; outbound/internal: the user)
	LegExternalPeer Leg = "external_peer" // outbound: the far leg towards the carrier, learnt from CHANNEL_BRIDGE
	LegUserPeer     Leg = "user_peer"     // inbound and internal: the user leg bridged to the controlled one, learnt from CHANNEL_BRIDGE
)

// LegRole says who is on a leg, which decides the variables the on-demand gate puts on it.
type LegRole string

// The roles of a leg.
const (
	RoleUser     LegRole = "user"     // a phone user of the platform
	RoleExternal LegRole = "external" // a party reached through a carrier
)

// GateReason says why a gate is narrower than the company's setting; empty when it is not.
type GateReason string

// The gate reasons.
const (
	GateOK                     GateReason = ""
	GateDisabled               GateReason = "disabled"                 // the company's on_demand is disabled
	GateUnknownCompany         GateReason = "unknown_company"          // no company: nothing is allowed
	GateInvalidMode            GateReason = "invalid_mode"             // a stored mode this version does not know: treated as disabled
	GateInvalidCode            GateReason = "invalid_code"             // a stored code that is not 1–3 digits: no DTMF, no transfer
	GateUnknownUser            GateReason = "unknown_user"             // the user leg is not identified: nothing is allowed
	GateInvalidTransferContext GateReason = "invalid_transfer_context" // the configured context is not a safe name: no transfer
)

// Gate is the on-demand gate of one call (SPEC.md §3.2): which triggers the company allows and
// what the legs need for them. The zero Gate allows nothing.
type Gate struct {
	// Mode is the effective mode: disabled whenever the company is unknown or its mode invalid.
	Mode OnDemandMode
	// CompanyID is the company whose setting this is (sanitised), empty when unknown.
	CompanyID string
	// Code is the valid on-demand code (digits, no '*'), empty when none applies.
	Code string
	// AllowInfo: a SIP INFO "Record: on|off" from a user's phone starts/stops a recording.
	AllowInfo bool
	// AllowTransfer: a blind transfer to "*"+Code toggles a recording and is rejected.
	AllowTransfer bool
	// MaskCode is the valid mask code (digits, no '*', not Code), set only when InspectDTMF:
	// "*"+MaskCode typed by a user masks every recording of the call, and typed again unmasks.
	MaskCode string
	// InspectDTMF: the controller inspects the digits of DTMFLegs (key_dtmf with a valid code only).
	InspectDTMF bool
	// DTMFLegs are the user legs whose digits are inspected, one CodeMatcher per leg. Digits of
	// any other leg (the external party) are never inspected.
	DTMFLegs []Leg
	// Stereo is the company's stereo setting, for on-demand recordings too.
	Stereo bool
	// TransferContext is the context of the code extension, set when AllowTransfer.
	TransferContext string
	// UserContext is the context of the call's users (VarUserContext), set when AllowTransfer
	// and known: the transfer context's catch-all continues ordinary blind transfers there.
	UserContext string
	// Reason says why the gate is narrower than the company's setting.
	Reason GateReason
}

// newGate derives the gate of a call of direction d for company c (nil: unknown).
func newGate(c *CompanyRule, d Direction, transferContext, userContext string) Gate {
	if c == nil {
		return Gate{Mode: OnDemandDisabled, Reason: GateUnknownCompany}
	}
	g := Gate{Mode: OnDemandDisabled, CompanyID: idToken(c.ID), Stereo: c.Stereo}
	switch c.OnDemand {
	case OnDemandDisabled, "":
		g.Reason = GateDisabled
		return g
	case OnDemandKey, OnDemandKeyDTMF:
		g.Mode = c.OnDemand
	default:
		g.Reason = GateInvalidMode
		return g
	}
	// The Record key does not depend on the code (SPEC.md §3.2).
	g.AllowInfo = true
	if !ValidCode(c.Code) {
		g.Reason = GateInvalidCode
		return g
	}
	g.Code = c.Code
	if transferContext == "" {
		transferContext = DefaultTransferContext
	}
	if ValidContext(transferContext) {
		g.AllowTransfer = true
		g.TransferContext = transferContext
		g.SetUserContext(userContext)
	} else {
		g.Reason = GateInvalidTransferContext
	}
	if g.Mode == OnDemandKeyDTMF {
		g.InspectDTMF = true
		if ValidCode(c.MaskCode) && c.MaskCode != c.Code {
			g.MaskCode = c.MaskCode
		}
		switch d {
		case DirectionInbound:
			g.DTMFLegs = []Leg{LegUserPeer}
		case DirectionOutbound:
			g.DTMFLegs = []Leg{LegControlled}
		case DirectionInternal:
			g.DTMFLegs = []Leg{LegControlled, LegUserPeer}
		}
	}
	return g
}

// SetUserContext records ctx as the context of the call's users when the gate allows the
// frustrated transfer and ctx is a ValidContext, and reports whether UserContext changed. The
// controller calls it when a bridged user leg reveals its context (inbound calls: the
// directory's user_context), then sets VarUserContext on the legs again.
func (g *Gate) SetUserContext(ctx string) bool {
	if !g.AllowTransfer || !ValidContext(ctx) || ctx == g.UserContext {
		return false
	}
	g.UserContext = ctx
	return true
}

// InspectsDigitsFrom reports whether digits from leg may start or stop a recording. It is false
// for every leg unless InspectDTMF, and always false for the external party's leg. The controller
// calls it before feeding a digit to a CodeMatcher (and should not even subscribe to DTMF when
// InspectDTMF is false).
func (g Gate) InspectsDigitsFrom(leg Leg) bool {
	if !g.InspectDTMF {
		return false
	}
	for _, l := range g.DTMFLegs {
		if l == leg {
			return true
		}
	}
	return false
}

// VarsFor returns the channel variables a leg of role needs for this gate (REFERENCE.md §4, §5):
//   - every external leg: sip_disable_recording=true (an external party's INFO "Record:" never
//     records), and force_transfer_context when AllowTransfer, with VarUserContext when
//     UserContext is known (where an ordinary blind transfer of this leg continues);
//   - a user leg without AllowInfo: sip_disable_recording=true, so FreeSWITCH answers the Record
//     key with 488 and the call is untouched;
//   - a user leg with AllowInfo: VarRecPrefix (RecPrefix of the company and user, user may be nil
//     when not yet known), which the profile's record-template puts first in the file name;
//   - a user leg with AllowTransfer: confirm_blind_transfer=true (the user is the transferor) and
//     force_transfer_context (on internal calls the other user is the transferee), with
//     VarUserContext as for external legs.
//
// Every name and value is a safe token. Anyone may call it; it never fails.
func (g Gate) VarsFor(role LegRole, user *UserRule) []Var {
	var vs []Var
	switch role {
	case RoleExternal:
		vs = append(vs, Var{"sip_disable_recording", "true"})
		if g.AllowTransfer {
			vs = append(vs, Var{"force_transfer_context", g.TransferContext})
			vs = g.appendUserContext(vs)
		}
	default:
		if !g.AllowInfo {
			vs = append(vs, Var{"sip_disable_recording", "true"})
		} else {
			uid := ""
			if user != nil {
				uid = user.ID
			}
			vs = append(vs, Var{VarRecPrefix, RecPrefix(g.CompanyID, uid)})
		}
		if g.AllowTransfer {
			vs = append(vs, Var{"confirm_blind_transfer", "true"}, Var{"force_transfer_context", g.TransferContext})
			vs = g.appendUserContext(vs)
		}
	}
	return vs
}

func (g Gate) appendUserContext(vs []Var) []Var {
	if g.UserContext == "" {
		return vs
	}
	return append(vs, Var{VarUserContext, g.UserContext})
}

// recPrefixTag starts every on-demand INFO recording file name.
const recPrefixTag = "od."

// RecPrefix returns the value of VarRecPrefix for a user of a company: "od.<company>.<user>." with
// each id reduced to [0-9A-Za-z_-] (ids are expected to be ULIDs, which pass unchanged). userID
// may be empty when the user leg is not identified yet. Anyone may call it.
func RecPrefix(companyID, userID string) string {
	return recPrefixTag + idToken(companyID) + "." + idToken(userID) + "."
}

// ParseRecPrefix is the inverse of RecPrefix for a recording's file base name (the part after
// record-path/): it returns the company and user ids (user possibly empty) and ok=false when name
// does not start with a RecPrefix. The controller uses it to book RECORD_START events of INFO
// recordings (REFERENCE.md §4: match on the path, not on sofia_record_file).
func ParseRecPrefix(name string) (companyID, userID string, ok bool) {
	rest, found := strings.CutPrefix(name, recPrefixTag)
	if !found {
		return "", "", false
	}
	companyID, rest, found = strings.Cut(rest, ".")
	if !found || companyID == "" || idToken(companyID) != companyID {
		return "", "", false
	}
	userID, _, found = strings.Cut(rest, ".")
	if !found || idToken(userID) != userID {
		return "", "", false
	}
	return companyID, userID, true
}

// IsTransferCode reports whether dest, the destination a blind transfer reached the transfer
// context with, is "*"+Code of a gate that allows the frustrated transfer. The controller handling
// the code extension's connection calls it; false means an ordinary transfer to route on (or a
// code of a company without the feature, which must be rejected like any failed transfer).
func (g Gate) IsTransferCode(dest string) bool {
	return g.AllowTransfer && g.Code != "" && len(dest) == len(g.Code)+1 && dest[0] == '*' && dest[1:] == g.Code
}

// CompanyGate is the on-demand gate of company c (nil: unknown) as its settings stand now,
// without the per-direction DTMF legs. The controller calls it when a blind transfer reaches the
// transfer context, with the company from the current rules snapshot, so that a code or mode
// changed mid-call applies to the next REFER (not the Plan's gate, decided at call start).
func CompanyGate(c *CompanyRule, transferContext string) Gate {
	return newGate(c, "", transferContext, "")
}
