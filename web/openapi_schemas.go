package web

import (
	"fmt"
	"maps"
	"slices"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/esl"
	"github.com/callrec/callrec/store"
)

// The enumerated values of the document, each built from the store's (or this package's)
// constants so that a new value cannot be forgotten here; TestOpenAPI_EnumsAreTheStoresSets
// compares them with the constants the store declares.
var (
	enumRoles       = []string{store.RolePlatform, store.RoleBrand, store.RoleCompanyAdmin, store.RoleUser}
	enumOnDemand    = []string{store.OnDemandDisabled, store.OnDemandKey, store.OnDemandKeyDTMF}
	enumRecordMode  = []string{store.RecordNone, store.RecordInbound, store.RecordOutbound, store.RecordAll}
	enumRecType     = []string{store.TypeDDI, store.TypeOnDemand}
	enumTrigger     = []string{store.TriggerDDI, store.TriggerKey, store.TriggerDTMF, store.TriggerTransfer, store.TriggerAPI}
	enumConsent     = []string{store.ConsentNotice, store.ConsentPress1}
	enumAuditAction = []string{store.AuditPlay, store.AuditDownload, store.AuditArchive, store.AuditDelete, store.AuditErase,
		store.AuditRetentionRemoval, store.AuditQuotaRemoval, store.AuditSettingChange, store.AuditTokenCreated, store.AuditTokenRevoked,
		store.AuditHoldPlaced, store.AuditHoldReleased, store.AuditSubjectListed, store.AuditSubjectExported}
	enumWebhookEvent  = []string{store.EventRecordingReady, store.EventRecordingFailed, store.EventRecordingDiscarded, store.EventRecordingMissing}
	enumDeliveryState = []string{store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed}
	enumHoldKind      = []string{store.HoldRecording, store.HoldCall, store.HoldNumber, store.HoldRange}
	enumActions       = []string{esl.ActionStart, esl.ActionStop, esl.ActionPause, esl.ActionResume}
	enumDirection     = []string{store.DirectionInbound, store.DirectionOutbound, store.DirectionInternal}
	enumState         = []string{store.StateRecording, store.StateProcessing, store.StateReady, store.StateFailed, store.StateDiscarded}
	// enumErrorCode is every error.code the API answers: the store's vocabulary (ESCHEMA leaves
	// as internal, errorStatus) and the HTTP layer's own codes.
	enumErrorCode = []string{store.EINVALID, store.ENOTFOUND, store.ECONFLICT, store.EFORBIDDEN, store.EINTERNAL,
		codeUnauthorized, codeTooLarge, codeRateLimited, codeNotAllowed, codeRange, codeIntegrity, codeUnavailable}
)

// Schema building blocks. Each returns a fresh map, so a property can be changed in place.
func str() map[string]any             { return map[string]any{"type": "string"} }
func enum(v []string) map[string]any  { return map[string]any{"type": "string", "enum": v} }
func integer() map[string]any         { return map[string]any{"type": "integer"} }
func boolean() map[string]any         { return map[string]any{"type": "boolean"} }
func dateTime() map[string]any        { return map[string]any{"type": "string", "format": "date-time"} }
func ref(name string) map[string]any  { return map[string]any{"$ref": "#/components/schemas/" + name} }
func arrayOf(item any) map[string]any { return map[string]any{"type": "array", "items": item} }

// about sets the description of property s.
func about(s map[string]any, desc string) map[string]any { s["description"] = desc; return s }

// ro marks property s as set by the server (readOnly: a request never needs to carry it).
func ro(s map[string]any) map[string]any { s["readOnly"] = true; return s }

// with sets further keywords (bounds, defaults, patterns, nullable) on property s.
func with(s map[string]any, kv ...any) map[string]any {
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i].(string)] = kv[i+1]
	}
	return s
}

