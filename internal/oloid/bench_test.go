package oloid_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// BenchmarkFilterActivity measures POST /filterActivity pages of 100 over
// HTTP from 20 000 events, with the real store, catalog and auth: the
// first page, and next pages by walking nextToken from the newest event on
// (back to the first page at the end), as `doorlog bench` does.
func BenchmarkFilterActivity(b *testing.B) {
	e := newEnv(b)
	const n = 20_000
	devices := []string{devEntrance, devGarage, devHarbour}
	batch := make([]doorlog.Event, 0, 1000)
	for i := range n {
		f := fixtureEvents[i%len(fixtureEvents)]
		batch = append(batch, e.event(devices[i%len(devices)], t0.Add(time.Duration(i)*time.Second), f.key, f.model))
		if len(batch) == cap(batch) {
			e.append(b, batch)
			batch = batch[:0]
		}
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if _, p := e.filter(b, e.admin, `{"limit":100}`); len(p.Data.Activities) != 100 {
				b.Fatalf("got %d activities, want 100", len(p.Data.Activities))
			}
		}
	})
	b.Run("next", func(b *testing.B) {
		next := ""
		for b.Loop() {
			body := `{"limit":100}`
			if next != "" {
				body = `{"limit":100,"nextToken":` + strconv.Quote(next) + `}`
			}
			_, p := e.filter(b, e.admin, body)
			if len(p.Data.Activities) == 0 {
				b.Fatalf("got an empty page")
			}
			next = ""
			if p.Data.NextToken != nil {
				next = *p.Data.NextToken
			}
		}
	})
}
