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
	OutgoingDDI   string
	FromUser      string // variable_sip_from_user: the user of a call a phone places
	FromHost      string
	Answered      bool
	TransferFrom  string // variable_blind_transfer_uuid: the transferor of a frustrated transfer
	ExportVars    string
	ChannelName   string
	CallerProfile string
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
		ChannelName:  header(r, "Channel-Name"),
	}
	switch d := dialplan.Direction(strings.ToLower(header(r, "variable_"+dialplan.VarDirection))); d {
	case dialplan.DirectionOutbound, dialplan.DirectionInternal:
		ci.Direction = d
	default:
		ci.Direction = dialplan.DirectionInbound
	}
	// The outgoing DDI: what the rendered dialplan recorded, else the caller id the route set,
	// else the caller id the phone sent (issue 5).
	for _, v := range []string{header(r, "variable_"+dialplan.VarOutgoingDDI), header(r, "variable_effective_caller_id_number"), ci.CallerNumber} {
		if v != "" {
			ci.OutgoingDDI = v
			break
		}
	}
	if ci.CallUUID == "" {
		ci.CallUUID = ci.UUID
	}
	return ci
}
