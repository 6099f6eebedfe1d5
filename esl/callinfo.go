package esl

import (
	"strings"

	"github.com/percipia/eslgo"

	"github.com/callrec/callrec/dialplan"
)

// header reads a URL-decoded header; FreeSWITCH writes empty values as `_undef_`.
type headerReader interface{ GetHeader(string) string }

func header(h headerReader, name string) string {
	v := h.GetHeader(name)
	if v == "_undef_" {
		return ""
	}
	return v
}

// callInfo is what the `connect` reply (REFERENCE.md §1.3) tells about the controlled channel.
type callInfo struct {
	UUID          string
	CallUUID      string // Channel-Call-UUID
	SIPCallID     string
	Context       string // Caller-Context
	Destination   string // Caller-Destination-Number
	CallerNumber  string // Caller-Caller-ID-Number
	Direction     dialplan.Direction
	OutgoingDDI   string   // the first of OutgoingDDIs, or the one that is a DDI of the company
	OutgoingDDIs  []string // candidates, in order of preference
	FromUser      string   // variable_sip_from_user: the user of a call a phone places
	FromHost      string
	AuthUser      string // variable_user_name of a phone that passed digest auth (sip_auth_username set)
	AuthDomain    string // variable_domain_name: the directory domain AuthUser authenticated in
	Answered      bool
	TransferFrom  string // variable_blind_transfer_uuid: the transferor of a frustrated transfer
	UserContext   string // variable_callrec_user_context: where an ordinary blind transfer of this leg continues
	ExportVars    string
	ChannelName   string
	CallerProfile string
	CoreUUID      string // Core-UUID: which FreeSWITCH (node) the call lives on
	Handovers     int    // variable_callrec_handovers: how often callrec has handed this channel over (handover.go)
	// Taken is variable_callrec_taken: another callrec instance already took this hand-over
	// (dialplan.VarTaken; several instances rendered in turn).
	Taken bool
}

func parseCallInfo(r *eslgo.RawResponse) callInfo {
	ci := callInfo{
		UUID:         header(r, "Unique-ID"),
		CallUUID:     header(r, "Channel-Call-UUID"),
		SIPCallID:    header(r, "variable_sip_call_id"),
		Context:      header(r, "Caller-Context"),
		Destination:  header(r, "Caller-Destination-Number"),
		CallerNumber: header(r, "Caller-Caller-ID-Number"),
		FromUser:     header(r, "variable_sip_from_user"),
		FromHost:     header(r, "variable_sip_from_host"),
		Answered:     header(r, "Answer-State") == "answered",
		TransferFrom: header(r, "variable_blind_transfer_uuid"),
		UserContext:  header(r, "variable_callrec_user_context"),
		ChannelName:  header(r, "Channel-Name"),
		CoreUUID:     header(r, "Core-UUID"),
		Handovers:    handoversOf(header(r, "variable_"+VarHandovers)),
		Taken:        header(r, "variable_"+dialplan.VarTaken) == "true",
	}
	// "user" is what fsconf renders now; "outbound"/"internal" come from a dialplan rendered
	// before issue 11 that the operator has not replaced (Decide accepts both).
	switch d := dialplan.Direction(strings.ToLower(header(r, "variable_"+dialplan.VarDirection))); d {
	case dialplan.DirectionUser, dialplan.DirectionOutbound, dialplan.DirectionInternal:
		ci.Direction = d
	default:
		ci.Direction = dialplan.DirectionInbound
	}
	// Outgoing DDI candidates, in order: what the rendered dialplan recorded, the caller id the
	// route set, the directory's outbound caller id, the caller id the phone sent (issue 5). The
	// first that is a DDI of the user's company is the outgoing DDI (effective_caller_id_number is
	// often just the extension).
	for _, v := range []string{header(r, "variable_"+dialplan.VarOutgoingDDI), header(r, "variable_effective_caller_id_number"),
		header(r, "variable_outbound_caller_id_number"), ci.CallerNumber} {
		if v != "" {
			ci.OutgoingDDIs = append(ci.OutgoingDDIs, v)
		}
	}
	if len(ci.OutgoingDDIs) > 0 {
		ci.OutgoingDDI = ci.OutgoingDDIs[0]
	}
	if ci.CallUUID == "" {
		ci.CallUUID = ci.UUID
	}
	// sofia_reg.c sofia_reg_parse_auth ~3444–3449 sets user_name and domain_name together with
	// sip_auth_username only after the phone passed digest auth; sofia.c
	// sofia_handle_sip_i_invite ~10833 copies them onto the channel, and switch_ivr.c
	// switch_ivr_set_user_xml ~3967 sets them last to the directory user's id and domain. The
	// From header is the phone's to choose, so it names the user only without authentication.
	if header(r, "variable_sip_auth_username") != "" {
		ci.AuthUser = header(r, "variable_user_name")
		ci.AuthDomain = header(r, "variable_domain_name")
	}
	return ci
}

// identity is the (domain, user) the call's user is looked up by: the directory user the
// phone authenticated as when there is one, else the From header.
func (ci callInfo) identity() (domain, user string) {
	if ci.AuthUser != "" {
		return ci.AuthDomain, ci.AuthUser
	}
	return ci.FromHost, ci.FromUser
}