// object is an object schema with its required properties, described.
func object(desc string, props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "description": desc, "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// list is the schema of a listing of item (listReply).
func list(item string) map[string]any {
	return object("One page of "+item+" objects, ordered by id (which orders them by creation time)",
		map[string]any{
			"items":       about(arrayOf(ref(item)), "the page's objects, at most limit of them"),
			"next_cursor": about(str(), "the cursor parameter of the next page; empty on the last page"),
		}, "items", "next_cursor")
}

// patchOf derives the PATCH body schema of entity: the same properties without required or
// defaults (a field left out keeps its value, it is not reset to its default).
func patchOf(entity map[string]any, name string) map[string]any {
	props := map[string]any{}
	for k, v := range entity["properties"].(map[string]any) {
		p := maps.Clone(v.(map[string]any))
		delete(p, "default")
		props[k] = p
	}
	return object("The changes to a "+name+": every field is optional, and a field left out keeps its "+
		"value (the body is merged over the stored "+name+", then validated as a whole, as on create). "+
		"id is ignored.", props)
}

// Property descriptions shared by several schemas.
const (
	idDoc         = "the server-assigned id (a ULID: sorts by creation time); ignored in a request body"
	nameBoundsDoc = "at most %d bytes of UTF-8 without control characters"
)

// tokenProps are a token's properties as the API shows it (never its secret or hash).
func tokenProps() map[string]any {
	return map[string]any{
		"id":   ro(about(str(), idDoc)),
		"name": about(with(str(), "maxLength", store.MaxNameLen), "a label for people ("+fmt.Sprintf(nameBoundsDoc, store.MaxNameLen)+"; may be empty)"),
		"role": about(enum(enumRoles), "what the token may do: platform (everything), brand (one brand's companies), "+
			"company_admin (one company), user (one phone user's own on-demand recordings)"),
		"brand_id":     about(str(), "the brand of a brand, company_admin or user token; empty for platform"),
		"company_id":   about(str(), "the company of a company_admin or user token; empty otherwise"),
		"user_id":      about(str(), "the user of a user token; empty otherwise"),
		"created_at":   ro(about(dateTime(), "when the token was created (RFC 3339, UTC)")),
		"last_used_at": ro(about(with(dateTime(), "nullable", true), "when the token last authenticated a request, to within a minute; null if never")),
	}
}

// openAPISchemas are the entity schemas (SPEC §2): what each field means, its bounds, which
// fields a create must carry (required) and which the server sets (readOnly). Property sets
// equal the Go types' JSON fields (TestOpenAPI_SchemasMatchTheGoTypes).
func openAPISchemas() map[string]any {
	brand := object("A reseller: it owns companies.", map[string]any{
		"id":   ro(about(str(), idDoc)),
		"name": about(with(str(), "minLength", 1, "maxLength", store.MaxNameLen), "display name, required: "+fmt.Sprintf(nameBoundsDoc, store.MaxNameLen)+", not blank"),
		"sip_domain": about(str(), "the FreeSWITCH directory domain its phones register in (the call's sip_from_host picks the brand "+
			"by it): a lower-case DNS name, unique among brands; optional (empty: users are found by sip_user across the platform)"),
	}, "id", "name")
	company := object("A customer of a brand, with its recording policy.", map[string]any{
		"id":       ro(about(str(), idDoc)),
		"brand_id": about(str(), "the owning brand, required for a platform admin; a brand admin's own brand when left out. Fixed once created: a change is 400 (403 for a company admin)"),
		"name":     about(with(str(), "minLength", 1, "maxLength", store.MaxNameLen), "display name, required: "+fmt.Sprintf(nameBoundsDoc, store.MaxNameLen)+", not blank"),
		"on_demand": about(with(enum(enumOnDemand), "default", store.OnDemandDisabled), "on-demand recording: disabled (none), key (the phone's Record key, "+
			"a SIP INFO, and a frustrated blind transfer to the code), key_dtmf (also the DTMF code dialled during the call, which "+
			"costs a DTMF detector on every call of the company). Only brand and platform admins may change it"),
		"on_demand_code": about(with(str(), "pattern", `^(\*?[0-9]{1,3})?$`), "the code (1 to 3 digits; a leading * is accepted and dropped) dialled as *CODE "+
			"during a call or as the blind-transfer target; required when on_demand is not disabled. Only brand and platform admins may change it"),
		"mask_code": about(with(str(), "pattern", `^(\*?[0-9]{1,3})?$`), "key_dtmf only (optional): a user dialling *CODE during a call masks every "+
			"recording of the call (silence in the file, the timeline kept: for card numbers) and dialling it again unmasks them; "+
			"1 to 3 digits, not on_demand_code. Only brand and platform admins may change it"),
		"allow_recording_removal": about(with(boolean(), "default", true), "whether the company's admins may delete recordings (default true). Only brand and platform admins may change it"),
		"stereo":                  about(with(boolean(), "default", false), "record each party on its own channel (default false: mono)"),
		"retention_days": about(with(integer(), "minimum", 0, "maximum", store.MaxRetentionDays, "default", 0), fmt.Sprintf("days a recording is kept "+
			"before it is deleted: 0 (keep for ever) to %d. Only brand and platform admins may change it", store.MaxRetentionDays)),
		"quota_mb": about(with(integer(), "minimum", 0, "maximum", store.MaxQuotaMB, "default", 0), fmt.Sprintf("library space of the company's "+
			"MP3s in MiB: 0 (unlimited) to %d. Only brand and platform admins may change it", store.MaxQuotaMB)),
		"country": about(with(str(), "pattern", "^([A-Za-z]{2})?$"), "ISO 3166 alpha-2 country (such as ES) where the users dial national numbers, "+
			"stored upper case; optional (empty: the country of the company's DDIs, else the configured default_country)"),
		"encrypt_at_rest": about(with(boolean(), "default", false), "seal the company's new MP3s on disk with its data key (AES-256-GCM, the key "+
			"wrapped by callrec's master key; GET /companies/{id}/keys). Playback, downloads, archives and hashes are the same; recordings made "+
			"before it was turned on stay as they are, and sealed ones stay sealed when it is turned off. Only brand and platform admins may change it"),
	}, "id", "brand_id", "name")
	ddi := object("A public number of a company and its automatic recording mode.", map[string]any{
		"id":         ro(about(str(), idDoc)),
		"company_id": about(str(), "the owning company, required (one the caller administers). Brand and platform admins may move the DDI to another company of theirs"),
		"number": about(str(), "the number, required and unique: E.164 (+34911234567); a national number is read with the configured "+
			"default_country and stored in E.164. Only brand and platform admins may change it"),
		"record_calls": about(with(enum(enumRecordMode), "default", store.RecordNone), "which calls of this number are recorded automatically: "+
			"none (default), inbound (calls to it), outbound (calls presenting it), all"),
		"announcement": about(with(str(), "maxLength", dialplan.MaxAnnouncement), fmt.Sprintf("what the caller hears before a recorded call "+
			"(optional, empty: nothing): at most %d bytes of printable ASCII, no spaces or variables, one of a relative sound name "+
			"(ivr/ivr-this_call_may_be_recorded.wav), a path inside FreeSWITCH's sound directories, tone_stream://…, "+
			"silence_stream://MS, or file_string:// joining those with !", dialplan.MaxAnnouncement)),
		"consent": about(with(enum(enumConsent), "default", store.ConsentNotice), "how callers consent to the automatic recording: notice (default: "+
			"the announcement informs, staying on the line is consent) or press_1 (recorded only if the caller presses 1 during the "+
			"announcement or within 5 s after; needs an announcement that asks for it and record_calls inbound)"),
	}, "id", "company_id", "number")
	user := object("A phone user of a company.", map[string]any{
		"id":         ro(about(str(), idDoc)),
		"company_id": about(str(), "the user's company, required for brand and platform admins; a company admin's own company when left out. Fixed once created: a change is 400"),
		"name":       about(with(str(), "maxLength", store.MaxNameLen), "display name ("+fmt.Sprintf(nameBoundsDoc, store.MaxNameLen)+"; may be empty)"),
		"extension":  about(with(str(), "pattern", "^[0-9]{2,10}$"), "the internal number colleagues dial, required: 2 to 10 digits, unique in the company"),
		"sip_user": about(with(str(), "pattern", `^[A-Za-z0-9_.-]{1,64}$`), "the FreeSWITCH directory user the phone authenticates as, required: "+
			"1 to 64 characters of A-Z a-z 0-9 _ . -, unique in the brand (and in the platform while a brand has no sip_domain)"),
		"email": about(str(), "a plain e-mail address such as ana@example.com (optional, empty: none)"),
	}, "id", "company_id", "extension", "sip_user")
	created := tokenProps()
	created["secret"] = ro(about(str(), "the bearer secret (Authorization: Bearer SECRET), shown in this reply only: it is stored as a hash"))
	recording := object("One recorded stretch of a call. Every field is set by callrec.", map[string]any{
		"id":          about(str(), idDoc),
		"company_id":  about(str(), "the company the call belongs to"),
		"call_id":     about(str(), fmt.Sprintf("FreeSWITCH's call identifier (the channel's Unique-ID), at most %d bytes", store.MaxPartyLen)),
		"type":        about(enum(enumRecType), "ddi: recorded automatically because of a DDI's record_calls; ondemand: a user asked for it"),
		"trigger":     about(enum(enumTrigger), "what started it: ddi (type ddi), key (the Record key), dtmf (the code), transfer (a frustrated blind transfer to the code)"),
		"direction":   about(enum(enumDirection), "the call's direction: inbound (from outside), outbound (to outside), internal (between the company's phones)"),
		"ddi_id":      about(str(), "the DDI of a ddi recording; empty for on-demand ones"),
		"user_id":     about(str(), "the user who asked for an on-demand recording; empty for ddi ones"),
		"recorder":    about(str(), fmt.Sprintf("who recorded: the DDI's number or the requesting user's extension, at most %d bytes", store.MaxPartyLen)),
		"caller":      about(str(), fmt.Sprintf("the calling party: E.164 when the number is one (national numbers read with the default country), else as the call presented it (an extension, anonymous), at most %d bytes", store.MaxPartyLen)),
		"callee":      about(str(), fmt.Sprintf("the called party: E.164 when the number is one (national numbers read with the default country), else as the call presented it (an extension, anonymous), at most %d bytes", store.MaxPartyLen)),
		"started_at":  about(dateTime(), "when recording started (RFC 3339, UTC)"),
		"ended_at":    about(with(dateTime(), "nullable", true), "when recording stopped; null while it runs"),
		"duration_ms": about(with(integer(), "minimum", 0), "the length of the audio in milliseconds (0 until it is known)"),
		"state": about(enum(enumState), "recording (the call is being recorded) → processing (encoding the MP3) → ready (playable) "+
			"or failed (error says why); discarded (dropped, e.g. an empty recording) at any point"),
		"file_name": about(str(), "the download name, YYYYmmddHHMMSS_<type>-<recorder>_<caller>_<callee>.mp3 (UTC); empty until ready"),
		"file_size": about(with(integer(), "minimum", 0), "the MP3's size in bytes (0 until ready)"),
		"mime":      about(str(), "the audio's media type, audio/mpeg once ready; empty before"),
		"error":     about(str(), "why a failed or discarded recording has no audio, in plain words; empty otherwise"),
		"sha256": about(with(str(), "pattern", "^([0-9a-f]{64})?$"), "hex SHA-256 of the MP3 as the audio worker wrote it (empty until an "+
			"older recording is hashed); full audio responses carry it as Repr-Digest, archives in their signed manifest.json"),
		"encryption_key_id": about(str(), "the id of the company data key the MP3 is sealed with on disk (encrypt_at_rest); absent for an MP3 stored in the clear"),
		"integrity":         about(enum([]string{"", store.IntegrityMismatch}), "mismatch: the file no longer matches sha256 and is not served (409 integrity_mismatch); empty otherwise"),
		"masks": about(arrayOf(object("A masked span: silence in the file.", map[string]any{
			"offset_ms": about(with(integer(), "minimum", 0), "where the span starts, in ms from the recording's start"),
			"length_ms": about(with(integer(), "minimum", 0), "how long it lasts (0 while still open)"),
			"open":      about(boolean(), "true while the call is still masked"),
			"by":        about(str(), "who masked: the user id of the user who dialled the mask code, or token:<id> through the API"),
		}, "offset_ms", "length_ms", "by")), "the spans masked for card numbers (mask code or POST /calls/{id}/recording pause); absent when none"),
		"consent": about(object("How the caller consented to this automatic recording.", map[string]any{
			"method":       about(enum(enumConsent), "notice: stayed on the line past the announcement; press_1: pressed 1"),
			"announcement": about(str(), "the announcement played"),
			"played_at":    about(dateTime(), "when it started playing (RFC 3339, UTC)"),
		}, "method", "announcement", "played_at"), "the consent record of a recording made after an announcement; absent otherwise"),
	}, "id", "company_id", "call_id", "type", "trigger", "direction", "ddi_id", "user_id", "recorder", "caller", "callee",
		"started_at", "ended_at", "duration_ms", "state", "file_name", "file_size", "mime", "error")
	for _, p := range recording["properties"].(map[string]any) {
		ro(p.(map[string]any))
	}
	schemas := map[string]any{
		"Brand": brand, "BrandPatch": patchOf(brand, "brand"),
		"Company": company, "CompanyPatch": patchOf(company, "company"),
		"DDI": ddi, "DDIPatch": patchOf(ddi, "DDI"),
		"User": user, "UserPatch": patchOf(user, "user"),
		"Token": object("An API credential as listed: its role and scope, never its secret.", tokenProps(),
			"id", "name", "role", "brand_id", "company_id", "user_id", "created_at", "last_used_at"),
		"CreatedToken": object("A token just created: the token and, this once, its secret.", created,
			"id", "name", "role", "brand_id", "company_id", "user_id", "created_at", "last_used_at", "secret"),
		"TokenRequest": object("The token to create. The scope field the role needs is required: brand_id for brand "+
			"(a brand admin's own brand when left out), company_id for company_admin (a company admin's own company when left "+
			"out), user_id for user; the others are filled from it. No role above the caller's own, no scope outside its tenancy.",
			map[string]any{
				"name":       about(with(str(), "maxLength", store.MaxNameLen), "a label for people ("+fmt.Sprintf(nameBoundsDoc, store.MaxNameLen)+"; may be empty)"),
				"role":       about(enum(enumRoles), "the role to grant, required: not above the caller's own"),
				"brand_id":   about(str(), "the brand of a brand token"),
				"company_id": about(str(), "the company of a company_admin token"),
				"user_id":    about(str(), "the user of a user token"),
			}, "role"),
		"Recording": recording,
		"ArchiveRequest": with(object("Exactly one of ids and filter.", map[string]any{
			"ids": about(arrayOf(str()), fmt.Sprintf("recording ids, each the caller's and ready (blank and repeated ids are ignored), at most %d by default", maxArchiveIDs)),
			"filter": about(map[string]any{"type": "object", "additionalProperties": true}, "the listing's filters by name, values as strings "+
				"(min_duration_ms may be a number): from, to, type, trigger, state (ready only), caller, callee, number, ddi_id, user_id, "+
				"company_id, min_duration_ms; every ready match in the caller's tenancy is archived"),
		}), "minProperties", 1, "maxProperties", 1),
		"ArchiveLink": object("A signed URL of a ZIP of the selection, valid until expires_at for the token that asked for it.", map[string]any{
			"url":        about(str(), "the ZIP's path with its signature, for <a download> (no Authorization header needed)"),
			"expires_at": about(dateTime(), "when the URL stops working (RFC 3339)"),
			"count":      about(integer(), "the recordings in the ZIP"),
			"left_out":   about(arrayOf(str()), "ids of selected recordings left out because they are not ready"),
		}, "url", "expires_at", "count", "left_out"),
		"BulkDeleteRequest": with(object("Exactly one of ids and filter, with dry_run optional.", map[string]any{
			"ids":     about(arrayOf(str()), fmt.Sprintf("recording ids, at most %d by default", maxArchiveIDs)),
			"filter":  about(map[string]any{"type": "object", "additionalProperties": true}, "the listing's filters by name, as in ArchiveRequest (any state)"),
			"dry_run": about(boolean(), "answer what would be deleted and refused, deleting nothing"),
		}), "minProperties", 1, "maxProperties", 2),
		"BulkDeleteReply": object("What was deleted and what was refused, each refusal with the answer a single DELETE of it gives.", map[string]any{
			"deleted": about(arrayOf(str()), "ids deleted (with dry_run: that would be)"),
			"refused": about(arrayOf(object("One recording not deleted.", map[string]any{
				"id":      about(str(), "the recording id as given"),
				"status":  about(integer(), "404 outside the tenancy or missing, 403 removal not allowed, 409 still running"),
				"code":    about(enum(enumErrorCode), "the error code of that answer"),
				"message": about(str(), "the plain reason"),
			}, "id", "status", "code", "message")), "the recordings not deleted"),
			"dry_run": about(boolean(), "true when nothing was deleted"),
		}, "deleted", "refused"),
		"SigningKey": object("The archive signing key's public half: verify manifest.json.sig (base64 Ed25519 over manifest.json's exact bytes) with it.", map[string]any{
			"algorithm":      about(enum([]string{"ed25519"}), "the signature algorithm"),
			"key_id":         about(str(), "the first 8 bytes of the public key's SHA-256, hex; manifest.json names it"),
			"public_key":     about(str(), "the raw 32-byte public key, base64"),
			"public_key_pem": about(str(), "the same as a PEM SubjectPublicKeyInfo (for openssl)"),
		}, "algorithm", "key_id", "public_key", "public_key_pem"),
		"SubjectRequest": object("Whose recordings.", map[string]any{
			"number":     about(str(), "the person's phone number, required: international or national form (read with the company's country)"),
			"company_id": about(str(), "the company, required for brand and platform admins; a company admin's own company when left out"),
			"dry_run":    about(boolean(), "erase: answer what would be erased and refused, erasing nothing"),
			"ids":        about(arrayOf(str()), "erase (optional): only these of the person's recordings, e.g. the ones a dry run listed; an id that is not one of them is ignored"),
		}, "number"),
		"SubjectList": object("A person's recordings in the company, newest first.", map[string]any{
			"number": about(str(), "the number, E.164"),
			"items":  about(arrayOf(ref("Recording")), "every recording where it is exactly the caller, callee or recorder, any state"),
		}, "number", "items"),
		"SubjectErasure": object("What an erasure did.", map[string]any{
			"number": about(str(), "the number, E.164"),
			"erased": about(arrayOf(str()), "ids erased (with dry_run: that would be)"),
			"refused": about(arrayOf(object("One recording not erased.", map[string]any{
				"id":      about(str(), "the recording"),
				"status":  about(integer(), "409 on legal hold (the message names it) or still running, 403 the company does not allow removal"),
				"code":    about(enum(enumErrorCode), "the error code"),
				"message": about(str(), "the plain reason"),
			}, "id", "status", "code", "message")), "the recordings kept"),
			"dry_run": about(boolean(), "true when nothing was erased"),
		}, "number", "erased", "refused"),
		"AuditEntry": object("One entry of the audit log.", map[string]any{
			"seq":          about(with(integer(), "minimum", 1), "its place in the chain, from 1"),
			"chain":        about(str(), "the tenancy's chain: company:<id>, brand:<id> or platform"),
			"at":           about(dateTime(), "when (RFC 3339, UTC)"),
			"action":       about(enum(enumAuditAction), "what was done"),
			"brand_id":     about(str(), "the brand, for brand-level entries"),
			"company_id":   about(str(), "the company"),
			"recording_id": about(str(), "the recording it touched, if one"),
			"target":       about(str(), "what else it is about: company:<id>, ddi:<id>, token:<id>, hold:<id>"),
			"detail":       about(str(), "short and plain: the fields changed (names only), a reason; never audio, a number or a secret"),
			"token_id":     about(str(), "the token that did it (empty for callrec's own sweeps)"),
			"role":         about(str(), "the token's role, or callrec for its own sweeps"),
			"address":      about(str(), "the client's address"),
			"prev_hash":    about(str(), "the hash of the entry before it in the chain (empty for the first)"),
			"hash":         about(str(), "SHA-256 (hex) over prev_hash and this entry's JSON with hash empty"),
		}, "seq", "chain", "at", "action", "role", "prev_hash", "hash"),
		"AuditList": object("One page of a chain, newest first.", map[string]any{
			"items":       about(arrayOf(ref("AuditEntry")), "the entries"),
			"next_cursor": about(str(), "the cursor parameter of the next (older) page; empty on the last"),
		}, "items", "next_cursor"),
		"AuditVerification": object("The outcome of checking a chain.", map[string]any{
			"chain":     about(str(), "the chain checked"),
			"entries":   about(with(integer(), "minimum", 0), "entries found in order"),
			"ok":        about(boolean(), "every link and hash holds and the chain reaches its head"),
			"broken_at": about(integer(), "the first entry missing, altered or out of place (absent when ok)"),
			"problem":   about(str(), "what is wrong there (absent when ok)"),
		}, "chain", "entries", "ok"),
		"Webhook":        webhookSchema(false),
		"CreatedWebhook": webhookSchema(true),
		"WebhookList":    list("Webhook"),
		"WebhookRequest": object("A webhook to create.", map[string]any{
			"company_id": about(str(), "the company, required for brand and platform admins; a company admin's own when left out"),
			"url":        about(str(), "where deliveries are POSTed: https (http only when the configuration allows), never a private or loopback host"),
			"events":     about(arrayOf(enum(enumWebhookEvent)), "the events it receives; empty: all"),
			"active":     about(with(boolean(), "default", true), "false: nothing is delivered (default true)"),
		}, "company_id", "url"),
		"WebhookPatch": object("The changes to a webhook: every field is optional and a field left out is kept.", map[string]any{
			"url":    about(str(), "as in WebhookRequest"),
			"events": about(arrayOf(enum(enumWebhookEvent)), "as in WebhookRequest"),
			"active": about(boolean(), "as in WebhookRequest"),
		}),
		"Delivery": object("One delivery of an event to a webhook, with its attempts so far.", map[string]any{
			"id":              about(str(), "the delivery's id, also its Callrec-Delivery header (receivers drop duplicates by it: delivery is at least once)"),
			"webhook_id":      about(str(), "the webhook"),
			"company_id":      about(str(), "the company"),
			"event":           about(enum(append(slices.Clone(enumWebhookEvent), store.EventPing)), "what happened"),
			"recording_id":    about(str(), "the recording, for recording.ready / failed / discarded"),
			"call_id":         about(str(), "the call, for recording.missing"),
			"payload":         about(map[string]any{"type": "object", "additionalProperties": true}, "the JSON body POSTed: id, type, created_at, data"),
			"attempts":        about(with(integer(), "minimum", 0), "attempts made"),
			"state":           about(enum(enumDeliveryState), "pending (queued or retrying), delivered (a 2xx), failed (after the last attempt)"),
			"next_attempt_at": about(with(dateTime(), "nullable", true), "when the next attempt is due; null once delivered or failed"),
			"last_status":     about(integer(), "the last answer's HTTP status (0: none, e.g. a connection error)"),
			"last_error":      about(str(), "why the last attempt failed, short"),
			"created_at":      about(dateTime(), "when the event happened"),
			"delivered_at":    about(with(dateTime(), "nullable", true), "when a 2xx came; null before"),
		}, "id", "webhook_id", "company_id", "event", "payload", "attempts", "state", "created_at"),
		"DeliveryList": list("Delivery"),
		"Hold": object("A legal hold: while active, the recordings it covers survive retention, quota and deletion (409 naming it).", map[string]any{
			"id":           ro(about(str(), idDoc)),
			"company_id":   ro(about(str(), "the company whose recordings it holds")),
			"kind":         ro(about(enum(enumHoldKind), "recording, call (every recording of the call), number (every recording where it is the caller, callee or recorder), range (every recording started in [from, to))")),
			"recording_id": ro(about(str(), "kind recording: the recording")),
			"call_id":      ro(about(str(), "kind call: the recordings' call_id")),
			"number":       ro(about(str(), "kind number: the phone number, E.164")),
			"from":         ro(about(dateTime(), "kind range: from (inclusive)")),
			"to":           ro(about(dateTime(), "kind range: to (exclusive)")),
			"reason":       ro(about(str(), "why: a case or matter reference")),
			"created_by":   ro(about(str(), "token:<id> of who placed it")),
			"created_at":   ro(about(dateTime(), "when it was placed")),
			"released_by":  ro(about(str(), "token:<id> of who released it; absent while active")),
			"released_at":  ro(about(dateTime(), "when it was released; absent while active")),
		}, "id", "company_id", "kind", "reason", "created_by", "created_at"),
		"HoldList": list("Hold"),
		"DataKey": object("A company data key (encryption at rest): only its id and dates; the key itself never leaves callrec.", map[string]any{
			"id":         ro(about(str(), "the key id, dk_ and a ULID; a sealed recording names it in encryption_key_id")),
			"company_id": ro(about(str(), "the company whose recordings it seals")),
			"created_at": ro(about(dateTime(), "when it was made")),
			"retired_at": ro(about(dateTime(), "when a newer key replaced it: it seals nothing new but still opens what it sealed; absent for the current key")),
		}, "id", "company_id", "created_at"),
		"DataKeyList": object("A company's data keys, oldest first: the current one (no retired_at) last.", map[string]any{
			"items":           about(arrayOf(ref("DataKey")), "every data key of the company; empty before its first sealed recording"),
			"encrypt_at_rest": about(boolean(), "the company's setting: whether new recordings are sealed"),
		}, "items", "encrypt_at_rest"),
		"MasterRotation": object("The outcome of a master key rotation.", map[string]any{
			"master_key_id": about(str(), "the new current master key's id (mk_…), in DATA/master.key"),
			"rewrapped":     about(integer(), "how many data keys were rewrapped with it"),
		}, "master_key_id", "rewrapped"),
		"HoldRequest": object("What to hold and why.", map[string]any{
			"company_id":   about(str(), "the company, required for brand and platform admins; a company admin's own company when left out"),
			"kind":         about(enum(enumHoldKind), "recording, call, number or range"),
			"recording_id": about(str(), "kind recording: one of the company's recordings"),
			"call_id":      about(str(), "kind call: a call_id of the company's recordings"),
			"number":       about(str(), "kind number: a complete phone number, international or national form (read with the company's country)"),
			"from":         about(dateTime(), "kind range: from (inclusive, RFC 3339)"),
			"to":           about(dateTime(), "kind range: to (exclusive, after from)"),
			"reason":       about(with(str(), "minLength", 1, "maxLength", store.MaxHoldReason), "why, required: a case or matter reference, one line"),
		}, "company_id", "kind", "reason"),
		"LiveCall": object("A call callrec follows now.", map[string]any{
			"id":         about(str(), "the call's id for POST /calls/{id}/recording (its controlled FreeSWITCH channel)"),
			"company_id": about(str(), "the call's company"),
			"direction":  about(enum(enumDirection), "inbound, outbound or internal"),
			"caller":     about(str(), "the calling party"),
			"callee":     about(str(), "the called party"),
			"ddi_id":     about(str(), "the DDI of the call, when it has one"),
			"user_ids":   about(arrayOf(str()), "the platform users on the call's legs"),
			"started_at": about(dateTime(), "when callrec took the call"),
			"masked":     about(boolean(), "the call's recordings are paused (masked: silence, timeline kept)"),
			"recordings": about(arrayOf(object("A recording running on the call.", map[string]any{
				"id":         about(str(), "the recording (GET /recordings/{id})"),
				"type":       about(enum(enumRecType), "ddi or ondemand"),
				"trigger":    about(enum(enumTrigger), "what started it"),
				"user_id":    about(str(), "the user who asked for an on-demand recording"),
				"started_at": about(dateTime(), "when it started"),
			}, "id", "type", "trigger", "started_at")), "the recordings running now"),
		}, "id", "company_id", "direction", "caller", "callee", "user_ids", "started_at", "masked", "recordings"),
		"LiveCallList": object("The live calls in the caller's tenancy, oldest first (not paged: what runs now).", map[string]any{
			"items": about(arrayOf(ref("LiveCall")), "the calls"),
		}, "items"),
		"CallRecordingRequest": object("What to do with the call's recording.", map[string]any{
			"action": about(enum(enumActions), "start: an on-demand recording of the user (trigger api); stop: the user's on-demand recordings "+
				"(never a DDI recording); pause / resume: mask / unmask every recording of the call"),
			"user_id": about(str(), "whose recording start and stop act on (admins; a user token always acts on its own; empty: the call's first user)"),
		}, "action"),
		"Link": object("Signed audio URLs: they work without an Authorization header until expires_at and die with the token.", map[string]any{
			"url":          about(str(), "the audio path with its signature, for an <audio> element"),
			"download_url": about(str(), "the same with download=1: served as an attachment named file_name"),
			"expires_at":   about(dateTime(), "when both URLs stop working (RFC 3339)"),
		}, "url", "download_url", "expires_at"),
		"BrandList": list("Brand"), "CompanyList": list("Company"), "DDIList": list("DDI"), "UserList": list("User"),
		"TokenList": list("Token"), "RecordingList": list("Recording"),
		"Error": object("Every error reply.", map[string]any{
			"error": object("What went wrong.", map[string]any{
				"code":    about(enum(enumErrorCode), "the kind of error: invalid (400), unauthorized (401), forbidden (403), not_found (404), conflict (409), too_large (413), range_not_satisfiable (416), rate_limited (429), internal (500), unavailable (503: the store or the library does not answer; Retry-After), method_not_allowed (405)"),
				"message": about(str(), "a sentence safe to show to people"),
				"field":   about(str(), "the request field the error is about (invalid, conflict, forbidden), the first of fields when several failed"),
				"fields": about(arrayOf(object("One invalid field.", map[string]any{
					"field":   about(str(), "the field's JSON name"),
					"message": about(str(), "what is wrong with it (\"required\" when it is missing)"),
				}, "field", "message")), "every invalid field of the request when more than one failed validation, the first being field's: a client fixes them all at once"),
				"request_id": about(str(), "the request's id in callrec's log, on internal errors"),
			}, "code", "message"),
		}, "error"),
	}
	return schemas
}

// webhookSchema is the Webhook schema; withSecret adds the secret the create reply carries once.
func webhookSchema(withSecret bool) map[string]any {
	props := map[string]any{
		"id":          ro(about(str(), idDoc)),
		"company_id":  ro(about(str(), "the company")),
		"url":         about(str(), "where deliveries are POSTed"),
		"events":      about(arrayOf(enum(enumWebhookEvent)), "the events it receives; empty: all"),
		"active":      about(boolean(), "false: nothing is delivered"),
		"created_at":  ro(about(dateTime(), "when it was created")),
		"secret_hint": ro(about(str(), "the last characters of the signing secret, to tell secrets apart")),
	}
	desc := "A company's webhook: recording.ready, recording.failed, recording.discarded and recording.missing, POSTed signed " +
		"(Callrec-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>), retried with back-off"
	if withSecret {
		props["secret"] = ro(about(str(), "the signing secret, shown in this reply only"))
		desc += "; with its secret, shown this once"
	}
	return object(desc, props, "id", "company_id", "url", "events", "active", "created_at", "secret_hint")
}
