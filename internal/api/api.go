// Package api serves doorlog's native API under /v1/: ingest, the listing,
// export, live stream and stats of events, the open alarms and their
// acknowledgements, and the management of sites, devices, accounts and
// tokens. Its error body is {"error": "<message>", "code": "<code>"}.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/cleanjson"
	"github.com/doorlog/doorlog/internal/collector"
	"github.com/doorlog/doorlog/internal/cursor"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/panels"
	"github.com/doorlog/doorlog/internal/respond"
)

// Store is what the native API needs of the store.
type Store interface {
	CreateSite(ctx context.Context, s *doorlog.Site) error
	FindSite(ctx context.Context, id string) (*doorlog.Site, error)
	ListSites(ctx context.Context, scope doorlog.Scope) ([]*doorlog.Site, error)
	CreateDevice(ctx context.Context, d *doorlog.Device) error
	FindDevice(ctx context.Context, id string) (*doorlog.Device, error)
	ListDevices(ctx context.Context, f doorlog.DeviceFilter) ([]*doorlog.Device, error)
	CreateAccount(ctx context.Context, a *doorlog.Account) error
	FindToken(ctx context.Context, id string) (*doorlog.Token, error)
	ListTokens(ctx context.Context, f doorlog.TokenFilter) ([]*doorlog.Token, error)
	DeleteToken(ctx context.Context, id string) error
	UpdateDevice(ctx context.Context, d *doorlog.Device) error
	ListWatermarks(ctx context.Context) ([]*doorlog.Watermark, error)
	DeleteWatermark(ctx context.Context, id string) error
	ListEvents(ctx context.Context, q doorlog.EventQuery) ([]doorlog.Event, error)
	CountEvents(ctx context.Context, f doorlog.EventFilter) (int64, error)
	EventKeys(ctx context.Context) ([]string, error)
	ServerKey(ctx context.Context, name string) ([]byte, error)
	CountByHour(ctx context.Context, f doorlog.EventFilter) ([]doorlog.HourCount, error)
	CountByDevice(ctx context.Context, f doorlog.EventFilter) (map[string]int64, error)
	LastEventTimes(ctx context.Context, f doorlog.DeviceFilter) (map[string]time.Time, error)
	EventsAfter(ctx context.Context, f doorlog.EventFilter, after string, limit int) ([]doorlog.Event, error)
	CreateAck(ctx context.Context, a *doorlog.Ack) error
	ListAcks(ctx context.Context, eventIDs []string) ([]*doorlog.Ack, error)
}

// Catalog renders events in the reader's locale and finds the keys a free
// text names (see package catalog).
type Catalog interface {
	Name(locale, key string) string
	Text(locale, key string, model json.RawMessage) string
	// AppendText appends what Text returns to dst: the list and the
	// export render into their output buffers without a string per event.
	AppendText(dst []byte, locale, key string, model json.RawMessage) []byte
	KeysMatching(text string) []string
	// Keys and Entry tell the stats which keys are access grants and
	// denials (by activity type): the catalog is what knows.
	Keys() []string
	Entry(key string) catalog.Entry
}

var _ Catalog = (*catalog.Catalog)(nil)

