package storetest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// The aggregations (CountByHour, CountByDevice, LastEventTimes) are held to
// a brute-force computation over the stored events. The fixture spans
// several days and hours, with events on hour boundaries and sharing
// instants, and the windows cut inside hours and days, so that a backend
// that answers whole hours and days from counts and scans only the edges
// is checked at every seam. Half the events are appended after the first
// round of checks, some of them in hours and days already counted, so
// counts kept up to date by appends are checked too.

// statsFixture is the stored world of the aggregation tests: sites s1
// (devices 1 and 2), s2 (device 3), s3 (device 4, which sends nothing) and
// s4 (no devices), and server events.
type statsFixture struct {
	store doorlog.Store
	all   []doorlog.Event
	rng   *rand.Rand
	// pending are the events not yet appended.
	pending []doorlog.Event
}

var statsSiteOf = map[string]string{DeviceID(1): "s1", DeviceID(2): "s1", DeviceID(3): "s2", DeviceID(4): "s3"}

func newStatsFixture(t *testing.T, open Opener) *statsFixture {
	t.Helper()
	s := open(t)
	for _, id := range []string{"s1", "s2", "s3", "s4"} {
		MustCreateSite(t, s, id)
	}
	for n := 1; n <= 4; n++ {
		MustCreateDevice(t, s, statsSiteOf[DeviceID(n)], n)
	}
	fx := &statsFixture{store: s, rng: rand.New(rand.NewPCG(5, 8))}
	keys := []string{keyGranted, keyDenied, keyOpened, keyTamper, keyCall, keyUnknown}
	var in []doorlog.Event
	for i := range 600 {
		n := []int{1, 1, 2, 3, 0}[fx.rng.IntN(5)]
		key := keyLogin
		if n != 0 {
			key = keys[fx.rng.IntN(len(keys))]
		}
		// About 9 minutes apart with jitter over four days; some on an
		// hour boundary, some sharing a millisecond with the one before.
		ms := i*9*60_000 + fx.rng.IntN(600_000)
		switch i % 41 {
		case 3:
			ms = ms / 3_600_000 * 3_600_000
		case 17:
			ms = (i - 1) * 9 * 60_000
		}
		in = append(in, event(n, ms, key, priorityCycle[fx.rng.IntN(4)], fmt.Sprintf("st-%d", i)))
	}
	// A device whose clock was a month behind, and one a week ahead.
	in = append(in,
		event(2, -30*24*3_600_000, keyGranted, doorlog.PriorityMedium, "st-past"),
		event(1, 7*24*3_600_000+1234, keyDenied, doorlog.PriorityHigh, "st-future"))
	fx.rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	fx.pending = in
	fx.appendSome(t, len(in)/2)
	return fx
}

// appendSome appends the next n pending events in batches of varied size.
func (fx *statsFixture) appendSome(t *testing.T, n int) {
	t.Helper()
	in := fx.pending[:n]
	fx.pending = fx.pending[n:]
	for start := 0; start < len(in); {
		end := min(start+1+fx.rng.IntN(50), len(in))
		batch := in[start:end]
		for i, r := range MustAppend(t, fx.store, batch...) {
			e := batch[i]
			e.ID = r.ID
			e.SiteID = statsSiteOf[e.DeviceID]
			e.Time = doorlog.TruncateMillis(e.Time)
			fx.all = append(fx.all, e)
		}
		start = end
	}
}

// statsPhases runs check once with half the fixture stored and once with
// all of it.
func statsPhases(t *testing.T, open Opener, check func(t *testing.T, fx *statsFixture)) {
	fx := newStatsFixture(t, open)
	t.Run("half", func(t *testing.T) { check(t, fx) })
	fx.appendSome(t, len(fx.pending))
	t.Run("all", func(t *testing.T) { check(t, fx) })
}

