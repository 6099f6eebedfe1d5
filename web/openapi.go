package web

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// apiOp is one documented operation of /api/v1.
type apiOp struct {
	method, path, summary, tag string
	// role is the lowest role that may call it ("" = no token needed); who says who may, in
	// words, when "role and above" is not the whole rule.
	role, who string
	// errs are the error statuses this operation answers beyond 401, 429 and 500 (which every
	// authenticated operation may answer), each with why.
	errs  map[string]string
	query []string // query parameter names
	body  string   // request schema name, "" for none
	reply string   // 2xx reply schema name ("" = no body)
	// status is the success status, default "200"; media the reply's media type, default
	// application/json.
	status, media string
	ex            opExample
}

// opExample is an operation's example: its request (path id, query values, body) and the
// reply the server gives to it. TestOpenAPI_ExamplesRun sends every one and checks the reply.
type opExample struct {
	id    string            // the {id} of the path
	query map[string]string // query parameter values
	body  string            // request body (JSON)
	reply string            // reply body (JSON), for JSON replies
	// action: the reply answers an action on the body (a selection), it does not echo it.
	action bool
	// runElsewhere names the test that sends this operation for real, when its path id is
	// minted per request (a signed handle) and so cannot be a fixed example.
	runElsewhere string
}

// Why an operation fails, for the errs of apiOps.
const (
	why400body = "the body is invalid: error.field names the first invalid field and error.fields lists every one " +
		"(\"required\" for a missing value); also for unknown fields, wrong JSON types and a body that is not one JSON object"
	why400query = "a query parameter is invalid (error.field names it)"
	why403role  = "the caller's role may not do this"
	why404      = "no such %s in the caller's tenancy: one that does not exist and another tenant's get the same answer"
	why409dup   = "a unique field is taken (error.field names it)"
)

