package api

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// The aggregations behind the web page's charts and devices view, under
// /v1/stats/. They are counted by the store (doorlog.Store.CountByHour,
// CountByDevice, LastEventTimes), never by listing events to the client,
// and read what GET /v1/events reads: the same token roles, scope and
// filter parameters, where a parameter makes sense for the figure.

// Limits and defaults of the stats endpoints.
const (
	// defaultStatsWindow is the window of a chart that names none: the
	// last 24 hours, the page's default view.
	defaultStatsWindow = 24 * time.Hour
	// maxHourlyWindow bounds /v1/stats/hourly to a month of hours (745
	// points at most), what a chart can draw legibly.
	maxHourlyWindow = 31 * 24 * time.Hour
	// Top N of /v1/stats/denials.
	defaultDenialsLimit = 10
	maxDenialsLimit     = 100
	// silent_after of /v1/stats/devices: a device with no event for that
	// long is "silent". Below a minute, a panel between two events looks
	// dead; beyond 30 days, "silent" says nothing.
	defaultSilentAfter = 15 * time.Minute
	minSilentAfter     = time.Minute
	maxSilentAfter     = 30 * 24 * time.Hour
)

// Catalog activity types (catalog.Entry.ActivityType) the stats count.
const (
	activityDenied  = "ACCESS_DENIED"
	activityGranted = "ACCESS_GRANTED"
)

// hourLayout writes the start of an hour: RFC 3339 in UTC, whole seconds.
const hourLayout = "2006-01-02T15:04:05Z07:00"

// statsFilter reads the event filter of a stats endpoint: parseEventFilter
// (so the roles and the scope are those of GET /v1/events), then refuses
// the parameters the figure cannot take, naming the first one given. The
// identifier and free-text filters read the model, which the store's
// counts never do, so no stats endpoint takes them.
func (h *Handler) statsFilter(r *http.Request, path string, unsupported ...string) (doorlog.EventFilter, error) {
	f, err := h.parseEventFilter(r, auth.FromContext(r.Context()))
	if err != nil {
		return f, err
	}
	q := r.URL.Query()
	for _, name := range append([]string{"q", "identifier_number", "identifier_type"}, unsupported...) {
		if q.Has(name) {
			return f, doorlog.Errorf(doorlog.EINVALID, "%s: not supported by %s", name, path)
		}
	}
	return f, nil
}

// statsWindow fills in the window of a chart: to defaults to now and from
// to 24 hours before to. Both are then at the store's millisecond (from
// rounded up, to down, as the store applies them), so that the answer
// names the window exactly as it was counted.
func (h *Handler) statsWindow(f *doorlog.EventFilter) error {
	if f.To.IsZero() {
		f.To = h.cfg.Now()
	}
	f.To = doorlog.TruncateMillis(f.To)
	if f.From.IsZero() {
		f.From = f.To.Add(-defaultStatsWindow)
	}
	from := doorlog.TruncateMillis(f.From)
	if from.Before(f.From) {
		from = from.Add(time.Millisecond)
	}
	f.From = from
	if f.To.Before(f.From) {
		return doorlog.Errorf(doorlog.EINVALID, "to must not be before from (from defaults to 24 hours before to, to to now)")
	}
	return nil
}

// activityKeys returns the catalog keys of an activity type, in catalog
// order: grants and denials are many keys (card, face, code, API ...), and
// the catalog is what knows which.
func (h *Handler) activityKeys(activity string) []string {
	var keys []string
	for _, k := range h.cfg.Catalog.Keys() {
		if h.cfg.Catalog.Entry(k).ActivityType == activity {
			keys = append(keys, k)
		}
	}
	return keys
}

// narrowKeys returns the keys of an activity that the filter's key
// parameter also names (all of them when it names none), and false when
// none is left, so that the caller answers "nothing" rather than letting an
// empty key list mean "every key".
func narrowKeys(activity, filter []string) ([]string, bool) {
	if len(filter) == 0 {
		return activity, len(activity) > 0
	}
	var out []string
	for _, k := range activity {
		if slices.Contains(filter, k) {
			out = append(out, k)
		}
	}
	return out, len(out) > 0
}

