package sqlite

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// TestStatsQueryPlans guards the aggregations against full scans: the last
// event times seek each device's newest runs, and the edges of a window are
// ranges of the table's key.
func TestStatsQueryPlans(t *testing.T) {
	db := openTemp(t)
	tests := []struct {
		name, query string
		want        []string
		// limited: the query scans the events' key, in order, up to a
		// LIMIT, and must not sort them.
		limited bool
	}{
		{"newest runs", newestRunsSQL, []string{
			"SCAN d", "SEARCH r USING PRIMARY KEY (device=? AND day=?)", "SEARCH device_runs USING PRIMARY KEY (device=?)"}, false},
		{"newest runs of sites", newestRunsSQL + " WHERE d.site IN (1, 2)", []string{
			"SEARCH d USING COVERING INDEX devices_site (site=?)", "SEARCH r USING PRIMARY KEY (device=? AND day=?)"}, false},
		{"an edge by kind", "SELECT kind, count(*) FROM events WHERE time_ms BETWEEN 1 AND 2 AND device IN (1, 2) AND seq <= 9 GROUP BY kind", []string{
			"SEARCH events USING PRIMARY KEY (time_ms>? AND time_ms<?)"}, false},
		{"an edge by device", "SELECT device, count(*) FROM events WHERE time_ms BETWEEN 1 AND 2 AND kind IN (1, 2) AND seq <= 9 AND device IS NOT NULL GROUP BY device", []string{
			"SEARCH events USING PRIMARY KEY (time_ms>? AND time_ms<?)"}, false},
		{"the newest events", strings.Replace(newestEventsSQL, "?", "20000", 1), []string{"SCAN events"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := db.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			text := strings.Join(plan, "; ")
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("plan: got %q, want %q in it", text, w)
				}
			}
			if tt.limited {
				if strings.Contains(text, "FOR ORDER BY") {
					t.Errorf("plan: got %q, want the key read in order, not sorted", text)
				}
			} else if strings.Contains(text, "SCAN r") || strings.Contains(text, "SCAN events") || strings.Contains(text, "SCAN device_runs") {
				t.Errorf("plan: got %q, want no scan of runs or events", text)
			}
		})
	}
}

// statsScale is the shape of the README's benchmark: 1 million events over
// 90 days from 500 devices in 20 sites, in batches of 5000.
const (
	statsEvents  = 1_000_000
	statsSites   = 20
	statsDevices = 500
	statsDays    = 90
	statsBatch   = 5000
)

// statsEnd is the end of the 90 days.
var statsEnd = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// statsMix is a realistic mix of keys: mostly grants and door sensors, a
// few denials, rare alarms.
var statsMix = []struct {
	key      string
	category doorlog.Category
	priority doorlog.Priority
	weight   int
}{
	{"access_granted_by_valid_identifier", doorlog.CategoryAccess, doorlog.PriorityMedium, 430},
	{"access_granted_by_valid_face_identifier", doorlog.CategoryAccess, doorlog.PriorityMedium, 140},
	{"access_denied_by_unknown_card", doorlog.CategoryAccess, doorlog.PriorityHigh, 35},
	{"access_denied_by_not_valid_identifier", doorlog.CategoryAccess, doorlog.PriorityHigh, 30},
	{"door_sensor_was_opened", doorlog.CategoryAccess, doorlog.PriorityLow, 230},
	{"incoming_call", doorlog.CategoryInfo, doorlog.PriorityLow, 80},
	{"tamper_event", doorlog.CategoryEmergency, doorlog.PriorityCritical, 1},
	{"incorrect_login_gui_settings", doorlog.CategorySystem, doorlog.PriorityHigh, 2},
}

// statsStore returns a store of statsEvents events in statsMix order.
func statsStore(b *testing.B) *DB { return statsStoreN(b, statsEvents) }