// apiOps lists every operation of the API; the OpenAPI document is generated from it and a test
// checks it against the app's routes both ways.
var apiOps = []apiOp{
	{method: "GET", path: "/openapi.json", summary: "This OpenAPI document (no token needed)", tag: "meta", reply: "object",
		ex: opExample{reply: exOpenAPI}},
	{method: "GET", path: "/signing-key", summary: "The Ed25519 public key that signs every archive's manifest.json (no token needed): algorithm, key_id, public_key (raw, base64), public_key_pem", tag: "meta", reply: "SigningKey",
		ex: opExample{reply: exSigningKey}},
	{method: "GET", path: "/me", summary: "The calling token: role and scope", tag: "meta", reply: "Token", role: store.RoleUser,
		ex: opExample{reply: exToken}},

	{method: "GET", path: "/brands", summary: "List brands (platform: all; brand admin: its own)", tag: "brands", query: []string{"limit", "cursor"}, reply: "BrandList",
		role: store.RoleBrand, errs: map[string]string{"400": why400query, "403": why403role},
		ex: opExample{query: map[string]string{"limit": "20"}, reply: exList(exBrand)}},
	{method: "POST", path: "/brands", summary: "Create a brand (platform admin)", tag: "brands", body: "Brand", reply: "Brand", status: "201",
		role: store.RolePlatform, errs: map[string]string{"400": why400body, "403": why403role, "409": "the sip_domain belongs to another brand"},
		ex: opExample{body: exBrandBody, reply: exBrand}},
	{method: "GET", path: "/brands/{id}", summary: "Get a brand", tag: "brands", reply: "Brand",
		role: store.RoleBrand, who: "platform admins; brand admins their own brand",
		errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "brand")},
		ex:   opExample{id: exBrandID, reply: exBrand}},
	{method: "PATCH", path: "/brands/{id}", summary: "Change a brand (platform admin)", tag: "brands", body: "BrandPatch", reply: "Brand",
		role: store.RolePlatform, errs: map[string]string{"400": why400body, "403": why403role, "404": fmt.Sprintf(why404, "brand"),
			"409": "the sip_domain belongs to another brand, or clearing it would make a sip_user ambiguous"},
		ex: opExample{id: exBrandID, body: exBrandPatch, reply: exBrandPatched}},
	{method: "DELETE", path: "/brands/{id}", summary: "Delete a brand without companies (platform admin)", tag: "brands", status: "204",
		role: store.RolePlatform, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "brand"), "409": "the brand still has companies"},
		ex: opExample{id: exEmptyBrandID}},

	{method: "GET", path: "/companies", summary: "List the companies in scope", tag: "companies", query: []string{"brand_id", "limit", "cursor"}, reply: "CompanyList",
		role: store.RoleUser, who: "every role: platform admins all companies, brand admins their brand's, company admins and users their own",
		errs: map[string]string{"400": why400query},
		ex:   opExample{query: map[string]string{"limit": "20"}, reply: exList(exCompany)}},
	{method: "POST", path: "/companies", summary: "Create a company (brand or platform admin)", tag: "companies", body: "Company", reply: "Company", status: "201",
		role: store.RoleBrand, errs: map[string]string{"400": why400body + "; brand_id outside the caller's tenancy is \"no such brand\"", "403": why403role},
		ex: opExample{body: exCompanyBody, reply: exCompany}},
	{method: "GET", path: "/companies/{id}", summary: "Get a company", tag: "companies", reply: "Company",
		role: store.RoleUser, who: "every role, within its tenancy",
		errs: map[string]string{"404": fmt.Sprintf(why404, "company")},
		ex:   opExample{id: exCompanyID, reply: exCompany}},
	{method: "PATCH", path: "/companies/{id}", summary: "Change a company (on-demand, removal, retention, quota: brand or platform admin only)", tag: "companies", body: "CompanyPatch", reply: "Company",
		role: store.RoleCompanyAdmin, who: "company admins and above; a company admin may change name, stereo and country only",
		errs: map[string]string{"400": why400body, "403": why403role + ", or a company admin changed a field only brand and platform admins may change (error.field names it)",
			"404": fmt.Sprintf(why404, "company")},
		ex: opExample{id: exCompanyID, body: exCompanyPatch, reply: exCompanyPatched}},
	{method: "DELETE", path: "/companies/{id}", summary: "Delete an empty company (brand or platform admin)", tag: "companies", status: "204",
		role: store.RoleBrand, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "company"), "409": "the company still has DDIs, users or recordings"},
		ex: opExample{id: exEmptyCompanyID}},

	{method: "GET", path: "/ddis", summary: "List the DDIs in scope (company admin and above)", tag: "ddis", query: []string{"company_id", "limit", "cursor"}, reply: "DDIList",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400query, "403": why403role},
		ex: opExample{query: map[string]string{"company_id": exCompanyID}, reply: exList(exDDI)}},
	{method: "POST", path: "/ddis", summary: "Create a DDI (brand or platform admin)", tag: "ddis", body: "DDI", reply: "DDI", status: "201",
		role: store.RoleBrand, errs: map[string]string{"400": why400body + "; company_id outside the caller's tenancy is \"no such company\"", "403": why403role, "409": "the number belongs to another DDI"},
		ex: opExample{body: exDDIBody, reply: exDDI}},
	{method: "GET", path: "/ddis/{id}", summary: "Get a DDI", tag: "ddis", reply: "DDI",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "DDI")},
		ex: opExample{id: exDDIID, reply: exDDI}},
	{method: "PATCH", path: "/ddis/{id}", summary: "Change a DDI (company admins: record_calls and announcement)", tag: "ddis", body: "DDIPatch", reply: "DDI",
		role: store.RoleCompanyAdmin, who: "company admins and above; a company admin may change record_calls and announcement only",
		errs: map[string]string{"400": why400body, "403": why403role + ", or a company admin changed company_id or number (error.field names it)",
			"404": fmt.Sprintf(why404, "DDI"), "409": "the number belongs to another DDI"},
		ex: opExample{id: exDDIID, body: exDDIPatch, reply: exDDIPatched}},
	{method: "DELETE", path: "/ddis/{id}", summary: "Delete a DDI (brand or platform admin)", tag: "ddis", status: "204",
		role: store.RoleBrand, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "DDI")},
		ex: opExample{id: exDDIID}},

	{method: "GET", path: "/users", summary: "List the users in scope (company admin and above)", tag: "users", query: []string{"company_id", "limit", "cursor"}, reply: "UserList",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400query, "403": why403role},
		ex: opExample{query: map[string]string{"company_id": exCompanyID, "limit": "50"}, reply: exList(exUser)}},
	{method: "POST", path: "/users", summary: "Create a user", tag: "users", body: "User", reply: "User", status: "201",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400body + "; company_id outside the caller's tenancy is \"no such company\"", "403": why403role,
			"409": "the extension is taken in the company, or the sip_user in the brand (or in the platform while a brand has no sip_domain)"},
		ex: opExample{body: exUserBody, reply: exUser}},
	{method: "GET", path: "/users/{id}", summary: "Get a user (a company user: itself only)", tag: "users", reply: "User",
		role: store.RoleUser, who: "company admins and above; a company user itself only",
		errs: map[string]string{"403": "a company user asked for another user", "404": fmt.Sprintf(why404, "user")},
		ex:   opExample{id: exUserID, reply: exUser}},
	{method: "PATCH", path: "/users/{id}", summary: "Change a user", tag: "users", body: "UserPatch", reply: "User",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400body, "403": why403role, "404": fmt.Sprintf(why404, "user"),
			"409": "the extension is taken in the company, or the sip_user in the brand"},
		ex: opExample{id: exUserID, body: exUserPatch, reply: exUserPatched}},
	{method: "DELETE", path: "/users/{id}", summary: "Delete a user and revoke its tokens", tag: "users", status: "204",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "user")},
		ex: opExample{id: exUserID}},

	{method: "GET", path: "/tokens", summary: "List tokens in scope (never their secrets)", tag: "tokens", query: []string{"limit", "cursor"}, reply: "TokenList",
		role: store.RoleUser, who: "every role: a company user its own tokens, a company admin its company's admin and user tokens, a brand admin every token of its brand but platform ones",
		errs: map[string]string{"400": why400query},
		ex:   opExample{reply: exList(exToken)}},
	{method: "POST", path: "/tokens", summary: "Create a token; the reply carries the secret, once", tag: "tokens", body: "TokenRequest", reply: "CreatedToken", status: "201",
		role: store.RoleCompanyAdmin, who: "company admins and above, granting no role above their own, within their tenancy",
		errs: map[string]string{"400": why400body + "; a scope id outside the caller's tenancy is \"no such …\"", "403": why403role + ", or the role asked for is above the caller's own"},
		ex:   opExample{body: exTokenBody, reply: exCreatedToken}},
	{method: "GET", path: "/tokens/{id}", summary: "Get a token", tag: "tokens", reply: "Token",
		role: store.RoleUser, who: "every role, for the tokens it may list",
		errs: map[string]string{"404": fmt.Sprintf(why404, "token")},
		ex:   opExample{id: exTokenID, reply: exToken}},
	{method: "DELETE", path: "/tokens/{id}", summary: "Revoke a token", tag: "tokens", status: "204",
		role: store.RoleUser, who: "every role, for the tokens it may list (a token may revoke itself)",
		errs: map[string]string{"404": fmt.Sprintf(why404, "token")},
		ex:   opExample{id: exTokenID}},

	{method: "GET", path: "/recordings", summary: "List recordings, newest first (company users: the on-demand recordings they requested)", tag: "recordings",
		query: []string{"from", "to", "type", "trigger", "caller", "callee", "number", "ddi_id", "user_id", "company_id", "min_duration_ms", "state", "limit", "cursor"}, reply: "RecordingList",
		role: store.RoleUser, who: "every role, within its tenancy; a company user sees the on-demand recordings it requested only",
		errs: map[string]string{"400": why400query},
		ex:   opExample{query: map[string]string{"number": "600 111", "from": "2025-03-01T00:00:00Z", "limit": "20"}, reply: exList(exRecording)}},
	{method: "GET", path: "/recordings/archive", summary: "ZIP of several ready recordings, streamed", tag: "recordings", query: []string{"ids"}, reply: "binary", media: "application/zip",
		role: store.RoleUser, who: "every role, for recordings it may get",
		errs: map[string]string{"400": "ids is missing, or names more than the archive limit", "404": fmt.Sprintf(why404, "recording"),
			"409": "a recording is not ready, or its audio is missing (error.field ids)"},
		ex: opExample{query: map[string]string{"ids": exRecordingID}}},
	{method: "POST", path: "/recordings/archive", summary: "ZIP of ready recordings, streamed: the ids in the body, or every ready match of a filter (the listing's parameters)", tag: "recordings", body: "ArchiveRequest", reply: "binary", media: "application/zip",
		role: store.RoleUser, who: "every role, for recordings it may get",
		errs: map[string]string{"400": "neither or both of ids and filter, an unknown or invalid filter (error.field filter.NAME), or more recordings than the archive limit",
			"404": fmt.Sprintf(why404, "recording"), "409": "a recording is not ready, or its audio is missing"},
		ex: opExample{body: exArchiveBody}},
	{method: "POST", path: "/recordings/archive/link", summary: "Signed, short-lived URL of a ZIP (ids or a filter, as POST /recordings/archive): for <a download>, streamed to disk; what is not ready is left out and listed", tag: "recordings", body: "ArchiveRequest", reply: "ArchiveLink",
		role: store.RoleUser, who: "every role, for recordings it may get",
		errs: map[string]string{"400": "neither or both of ids and filter, an unknown or invalid filter (error.field filter.NAME), or more recordings than the archive limit",
			"404": fmt.Sprintf(why404, "recording"), "409": "none of the selected recordings is ready",
			"429": "the token holds too many outstanding archive links"},
		ex: opExample{body: exArchiveBody, reply: exArchiveLink, action: true}},
	{method: "GET", path: "/recordings/archive/{id}", summary: "The ZIP of an archive link (its signed URL; id is the link's handle)", tag: "recordings", reply: "binary", media: "application/zip",
		role: store.RoleUser, who: "the token that issued the link, through its signed URL (no Authorization header needed)",
		errs: map[string]string{"404": "no such link for this token (expired links are forgotten)", "409": "every recording of the link was deleted or is no longer ready"},
		ex:   opExample{id: "AbC123", runElsewhere: "TestArchiveLink"}},
	{method: "POST", path: "/recordings/delete", summary: "Delete several recordings (ids or a filter; company admin and above): which were deleted, which refused and why (404/403/409 as a single delete); dry_run deletes nothing", tag: "recordings", body: "BulkDeleteRequest", reply: "BulkDeleteReply",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": "neither or both of ids and filter, an invalid filter, or more recordings than the archive limit", "403": why403role},
		ex: opExample{body: `{"ids":["` + exRecordingID + `"],"dry_run":true}`, reply: `{"deleted":["` + exRecordingID + `"],"refused":[],"dry_run":true}`, action: true}},
	{method: "GET", path: "/recordings/{id}", summary: "Get a recording", tag: "recordings", reply: "Recording",
		role: store.RoleUser, who: "every role, within its tenancy; a company user the on-demand recordings it requested only",
		errs: map[string]string{"404": fmt.Sprintf(why404, "recording")},
		ex:   opExample{id: exRecordingID, reply: exRecording}},
	{method: "DELETE", path: "/recordings/{id}", summary: "Delete a recording and its files (company admin and above, when the company allows removal)", tag: "recordings", status: "204",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role + ", or the company does not allow removal (error.field allow_recording_removal)",
			"404": fmt.Sprintf(why404, "recording"), "409": "the recording is still running (error.field state)"},
		ex: opExample{id: exRecordingID}},
	{method: "GET", path: "/recordings/{id}/audio", summary: "The MP3: Range/206, ETag/If-None-Match, inline or attachment with ?download=1 (with library.presign_ttl, an inline playback of a clear MP3 kept in object storage is a 302 to a short-lived pre-signed URL of the object)", tag: "recordings", query: []string{"download"}, reply: "binary", media: "audio/mpeg",
		role: store.RoleUser, who: "every role, for recordings it may get; also without a token through a signed link (GET /recordings/{id}/link)",
		errs: map[string]string{"404": fmt.Sprintf(why404, "recording") + "; also a ready recording whose file is missing",
			"409": "the recording is not ready (error.field state), or its file no longer matches its sha256 (code integrity_mismatch)", "416": "the Range lies outside the file"},
		ex: opExample{id: exRecordingID, query: map[string]string{"download": "1"}}},

	{method: "POST", path: "/recordings/{id}/retry", summary: "Queue a failed recording for encoding again, with fresh attempts (company admin and above)", tag: "recordings", reply: "Recording",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": "the recording never had a WAV to encode (error.field wav_path)", "403": why403role,
			"404": fmt.Sprintf(why404, "recording"), "409": "the recording is not failed (error.field state)"},
		ex: opExample{id: exFailedID, reply: exRetried}},
	{method: "GET", path: "/recordings/{id}/link", summary: "Signed, short-lived URLs of the audio (for <audio> elements, which cannot send a token)", tag: "recordings", reply: "Link",
		role: store.RoleUser, who: "every role, for recordings it may get",
		errs: map[string]string{"404": fmt.Sprintf(why404, "recording")},
		ex:   opExample{id: exRecordingID, reply: exLink}},

	{method: "GET", path: "/subjects/recordings", summary: "Every recording of the company that involves one phone number (caller, callee or recorder, exactly), any state: a person's access request (GDPR art. 15)", tag: "subjects", query: []string{"number", "company_id"}, reply: "SubjectList",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": "number missing or not a complete phone number; company_id missing (brand and platform admins) or not in the tenancy", "403": why403role},
		ex: opExample{query: map[string]string{"number": "+34600111222"}, reply: `{"number":"+34600111222","items":[` + exRecording + `]}`}},
	{method: "POST", path: "/subjects/archive/link", summary: "The signed archive link (as POST /recordings/archive/link) of every ready recording of one phone number: its signed manifest lists and hashes each file", tag: "subjects", body: "SubjectRequest", reply: "ArchiveLink",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400body, "403": why403role, "409": "none of the person's recordings is ready", "429": "the token holds too many outstanding archive links"},
		ex: opExample{body: `{"number":"+34600111222"}`, reply: exArchiveLinkLeftOut, action: true}},
	{method: "POST", path: "/subjects/erase", summary: "Erase every recording of one phone number (rows, files, index entries: GDPR art. 17); a legal hold wins (409 naming it); dry_run erases nothing", tag: "subjects", body: "SubjectRequest", reply: "SubjectErasure",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400body, "403": why403role},
		ex: opExample{body: `{"number":"+34699000999","dry_run":true}`, reply: `{"number":"+34699000999","erased":[],"refused":[],"dry_run":true}`, action: true}},

	{method: "GET", path: "/audit", summary: "The audit log of a tenancy, newest first: every play, download, archive, deletion, retention or quota removal, recording setting or token change, hold and request by person, with who (token, role), when and from which address; append-only and hash-chained", tag: "audit", query: []string{"company_id", "brand_id", "limit", "cursor"}, reply: "AuditList",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400query + "; company_id or brand_id outside the tenancy reads as no such one", "403": why403role},
		ex: opExample{query: map[string]string{"limit": "20"}, reply: `{"items":[` + exAuditEntry + `],"next_cursor":""}`}},
	{method: "GET", path: "/audit/verify", summary: "Check the tenancy's audit chain from its first entry to its head: an edited, removed or inserted entry is found", tag: "audit", query: []string{"company_id", "brand_id"}, reply: "AuditVerification",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400query, "403": why403role},
		ex: opExample{reply: `{"chain":"company:` + exCompanyID + `","entries":1,"ok":true}`}},

	{method: "GET", path: "/holds", summary: "List legal holds, active and released (active=true: active only)", tag: "holds", query: []string{"company_id", "active", "limit", "cursor"}, reply: "HoldList",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400query, "403": why403role},
		ex: opExample{query: map[string]string{"active": "true"}, reply: exList(exHold)}},
	{method: "POST", path: "/holds", summary: "Put a recording, a call, a phone number or a date range of a company on legal hold", tag: "holds", body: "HoldRequest", reply: "Hold", status: "201",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400body + "; company_id or recording_id not in the caller's tenancy reads as no such one", "403": why403role},
		ex: opExample{body: exHoldBody, reply: exHold}},
	{method: "GET", path: "/holds/{id}", summary: "Get a legal hold", tag: "holds", reply: "Hold",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "hold")},
		ex: opExample{id: exHoldID, reply: exHold}},
	{method: "POST", path: "/holds/{id}/release", summary: "Release a legal hold: what it held follows retention, quota and deletion again; the hold is kept as history", tag: "holds", reply: "Hold",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "hold"), "409": "the hold was already released (error.field hold)"},
		ex: opExample{id: exHoldID, reply: exHoldReleased}},

	{method: "GET", path: "/companies/{id}/keys", summary: "The company's data keys for encryption at rest (ids and dates, never the keys)", tag: "encryption", reply: "DataKeyList",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "company")},
		ex: opExample{id: exCompanyID, reply: `{"items":[` + exDataKeyRetired + `,` + exDataKey + `],"encrypt_at_rest":true}`}},
	{method: "POST", path: "/companies/{id}/keys/rotate", summary: "Rotate the company's data key: a new key seals its recordings from now on; the old ones still open what they sealed", tag: "encryption", reply: "DataKey", status: "201",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "company")},
		ex: opExample{id: exCompanyID, reply: exDataKey}},
	{method: "POST", path: "/encryption/master/rotate", summary: "Rotate the master key: a new one in DATA/master.key rewraps every data key (no recording is rewritten); back the file up again afterwards", tag: "encryption", reply: "MasterRotation",
		role: store.RolePlatform, errs: map[string]string{"403": why403role},
		ex: opExample{reply: `{"master_key_id":"mk_3f1a9c0d2b7e4f56","rewrapped":4}`, action: true}},

	{method: "GET", path: "/calls", summary: "The live calls in the caller's tenancy with their running recordings (a company user: the calls it is on)", tag: "calls", reply: "LiveCallList",
		role: store.RoleUser, who: "every role, within its tenancy; a company user the calls it is on",
		ex: opExample{reply: `{"items":[` + exLiveCall + `]}`}},
	{method: "POST", path: "/calls/{id}/recording", summary: "Start, stop, pause or resume recording on a live call", tag: "calls", body: "CallRecordingRequest", reply: "LiveCall",
		role: store.RoleUser, who: "company admins and above on the calls of their tenancy; a company user on its own calls when its company allows on-demand recording",
		errs: map[string]string{"400": why400body, "403": "a company user whose company does not allow on-demand recording, or naming another user; start or stop where the company's on_demand is disabled",
			"404": fmt.Sprintf(why404, "live call") + " (a call that just ended too)", "409": "the action does not apply now: nothing is recording, already paused, the user is already recording, the user is not on the call"},
		ex: opExample{id: "7c987d17-f093-4882-8b55-5f81cb3d49d9", body: `{"action":"pause"}`, reply: exLiveCall, action: true}},

	{method: "GET", path: "/webhooks", summary: "List the webhooks in scope (never their secrets)", tag: "webhooks", query: []string{"company_id", "limit", "cursor"}, reply: "WebhookList",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400query, "403": why403role},
		ex: opExample{reply: exList(exWebhook)}},
	{method: "POST", path: "/webhooks", summary: "Create a webhook; the reply carries the signing secret, once", tag: "webhooks", body: "WebhookRequest", reply: "CreatedWebhook", status: "201",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400body + "; a URL that is not https (unless allowed), or names a private or loopback host", "403": why403role},
		ex: opExample{body: exWebhookBody, reply: exCreatedWebhook}},
	{method: "GET", path: "/webhooks/{id}", summary: "Get a webhook", tag: "webhooks", reply: "Webhook",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "webhook")},
		ex: opExample{id: exWebhookID, reply: exWebhook}},
	{method: "PATCH", path: "/webhooks/{id}", summary: "Change a webhook's url, events or active", tag: "webhooks", body: "WebhookPatch", reply: "Webhook",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400body, "403": why403role, "404": fmt.Sprintf(why404, "webhook")},
		ex: opExample{id: exWebhookID, body: `{"active":false}`, reply: exWebhookInactive}},
	{method: "DELETE", path: "/webhooks/{id}", summary: "Delete a webhook and its deliveries", tag: "webhooks", status: "204",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "webhook")},
		ex: opExample{id: exWebhookID}},
	{method: "GET", path: "/webhooks/{id}/deliveries", summary: "The webhook's delivery log, newest first (kept 30 days)", tag: "webhooks", query: []string{"limit", "cursor"}, reply: "DeliveryList",
		role: store.RoleCompanyAdmin, errs: map[string]string{"400": why400query, "403": why403role, "404": fmt.Sprintf(why404, "webhook")},
		ex: opExample{id: exWebhookID, reply: `{"items":[],"next_cursor":""}`}},
	{method: "POST", path: "/webhooks/{id}/test", summary: "Queue a ping delivery to the webhook (its outcome appears in the delivery log)", tag: "webhooks", reply: "Delivery", status: "202",
		role: store.RoleCompanyAdmin, errs: map[string]string{"403": why403role, "404": fmt.Sprintf(why404, "webhook")},
		ex: opExample{id: exWebhookID, reply: exPing}},

	{method: "GET", path: "/backup", summary: "Hot backup of the store (platform admin)", tag: "meta", reply: "binary", media: "application/octet-stream",
		role: store.RolePlatform, errs: map[string]string{"403": why403role}},
}

