package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl"
	"github.com/callrec/callrec/store"
)

// servedDoc fetches GET /api/v1/openapi.json from a running server and decodes it.
func servedDoc(t *testing.T, s *Server) map[string]any {
	t.Helper()
	resp, b := newClient(t, s, "").do("GET", "/api/v1/openapi.json", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("openapi.json: %d %s", resp.StatusCode, b)
	}
	var doc map[string]any
	must(t, json.Unmarshal(b, &doc))
	return doc
}

func docSchemas(doc map[string]any) map[string]any {
	return doc["components"].(map[string]any)["schemas"].(map[string]any)
}

// docOp returns the document's operation of op.
func docOp(t *testing.T, doc map[string]any, op apiOp) map[string]any {
	t.Helper()
	item, _ := doc["paths"].(map[string]any)[op.path].(map[string]any)
	o, _ := item[strings.ToLower(op.method)].(map[string]any)
	if o == nil {
		t.Fatalf("%s %s is not in the document", op.method, op.path)
	}
	return o
}

// ---- a validator for the subset of JSON Schema the document uses ----

// schemaCheck validates JSON values against the document's schemas: $ref, type, nullable,
// enum, required, properties (an undocumented property is an error unless the schema allows
// additionalProperties or declares none), items, pattern, minLength, maxLength, minimum,
// maximum and format date-time. request: readOnly properties are neither required nor
// allowed (a request body), else they are required like the others (a reply).
type schemaCheck struct {
	schemas map[string]any
	request bool
	errs    []string
}

func (c *schemaCheck) fail(path, format string, args ...any) {
	c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
}

func (c *schemaCheck) resolve(s map[string]any) map[string]any {
	for s["$ref"] != nil {
		name := strings.TrimPrefix(s["$ref"].(string), "#/components/schemas/")
		next, ok := c.schemas[name].(map[string]any)
		if !ok {
			c.fail("$ref", "no schema %q", name)
			return map[string]any{}
		}
		s = next
	}
	return s
}

func (c *schemaCheck) check(path string, s map[string]any, v any) {
	s = c.resolve(s)
	if v == nil {
		if s["nullable"] != true {
			c.fail(path, "null, and the schema is not nullable")
		}
		return
	}
	switch typ, _ := s["type"].(string); typ {
	case "object":
		o, ok := v.(map[string]any)
		if !ok {
			c.fail(path, "%T, want an object", v)
			return
		}
		c.checkObject(path, s, o)
	case "array":
		a, ok := v.([]any)
		if !ok {
			c.fail(path, "%T, want an array", v)
			return
		}
		items, _ := s["items"].(map[string]any)
		for i, e := range a {
			c.check(fmt.Sprintf("%s[%d]", path, i), items, e)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			c.fail(path, "%T, want a string", v)
			return
		}
		c.checkString(path, s, str)
	case "integer", "number":
		n, ok := v.(float64)
		if !ok || typ == "integer" && n != float64(int64(n)) {
			c.fail(path, "%v, want an %s", v, typ)
			return
		}
		if min, ok := s["minimum"].(float64); ok && n < min {
			c.fail(path, "%v below the minimum %v", n, min)
		}
		if max, ok := s["maximum"].(float64); ok && n > max {
			c.fail(path, "%v above the maximum %v", n, max)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			c.fail(path, "%T, want a boolean", v)
		}
	default:
		c.fail(path, "schema without a known type: %v", s)
	}
}

func (c *schemaCheck) checkObject(path string, s map[string]any, o map[string]any) {
	if n, ok := s["minProperties"].(float64); ok && float64(len(o)) < n {
		c.fail(path, "%d properties, at least %v required", len(o), n)
	}
	if n, ok := s["maxProperties"].(float64); ok && float64(len(o)) > n {
		c.fail(path, "%d properties, at most %v allowed", len(o), n)
	}
	props, _ := s["properties"].(map[string]any)
	required, _ := s["required"].([]any)
	for _, r := range required {
		name := r.(string)
		p, _ := props[name].(map[string]any)
		if c.request && p["readOnly"] == true {
			continue
		}
		if _, ok := o[name]; !ok {
			c.fail(path, "required property %q is missing", name)
		}
	}
	for k, v := range o {
		p, ok := props[k].(map[string]any)
		switch {
		case ok && c.request && p["readOnly"] == true:
			c.fail(path+"."+k, "readOnly property in a request")
		case ok:
			c.check(path+"."+k, p, v)
		case props != nil && s["additionalProperties"] != true:
			c.fail(path+"."+k, "property not in the schema")
		}
	}
}

func (c *schemaCheck) checkString(path string, s map[string]any, v string) {
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, any(v)) {
		c.fail(path, "%q is not one of %v", v, e)
	}
	if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
		c.fail(path, "%q does not match %s", v, p)
	}
	if n, ok := s["minLength"].(float64); ok && float64(len([]rune(v))) < n {
		c.fail(path, "%q shorter than %v", v, n)
	}
	if n, ok := s["maxLength"].(float64); ok && float64(len([]rune(v))) > n {
		c.fail(path, "%q longer than %v", v, n)
	}
	if s["format"] == "date-time" {
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			c.fail(path, "%q is not an RFC 3339 date-time", v)
		}
	}
}

