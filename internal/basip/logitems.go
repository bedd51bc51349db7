package basip

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// limits lists the page sizes a client may ask for: the union of the two
// lists in the BAS-IP documentation.
var limits = []int{10, 20, 25, 30, 50}

// DefaultLimit is the page size when limit is absent.
const DefaultLimit = 10

// The filter fields, types and formats the API offers.
const (
	fieldCategory = "category"
	fieldPriority = "priority"
	fieldName     = "name"
	typeEqual     = "equal"
	formatString  = "string"
)

// Times outside year 1 to year 9999 are clamped to those ends: doorlog
// stores no event outside them, and a client that sends a huge `to` to mean
// "open" still gets what it meant.
var (
	minMillis = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxMillis = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
)

// listParams is a validated log list request.
type listParams struct {
	locale   string
	from, to time.Time // the zero time leaves that end open
	limit    int
	page     int64
	desc     bool
	// field is the filter field, "" for none; value its raw value, checked
	// by checkValue once the available names are known.
	field string
	value string
}

// paramError is a 400 answer with one of the Err* strings.
type paramError string

func (e paramError) Error() string { return string(e) }

// param returns a query parameter's first value; an empty value is the same
// as an absent parameter.
func param(q url.Values, name string) string {
	return q.Get(name)
}

// parseListParams validates every parameter but the filter value, in the
// documented order: time format, time range, limit, page number, sort type,
// filter field, filter type, filter format. Unknown parameters are ignored.
func parseListParams(q url.Values) (listParams, error) {
	p := listParams{locale: catalog.DefaultLocale, limit: DefaultLimit, page: 1}
	if l := strings.ToLower(param(q, "locale")); catalog.IsLocale(l) {
		p.locale = l
	}

	fromS, toS := param(q, "from"), param(q, "to")
	var from, to int64
	var err error
	if fromS != "" {
		if from, err = strconv.ParseInt(fromS, 10, 64); err != nil {
			return p, paramError(ErrWrongTimeFormat)
		}
	}
	if toS != "" {
		if to, err = strconv.ParseInt(toS, 10, 64); err != nil {
			return p, paramError(ErrWrongTimeFormat)
		}
	}
	from, to = panelMillis(from, false), panelMillis(to, true)
	if fromS != "" && toS != "" && to < from {
		return p, paramError(ErrWrongTimeRange)
	}
	if fromS != "" {
		p.from = millisTime(from, minMillis)
	}
	if toS != "" {
		// Not minMillis: that is the zero time, which would open the end.
		p.to = millisTime(to, minMillis+1)
	}

	if s := param(q, "limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || !slices.Contains(limits, n) {
			return p, paramError(ErrWrongLimit)
		}
		p.limit = n
	}
	if s := param(q, "page_number"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return p, paramError(ErrWrongPage)
		}
		p.page = n
	}
	switch param(q, "sort_type") {
	case "", "asc":
	case "desc":
		p.desc = true
	default:
		return p, paramError(ErrWrongSortType)
	}

	field, typ, format, value := param(q, "filter_field"), param(q, "filter_type"), param(q, "filter_format"), param(q, "filter_value")
	switch field {
	case fieldCategory, fieldPriority, fieldName:
	case "":
		if typ != "" || format != "" || value != "" {
			return p, paramError(ErrWrongField)
		}
		return p, nil
	default:
		return p, paramError(ErrWrongField)
	}
	if typ != "" && typ != typeEqual {
		return p, paramError(ErrWrongType)
	}
	if format != "" && format != formatString {
		return p, paramError(ErrWrongFormat)
	}
	p.field, p.value = field, value
	return p, nil
}

// secondsBelow is where from and to stop being Unix seconds: a value below
// it is read as seconds, one at or above it as milliseconds. 10^11 ms is
// 3 March 1973, before any event a panel logged, and 10^11 s is year 5138,
// so no real time is misread either way. Some pollers send seconds (one
// C# service sends from in seconds and to in milliseconds, in one request),
// so each parameter is read on its own.
const secondsBelow = 100_000_000_000

// panelMillis returns a from or to value in milliseconds. A value in
// seconds means its whole second: from its first millisecond, to its last
// (end), so that a window given in seconds takes in every event of the
// seconds it names. Values beyond what milliseconds hold saturate, and
// are clamped later.
func panelMillis(v int64, end bool) int64 {
	if v >= secondsBelow {
		return v
	}
	if v < math.MinInt64/1000 {
		return math.MinInt64
	}
	ms := v * 1000
	if end {
		ms += 999
	}
	return ms
}

// millisTime turns Unix milliseconds into a time, clamped to [lo,
// maxMillis].
func millisTime(ms, lo int64) time.Time {
	ms = min(max(ms, lo), maxMillis)
	return time.UnixMilli(ms).UTC()
}