// wantHours is the brute-force CountByHour.
func (fx *statsFixture) wantHours(f doorlog.EventFilter) []doorlog.HourCount {
	first := doorlog.TruncateMillis(f.From)
	if first.Before(f.From) {
		first = first.Add(time.Millisecond)
	}
	first = first.Truncate(time.Hour)
	last := f.To.UTC().Truncate(time.Hour)
	out := []doorlog.HourCount{}
	for h := first; !h.After(last); h = h.Add(time.Hour) {
		out = append(out, doorlog.HourCount{Hour: h})
	}
	for _, e := range fx.all {
		if matches(f, e) {
			out[int(e.Time.Sub(first)/time.Hour)].Add(e.Category, 1)
		}
	}
	return out
}

// wantByDevice is the brute-force CountByDevice.
func (fx *statsFixture) wantByDevice(f doorlog.EventFilter) map[string]int64 {
	out := map[string]int64{}
	for _, e := range fx.all {
		if e.DeviceID != "" && matches(f, e) {
			out[e.DeviceID]++
		}
	}
	return out
}

// wantLast is the brute-force LastEventTimes.
func (fx *statsFixture) wantLast(f doorlog.DeviceFilter) map[string]time.Time {
	out := map[string]time.Time{}
	for _, e := range fx.all {
		if e.DeviceID == "" || !f.Scope.Allows(e.SiteID) || len(f.SiteIDs) > 0 && !slices.Contains(f.SiteIDs, e.SiteID) {
			continue
		}
		if t, ok := out[e.DeviceID]; !ok || e.Time.After(t) {
			out[e.DeviceID] = e.Time
		}
	}
	return out
}

// statsAt is T0 plus d.
func statsAt(d time.Duration) time.Time { return T0.Add(d) }

// statsDay is midnight UTC of the fixture's first day plus n days.
func statsDay(n int) time.Time { return T0.Truncate(24*time.Hour).AddDate(0, 0, n) }

// statsFilters are the filters both counts are checked with, each with a
// window unless the name says otherwise. some is false for the ones that
// select nothing on purpose.
func statsFilters() []struct {
	name   string
	filter doorlog.EventFilter
	some   bool
} {
	s1 := doorlog.Scope{SiteIDs: []string{"s1"}}
	from, to := statsAt(26*time.Hour+17*time.Minute+3*time.Second), statsAt(3*24*time.Hour+5*time.Hour+41*time.Minute+7500*time.Millisecond)
	w := func(f doorlog.EventFilter) doorlog.EventFilter { f.From, f.To = from, to; return f }
	return []struct {
		name   string
		filter doorlog.EventFilter
		some   bool
	}{
		{"everything", w(doorlog.EventFilter{Scope: all}), true},
		{"scope of one site", w(doorlog.EventFilter{Scope: s1}), true},
		{"scope of one site, another site named", w(doorlog.EventFilter{Scope: s1, SiteIDs: []string{"s2"}}), false},
		{"one site named", w(doorlog.EventFilter{Scope: all, SiteIDs: []string{"s2"}}), true},
		{"site without events", w(doorlog.EventFilter{Scope: all, SiteIDs: []string{"s3", "s4"}}), false},
		{"one device", w(doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1)}}), true},
		{"devices in and out of scope", w(doorlog.EventFilter{Scope: s1, DeviceIDs: []string{DeviceID(2), DeviceID(3)}}), true},
		{"category", w(doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryAccess, doorlog.CategoryEmergency}}), true},
		{"priority", w(doorlog.EventFilter{Scope: all, Priorities: []doorlog.Priority{doorlog.PriorityHigh}}), true},
		{"keys", w(doorlog.EventFilter{Scope: all, Keys: []string{keyGranted, keyDenied}}), true},
		{"scope and key", w(doorlog.EventFilter{Scope: s1, Keys: []string{keyDenied}}), true},
		{"device and category", w(doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1), DeviceID(3)}, Categories: []doorlog.Category{doorlog.CategoryAccess}}), true},
		{"unknown key", w(doorlog.EventFilter{Scope: all, Keys: []string{"no_such_key"}}), false},
		{"empty scope", w(doorlog.EventFilter{}), false},
		{"inside one hour", doorlog.EventFilter{Scope: all, From: statsAt(50*time.Hour + 5*time.Minute), To: statsAt(50*time.Hour + 55*time.Minute)}, true},
		{"inside one day", doorlog.EventFilter{Scope: all, From: statsAt(17*time.Hour + 5*time.Minute), To: statsAt(20*time.Hour + 55*time.Minute)}, true},
		{"device inside one day", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1)}, From: statsAt(17*time.Hour + 5*time.Minute), To: statsAt(20*time.Hour + 55*time.Minute)}, true},
		{"whole days", doorlog.EventFilter{Scope: all, From: statsDay(1), To: statsDay(3).Add(-time.Millisecond)}, true},
		{"whole hours", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryAccess}, From: statsAt(5 * time.Hour), To: statsAt(53*time.Hour - time.Millisecond)}, true},
		{"ends on hour starts", doorlog.EventFilter{Scope: s1, From: statsAt(3 * time.Hour), To: statsAt(40 * time.Hour)}, true},
		{"from inside a millisecond", doorlog.EventFilter{Scope: all, From: statsAt(3*time.Hour + 500*time.Microsecond), To: statsAt(30*time.Hour + 999*time.Microsecond)}, true},
		{"before every event", doorlog.EventFilter{Scope: all, From: statsAt(-20 * 24 * time.Hour), To: statsAt(-19 * 24 * time.Hour)}, false},
	}
}