// validate returns why v does not satisfy schema s of doc (nil when it does).
func validate(doc map[string]any, s map[string]any, v any, request bool) []string {
	c := &schemaCheck{schemas: docSchemas(doc), request: request}
	c.check("$", s, v)
	return c.errs
}

// TestSchemaCheck_RefusesWhatItShould: the validator the example tests rely on finds each kind
// of mismatch (a validator that accepts everything would make them pass for nothing).
func TestSchemaCheck_RefusesWhatItShould(t *testing.T) {
	doc := map[string]any{"components": map[string]any{"schemas": map[string]any{
		"T": map[string]any{"type": "object", "required": []any{"id", "n"}, "properties": map[string]any{
			"id":   map[string]any{"type": "string", "readOnly": true},
			"n":    map[string]any{"type": "integer", "minimum": 1.0, "maximum": 3.0},
			"e":    map[string]any{"type": "string", "enum": []any{"a", "b"}},
			"p":    map[string]any{"type": "string", "pattern": "^[0-9]{2}$"},
			"at":   map[string]any{"type": "string", "format": "date-time", "nullable": true},
			"list": map[string]any{"type": "array", "items": map[string]any{"type": "boolean"}},
		}},
		"OneOf": map[string]any{"type": "object", "minProperties": 1.0, "maxProperties": 1.0, "properties": map[string]any{
			"a": map[string]any{"type": "integer"}, "b": map[string]any{"type": "integer"}}},
	}}}
	for _, tc := range []struct {
		v  string
		ok bool
	}{{`{"a":1}`, true}, {`{}`, false}, {`{"a":1,"b":2}`, false}} {
		if errs := validate(doc, ref("OneOf"), mustJSON(tc.v), true); (len(errs) == 0) != tc.ok {
			t.Errorf("min/maxProperties: %s: errors %v, want ok=%v", tc.v, errs, tc.ok)
		}
	}
	schemaT := ref("T")
	for _, tc := range []struct {
		name    string
		v       string
		request bool
		ok      bool
	}{
		{"valid reply", `{"id":"x","n":2,"e":"a","p":"12","at":null,"list":[true]}`, false, true},
		{"valid request", `{"n":3}`, true, true},
		{"missing required", `{"id":"x"}`, false, false},
		{"readOnly required in a reply", `{"n":1}`, false, false},
		{"readOnly in a request", `{"id":"x","n":1}`, true, false},
		{"enum", `{"id":"x","n":1,"e":"c"}`, false, false},
		{"pattern", `{"id":"x","n":1,"p":"123"}`, false, false},
		{"integer", `{"id":"x","n":1.5}`, false, false},
		{"maximum", `{"id":"x","n":4}`, false, false},
		{"type", `{"id":1,"n":1}`, false, false},
		{"date-time", `{"id":"x","n":1,"at":"yesterday"}`, false, false},
		{"items", `{"id":"x","n":1,"list":["yes"]}`, false, false},
		{"undocumented", `{"id":"x","n":1,"extra":true}`, false, false},
		{"not nullable", `{"id":null,"n":1}`, false, false},
	} {
		errs := validate(doc, schemaT, mustJSON(tc.v), tc.request)
		if (len(errs) == 0) != tc.ok {
			t.Errorf("%s: %s: errors %v, want ok=%v", tc.name, tc.v, errs, tc.ok)
		}
	}
}

// ---- the schemas against the Go types ----

