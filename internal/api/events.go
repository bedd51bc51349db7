package api

import (
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

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/cursor"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// Paging limits of GET /v1/events.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// listPageBytes bounds a page of GET /v1/events by the size of its models
// as well as by limit: a page of 1,000 of the largest models would
// otherwise hold 16 MiB, and a few clients that ask for such pages and do
// not read them would hold the server's whole memory. A page cut short by
// it still has a next_cursor.
const listPageBytes = 1 << 20

// errReadBusy refuses a read while the pages of others fill the read share
// of the memory budget: clients that stopped reading hold pages until
// their write deadline.
var errReadBusy = doorlog.Errorf(doorlog.EUNAVAILABLE, "the server is busy sending other pages of events; retry later").Retry(readRetryAfter)

// readRetryAfter is what a read refused for lack of memory is told to wait.
const readRetryAfter = 2 * time.Second

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
	query := doorlog.EventQuery{Filter: f, Order: p.order, Limit: p.limit + 1, MaxBytes: listPageBytes}
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
	res, err := h.cfg.Budget.Reads.ReservePage(r.Context(), query.Limit, query.MaxBytes)
	if err != nil {
		h.writeError(w, r, errReadBusy)
		return
	}
	defer res.Release()
	events, err := h.cfg.Store.ListEvents(r.Context(), query)
	if err != nil {
		if query.After != nil && doorlog.ErrorCode(err) == doorlog.EINVALID {
			err = cursor.ErrInvalid // a signed cursor with an id the store refuses
		}
		h.writeError(w, r, err)
		return
	}
	if err := res.Fit(r.Context(), events); err != nil {
		h.writeError(w, r, errReadBusy)
		return
	}
	next := ""
	if len(events) > p.limit || len(events) > 0 && doorlog.PageBytes(events) >= listPageBytes {
		events = events[:min(len(events), p.limit)]
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
	enc := h.encoder(p.locale)
	for i := range events {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = enc.appendEvent(buf, &events[i])
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
// from the store on first use and kept: a server key never changes once
// made, and the store makes it only once however many processes ask. A
// failure to read it is not kept, so the next request tries again.
func (h *Handler) cursorCodec(ctx context.Context) (*cursor.Codec, error) {
	if c := h.codec.Load(); c != nil {
		return c, nil
	}
	key, err := h.cfg.Store.ServerKey(ctx, cursorKeyName)
	if err != nil {
		return nil, err
	}
	c := cursor.New(key)
	h.codec.Store(c)
	return c, nil
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