func testCountByHour(t *testing.T, open Opener) {
	statsPhases(t, open, func(t *testing.T, fx *statsFixture) {
		for _, tt := range statsFilters() {
			t.Run(tt.name, func(t *testing.T) {
				want := fx.wantHours(tt.filter)
				got, err := fx.store.CountByHour(ctx(t), tt.filter)
				mustOK(t, "CountByHour", err)
				var total int64
				for _, h := range want {
					total += h.Total()
				}
				if (total > 0) != tt.some {
					t.Fatalf("the fixture has %d events for this filter, want some: %v", total, tt.some)
				}
				if len(got) != len(want) {
					t.Fatalf("got %d hours, want %d (from %v to %v)", len(got), len(want), want[0].Hour, want[len(want)-1].Hour)
				}
				for i := range want {
					if !got[i].Hour.Equal(want[i].Hour) || got[i].Hour.Location() != time.UTC || got[i].CategoryCounts != want[i].CategoryCounts {
						t.Errorf("hour %d: got %v %+v, want %v %+v", i, got[i].Hour, got[i].CategoryCounts, want[i].Hour, want[i].CategoryCounts)
					}
				}
			})
		}
	})
}

func testCountByDevice(t *testing.T, open Opener) {
	statsPhases(t, open, func(t *testing.T, fx *statsFixture) {
		cases := statsFilters()
		from := statsAt(26*time.Hour + 17*time.Minute + 3*time.Second)
		for _, extra := range []struct {
			name   string
			filter doorlog.EventFilter
		}{
			{"no window", doorlog.EventFilter{Scope: all}},
			{"no window, key", doorlog.EventFilter{Scope: all, Keys: []string{keyDenied}}},
			{"no window, scope and device", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1", "s2"}}, DeviceIDs: []string{DeviceID(3)}}},
			{"from only", doorlog.EventFilter{Scope: all, From: from}},
			{"to only, category", doorlog.EventFilter{Scope: all, To: from, Categories: []doorlog.Category{doorlog.CategoryAccess}}},
			{"device, from only", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(2)}, From: from}},
		} {
			cases = append(cases, struct {
				name   string
				filter doorlog.EventFilter
				some   bool
			}{extra.name, extra.filter, true})
		}
		for _, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				want := fx.wantByDevice(tt.filter)
				if (len(want) > 0) != tt.some {
					t.Fatalf("the fixture has events of %d devices for this filter, want some: %v", len(want), tt.some)
				}
				got, err := fx.store.CountByDevice(ctx(t), tt.filter)
				mustOK(t, "CountByDevice", err)
				if !maps.Equal(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			})
		}
	})
}

