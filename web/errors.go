package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// Error codes of the JSON error body beyond the store's vocabulary (store.EINVALID etc.).
const (
	codeUnauthorized = "unauthorized"
	codeTooLarge     = "too_large"
	codeRateLimited  = "rate_limited"
	codeNotAllowed   = "method_not_allowed"
	codeRange        = "range_not_satisfiable"
	codeUnavailable  = "unavailable"
)

// errorBody is SPEC §4.1's error shape: {"error":{"code":…,"message":…,"field":…}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Fields lists every invalid field of the request, the first being Field's, when the body
	// failed validation in more than one (a client fixes them all at once).
	Fields    []fieldError `json:"fields,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
}

// fieldError is one invalid field of a request.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// httpError is an error that carries its own status (errors the store has no code for:
// 401, 413, 416, 429).
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.message }

func errUnauthorized(msg string) error {
	return &httpError{status: fiber.StatusUnauthorized, code: codeUnauthorized, message: msg}
}

// forbidden is the 403 a role gets for an object inside its tenancy; field names the attribute
// the caller may not change, when there is one.
func forbidden(field, format string, args ...any) error {
	e := store.Errorf(store.EFORBIDDEN, format, args...)
	e.Field = field
	return e
}

// errorStatus maps any error a handler returns to (status, body). It is the one place where store
// codes, Fiber's own errors and panics become HTTP statuses (STYLE.md "mapped once per edge").
func errorStatus(err error) (int, errorDetail) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, errorDetail{Code: he.code, Message: he.message}
	}
	var se *store.Error
	if errors.As(err, &se) {
		d := errorDetail{Code: se.Code, Message: store.ErrorMessage(err), Field: se.Field}
		if all := store.InvalidFields(err); len(all) > 1 {
			for _, f := range all {
				d.Fields = append(d.Fields, fieldError{Field: f.Field, Message: f.Message})
			}
		}
		switch se.Code {
		case store.EINVALID:
			return fiber.StatusBadRequest, d
		case store.ENOTFOUND:
			// One body for every 404: the store's message names the id, and a different text
			// for "another tenant's" and "does not exist" would reveal that an object exists
			// (SPEC.md §1).
			return fiber.StatusNotFound, errorDetail{Code: store.ENOTFOUND, Message: "Not found."}
		case store.ECONFLICT:
			return fiber.StatusConflict, d
		case store.EFORBIDDEN:
			return fiber.StatusForbidden, d
		}
		return fiber.StatusInternalServerError, errorDetail{Code: store.EINTERNAL, Message: "Internal error."}
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusNotFound:
			return fe.Code, errorDetail{Code: store.ENOTFOUND, Message: "No such route."}
		case fiber.StatusMethodNotAllowed:
			return fe.Code, errorDetail{Code: codeNotAllowed, Message: "Method not allowed."}
		case fiber.StatusRequestEntityTooLarge:
			return fe.Code, errorDetail{Code: codeTooLarge, Message: "Request body too large."}
		case fiber.StatusTooManyRequests:
			return fe.Code, errorDetail{Code: codeRateLimited, Message: "Too many requests."}
		}
		if fe.Code >= 400 && fe.Code < 500 {
			return fe.Code, errorDetail{Code: store.EINVALID, Message: fe.Message}
		}
	}
	if unavailable(err) {
		return fiber.StatusServiceUnavailable, errorDetail{Code: codeUnavailable,
			Message: "The store or the recordings library does not answer; try again shortly."}
	}
	return fiber.StatusInternalServerError, errorDetail{Code: store.EINTERNAL, Message: "Internal error."}
}

// unavailable reports whether err says a backend did not answer (a shared store's database or
// an object store down, unreachable or too slow), not that the request or the data is wrong:
// the network's errors, a connection cut mid-answer, a deadline passed, a recording row still
// pending. The client may retry: 503 with Retry-After.
func unavailable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrCommitPending)
}

// retryAfterSeconds is the Retry-After of a 503 (unavailable).
const retryAfterSeconds = "5"

// errorHandler is the app's fiber.ErrorHandler: every error reply, whichever layer produced it
// (handler, middleware, router, body limit, recovered panic), leaves through here.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	status, d := errorStatus(err)
	if status >= 500 {
		d.RequestID = requestID(c)
		s.Logger.Error().Err(err).Str("request_id", d.RequestID).Str("method", c.Method()).
			Str("path", c.Path()).Msg("request failed")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if status == fiber.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, retryAfterSeconds)
	}
	return c.Status(status).JSON(errorBody{Error: d})
}

// decodeJSON decodes a request body into dst (which may be pre-filled: fields absent from the
// body keep their values, which is how PATCH merges). The body must be exactly one JSON value and
// that value an object: `null`, arrays, scalars and anything after the object (`{…}}`) are
// refused (issue 12 item 13). Unknown fields, bad syntax and wrong types are EINVALID errors
// naming the field ("body" when there is none to name).
func decodeJSON(c *fiber.Ctx, dst any) error {
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 {
		return store.Invalid("body", "a JSON object is required")
	}
	if body[0] != '{' {
		return store.Invalid("body", "the body must be one JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			f := te.Field
			if f == "" {
				f = "body"
			}
			return store.Invalid(f, "%s must be a JSON %s", f, te.Type.String())
		}
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			f := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
			return store.Invalid(f, "unknown field %q", f)
		}
		return store.Invalid("body", "malformed JSON: %s", trimJSONErr(err))
	}
	// dec.More is no test here: it reports false before a stray '}' or ']'. Whatever follows
	// the object, even one byte, is an error.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return store.Invalid("body", "one JSON object expected: data follows it")
	}
	return nil
}

func trimJSONErr(err error) string {
	return strings.TrimPrefix(fmt.Sprint(err), "json: ")
}