// openAPITypes maps each schema of the document to the Go type the API encodes or decodes.
var openAPITypes = map[string]reflect.Type{
	"Brand": reflect.TypeFor[store.Brand](), "BrandPatch": reflect.TypeFor[store.Brand](),
	"Company": reflect.TypeFor[store.Company](), "CompanyPatch": reflect.TypeFor[store.Company](),
	"DDI": reflect.TypeFor[store.DDI](), "DDIPatch": reflect.TypeFor[store.DDI](),
	"User": reflect.TypeFor[store.User](), "UserPatch": reflect.TypeFor[store.User](),
	"Token": reflect.TypeFor[store.Token](), "CreatedToken": reflect.TypeFor[createdToken](),
	"TokenRequest": reflect.TypeFor[tokenRequest](), "Recording": reflect.TypeFor[store.Recording](),
	"ArchiveRequest": reflect.TypeFor[archiveRequest](), "Link": reflect.TypeFor[linkReply](),
	"ArchiveLink": reflect.TypeFor[archiveLinkReply](), "BulkDeleteRequest": reflect.TypeFor[bulkDeleteRequest](),
	"BulkDeleteReply": reflect.TypeFor[bulkDeleteReply](), "SigningKey": reflect.TypeFor[signingKeyReply](),
	"LiveCall": reflect.TypeFor[esl.LiveCall](), "LiveCallList": reflect.TypeFor[liveCallList](),
	"CallRecordingRequest": reflect.TypeFor[callRecordingRequest](),
	"SubjectRequest":       reflect.TypeFor[subjectRequest](), "SubjectList": reflect.TypeFor[subjectReply](), "SubjectErasure": reflect.TypeFor[subjectErasure](),
	"AuditEntry": reflect.TypeFor[store.AuditEntry](), "AuditList": reflect.TypeFor[auditReply](), "AuditVerification": reflect.TypeFor[store.AuditVerification](),
	"Webhook": reflect.TypeFor[store.Webhook](), "CreatedWebhook": reflect.TypeFor[createdWebhook](), "WebhookList": reflect.TypeFor[listReply[*store.Webhook]](),
	"WebhookRequest": reflect.TypeFor[webhookRequest](), "WebhookPatch": reflect.TypeFor[webhookPatch](), "Delivery": reflect.TypeFor[store.Delivery](), "DeliveryList": reflect.TypeFor[listReply[*store.Delivery]](),
	"Hold": reflect.TypeFor[store.Hold](), "HoldRequest": reflect.TypeFor[holdRequest](), "HoldList": reflect.TypeFor[listReply[*store.Hold]](),
	"DataKey": reflect.TypeFor[store.DataKey](), "DataKeyList": reflect.TypeFor[dataKeyList](), "MasterRotation": reflect.TypeFor[masterRotation](),
	"Error":     reflect.TypeFor[errorBody](),
	"BrandList": reflect.TypeFor[listReply[*store.Brand]](), "CompanyList": reflect.TypeFor[listReply[*store.Company]](),
	"DDIList": reflect.TypeFor[listReply[*store.DDI]](), "UserList": reflect.TypeFor[listReply[*store.User]](),
	"TokenList": reflect.TypeFor[listReply[*store.Token]](), "RecordingList": reflect.TypeFor[recordingsReply](),
}

// jsonFields returns the JSON fields of struct type t (embedded structs flattened, "-" left out).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			for k, v := range jsonFields(ft) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// compareType checks schema s against Go type t at path: same JSON kind, and for structs the
// same property set, recursively; every property must have a description.
func compareType(t *testing.T, c *schemaCheck, path string, s map[string]any, gt reflect.Type) {
	t.Helper()
	s = c.resolve(s)
	for gt.Kind() == reflect.Pointer {
		gt = gt.Elem()
	}
	want := map[reflect.Kind]string{reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer", reflect.Int64: "integer", reflect.Uint64: "integer",
		reflect.Slice: "array", reflect.Struct: "object", reflect.Map: "object"}[gt.Kind()]
	if gt == reflect.TypeFor[json.RawMessage]() {
		if s["type"] != "object" {
			t.Errorf("%s: raw JSON documented as %v, want object", path, s["type"])
		}
		return // a JSON document of its own (a webhook's payload)
	}
	if gt == reflect.TypeFor[time.Time]() {
		want = "string"
		if s["format"] != "date-time" {
			t.Errorf("%s: a time without format date-time", path)
		}
	}
	if s["type"] != want {
		t.Errorf("%s: schema type %v, Go type %s (want %q)", path, s["type"], gt, want)
		return
	}
	switch {
	case gt.Kind() == reflect.Slice:
		compareType(t, c, path+"[]", s["items"].(map[string]any), gt.Elem())
	case gt.Kind() == reflect.Struct && want == "object":
		props, _ := s["properties"].(map[string]any)
		fields := jsonFields(gt)
		for name, ft := range fields {
			p, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s: JSON field %q of %s is not in the schema", path, name, gt)
				continue
			}
			if desc, _ := p["description"].(string); strings.TrimSpace(desc) == "" {
				t.Errorf("%s.%s: no description", path, name)
			}
			compareType(t, c, path+"."+name, p, ft)
		}
		for name := range props {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s: schema property %q is no JSON field of %s", path, name, gt)
			}
		}
		if desc, _ := s["description"].(string); desc == "" {
			t.Errorf("%s: object schema without a description", path)
		}
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := props[r.(string)]; !ok {
				t.Errorf("%s: required %q is not a property", path, r)
			}
		}
	}
}

// TestOpenAPI_SchemasMatchTheGoTypes: every JSON field of the Go types the API returns or
// accepts appears in its schema and vice versa, recursively, with a matching type and a
// description; no schema is left unchecked.
func TestOpenAPI_SchemasMatchTheGoTypes(t *testing.T) {
	doc := servedDoc(t, MustServe(t, MustOpenStore(t)))
	c := &schemaCheck{schemas: docSchemas(doc)}
	for name := range c.schemas {
		gt, ok := openAPITypes[name]
		if !ok {
			t.Errorf("schema %s has no Go type in openAPITypes: add it", name)
			continue
		}
		compareType(t, c, name, c.schemas[name].(map[string]any), gt)
	}
	for name := range openAPITypes {
		if c.schemas[name] == nil {
			t.Errorf("schema %s is missing from the document", name)
		}
	}
	for name, s := range c.schemas {
		if !strings.HasSuffix(name, "Patch") {
			continue
		}
		if s.(map[string]any)["required"] != nil {
			t.Errorf("%s: a PATCH body requires nothing", name)
		}
	}
}

