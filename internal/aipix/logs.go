package aipix

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// contextIntercom is the context of every log entry: doorlog's events all
// come from intercoms and door controllers.
const contextIntercom = "intercom"

// dateTimeLayout is RFC 3339 with a numeric offset (+00:00 for UTC) and
// only the fractional digits a time needs, as AIPIX writes date_time.
const dateTimeLayout = "2006-01-02T15:04:05.999999999-07:00"

// logsResponse is the 200 answer: Laravel's paginated resource, in its
// field order.
type logsResponse struct {
	Data  []logEntry `json:"data"`
	Links links      `json:"links"`
	Meta  meta       `json:"meta"`
}

type logEntry struct {
	DeviceID  string `json:"device_id"`
	DateTime  string `json:"date_time"`
	Context   string `json:"context"`
	EventCode int    `json:"event_code"`
	// Data is the stored model with the key as "action", spliced from the
	// stored bytes.
	Data json.RawMessage `json:"data"`
}

type links struct {
	First string  `json:"first"`
	Last  string  `json:"last"`
	Prev  *string `json:"prev"`
	Next  *string `json:"next"`
}

type meta struct {
	CurrentPage int64      `json:"current_page"`
	From        *int64     `json:"from"`
	LastPage    int64      `json:"last_page"`
	Links       []pageLink `json:"links"`
	Path        string     `json:"path"`
	PerPage     int        `json:"per_page"`
	To          *int64     `json:"to"`
	Total       int64      `json:"total"`
}

type pageLink struct {
	URL    *string `json:"url"`
	Label  string  `json:"label"`
	Active bool    `json:"active"`
}

// logs serves the intercom log list. Checks run in this order: token
// (401), role (403), intercom (404), body (400, 413), parameters (422).
func (h *Handler) logs(w http.ResponseWriter, r *http.Request) {
	tok, err := h.reader(r)
	if err != nil {
		h.writeError(w, r, "authenticate", err)
		return
	}
	dev, err := h.intercom(r, tok)
	if err != nil {
		h.writeError(w, r, "find intercom", err)
		return
	}
	p, err := readParams(w, r)
	if err != nil {
		h.writeError(w, r, "read parameters", err)
		return
	}
	// The page, its answer and their encoding are held until the client
	// has taken the answer: reserved in the read pool first.
	res, err := h.reads.ReservePage(r.Context(), p.perPage, 0)
	if err != nil {
		h.writeError(w, r, "reserve memory", errBusy)
		return
	}
	defer res.Release()
	resp, err := h.page(r, res, dev, tok.Scope(), p)
	if err != nil {
		h.writeError(w, r, "list events", err)
		return
	}
	b, err := encodeJSON(resp)
	if err != nil {
		h.writeError(w, r, "encode response", err)
		return
	}
	writeBody(w, http.StatusOK, b)
}

// reader authenticates the bearer token and requires a token that may read
// logs: an admin or a manager (the scope limits both). A device's token is
// EFORBIDDEN.
func (h *Handler) reader(r *http.Request) (*doorlog.Token, error) {
	bearer := auth.BearerToken(r)
	if bearer == "" {
		return nil, doorlog.Errorf(doorlog.EUNAUTHORIZED, "no bearer token")
	}
	tok, err := h.auth.Authenticate(r.Context(), bearer)
	if err != nil {
		return nil, err
	}
	if tok.Role != doorlog.RoleAdmin && tok.Role != doorlog.RoleManager {
		return nil, doorlog.Errorf(doorlog.EFORBIDDEN, "a %s token may not read logs", tok.Role)
	}
	return tok, nil
}

// intercom resolves {intercom}. A malformed id, an unknown device and a
// device outside the token's scope are all ENOTFOUND, so a caller cannot
// tell which devices exist elsewhere.
func (h *Handler) intercom(r *http.Request, tok *doorlog.Token) (*doorlog.Device, error) {
	id, err := doorlog.CanonicalDeviceID(r.PathValue("intercom"))
	if err != nil {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "intercom not found")
	}
	dev, err := h.store.FindDevice(r.Context(), id)
	if err != nil {
		if code := doorlog.ErrorCode(err); code == doorlog.ENOTFOUND || code == doorlog.EINVALID {
			return nil, doorlog.Errorf(doorlog.ENOTFOUND, "intercom not found")
		}
		return nil, err
	}
	if !tok.Scope().Allows(dev.SiteID) {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "intercom not found")
	}
	return dev, nil
}

