package sqlite

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// BenchmarkAppendOrder measures durable appends by arrival order: 1M events
// of 500 devices over 90 days, in batches of 20,000 (a group commit's
// size), in time order and in random order. The rate at each fifth of the
// load is logged (-v), since the random order slows as the store grows.
// docs/performance.md ("Where random-order ingest time goes") quotes it.
func BenchmarkAppendOrder(b *testing.B) {
	for _, order := range []string{"time", "random"} {
		b.Run(order, func(b *testing.B) {
			for b.Loop() {
				appendOrder(b, order == "random")
			}
		})
	}
}

func appendOrder(b *testing.B, random bool) {
	b.StopTimer()
	db := openTemp(b)
	ctx := b.Context()
	storetest.MustCreateSite(b, db, "s1")
	for d := range 500 {
		storetest.MustCreateDevice(b, db, "s1", d+1)
	}
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const span = 90 * 24 * time.Hour
	const total, fifth = 1_000_000, 200_000
	r := rand.New(rand.NewPCG(1, 2))
	models := make([]json.RawMessage, 1000)
	for i := range models {
		models[i] = json.RawMessage(`{"number":"` + strconv.Itoa(1000000+i*7919) + `","type":"card","lock":1,"owner":"Olena Kovalenko","flat":"` + strconv.Itoa(i%300) + `"}`)
	}
	b.StartTimer()
	start, last := time.Now(), time.Now()
	batch := make([]doorlog.Event, 0, 20_000)
	for i := range total {
		at := end.Add(-span + time.Duration(i)*(span/total))
		if random {
			at = end.Add(-time.Duration(r.Int64N(int64(span))))
		}
		batch = append(batch, doorlog.Event{DeviceID: storetest.DeviceID(i%500 + 1), Time: at,
			Key: "access_granted_by_valid_identifier", Category: doorlog.CategoryAccess, Priority: doorlog.PriorityLow,
			Model: models[i%len(models)], SourceID: "s" + strconv.Itoa(i)})
		if len(batch) < cap(batch) {
			continue
		}
		if _, err := db.AppendEvents(ctx, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
		if (i+1)%fifth == 0 {
			b.Logf("%d events: %.0f events/s over the last %d", i+1, fifth/time.Since(last).Seconds(), fifth)
			last = time.Now()
		}
	}
	b.ReportMetric(total/time.Since(start).Seconds(), "events/s")
}
