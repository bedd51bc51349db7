package oloid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/doorlog/doorlog/internal/cursor"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// The page sizes of /filterActivity.
const (
	// DefaultLimit is the page size when neither the request nor its
	// nextToken gives one.
	DefaultLimit = 50
	// MaxLimit is the largest page a client may ask for.
	MaxLimit = 1000
)

// CursorKeyName is the name of the server key that signs nextTokens (see
// doorlog.Store.ServerKey). Tokens therefore survive a restart, and no other
// API's cursor passes for one of this API's.
const CursorKeyName = "oloid-cursor"

// The 400 answers of /filterActivity, in the order they are checked.
const (
	msgBadJSON       = "Request body is not valid JSON"
	msgNotObject     = "Request body must be a JSON object"
	msgNextTokenType = "nextToken must be a string"
	msgStartType     = "start must be an integer number of milliseconds since the Unix epoch"
	msgEndType       = "end must be an integer number of milliseconds since the Unix epoch"
	msgLimit         = "limit must be an integer from 1 to 1000"
	msgRange         = "start must not be after end"
	msgNextToken     = "nextToken is not valid: it is malformed, altered, or was not issued by this server"
	msgStartMismatch = "start must be left out or equal to the start of the request that returned nextToken"
	msgEndMismatch   = "end must be left out or equal to the end of the request that returned nextToken"
)

// tokenVersion is the version of pageToken's content.
const tokenVersion = 1

// Times outside year 1 to year 9999 match no event: doorlog stores none
// outside them. A window reaching past them is cut to them, so a client
// that sends a huge end to mean "open" still gets what it meant.
var (
	minMillis = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxMillis = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
)

// filterRequest is the body of POST /filterActivity. Every member is
// optional; they are kept raw so that each is checked with its own message.
// Members the API does not know are ignored.
type filterRequest struct {
	NextToken json.RawMessage `json:"nextToken"`
	Start     json.RawMessage `json:"start"`
	End       json.RawMessage `json:"end"`
	Limit     json.RawMessage `json:"limit"`
}

// filterParams is a checked filter request: the window (nil leaves an end
// open), the page size, and where the page starts (nil: at the newest).
type filterParams struct {
	start, end *int64
	limit      int
	// firstLimit is the limit of the first request of the walk; the next
	// token carries it so a request without limit keeps the page size.
	firstLimit int
	limitGiven bool
	// next is the request's nextToken, not yet opened; after is where it
	// points once it is.
	next  string
	after *doorlog.EventCursor
}

// pageToken is the signed content of a nextToken: the (time, id) of the
// last activity returned, and the window and limit of the walk's first
// request. The names are short because the token travels in every request.
type pageToken struct {
	V     int    `json:"v"`
	Time  int64  `json:"t"`
	ID    string `json:"i"`
	Start *int64 `json:"s,omitempty"`
	End   *int64 `json:"e,omitempty"`
	Limit int    `json:"l"`
}

func invalid(msg string) error { return doorlog.Errorf(doorlog.EINVALID, "%s", msg) }

// parseFilter checks a filter request body, in this order: JSON, an
// object, the type of nextToken, start, end and limit, start not after
// end. An empty body is {}; a member that is null is left out, and so is an
// empty nextToken. The nextToken itself is opened by resume.
func parseFilter(body []byte) (filterParams, error) {
	p := filterParams{limit: DefaultLimit, firstLimit: DefaultLimit}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return p, nil
	}
	var req filterRequest
	if err := json.Unmarshal(body, &req); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return p, invalid(msgNotObject)
		}
		return p, invalid(msgBadJSON)
	}
	if body[0] != '{' {
		return p, invalid(msgNotObject)
	}

	if raw, ok := present(req.NextToken); ok {
		if raw[0] != '"' || json.Unmarshal(raw, &p.next) != nil {
			return p, invalid(msgNextTokenType)
		}
	}
	if raw, ok := present(req.Start); ok {
		n, ok := integer(raw)
		if !ok {
			return p, invalid(msgStartType)
		}
		p.start = &n
	}
	if raw, ok := present(req.End); ok {
		n, ok := integer(raw)
		if !ok {
			return p, invalid(msgEndType)
		}
		p.end = &n
	}
	if raw, ok := present(req.Limit); ok {
		n, ok := integer(raw)
		if !ok || n < 1 || n > MaxLimit {
			return p, invalid(msgLimit)
		}
		p.limit, p.firstLimit, p.limitGiven = int(n), int(n), true
	}
	if p.start != nil && p.end != nil && *p.start > *p.end {
		return p, invalid(msgRange)
	}
	return p, nil
}

// resume opens the request's nextToken, when it has one, with codec: its
// signature, then its window against the request's. The walk goes on from
// the token's position, in the token's window, with the request's limit or
// else the first request's.
func (p *filterParams) resume(codec *cursor.Codec) error {
	var tok pageToken
	if err := codec.Decode(p.next, &tok); err != nil {
		return invalid(msgNextToken)
	}
	if _, err := doorlog.ParseEventID(tok.ID); err != nil || tok.V != tokenVersion ||
		tok.Limit < 1 || tok.Limit > MaxLimit || tok.Time < minMillis || tok.Time > maxMillis {
		// Signed by this server but not by this code: refuse rather than
		// guess.
		return invalid(msgNextToken)
	}
	if p.start != nil && !sameInt(p.start, tok.Start) {
		return invalid(msgStartMismatch)
	}
	if p.end != nil && !sameInt(p.end, tok.End) {
		return invalid(msgEndMismatch)
	}
	p.start, p.end, p.firstLimit = tok.Start, tok.End, tok.Limit
	if !p.limitGiven {
		p.limit = tok.Limit
	}
	p.after = &doorlog.EventCursor{Time: time.UnixMilli(tok.Time).UTC(), ID: tok.ID}
	return nil
}