// queryDocs describes the query parameters used above.
var queryDocs = map[string]map[string]any{
	"limit":           {"type": "integer", "minimum": 1, "maximum": store.MaxListLimit, "default": store.DefaultListLimit, "description": "page size"},
	"cursor":          {"type": "string", "description": "opaque; next_cursor of the previous page"},
	"from":            {"type": "string", "format": "date-time", "description": "started_at at or after (RFC 3339)"},
	"to":              {"type": "string", "format": "date-time", "description": "started_at at or before (RFC 3339)"},
	"type":            {"type": "string", "enum": enumRecType, "description": "the recording's type"},
	"trigger":         {"type": "string", "enum": enumTrigger, "description": "what started the recording"},
	"state":           {"type": "string", "enum": enumState, "description": "the recording's state"},
	"caller":          {"type": "string", "description": "the caller, exactly as stored"},
	"callee":          {"type": "string", "description": "the callee, exactly as stored"},
	"ddi_id":          {"type": "string", "description": "recordings of this DDI"},
	"user_id":         {"type": "string", "description": "on-demand recordings requested by this user"},
	"company_id":      {"type": "string", "description": "objects of this company (one outside the caller's tenancy: an empty page)"},
	"brand_id":        {"type": "string", "description": "companies of this brand (one outside the caller's tenancy: an empty page)"},
	"min_duration_ms": {"type": "integer", "minimum": 0, "description": "recordings at least this long"},
	"ids":             {"type": "string", "description": fmt.Sprintf("comma-separated recording ids (the parameter may repeat), at most %d by default; POST takes more", maxArchiveIDs)},
	"active":          {"type": "string", "enum": []string{"true"}, "description": "true: active holds only"},
	"download":        {"type": "string", "enum": []string{"1"}, "description": "1: Content-Disposition attachment with file_name"},
	"number":          {"type": "string", "description": numberDoc},
}