// Authenticator checks bearer tokens and issues new ones.
type Authenticator interface {
	Middleware(deny func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler
	IssueToken(ctx context.Context, tmpl doorlog.Token) (string, *doorlog.Token, error)
	// Valid tells whether a token authenticated earlier still is, for the
	// requests that outlive its check: live streams and exports.
	Valid(ctx context.Context, tok *doorlog.Token) error
}

var _ Authenticator = (*auth.Service)(nil)

// Ingester stores incoming events: the bodies of POST /v1/events, and the
// events the API records itself (an alarm's acknowledgement), through the
// same validation and group commit.
type Ingester interface {
	Ingest(ctx context.Context, tok *doorlog.Token, body io.Reader, size int64, ndjson bool) (ingest.Result, error)
	IngestItems(ctx context.Context, tok *doorlog.Token, items []ingest.Item) (ingest.Result, error)
	Limits() ingest.Limits
}

var _ Ingester = (*ingest.Service)(nil)

// Config wires a Handler.
type Config struct {
	Store  Store
	Auth   Authenticator
	Ingest Ingester
	// Catalog renders names and texts of listed events; it also decides
	// which keys a free-text filter names.
	Catalog Catalog
	Logger  *slog.Logger
	Now     func() time.Time
	// Stream wires the live stream, GET /v1/events/stream; see
	// StreamConfig.
	Stream StreamConfig
	// Budget bounds the memory ingest bodies and read pages hold at once;
	// the zero value is unlimited.
	Budget budget.Pools
	// WriteTimeout is the longest a client may take to accept one chunk of
	// an export; one that stops reading is cut. Default 30 s.
	WriteTimeout time.Duration
	// Panels serves the devices' own listen addresses: told of every
	// device created or changed, asked what each address is doing. Nil
	// when nothing serves them.
	Panels Panels
	// Collectors read the devices' panels: told of every device created
	// or changed, asked how each is doing. Nil when nothing reads them.
	Collectors Collectors
	// Secrets seals the panels' passwords before they are stored.
	Secrets Sealer
}

// Collectors is what the native API needs of the pull collector;
// *collector.Manager satisfies it.
type Collectors interface {
	Set(d *doorlog.Device)
	Status(deviceID string) (collector.Status, bool)
}

// Sealer seals a secret for the store; *seal.Sealer satisfies it.
type Sealer interface {
	Seal(plain string) []byte
}

// Panels is what the native API needs of the panel addresses;
// *panels.Manager satisfies it.
type Panels interface {
	Set(deviceID, listen string)
	Status(deviceID string) (panels.Status, bool)
}

// DefaultWriteTimeout is the write timeout of a Config that sets none.
const DefaultWriteTimeout = 30 * time.Second

func (h *Handler) writeTimeout() time.Duration {
	if h.cfg.WriteTimeout > 0 {
		return h.cfg.WriteTimeout
	}
	return DefaultWriteTimeout
}

// Handler serves the native API.
type Handler struct {
	cfg Config
	// codec signs list cursors; it is made from the store's server key on
	// first use (see cursorCodec).
	codec atomic.Pointer[cursor.Codec]
	// streams are the live streams open, by token.
	streams streams
}

// New returns a Handler.
func New(cfg Config) *Handler { return &Handler{cfg: cfg} }

// Register adds the native API's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	authed := h.cfg.Auth.Middleware(h.writeError)
	route := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, authed(fn)) }
	route("POST /v1/events", h.postEvents)
	route("GET /v1/events", h.listEvents)
	route("GET /v1/events/export", h.exportEvents)
	route("GET /v1/events/stream", h.streamEvents)
	route("GET /v1/sites", h.listSites)
	route("POST /v1/sites", h.createSite)
	route("GET /v1/devices", h.listDevices)
	route("POST /v1/devices", h.createDevice)
	route("PATCH /v1/devices/{id}", h.updateDevice)
	route("POST /v1/accounts", h.createAccount)
	route("GET /v1/tokens", h.listTokens)
	route("POST /v1/tokens", h.createToken)
	route("DELETE /v1/tokens/{id}", h.revokeToken)
	route("GET /v1/watermarks", h.listWatermarks)
	route("DELETE /v1/watermarks/{id}", h.deleteWatermark)
	route("GET /v1/stats/hourly", h.statsHourly)
	route("GET /v1/stats/denials", h.statsDenials)
	route("GET /v1/stats/devices", h.statsDevices)
	route("GET /v1/stats/timeline", h.statsTimeline)
	route("GET /v1/alarms", h.listAlarms)
	route("POST /v1/alarms/{event_id}/ack", h.ackAlarm)
	for path, allow := range map[string]string{
		"/v1/events":                "GET, POST",
		"/v1/events/export":         "GET",
		"/v1/events/stream":         "GET",
		"/v1/sites":                 "GET, POST",
		"/v1/devices":               "GET, POST",
		"/v1/accounts":              "POST",
		"/v1/tokens":                "GET, POST",
		"/v1/tokens/{id}":           "DELETE",
		"/v1/watermarks":            "GET",
		"/v1/watermarks/{id}":       "DELETE",
		"/v1/stats/hourly":          "GET",
		"/v1/stats/denials":         "GET",
		"/v1/stats/devices":         "GET",
		"/v1/stats/timeline":        "GET",
		"/v1/alarms":                "GET",
		"/v1/alarms/{event_id}/ack": "POST",
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			WriteError(w, http.StatusMethodNotAllowed, "method not allowed", "method_not_allowed")
		})
	}
}

