package oloid_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// TestWalkWhileIngesting walks 10,000 events, a hundred at a time, through
// nextToken while other goroutines keep storing new events before, inside
// and after the walked window, many in the same milliseconds as the walked
// ones. The walk must find every original event exactly once, in (time, id)
// descending order: a cursor, not an offset.
func TestWalkWhileIngesting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const (
		originals = 10_000
		perMilli  = 4 // events sharing each millisecond
		step      = 1440 * time.Millisecond
		limit     = 100
	)
	start := t0
	end := start.Add((originals/perMilli - 1) * step) // the last group is exactly at end
	devices := []string{devEntrance, devGarage}

	rng := rand.New(rand.NewPCG(7, 9))
	events := make([]doorlog.Event, originals)
	for i := range events {
		at := start.Add(time.Duration(i/perMilli) * step)
		events[i] = e.event(devices[i%2], at, "access_granted_by_valid_identifier", fmt.Sprintf(`{"number":%d,"type":"card","owner":"Walker %d"}`, i, i))
	}
	// Out of time order, in batches, as reconnecting devices send them.
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	want := map[string]bool{}
	for i := 0; i < len(events); i += 500 {
		for _, ev := range e.append(t, events[i:i+500]) {
			want[ev.ID] = true
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var appended atomic.Int64
	var wg sync.WaitGroup
	window := end.Sub(start).Milliseconds()
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for ctx.Err() == nil {
				batch := make([]doorlog.Event, 8)
				for j := range batch {
					var at time.Time
					switch rng.IntN(4) {
					case 0: // before the window
						at = start.Add(-time.Duration(1+rng.Int64N(window)) * time.Millisecond)
					case 1: // after it
						at = end.Add(time.Duration(1+rng.Int64N(window)) * time.Millisecond)
					case 2: // inside, in a millisecond the originals use
						at = start.Add(time.Duration(rng.Int64N(originals/perMilli)) * step)
					default: // inside, anywhere
						at = start.Add(time.Duration(rng.Int64N(window+1)) * time.Millisecond)
					}
					batch[j] = e.event(devices[j%2], at, "door_was_opened", `{"lock":1}`)
				}
				if _, err := e.db.AppendEvents(context.Background(), batch); err != nil {
					t.Errorf("concurrent append: %v", err)
					return
				}
				appended.Add(int64(len(batch)))
				// A breath between batches leaves the walk some CPU on a
				// small machine; the writers still commit hundreds of
				// batches during it.
				time.Sleep(time.Millisecond)
			}
		})
	}
	// The walk starts once the writers do.
	for appended.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	before := appended.Load()

	var seen []activity
	body := fmt.Sprintf(`{"start": %d, "end": %d, "limit": %d}`, start.UnixMilli(), end.UnixMilli(), limit)
	pages := 0
	for {
		_, p := e.filter(t, e.admin, body)
		pages++
		if len(p.Data.Activities) > limit {
			t.Fatalf("page %d: got %d activities, want at most %d", pages, len(p.Data.Activities), limit)
		}
		seen = append(seen, p.Data.Activities...)
		if p.Data.NextToken == nil {
			break
		}
		if pages > 2*originals/limit {
			t.Fatalf("the walk has not ended after %d pages", pages)
		}
		body = fmt.Sprintf(`{"nextToken": %q}`, *p.Data.NextToken)
	}
	during := appended.Load() - before
	stop()
	wg.Wait()
	if during == 0 {
		t.Fatalf("no event was stored during the walk, want concurrent ingest")
	}

	found := 0
	for i, a := range seen {
		if a.Timestamp < start.UnixMilli() || a.Timestamp > end.UnixMilli() {
			t.Errorf("activity %d (%s): timestamp %d outside [%d, %d]", i, a.ID, a.Timestamp, start.UnixMilli(), end.UnixMilli())
		}
		if i > 0 {
			prev := seen[i-1]
			if !(a.Timestamp < prev.Timestamp || a.Timestamp == prev.Timestamp && strings.Compare(a.ID, prev.ID) < 0) {
				t.Fatalf("activity %d: got (%d, %s) after (%d, %s), want strictly descending (time, id)", i, a.Timestamp, a.ID, prev.Timestamp, prev.ID)
			}
		}
		if want[a.ID] {
			found++
			delete(want, a.ID) // strictly descending ids: no second visit
		}
	}
	if found != originals || len(want) != 0 {
		t.Fatalf("got %d of the %d original events (%d missed), want each exactly once", found, originals, len(want))
	}
	t.Logf("%d pages, %d activities: %d original, %d stored during the walk (%d of them seen)",
		pages, len(seen), found, during, len(seen)-found)
}
