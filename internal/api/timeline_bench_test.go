package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// BenchmarkTimeline times GET /v1/stats/timeline over real HTTP on a dense
// store: 200,000 events in the last hour (55 a second, two devices of two
// sites, four categories), the worst a minute timeline meets, since each
// minute is counted from the events table. docs/performance.md quotes it.
func BenchmarkTimeline(b *testing.B) {
	e, cat, _ := newEventsEnv(b)
	e.seed(b)
	now := time.Date(2024, 6, 2, 3, 4, 5, 0, time.UTC)
	keys := []string{"access_granted_by_valid_identifier", "access_denied_by_unknown_card", "tamper_event", "door_was_opened", "incoming_call"}
	const n, batch = 200_000, 20_000
	for start := 0; start < n; start += batch {
		evs := make([]doorlog.Event, 0, batch)
		for i := start; i < start+batch; i++ {
			dev := devA
			if i%3 == 0 {
				dev = devB
			}
			at := now.Add(-time.Hour + time.Duration(i)*time.Hour/n)
			e := cat.Entry(keys[i%len(keys)])
			evs = append(evs, doorlog.Event{DeviceID: dev, Time: at, Key: keys[i%len(keys)], Category: e.Category, Priority: e.Priority, SourceID: fmt.Sprint("b", i)})
		}
		storetest.MustAppend(b, e.store, evs...)
	}
	for _, bc := range []struct{ name, query string }{
		{"1m of the last hour", "interval=1m&from=2024-06-02T02:04:05Z"},
		{"1m of the last hour, one device", "interval=1m&from=2024-06-02T02:04:05Z&device_id=" + devA},
		{"1m of 16 hours, the last one dense", "interval=1m&from=2024-06-01T11:05:00Z"},
		{"5m of the last hour", "interval=5m&from=2024-06-02T02:04:05Z"},
		{"1h of the last day", "interval=1h"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				status, _, body := e.get(b, "/v1/stats/timeline?"+bc.query, e.admin)
				if status != 200 {
					b.Fatalf("got %d %s, want 200", status, body)
				}
			}
		})
	}
}
