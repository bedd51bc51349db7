package sqlite

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// BenchmarkStoredAfter measures what a BAS-IP listing behind a watermark
// costs (EventFilter.StoredAfter: the page and its exact total), by how
// many events were stored since the clear, in a store of 300,000 events of
// 10 devices: a poller that clears after each read has a few since, one
// that cleared once and then stopped clearing has many. "no-watermark" is
// the same page without one, from the counts. docs/api-basip.md ("Clear
// and watermarks") quotes the figures.
func BenchmarkStoredAfter(b *testing.B) {
	db := openTemp(b)
	ctx := b.Context()
	storetest.MustCreateSite(b, db, "s1")
	for d := range 10 {
		storetest.MustCreateDevice(b, db, "s1", d+1)
	}
	const total = 300_000
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	batch := make([]doorlog.Event, 0, 1000)
	for i := range total {
		batch = append(batch, doorlog.Event{
			DeviceID: storetest.DeviceID(i%10 + 1), Time: t0.Add(time.Duration(i) * 100 * time.Millisecond),
			Key: "access_granted_by_valid_identifier", Category: doorlog.CategoryAccess, Priority: doorlog.PriorityLow,
			Model: json.RawMessage(fmt.Sprintf(`{"number":%d,"type":"card","lock":1}`, i)),
		})
		if len(batch) == cap(batch) {
			res, err := db.AppendEvents(ctx, batch)
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, res[len(res)-1].ID)
			batch = batch[:0]
		}
	}
	page := func(b *testing.B, f doorlog.EventFilter) {
		for b.Loop() {
			if _, err := db.ListEvents(ctx, doorlog.EventQuery{Filter: f, Limit: 50}); err != nil {
				b.Fatal(err)
			}
			if _, err := db.CountEvents(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("no-watermark", func(b *testing.B) { page(b, doorlog.EventFilter{Scope: doorlog.Scope{All: true}}) })
	for _, since := range []int{1000, 10_000, 100_000, 299_000} {
		after := ids[(total-since)/1000-1]
		b.Run(fmt.Sprintf("since=%d", since), func(b *testing.B) {
			page(b, doorlog.EventFilter{Scope: doorlog.Scope{All: true}, StoredAfter: after})
		})
	}
}
