// Package basip serves the BAS-IP panel web API v1 over doorlog's store: the
// log list (GET /api/v1/log/items), the login that BAS-IP clients use
// (GET /api/v1/login) and the device information (GET /api/info), at the
// root for the whole server and under /devices/{device_id}/ for one device.
//
// Existing BAS-IP clients must work against it unchanged, so field names,
// units (milliseconds), defaults and the exact error strings follow the
// BAS-IP documentation as SPEC §4 reads it.
package basip

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/respond"
)

// Store is what the BAS-IP API reads from the store; *sqlite.DB satisfies it.
type Store interface {
	ListEvents(ctx context.Context, q doorlog.EventQuery) ([]doorlog.Event, error)
	CountEvents(ctx context.Context, f doorlog.EventFilter) (int64, error)
	EventKeys(ctx context.Context) ([]string, error)
	FindDevice(ctx context.Context, id string) (*doorlog.Device, error)
	SetWatermark(ctx context.Context, k doorlog.WatermarkKey, at time.Time) (*doorlog.Watermark, error)
	FindWatermark(ctx context.Context, k doorlog.WatermarkKey) (*doorlog.Watermark, error)
}

// Catalog names and renders events; *catalog.Catalog satisfies it.
type Catalog interface {
	// Keys returns the catalog's keys: the 40 BAS-IP keys in SPEC §3's
	// order, then doorlog's own (cam_light).
	Keys() []string
	// Name returns a key's name in a locale; an unknown key is its own name.
	Name(locale, key string) string
	// Text renders an event's model as the human-readable text of its key.
	Text(locale, key string, model json.RawMessage) string
	// Entry returns what the catalog knows of a key; an unknown key is
	// category info, priority low.
	Entry(key string) catalog.Entry
}

// Authenticator checks bearer tokens and logs in; *auth.Service satisfies
// it. Its Login also throttles the attempt and stores it as an event.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (*doorlog.Token, error)
	Login(ctx context.Context, req auth.LoginRequest) (*auth.LoginResult, error)
	// Revoke ends the token whose secret is given (a logout).
	Revoke(ctx context.Context, secret string) error
}

var _ Catalog = (*catalog.Catalog)(nil)

// Info is what GET /api/info answers for the server itself. A device's
// answer takes its model, name and serial number from the device, the rest
// from here.
type Info struct {
	// DeviceModel and DeviceName describe the server at the root.
	DeviceModel string
	DeviceName  string
	// Version is doorlog's version, answered wherever /api/info asks for
	// one (firmware, frontend, framework, hybrid).
	Version string
	// Commit is the revision doorlog was built from, or "".
	Commit string
}

// APIVersion is the api_version /api/info answers: a dotted version whose
// major is 2, the generation of the BAS-IP API whose filter syntax
// (filter_field, filter_type, filter_value) and clear body (clear_fields)
// doorlog serves. Clients parse its major number to choose a syntax, and
// some refuse a major above 3.
const APIVersion = "2.9.0"

// The device_type /api/info answers at the root and for a device.
const (
	TypeServer = "server"
	TypePanel  = "panel"
)

