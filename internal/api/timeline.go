package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// GET /v1/stats/timeline: events by category per bucket of a size that
// suits the window (a minute to a day), so that a chart of the last hour
// draws 60 bars rather than one hourly bar. It is counted from
// Store.CountByHour alone: whole hours from the store's counts, and each
// piece of an hour a bucket boundary cuts from the events of that piece,
// which CountByHour counts exactly for a partial hour.

// Limits and defaults of /v1/stats/timeline.
const (
	// maxTimelineBuckets bounds the answer: more bars than a chart has
	// pixels for says nothing more, and each sub-hour bucket is one count
	// of the store.
	maxTimelineBuckets = 1000
	// defaultTimelineBuckets is what the default interval aims at: the
	// finest interval with at most this many buckets, about one bar per
	// 4 to 8 pixels of a desktop chart.
	defaultTimelineBuckets = 200
	// maxTimelineWindow bounds the window of any interval (in practice of
	// 1d, the others reach maxTimelineBuckets first): 400 days is a year
	// with room for a comparison at its edges.
	maxTimelineWindow = 400 * 24 * time.Hour
)

// timelineInterval is a bucket size of /v1/stats/timeline.
type timelineInterval struct {
	name string
	// size is the bucket's length; 0 for a day of the time zone, whose
	// length is 23, 24 or 25 hours.
	size time.Duration
}

// timelineIntervals returns the intervals from the finest: the default
// picks the first that fits, and a refusal suggests the next that does.
// It is a function rather than a package variable so that nothing can
// change the list.
func timelineIntervals() []timelineInterval {
	return []timelineInterval{
		{"1m", time.Minute},
		{"5m", 5 * time.Minute},
		{"15m", 15 * time.Minute},
		{"1h", time.Hour},
		{"1d", 0},
	}
}

// bucketStarts returns the start of every bucket of iv from the one
// holding from to the one holding to, and the end of the last: sub-day
// buckets are aligned to the UTC clock (Unix time divisible by their
// size), days start at midnight in loc. It stops, returning nil, once the
// buckets would be more than limit.
func (iv timelineInterval) bucketStarts(from, to time.Time, loc *time.Location, limit int) (starts []time.Time, end time.Time) {
	if iv.size > 0 {
		ms := iv.size.Milliseconds()
		first, last := floorDiv(from.UnixMilli(), ms), floorDiv(to.UnixMilli(), ms)
		if last-first+1 > int64(limit) {
			return nil, time.Time{}
		}
		starts = make([]time.Time, 0, last-first+1)
		for b := first; b <= last; b++ {
			starts = append(starts, time.UnixMilli(b*ms).UTC())
		}
		return starts, time.UnixMilli((last + 1) * ms).UTC()
	}
	y, m, d := from.In(loc).Date()
	for {
		start, next := time.Date(y, m, d, 0, 0, 0, 0, loc), time.Date(y, m, d+1, 0, 0, 0, 0, loc)
		starts = append(starts, start.UTC())
		if len(starts) > limit {
			return nil, time.Time{}
		}
		if next.After(to) {
			return starts, next.UTC()
		}
		d++
	}
}

// floorDiv is a / b rounded toward minus infinity, so that buckets before
// 1970 align like those after.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// bucketJSON is one bucket of GET /v1/stats/timeline.
type bucketJSON struct {
	Start string `json:"start"`
	countsJSON
}

// statsTimeline serves GET /v1/stats/timeline: events per bucket of the
// window by category, every bucket listed (zeros included). The window and
// the filters are those of /v1/stats/hourly (both ends inclusive, to the
// millisecond); interval is 1m, 5m, 15m, 1h or 1d, by default the finest
// with at most 200 buckets; tz places the days of 1d. The buckets at the
// edges count only the events inside the window.
func (h *Handler) statsTimeline(w http.ResponseWriter, r *http.Request) {
	f, err := h.statsFilter(r, "/v1/stats/timeline")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	name, err := singleParam(q, "interval")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var iv timelineInterval
	if name != "" {
		found := false
		for _, c := range timelineIntervals() {
			if c.name == name {
				iv, found = c, true
			}
		}
		if !found {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "interval: want 1m, 5m, 15m, 1h or 1d, got %q", name))
			return
		}
	}
	loc, err := tzParam(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.statsWindow(&f); err != nil {
		h.writeError(w, r, err)
		return
	}
	window := fmt.Sprintf("from %s to %s", f.From.Format(timeLayout), f.To.Format(timeLayout))
	if f.To.Sub(f.From) > maxTimelineWindow {
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "the window %s is longer than 400 days", window))
		return
	}
	var starts []time.Time
	var end time.Time
	if name == "" {
		for _, c := range timelineIntervals() {
			limit := defaultTimelineBuckets
			if c.size == 0 {
				limit = maxTimelineBuckets // the coarsest: whatever the window
			}
			if starts, end = c.bucketStarts(f.From, f.To, loc, limit); starts != nil {
				iv = c
				break
			}
		}
	} else if starts, end = iv.bucketStarts(f.From, f.To, loc, maxTimelineBuckets); starts == nil {
		coarser := "1d" // whatever the window: it is at most 400 days
		all := timelineIntervals()
		for _, c := range all[slices.Index(all, iv)+1:] {
			if s, _ := c.bucketStarts(f.From, f.To, loc, maxTimelineBuckets); s != nil {
				coarser = c.name
				break
			}
		}
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "interval %s: the window %s has more than %d buckets; ask for a coarser interval, such as %s", iv.name, window, maxTimelineBuckets, coarser))
		return
	}
	counts, err := h.countBuckets(r.Context(), f, starts, end)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := make([]bucketJSON, len(starts))
	for i, s := range starts {
		out[i] = bucketJSON{Start: s.Format(hourLayout), countsJSON: toCountsJSON(counts[i])}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"from": f.From.Format(timeLayout), "to": f.To.Format(timeLayout),
		"interval": iv.name, "tz": loc.String(), "buckets": out,
	})
}

