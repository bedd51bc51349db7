package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// testListEventsAcrossBuckets spreads events over more than a week, so that
// a backend that seeks offsets and counts totals per time bucket (hours,
// days) is held to the same answers as a plain scan: every filter and time
// window below cuts through hours and days at odd places, and each listing
// is checked whole, by count, by every offset page and by cursor.
func testListEventsAcrossBuckets(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateSite(t, s, "s2")
	MustCreateDevice(t, s, "s1", 1)
	MustCreateDevice(t, s, "s1", 2)
	MustCreateDevice(t, s, "s2", 3)
	siteOf := map[string]string{DeviceID(1): "s1", DeviceID(2): "s1", DeviceID(3): "s2"}
	keys := []string{keyGranted, keyDenied, keyOpened, keyTamper, keyCall}
	rng := rand.New(rand.NewPCG(1, 2))

	var in []doorlog.Event
	for i := range 400 {
		n := []int{1, 1, 2, 3, 0}[rng.IntN(5)]
		key := keyLogin
		if n != 0 {
			key = keys[rng.IntN(len(keys))]
		}
		// About 37 minutes apart with jitter, some events sharing a
		// millisecond, over about 10 days.
		ms := i*37*60_000 + rng.IntN(20)*1000
		if i%50 == 7 {
			ms = (i - 1) * 37 * 60_000
		}
		in = append(in, event(n, ms, key, priorityCycle[rng.IntN(4)], fmt.Sprintf("b-%d", i)))
	}
	// Arrival order unlike time order: shuffled, in batches of varied size.
	rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	fx := &fixture{store: s}
	for start := 0; start < len(in); {
		end := min(start+1+rng.IntN(60), len(in))
		batch := in[start:end]
		for i, r := range MustAppend(t, s, batch...) {
			e := batch[i]
			e.ID = r.ID
			e.SiteID = siteOf[e.DeviceID]
			e.Time = doorlog.TruncateMillis(e.Time)
			fx.all = append(fx.all, e)
		}
		start = end
	}

	all := doorlog.Scope{All: true}
	at := func(d time.Duration) time.Time { return T0.Add(d) }
	from, to := at(26*time.Hour+17*time.Minute+3*time.Second), at(5*24*time.Hour+3*time.Hour+5*time.Second)
	tests := []struct {
		name   string
		filter doorlog.EventFilter
	}{
		{"everything", doorlog.EventFilter{Scope: all}},
		{"one site", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}}},
		{"one device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1)}}},
		{"two devices in scope of one", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, DeviceIDs: []string{DeviceID(1), DeviceID(3)}}},
		{"category", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryAccess}}},
		{"priority", doorlog.EventFilter{Scope: all, Priorities: []doorlog.Priority{doorlog.PriorityHigh}}},
		{"key", doorlog.EventFilter{Scope: all, Keys: []string{keyTamper}}},
		{"window", doorlog.EventFilter{Scope: all, From: from, To: to}},
		{"window from only", doorlog.EventFilter{Scope: all, From: from}},
		{"window to only", doorlog.EventFilter{Scope: all, To: to}},
		{"window inside an hour", doorlog.EventFilter{Scope: all, From: at(50*time.Hour + 5*time.Minute), To: at(50*time.Hour + 55*time.Minute)}},
		{"window of whole days", doorlog.EventFilter{Scope: all, From: T0.Truncate(24 * time.Hour).Add(48 * time.Hour), To: T0.Truncate(24 * time.Hour).Add(96*time.Hour - time.Millisecond)}},
		{"category and window", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryAccess}, From: from, To: to}},
		{"site, key and window", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, Keys: []string{keyGranted, keyDenied}, From: from, To: to}},
		{"device and window", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(2)}, From: from, To: to}},
		{"device, category and window", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1), DeviceID(2)}, Categories: []doorlog.Category{doorlog.CategoryAccess}, From: from, To: to}},
		{"device and text", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1)}, Text: "lock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range []doorlog.Order{doorlog.Asc, doorlog.Desc} {
				want := fx.expect(tt.filter, order)
				if len(want) == 0 {
					t.Fatalf("the fixture has no event for this filter; the test would prove nothing")
				}
				checkListing(t, s, tt.filter, order, want)
			}
		})
	}
}
