package store

import (
	"errors"
	"fmt"
)

// Error codes: the one vocabulary every store call speaks. The web adapter maps them to HTTP
// statuses in one place (EINVALID 400, ENOTFOUND 404, ECONFLICT 409, EFORBIDDEN 403/404,
// EINTERNAL and ESCHEMA 500); the call path treats any error as "proceed unrecorded".
const (
	EINVALID   = "invalid"   // a field failed validation; Error.Field names it (JSON name)
	ENOTFOUND  = "not_found" // the object does not exist
	ECONFLICT  = "conflict"  // uniqueness or a dependent object; Error.Field names the field when there is one
	EFORBIDDEN = "forbidden" // the operation is not allowed for this object
	EINTERNAL  = "internal"  // anything else: disk, encoding, bugs
	ESCHEMA    = "schema"    // the database was written by a newer callrec (a newer schema version)
)

// Error is the store's domain error. Field holds the JSON name of the offending field for
// EINVALID and ECONFLICT errors; Message is safe to show to an API client.
type Error struct {
	Code    string
	Field   string
	Message string
	// Others are the request's further invalid fields (EINVALID from a Validate that checks
	// every field): a client fixes them all at once. Nil for any other error.
	Others []*Error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("store %s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("store %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with code and a formatted message. Anyone may call it.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID *Error naming field (its JSON name). Anyone may call it.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// invalidFields joins the EINVALID errors of one validation, nil ones skipped: nil when every
// field passed, else the first error with the others in Others. Errors that are not *Error are
// returned as they are.
func invalidFields(errs ...error) error {
	var first *Error
	for _, err := range errs {
		if err == nil {
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			return err
		}
		if first == nil {
			first = e
			continue
		}
		first.Others = append(first.Others, e)
	}
	if first == nil {
		return nil
	}
	return first
}

// InvalidFields returns every invalid field inside err, first the one Error.Field names: the
// whole list a Validate found. Empty for nil and for an error that is not EINVALID.
func InvalidFields(err error) []*Error {
	var e *Error
	if !errors.As(err, &e) || e.Code != EINVALID {
		return nil
	}
	return append([]*Error{e}, e.Others...)
}

// Conflict returns an ECONFLICT *Error naming field (may be ""). Anyone may call it.
func Conflict(field, format string, args ...any) *Error {
	return &Error{Code: ECONFLICT, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns an ENOTFOUND *Error. Anyone may call it.
func NotFound(format string, args ...any) *Error {
	return &Error{Code: ENOTFOUND, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error inside err (through wrapping), "" for a nil err and
// EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorField returns the Field of the *Error inside err, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorMessage returns the client-safe message of the *Error inside err, "" for nil, and
// "Internal error." for any other error (its text may reveal paths and must be logged instead).
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrLocked is wrapped by Open when another process holds the database file.
var ErrLocked = errors.New("database is locked by another process")

// ErrCorrupt is wrapped by Open when the file is not a readable bbolt database.
var ErrCorrupt = errors.New("database file is corrupt or not a callrec database")

// ErrCommitPending is wrapped by the commit of StartRecording (store.Store) when the row could
// not be stored yet because the store did not answer (a shared store's database down or
// unreachable), not because it refused the row: the store keeps the row's intent and goes on
// trying, so the row is stored when the database is back (or, at the latest, when this
// instance opens the store again). The recording must be kept: its WAV is the audio the row
// will point at.
var ErrCommitPending = errors.New("recording row not stored yet: the store does not answer; it is stored when the store is back")