// checkValue validates the filter value against the field's available
// values (a name is valid when known says it is a catalog or stored key,
// which available_values.name offers, all of them or the first) and puts it
// in f. The value is matched exactly, as the client got it from
// available_values.
func (p listParams) checkValue(known func(string) bool, f *doorlog.EventFilter) error {
	switch p.field {
	case "":
		return nil
	case fieldCategory:
		c := doorlog.Category(p.value)
		if !slices.Contains(doorlog.Categories, c) {
			return paramError(ErrWrongValue)
		}
		f.Categories = []doorlog.Category{c}
	case fieldPriority:
		pr := doorlog.Priority(p.value)
		if !slices.Contains(doorlog.Priorities, pr) {
			return paramError(ErrWrongValue)
		}
		f.Priorities = []doorlog.Priority{pr}
	case fieldName:
		if !known(p.value) {
			return paramError(ErrWrongValue)
		}
		f.Keys = []string{p.value}
	}
	return nil
}

// listResponse is the 200 answer of the log list, in the field order of the
// BAS-IP documentation.
type listResponse struct {
	ListOption listOption `json:"list_option"`
	ListItems  []listItem `json:"list_items"`
}

type listOption struct {
	Pagination pagination   `json:"pagination"`
	Filter     filterOption `json:"filter"`
	Sort       sortOption   `json:"sort"`
	Locale     localeOption `json:"locale"`
}

type pagination struct {
	TotalItems  int64 `json:"total_items"`
	ItemsLimit  int   `json:"items_limit"`
	TotalPages  int64 `json:"total_pages"`
	CurrentPage int64 `json:"current_page"`
}

type filterOption struct {
	AvailableFiltering bool            `json:"available_filtering"`
	IsFiltered         bool            `json:"is_filtered"`
	AvailableFields    []filterField   `json:"available_fields"`
	AvailableValues    availableValues `json:"available_values"`
}

type filterField struct {
	FilterField    string   `json:"filter_field"`
	AvailableTypes []string `json:"available_types"`
}

type availableValues struct {
	Category []doorlog.Category `json:"category"`
	Priority []doorlog.Priority `json:"priority"`
	Name     []nameValue        `json:"name"`
}

type nameValue struct {
	Text string `json:"text"`
	Key  string `json:"key"`
}

type sortOption struct {
	Asc              bool     `json:"asc"`
	AvailableSorting []string `json:"available_sorting"`
}

type localeOption struct {
	Locale           string   `json:"locale"`
	AvailableLocales []string `json:"available_locales"`
}

type listItem struct {
	Timestamp int64            `json:"timestamp"`
	Category  doorlog.Category `json:"category"`
	Priority  doorlog.Priority `json:"priority"`
	Name      itemName         `json:"name"`
	Info      itemInfo         `json:"info"`
}

type itemName struct {
	Key  string `json:"key"`
	Text string `json:"text"`
}

type itemInfo struct {
	// Model is the stored model, written through as it is.
	Model json.RawMessage `json:"model"`
	Text  string          `json:"text"`
}

var availableFields = []filterField{
	{FilterField: fieldCategory, AvailableTypes: []string{typeEqual}},
	{FilterField: fieldPriority, AvailableTypes: []string{typeEqual}},
	{FilterField: fieldName, AvailableTypes: []string{typeEqual}},
}

// admin authenticates the bearer token and requires an admin: 401 Log In
// without a valid token, 403 Administrator rights required for a manager
// or device token. ok is false when the answer has been written.
func (h *Handler) admin(w http.ResponseWriter, r *http.Request) (tok *doorlog.Token, ok bool) {
	bearer := auth.BearerToken(r)
	if bearer == "" {
		writeError(w, http.StatusUnauthorized, ErrLogIn)
		return nil, false
	}
	tok, err := h.auth.Authenticate(r.Context(), bearer)
	if err != nil {
		if doorlog.ErrorCode(err) == doorlog.EUNAUTHORIZED {
			writeError(w, http.StatusUnauthorized, ErrLogIn)
			return nil, false
		}
		h.internalError(w, r, "authenticate", err)
		return nil, false
	}
	if tok.Role != doorlog.RoleAdmin {
		writeError(w, http.StatusForbidden, ErrAdminRequired)
		return nil, false
	}
	return tok, true
}

// logItemsHandler serves GET /api/v1/log/items, or its per-device twin.
// Checks run in this order: token (401), role (403), device (404), then the
// parameters (400) in parseListParams' order, the filter value last.
func (h *Handler) logItemsHandler(perDevice bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := h.admin(w, r)
		if !ok {
			return
		}
		filter := doorlog.EventFilter{Scope: tok.Scope()}
		deviceID := ""
		if perDevice {
			dev, ok := h.scopedDevice(w, r, tok)
			if !ok {
				return
			}
			deviceID = dev.ID
			filter.DeviceIDs = []string{dev.ID}
		}
		p, err := parseListParams(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		names, known, err := h.names(r)
		if err != nil {
			h.internalError(w, r, "list event keys", err)
			return
		}
		if err := p.checkValue(known, &filter); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		filter.From, filter.To = p.from, p.to
		// Behind a clear, this reader sees what was stored after it.
		switch wm, err := h.store.FindWatermark(r.Context(), doorlog.WatermarkKeyOf(tok, deviceID)); {
		case err == nil:
			filter.StoredAfter = wm.After
		case doorlog.ErrorCode(err) != doorlog.ENOTFOUND:
			h.internalError(w, r, "find watermark", err)
			return
		}
		h.list(w, r, p, filter, names)
	})
}