// countsJSON is the events of one hour or bucket by category, as the
// charts' endpoints write them.
type countsJSON struct {
	Access    int64 `json:"access"`
	Emergency int64 `json:"emergency"`
	System    int64 `json:"system"`
	Info      int64 `json:"info"`
}

func toCountsJSON(c doorlog.CategoryCounts) countsJSON {
	return countsJSON{Access: c.Access, Emergency: c.Emergency, System: c.System, Info: c.Info}
}

// hourJSON is one hour of GET /v1/stats/hourly.
type hourJSON struct {
	Hour string `json:"hour"`
	countsJSON
}

// statsHourly serves GET /v1/stats/hourly: events per UTC hour of the
// window by category, every hour listed (zeros included) so that a chart
// draws it as it is. The window defaults to the last 24 hours and may
// span at most 31 days; partial hours at its edges count exactly the
// events inside it.
func (h *Handler) statsHourly(w http.ResponseWriter, r *http.Request) {
	f, err := h.statsFilter(r, "/v1/stats/hourly")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.statsWindow(&f); err != nil {
		h.writeError(w, r, err)
		return
	}
	if f.To.Sub(f.From) > maxHourlyWindow {
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "the window from %s to %s is longer than 31 days", f.From.Format(timeLayout), f.To.Format(timeLayout)))
		return
	}
	hours, err := h.cfg.Store.CountByHour(r.Context(), f)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := make([]hourJSON, len(hours))
	for i, hc := range hours {
		out[i] = hourJSON{Hour: hc.Hour.UTC().Format(hourLayout), countsJSON: toCountsJSON(hc.CategoryCounts)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": f.From.Format(timeLayout), "to": f.To.Format(timeLayout), "hours": out})
}

// denialJSON is one device of GET /v1/stats/denials.
type denialJSON struct {
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name"`
	SiteID     string `json:"site_id"`
	Denials    int64  `json:"denials"`
}

// statsDenials serves GET /v1/stats/denials: the devices with the most
// access denials (events whose catalog activity type is ACCESS_DENIED) in
// the window, most first, then by device id; devices without any are left
// out. The window has the defaults of /v1/stats/hourly but no length
// limit: whole days cost the store nothing.
func (h *Handler) statsDenials(w http.ResponseWriter, r *http.Request) {
	f, err := h.statsFilter(r, "/v1/stats/denials")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	limit, err := intParam(r.URL.Query(), "limit", defaultDenialsLimit, 1, maxDenialsLimit)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.statsWindow(&f); err != nil {
		h.writeError(w, r, err)
		return
	}
	out := []denialJSON{}
	if keys, ok := narrowKeys(h.activityKeys(activityDenied), f.Keys); ok {
		f.Keys = keys
		counts, err := h.cfg.Store.CountByDevice(r.Context(), f)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if len(counts) > 0 {
			devices, err := h.devicesByID(r, doorlog.DeviceFilter{Scope: f.Scope})
			if err != nil {
				h.writeError(w, r, err)
				return
			}
			for id, n := range counts {
				if d, ok := devices[id]; ok {
					out = append(out, denialJSON{DeviceID: id, DeviceName: d.Name, SiteID: d.SiteID, Denials: n})
				}
			}
			slices.SortFunc(out, func(a, b denialJSON) int {
				return cmp.Or(cmp.Compare(b.Denials, a.Denials), cmp.Compare(a.DeviceID, b.DeviceID))
			})
			out = out[:min(len(out), limit)]
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": f.From.Format(timeLayout), "to": f.To.Format(timeLayout), "devices": out})
}

// devicesByID returns the devices f selects by id.
func (h *Handler) devicesByID(r *http.Request, f doorlog.DeviceFilter) (map[string]*doorlog.Device, error) {
	devices, err := h.cfg.Store.ListDevices(r.Context(), f)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*doorlog.Device, len(devices))
	for _, d := range devices {
		out[d.ID] = d
	}
	return out, nil
}

// deviceStatsJSON is one device of GET /v1/stats/devices.
type deviceStatsJSON struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	SiteID        string  `json:"site_id"`
	Model         string  `json:"model"`
	LastEventTime *string `json:"last_event_time"`
	Status        string  `json:"status"`
	Today         struct {
		Grants  int64 `json:"grants"`
		Denials int64 `json:"denials"`
	} `json:"today"`
}

// statsDevices serves GET /v1/stats/devices: every device the token sees
// (narrowed by site_id and device_id), with the time of its newest event,
// whether it is online or silent (no event for silent_after), and its
// access grants and denials since midnight in the viewer's time zone tz.
// The time parameters and the other filters do not apply: a device's
// status and its "today" have windows of their own.
func (h *Handler) statsDevices(w http.ResponseWriter, r *http.Request) {
	f, err := h.statsFilter(r, "/v1/stats/devices", "category", "priority", "key", "from", "to")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	silentAfter := defaultSilentAfter
	if v, err := singleParam(q, "silent_after"); err != nil {
		h.writeError(w, r, err)
		return
	} else if v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < minSilentAfter || d > maxSilentAfter {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "silent_after: want a duration from 1m to 720h (30 days), such as 15m or 2h, got %q", v))
			return
		}
		silentAfter = d
	}
	loc, err := tzParam(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}

	now := h.cfg.Now()
	df := doorlog.DeviceFilter{Scope: f.Scope, SiteIDs: f.SiteIDs}
	devices, err := h.cfg.Store.ListDevices(r.Context(), df)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if len(f.DeviceIDs) > 0 {
		var want []string
		for _, id := range f.DeviceIDs {
			if canon, err := doorlog.CanonicalDeviceID(id); err == nil {
				want = append(want, canon)
			}
		}
		devices = slices.DeleteFunc(devices, func(d *doorlog.Device) bool { return !slices.Contains(want, d.ID) })
	}
	out := make([]deviceStatsJSON, len(devices))
	if len(devices) > 0 {
		last, err := h.cfg.Store.LastEventTimes(r.Context(), df)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		y, m, d := now.In(loc).Date()
		today := doorlog.EventFilter{Scope: f.Scope, SiteIDs: f.SiteIDs, DeviceIDs: f.DeviceIDs,
			From: time.Date(y, m, d, 0, 0, 0, 0, loc), To: time.Date(y, m, d+1, 0, 0, 0, 0, loc).Add(-time.Millisecond)}
		var grants, denials map[string]int64
		for _, c := range []struct {
			activity string
			dst      *map[string]int64
		}{{activityGranted, &grants}, {activityDenied, &denials}} {
			keys, ok := narrowKeys(h.activityKeys(c.activity), nil)
			if !ok {
				continue // no such key: no key list, which would mean every key
			}
			today.Keys = keys
			if *c.dst, err = h.cfg.Store.CountByDevice(r.Context(), today); err != nil {
				h.writeError(w, r, err)
				return
			}
		}
		for i, d := range devices {
			o := &out[i]
			o.ID, o.Name, o.SiteID, o.Model, o.Status = d.ID, d.Name, d.SiteID, d.Model, "silent"
			if t, ok := last[d.ID]; ok {
				s := t.UTC().Format(timeLayout)
				o.LastEventTime = &s
				if now.Sub(t) < silentAfter {
					o.Status = "online"
				}
			}
			o.Today.Grants, o.Today.Denials = grants[d.ID], denials[d.ID]
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out, "silent_after": silentAfter.String()})
}

// intParam reads an integer parameter from lo to hi, def when absent.
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v, err := singleParam(q, name)
	if err != nil || v == "" {
		return def, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return def, doorlog.Errorf(doorlog.EINVALID, "%s: want an integer from %d to %d, got %q", name, lo, hi, v)
	}
	return n, nil
}

// tzParam reads tz, an IANA time zone name; UTC when absent. "Local" would
// be the server's own zone, which is no IANA name and means nothing to the
// client.
func tzParam(q url.Values) (*time.Location, error) {
	name, err := singleParam(q, "tz")
	if err != nil || name == "" {
		return time.UTC, err
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil, doorlog.Errorf(doorlog.EINVALID, "tz: unknown time zone %q (want an IANA name such as Europe/Kyiv)", name)
	}
	return loc, nil
}
