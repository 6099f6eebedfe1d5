package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// apiOp is one documented operation of /api/v1.
type apiOp struct {
	method, path, summary, tag string
	query                      []string // query parameter names
	body                       string   // request schema name, "" for none
	reply                      string   // 2xx reply schema name ("" = no body)
	status                     string   // success status, default "200"
	media                      string   // reply media type, default application/json
}

// apiOps lists every operation of the API; the OpenAPI document is generated from it and a test
// checks it against the app's routes both ways.
var apiOps = []apiOp{
	{method: "GET", path: "/openapi.json", summary: "This OpenAPI document (no token needed)", tag: "meta", reply: "object"},
	{method: "GET", path: "/me", summary: "The calling token: role and scope", tag: "meta", reply: "Token"},

	{method: "GET", path: "/brands", summary: "List brands (platform: all; brand admin: its own)", tag: "brands", query: []string{"limit", "cursor"}, reply: "BrandList"},
	{method: "POST", path: "/brands", summary: "Create a brand (platform admin)", tag: "brands", body: "Brand", reply: "Brand", status: "201"},
	{method: "GET", path: "/brands/{id}", summary: "Get a brand", tag: "brands", reply: "Brand"},
	{method: "PATCH", path: "/brands/{id}", summary: "Change a brand (platform admin)", tag: "brands", body: "Brand", reply: "Brand"},
	{method: "DELETE", path: "/brands/{id}", summary: "Delete a brand without companies (platform admin)", tag: "brands", status: "204"},

	{method: "GET", path: "/companies", summary: "List the companies in scope", tag: "companies", query: []string{"brand_id", "limit", "cursor"}, reply: "CompanyList"},
	{method: "POST", path: "/companies", summary: "Create a company (brand or platform admin)", tag: "companies", body: "Company", reply: "Company", status: "201"},
	{method: "GET", path: "/companies/{id}", summary: "Get a company", tag: "companies", reply: "Company"},
	{method: "PATCH", path: "/companies/{id}", summary: "Change a company (on-demand, removal, retention, quota: brand or platform admin only)", tag: "companies", body: "Company", reply: "Company"},
	{method: "DELETE", path: "/companies/{id}", summary: "Delete an empty company (brand or platform admin)", tag: "companies", status: "204"},

	{method: "GET", path: "/ddis", summary: "List the DDIs in scope (company admin and above)", tag: "ddis", query: []string{"company_id", "limit", "cursor"}, reply: "DDIList"},
	{method: "POST", path: "/ddis", summary: "Create a DDI (brand or platform admin)", tag: "ddis", body: "DDI", reply: "DDI", status: "201"},
	{method: "GET", path: "/ddis/{id}", summary: "Get a DDI", tag: "ddis", reply: "DDI"},
	{method: "PATCH", path: "/ddis/{id}", summary: "Change a DDI (company admins: record_calls and announcement)", tag: "ddis", body: "DDI", reply: "DDI"},
	{method: "DELETE", path: "/ddis/{id}", summary: "Delete a DDI (brand or platform admin)", tag: "ddis", status: "204"},

	{method: "GET", path: "/users", summary: "List the users in scope (company admin and above)", tag: "users", query: []string{"company_id", "limit", "cursor"}, reply: "UserList"},
	{method: "POST", path: "/users", summary: "Create a user", tag: "users", body: "User", reply: "User", status: "201"},
	{method: "GET", path: "/users/{id}", summary: "Get a user (a company user: itself only)", tag: "users", reply: "User"},
	{method: "PATCH", path: "/users/{id}", summary: "Change a user", tag: "users", body: "User", reply: "User"},
	{method: "DELETE", path: "/users/{id}", summary: "Delete a user and revoke its tokens", tag: "users", status: "204"},

	{method: "GET", path: "/tokens", summary: "List tokens in scope (never their secrets)", tag: "tokens", query: []string{"limit", "cursor"}, reply: "TokenList"},
	{method: "POST", path: "/tokens", summary: "Create a token; the reply carries the secret, once", tag: "tokens", body: "TokenRequest", reply: "CreatedToken", status: "201"},
	{method: "GET", path: "/tokens/{id}", summary: "Get a token", tag: "tokens", reply: "Token"},
	{method: "DELETE", path: "/tokens/{id}", summary: "Revoke a token", tag: "tokens", status: "204"},

	{method: "GET", path: "/recordings", summary: "List recordings, newest first (company users: the on-demand recordings they requested)", tag: "recordings",
		query: []string{"from", "to", "type", "trigger", "caller", "callee", "number", "ddi_id", "user_id", "company_id", "min_duration_ms", "state", "limit", "cursor"}, reply: "RecordingList"},
	{method: "GET", path: "/recordings/archive", summary: "ZIP of several ready recordings, streamed", tag: "recordings", query: []string{"ids"}, reply: "binary", media: "application/zip"},
	{method: "POST", path: "/recordings/archive", summary: "ZIP of ready recordings, streamed: the ids in the body, or every ready match of a filter (the listing's parameters)", tag: "recordings", body: "ArchiveRequest", reply: "binary", media: "application/zip"},
	{method: "GET", path: "/recordings/{id}", summary: "Get a recording", tag: "recordings", reply: "Recording"},
	{method: "DELETE", path: "/recordings/{id}", summary: "Delete a recording and its files (company admin and above, when the company allows removal)", tag: "recordings", status: "204"},
	{method: "GET", path: "/recordings/{id}/audio", summary: "The MP3: Range/206, ETag/If-None-Match, inline or attachment with ?download=1", tag: "recordings", query: []string{"download"}, reply: "binary", media: "audio/mpeg"},

	{method: "POST", path: "/recordings/{id}/retry", summary: "Queue a failed recording for encoding again, with fresh attempts (company admin and above)", tag: "recordings", reply: "Recording"},
	{method: "GET", path: "/recordings/{id}/link", summary: "Signed, short-lived URLs of the audio (for <audio> elements, which cannot send a token)", tag: "recordings", reply: "Link"},

	{method: "GET", path: "/webhooks", summary: "List the webhooks in scope (company admin and above; never their secrets)", tag: "webhooks", query: []string{"company_id", "limit", "cursor"}, reply: "WebhookList"},
	{method: "POST", path: "/webhooks", summary: "Create a webhook (company admin and above); the reply carries the signing secret, once", tag: "webhooks", body: "WebhookRequest", reply: "CreatedWebhook", status: "201"},
	{method: "GET", path: "/webhooks/{id}", summary: "Get a webhook", tag: "webhooks", reply: "Webhook"},
	{method: "PATCH", path: "/webhooks/{id}", summary: "Change a webhook's url, events or active", tag: "webhooks", body: "WebhookPatch", reply: "Webhook"},
	{method: "DELETE", path: "/webhooks/{id}", summary: "Delete a webhook and its deliveries", tag: "webhooks", status: "204"},
	{method: "GET", path: "/webhooks/{id}/deliveries", summary: "The webhook's delivery log, newest first (kept 30 days)", tag: "webhooks", query: []string{"limit", "cursor"}, reply: "DeliveryList"},
	{method: "POST", path: "/webhooks/{id}/test", summary: "Queue a ping delivery to the webhook", tag: "webhooks", reply: "Delivery", status: "202"},

	{method: "GET", path: "/backup", summary: "Hot backup of the store (platform admin)", tag: "meta", reply: "binary", media: "application/octet-stream"},
}

