// Package aipix serves the AIPIX video-management server's admin API for
// intercom logs over doorlog's store:
//
//	GET|POST /api/admin/v1/intercoms/{intercom}/logs
//
// AIPIX is a Laravel application, so its clients expect Laravel's answers:
// the paginated resource shape ({"data", "links", "meta"}), the validation
// error shape ({"message", "errors"}) and Laravel's messages for 401, 403,
// 404, 405 and 500. Field names, units and shapes follow the AIPIX
// documentation as SPEC §5 reads it; docs/api-aipix.md lists every decision
// made where the documentation is silent.
package aipix

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/respond"
)

// Store is what the AIPIX API reads from the store; *sqlite.DB satisfies it.
type Store interface {
	FindDevice(ctx context.Context, id string) (*doorlog.Device, error)
	ListEvents(ctx context.Context, q doorlog.EventQuery) ([]doorlog.Event, error)
	CountEvents(ctx context.Context, f doorlog.EventFilter) (int64, error)
}

// Catalog gives the AIPIX event_code of a key; *catalog.Catalog satisfies
// it.
type Catalog interface {
	// Entry returns what the catalog knows of a key; an unknown key has
	// code catalog.UnknownCode.
	Entry(key string) catalog.Entry
}

// Authenticator checks bearer tokens; *auth.Service satisfies it.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (*doorlog.Token, error)
}

// Config is what a Handler needs.
type Config struct {
	Store   Store
	Catalog Catalog
	Auth    Authenticator
	// Logger receives the causes of internal errors; nil means
	// slog.Default().
	Logger *slog.Logger
	// Reads bounds the memory the pages of logs hold at once; nil is
	// unlimited.
	Reads *budget.Pool
}

// errBusy refuses a page while the pages of others fill the read share of
// the memory budget; it is answered as a 503 with a Retry-After.
var errBusy = doorlog.Errorf(doorlog.EUNAVAILABLE, "the server is busy sending other pages").Retry(2 * time.Second)

// Handler serves the AIPIX API. Make one with New and add its routes to a
// mux with Register.
type Handler struct {
	store   Store
	catalog Catalog
	auth    Authenticator
	logger  *slog.Logger
	reads   *budget.Pool
}

// New returns a Handler over cfg.
func New(cfg Config) *Handler {
	h := &Handler{store: cfg.Store, catalog: cfg.Catalog, auth: cfg.Auth, logger: cfg.Logger, reads: cfg.Reads}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	return h
}

// PathLogs is the route of the intercom log list; {intercom} is the
// device's UUID.
const PathLogs = "/api/admin/v1/intercoms/{intercom}/logs"

// allowLogs is the Allow header of the route, as Laravel lists the methods
// of a GET and POST route.
const allowLogs = "GET, HEAD, POST"

// The messages of the error answers, as Laravel words them.
const (
	// MsgUnauthenticated is the 401 for a missing, malformed, unknown or
	// expired token.
	MsgUnauthenticated = "Unauthenticated."
	// MsgUnauthorized is the 403 for a token that may not read logs (a
	// device's token).
	MsgUnauthorized = "This action is unauthorized."
	// MsgNotFound is the 404 for an intercom that is unknown, malformed or
	// outside the token's scope: the three are not told apart.
	MsgNotFound = "Not Found"
	// MsgTooLarge is the 413 for a body over the limit.
	MsgTooLarge = "The POST data is too large."
	// MsgServerError is the 500; the cause is only logged.
	MsgServerError = "Server Error"
	// MsgUnavailable is the 503 while the store is busy or out of disk.
	MsgUnavailable = "Service Unavailable"
)

// Register adds the API's routes to mux: GET (and so HEAD) and POST on the
// log list, and the bare path, which answers every other method with
// Laravel's 405 and an Allow header (so ServeMux's plain-text 405 never
// shows).
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET "+PathLogs, http.HandlerFunc(h.logs))
	mux.Handle("POST "+PathLogs, http.HandlerFunc(h.logs))
	mux.Handle(PathLogs, http.HandlerFunc(methodNotAllowed))
}