// countBuckets counts the events of f (whose window is set) in each bucket
// [starts[i], starts[i+1]) of the window, the last ending at end. It asks
// CountByHour for the whole UTC hours that hold the window first (whole
// hours come from the store's counts, at no cost per event): an hour
// without events is zero in every bucket, a whole hour inside the window
// and one bucket adds to it, and any other hour (partial at an edge of the
// window, or cut by bucket boundaries) is counted piece by piece, each
// piece by a CountByHour of its own, which counts a partial hour exactly
// from the events.
func (h *Handler) countBuckets(ctx context.Context, f doorlog.EventFilter, starts []time.Time, end time.Time) ([]doorlog.CategoryCounts, error) {
	out := make([]doorlog.CategoryCounts, len(starts))
	bucketEnd := func(i int) time.Time {
		if i+1 < len(starts) {
			return starts[i+1]
		}
		return end
	}
	// piece counts [lo, hi], both inclusive and inside one UTC hour.
	piece := func(lo, hi time.Time) (doorlog.CategoryCounts, error) {
		pf := f
		pf.From, pf.To = lo, hi
		hours, err := h.cfg.Store.CountByHour(ctx, pf)
		if err != nil {
			return doorlog.CategoryCounts{}, err
		}
		if len(hours) != 1 {
			return doorlog.CategoryCounts{}, fmt.Errorf("count of %s to %s: got %d hours, want 1", lo, hi, len(hours))
		}
		return hours[0].CategoryCounts, nil
	}
	// The whole hours that hold the window: the store answers them from
	// its counts, where the window's own partial edges would be counted
	// from the events, only to be counted again by the pieces.
	whole := f
	whole.From, whole.To = f.From.Truncate(time.Hour), f.To.Truncate(time.Hour).Add(time.Hour-time.Millisecond)
	hours, err := h.countHours(ctx, whole)
	if err != nil {
		return nil, err
	}
	i := 0
	for _, hc := range hours {
		if hc.Total() == 0 {
			continue // every bucket of the hour is zero
		}
		hourEnd := hc.Hour.Add(time.Hour - time.Millisecond)
		lo, hi := maxTime(hc.Hour, f.From), minTime(hourEnd, f.To)
		for !bucketEnd(i).After(lo) {
			i++
		}
		if !lo.Equal(hc.Hour) || !hi.Equal(hourEnd) || !bucketEnd(i).After(hi) {
			// A partial hour at an edge of the window, or an hour that
			// bucket boundaries cut (sub-hour buckets, a day of a zone
			// whose offset is not whole hours): count each piece.
			for lo.Compare(hi) <= 0 {
				for !bucketEnd(i).After(lo) {
					i++
				}
				pieceHi := minTime(bucketEnd(i).Add(-time.Millisecond), hi)
				c, err := piece(lo, pieceHi)
				if err != nil {
					return nil, err
				}
				addCounts(&out[i], c)
				lo = pieceHi.Add(time.Millisecond)
			}
			continue
		}
		addCounts(&out[i], hc.CategoryCounts)
	}
	return out, nil
}

// countHours is CountByHour over f's window, asked in spans the store
// accepts (doorlog.MaxCountHours): a timeline may span 400 days.
func (h *Handler) countHours(ctx context.Context, f doorlog.EventFilter) ([]doorlog.HourCount, error) {
	var out []doorlog.HourCount
	from := f.From
	for from.Compare(f.To) <= 0 {
		spanEnd := from.Truncate(time.Hour).Add(doorlog.MaxCountHours*time.Hour - time.Millisecond)
		cf := f
		cf.From, cf.To = from, minTime(spanEnd, f.To)
		hours, err := h.cfg.Store.CountByHour(ctx, cf)
		if err != nil {
			return nil, err
		}
		out = append(out, hours...)
		from = spanEnd.Add(time.Millisecond)
	}
	return out, nil
}

// addCounts adds c to dst.
func addCounts(dst *doorlog.CategoryCounts, c doorlog.CategoryCounts) {
	dst.Access += c.Access
	dst.Emergency += c.Emergency
	dst.System += c.System
	dst.Info += c.Info
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