// Config is what a Handler needs.
type Config struct {
	Store   Store
	Catalog Catalog
	Auth    Authenticator
	// Info describes the server for GET /api/info.
	Info Info
	// Logger receives the causes of internal errors; nil means
	// slog.Default().
	Logger *slog.Logger
	// MaxUnknownNames is the most stored keys outside the catalog that
	// available_values.name lists (the first, in key order), so that every
	// list response stays small however many keys senders invented; a
	// filter on a stored key past them still works. 0 means
	// DefaultMaxUnknownNames; a negative value lists none.
	MaxUnknownNames int
	// Reads bounds the memory the pages of the log hold at once; nil is
	// unlimited.
	Reads *budget.Pool
	// Now is the clock of the clears' watermarks; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxUnknownNames is the default of Config.MaxUnknownNames, the
// default limit on such keys at ingest.
const DefaultMaxUnknownNames = 1000

// Handler serves the BAS-IP API. Make one with New and add its routes to a
// mux with Register.
type Handler struct {
	store    Store
	catalog  Catalog
	auth     Authenticator
	info     Info
	logger   *slog.Logger
	maxNames int
	reads    *budget.Pool
	now      func() time.Time
}

// New returns a Handler over cfg.
func New(cfg Config) *Handler {
	h := &Handler{
		store:    cfg.Store,
		catalog:  cfg.Catalog,
		auth:     cfg.Auth,
		info:     cfg.Info,
		logger:   cfg.Logger,
		maxNames: cfg.MaxUnknownNames,
		reads:    cfg.Reads,
		now:      cfg.Now,
	}
	if h.now == nil {
		h.now = time.Now
	}
	switch {
	case h.maxNames == 0:
		h.maxNames = DefaultMaxUnknownNames
	case h.maxNames < 0:
		h.maxNames = 0
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	return h
}

// The paths the API serves, at the root and under one device.
const (
	pathLogItems = "/api/v1/log/items"
	pathLogin    = "/api/v1/login"
	pathInfo     = "/api/info"
	pathLogout   = "/api/v1/logout"
	pathClear    = "/api/v1/system/data/clear"
	allowPost    = "POST"
	devicePrefix = "/devices/{device_id}"
	allowGetHead = "GET, HEAD"
	allowGet     = "GET"
)

// Every error the API answers, as {"error": "<string>"}, exactly as BAS-IP
// spells them (SPEC §4), spelling mistakes included.
const (
	// ErrLogIn is the 401 for a missing or bad token or a failed login.
	ErrLogIn = "Log In"
	// ErrAdminRequired is the 403 for a manager or device token.
	ErrAdminRequired = "Administrator rights required"
	// ErrDeviceNotFound is the 404 for a malformed, unknown or (on the log
	// list) out-of-scope device id.
	ErrDeviceNotFound = "Device not found"
	// ErrMethodNotAllowed is the 405 for any other method.
	ErrMethodNotAllowed = "Method not allowed"
	// ErrInternal is the 500; the cause is only logged.
	ErrInternal = "Internal error"
	// ErrBusy is the 503 of a page refused while the pages of others fill
	// the read share of the server's memory; it comes with a Retry-After.
	ErrBusy = "Server is busy, try again later"
	// ErrTooManyLogins is the 429 of a login refused after too many
	// failed ones (doorlog's own: BAS-IP documents none); Retry-After
	// says how many seconds to wait.
	ErrTooManyLogins = "Too many login attempts"
	// ErrWrongBody is the 400 of a clear whose body is not a JSON object
	// (doorlog's own: BAS-IP documents none).
	ErrWrongBody = "Wrong request body"
	// ErrBodyTooLarge is the 413 of a clear body over MaxClearBody.
	ErrBodyTooLarge = "Request body is too large"

	// The 400 answers of the log list, in the order they are checked.
	ErrWrongTimeFormat = "Wrong time format"
	ErrWrongTimeRange  = "Wrong time range: 'to' must be greater then 'from'"
	ErrWrongLimit      = "Wrong pagination limit"
	ErrWrongPage       = "Wrong page number"
	ErrWrongSortType   = "Wrong sort type"
	ErrWrongField      = "Wrong filter field"
	ErrWrongType       = "Wrong filter type"
	ErrWrongFormat     = "Wrong filter format"
	ErrWrongValue      = "Wrong filter value"
)

// Register adds the API's routes to mux: each path at the root and under
// /devices/{device_id}, plus the bare path of each, which answers every
// other method with a JSON 405 and an Allow header.
func (h *Handler) Register(mux *http.ServeMux) {
	h.routes(mux, "", false, nil)
	h.routes(mux, devicePrefix, true, nil)
}

// Panel is the API of one device served at the root paths, as the device
// itself would serve it: on the device's own listen address (package
// panels), /api/info describes the device, /api/v1/log/items lists its
// events alone, and login, logout and clear are the device's.
type Panel struct {
	h        *Handler
	deviceID string
}

// Panel returns the panel API of the device deviceID.
func (h *Handler) Panel(deviceID string) Panel { return Panel{h: h, deviceID: deviceID} }

// Register adds the panel's routes to mux.
func (p Panel) Register(mux *http.ServeMux) {
	p.h.routes(mux, "", true, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The per-device handlers read the device from the path;
			// here it is the address's.
			r.SetPathValue("device_id", p.deviceID)
			next.ServeHTTP(w, r)
		})
	})
}

