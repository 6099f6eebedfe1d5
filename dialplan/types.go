package dialplan

// Direction is the kind of call as the rendered dialplan marked it.
type Direction string

// The call directions. The rendered dialplan marks inbound DDI entries as inbound and sets
// VarDirection=user on every call a user places; Decide tells internal from outbound (see
// userCallDirection). Dialplans rendered before that mark user calls outbound|internal
// themselves, which Decide still accepts.
const (
	DirectionInbound  Direction = "inbound"  // an external caller to a DDI of the platform
	DirectionOutbound Direction = "outbound" // a user to an external number
	DirectionInternal Direction = "internal" // a user to another user, or to no public number (feature codes)
	// DirectionUser is only a mark: a call a user places, still to be classified. A Plan's
	// Direction is never DirectionUser.
	DirectionUser Direction = "user"
)

// RecordMode is a DDI's record_calls setting (SPEC.md §2).
type RecordMode string

// The DDI recording modes. The zero value "" behaves as RecordNone (the SPEC default).
const (
	RecordNone     RecordMode = "none"
	RecordInbound  RecordMode = "inbound"
	RecordOutbound RecordMode = "outbound"
	RecordAll      RecordMode = "all"
)

// Valid reports whether m is one of the four modes (the store may use it to validate input).
func (m RecordMode) Valid() bool {
	switch m {
	case RecordNone, RecordInbound, RecordOutbound, RecordAll:
		return true
	}
	return false
}

// records reports whether mode m records a call of direction d.
func (m RecordMode) records(d Direction) bool {
	switch m {
	case RecordAll:
		return d == DirectionInbound || d == DirectionOutbound
	case RecordInbound:
		return d == DirectionInbound
	case RecordOutbound:
		return d == DirectionOutbound
	}
	return false
}

// OnDemandMode is a company's on_demand setting (SPEC.md §2, §3.2).
type OnDemandMode string

// The on-demand modes. The zero value "" behaves as OnDemandDisabled (the SPEC default).
const (
	OnDemandDisabled OnDemandMode = "disabled" // no trigger works
	OnDemandKey      OnDemandMode = "key"      // Record key SIP INFO and frustrated blind transfer
	OnDemandKeyDTMF  OnDemandMode = "key_dtmf" // the above plus the DTMF code (digits are inspected)
)

// Valid reports whether m is one of the three modes (the store may use it to validate input).
func (m OnDemandMode) Valid() bool {
	switch m {
	case OnDemandDisabled, OnDemandKey, OnDemandKeyDTMF:
		return true
	}
	return false
}

// DDIRule is the part of a stored DDI the policy needs. Number is the stored E.164 number.
// CompanyID, when set, must match the call's company, or the DDI is not used for recording.
type DDIRule struct {
	ID, Number   string
	CompanyID    string
	Record       RecordMode
	Announcement string // FreeSWITCH playback string; see ValidAnnouncement
	OptIn        bool   // record only after the caller presses 1 (the announcement asks for it)
}

// CompanyRule is the part of a stored company the policy needs. Code is the on-demand code
// (1–3 digits, without the leading '*'); see ValidCode.
type CompanyRule struct {
	ID       string
	OnDemand OnDemandMode
	Code     string
	MaskCode string // key_dtmf only: "*"+MaskCode masks and unmasks the call's recordings
	Stereo   bool
}

// UserRule is the part of a stored phone user the policy needs.
type UserRule struct {
	ID, Extension, SIPUser string
	CompanyID              string
}

// Facts is what the call controller knows about a call when it asks for a Plan. Raw values are
// taken as FreeSWITCH reported them: Decide normalises and sanitises them.
type Facts struct {
	// Direction as marked by the rendered dialplan (inbound entry, or VarDirection on user calls).
	Direction Direction
	// Destination is Caller-Destination-Number (raw).
	Destination string
	// Caller is Caller-Caller-ID-Number (raw).
	Caller string
	// OutgoingDDI (outbound calls) is VarOutgoingDDI, else effective_caller_id_number, else
	// Caller-Caller-ID-Number: the controller picks, Decide normalises.
	OutgoingDDI string
	// DDI is the DDI the call uses (inbound: the destination; outbound: the outgoing DDI), if known.
	DDI *DDIRule
	// User is the identified user of the controlled leg (outbound and internal calls), if known.
	User *UserRule
	// Callee is the user whose extension the destination reaches, if the controller found one.
	// An outbound call with a Callee is an internal call.
	Callee *UserRule
	// Company is the company of the call (from the DDI inbound, from the user otherwise), if known.
	Company *CompanyRule
	// DefaultCountry (ISO 3166 alpha-2) lets national numbers normalise to E.164.
	DefaultCountry string
	// Country (ISO 3166 alpha-2) is the company's country on calls a user places: a national
	// destination valid there is an external number. Empty: DefaultCountry.
	Country string
	// UserContext is the dialplan context of the call's users (the user's own context on calls
	// a user places; the user leg's user_context on inbound calls, when known): the transfer
	// context's catch-all continues ordinary blind transfers there (VarUserContext). Empty or
	// not a ValidContext: not set.
	UserContext string
	// TransferContext is the FreeSWITCH context fsconf renders for the on-demand code extension;
	// empty means DefaultTransferContext.
	TransferContext string
}

// Var is one channel variable to set on a leg. Name and Value are always safe tokens (no CR, LF,
// spaces or other control characters).
type Var struct {
	Name, Value string
}

// Names shared with fsconf (which renders them) and esl (which reads or sets them).
const (
	// VarDirection is set by the rendered dialplan: "inbound" on DDI calls, "user" on the calls
	// a user places (dialplans rendered before: "outbound" or "internal").
	VarDirection = "callrec_direction"
	// VarUserContext is set by the controller next to force_transfer_context: the context of
	// the call's users, where the transfer context's catch-all continues an ordinary blind
	// transfer (`transfer $1 XML ${callrec_user_context}`).
	VarUserContext = "callrec_user_context"
	// VarOutgoingDDI is set by the rendered dialplan when the route knows the outgoing DDI.
	VarOutgoingDDI = "callrec_outgoing_ddi"
	// VarRecPrefix names mod_sofia's INFO recordings: the profile's record-template starts with
	// ${callrec_rec_prefix} (see RecPrefix, ParseRecPrefix).
	VarRecPrefix = "callrec_rec_prefix"
	// VarTaken marks a hand-over as taken by one callrec instance when several are rendered in
	// turn (fsconf Options.Instances): the entry unsets it before its first socket, the
	// instance that takes the call sets it in its first command, and a later instance that
	// FreeSWITCH connects to after the first closed (a toggled code, a release) sees it and
	// closes at once, so one hand-over is decided once.
	VarTaken = "callrec_taken"
	// VarOwner names the callrec instance whose Session follows the call, when several
	// instances share one store (esl.Server.Instance): set with VarTaken in the first command,
	// and again by the instance that re-adopts the call of one that died, so a node connection
	// of another instance leaves a call alone while its owner is alive.
	VarOwner = "callrec_owner"
	// DefaultTransferContext is the context of the on-demand code extension when Facts names none.
	DefaultTransferContext = "callrec_transfer"
)