// queryDocs describes the query parameters used above.
var queryDocs = map[string]map[string]any{
	"limit":           {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
	"cursor":          {"type": "string", "description": "opaque; next_cursor of the previous page"},
	"from":            {"type": "string", "format": "date-time", "description": "started_at at or after (RFC 3339)"},
	"to":              {"type": "string", "format": "date-time", "description": "started_at at or before (RFC 3339)"},
	"type":            {"type": "string", "enum": []string{"ddi", "ondemand"}},
	"trigger":         {"type": "string", "enum": []string{"ddi", "key", "dtmf", "transfer"}},
	"state":           {"type": "string", "enum": []string{"recording", "processing", "ready", "failed", "discarded"}},
	"caller":          {"type": "string"},
	"callee":          {"type": "string"},
	"ddi_id":          {"type": "string"},
	"user_id":         {"type": "string"},
	"company_id":      {"type": "string"},
	"brand_id":        {"type": "string"},
	"min_duration_ms": {"type": "integer", "minimum": 0},
	"ids":             {"type": "string", "description": "comma-separated recording ids"},
	"download":        {"type": "string", "enum": []string{"1"}, "description": "1: Content-Disposition attachment with file_name"},
	"number":          {"type": "string", "example": "+34 600 333 444", "description": numberDoc},
}

// numberDoc describes the listing's number search.
const numberDoc = "number search as people type it: partial digits anywhere in the caller, callee or " +
	"recorder (600333), or a whole number in international (+34 600 333 444, 0034600333444) or national " +
	"form (read with the company's country); spaces, dots, dashes and parentheses are ignored; 3 to 15 " +
	"digits, else 400 with field number. An index walk, newest first, combined with the other filters"

func str() map[string]any                 { return map[string]any{"type": "string"} }
func enum(v ...string) map[string]any     { return map[string]any{"type": "string", "enum": v} }
func integer() map[string]any             { return map[string]any{"type": "integer"} }
func boolean() map[string]any             { return map[string]any{"type": "boolean"} }
func ref(name string) map[string]any      { return map[string]any{"$ref": "#/components/schemas/" + name} }
func obj(p map[string]any) map[string]any { return map[string]any{"type": "object", "properties": p} }
func list(item string) map[string]any {
	return obj(map[string]any{"items": map[string]any{"type": "array", "items": ref(item)}, "next_cursor": str()})
}

// openAPISchemas are the entity schemas (SPEC §2).
func openAPISchemas() map[string]any {
	token := map[string]any{"id": str(), "name": str(), "role": enum("platform", "brand", "company_admin", "user"),
		"brand_id": str(), "company_id": str(), "user_id": str(),
		"created_at": map[string]any{"type": "string", "format": "date-time"}, "last_used_at": map[string]any{"type": "string", "format": "date-time"}}
	created := map[string]any{"secret": str()}
	for k, v := range token {
		created[k] = v
	}
	return map[string]any{
		"Brand": obj(map[string]any{"id": str(), "name": str(), "sip_domain": str()}),
		"Company": obj(map[string]any{"id": str(), "brand_id": str(), "name": str(),
			"on_demand": enum("disabled", "key", "key_dtmf"), "on_demand_code": str(),
			"allow_recording_removal": boolean(), "stereo": boolean(), "retention_days": integer(), "quota_mb": integer(),
			"country": map[string]any{"type": "string", "description": "ISO 3166 alpha-2 country where the users dial national numbers (optional; empty: the country of the company's DDIs, else default_country)"}}),
		"DDI": obj(map[string]any{"id": str(), "company_id": str(), "number": str(),
			"record_calls": enum("none", "inbound", "outbound", "all"), "announcement": str()}),
		"User":         obj(map[string]any{"id": str(), "company_id": str(), "name": str(), "extension": str(), "sip_user": str(), "email": str()}),
		"Token":        obj(token),
		"CreatedToken": obj(created),
		"TokenRequest": obj(map[string]any{"name": str(), "role": enum("platform", "brand", "company_admin", "user"),
			"brand_id": str(), "company_id": str(), "user_id": str()}),
		"Recording": obj(map[string]any{"id": str(), "company_id": str(), "call_id": str(), "type": enum("ddi", "ondemand"),
			"trigger": enum("ddi", "key", "dtmf", "transfer"), "direction": enum("inbound", "outbound", "internal"),
			"ddi_id": str(), "user_id": str(), "recorder": str(), "caller": str(), "callee": str(),
			"started_at": map[string]any{"type": "string", "format": "date-time"}, "ended_at": map[string]any{"type": "string", "format": "date-time"},
			"duration_ms": integer(), "state": enum("recording", "processing", "ready", "failed", "discarded"),
			"file_name": str(), "file_size": integer(), "mime": str(), "error": str()}),
		"ArchiveRequest": obj(map[string]any{"ids": map[string]any{"type": "array", "items": str()},
			"filter": map[string]any{"type": "object", "description": "the listing's filters by name (from, to, type, trigger, state=ready, caller, callee, number, ddi_id, user_id, company_id, min_duration_ms); exactly one of ids and filter"}}),
		"Link":      obj(map[string]any{"url": str(), "download_url": str(), "expires_at": map[string]any{"type": "string", "format": "date-time"}}),
		"BrandList": list("Brand"), "CompanyList": list("Company"), "DDIList": list("DDI"), "UserList": list("User"),
		"TokenList": list("Token"), "RecordingList": list("Recording"),
		"Webhook": obj(webhookSchema), "CreatedWebhook": obj(withProps(webhookSchema, map[string]any{"secret": str()})),
		"WebhookRequest": obj(map[string]any{"company_id": str(), "url": str(), "events": webhookEvents, "active": boolean()}),
		"WebhookPatch":   obj(map[string]any{"url": str(), "events": webhookEvents, "active": boolean()}),
		"Delivery":       obj(deliverySchema), "WebhookList": list("Webhook"), "DeliveryList": list("Delivery"),
		"Error": obj(map[string]any{"error": obj(map[string]any{"code": str(), "message": str(), "field": str(), "request_id": str(),
			"fields": map[string]any{"type": "array", "description": "every invalid field of the request when more than one failed validation, the first being field's",
				"items": obj(map[string]any{"field": str(), "message": str()})}})}),
	}
}

// Webhook schemas (web/webhooks.go).
var (
	dateTime      = map[string]any{"type": "string", "format": "date-time"}
	webhookEvents = map[string]any{"type": "array", "description": "empty: every event",
		"items": enum("recording.ready", "recording.failed", "recording.discarded", "recording.missing")}
	webhookSchema = map[string]any{"id": str(), "company_id": str(), "url": str(), "events": webhookEvents, "active": boolean(),
		"created_at": dateTime, "secret_hint": map[string]any{"type": "string", "description": "last 4 characters of the signing secret"}}
	deliverySchema = map[string]any{"id": str(), "webhook_id": str(), "company_id": str(),
		"event":        enum("recording.ready", "recording.failed", "recording.discarded", "recording.missing", "ping"),
		"recording_id": str(), "call_id": str(), "payload": map[string]any{"type": "object", "description": "the JSON body POSTed"},
		"attempts": integer(), "state": enum("pending", "delivered", "failed"), "next_attempt_at": dateTime,
		"last_status": integer(), "last_error": str(), "created_at": dateTime, "delivered_at": dateTime}
)

// withProps returns a copy of a with the properties of b added.
func withProps(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// openAPIDocument builds the OpenAPI 3 document from apiOps.
func openAPIDocument() map[string]any {
	errResp := func(d string) map[string]any {
		return map[string]any{"description": d, "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	}
	paths := map[string]any{}
	for _, op := range apiOps {
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.path] = item
		}
		var params []any
		if strings.Contains(op.path, "{id}") {
			params = append(params, map[string]any{"name": "id", "in": "path", "required": true, "schema": str()})
		}
		for _, q := range op.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": queryDocs[q]})
		}
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
			if op.reply == "binary" {
				schema = map[string]any{"type": "string", "format": "binary"}
			} else if op.reply == "object" {
				schema = map[string]any{"type": "object"}
			}
			ok["content"] = map[string]any{media: map[string]any{"schema": schema}}
		}
		responses := map[string]any{status: ok,
			"400": errResp("invalid input; error.field names the field"),
			"401": errResp("missing or invalid token"),
			"403": errResp("the role may not do this"),
			"404": errResp("no such object in the caller's tenancy"),
			"429": errResp("rate limit of the token exceeded"),
		}
		if op.body != "" {
			responses["409"] = errResp("duplicate")
			responses["413"] = errResp("body too large")
		}
		if strings.HasSuffix(op.path, "/audio") {
			responses["206"] = map[string]any{"description": "the requested byte range"}
			responses["304"] = map[string]any{"description": "not modified (If-None-Match)"}
			responses["416"] = errResp("range not satisfiable")
		}
		o := map[string]any{"summary": op.summary, "tags": []string{op.tag}, "responses": responses,
			"operationId": strings.ToLower(op.method) + strings.NewReplacer("/", "_", "{", "", "}", "").Replace(op.path)}
		if params != nil {
			o["parameters"] = params
		}
		if op.body != "" {
			o["requestBody"] = map[string]any{"required": true,
				"content": map[string]any{"application/json": map[string]any{"schema": ref(op.body)}}}
		}
		if op.path == "/openapi.json" {
			o["security"] = []any{}
		}
		item[strings.ToLower(op.method)] = o
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "callrec API", "version": "1",
			"description": "Call recordings of a FreeSWITCH-based hosted PBX. Every error is {\"error\":{\"code\",\"message\",\"field\"}}."},
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
