// Package store holds callrec's domain entities (brands, companies, DDIs, users, API tokens,
// recordings, work-queue jobs), their validation, one error vocabulary (Error, E* codes) and
// their persistence in an embedded bbolt file: secondary indexes kept in the same transaction
// as the rows, newest-first cursor pages of recordings, a durable work queue for the audio
// worker, hot backup and a schema migration runner.
//
// The call path never waits on disk for a decision: DB.Rules returns an immutable in-memory
// snapshot rebuilt after every committed admin write. Call-path writes (recordings) go
// through bbolt's Batch so that many concurrent calls share one fsync.
//
// Every error returned by this package carries a code readable with ErrorCode (EINVALID with
// a Field, ENOTFOUND, ECONFLICT, ESCHEMA, EINTERNAL for anything else).
package store

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/e164"
)

// Company on-demand modes (Company.OnDemand), SPEC §2.
const (
	OnDemandDisabled = "disabled" // default: no on-demand recording
	OnDemandKey      = "key"      // Record key SIP INFO and frustrated blind transfer
	OnDemandKeyDTMF  = "key_dtmf" // also the DTMF code
)

// DDI recording modes (DDI.RecordCalls), SPEC §2.
const (
	RecordNone     = "none" // default
	RecordInbound  = "inbound"
	RecordOutbound = "outbound"
	RecordAll      = "all"
)

// Token roles (Token.Role), SPEC §1.
const (
	RolePlatform     = "platform"
	RoleBrand        = "brand"
	RoleCompanyAdmin = "company_admin"
	RoleUser         = "user"
)

// Recording types (Recording.Type).
const (
	TypeDDI      = "ddi"
	TypeOnDemand = "ondemand"
)

// Recording triggers (Recording.Trigger).
const (
	TriggerDDI      = "ddi"
	TriggerKey      = "key"
	TriggerDTMF     = "dtmf"
	TriggerTransfer = "transfer"
	TriggerAPI      = "api" // POST /calls/{id}/recording (a CRM or softphone button)
)

// Call directions (Recording.Direction).
const (
	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
	DirectionInternal = "internal"
)

// Recording states (Recording.State): recording → processing → ready | failed; discarded at any time.
const (
	StateRecording  = "recording"
	StateProcessing = "processing"
	StateReady      = "ready"
	StateFailed     = "failed"
	StateDiscarded  = "discarded"
)

// IntegrityMismatch is Recording.Integrity for an MP3 whose bytes no longer match its SHA256.
const IntegrityMismatch = "mismatch"

// Limits on free-text fields.
const (
	MaxNameLen         = 200
	MaxAnnouncementLen = dialplan.MaxAnnouncement
	MaxPartyLen        = 128     // caller, callee, recorder, call_id
	MaxRetentionDays   = 36500   // a century; larger values overflowed time arithmetic (and mean "keep": use 0)
	MaxQuotaMB         = 1 << 30 // 1 PiB
)

// Brand is a reseller: it owns companies. SIPDomain (optional, unique when set, lower case)
// is the SIP domain of the brand's users; a call's sip_from_host picks the brand with it.
type Brand struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	SIPDomain string `json:"sip_domain"`
}

// Validate reports every invalid field at once: an EINVALID error naming the first, with the
// others in its Others (InvalidFields lists them). Anyone may call it.
func (b *Brand) Validate() error {
	errs := []error{validName("name", b.Name, true)}
	if b.SIPDomain != "" && !validDomain(b.SIPDomain) {
		errs = append(errs, Invalid("sip_domain", "must be a lower-case DNS name"))
	}
	return invalidFields(errs...)
}

// Company is a customer of a brand, with its recording policy.
type Company struct {
	ID           string `json:"id"`
	BrandID      string `json:"brand_id"`
	Name         string `json:"name"`
	OnDemand     string `json:"on_demand"`
	OnDemandCode string `json:"on_demand_code"`
	// MaskCode (optional, key_dtmf companies only) is the second DTMF code: a user typing
	// "*"+MaskCode during a call masks every recording of the call (silence in the file, the
	// timeline kept: for card numbers, PCI DSS) and typing it again unmasks them.
	MaskCode              string `json:"mask_code"`
	AllowRecordingRemoval *bool  `json:"allow_recording_removal"`
	Stereo                bool   `json:"stereo"`
	RetentionDays         int    `json:"retention_days"`
	QuotaMB               int    `json:"quota_mb"`
	// Country (optional, ISO 3166 alpha-2 such as "ES") is where the company's users dial
	// national numbers: a destination valid there is an outbound call. Empty: derived from the
	// company's DDIs, else the configured default_country (see Rules.CompanyCountry).
	Country string `json:"country"`
	// EncryptAtRest seals the company's new recordings with its data key (package envelope):
	// the MP3s on disk are unreadable without callrec's master key file. Recordings made before
	// it was turned on stay as they are, and so do sealed ones when it is turned off.
	EncryptAtRest bool `json:"encrypt_at_rest"`
}