// page counts the intercom's events, fetches one page newest first and
// builds the answer, fitting res, the page's reservation, to it.
func (h *Handler) page(r *http.Request, res *budget.Reservation, dev *doorlog.Device, scope doorlog.Scope, p pageParams) (*logsResponse, error) {
	ctx := r.Context()
	filter := doorlog.EventFilter{Scope: scope, DeviceIDs: []string{dev.ID}}
	total, err := h.store.CountEvents(ctx, filter)
	if err != nil {
		return nil, err
	}
	perPage := int64(p.perPage)
	lastPage := max(1, (total+perPage-1)/perPage)
	var events []doorlog.Event
	// Comparing pages first keeps (page-1)*perPage from overflowing.
	if p.page-1 < lastPage {
		if offset := (p.page - 1) * perPage; offset < total {
			events, err = h.store.ListEvents(ctx, doorlog.EventQuery{
				Filter: filter,
				Order:  doorlog.Desc,
				Offset: int(offset),
				Limit:  p.perPage,
			})
			if err != nil {
				return nil, err
			}
			if err := res.Fit(ctx, events); err != nil {
				return nil, errBusy
			}
		}
	}

	pg := newPager(r, p)
	resp := &logsResponse{
		Data: make([]logEntry, 0, len(events)),
		Links: links{
			First: pg.url(1),
			Last:  pg.url(lastPage),
			Prev:  pg.prev(p.page),
			Next:  pg.next(p.page, lastPage),
		},
		Meta: meta{
			CurrentPage: p.page,
			LastPage:    lastPage,
			Links:       pg.pageLinks(p.page, lastPage),
			Path:        pg.path,
			PerPage:     p.perPage,
			Total:       total,
		},
	}
	for _, e := range events {
		data, err := actionData(e.Key, e.Model)
		if err != nil {
			// Ingest stores JSON objects only; should a row be damaged, one
			// event must not fail the page a client needs.
			h.logger.WarnContext(ctx, "aipix: stored model is not a JSON object", "event_id", e.ID, "err", err)
			data, _ = actionData(e.Key, nil)
		}
		resp.Data = append(resp.Data, logEntry{
			DeviceID:  e.DeviceID,
			DateTime:  formatDateTime(e.Time),
			Context:   contextIntercom,
			EventCode: h.catalog.Entry(e.Key).Code,
			Data:      data,
		})
	}
	if n := int64(len(events)); n > 0 {
		from := (p.page-1)*perPage + 1
		to := from + n - 1
		resp.Meta.From, resp.Meta.To = &from, &to
	}
	return resp, nil
}

// formatDateTime writes a time as AIPIX's date_time:
// 2022-06-23T07:53:35.29+00:00, 2022-06-23T07:52:27+00:00.
func formatDateTime(t time.Time) string {
	return t.UTC().Format(dateTimeLayout)
}

// actionData returns an event's data: {"action": key} followed by the
// model's members in their stored order, leaving out any member of the
// model named "action" (the key is the canonical action). Values are copied
// as stored, so numbers no float64 holds come out exact. An empty model is
// {"action": key}; a model that is not a JSON object is an error.
func actionData(key string, model []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"action":`)
	writeString(&buf, key)
	if len(bytes.TrimSpace(model)) == 0 {
		buf.WriteByte('}')
		return buf.Bytes(), nil
	}
	dec := json.NewDecoder(bytes.NewReader(model))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("model is not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string) // a member name is always a string
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		if name == "action" {
			continue
		}
		buf.WriteByte(',')
		writeString(&buf, name)
		buf.WriteByte(':')
		buf.Write(value)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("model has data after its object")
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// writeString writes s as a JSON string without HTML escaping.
func writeString(buf *bytes.Buffer, s string) {
	b, _ := encodeJSON(s) // a string always encodes
	buf.Write(bytes.TrimSuffix(b, []byte("\n")))
}