// errorBody is the native API's error shape.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// WriteError writes an error body in the native API's shape.
func WriteError(w http.ResponseWriter, status int, message, code string) {
	writeJSON(w, status, errorBody{Error: message, Code: code})
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := doorlog.ErrorCode(err)
	if code == doorlog.EINTERNAL {
		h.cfg.Logger.Error("native api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	respond.RetryAfter(w, err)
	WriteError(w, respond.Status(code), doorlog.ErrorMessage(err), code)
}

// writeJSON answers v, a value of the API's own wire types, which always
// encode.
func writeJSON(w http.ResponseWriter, status int, v any) {
	_ = respond.JSON(w, status, v)
}

// decode reads a small JSON request body strictly: unknown fields are
// errors, because a misspelt field in a management call should not pass
// silently. Its text must be valid UTF-8 with no lone surrogate escape:
// json.Decoder would replace either with U+FFFD without a word, and names,
// ids and usernames are stored exactly as sent, so the request is refused
// instead (see cleanjson.Fault).
func decode(r *http.Request, v any) error {
	// raw keeps what the decoder read, to check the text of the value.
	var raw bytes.Buffer
	dec := json.NewDecoder(io.TeeReader(io.LimitReader(r.Body, 1<<20), &raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return doorlog.Errorf(doorlog.EINVALID, "request body is not valid JSON (at byte %d)", syn.Offset)
		case errors.As(err, &typ):
			return doorlog.Errorf(doorlog.EINVALID, "field %q has the wrong type", typ.Field)
		case errors.Is(err, io.EOF):
			return doorlog.Errorf(doorlog.EINVALID, "request body is empty")
		default:
			return doorlog.Errorf(doorlog.EINVALID, "request body is not valid: %s", trimJSONPrefix(err.Error()))
		}
	}
	if at, what := cleanjson.Fault(raw.Bytes()[:dec.InputOffset()]); at >= 0 {
		return doorlog.Errorf(doorlog.EINVALID, "request body is not valid UTF-8 text: %s at byte %d", what, at)
	}
	return nil
}

func trimJSONPrefix(s string) string {
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// ingestMemoryFactor is budget.IngestFactor: the bytes of memory an
// ingest request holds per byte of its body.
const ingestMemoryFactor = budget.IngestFactor

// ingestRetryAfter is what a client refused for lack of ingest memory is
// told to wait: the requests holding it finish within a commit or two.
const ingestRetryAfter = time.Second

// errIngestBusy refuses an ingest request while the bodies of others fill
// the ingest share of the memory budget.
var errIngestBusy = doorlog.Errorf(doorlog.ETOOMANY, "the server is busy storing other requests' events; retry later").Retry(ingestRetryAfter)

// postEvents serves POST /v1/events. The body is read as a stream, within
// a reservation of the ingest memory pool, so that the bodies being read
// and stored at once never hold more than the pool. A small body (by its
// Content-Length) reserves as its bytes arrive, so that clients announcing
// bodies they send slowly, or never, hold only what they sent, and cannot
// keep the panels' small batches out. A large one, or one of unknown size,
// first takes its place in the pool's large share, behind the other large
// ones, so that many large bodies read at once do not each hold part of the
// pool while waiting for the rest.
func (h *Handler) postEvents(w http.ResponseWriter, r *http.Request) {
	tok := auth.FromContext(r.Context())
	limit := h.cfg.Ingest.Limits().MaxBody
	if r.ContentLength > limit {
		WriteError(w, http.StatusRequestEntityTooLarge, "request body is larger than the limit of "+formatBytes(limit), doorlog.ETOOLARGE)
		return
	}
	raw := http.MaxBytesReader(w, r.Body, limit)
	pool := h.cfg.Budget.Ingest
	upfront := int64(0)
	switch size := r.ContentLength; {
	case size < 0:
		upfront = ingestMemoryFactor * reserveStep
		if pool != nil {
			upfront = max(upfront, pool.Size()/16+1) // large from the start
		}
	case pool.Large(ingestMemoryFactor * size):
		upfront = ingestMemoryFactor * size
	}
	res, err := pool.Reserve(r.Context(), upfront)
	if err != nil {
		h.refuseIngest(w, r, raw)
		return
	}
	defer res.Release()
	body := &reservingReader{ctx: r.Context(), r: raw, res: res, size: r.ContentLength}
	result, err := h.cfg.Ingest.Ingest(r.Context(), tok, body, r.ContentLength, isNDJSON(r.Header.Get("Content-Type")))
	if err != nil {
		var readErr *ingest.ReadError
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			WriteError(w, http.StatusRequestEntityTooLarge, "request body is larger than the limit of "+formatBytes(limit), doorlog.ETOOLARGE)
		case errors.Is(err, budget.ErrFull):
			h.refuseIngest(w, r, raw)
		case errors.As(err, &readErr):
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "could not read the request body"))
		default:
			h.writeError(w, r, err)
		}
		return
	}
	writeJSON(w, http.StatusOK, result)
}

// refuseIngest answers 429 to a request there is no memory for. The rest of
// its body is read and dropped first, a buffer at a time: a client that is
// still sending when the answer comes sees its connection cut instead of
// the answer, and would not know to wait and retry.
func (h *Handler) refuseIngest(w http.ResponseWriter, r *http.Request, body io.Reader) {
	_, _ = io.Copy(io.Discard, body)
	h.writeError(w, r, errIngestBusy)
}

// reservingReader grows a reservation with what it reads: once bytes have
// arrived (the read buffer they arrive in is there anyway), it reserves for
// them and a step more, never past the body's announced size. So a client
// that announces a large body and sends it slowly, or not at all, holds
// only what it has sent, and a small body reserves about its size.
type reservingReader struct {
	ctx context.Context
	r   io.Reader
	res *budget.Reservation
	// size is the body's announced size, -1 when unknown.
	size int64
	// read is the number of bytes read so far.
	read int64
}

// reserveStep is how far beyond the bytes read a reservingReader
// reserves, so that it asks the pool once per step rather than per read.
const reserveStep = 64 << 10

func (b *reservingReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	if need := ingestMemoryFactor * b.read; need > b.res.Bytes() {
		ahead := b.read + reserveStep
		if b.size >= 0 {
			ahead = max(min(ahead, b.size), b.read)
		}
		if gerr := b.res.Grow(b.ctx, ingestMemoryFactor*ahead-b.res.Bytes()); gerr != nil {
			return n, gerr
		}
	}
	return n, err
}

func isNDJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return true
	}
	return false
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	default:
		return itoa(n) + " bytes"
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