// RemovalAllowed reports AllowRecordingRemoval with its default (true when unset).
func (c *Company) RemovalAllowed() bool {
	return c.AllowRecordingRemoval == nil || *c.AllowRecordingRemoval
}

// Validate reports every invalid field at once: an EINVALID error naming the first, with the
// others in its Others (InvalidFields lists them). Anyone may call it.
func (c *Company) Validate() error {
	var errs []error
	if c.BrandID == "" {
		errs = append(errs, Invalid("brand_id", "required"))
	}
	errs = append(errs, validName("name", c.Name, true))
	switch c.OnDemand {
	case OnDemandDisabled, OnDemandKey, OnDemandKeyDTMF:
		if c.OnDemand != OnDemandDisabled && c.OnDemandCode == "" {
			errs = append(errs, Invalid("on_demand_code", "required when on_demand is not disabled"))
		}
	default:
		errs = append(errs, Invalid("on_demand", "must be one of disabled, key, key_dtmf"))
	}
	if c.OnDemandCode != "" && !reCode.MatchString(c.OnDemandCode) {
		errs = append(errs, Invalid("on_demand_code", "must be 1 to 3 digits"))
	}
	switch {
	case c.MaskCode == "":
	case !reCode.MatchString(c.MaskCode):
		errs = append(errs, Invalid("mask_code", "must be 1 to 3 digits"))
	case c.OnDemand != OnDemandKeyDTMF:
		errs = append(errs, Invalid("mask_code", "needs on_demand key_dtmf: the code is typed as DTMF"))
	case c.MaskCode == c.OnDemandCode:
		errs = append(errs, Invalid("mask_code", "must differ from on_demand_code"))
	}
	if c.RetentionDays < 0 || c.RetentionDays > MaxRetentionDays {
		errs = append(errs, Invalid("retention_days", "must be 0 (keep) to %d days", MaxRetentionDays))
	}
	if c.QuotaMB < 0 || c.QuotaMB > MaxQuotaMB {
		errs = append(errs, Invalid("quota_mb", "must be 0 (unlimited) to %d MB", MaxQuotaMB))
	}
	if c.Country != "" && !e164.ValidRegion(c.Country) {
		errs = append(errs, Invalid("country", "must be an ISO 3166 alpha-2 country code such as ES or US"))
	}
	return invalidFields(errs...)
}

// normalize fills defaults and strips a leading '*' from the code.
// Normalize trims the company's fields, drops a leading * from its codes, upper-cases its
// country and fills the defaults (on-demand disabled, removal allowed), as every store write
// does before validating (both backends call it). Anyone may call it.
func (c *Company) Normalize() {
	c.Name = strings.TrimSpace(c.Name)
	if c.OnDemand == "" {
		c.OnDemand = OnDemandDisabled
	}
	c.OnDemandCode = strings.TrimPrefix(strings.TrimSpace(c.OnDemandCode), "*")
	c.MaskCode = strings.TrimPrefix(strings.TrimSpace(c.MaskCode), "*")
	c.Country = strings.ToUpper(strings.TrimSpace(c.Country))
	if c.AllowRecordingRemoval == nil {
		t := true
		c.AllowRecordingRemoval = &t
	}
}

// DDI is a public number of a company and its automatic recording mode.
type DDI struct {
	ID           string `json:"id"`
	CompanyID    string `json:"company_id"`
	Number       string `json:"number"`
	RecordCalls  string `json:"record_calls"`
	Announcement string `json:"announcement"`
	// Consent is how callers consent to an automatic recording: ConsentNotice (the default:
	// the announcement informs, staying on the line is consent) or ConsentPress1 (the
	// announcement asks the caller to press 1, and only then is the call recorded).
	Consent string `json:"consent"`
}