// present returns a member's raw value, and false when it is absent or
// null.
func present(raw json.RawMessage) (json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// integer reads a JSON number that is a whole number: 1662364800000, and
// also 1662364800000.0 or 1.6623648e12 as some encoders write them. A
// fraction, a string or any other value is not one.
func integer(raw json.RawMessage) (int64, bool) {
	s := string(raw)
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func sameInt(a, b *int64) bool {
	return a != nil && b != nil && *a == *b
}

// filter is the store filter of the request's window within scope. ok is
// false when the window lies wholly outside the times doorlog stores.
func (p filterParams) filter(scope doorlog.Scope) (f doorlog.EventFilter, ok bool) {
	f.Scope = scope
	if p.start != nil {
		if *p.start > maxMillis {
			return f, false
		}
		f.From = time.UnixMilli(max(*p.start, minMillis)).UTC()
	}
	if p.end != nil {
		// minMillis itself is the zero time, which would open the end.
		if *p.end <= minMillis {
			return f, false
		}
		f.To = time.UnixMilli(min(*p.end, maxMillis)).UTC()
	}
	return f, true
}

// The 200 answer of /filterActivity is
//
//	{"data": {"activities": [{"id", "timestamp", "activityType", "details"}, ...],
//	          "nextToken": "..." or null},
//	 "message": MessageActivities}
//
// written by hand (see appendPage), as encoding/json wrote it.

// pageBytes bounds a page by the size of its models as well as by its
// limit, so that a page of 1,000 of the largest models does not hold 16 MiB;
// a page cut short by it still has a nextToken.
const pageBytes = 1 << 20

// errBusy refuses a page while the pages of others fill the read share of
// the memory budget.
var errBusy = doorlog.Errorf(doorlog.EUNAVAILABLE, "the server is busy sending other pages").Retry(2 * time.Second)

// filterActivity serves POST /filterActivity. Checks run in this order:
// token (401), role (403), body (400, in parseFilter's order).
func (h *Handler) filterActivity(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tok, err := h.authenticate(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	p, err := parseFilter(body)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if p.next != "" {
		codec, err := h.cursorCodec(ctx)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if err := p.resume(codec); err != nil {
			h.writeError(w, r, err)
			return
		}
	}

	f, ok := p.filter(tok.Scope())
	if !ok {
		page, _ := h.appendPage(ctx, nil, nil, "")
		writeBody(w, http.StatusOK, page)
		return
	}
	// One more than the page tells whether there is a next page.
	query := doorlog.EventQuery{
		Filter:   f,
		Order:    doorlog.Desc,
		After:    p.after,
		Limit:    p.limit + 1,
		MaxBytes: pageBytes,
	}
	res, err := h.reads.ReservePage(ctx, query.Limit, query.MaxBytes)
	if err != nil {
		h.writeError(w, r, errBusy)
		return
	}
	defer res.Release()
	events, err := h.store.ListEvents(ctx, query)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := res.Fit(ctx, events); err != nil {
		h.writeError(w, r, errBusy)
		return
	}
	next := ""
	if len(events) > p.limit || len(events) > 0 && doorlog.PageBytes(events) >= pageBytes {
		events = events[:min(len(events), p.limit)]
		last := events[len(events)-1]
		codec, err := h.cursorCodec(ctx)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		next, err = codec.Encode(pageToken{
			V:     tokenVersion,
			Time:  last.Time.UnixMilli(),
			ID:    last.ID,
			Start: p.start,
			End:   p.end,
			Limit: p.firstLimit,
		})
		if err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	page, err := h.appendPage(ctx, make([]byte, 0, 128+len(events)*384), events, next)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeBody(w, http.StatusOK, page)
}

// appendPage appends the 200 answer of /filterActivity with the activities
// of events and the nextToken next ("" for null) to dst, followed by a
// line break as encoding/json's Encoder ends it.
func (h *Handler) appendPage(ctx context.Context, dst []byte, events []doorlog.Event, next string) ([]byte, error) {
	dst = append(dst, `{"data":{"activities":[`...)
	d := detailsWriter{h: h}
	for i := range events {
		e := &events[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = appendString(dst, e.ID)
		dst = append(dst, `,"timestamp":`...)
		dst = strconv.AppendInt(dst, e.Time.UnixMilli(), 10)
		dst = append(dst, `,"activityType":`...)
		dst = appendString(dst, h.catalog.Entry(e.Key).ActivityType)
		dst = append(dst, `,"details":`...)
		var err error
		if dst, err = d.appendDetails(ctx, dst, e); err != nil {
			return nil, err
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `],"nextToken":`...)
	if next == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendString(dst, next)
	}
	dst = append(dst, `},"message":`...)
	dst = appendString(dst, MessageActivities)
	return append(dst, "}\n"...), nil
}

// cursorCodec returns the codec that signs nextTokens, reading the server
// key on first use.
func (h *Handler) cursorCodec(ctx context.Context) (*cursor.Codec, error) {
	h.codecMu.Lock()
	defer h.codecMu.Unlock()
	if h.codec != nil {
		return h.codec, nil
	}
	key, err := h.store.ServerKey(ctx, CursorKeyName)
	if err != nil {
		return nil, err
	}
	h.codec = cursor.New(key)
	return h.codec, nil
}