// ---- enums against the store's constants ----

// declaredConsts returns the string constants declared in the non-test Go files of dir.
func declaredConsts(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	must(t, err)
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		must(t, err)
		for _, decl := range af.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, err := strconv.Unquote(lit.Value)
							must(t, err)
							out[n.Name] = v
						}
					}
				}
			}
		}
	}
	return out
}

// constSet returns the values of the constants whose name matches re.
func constSet(consts map[string]string, re string, except ...string) []string {
	var out []string
	for n, v := range consts {
		if regexp.MustCompile(re).MatchString(n) && !slices.Contains(except, n) {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// docEnums returns every enum of the document by where it is: "Schema.prop[.prop…]" for
// schema properties (Patch schemas under their entity's name) and "query.NAME" for parameters.
func docEnums(doc map[string]any) map[string][]string {
	out := map[string][]string{}
	var walk func(at string, s map[string]any)
	walk = func(at string, s map[string]any) {
		if e, ok := s["enum"].([]any); ok {
			var vs []string
			for _, v := range e {
				vs = append(vs, v.(string))
			}
			sort.Strings(vs)
			out[at] = vs
		}
		if props, ok := s["properties"].(map[string]any); ok {
			for k, p := range props {
				walk(at+"."+k, p.(map[string]any))
			}
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(at+"[]", items)
		}
	}
	for name, s := range docSchemas(doc) {
		walk(strings.TrimSuffix(name, "Patch"), s.(map[string]any))
	}
	for _, item := range doc["paths"].(map[string]any) {
		for _, o := range item.(map[string]any) {
			params, _ := o.(map[string]any)["parameters"].([]any)
			for _, p := range params {
				p := p.(map[string]any)
				walk(p["in"].(string)+"."+p["name"].(string), p["schema"].(map[string]any))
			}
		}
	}
	return out
}

// TestOpenAPI_EnumsAreTheStoresSets: every enumerated field of the document lists exactly the
// values the store (or, for error codes, the HTTP layer) declares as constants, read from the
// source: a constant added there and forgotten here fails, and so does an enum nobody mapped.
func TestOpenAPI_EnumsAreTheStoresSets(t *testing.T) {
	sc, wc := declaredConsts(t, "../store"), declaredConsts(t, ".")
	sets := map[string]string{ // where → constant names (regexp)
		"Company.on_demand": `^OnDemand[A-Z]`, "DDI.record_calls": `^Record[A-Z]`,
		"Token.role": `^Role[A-Z]`, "CreatedToken.role": `^Role[A-Z]`, "TokenRequest.role": `^Role[A-Z]`,
		"Recording.type": `^Type[A-Z]`, "Recording.trigger": `^Trigger[A-Z]`, "Recording.direction": `^Direction[A-Z]`,
		"Recording.state": `^State[A-Z]`, "query.type": `^Type[A-Z]`, "query.trigger": `^Trigger[A-Z]`, "query.state": `^State[A-Z]`,
	}
	want := map[string][]string{
		// ESCHEMA never leaves the server as such: errorStatus answers it as internal.
		"Error.error.code": append(constSet(sc, `^E[A-Z]+$`, "ESCHEMA"), constSet(wc, `^code[A-Z]`)...),
		"query.download":   {"1"}, // not a store value: the flag's one value
		"Webhook.events[]": constSet(sc, `^EventRecording[A-Z]`), "CreatedWebhook.events[]": constSet(sc, `^EventRecording[A-Z]`),
		"WebhookRequest.events[]":       constSet(sc, `^EventRecording[A-Z]`),
		"Delivery.event":                constSet(sc, `^Event[A-Z]`),
		"Delivery.state":                constSet(sc, `^Delivery[A-Z][a-z]+$`),
		"AuditEntry.action":             constSet(sc, `^Audit[A-Z][a-zA-Z]+$`),
		"SubjectErasure.refused[].code": append(constSet(sc, `^E[A-Z]+$`, "ESCHEMA"), constSet(wc, `^code[A-Z]`)...),
		"Hold.kind":                     constSet(sc, `^Hold[A-Z][a-z]+$`), "HoldRequest.kind": constSet(sc, `^Hold[A-Z][a-z]+$`),
		"query.active": {"true"},
		"DDI.consent":  constSet(sc, `^Consent[A-Z]`), "Recording.consent.method": constSet(sc, `^Consent[A-Z]`),
		"LiveCall.direction": constSet(sc, `^Direction[A-Z]`), "LiveCall.recordings[].type": constSet(sc, `^Type[A-Z]`),
		"LiveCall.recordings[].trigger":  constSet(sc, `^Trigger[A-Z]`),
		"CallRecordingRequest.action":    constSet(declaredConsts(t, "../esl"), `^Action[A-Z]`),
		"SigningKey.algorithm":           {"ed25519"}, // the one algorithm web/integrity.go signs with
		"Recording.integrity":            append([]string{""}, constSet(sc, `^IntegrityMismatch$`)...),
		"BulkDeleteReply.refused[].code": append(constSet(sc, `^E[A-Z]+$`, "ESCHEMA"), constSet(wc, `^code[A-Z]`)...),
	}
	for where, re := range sets {
		want[where] = constSet(sc, re)
	}
	for k := range want {
		sort.Strings(want[k])
	}
	got := docEnums(servedDoc(t, MustServe(t, MustOpenStore(t))))
	for where, vs := range got {
		w, ok := want[where]
		if !ok {
			t.Errorf("enum %s %v is not mapped to the store's constants in this test", where, vs)
			continue
		}
		if !slices.Equal(vs, w) {
			t.Errorf("enum %s = %v, the constants declare %v", where, vs, w)
		}
	}
	for where := range want {
		if _, ok := got[where]; !ok {
			t.Errorf("%s has no enum in the document", where)
		}
	}
}

// ---- operations: descriptions, errors, examples ----

// TestOpenAPI_EveryOperationIsDescribedWithAnExample: every operation says who may call it and
// which errors come back (each with the Error schema), and has an example: the path id, a
// request body where it takes one and a reply where it answers JSON, the bodies valid against
// their schemas.
func TestOpenAPI_EveryOperationIsDescribedWithAnExample(t *testing.T) {
	doc := servedDoc(t, MustServe(t, MustOpenStore(t)))
	for _, op := range apiOps {
		name := op.method + " " + op.path
		o := docOp(t, doc, op)
		desc, _ := o["description"].(string)
		if !strings.Contains(desc, "Callers: ") {
			t.Errorf("%s: the description does not say who may call it: %q", name, desc)
		}
		responses := o["responses"].(map[string]any)
		for status, r := range responses {
			r := r.(map[string]any)
			if status[0] != '4' && status[0] != '5' {
				continue
			}
			s, _ := r["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
			if s["$ref"] != "#/components/schemas/Error" {
				t.Errorf("%s: error %s does not answer the Error schema", name, status)
			}
			if !strings.Contains(desc, "- "+status+": ") {
				t.Errorf("%s: error %s is not in the description", name, status)
			}
		}
		if op.role != "" {
			for _, s := range []string{"401", "429"} {
				if responses[s] == nil {
					t.Errorf("%s: an authenticated operation without %s", name, s)
				}
			}
		}
		if op.role != "" && op.role != store.RoleUser && responses["403"] == nil {
			t.Errorf("%s: callable by %s and above only, yet no 403", name, op.role)
		}
		if strings.Contains(op.path, "{id}") && responses["404"] == nil {
			t.Errorf("%s: an id in the path, yet no 404", name)
		}
		if op.body != "" && responses["400"] == nil {
			t.Errorf("%s: a body, yet no 400", name)
		}
		for _, p := range opParameters(op) {
			p := p.(map[string]any)
			if p["in"] == "path" && p["example"] == nil {
				t.Errorf("%s: no example for path parameter %v", name, p["name"])
			}
			if d, _ := p["description"].(string); d == "" {
				t.Errorf("%s: parameter %v without a description", name, p["name"])
			}
		}
		if op.body != "" {
			content := o["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)
			if ex, ok := content["example"]; !ok {
				t.Errorf("%s: no request example", name)
			} else if errs := validate(doc, content["schema"].(map[string]any), ex, true); errs != nil {
				t.Errorf("%s: the request example does not fit its schema: %v", name, errs)
			}
		}
		if op.reply != "" && op.reply != "binary" {
			ok := responses[cmp.Or(op.status, "200")].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)
			if ex, has := ok["example"]; !has {
				t.Errorf("%s: no reply example", name)
			} else if errs := validate(doc, ok["schema"].(map[string]any), ex, false); errs != nil {
				t.Errorf("%s: the reply example does not fit its schema: %v", name, errs)
			}
		}
		if op.role == "" && op.path != "/openapi.json" && op.path != "/signing-key" {
			t.Errorf("%s: documented as callable without a token", name)
		}
	}
}

// exampleWorld is a test world with the objects the examples name, and the replacer from the
// examples' ids to theirs.
type exampleWorld struct {
	*world
	ids *strings.Replacer
}

// newExampleWorld builds the test world (newWorld) and the objects some examples need: an
// empty brand and an empty company to delete, and a failed recording whose WAV was kept.
func newExampleWorld(t *testing.T) *exampleWorld {
	t.Helper()
	ctx := context.Background()
	calls := &fakeCalls{}
	w := newWorld(t, func(s *Server) { s.Calls = calls })
	a1 := w.co("A1")
	calls.calls = []esl.LiveCall{{ID: "7c987d17-f093-4882-8b55-5f81cb3d49d9", CompanyID: a1.co.ID, Direction: store.DirectionInbound,
		Caller: "+34600111222", Callee: a1.ddi.Number, DDIID: a1.ddi.ID, UserIDs: []string{a1.user.ID}, StartedAt: time.Now(), Masked: true,
		Recordings: []esl.LiveRecording{{ID: a1.recDDI.ID, Type: store.TypeDDI, Trigger: store.TriggerDDI, StartedAt: time.Now()}}}}
	a1.co.EncryptAtRest = true // two data keys: one retired by a rotation, one current
	must(t, w.db.UpdateCompany(ctx, a1.co))
	for range 2 {
		if _, err := w.srv.Keys.Rotate(ctx, a1.co.ID); err != nil {
			t.Fatal(err)
		}
	}
	emptyBrand := &store.Brand{Name: "Brand Empty"}
	must(t, w.db.CreateBrand(ctx, emptyBrand))
	emptyCo := &store.Company{BrandID: a1.brand.ID, Name: "Company Empty"}
	must(t, w.db.CreateCompany(ctx, emptyCo))
	failed := &store.Recording{CompanyID: a1.co.ID, CallID: "call-f", Type: store.TypeDDI, Trigger: store.TriggerDDI, DDIID: a1.ddi.ID,
		Direction: store.DirectionInbound, Recorder: a1.ddi.Number, Caller: "+34600111222", Callee: a1.ddi.Number, StartedAt: time.Now().Add(-time.Hour)}
	must(t, w.db.CreateRecording(ctx, failed))
	must(t, w.db.FinishRecording(ctx, failed.ID, time.Now(), 1000, filepath.Join(w.dir, failed.ID+".wav")))
	must(t, w.db.FailRecording(ctx, failed.ID, "the library storage is unavailable"))
	toks, err := w.db.Tokens(ctx, store.TokenFilter{UserID: a1.user.ID})
	must(t, err)
	if len(toks) != 1 {
		t.Fatalf("user A1 has %d tokens, want 1", len(toks))
	}
	must(t, w.db.AppendAudit(ctx, &store.AuditEntry{Action: store.AuditPlay, CompanyID: a1.co.ID, RecordingID: a1.recOwn.ID,
		TokenID: toks[0].ID, Role: store.RoleUser, Address: "192.0.2.10"}))
	hook := &store.Webhook{CompanyID: a1.co.ID, URL: "https://crm.example.com/hooks/callrec", Events: []string{store.EventRecordingReady, store.EventRecordingMissing}, Active: true}
	if _, err := w.db.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	hold := &store.Hold{CompanyID: a1.co.ID, Kind: store.HoldNumber, Number: "+34699000111", Reason: "claim 2025-031, customer dispute"}
	must(t, w.db.PlaceHold(ctx, hold, "token:"+toks[0].ID))
	return &exampleWorld{world: w, ids: strings.NewReplacer(
		exBrandID, a1.brand.ID, exEmptyBrandID, emptyBrand.ID, exCompanyID, a1.co.ID, exEmptyCompanyID, emptyCo.ID,
		exDDIID, a1.ddi.ID, exUserID, a1.user.ID, exTokenID, toks[0].ID, exRecordingID, a1.recOwn.ID, exFailedID, failed.ID, exHoldID, hold.ID, exWebhookID, hook.ID)}
}

// exampleActor is the caller an operation's example runs as: the lowest role allowed, of
// company A1 (whose objects the examples name).
func (w *exampleWorld) exampleActor(role string) string {
	a1 := w.co("A1")
	switch role {
	case store.RolePlatform:
		return w.platform
	case store.RoleBrand:
		return w.brandTok["A"]
	case store.RoleCompanyAdmin:
		return a1.adminTok
	case store.RoleUser:
		return a1.userTok
	}
	return ""
}

// exampleRequest returns the method, URL path and body of op's documented example, with the
// world's ids.
func (w *exampleWorld) exampleRequest(t *testing.T, doc map[string]any, op apiOp) (path string, body any) {
	t.Helper()
	o := docOp(t, doc, op)
	path = "/api/v1" + op.path
	q := url.Values{}
	params, _ := o["parameters"].([]any)
	for _, p := range params {
		p := p.(map[string]any)
		ex, ok := p["example"].(string)
		if !ok {
			continue
		}
		ex = w.ids.Replace(ex)
		if p["in"] == "path" {
			path = strings.Replace(path, "{"+p["name"].(string)+"}", ex, 1)
		} else {
			q.Set(p["name"].(string), ex)
		}
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if rb, ok := o["requestBody"].(map[string]any); ok {
		ex := rb["content"].(map[string]any)["application/json"].(map[string]any)["example"]
		b, err := json.Marshal(ex)
		must(t, err)
		body = w.ids.Replace(string(b))
	}
	return path, body
}

// sameShape reports where got (a real reply) and want (the documented example) differ in
// shape: an object's keys (both ways, or only want's within got when subset), a value's JSON
// kind (null matches anything), arrays by their first elements.
func sameShape(path string, want, got any, subset bool) []string {
	if want == nil || got == nil {
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, the example has an object", path, got)}
		}
		var out []string
		for k, v := range w {
			if gv, ok := g[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: in the example, not in the reply", path, k))
			} else {
				out = append(out, sameShape(path+"."+k, v, gv, subset)...)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok && !subset {
				out = append(out, fmt.Sprintf("%s.%s: in the reply, not in the example", path, k))
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, the example has an array", path, got)}
		}
		if len(w) == 0 || len(g) == 0 {
			if len(w) != len(g) {
				return []string{fmt.Sprintf("%s: %d items in the reply, %d in the example", path, len(g), len(w))}
			}
			return nil
		}
		return sameShape(path+"[0]", w[0], g[0], subset)
	}
	if reflect.TypeOf(want) != reflect.TypeOf(got) {
		return []string{fmt.Sprintf("%s: %T in the reply, %T in the example", path, got, want)}
	}
	return nil
}

// echoed checks that reply carries every top-level value of the request body it answers (a
// create or change shows what it stored): the example pairs must agree, and so must the server.
func echoed(t *testing.T, what string, body, reply any) {
	t.Helper()
	r, _ := reply.(map[string]any)
	for k, v := range body.(map[string]any) {
		if !reflect.DeepEqual(r[k], v) {
			t.Errorf("%s has %s = %v, the request %v", what, k, r[k], v)
		}
	}
}

// TestOpenAPI_ExamplesRun: every operation's documented example, sent to a fresh test world
// with the world's ids (a token of the lowest role the operation names, of the company the
// ids belong to), answers the documented success status and a reply valid against the
// documented schema and shaped like the documented reply example. Then every other caller of
// the world sends the same example: each answer is a documented status, no role below the
// documented lowest one succeeds, and a caller of the other brand gets 404 for an id in the path.
func TestOpenAPI_ExamplesRun(t *testing.T) {
	for _, op := range apiOps {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			if op.ex.runElsewhere != "" {
				t.Logf("sent for real by %s (its id is minted per request)", op.ex.runElsewhere)
				return
			}
			t.Parallel() // each its own world; building one mostly waits for the store's batches
			w := newExampleWorld(t)
			doc := servedDoc(t, w.srv)
			responses := docOp(t, doc, op)["responses"].(map[string]any)
			path, body := w.exampleRequest(t, doc, op)
			success := cmp.Or(op.status, "200")

			resp, b := newClient(t, w.srv, w.exampleActor(op.role)).do(op.method, path, body)
			if strconv.Itoa(resp.StatusCode) != success {
				t.Fatalf("%s %s as %q: %d %s, documented %s", op.method, path, cmp.Or(op.role, "anyone"), resp.StatusCode, b, success)
			}
			switch {
			case op.reply == "binary":
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, op.media) || len(b) == 0 {
					t.Errorf("reply %q, %d bytes; documented %s", ct, len(b), op.media)
				}
			case op.reply != "":
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("reply %q, documented application/json", ct)
				}
				ok := responses[success].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)
				var got any
				must(t, json.Unmarshal(b, &got))
				if errs := validate(doc, ok["schema"].(map[string]any), got, false); errs != nil {
					t.Errorf("the reply does not fit the documented schema: %v\n%s", errs, b)
				}
				if diff := sameShape("$", ok["example"], got, op.reply == "object"); diff != nil {
					t.Errorf("the documented reply example is not shaped like the reply: %v\n%s", diff, b)
				}
				if body != nil && !op.ex.action {
					echoed(t, "the documented reply example", mustJSON(w.ids.Replace(op.ex.body)), mustJSON(w.ids.Replace(op.ex.reply)))
					echoed(t, "the reply", mustJSON(body.(string)), got)
				}
			}

			actors := w.actors()
			sort.SliceStable(actors, func(i, j int) bool { return rank(actors[i].role) < rank(actors[j].role) })
			for _, a := range actors {
				resp, b := newClient(t, w.srv, a.token).do(op.method, path, body)
				status := strconv.Itoa(resp.StatusCode)
				if resp.StatusCode >= 400 {
					if errs := validate(doc, ref("Error"), mustJSON(string(b)), false); errs != nil {
						t.Errorf("%s: %s does not fit the Error schema: %v\n%s", a.name, status, errs, b)
					}
				}
				switch {
				case responses[status] == nil:
					t.Errorf("%s: %s, not documented: %s", a.name, status, b)
				case status[0] == '2' && rank(a.role) < rank(op.role):
					t.Errorf("%s: %s, yet the lowest documented role is %s", a.name, status, op.role)
				case strings.Contains(op.path, "{id}") && a.brand == "B" && status != "404":
					t.Errorf("%s of the other brand: %s, want 404: %s", a.name, status, b)
				}
			}
		})
	}
}

// TestOpenAPI_RequiredIsWhatACreateNeeds: for every create, the example without one of the
// schema's required (not readOnly) properties answers 400 naming it, and the example cut
// down to the required properties creates (201); a required list that names too little or too
// much fails. Sent by the platform admin, who must carry every scope id itself.
func TestOpenAPI_RequiredIsWhatACreateNeeds(t *testing.T) {
	// Required only with some values of another field (their schema says when): the cut-down
	// example keeps them.
	conditional := map[string][]string{"TokenRequest": {"user_id"}, "HoldRequest": {"recording_id", "call_id", "number", "from", "to"}}
	w := newExampleWorld(t)
	doc := servedDoc(t, w.srv)
	platform := newClient(t, w.srv, w.platform)
	for _, op := range apiOps {
		if op.method != "POST" || op.body == "" || op.status != "201" {
			continue
		}
		t.Run(op.body, func(t *testing.T) {
			s := docSchemas(doc)[op.body].(map[string]any)
			props := s["properties"].(map[string]any)
			var required []string
			listed, _ := s["required"].([]any)
			for _, r := range listed {
				if props[r.(string)].(map[string]any)["readOnly"] != true {
					required = append(required, r.(string))
				}
			}
			if len(required) == 0 {
				t.Fatalf("%s requires nothing", op.body)
			}
			_, body := w.exampleRequest(t, doc, op)
			var ex map[string]any
			must(t, json.Unmarshal([]byte(body.(string)), &ex))
			for _, r := range required {
				without := maps.Clone(ex)
				delete(without, r)
				resp, b := platform.do("POST", "/api/v1"+op.path, without)
				if resp.StatusCode != 400 {
					t.Errorf("without %s: %d %s, want 400", r, resp.StatusCode, b)
					continue
				}
				if errs := validate(doc, ref("Error"), mustJSON(string(b)), false); errs != nil {
					t.Errorf("without %s: the 400 does not fit the Error schema: %v\n%s", r, errs, b)
				}
				e := apiErr(t, b)
				named := e.Field == r
				for _, f := range e.Fields {
					named = named || f.Field == r
				}
				if !named {
					t.Errorf("without %s: the 400 does not name it: %s", r, b)
				}
			}
			minimal := map[string]any{}
			for _, r := range append(required, conditional[op.body]...) {
				minimal[r] = ex[r]
			}
			if resp, b := platform.do("POST", "/api/v1"+op.path, minimal); resp.StatusCode != 201 {
				t.Errorf("only the required %v: %d %s, want 201", required, resp.StatusCode, b)
			}
		})
	}
}

// TestOpenAPI_PatternsAgreeWithTheStore: the document's patterns are the store's rules: a value
// the store accepts matches, and (for the patterns that are the whole rule) a value it refuses
// does not. Values go through the store's create, which normalises them first as the API does.
func TestOpenAPI_PatternsAgreeWithTheStore(t *testing.T) {
	ctx := context.Background()
	db := MustOpenStore(t)
	b := &store.Brand{Name: "B", SIPDomain: "pbx.example.com"}
	must(t, db.CreateBrand(ctx, b))
	co := &store.Company{BrandID: b.ID, Name: "C"}
	must(t, db.CreateCompany(ctx, co))
	n := 0
	accepts := map[string]func(v string) error{
		"Company.on_demand_code": func(v string) error {
			return db.CreateCompany(ctx, &store.Company{BrandID: b.ID, Name: "C", OnDemand: store.OnDemandKeyDTMF, OnDemandCode: v})
		},
		"Company.country": func(v string) error {
			return db.CreateCompany(ctx, &store.Company{BrandID: b.ID, Name: "C", Country: v})
		},
		"User.extension": func(v string) error {
			n++
			return db.CreateUser(ctx, &store.User{CompanyID: co.ID, Extension: v, SIPUser: fmt.Sprintf("u%d", n)})
		},
		"User.sip_user": func(v string) error {
			n++
			return db.CreateUser(ctx, &store.User{CompanyID: co.ID, Extension: fmt.Sprintf("%d", 100+n), SIPUser: v})
		},
	}
	// exact: the pattern is the store's whole rule (country's is not: it does not know which
	// two letters are countries).
	exact := map[string]bool{"Company.on_demand_code": true, "User.extension": true, "User.sip_user": true}
	samples := map[string][]string{
		"Company.on_demand_code": {"7", "*7", "123", "*123", "1234", "a", "**7", "7*"},
		"Company.country":        {"ES", "es", "XX", "ESP", "E"},
		"User.extension":         {"1", "10", "1234567890", "12345678901", "1a", "+34"},
		"User.sip_user":          {"a", "A.b-c_9", strings.Repeat("x", 64), strings.Repeat("y", 65), "a b", "ñ", "a@b"},
	}
	schemas := docSchemas(servedDoc(t, MustServe(t, MustOpenStore(t))))
	for where, vs := range samples {
		schema, prop, _ := strings.Cut(where, ".")
		p := schemas[schema].(map[string]any)["properties"].(map[string]any)[prop].(map[string]any)
		re := regexp.MustCompile(p["pattern"].(string))
		for _, v := range vs {
			err := accepts[where](v)
			refused := false
			for _, f := range store.InvalidFields(err) {
				refused = refused || f.Field == prop
			}
			if err != nil && !refused {
				t.Fatalf("%s %q: %v (not about the field)", where, v, err)
			}
			switch matches := re.MatchString(v); {
			case !refused && !matches:
				t.Errorf("%s: the store accepts %q, the pattern %s refuses it", where, v, re)
			case refused && matches && exact[where]:
				t.Errorf("%s: the store refuses %q, the pattern %s accepts it", where, v, re)
			}
		}
	}
}
