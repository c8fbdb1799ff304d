package tapdesk

import (
	"errors"
	"fmt"
)

// Error codes. Handlers map them to HTTP statuses in one place.
const (
	ECONFLICT     = "conflict"     // state changed underneath (double click, other tab)
	EINTERNAL     = "internal"     // a fault of ours or a dependency; details go to the log
	EINVALID      = "invalid"      // bad input; the message says what to fix
	EMALFORMED    = "malformed"    // input not even of the shape asked for (a lookup key, a search term)
	ENOTFOUND     = "not_found"    // no such thing, or not visible to this person
	EFORBIDDEN    = "forbidden"    // signed in but not allowed (role, separation of duty)
	EUNAUTHORIZED = "unauthorized" // not signed in, or sign-in too old
	EUNAVAILABLE  = "unavailable"  // a dependency (Graph, SMTP) refused or timed out
	ELIMITED      = "limited"      // too many in too short a time; the message says when to try again
	ETOOLARGE     = "too_large"    // a request body over MaxFormBytes
	EUNSUPPORTED  = "unsupported"  // a request body in an encoding tapdesk does not read
	ETIMEOUT      = "timeout"      // a request body that did not arrive in time
)

// Error is a domain error: a code for the program and a sentence for people.
// Title names the situation in a few words ("Link already used"): the error
// page's <title> and heading, chosen where the sentence is, so a person
// reads what happened rather than an HTTP status. Fields is set for
// validation errors: form field name -> message.
type Error struct {
	Code    string
	Title   string
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string { return fmt.Sprintf("tapdesk: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message, and
// no title: its page is titled by its HTTP status alone. Prefer Titledf.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Titledf returns an *Error with the given code, the title its page shows
// (the situation in a few words) and a formatted message.
func Titledf(code, title, format string, args ...any) *Error {
	return &Error{Code: code, Title: title, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var g *GraphError
	if errors.As(err, &g) {
		return g.DomainCode()
	}
	return EINTERNAL
}

// ErrorMessage returns the human sentence of err. Internal errors get a
// generic sentence: their text may hold details people must not see.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	var g *GraphError
	if errors.As(err, &g) {
		return g.UserMessage()
	}
	return "Something failed on our side. The details were logged; try again, and tell your administrator if it keeps happening."
}

// ErrorTitle returns the title of err's situation: the Title of the first
// *Error in its chain, or a Graph refusal's title; "" when none is known (an
// internal error, or an *Error built without one), and the page is titled
// by its status instead.
func ErrorTitle(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Title
	}
	var g *GraphError
	if errors.As(err, &g) {
		return g.Title()
	}
	return ""
}

// ValidationError collects per-field messages for a form.
type ValidationError struct{ fields map[string]string }

// Add records a message for a field (the first one per field wins).
func (v *ValidationError) Add(field, msg string) {
	if v.fields == nil {
		v.fields = map[string]string{}
	}
	if _, ok := v.fields[field]; !ok {
		v.fields[field] = msg
	}
}

// Err returns nil when no field failed, else an EINVALID *Error with Fields.
func (v *ValidationError) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Title: "Check the form", Message: "Some fields need attention.", Fields: v.fields}
}

// SessionStoreUnavailable is the answer when the session store cannot be
// read (the database is gone, locked up, or lacks its sessions table): a
// titled 503 that says what people can do, never the database's error,
// which goes to the log.
func SessionStoreUnavailable() *Error {
	return Titledf(EUNAVAILABLE, "Database unavailable",
		"tapdesk cannot reach its database just now, so it cannot tell who you are. Try again in a minute; if it lasts, tell the people who run tapdesk.")
}
