// Package respond writes HTTP answers the one way every doorlog API does:
// the status of each domain error code, a JSON body sent whole with its
// length, and the Retry-After of a limit. Each API (package api, basip,
// aipix, oloid, web) keeps its own body shapes and error strings and calls
// these for the rest, so that the same error gets the same status
// everywhere.
package respond

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// ContentTypeJSON is the Content-Type of doorlog's JSON answers (AIPIX
// answers Laravel's plain application/json instead).
const ContentTypeJSON = "application/json; charset=utf-8"

// Status is the HTTP status of a domain error code. An API that answers
// some code otherwise (AIPIX's validation errors, BAS-IP's fixed statuses)
// does so before it asks.
func Status(code string) int {
	switch code {
	case doorlog.EINVALID:
		return http.StatusBadRequest
	case doorlog.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case doorlog.EFORBIDDEN:
		return http.StatusForbidden
	case doorlog.ENOTFOUND:
		return http.StatusNotFound
	case doorlog.ECONFLICT:
		return http.StatusConflict
	case doorlog.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case doorlog.ETOOMANY:
		return http.StatusTooManyRequests
	case doorlog.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// RetryAfter sets the Retry-After header, in whole seconds rounded up, of
// an error that says when to try again (doorlog.RetryAfter), and does
// nothing for one that does not.
func RetryAfter(w http.ResponseWriter, err error) {
	if d := doorlog.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
}

// Encode encodes v as one line of JSON, as encoding/json's Encoder writes
// it, without escaping HTML: stored models go out as they came in.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Body answers b, already encoded, with status, contentType and its
// length.
func Body(w http.ResponseWriter, status int, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// JSON answers v encoded by Encode. It returns the encoding's error without
// writing anything, so the caller can answer a clean 500 instead of half a
// body; a value of plain strings and numbers never fails.
func JSON(w http.ResponseWriter, status int, v any) error {
	b, err := Encode(v)
	if err != nil {
		return err
	}
	Body(w, status, ContentTypeJSON, b)
	return nil
}