func statsStoreN(b testing.TB, statsEvents int) *DB {
	b.Helper()
	db := openTemp(b)
	for s := range statsSites {
		storetest.MustCreateSite(b, db, fmt.Sprintf("s%02d", s))
	}
	for d := range statsDevices {
		storetest.MustCreateDevice(b, db, fmt.Sprintf("s%02d", d%statsSites), d+1)
	}
	var picks []int
	for i, m := range statsMix {
		for range m.weight {
			picks = append(picks, i)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	step := statsDays * 24 * time.Hour / time.Duration(statsEvents)
	start := time.Now()
	batch := make([]doorlog.Event, 0, statsBatch)
	for i := range statsEvents {
		m := statsMix[picks[r.IntN(len(picks))]]
		batch = append(batch, doorlog.Event{
			DeviceID: storetest.DeviceID(1 + r.IntN(statsDevices)),
			Time:     statsEnd.Add(time.Duration(i-statsEvents) * step),
			Key:      m.key, Category: m.category, Priority: m.priority,
			Model:    benchModel(i),
			SourceID: fmt.Sprint("ev-", i),
		})
		if len(batch) == statsBatch {
			if _, err := db.AppendEvents(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.Logf("loaded %d events in %v", statsEvents, time.Since(start).Round(time.Second))
	return db
}

// BenchmarkStats measures the aggregations at the README benchmark's scale
// (1M events, 500 devices, 90 days), with windows that end inside an hour,
// as the web page asks them: the last 24 hours and the last 31 days.
func BenchmarkStats(b *testing.B) {
	db := statsStore(b)
	ctx := context.Background()
	all := doorlog.Scope{All: true}
	site := doorlog.Scope{SiteIDs: []string{"s03"}}
	end := statsEnd.Add(-10*24*time.Hour + 7*time.Hour + 1234*time.Millisecond)
	day, month := end.Add(-24*time.Hour), end.Add(-31*24*time.Hour)
	denials := []string{"access_denied_by_unknown_card", "access_denied_by_not_valid_identifier"}
	kyiv := time.FixedZone("EET", 2*3600)
	midnight := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, kyiv)

	// Warm the counts, as a running server has them.
	if _, err := db.CountEvents(ctx, doorlog.EventFilter{Scope: all}); err != nil {
		b.Fatal(err)
	}
	hourly := []struct {
		name string
		f    doorlog.EventFilter
	}{
		{"CountByHour/all/24h", doorlog.EventFilter{Scope: all, From: day, To: end}},
		{"CountByHour/all/31d", doorlog.EventFilter{Scope: all, From: month, To: end}},
		{"CountByHour/site/31d", doorlog.EventFilter{Scope: site, From: month, To: end}},
		{"CountByHour/device/31d", doorlog.EventFilter{Scope: all, DeviceIDs: []string{storetest.DeviceID(7)}, From: month, To: end}},
	}
	for _, tc := range hourly {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := db.CountByHour(ctx, tc.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	byDevice := []struct {
		name string
		f    doorlog.EventFilter
	}{
		{"CountByDevice/denials/24h", doorlog.EventFilter{Scope: all, Keys: denials, From: day, To: end}},
		{"CountByDevice/denials/31d", doorlog.EventFilter{Scope: all, Keys: denials, From: month, To: end}},
		{"CountByDevice/site+denials/24h", doorlog.EventFilter{Scope: site, Keys: denials, From: day, To: end}},
		{"CountByDevice/tamper/31d", doorlog.EventFilter{Scope: all, Keys: []string{"tamper_event"}, From: month, To: end}},
		{"CountByDevice/grants/today-utc", doorlog.EventFilter{Scope: all, Keys: []string{"access_granted_by_valid_identifier", "access_granted_by_valid_face_identifier"},
			From: end.Truncate(24 * time.Hour), To: end.Truncate(24 * time.Hour).Add(24*time.Hour - time.Millisecond)}},
		{"CountByDevice/grants/today-kyiv", doorlog.EventFilter{Scope: all, Keys: []string{"access_granted_by_valid_identifier", "access_granted_by_valid_face_identifier"},
			From: midnight, To: midnight.Add(24*time.Hour - time.Millisecond)}},
	}
	for _, tc := range byDevice {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := db.CountByDevice(ctx, tc.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		f    doorlog.DeviceFilter
	}{
		{"LastEventTimes/all", doorlog.DeviceFilter{Scope: all}},
		{"LastEventTimes/site", doorlog.DeviceFilter{Scope: site}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				last, err := db.LastEventTimes(ctx, tc.f)
				if err != nil {
					b.Fatal(err)
				}
				n = len(last)
			}
			b.ReportMetric(float64(n), "devices")
		})
	}
}

// TestLastEventTimesBehindNewest checks LastEventTimes where the newest day
// is busy and its newest events (more than newestScan of them) come from
// some devices only: the
// devices among them get their times from those events, the others from
// their runs, and a site scope holds for both.
func TestLastEventTimesBehindNewest(t *testing.T) {
	db := openTemp(t)
	ctx := t.Context()
	storetest.MustCreateSite(t, db, "s1")
	storetest.MustCreateSite(t, db, "s2")
	for d := 1; d <= 4; d++ {
		storetest.MustCreateDevice(t, db, []string{"s1", "s1", "s2", "s2"}[d-1], d)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	want := map[string]time.Time{}
	var batch []doorlog.Event
	add := func(device int, at time.Time) {
		batch = append(batch, doorlog.Event{DeviceID: storetest.DeviceID(device), Time: at,
			Key: "door_sensor_was_opened", Category: doorlog.CategoryAccess, Priority: doorlog.PriorityLow,
			Model: benchModel(len(batch))})
		if at.After(want[storetest.DeviceID(device)]) {
			want[storetest.DeviceID(device)] = at
		}
	}
	// Devices 1 and 3 are heard from, then fall silent (device 3's last
	// event arrives out of order, after newer ones); devices 2 and 4 fill
	// the newest events.
	add(1, t0.Add(time.Second))
	add(1, t0.Add(3*time.Second))
	add(3, t0.Add(2*time.Second))
	// More than busyDay events in the day, so that the newest are read.
	for i := range max(newestScan, busyDay) + 500 {
		add(2+2*(i%2), t0.Add(time.Minute+time.Duration(i)*time.Millisecond))
	}
	add(3, t0.Add(5*time.Second))
	for off := 0; off < len(batch); off += 5000 {
		if _, err := db.AppendEvents(ctx, batch[off:min(off+5000, len(batch))]); err != nil {
			t.Fatal(err)
		}
	}
	if newest, err := db.newestEventTimes(ctx); err != nil || len(newest) != 2 {
		t.Fatalf("newestEventTimes: got %v (err %v), want devices 2 and 4 only: the test needs silent devices", newest, err)
	}
	tests := []struct {
		name  string
		f     doorlog.DeviceFilter
		sites []string
	}{
		{"all", doorlog.DeviceFilter{Scope: doorlog.Scope{All: true}}, []string{"s1", "s2"}},
		{"site s1", doorlog.DeviceFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}}, []string{"s1"}},
		{"site s2", doorlog.DeviceFilter{Scope: doorlog.Scope{SiteIDs: []string{"s2"}}}, []string{"s2"}},
	}
	siteOf := map[string]string{storetest.DeviceID(1): "s1", storetest.DeviceID(2): "s1", storetest.DeviceID(3): "s2", storetest.DeviceID(4): "s2"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.LastEventTimes(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			wantHere := map[string]time.Time{}
			for id, at := range want {
				if slices.Contains(tt.sites, siteOf[id]) {
					wantHere[id] = at
				}
			}
			if !maps.EqualFunc(got, wantHere, time.Time.Equal) {
				t.Errorf("LastEventTimes: got %v, want %v", got, wantHere)
			}
		})
	}
}
