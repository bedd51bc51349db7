// Package doorlog holds the domain of the event-log server: events, sites,
// devices, accounts, tokens, the store contract and the one error type every
// other package wraps. It imports nothing else of the module, so every adapter
// (a store backend, an API dialect) depends on it and never on each other.
package doorlog

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Each API maps them to its own status and body in one place.
const (
	ECONFLICT     = "conflict"     // the thing exists already
	EINTERNAL     = "internal"     // a bug or a broken dependency; never shown in detail
	EINVALID      = "invalid"      // the caller's input is wrong
	ENOTFOUND     = "not_found"    // no such thing (or not in the caller's scope)
	EUNAUTHORIZED = "unauthorized" // no credentials, or wrong ones
	EFORBIDDEN    = "forbidden"    // valid credentials without the right
	ETOOLARGE     = "too_large"    // a body or a value over its limit
	EUNAVAILABLE  = "unavailable"  // shutting down, a dependency is down, or the server is at a limit of its own
	// ETOOMANY refuses a request the caller must wait before making
	// again: a login too soon after too many failed ones, a body while
	// others fill the ingest share of the server's memory. The API's
	// answer (429, a Retry-After) says how long.
	ETOOMANY = "too_many_requests"
)

// Error is the domain error: a code for programs and a message for people.
// The message is safe to show to the caller; Err, when set, is the cause and
// is only logged.
type Error struct {
	Code    string
	Message string
	Err     error
	// RetryAfter, when positive, is how long the caller should wait before
	// trying again (an ETOOMANY or EUNAVAILABLE at a limit); the APIs send
	// it as a Retry-After header.
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("doorlog %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("doorlog %s: %s", e.Code, e.Message)
}

// Unwrap gives errors.Is and errors.As the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Retry returns err with RetryAfter set to d, for a limit the caller may
// retry after that long.
func (e *Error) Retry(d time.Duration) *Error {
	e.RetryAfter = d
	return e
}

// RetryAfter returns how long the caller of a failed request should wait
// before trying again: the RetryAfter of the first *Error in err's chain,
// or 0 when it says nothing.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other error, and "" for nil.
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

// ErrorMessage returns the caller-safe message of the first *Error in err's
// chain, or a generic text for any other error so internals never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "Internal error."
}
