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

// manyKeys is how many distinct keys testManyKinds stores: twice the 4,096
// kinds the counts of a backend once held, and past 2^13. (The rollup's own
// tests take kind codes to 2^32; 20,000 keys here cost the suite a minute
// under -race for nothing more.)
const manyKeys = 8_200

// manyKey is the i-th key of testManyKinds, one no catalog has.
func manyKey(i int) string { return fmt.Sprintf("fw_err_%d", i) }

// testManyKinds stores events of 8,200 distinct keys, each its own kind,
// as devices with new firmware (or a careless sender) can, and holds every
// read to a scan of what was stored: a backend must not limit the number of
// keys, or count, page or aggregate wrongly past some number of them. Half
// the keys arrive after the first reads, so kinds added after a backend
// loaded its counts are checked too.
func testManyKinds(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateSite(t, s, "s2")
	MustCreateDevice(t, s, "s1", 1)
	MustCreateDevice(t, s, "s1", 2)
	MustCreateDevice(t, s, "s2", 3)
	siteOf := map[string]string{DeviceID(1): "s1", DeviceID(2): "s1", DeviceID(3): "s2"}
	rng := rand.New(rand.NewPCG(20, 0))

	// Each key once, most info/low as a catalog leaves unknown keys, every
	// seventh emergency/high so that a category selects thousands of kinds
	// but not all; and catalog keys among them. About 18 seconds apart over
	// 42 hours, shuffled, from three devices.
	var in []doorlog.Event
	for i := range manyKeys {
		e := event(1+i%3, i*18_500+rng.IntN(5_000), manyKey(i), doorlog.PriorityLow, fmt.Sprintf("mk-%d", i))
		e.Category = doorlog.CategoryInfo
		if i%7 == 0 {
			e.Category, e.Priority = doorlog.CategoryEmergency, doorlog.PriorityHigh
		}
		in = append(in, e)
		if i%10 == 0 {
			in = append(in, event(1+i%3, i*18_500+rng.IntN(5_000), keyGranted, doorlog.PriorityMedium, fmt.Sprintf("mk-g-%d", i)))
		}
	}
	rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	var events []doorlog.Event // as stored
	appendAll := func(in []doorlog.Event) {
		for start := 0; start < len(in); start += 5000 {
			batch := in[start:min(start+5000, len(in))]
			for i, r := range MustAppend(t, s, batch...) {
				if r.Duplicate {
					t.Fatalf("event %s: got a duplicate, want it stored", batch[i].SourceID)
				}
				e := batch[i]
				e.ID, e.SiteID, e.Time = r.ID, siteOf[e.DeviceID], doorlog.TruncateMillis(e.Time)
				events = append(events, e)
			}
		}
	}

	// A key of the first half, so that both rounds of reads find it.
	one := ""
	for _, e := range in[:len(in)/2] {
		if e.Key != keyGranted {
			one = e.Key
			break
		}
	}
	some := make([]string, 0, 600)
	for i := range 600 {
		some = append(some, manyKey(i*13))
	}
	from, to := T0.Add(7*time.Hour+13*time.Minute+500*time.Millisecond), T0.Add(31*time.Hour+2*time.Second)
	w := func(f doorlog.EventFilter) doorlog.EventFilter { f.From, f.To = from, to; return f }
	filters := []struct {
		name   string
		filter doorlog.EventFilter
		// half says whether the first round of reads checks it too; it
		// checks a few, to keep the test fast.
		half bool
	}{
		{"everything", doorlog.EventFilter{Scope: all}, true},
		{"scope of one site", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}}, false},
		{"one device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(2)}}, false},
		{"category of most kinds", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryInfo}}, true},
		{"category of some kinds", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryEmergency}}, false},
		{"one new key", doorlog.EventFilter{Scope: all, Keys: []string{one}}, true},
		{"600 new keys", doorlog.EventFilter{Scope: all, Keys: some}, false},
		{"a catalog key", doorlog.EventFilter{Scope: all, Keys: []string{keyGranted}}, false},
		{"window", w(doorlog.EventFilter{Scope: all}), false},
		{"site, category and window", w(doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, Categories: []doorlog.Category{doorlog.CategoryInfo}}), false},
		{"device, keys and window", w(doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1), DeviceID(3)}, Keys: some}), true},
	}
	check := func(t *testing.T, half bool) {
		keys, err := s.EventKeys(ctx(t))
		mustOK(t, "EventKeys", err)
		stored := map[string]bool{}
		for _, e := range events {
			stored[e.Key] = true
		}
		if want := slices.Sorted(maps.Keys(stored)); !slices.Equal(keys, want) {
			t.Errorf("EventKeys: got %d keys, want the %d stored, sorted", len(keys), len(want))
		}
		sorted := slices.Clone(events)
		slices.SortFunc(sorted, func(a, b doorlog.Event) int {
			if before(a, b) {
				return -1
			}
			return 1
		})
		// expect is fixture.expect for thousands of events and keys.
		expect := func(f doorlog.EventFilter) []doorlog.Event {
			keys := map[string]bool{}
			for _, k := range f.Keys {
				keys[k] = true
			}
			f.Keys = nil
			var out []doorlog.Event
			for _, e := range sorted {
				if (len(keys) == 0 || keys[e.Key]) && matches(f, e) {
					out = append(out, e)
				}
			}
			return out
		}
		for _, tt := range filters {
			if half && !tt.half {
				continue
			}
			t.Run(tt.name, func(t *testing.T) {
				asc := expect(tt.filter)
				if len(asc) == 0 {
					t.Fatalf("the fixture has no event for this filter; the test would prove nothing")
				}
				if n := MustCount(t, s, tt.filter); n != int64(len(asc)) {
					t.Errorf("CountEvents: got %d, want %d", n, len(asc))
				}
				desc := slices.Clone(asc)
				slices.Reverse(desc)
				for _, pg := range []struct {
					order  doorlog.Order
					want   []doorlog.Event
					offset int
				}{{doorlog.Asc, asc, 0}, {doorlog.Asc, asc, len(asc) * 2 / 3}, {doorlog.Desc, desc, len(asc) / 3}} {
					got := MustList(t, s, doorlog.EventQuery{Filter: tt.filter, Order: pg.order, Offset: pg.offset, Limit: 50})
					if ids, want := eventIDs(got), eventIDs(pg.want[pg.offset:min(pg.offset+50, len(pg.want))]); !slices.Equal(ids, want) {
						t.Errorf("%s page at offset %d: got %q, want %q", orderName(pg.order), pg.offset, ids, want)
					}
				}
				byDevice := map[string]int64{}
				for _, e := range asc {
					byDevice[e.DeviceID]++
				}
				got, err := s.CountByDevice(ctx(t), tt.filter)
				mustOK(t, "CountByDevice", err)
				if !maps.Equal(got, byDevice) {
					t.Errorf("CountByDevice: got %v, want %v", got, byDevice)
				}
				hf := tt.filter
				if hf.From.IsZero() {
					hf.From, hf.To = T0.Add(-time.Hour), T0.Add(48*time.Hour)
				}
				hours, err := s.CountByHour(ctx(t), hf)
				mustOK(t, "CountByHour", err)
				inWindow := expect(hf)
				byHour := map[time.Time]doorlog.CategoryCounts{}
				for _, e := range inWindow {
					c := byHour[e.Time.Truncate(time.Hour)]
					c.Add(e.Category, 1)
					byHour[e.Time.Truncate(time.Hour)] = c
				}
				var total int64
				for _, h := range hours {
					if h.CategoryCounts != byHour[h.Hour] {
						t.Errorf("CountByHour: hour %v: got %+v, want %+v", h.Hour, h.CategoryCounts, byHour[h.Hour])
					}
					total += h.Total()
				}
				if total != int64(len(inWindow)) {
					t.Errorf("CountByHour: got %d events in all, want %d", total, len(inWindow))
				}
			})
		}
	}

	appendAll(in[:len(in)/2])
	t.Run("half", func(t *testing.T) { check(t, true) })
	appendAll(in[len(in)/2:])
	t.Run("all", func(t *testing.T) { check(t, false) })
}
