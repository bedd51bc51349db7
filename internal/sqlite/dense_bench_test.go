package sqlite

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// BenchmarkDenseWindow measures the queries a BAS-IP poller makes when the
// present is dense: 400,000 events in the last minute of the store (a
// backfill, or a busy site), after 100,000 spread over the day before. Each
// query is a page of 20 with its exact total, the way the BAS-IP API
// answers, for a window from a time inside the dense minute ("since the
// last event I saw") with and without a category filter, for the last hour
// filtered by priority, by a key that is 1 event in 5,000, and deep into
// that hour; and the whole store filtered by a key that only 5 events
// have. The figures are quoted in
// docs/performance.md ("Dense windows").
func BenchmarkDenseWindow(b *testing.B) {
	db := openTemp(b)
	ctx := b.Context()
	storetest.MustCreateSite(b, db, "s1")
	const devices = 20
	for d := range devices {
		storetest.MustCreateDevice(b, db, "s1", d+1)
	}
	end := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	kinds := []struct {
		key      string
		category doorlog.Category
		priority doorlog.Priority
	}{
		{"access_granted_by_valid_identifier", doorlog.CategoryAccess, doorlog.PriorityLow},
		{"access_denied_by_invalid_identifier", doorlog.CategoryAccess, doorlog.PriorityMedium},
		{"door_open", doorlog.CategoryInfo, doorlog.PriorityLow},
		{"call_started", doorlog.CategoryInfo, doorlog.PriorityLow},
		{"tamper_alarm", doorlog.CategoryEmergency, doorlog.PriorityCritical},
		{"device_booted", doorlog.CategorySystem, doorlog.PriorityHigh},
		{"sip_registration_lost", doorlog.CategorySystem, doorlog.PriorityMedium},
	}
	batch := make([]doorlog.Event, 0, 5000)
	add := func(i int, at time.Time) {
		k := kinds[i%4]
		switch {
		case i%100_000 == 3:
			k = kinds[6] // very rare: 5 in the store
		case i%4999 == 0:
			k = kinds[5] // rare: 1 in 5,000
		case i%97 == 0:
			k = kinds[4]
		}
		batch = append(batch, doorlog.Event{
			DeviceID: storetest.DeviceID(i%devices + 1), Time: at,
			Key: k.key, Category: k.category, Priority: k.priority,
			Model: json.RawMessage(fmt.Sprintf(`{"number":%d,"type":"card","lock":1}`, i)),
		})
		if len(batch) == cap(batch) {
			if _, err := db.AppendEvents(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	const spread, dense = 100_000, 400_000
	for i := range spread {
		add(i, end.Add(-25*time.Hour).Add(time.Duration(i)*24*time.Hour/spread))
	}
	for i := range dense {
		add(spread+i, end.Add(-time.Minute).Add(time.Duration(i)*time.Minute/dense))
	}
	if len(batch) > 0 {
		if _, err := db.AppendEvents(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	all := doorlog.Scope{All: true}
	// Load the counts first, as a serving store has: the appends above
	// found them not loaded yet.
	if _, err := db.CountEvents(ctx, doorlog.EventFilter{Scope: all}); err != nil {
		b.Fatal(err)
	}
	since := end.Add(-37 * time.Second)
	tests := []struct {
		name   string
		filter doorlog.EventFilter
		offset int
	}{
		{"since", doorlog.EventFilter{Scope: all, From: since}, 0},
		{"since+category", doorlog.EventFilter{Scope: all, From: since, Categories: []doorlog.Category{doorlog.CategoryAccess}}, 0},
		{"hour+priority", doorlog.EventFilter{Scope: all, From: end.Add(-time.Hour).Add(7 * time.Second), Priorities: []doorlog.Priority{doorlog.PriorityCritical}}, 0},
		{"hour+rare", doorlog.EventFilter{Scope: all, From: end.Add(-time.Hour).Add(7 * time.Second), Keys: []string{"device_booted"}}, 0},
		{"all+very-rare", doorlog.EventFilter{Scope: all, Keys: []string{"sip_registration_lost"}}, 0},
		{"hour+category/deep", doorlog.EventFilter{Scope: all, From: end.Add(-time.Hour).Add(7 * time.Second), Categories: []doorlog.Category{doorlog.CategoryInfo}}, 100_000},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := db.ListEvents(ctx, doorlog.EventQuery{Filter: tt.filter, Limit: 20, Offset: tt.offset}); err != nil {
					b.Fatal(err)
				}
				if _, err := db.CountEvents(ctx, tt.filter); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("count-by-hour", func(b *testing.B) {
		f := doorlog.EventFilter{Scope: all, From: end.Add(-24 * time.Hour).Add(7 * time.Second), To: end}
		for b.Loop() {
			if _, err := db.CountByHour(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("count-by-device", func(b *testing.B) {
		f := doorlog.EventFilter{Scope: all, From: end.Add(-24 * time.Hour).Add(7 * time.Second), To: end}
		for b.Loop() {
			if _, err := db.CountByDevice(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
