// Package oloid serves the OLOID cloud's activity log API over doorlog's
// store: POST /filterActivity lists events newest first, a page at a time,
// behind an opaque signed nextToken, and POST /login issues the bearer token
// it takes.
//
// Existing OLOID clients must work against it unchanged, so names, units
// (milliseconds since the Unix epoch) and shapes follow OLOID's "List
// Activity Logs API" as SPEC §6 reads it. Every error is {"message": "..."}.
package oloid

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/cursor"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/respond"
)

// Store is what the OLOID API needs of the store; *sqlite.DB satisfies it.
type Store interface {
	ListEvents(ctx context.Context, q doorlog.EventQuery) ([]doorlog.Event, error)
	FindDevice(ctx context.Context, id string) (*doorlog.Device, error)
	FindSite(ctx context.Context, id string) (*doorlog.Site, error)
	ServerKey(ctx context.Context, name string) ([]byte, error)
}

// Catalog classifies event keys; *catalog.Catalog satisfies it.
type Catalog interface {
	// Entry returns what the catalog knows of a key; an unknown key has
	// activity type catalog.UnknownActivityType.
	Entry(key string) catalog.Entry
}

// Authenticator checks bearer tokens and logs in; *auth.Service satisfies
// it. Its Login also throttles the attempt and stores it as an event.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (*doorlog.Token, error)
	Login(ctx context.Context, req auth.LoginRequest) (*auth.LoginResult, error)
}

var (
	_ Catalog       = (*catalog.Catalog)(nil)
	_ Authenticator = (*auth.Service)(nil)
)

// Config is what a Handler needs.
type Config struct {
	Store   Store
	Catalog Catalog
	Auth    Authenticator
	// Logger receives the causes of internal errors; nil means
	// slog.Default().
	Logger *slog.Logger
	// Reads bounds the memory the pages of /filterActivity hold at once;
	// nil is unlimited.
	Reads *budget.Pool
}

// Handler serves the OLOID API. Make one with New and add its routes to a
// mux with Register.
type Handler struct {
	store   Store
	catalog Catalog
	auth    Authenticator
	logger  *slog.Logger
	reads   *budget.Pool

	// codec signs nextTokens. It is made on first use from the store's
	// server key and kept; a failure to read the key is not kept, so the
	// next request tries again.
	codecMu sync.Mutex
	codec   *cursor.Codec

	// deviceNames caches endpointName by device id: devices never change.
	deviceMu    sync.RWMutex
	deviceNames map[string]string
}

// New returns a Handler over cfg.
func New(cfg Config) *Handler {
	h := &Handler{
		store:       cfg.Store,
		catalog:     cfg.Catalog,
		auth:        cfg.Auth,
		logger:      cfg.Logger,
		reads:       cfg.Reads,
		deviceNames: map[string]string{},
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	return h
}

// The paths the API serves.
const (
	pathFilterActivity = "/filterActivity"
	pathLogin          = "/login"
	allowPost          = "POST"
)

// The fixed messages of the API's answers. The 400 answers carry their own
// reason instead.
const (
	// MessageActivities is the message of a 200 from /filterActivity.
	MessageActivities = "Activity logs retrieved successfully"
	// MessageLogin is the message of a 200 from /login.
	MessageLogin = "Login successful"
	// MessageUnauthorized is the 401 for a missing, malformed, unknown or
	// expired bearer token.
	MessageUnauthorized = "Unauthorized"
	// MessageInvalidCredentials is the 401 of a failed login.
	MessageInvalidCredentials = "Invalid credentials"
	// MessageForbidden is the 403 for a device token.
	MessageForbidden = "Forbidden"
	// MessageMethodNotAllowed is the 405 for any method but POST.
	MessageMethodNotAllowed = "Method not allowed"
	// MessageInternal is the 500; the cause is only logged.
	MessageInternal = "Internal server error"
	// MessageUnavailable is the 503 while the server shuts down.
	MessageUnavailable = "Service unavailable"
	// MessageTooManyLogins is the 429 of a login refused after too many
	// failed ones; Retry-After says how many seconds to wait.
	MessageTooManyLogins = "Too many login attempts"
)

// codeMethodNotAllowed is this package's own error code for a method the
// path does not serve, so that status maps it with every other code.
const codeMethodNotAllowed = "method_not_allowed"

var (
	errUnauthorized       = doorlog.Errorf(doorlog.EUNAUTHORIZED, MessageUnauthorized)
	errInvalidCredentials = doorlog.Errorf(doorlog.EUNAUTHORIZED, MessageInvalidCredentials)
	errForbidden          = doorlog.Errorf(doorlog.EFORBIDDEN, MessageForbidden)
	errMethodNotAllowed   = doorlog.Errorf(codeMethodNotAllowed, MessageMethodNotAllowed)
	errTooManyLogins      = doorlog.Errorf(doorlog.ETOOMANY, MessageTooManyLogins)
)

// maxBody is the largest request body read. A filter request is a few
// hundred bytes (a nextToken is at most 4 KiB); a login less.
const maxBody = 64 << 10

// Register adds the API's routes to mux, and the bare path of each, which
// answers every other method with a JSON 405 and an Allow header (so
// ServeMux's plain-text 405 never shows).
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(http.MethodPost+" "+pathFilterActivity, http.HandlerFunc(h.filterActivity))
	mux.Handle(pathFilterActivity, http.HandlerFunc(h.methodNotAllowed))
	mux.Handle(http.MethodPost+" "+pathLogin, http.HandlerFunc(h.login))
	mux.Handle(pathLogin, http.HandlerFunc(h.methodNotAllowed))
}