// routes adds the API's paths under prefix to mux, served by the
// per-device handlers when perDevice, each wrapped by wrap when not nil.
func (h *Handler) routes(mux *http.ServeMux, prefix string, perDevice bool, wrap func(http.Handler) http.Handler) {
	handle := func(pattern string, handler http.Handler) {
		if wrap != nil {
			handler = wrap(handler)
		}
		mux.Handle(pattern, handler)
	}
	handle("GET "+prefix+pathLogItems, h.logItemsHandler(perDevice))
	handle(prefix+pathLogItems, methodNotAllowed(allowGetHead))

	// A HEAD would log in and throw the token away, so login is GET only.
	handle("GET "+prefix+pathLogin, h.loginHandler(perDevice))
	handle("HEAD "+prefix+pathLogin, methodNotAllowed(allowGet))
	handle(prefix+pathLogin, methodNotAllowed(allowGet))

	handle("GET "+prefix+pathInfo, h.infoHandler(perDevice))
	handle(prefix+pathInfo, methodNotAllowed(allowGetHead))

	handle("POST "+prefix+pathLogout, h.logoutHandler(perDevice))
	handle(prefix+pathLogout, methodNotAllowed(allowPost))
	handle("POST "+prefix+pathClear, h.clearHandler(perDevice))
	handle(prefix+pathClear, methodNotAllowed(allowPost))
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, ErrMethodNotAllowed)
	})
}

// errorBody is every error the API answers: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := encodeJSON(errorBody{Error: msg}) // a string always encodes
	writeBody(w, status, b)
}

// writeJSON answers v, or a clean 500 when v cannot be encoded, so that
// nothing half-written goes out.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := encodeJSON(v)
	if err != nil {
		h.internalError(w, r, "encode response", err)
		return
	}
	writeBody(w, status, b)
}

// encodeJSON encodes v whole. HTML is not escaped, so stored models go out
// byte for byte but for whitespace.
func encodeJSON(v any) ([]byte, error) { return respond.Encode(v) }

func writeBody(w http.ResponseWriter, status int, b []byte) {
	respond.Body(w, status, respond.ContentTypeJSON, b)
}

// internalError logs the cause of a failure and answers a 500 that says
// nothing more.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	// The path only: a login's query holds the password.
	h.logger.ErrorContext(r.Context(), "basip: "+what, "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, ErrInternal)
}

// scopedDevice resolves the {device_id} of a per-device path for tok: a
// device outside the token's scope is answered like an unknown one (404),
// so that its existence is not disclosed.
func (h *Handler) scopedDevice(w http.ResponseWriter, r *http.Request, tok *doorlog.Token) (*doorlog.Device, bool) {
	dev, ok := h.device(w, r)
	if !ok {
		return nil, false
	}
	if !tok.Scope().Allows(dev.SiteID) {
		writeError(w, http.StatusNotFound, ErrDeviceNotFound)
		return nil, false
	}
	return dev, true
}

// device resolves the {device_id} of a per-device path. A malformed id and
// an unknown device both answer 404 Device not found; ok is false when the
// answer has been written.
func (h *Handler) device(w http.ResponseWriter, r *http.Request) (dev *doorlog.Device, ok bool) {
	id, err := doorlog.CanonicalDeviceID(r.PathValue("device_id"))
	if err != nil {
		writeError(w, http.StatusNotFound, ErrDeviceNotFound)
		return nil, false
	}
	dev, err = h.store.FindDevice(r.Context(), id)
	if err != nil {
		if code := doorlog.ErrorCode(err); code == doorlog.ENOTFOUND || code == doorlog.EINVALID {
			writeError(w, http.StatusNotFound, ErrDeviceNotFound)
			return nil, false
		}
		h.internalError(w, r, "find device", err)
		return nil, false
	}
	return dev, true
}