// names returns the keys offered as available_values.name: the catalog's,
// then the other keys the store has seen, sorted, at most h.maxNames of
// them; and known, which reports whether a key is a catalog or stored key
// (listed or not).
func (h *Handler) names(r *http.Request) (names []string, known func(string) bool, err error) {
	keys := h.catalog.Keys()
	stored, err := h.store.EventKeys(r.Context())
	if err != nil {
		return nil, nil, err
	}
	names = slices.Clone(keys)
	inCatalog := make(map[string]bool, len(keys))
	for _, k := range keys {
		inCatalog[k] = true
	}
	slices.Sort(stored)
	for _, k := range stored {
		if len(names)-len(keys) == h.maxNames {
			break
		}
		if !inCatalog[k] {
			names = append(names, k)
		}
	}
	known = func(k string) bool {
		if inCatalog[k] {
			return true
		}
		_, ok := slices.BinarySearch(stored, k)
		return ok
	}
	return names, known, nil
}

// busyRetryAfter is the Retry-After, in seconds, of ErrBusy.
const busyRetryAfter = "2"

// list counts, fetches and renders one page.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, p listParams, filter doorlog.EventFilter, names []string) {
	ctx := r.Context()
	// The page, its answer and their encoding are held until the client
	// has taken the answer: reserved in the read pool first.
	res, err := h.reads.ReservePage(ctx, p.limit, 0)
	if err != nil {
		w.Header().Set("Retry-After", busyRetryAfter)
		writeError(w, http.StatusServiceUnavailable, ErrBusy)
		return
	}
	defer res.Release()
	total, err := h.store.CountEvents(ctx, filter)
	if err != nil {
		h.internalError(w, r, "count events", err)
		return
	}
	limit := int64(p.limit)
	totalPages := max(1, (total+limit-1)/limit)
	events := []doorlog.Event{}
	// Comparing pages first keeps (page-1)*limit from overflowing.
	if p.page-1 < totalPages {
		order := doorlog.Asc
		if p.desc {
			order = doorlog.Desc
		}
		if offset := (p.page - 1) * limit; offset < total {
			events, err = h.store.ListEvents(ctx, doorlog.EventQuery{
				Filter: filter,
				Order:  order,
				Offset: int(offset),
				Limit:  p.limit,
			})
			if err != nil {
				h.internalError(w, r, "list events", err)
				return
			}
			if err := res.Fit(ctx, events); err != nil {
				w.Header().Set("Retry-After", busyRetryAfter)
				writeError(w, http.StatusServiceUnavailable, ErrBusy)
				return
			}
		}
	}

	resp := listResponse{
		ListOption: listOption{
			Pagination: pagination{
				TotalItems:  total,
				ItemsLimit:  p.limit,
				TotalPages:  totalPages,
				CurrentPage: p.page,
			},
			Filter: filterOption{
				AvailableFiltering: true,
				IsFiltered:         p.field != "",
				AvailableFields:    availableFields,
				AvailableValues: availableValues{
					Category: doorlog.Categories,
					Priority: doorlog.Priorities,
					Name:     make([]nameValue, 0, len(names)),
				},
			},
			Sort: sortOption{Asc: !p.desc, AvailableSorting: []string{"asc", "desc"}},
			Locale: localeOption{
				Locale:           p.locale,
				AvailableLocales: catalog.Locales(),
			},
		},
		ListItems: make([]listItem, 0, len(events)),
	}
	for _, k := range names {
		resp.ListOption.Filter.AvailableValues.Name = append(resp.ListOption.Filter.AvailableValues.Name,
			nameValue{Text: h.catalog.Name(p.locale, k), Key: k})
	}
	for _, e := range events {
		model := e.Model
		if len(model) == 0 {
			model = json.RawMessage("{}")
		} else if !json.Valid(model) {
			// Ingest stores valid JSON only; should a row be damaged, one
			// event must not fail the whole page a poller needs.
			h.logger.WarnContext(r.Context(), "basip: stored model is not JSON", "event_id", e.ID)
			model = json.RawMessage("{}")
		}
		resp.ListItems = append(resp.ListItems, listItem{
			Timestamp: e.Time.UnixMilli(),
			Category:  e.Category,
			Priority:  e.Priority,
			Name:      itemName{Key: e.Key, Text: h.catalog.Name(p.locale, e.Key)},
			Info:      itemInfo{Model: model, Text: h.catalog.Text(p.locale, e.Key, model)},
		})
	}
	h.writeJSON(w, r, http.StatusOK, resp)
}