func (h *Handler) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", allowPost)
	h.writeError(w, r, errMethodNotAllowed)
}

// status is the API's HTTP status of an error code: doorlog's, and the
// 405 of its own method-not-allowed code.
func status(code string) int {
	if code == codeMethodNotAllowed {
		return http.StatusMethodNotAllowed
	}
	return respond.Status(code)
}

// messageBody is every error the API answers: {"message": "..."}.
type messageBody struct {
	Message string `json:"message"`
}

// writeError answers err as {"message": "..."} with its status. The
// message of a caller's error is shown; a 500 or 503 says nothing more than
// its fixed message and logs the cause.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := status(doorlog.ErrorCode(err))
	msg := doorlog.ErrorMessage(err)
	switch st {
	case http.StatusInternalServerError:
		// The path only: never the body, which may hold a password.
		h.logger.ErrorContext(r.Context(), "oloid: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = MessageInternal
	case http.StatusServiceUnavailable:
		// A limit of the server's own (it says when to retry) is not worth
		// a warning per refused request; a dependency down is.
		level := slog.LevelWarn
		if doorlog.RetryAfter(err) > 0 {
			level = slog.LevelDebug
		}
		h.logger.Log(r.Context(), level, "oloid: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = MessageUnavailable
	}
	respond.RetryAfter(w, err)
	writeJSON(w, st, messageBody{Message: msg})
}

// writeJSON answers v, a value of the API's own wire types, which always
// encode.
func writeJSON(w http.ResponseWriter, status int, v any) {
	_ = respond.JSON(w, status, v)
}

// writeBody answers an encoded page.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	respond.Body(w, status, respond.ContentTypeJSON, b)
}

// readBody reads a request body of at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, doorlog.Errorf(doorlog.ETOOLARGE, "Request body is larger than %d KiB", maxBody>>10)
		}
		return nil, doorlog.Errorf(doorlog.EINVALID, "Could not read the request body")
	}
	return body, nil
}

// authenticate returns the caller's token: errUnauthorized without a valid
// one, errForbidden for a device token, which reads nothing.
func (h *Handler) authenticate(r *http.Request) (*doorlog.Token, error) {
	bearer := auth.BearerToken(r)
	if bearer == "" {
		return nil, errUnauthorized
	}
	tok, err := h.auth.Authenticate(r.Context(), bearer)
	if err != nil {
		if doorlog.ErrorCode(err) == doorlog.EUNAUTHORIZED {
			return nil, errUnauthorized
		}
		return nil, err
	}
	if tok.Role != doorlog.RoleAdmin && tok.Role != doorlog.RoleManager {
		return nil, errForbidden
	}
	return tok, nil
}