// DDI consent modes (DDI.Consent).
const (
	ConsentNotice = "notice"
	ConsentPress1 = "press_1"
)

// Consent is the consent record of an automatic recording: the announcement played before it,
// when, and how the caller consented (Method: ConsentNotice by staying on the line,
// ConsentPress1 by pressing 1).
type Consent struct {
	Method       string    `json:"method"`
	Announcement string    `json:"announcement"`
	PlayedAt     time.Time `json:"played_at"`
}

// Validate reports every invalid field at once: an EINVALID error naming the first, with the
// others in its Others (InvalidFields lists them). Number must already be in
// E.164 form (CreateDDI/UpdateDDI normalise it first). Anyone may call it.
func (d *DDI) Validate() error {
	var errs []error
	if d.CompanyID == "" {
		errs = append(errs, Invalid("company_id", "required"))
	}
	switch {
	case d.Number == "":
		errs = append(errs, Invalid("number", "required"))
	case !e164.IsE164(d.Number):
		errs = append(errs, Invalid("number", "must be an E.164 number like +34911234567"))
	}
	switch d.RecordCalls {
	case RecordNone, RecordInbound, RecordOutbound, RecordAll:
	default:
		errs = append(errs, Invalid("record_calls", "must be one of none, inbound, outbound, all"))
	}
	switch d.Consent {
	case "", ConsentNotice: // "": stored before consent existed
	case ConsentPress1:
		if d.Announcement == "" {
			errs = append(errs, Invalid("consent", "press_1 needs an announcement that asks the caller to press 1"))
		}
		if d.RecordCalls == RecordOutbound || d.RecordCalls == RecordAll {
			errs = append(errs, Invalid("consent", "press_1 is asked of inbound callers only: record_calls must be inbound (or none)"))
		}
	default:
		errs = append(errs, Invalid("consent", "must be one of notice, press_1"))
	}
	return invalidFields(append(errs, validAnnouncement(d.Announcement))...)
}

// validAnnouncement checks a DDI's announcement with dialplan.CheckAnnouncement, the same check
// the call path makes, so the API never accepts one every call would then refuse. Empty means
// no announcement.
func validAnnouncement(s string) error {
	if s == "" {
		return nil
	}
	if err := dialplan.CheckAnnouncement(s); err != nil {
		return Invalid("announcement", "%s", err)
	}
	return nil
}

// User is a phone user of a company.
type User struct {
	ID        string `json:"id"`
	CompanyID string `json:"company_id"`
	Name      string `json:"name"`
	Extension string `json:"extension"`
	SIPUser   string `json:"sip_user"`
	Email     string `json:"email"`
}

// Validate reports every invalid field at once: an EINVALID error naming the first, with the
// others in its Others (InvalidFields lists them). Anyone may call it.
func (u *User) Validate() error {
	var errs []error
	if u.CompanyID == "" {
		errs = append(errs, Invalid("company_id", "required"))
	}
	errs = append(errs, validName("name", u.Name, false))
	switch {
	case u.Extension == "":
		errs = append(errs, Invalid("extension", "required"))
	case !reExtension.MatchString(u.Extension):
		errs = append(errs, Invalid("extension", "must be 2 to 10 digits"))
	}
	switch {
	case u.SIPUser == "":
		errs = append(errs, Invalid("sip_user", "required"))
	case !reSIPUser.MatchString(u.SIPUser):
		errs = append(errs, Invalid("sip_user", "must be 1 to 64 characters of A-Z a-z 0-9 _ . -"))
	}
	if u.Email != "" {
		a, err := mail.ParseAddress(u.Email)
		if err != nil || a.Address != u.Email {
			errs = append(errs, Invalid("email", "must be a plain e-mail address"))
		}
	}
	return invalidFields(errs...)
}

// Token is an API credential. Only Hash (SHA-256 of the secret) is stored; the secret is shown
// once by whoever created it. The scope ids depend on Role: brand needs BrandID; company_admin
// needs CompanyID (CreateToken fills BrandID); user needs UserID (CreateToken fills CompanyID
// and BrandID).
type Token struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	BrandID    string     `json:"brand_id"`
	CompanyID  string     `json:"company_id"`
	UserID     string     `json:"user_id"`
	Hash       []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// Validate reports the first invalid field as an EINVALID error. Anyone may call it.
