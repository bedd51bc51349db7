package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// maxFilterValues bounds how many values one filter parameter may list, so
// that a query string cannot grow a statement past what the store takes.
const maxFilterValues = 100

// maxTextLen bounds the free-text parameter q, in bytes.
const maxTextLen = 200

// parseEventFilter reads the event filter shared by the list, the export
// and the live stream from r's query string, always within tok's scope.
// Only admins and managers read events: any other token is EFORBIDDEN.
//
// List parameters (site_id, device_id, category, priority, key,
// identifier_number, identifier_type) may be repeated and may hold several
// comma-separated values; the values of one parameter are alternatives and
// the parameters narrow each other. An unknown category or priority is an
// error, but an unknown site, device or key simply matches nothing, as a
// site outside the token's scope does. from and to (RFC 3339, or integer
// milliseconds since the epoch) are both inclusive. q searches the model
// and the names of the keys in every locale; see doorlog.EventFilter.Text.
func (h *Handler) parseEventFilter(r *http.Request, tok *doorlog.Token) (doorlog.EventFilter, error) {
	if tok == nil || (tok.Role != doorlog.RoleAdmin && tok.Role != doorlog.RoleManager) {
		return doorlog.EventFilter{}, doorlog.Errorf(doorlog.EFORBIDDEN, "only admin and manager tokens may read events")
	}
	q := r.URL.Query()
	f := doorlog.EventFilter{Scope: tok.Scope()}
	var err error
	if f.SiteIDs, err = listParam(q, "site_id"); err != nil {
		return f, err
	}
	if f.DeviceIDs, err = listParam(q, "device_id"); err != nil {
		return f, err
	}
	if f.Categories, err = enumParam(q, "category", doorlog.Categories); err != nil {
		return f, err
	}
	if f.Priorities, err = enumParam(q, "priority", doorlog.Priorities); err != nil {
		return f, err
	}
	if f.Keys, err = listParam(q, "key"); err != nil {
		return f, err
	}
	if f.IdentifierNumbers, err = listParam(q, "identifier_number"); err != nil {
		return f, err
	}
	if f.IdentifierTypes, err = listParam(q, "identifier_type"); err != nil {
		return f, err
	}
	if f.From, err = timeParam(q, "from"); err != nil {
		return f, err
	}
	if f.To, err = timeParam(q, "to"); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return f, doorlog.Errorf(doorlog.EINVALID, "to must not be before from")
	}
	text, err := singleParam(q, "q")
	if err != nil {
		return f, err
	}
	if len(text) > maxTextLen {
		return f, doorlog.Errorf(doorlog.EINVALID, "q must be at most %d bytes", maxTextLen)
	}
	if text != "" {
		f.Text = text
		f.TextKeys, err = h.textKeys(r, text)
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

// textKeys returns the keys a free text names: the catalog keys whose name
// in some locale (or whose key) contains it, and the stored keys the
// catalog does not know whose key contains it, since that key is what such
// an event shows as its name.
func (h *Handler) textKeys(r *http.Request, text string) ([]string, error) {
	keys := h.cfg.Catalog.KeysMatching(text)
	stored, err := h.cfg.Store.EventKeys(r.Context())
	if err != nil {
		return nil, err
	}
	lower := strings.ToLower(text)
	for _, k := range stored {
		if strings.Contains(strings.ToLower(k), lower) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// listParam returns every value of a list parameter: each occurrence split
// at commas, blanks trimmed, empty values dropped.
func listParam(q url.Values, name string) ([]string, error) {
	var out []string
	for _, v := range q[name] {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	if len(out) > maxFilterValues {
		return nil, doorlog.Errorf(doorlog.EINVALID, "%s: at most %d values", name, maxFilterValues)
	}
	return out, nil
}

// enumParam is listParam for a fixed set of values; any other value is
// EINVALID.
func enumParam[T ~string](q url.Values, name string, known []T) ([]T, error) {
	values, err := listParam(q, name)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, v := range values {
		if !slices.Contains(known, T(v)) {
			names := make([]string, len(known))
			for i, k := range known {
				names[i] = string(k)
			}
			return nil, doorlog.Errorf(doorlog.EINVALID, "%s: unknown value %q (want one of %s)", name, v, strings.Join(names, ", "))
		}
		out = append(out, T(v))
	}
	return out, nil
}

// singleParam returns the value of a parameter that may appear once.
func singleParam(q url.Values, name string) (string, error) {
	values := q[name]
	if len(values) > 1 {
		return "", doorlog.Errorf(doorlog.EINVALID, "%s: given %d times, want at most once", name, len(values))
	}
	if len(values) == 0 {
		return "", nil
	}
	return values[0], nil
}

// timeParam reads a time given as RFC 3339 or as integer milliseconds since
// the epoch, the two spellings ingest accepts; absent is the zero time. A
// time outside the range events may have (doorlog.MinEventMillis to
// doorlog.MaxEventMillis, in UTC once the offset is applied) is refused, as
// ingest refuses it: no event lies outside, and the zero time and years
// beyond 9999 would otherwise reach the store and the answers' "from" and
// "to".
func timeParam(q url.Values, name string) (time.Time, error) {
	v, err := singleParam(q, name)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	outOfRange := func() error {
		return doorlog.Errorf(doorlog.EINVALID, "%s: %q is outside %s", name, v, doorlog.EventTimeRange)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err == nil:
		if ms < doorlog.MinEventMillis || ms > doorlog.MaxEventMillis {
			return time.Time{}, outOfRange()
		}
		return time.UnixMilli(ms).UTC(), nil
	case errors.Is(err, strconv.ErrRange):
		return time.Time{}, outOfRange()
	}
	// A "+" offset arrives as a space when the client did not escape it
	// in the query string; RFC 3339 has no space, so put it back.
	t, err := time.Parse(time.RFC3339Nano, strings.Replace(v, " ", "+", 1))
	if err != nil {
		return time.Time{}, doorlog.Errorf(doorlog.EINVALID, "%s: %q is neither RFC 3339 (2024-05-01T10:00:00Z) nor milliseconds since the epoch", name, v)
	}
	if !doorlog.ValidEventTime(t) {
		return time.Time{}, outOfRange()
	}
	return t.UTC(), nil
}