// methodNotAllowed answers Laravel's 405, naming the request's path without
// its leading slash as Laravel's router does.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", allowLogs)
	msg := "The " + r.Method + " method is not supported for route " +
		strings.Trim(r.URL.EscapedPath(), "/") + ". Supported methods: " + allowLogs + "."
	writeJSON(w, http.StatusMethodNotAllowed, messageBody{Message: msg})
}

// messageBody is every error but the 422: {"message": "..."}.
type messageBody struct {
	Message string `json:"message"`
}

// validationBody is the 422: Laravel's summary message and the messages of
// each invalid field, per_page first.
type validationBody struct {
	Message string       `json:"message"`
	Errors  fieldsErrors `json:"errors"`
}

type fieldsErrors struct {
	PerPage []string `json:"per_page,omitempty"`
	Page    []string `json:"page,omitempty"`
}

// validationError is a request whose parameters break the rules; it
// answers 422.
type validationError struct {
	perPage, page []string
}

func (e *validationError) Error() string { return e.summary() }

// summary is Laravel's message for a failed validation: the first message,
// then how many more there are.
func (e *validationError) summary() string {
	all := append(append([]string{}, e.perPage...), e.page...)
	if len(all) == 0 {
		return "The given data was invalid."
	}
	msg := all[0]
	switch n := len(all) - 1; n {
	case 0:
	case 1:
		msg += " (and 1 more error)"
	default:
		msg += " (and " + strconv.Itoa(n) + " more errors)"
	}
	return msg
}

// writeError answers err: this is the one place that maps errors to status
// and body. A *validationError is a 422; a doorlog.Error's code gives the
// rest. Internal errors are logged with what failed and answer a bare 500.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	var ve *validationError
	if errors.As(err, &ve) {
		writeJSON(w, http.StatusUnprocessableEntity, validationBody{
			Message: ve.summary(),
			Errors:  fieldsErrors{PerPage: ve.perPage, Page: ve.page},
		})
		return
	}
	code := doorlog.ErrorCode(err)
	msg := doorlog.ErrorMessage(err) // a caller's error says what is wrong
	switch code {
	case doorlog.EUNAUTHORIZED:
		msg = MsgUnauthenticated
	case doorlog.EFORBIDDEN:
		msg = MsgUnauthorized
	case doorlog.ENOTFOUND:
		msg = MsgNotFound
	case doorlog.EINVALID:
	case doorlog.ETOOLARGE:
		msg = MsgTooLarge
	case doorlog.EUNAVAILABLE:
		// A limit of the server's own (it says when to retry) is not worth
		// a warning per refused request; a dependency down is.
		level := slog.LevelWarn
		if doorlog.RetryAfter(err) > 0 {
			level = slog.LevelDebug
		}
		h.logger.Log(r.Context(), level, "aipix: "+what, "method", r.Method, "path", r.URL.Path, "err", err)
		respond.RetryAfter(w, err)
		msg = MsgUnavailable
	default:
		h.logger.ErrorContext(r.Context(), "aipix: "+what, "method", r.Method, "path", r.URL.Path, "err", err)
		code, msg = doorlog.EINTERNAL, MsgServerError
	}
	writeJSON(w, respond.Status(code), messageBody{Message: msg})
}

// writeJSON answers an error body, which always encodes.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := encodeJSON(v)
	writeBody(w, status, b)
}

// writeBody answers encoded JSON with Laravel's Content-Type.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	respond.Body(w, status, "application/json", b)
}

// encodeJSON encodes v whole, without HTML escaping; slashes are never
// escaped (Laravel writes "\/", which every JSON reader reads as "/").
func encodeJSON(v any) ([]byte, error) { return respond.Encode(v) }
