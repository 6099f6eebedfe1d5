package web

// The ids of the document's examples. They look like real ids (ULIDs); TestOpenAPI_ExamplesRun
// replaces each with the id of a matching object of its test world and runs every example.
const (
	exBrandID        = "01JNB0000000000000000BRAND"
	exEmptyBrandID   = "01JNB00000000000BRANDEMPTY" // a brand without companies (DELETE)
	exCompanyID      = "01JNB00000000000000C0MPANY"
	exEmptyCompanyID = "01JNB000000000C0MPANYEMPTY" // a company without DDIs, users or recordings (DELETE)
	exDDIID          = "01JNB000000000000000000DD1"
	exUserID         = "01JNB0000000000000000PH0NE"
	exTokenID        = "01JNB0000000000000000T0KEN" // the user's own token
	exRecordingID    = "01JNB000000000000000000REC" // an on-demand recording the user asked for, ready
	exFailedID       = "01JNB000000000000RECFA1LED" // a failed recording whose WAV was kept
)

// Example bodies: requests and replies, as JSON. The replies are what the server answers to
// the requests beside them (the test compares their shape with the real replies).
const (
	exBrandBody = `{"name":"Example Telecom","sip_domain":"pbx.example.com"}`
	exBrand     = `{"id":"` + exBrandID + `","name":"Example Telecom","sip_domain":"pbx.example.com"}`

	exBrandPatch   = `{"name":"Example Telecom Ltd"}`
	exBrandPatched = `{"id":"` + exBrandID + `","name":"Example Telecom Ltd","sip_domain":"pbx.example.com"}`

	exCompanyBody = `{"brand_id":"` + exBrandID + `","name":"Acme","on_demand":"key_dtmf","on_demand_code":"7","mask_code":"8",` +
		`"allow_recording_removal":true,"stereo":false,"retention_days":90,"quota_mb":10240,"country":"ES"}`
	exCompany = `{"id":"` + exCompanyID + `","brand_id":"` + exBrandID + `","name":"Acme","on_demand":"key_dtmf",` +
		`"on_demand_code":"7","mask_code":"8","allow_recording_removal":true,"stereo":false,"retention_days":90,"quota_mb":10240,"country":"ES","encrypt_at_rest":false}`

	exCompanyPatch   = `{"name":"Acme Ltd","stereo":true}`
	exCompanyPatched = `{"id":"` + exCompanyID + `","brand_id":"` + exBrandID + `","name":"Acme Ltd","on_demand":"key_dtmf",` +
		`"on_demand_code":"7","mask_code":"8","allow_recording_removal":true,"stereo":true,"retention_days":90,"quota_mb":10240,"country":"ES","encrypt_at_rest":false}`

	exDDIBody = `{"company_id":"` + exCompanyID + `","number":"+34911234567","record_calls":"inbound",` +
		`"announcement":"ivr/ivr-this_call_may_be_recorded.wav","consent":"notice"}`
	exDDI = `{"id":"` + exDDIID + `","company_id":"` + exCompanyID + `","number":"+34911234567","record_calls":"inbound",` +
		`"announcement":"ivr/ivr-this_call_may_be_recorded.wav","consent":"notice"}`

	exDDIPatch   = `{"record_calls":"all","announcement":"tone_stream://%(400,200,425)"}`
	exDDIPatched = `{"id":"` + exDDIID + `","company_id":"` + exCompanyID + `","number":"+34911234567","record_calls":"all",` +
		`"announcement":"tone_stream://%(400,200,425)","consent":"notice"}`

	exUserBody = `{"company_id":"` + exCompanyID + `","name":"Ana","extension":"1001","sip_user":"1001","email":"ana@example.com"}`
	exUser     = `{"id":"` + exUserID + `","company_id":"` + exCompanyID + `","name":"Ana","extension":"1001","sip_user":"1001",` +
		`"email":"ana@example.com"}`

	exUserPatch   = `{"name":"Ana García","email":"ana.garcia@example.com"}`
	exUserPatched = `{"id":"` + exUserID + `","company_id":"` + exCompanyID + `","name":"Ana García","extension":"1001",` +
		`"sip_user":"1001","email":"ana.garcia@example.com"}`

	exTokenBody = `{"name":"Ana's phone app","role":"user","user_id":"` + exUserID + `"}`
	exTokenHead = `{"id":"` + exTokenID + `","name":"Ana's phone app","role":"user","brand_id":"` + exBrandID +
		`","company_id":"` + exCompanyID + `","user_id":"` + exUserID + `","created_at":"2025-03-01T09:00:00Z",`
	exToken        = exTokenHead + `"last_used_at":"2025-03-01T09:30:00Z"}`
	exCreatedToken = exTokenHead + `"last_used_at":null,"secret":"crt_q7Vd0wG2o1yVqv3mJ6Xc9pZb8Hn4Ls5Te2Rk1Ua0Wf8"}`

	exRecording = `{"id":"` + exRecordingID + `","company_id":"` + exCompanyID + `","call_id":"6f1c2d9e-8b7a-4c3d-9e2f-1a0b3c4d5e6f",` +
		`"type":"ondemand","trigger":"key","direction":"inbound","ddi_id":"","user_id":"` + exUserID + `","recorder":"1001",` +
		`"caller":"+34600111222","callee":"+34911234567","started_at":"2025-03-01T09:02:00Z","ended_at":"2025-03-01T09:02:05Z",` +
		`"duration_ms":5000,"state":"ready","file_name":"20250301090200_ondemand-1001_+34600111222_+34911234567.mp3",` +
		`"file_size":20480,"mime":"audio/mpeg","error":"","sha256":"4ec67b2855e30b3d2fdcbf76d3f118a9d1de1113fdb8897a67d00894b7ff9dd5","integrity":""}`
	exRetried = `{"id":"` + exFailedID + `","company_id":"` + exCompanyID + `","call_id":"6f1c2d9e-8b7a-4c3d-9e2f-1a0b3c4d5e6f",` +
		`"type":"ddi","trigger":"ddi","direction":"inbound","ddi_id":"` + exDDIID + `","user_id":"","recorder":"+34911234567",` +
		`"caller":"+34600111222","callee":"+34911234567","started_at":"2025-03-01T09:02:00Z","ended_at":"2025-03-01T09:02:05Z",` +
		`"duration_ms":5000,"state":"processing","file_name":"","file_size":0,"mime":"","error":"","sha256":"","integrity":""}`

	exDataKey        = `{"id":"dk_01JNQ4Z7W3K9V2B8M6C5X1R0TA","company_id":"` + exCompanyID + `","created_at":"2025-06-01T08:00:00Z"}`
	exDataKeyRetired = `{"id":"dk_01JMB2X5S8H4N7Q3D9F6G1K0PZ","company_id":"` + exCompanyID + `","created_at":"2025-03-01T08:00:00Z","retired_at":"2025-06-01T08:00:00Z"}`

	exSigningKey = `{"algorithm":"ed25519","key_id":"3f1a9c0d2b7e4f56","public_key":"MCowBQYDK2VwAyEA","public_key_pem":"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"}`
	exLiveCall   = `{"id":"7c987d17-f093-4882-8b55-5f81cb3d49d9","company_id":"` + exCompanyID + `","direction":"inbound","caller":"+34600111222",` +
		`"callee":"+34911234567","ddi_id":"` + exDDIID + `","user_ids":["` + exUserID + `"],"started_at":"2025-03-01T09:00:00Z","masked":true,` +
		`"recordings":[{"id":"` + exRecordingID + `","type":"ddi","trigger":"ddi","started_at":"2025-03-01T09:00:01Z"}]}`
	exAuditEntry = `{"seq":1,"chain":"company:` + exCompanyID + `","at":"2025-03-02T10:00:00Z","action":"play","company_id":"` + exCompanyID +
		`","recording_id":"` + exRecordingID + `","token_id":"` + exTokenID + `","role":"user","address":"192.0.2.10",` +
		`"prev_hash":"","hash":"5f0c1d9e2b7a4c3d9e2f1a0b3c4d5e6f5f0c1d9e2b7a4c3d9e2f1a0b3c4d5e6f"}`
	exWebhookID          = "01JNB00000000000000WEBH00K"
	exWebhookBody        = `{"company_id":"` + exCompanyID + `","url":"https://crm.example.com/hooks/callrec","events":["recording.missing","recording.ready"]}`
	exWebhook            = `{"id":"` + exWebhookID + `","company_id":"` + exCompanyID + `","url":"https://crm.example.com/hooks/callrec","events":["recording.missing","recording.ready"],"active":true,"created_at":"2025-03-01T09:00:00Z","secret_hint":"…x9Qa"}`
	exWebhookInactive    = `{"id":"` + exWebhookID + `","company_id":"` + exCompanyID + `","url":"https://crm.example.com/hooks/callrec","events":["recording.missing","recording.ready"],"active":false,"created_at":"2025-03-01T09:00:00Z","secret_hint":"…x9Qa"}`
	exCreatedWebhook     = `{"id":"` + exWebhookID + `","company_id":"` + exCompanyID + `","url":"https://crm.example.com/hooks/callrec","events":["recording.missing","recording.ready"],"active":true,"created_at":"2025-03-01T09:00:00Z","secret_hint":"…x9Qa","secret":"whsec_3q9w1X0b7v5sRt2yU8pA4cE6gH1jK3mx9Qa"}`
	exPing               = `{"id":"01JNB000000000000000DELIV1","webhook_id":"` + exWebhookID + `","company_id":"` + exCompanyID + `","event":"ping","payload":{"id":"01JNB000000000000000DELIV1","type":"ping","created_at":"2025-03-01T09:05:00Z","data":{"company_id":"` + exCompanyID + `","webhook_id":"` + exWebhookID + `"}},"attempts":0,"state":"pending","next_attempt_at":"2025-03-01T09:05:00Z","last_status":0,"last_error":"","created_at":"2025-03-01T09:05:00Z","delivered_at":null}`
	exHoldID             = "01JNB0000000000000000H0LD1"
	exHoldBody           = `{"company_id":"` + exCompanyID + `","kind":"number","number":"+34699000111","reason":"claim 2025-031, customer dispute"}`
	exHold               = `{"id":"` + exHoldID + `","company_id":"` + exCompanyID + `","kind":"number","number":"+34699000111","reason":"claim 2025-031, customer dispute","created_by":"token:` + exTokenID + `","created_at":"2025-03-02T10:00:00Z"}`
	exHoldReleased       = `{"id":"` + exHoldID + `","company_id":"` + exCompanyID + `","kind":"number","number":"+34699000111","reason":"claim 2025-031, customer dispute","created_by":"token:` + exTokenID + `","created_at":"2025-03-02T10:00:00Z","released_by":"token:` + exTokenID + `","released_at":"2025-06-02T10:00:00Z"}`
	exArchiveLink        = `{"url":"/api/v1/recordings/archive/AbC123?tid=` + exTokenID + `&exp=1740823200&sig=Zk3q9w1X0b7v5sRt2yU8pA4cE6gH1jK3mN5oQ7rS9tU","expires_at":"2025-03-01T10:15:00Z","count":1,"left_out":[]}`
	exArchiveLinkLeftOut = `{"url":"/api/v1/recordings/archive/AbC123?tid=` + exTokenID + `&exp=1740823200&sig=Zk3q9w1X0b7v5sRt2yU8pA4cE6gH1jK3mN5oQ7rS9tU","expires_at":"2025-03-01T10:15:00Z","count":3,"left_out":["` + exFailedID + `"]}`
	exArchiveBody        = `{"filter":{"from":"2025-03-01T00:00:00Z","to":"2025-03-31T23:59:59Z","trigger":"key"}}`

	exLink = `{"url":"/api/v1/recordings/` + exRecordingID + `/audio?tid=` + exTokenID + `&exp=1740823200&sig=Zk3q9w1X0b7v5sRt2yU8pA4cE6gH1jK3mN5oQ7rS9tU",` +
		`"download_url":"/api/v1/recordings/` + exRecordingID + `/audio?tid=` + exTokenID + `&exp=1740823200&sig=Zk3q9w1X0b7v5sRt2yU8pA4cE6gH1jK3mN5oQ7rS9tU&download=1",` +
		`"expires_at":"2025-03-01T10:00:00Z"}`

	exOpenAPI = `{"openapi":"3.0.3","info":{"title":"callrec API","version":"1"},"paths":{},"components":{}}`
)

// exList is the example of a listing holding one item.
func exList(item string) string { return `{"items":[` + item + `],"next_cursor":""}` }
