package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// countsWorld is a store of sites s1 and s2 and devices 1 and 2 in the
// sites given, so that two files can number the same devices in other
// sites; and events of the devices given, in turn.
func countsWorld(t testing.TB, path string, sites map[int]string, events int, devices ...int) *DB {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustCreateSite(t, db, "s1")
	storetest.MustCreateSite(t, db, "s2")
	for n := 1; n <= 2; n++ {
		storetest.MustCreateDevice(t, db, sites[n], n)
	}
	appendCounted(t, db, 0, events, devices...)
	return db
}

// appendCounted appends n events from number from on, of the devices in
// turn, with keys of 5,000 kinds.
func appendCounted(t testing.TB, db *DB, from, n int, devices ...int) {
	t.Helper()
	var evs []doorlog.Event
	for i := from; i < from+n; i++ {
		evs = append(evs, doorlog.Event{DeviceID: storetest.DeviceID(devices[i%len(devices)]), Time: storetest.T0.Add(time.Duration(i) * time.Minute),
			Key: fmt.Sprintf("k_%d", i%5000), Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow})
	}
	storetest.MustAppend(t, db, evs...)
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCountsRebuilt checks that counts which cannot take the store's
// events are rebuilt from the events, with the reason logged, instead of
// failing every counted read for good. The snapshot comes from another file
// that numbers the same devices in other sites (a copied store_state), so
// it reads well but contradicts the events: loading it and counting the
// events after it fails, or, when it is as new as the events, the next
// append's update of the counts fails after the commit.
func TestCountsRebuilt(t *testing.T) {
	tests := []struct {
		name string
		// theirs is how many events the file of the snapshot has; ours has
		// 6,000.
		theirs int
		// appendAfter appends to ours once the snapshot is loaded, which
		// is when the contradiction shows.
		appendAfter bool
		log         string
	}{
		{"snapshot older than the events", 3_000, false, "rebuilding them from the events"},
		{"snapshot as new as the events", 6_000, true, "will be rebuilt from the events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// Theirs: device 1 in s1, device 2 in s2, events of device 1
			// only.
			theirs := countsWorld(t, filepath.Join(dir, "theirs.db"), map[int]string{1: "s1", 2: "s2"}, tt.theirs, 1)
			if _, err := theirs.CountEvents(t.Context(), doorlog.EventFilter{Scope: doorlog.Scope{All: true}}); err != nil {
				t.Fatal(err)
			}
			if err := theirs.Close(); err != nil {
				t.Fatal(err)
			}
			// Ours: device 1 in s2, device 2 in s1, events of both.
			path := filepath.Join(dir, "ours.db")
			ours := countsWorld(t, path, map[int]string{1: "s2", 2: "s1"}, 6_000, 1, 2)
			if err := ours.Close(); err != nil {
				t.Fatal(err)
			}
			var snap []byte
			theirs = openAt(t, filepath.Join(dir, "theirs.db"))
			if err := theirs.r.QueryRow(`SELECT value FROM store_state WHERE name = 'rollup'`).Scan(&snap); err != nil {
				t.Fatal(err)
			}
			ours = openAt(t, path)
			if _, err := ours.w.Exec(`INSERT OR REPLACE INTO store_state (name, value) VALUES ('rollup', ?)`, snap); err != nil {
				t.Fatal(err)
			}
			var logs lockedBuffer
			ours.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))

			want := map[string]int64{"s1": 3_000, "s2": 3_000}
			if tt.appendAfter {
				// Load the counts (the snapshot, trusted since it is as new
				// as the events), then append.
				if _, err := ours.CountEvents(t.Context(), doorlog.EventFilter{Scope: doorlog.Scope{All: true}}); err != nil {
					t.Fatal(err)
				}
				appendCounted(t, ours, 6_000, 2, 1, 2)
				want = map[string]int64{"s1": 3_001, "s2": 3_001}
			}
			for site, n := range want {
				got, err := ours.CountEvents(context.Background(), doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{site}}})
				if err != nil || got != n {
					t.Errorf("CountEvents of %s: got %d, %v; want %d", site, got, err, n)
				}
			}
			hours, err := ours.CountByHour(t.Context(), doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, From: storetest.T0, To: storetest.T0.Add(200 * time.Hour)})
			if err != nil {
				t.Fatalf("CountByHour: %v", err)
			}
			var total int64
			for _, h := range hours {
				total += h.Total()
			}
			if total != want["s1"] {
				t.Errorf("CountByHour of s1: got %d events, want %d", total, want["s1"])
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("log: got %q, want it to say %q", logs.String(), tt.log)
			}
		})
	}
}

// TestFirstCountSplitsDenseHours loads two dense hours before any read, so
// that the counts are first made from the stored events, and checks that
// they are made in time order: every dense hour split as it is counted,
// none left to recount. Counted in seq order, in chunks of foldChunk, the
// hour a chunk boundary fell in had to be recounted from the table; at
// 100M events that was every hour, minutes of reading with ingest waiting.
func TestFirstCountSplitsDenseHours(t *testing.T) {
	db := openTemp(t)
	storetest.MustCreateSite(t, db, "s1")
	storetest.MustCreateDevice(t, db, "s1", 1)
	// Two hours over rollup.DefaultSplit. Counted in seq order, the first
	// chunk of foldChunk (50,000) would hold all of the first hour and
	// 10,000 events of the second, too few to split it; the next chunk
	// makes it dense when it is no longer empty.
	hours := []int{40_000, 30_000}
	var batch []doorlog.Event
	total := 0
	for h, n := range hours {
		for i := range n {
			at := storetest.T0.Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Hour/time.Duration(n))
			batch = append(batch, doorlog.Event{DeviceID: storetest.DeviceID(1), Time: at, Key: "door_was_opened",
				Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow, SourceID: fmt.Sprintf("d-%d-%d", h, i)})
			if len(batch) == 5_000 {
				storetest.MustAppend(t, db, batch...)
				batch = batch[:0]
			}
			total++
		}
	}
	if c := db.loadedCounts(); c != nil {
		t.Fatalf("the counts were loaded before the first read; the test would not count from the events")
	}
	all := doorlog.Scope{All: true}
	n, err := db.CountEvents(t.Context(), doorlog.EventFilter{Scope: all})
	if err != nil || n != int64(total) {
		t.Fatalf("CountEvents: got %d, %v; want %d", n, err, total)
	}
	if got := db.recounts.Load(); got != 0 {
		t.Errorf("the first count recounted %d buckets from the events, want 0: each dense hour split as it is counted", got)
	}
	// The counts are exact: a window from inside the second hour.
	from := storetest.T0.Add(time.Hour + 30*time.Minute)
	n, err = db.CountEvents(t.Context(), doorlog.EventFilter{Scope: all, From: from, To: storetest.T0.Add(3 * time.Hour)})
	if want := int64(hours[1] / 2); err != nil || n != want {
		t.Errorf("CountEvents from %v: got %d, %v; want %d", from, n, err, want)
	}
}