// numberDoc describes the listing's number search.
const numberDoc = "number search as people type it: partial digits anywhere in the caller, callee or " +
	"recorder (600333), or a whole number in international (+34 600 333 444, 0034600333444) or national " +
	"form (read with the company's country); spaces, dots, dashes and parentheses are ignored; 3 to 15 " +
	"digits, else 400 with field number. An index walk, newest first, combined with the other filters"

// Error replies every authenticated operation may answer.
var commonErrors = map[string]string{
	"401": "the token is missing, invalid or revoked (or a signed link is invalid or expired)",
	"429": "too many requests for the token, or too many failed authentications from the address",
	"500": "an internal error: error.request_id finds it in callrec's log",
}

// mustJSON decodes an example of apiOps (a literal: a test decodes every one).
func mustJSON(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(fmt.Sprintf("openapi example %q: %v", s, err))
	}
	return v
}

// opErrors returns the error statuses op answers, with why.
func opErrors(op apiOp) map[string]string {
	out := map[string]string{}
	if op.role != "" {
		for k, v := range commonErrors {
			out[k] = v
		}
	}
	for k, v := range op.errs {
		out[k] = v
	}
	if op.body != "" {
		out["413"] = "the body is larger than the server accepts"
	}
	return out
}

// opDescription is op's description: who may call it and which errors come back.
func opDescription(op apiOp, errs map[string]string) string {
	who := op.who
	if who == "" {
		who = map[string]string{"": "anyone, without a token", store.RolePlatform: "platform admins",
			store.RoleBrand: "brand and platform admins", store.RoleCompanyAdmin: "company admins and above",
			store.RoleUser: "every role"}[op.role]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s.\n\nCallers: %s.", op.summary, who)
	codes := make([]string, 0, len(errs))
	for c := range errs {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	if len(codes) > 0 {
		b.WriteString("\n\nErrors (body: the Error schema):")
		for _, c := range codes {
			fmt.Fprintf(&b, "\n- %s: %s", c, errs[c])
		}
	}
	return b.String()
}

// opResponses returns op's responses: its success with the reply's schema and example, and its
// errors, each with the Error schema.
func opResponses(op apiOp, errs map[string]string) map[string]any {
	status := op.status
	if status == "" {
		status = "200"
	}
	ok := map[string]any{"description": "success"}
	if op.reply != "" {
		media, schema := op.media, ref(op.reply)
		if media == "" {
			media = "application/json"
		}
		switch op.reply {
		case "binary":
			schema = map[string]any{"type": "string", "format": "binary"}
		case "object":
			schema = map[string]any{"type": "object"}
		}
		content := map[string]any{"schema": schema}
		if op.ex.reply != "" {
			content["example"] = mustJSON(op.ex.reply)
		}
		ok["content"] = map[string]any{media: content}
	}
	responses := map[string]any{status: ok}
	for c, why := range errs {
		responses[c] = map[string]any{"description": why, "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	}
	if strings.HasSuffix(op.path, "/audio") {
		responses["206"] = map[string]any{"description": "the requested byte range (Range, If-Range)"}
		responses["304"] = map[string]any{"description": "not modified (If-None-Match matches the ETag)"}
	}
	return responses
}

// opParameters returns op's path and query parameters, with the example's values.
func opParameters(op apiOp) []any {
	var params []any
	if strings.Contains(op.path, "{id}") {
		p := map[string]any{"name": "id", "in": "path", "required": true, "description": "the object's id", "schema": str()}
		if op.ex.id != "" {
			p["example"] = op.ex.id
		}
		params = append(params, p)
	}
	for _, q := range op.query {
		schema := maps.Clone(queryDocs[q])
		delete(schema, "description") // the parameter's, not repeated in its schema
		p := map[string]any{"name": q, "in": "query", "schema": schema, "description": queryDocs[q]["description"]}
		if v, ok := op.ex.query[q]; ok {
			p["example"] = v
		}
		params = append(params, p)
	}
	return params
}

// openAPIDocument builds the OpenAPI 3 document from apiOps.
func openAPIDocument() map[string]any {
	paths := map[string]any{}
	for _, op := range apiOps {
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.path] = item
		}
		errs := opErrors(op)
		o := map[string]any{"summary": op.summary, "description": opDescription(op, errs), "tags": []string{op.tag},
			"responses":   opResponses(op, errs),
			"operationId": strings.ToLower(op.method) + strings.NewReplacer("/", "_", "{", "", "}", "").Replace(op.path)}
		if params := opParameters(op); params != nil {
			o["parameters"] = params
		}
		if op.body != "" {
			content := map[string]any{"schema": ref(op.body)}
			if op.ex.body != "" {
				content["example"] = mustJSON(op.ex.body)
			}
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": content}}
		}
		if op.role == "" {
			o["security"] = []any{}
		}
		item[strings.ToLower(op.method)] = o
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "callrec API", "version": "1",
			"description": "Call recordings of a FreeSWITCH-based hosted PBX. Every error is {\"error\":{\"code\",\"message\",\"field\",\"fields\"}} " +
				"(the Error schema). Ids of another tenant's objects answer 404, like ids that do not exist. A create's required fields are " +
				"each schema's required properties that are not readOnly; PATCH bodies (the …Patch schemas) make every field optional."},
		"servers":    []any{map[string]any{"url": "/api/v1"}},
		"security":   []any{map[string]any{"bearer": []any{}}},
		"paths":      paths,
		"components": map[string]any{"schemas": openAPISchemas(), "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
	}
}

// openAPI serves the document (public: it describes, it reveals no data).
func (s *Server) openAPI(c *fiber.Ctx) error {
	return c.JSON(openAPIDocument())
}
