package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/cursor"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// Paging limits of GET /v1/events.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// estimateCap is where count=estimate stops counting: past it, the answer
// is "more than this many", which is all a pager needs.
const estimateCap = 10000

// cursorKeyName names the server key that signs native list cursors.
const cursorKeyName = "native-cursor"

// listCursor is what a native list cursor carries: the listing's order and
// a hash of its filter, so that a cursor only continues the listing it came
// from, and the last (time, id) served, from which the next page starts.
// Keyset paging means that events ingested meanwhile never shift a page:
// each event is served once, whatever arrives.
type listCursor struct {
	Order  string `json:"o"`
	TimeMS int64  `json:"t"`
	ID     string `json:"i"`
	Filter string `json:"f"`
}

// errCursorMismatch is a well-signed cursor used with other filters or
// another order than the listing it came from.
var errCursorMismatch = doorlog.Errorf(doorlog.EINVALID, "invalid cursor: it continues a listing with other filters or another order")

// listEvents serves GET /v1/events: one page of events, newest first by
// default, with an opaque cursor to the next page and an optional count.
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) {
	tok := auth.FromContext(r.Context())
	f, err := h.parseEventFilter(r, tok)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	p, err := parseListParams(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	query := doorlog.EventQuery{Filter: f, Order: p.order, Limit: p.limit + 1}
	hash := filterHash(f)
	var codec *cursor.Codec
	if p.cursor != "" {
		if codec, err = h.cursorCodec(r.Context()); err != nil {
			h.writeError(w, r, err)
			return
		}
		var c listCursor
		if err := codec.Decode(p.cursor, &c); err != nil {
			h.writeError(w, r, err)
			return
		}
		if c.Order != orderName(p.order) || c.Filter != hash {
			h.writeError(w, r, errCursorMismatch)
			return
		}
		query.After = &doorlog.EventCursor{Time: time.UnixMilli(c.TimeMS).UTC(), ID: c.ID}
	}
	events, err := h.cfg.Store.ListEvents(r.Context(), query)
	if err != nil {
		if query.After != nil && doorlog.ErrorCode(err) == doorlog.EINVALID {
			err = cursor.ErrInvalid // a signed cursor with an id the store refuses
		}
		h.writeError(w, r, err)
		return
	}
	next := ""
	if len(events) > p.limit {
		events = events[:p.limit]
		last := events[len(events)-1]
		if codec == nil {
			if codec, err = h.cursorCodec(r.Context()); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		next, err = codec.Encode(listCursor{Order: orderName(p.order), TimeMS: last.Time.UnixMilli(), ID: last.ID, Filter: hash})
		if err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	var count int64
	var exact bool
	if p.count != "" {
		if count, exact, err = h.countEvents(r.Context(), f, p.count); err != nil {
			h.writeError(w, r, err)
			return
		}
	}

	buf := make([]byte, 0, 64+len(events)*512)
	buf = append(buf, `{"events":[`...)
	for i := range events {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = h.appendEvent(buf, &events[i], p.locale)
	}
	buf = append(buf, `],"next_cursor":`...)
	if next == "" {
		buf = append(buf, "null"...)
	} else {
		buf = appendJSONString(buf, next)
	}
	if p.count != "" {
		buf = append(buf, `,"count":`...)
		buf = strconv.AppendInt(buf, count, 10)
		buf = append(buf, `,"count_exact":`...)
		buf = strconv.AppendBool(buf, exact)
	}
	buf = append(buf, "}\n"...)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

// listParams are the parameters of GET /v1/events beyond the filter.
type listParams struct {
	order  doorlog.Order
	limit  int
	cursor string
	locale string
	count  string // "", "exact" or "estimate"
}

func parseListParams(q url.Values) (listParams, error) {
	p := listParams{order: doorlog.Desc, limit: defaultListLimit}
	var err error
	if p.order, err = orderParam(q, doorlog.Desc); err != nil {
		return p, err
	}
	v, err := singleParam(q, "limit")
	if err != nil {
		return p, err
	}
	if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return p, doorlog.Errorf(doorlog.EINVALID, "limit: want an integer from 1 to %d, got %q", maxListLimit, v)
		}
		p.limit = n
	}
	if p.cursor, err = singleParam(q, "cursor"); err != nil {
		return p, err
	}
	if p.locale, err = localeParam(q); err != nil {
		return p, err
	}
	if p.count, err = singleParam(q, "count"); err != nil {
		return p, err
	}
	if p.count != "" && p.count != "exact" && p.count != "estimate" {
		return p, doorlog.Errorf(doorlog.EINVALID, "count: want exact or estimate, got %q", p.count)
	}
	return p, nil
}

// orderParam reads order, asc or desc, with def when absent.
func orderParam(q url.Values, def doorlog.Order) (doorlog.Order, error) {
	v, err := singleParam(q, "order")
	if err != nil {
		return def, err
	}
	switch v {
	case "":
		return def, nil
	case "asc":
		return doorlog.Asc, nil
	case "desc":
		return doorlog.Desc, nil
	}
	return def, doorlog.Errorf(doorlog.EINVALID, "order: want asc or desc, got %q", v)
}

// localeParam reads locale. Any value is accepted, lower-cased: the
// catalog renders an unknown locale in English, as BAS-IP panels do.
func localeParam(q url.Values) (string, error) {
	v, err := singleParam(q, "locale")
	return strings.ToLower(v), err
}

func orderName(o doorlog.Order) string {
	if o == doorlog.Desc {
		return "desc"
	}
	return "asc"
}

// cursorCodec returns the codec of native list cursors. The key is read
// per request (one indexed row) rather than kept, so the Handler holds no
// state and a key made by another process is found.
func (h *Handler) cursorCodec(ctx context.Context) (*cursor.Codec, error) {
	key, err := h.cfg.Store.ServerKey(ctx, cursorKeyName)
	if err != nil {
		return nil, err
	}
	return cursor.New(key), nil
}

// filterHash identifies what a filter selects, apart from the scope (the
// token's, applied afresh on every page) and TextKeys (derived from Text).
// The values of each list are sorted and deduplicated, so that spelling
// the same filter another way keeps a cursor valid.
func filterHash(f doorlog.EventFilter) string {
	set := func(v []string) []string {
		v = slices.Clone(v)
		slices.Sort(v)
		return slices.Compact(v)
	}
	enum := func(n int, at func(int) string) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = at(i)
		}
		return set(v)
	}
	tm := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	canon, _ := json.Marshal([][]string{
		set(f.SiteIDs),
		set(f.DeviceIDs),
		enum(len(f.Categories), func(i int) string { return string(f.Categories[i]) }),
		enum(len(f.Priorities), func(i int) string { return string(f.Priorities[i]) }),
		set(f.Keys),
		set(f.IdentifierNumbers),
		set(f.IdentifierTypes),
		{tm(f.From), tm(f.To), f.Text},
	})
	sum := sha256.Sum256(canon)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// countEvents counts the events matching f. "exact" counts them all.
// "estimate" first asks the store for the match just past estimateCap, a
// query that stops at that match and returns one row: when it exists, the
// answer is estimateCap and not exact; when it does not, fewer than
// estimateCap match and the exact count is as cheap as the probe was. So an
// estimate never walks more than estimateCap matches, without a store
// method of its own.
func (h *Handler) countEvents(ctx context.Context, f doorlog.EventFilter, mode string) (n int64, exact bool, err error) {
	if mode == "estimate" {
		probe, err := h.cfg.Store.ListEvents(ctx, doorlog.EventQuery{Filter: f, Offset: estimateCap, Limit: 1})
		if err != nil {
			return 0, false, err
		}
		if len(probe) > 0 {
			return estimateCap, false, nil
		}
	}
	n, err = h.cfg.Store.CountEvents(ctx, f)
	return n, err == nil, err
}

// appendEvent appends the native JSON of e, rendered in locale:
// {"id", "device_id", "site_id", "time", "key", "category", "priority",
// "name", "text", "model", "source_id"}. It is written by hand because the
// export writes millions of these and encoding/json would re-validate
// every model; the model is checked once here instead.
func (h *Handler) appendEvent(buf []byte, e *doorlog.Event, locale string) []byte {
	buf = append(buf, `{"id":`...)
	buf = appendJSONString(buf, e.ID)
	buf = append(buf, `,"device_id":`...)
	buf = appendNullableString(buf, e.DeviceID)
	buf = append(buf, `,"site_id":`...)
	buf = appendNullableString(buf, e.SiteID)
	buf = append(buf, `,"time":"`...)
	buf = appendTime(buf, e.Time, time.UTC)
	buf = append(buf, `","key":`...)
	buf = appendJSONString(buf, e.Key)
	buf = append(buf, `,"category":`...)
	buf = appendJSONString(buf, string(e.Category))
	buf = append(buf, `,"priority":`...)
	buf = appendJSONString(buf, string(e.Priority))
	buf = append(buf, `,"name":`...)
	buf = appendJSONString(buf, h.cfg.Catalog.Name(locale, e.Key))
	buf = append(buf, `,"text":`...)
	buf = appendJSONString(buf, h.cfg.Catalog.Text(locale, e.Key, e.Model))
	buf = append(buf, `,"model":`...)
	buf = appendModel(buf, e.Model)
	if e.SourceID != "" {
		buf = append(buf, `,"source_id":`...)
		buf = appendJSONString(buf, e.SourceID)
	}
	return append(buf, '}')
}

// timeLayout is RFC 3339 with exactly three fractional digits: the store
// keeps milliseconds, and a fixed width sorts as text.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// appendTime appends t in loc as RFC 3339 with milliseconds ("Z" in UTC).
func appendTime(buf []byte, t time.Time, loc *time.Location) []byte {
	return t.In(loc).AppendFormat(buf, timeLayout)
}

// appendModel appends a stored model as it is. Ingest stores compact JSON
// objects; a model that is empty, or not valid JSON (written by another
// program), is written as {} so that one bad row cannot break a whole
// response or export, and one with line breaks is compacted so that it
// stays on its NDJSON line.
func appendModel(buf []byte, model []byte) []byte {
	if len(model) == 0 || !json.Valid(model) {
		return append(buf, "{}"...)
	}
	if !slices.ContainsFunc(model, func(c byte) bool { return c == '\n' || c == '\r' }) {
		return append(buf, model...)
	}
	var b bytes.Buffer
	_ = json.Compact(&b, model) // model is valid, so this cannot fail
	return append(buf, b.Bytes()...)
}

// appendNullableString appends s as a JSON string, or null when empty.
func appendNullableString(buf []byte, s string) []byte {
	if s == "" {
		return append(buf, "null"...)
	}
	return appendJSONString(buf, s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD, and U+2028 and U+2029 escaped
// so that the output is also valid JavaScript.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