func (t *Token) Validate() error {
	if err := validName("name", t.Name, false); err != nil {
		return err
	}
	switch t.Role {
	case RolePlatform:
	case RoleBrand:
		if t.BrandID == "" {
			return Invalid("brand_id", "required for role brand")
		}
	case RoleCompanyAdmin:
		if t.CompanyID == "" {
			return Invalid("company_id", "required for role company_admin")
		}
	case RoleUser:
		if t.UserID == "" {
			return Invalid("user_id", "required for role user")
		}
	default:
		return Invalid("role", "must be one of platform, brand, company_admin, user")
	}
	if len(t.Hash) != 32 {
		return Invalid("hash", "must be a SHA-256 hash (see NewTokenSecret)")
	}
	return nil
}

// Recording is one recorded stretch of a call. WAVPath and MP3Path are internal (never in JSON).
type Recording struct {
	ID         string     `json:"id"`
	CompanyID  string     `json:"company_id"`
	CallID     string     `json:"call_id"`
	Type       string     `json:"type"`
	Trigger    string     `json:"trigger"`
	Direction  string     `json:"direction"`
	DDIID      string     `json:"ddi_id"`
	UserID     string     `json:"user_id"`
	Recorder   string     `json:"recorder"`
	Caller     string     `json:"caller"`
	Callee     string     `json:"callee"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	DurationMS int64      `json:"duration_ms"`
	State      string     `json:"state"`
	FileName   string     `json:"file_name"`
	FileSize   int64      `json:"file_size"`
	MIME       string     `json:"mime"`
	Error      string     `json:"error"`
	// SHA256 is the lower-case hex SHA-256 of the MP3 as the audio worker wrote it; empty on a
	// row made ready by a version before schema 4 until the hash backfill (or its first full
	// serve) stores it.
	SHA256 string `json:"sha256"`
	// Integrity is "" while nothing is known against the file, IntegrityMismatch once a served
	// or verified MP3 no longer matched SHA256 (the file is then refused, never served).
	Integrity string `json:"integrity"`
	// Masks are the spans of the recording that are silence because a user masked the call
	// (Company.MaskCode), in the order they began.
	Masks []MaskSpan `json:"masks,omitempty"`
	// Consent is the consent record of an automatic recording made after an announcement.
	Consent *Consent `json:"consent,omitempty"`
	// EncryptionKeyID is the id of the company data key the MP3 is sealed with (encryption at
	// rest); empty for an MP3 stored in the clear.
	EncryptionKeyID string `json:"encryption_key_id,omitempty"`
	WAVPath         string `json:"-"`
	MP3Path         string `json:"-"`
	// RecordedLeg is the FreeSWITCH channel whose media bug records, RequesterLeg the leg of the
	// user who asked for an on-demand recording: esl rebuilds a call's recordings from them when
	// it re-adopts the call after a restart. Internal, like WAVPath.
	RecordedLeg  string `json:"-"`
	RequesterLeg string `json:"-"`
}

// MaskSpan is one masked span of a recording: silence in the file from OffsetMS after the
// recording's start for LengthMS. Open is true while the mask is still on (LengthMS is then 0).
type MaskSpan struct {
	OffsetMS int64 `json:"offset_ms"`
	LengthMS int64 `json:"length_ms"`
	Open     bool  `json:"open,omitempty"`
	// By is who masked it: the user id of the user who typed the code.
	By string `json:"by"`
}

// Validate reports the first invalid field as an EINVALID error. Anyone may call it.
func (r *Recording) Validate() error {
	if r.CompanyID == "" {
		return Invalid("company_id", "required")
	}
	switch r.Type {
	case TypeDDI:
		if r.Trigger != TriggerDDI {
			return Invalid("trigger", "a ddi recording has trigger ddi")
		}
	case TypeOnDemand:
		switch r.Trigger {
		case TriggerKey, TriggerDTMF, TriggerTransfer, TriggerAPI:
		default:
			return Invalid("trigger", "an ondemand recording has trigger key, dtmf, transfer or api")
		}
	default:
		return Invalid("type", "must be ddi or ondemand")
	}
	switch r.Direction {
	case DirectionInbound, DirectionOutbound, DirectionInternal:
	default:
		return Invalid("direction", "must be one of inbound, outbound, internal")
	}
	if !validState(r.State) {
		return Invalid("state", "must be one of recording, processing, ready, failed, discarded")
	}
	for _, f := range []struct{ name, v string }{{"call_id", r.CallID}, {"recorder", r.Recorder}, {"caller", r.Caller}, {"callee", r.Callee}} {
		if len(f.v) > MaxPartyLen || hasControl(f.v) {
			return Invalid(f.name, "at most %d bytes without control characters", MaxPartyLen)
		}
	}
	if r.StartedAt.IsZero() {
		return Invalid("started_at", "required")
	}
	if r.EndedAt != nil && r.EndedAt.Before(r.StartedAt) {
		return Invalid("ended_at", "before started_at")
	}
	if r.DurationMS < 0 {
		return Invalid("duration_ms", "must not be negative")
	}
	if r.FileSize < 0 {
		return Invalid("file_size", "must not be negative")
	}
	if r.SHA256 != "" && !ValidSHA256(r.SHA256) {
		return Invalid("sha256", "must be 64 lower-case hex digits")
	}
	if r.Integrity != "" && r.Integrity != IntegrityMismatch {
		return Invalid("integrity", "must be empty or %s", IntegrityMismatch)
	}
	return nil
}

// ValidSHA256 reports whether s is a SHA-256 in lower-case hex (64 digits). Anyone may call it.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// DownloadName returns the download file name `YYYYmmddHHMMSS_<type>-<recorder>_<caller>_<callee>.mp3`
// (StartedAt in UTC; characters outside [A-Za-z0-9+._-] in the parts become `_`).
func (r Recording) DownloadName() string {
	return fmt.Sprintf("%s_%s-%s_%s_%s.mp3", r.StartedAt.UTC().Format("20060102150405"),
		safePart(r.Type), safePart(r.Recorder), safePart(r.Caller), safePart(r.Callee))
}

func safePart(s string) string {
	if s == "" {
		return "unknown"
	}
	b := []byte(s)
	out := make([]byte, 0, len(b))
	for _, r := range s {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '.' || r == '_' || r == '-') {
			out = append(out, byte(r))
		} else {
			out = append(out, '_')
		}
	}
	return string(out)
}

// RecordingResult is what the audio worker reports to CompleteRecording.
type RecordingResult struct {
	MP3Path    string
	DurationMS int64
	FileSize   int64
	MIME       string // default "audio/mpeg"
	SHA256     string // lower-case hex SHA-256 of the MP3's bytes (empty: unhashed, as before schema 4)
	// EncryptionKeyID names the data key the file at MP3Path is sealed with ("" for a clear
	// MP3); FileSize and SHA256 are then of the MP3 inside, as it is served.
	EncryptionKeyID string
}

// Job is a unit of durable work for the audio worker: encode RecordingID's WAV to MP3.
type Job struct {
	ID          string    `json:"id"`
	RecordingID string    `json:"recording_id"`
	WAVPath     string    `json:"wav_path"`
	Attempts    int       `json:"attempts"`
	NotBefore   time.Time `json:"not_before"`
	LeaseUntil  time.Time `json:"lease_until"`
	LastError   string    `json:"last_error"`
}

var (
	reCode      = regexp.MustCompile(`^[0-9]{1,3}$`)
	reExtension = regexp.MustCompile(`^[0-9]{2,10}$`)
	reSIPUser   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	reLabel     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

func validState(s string) bool {
	switch s {
	case StateRecording, StateProcessing, StateReady, StateFailed, StateDiscarded:
		return true
	}
	return false
}

func validName(field, s string, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return Invalid(field, "required")
	}
	if len(s) > MaxNameLen || !utf8.ValidString(s) || hasControl(s) {
		return Invalid(field, "at most %d bytes of UTF-8 without control characters", MaxNameLen)
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return true
		}
	}
	return false
}

func validDomain(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") && s != "localhost" {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !reLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// NormalizeNumber returns raw in E.164 form using package e164 (national numbers need
// defaultCountry, e.g. "ES"). Anyone may call it; a refused number is an EINVALID error on
// field "number".
func NormalizeNumber(raw, defaultCountry string) (string, error) {
	n, err := e164.Normalize(raw, defaultCountry)
	if err != nil {
		return "", &Error{Code: EINVALID, Field: "number", Message: err.Error()}
	}
	return n, nil
}