func testLastEventTimes(t *testing.T, open Opener) {
	statsPhases(t, open, func(t *testing.T, fx *statsFixture) {
		s1 := doorlog.Scope{SiteIDs: []string{"s1"}}
		for _, tt := range []struct {
			name   string
			filter doorlog.DeviceFilter
			some   bool
		}{
			{"everything", doorlog.DeviceFilter{Scope: all}, true},
			{"scope of one site", doorlog.DeviceFilter{Scope: s1}, true},
			{"scope of one site, both named", doorlog.DeviceFilter{Scope: s1, SiteIDs: []string{"s1", "s2"}}, true},
			{"scope of two sites, one named", doorlog.DeviceFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1", "s2"}}, SiteIDs: []string{"s2"}}, true},
			{"a site whose device is silent", doorlog.DeviceFilter{Scope: all, SiteIDs: []string{"s3", "s4"}}, false},
			{"unknown site", doorlog.DeviceFilter{Scope: all, SiteIDs: []string{"nope"}}, false},
			{"empty scope", doorlog.DeviceFilter{}, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				want := fx.wantLast(tt.filter)
				if (len(want) > 0) != tt.some {
					t.Fatalf("the fixture has events of %d devices for this filter, want some: %v", len(want), tt.some)
				}
				got, err := fx.store.LastEventTimes(ctx(t), tt.filter)
				mustOK(t, "LastEventTimes", err)
				if !maps.EqualFunc(got, want, func(a, b time.Time) bool { return a.Equal(b) && a.Location() == time.UTC }) {
					t.Errorf("got %v, want %v (in UTC)", got, want)
				}
			})
		}
	})
}

func testAggregationsInvalid(t *testing.T, open Opener) {
	fx := newStatsFixture(t, open)
	s := fx.store
	from, to := statsAt(time.Hour), statsAt(5*time.Hour)
	for _, tt := range []struct {
		name string
		f    doorlog.EventFilter
	}{
		{"no from", doorlog.EventFilter{Scope: all, To: to}},
		{"no to", doorlog.EventFilter{Scope: all, From: from}},
		{"text", doorlog.EventFilter{Scope: all, From: from, To: to, Text: "lock"}},
		{"identifier number", doorlog.EventFilter{Scope: all, From: from, To: to, IdentifierNumbers: []string{"1"}}},
		{"identifier type", doorlog.EventFilter{Scope: all, From: from, To: to, IdentifierTypes: []string{"card"}}},
		{"stored after", doorlog.EventFilter{Scope: all, From: from, To: to, StoredAfter: doorlog.FormatEventID(1)}},
		{"too many hours", doorlog.EventFilter{Scope: all, From: from, To: from.Add(doorlog.MaxCountHours * time.Hour)}},
	} {
		_, err := s.CountByHour(ctx(t), tt.f)
		wantCode(t, "CountByHour, "+tt.name, err, doorlog.EINVALID)
	}
	got, err := s.CountByHour(ctx(t), doorlog.EventFilter{Scope: all, From: from, To: from.Add((doorlog.MaxCountHours - 1) * time.Hour)})
	mustOK(t, "CountByHour of the most hours", err)
	if len(got) != doorlog.MaxCountHours {
		t.Errorf("CountByHour of the most hours: got %d hours, want %d", len(got), doorlog.MaxCountHours)
	}
	got, err = s.CountByHour(ctx(t), doorlog.EventFilter{Scope: all, From: to, To: from})
	mustOK(t, "CountByHour with from after to", err)
	if got == nil || len(got) != 0 {
		t.Errorf("CountByHour with from after to: got %v, want no hours", got)
	}
	for _, f := range []doorlog.EventFilter{
		{Scope: all, Text: "lock"},
		{Scope: all, IdentifierNumbers: []string{"1"}},
		{Scope: all, StoredAfter: doorlog.FormatEventID(1)},
		{Scope: all, IdentifierTypes: []string{"card"}},
	} {
		_, err := s.CountByDevice(ctx(t), f)
		wantCode(t, fmt.Sprintf("CountByDevice(%+v)", f), err, doorlog.EINVALID)
	}
}
