package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sqlite"
)

const device = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"

func openStore(t testing.TB) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "doorlog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateSite(ctx, &doorlog.Site{ID: "a", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDevice(ctx, &doorlog.Device{ID: device, SiteID: "a", Name: "Gate"}); err != nil {
		t.Fatal(err)
	}
	return db
}

// gatedStore holds the first commit until released, so that requests queue
// up behind it and the next commit must take them as one group. It counts
// the commits it sees; everything is stored in the real store.
type gatedStore struct {
	*sqlite.DB
	once    sync.Once
	release chan struct{}
	started chan struct{}
	mu      sync.Mutex
	calls   []int
}

func (g *gatedStore) AppendEvents(ctx context.Context, events []doorlog.Event) ([]doorlog.AppendResult, error) {
	g.once.Do(func() {
		close(g.started)
		<-g.release
	})
	g.mu.Lock()
	g.calls = append(g.calls, len(events))
	g.mu.Unlock()
	return g.DB.AppendEvents(ctx, events)
}

func event(source string, dev string) doorlog.Event {
	return doorlog.Event{
		DeviceID: dev, SiteID: "a", Time: time.UnixMilli(1714557600000).UTC(), Key: "incoming_call",
		Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow, Model: json.RawMessage(`{}`), SourceID: source,
	}
}

func TestWriterGroupsAndIsolates(t *testing.T) {
	store := &gatedStore{DB: openStore(t), release: make(chan struct{}), started: make(chan struct{})}
	w := ingest.NewWriter(store, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterOptions{})
	defer w.Close()
	ctx := context.Background()

	// The first request holds the writer; while it waits, nine more queue.
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := w.AppendEvents(ctx, []doorlog.Event{event("first", device)}); err != nil {
			t.Errorf("first request: %v", err)
		}
	})
	<-store.started
	results := make([][]doorlog.AppendResult, 9)
	errs := make([]error, 9)
	for i := range 9 {
		wg.Go(func() {
			ev := event(fmt.Sprintf("r%d", i), device)
			if i == 4 {
				// An event of a device that does not exist fails its
				// request, and must fail no other.
				ev = event("bad", "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3cff")
			}
			results[i], errs[i] = w.AppendEvents(ctx, []doorlog.Event{ev, event(fmt.Sprintf("r%d-dup", i%2), device)})
		})
	}
	// Let the queue fill before releasing the first commit.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && w.Queued() < 9 {
		time.Sleep(5 * time.Millisecond)
	}
	close(store.release)
	wg.Wait()

	for i := range 9 {
		if i == 4 {
			if errs[i] == nil {
				t.Errorf("request 4: got no error, want the unknown device to fail it")
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("request %d: got %v, want success", i, errs[i])
		}
		if results[i][0].Duplicate || results[i][0].ID == "" {
			t.Errorf("request %d: got %+v, want its own event stored", i, results[i][0])
		}
	}
	store.mu.Lock()
	calls := append([]int(nil), store.calls...)
	store.mu.Unlock()
	// One call for the first request, one group of nine that fails because
	// of request 4, then nine single retries.
	if len(calls) < 2 || calls[1] != 18 {
		t.Fatalf("got commits of %v events, want the nine queued requests (18 events) tried as one group", calls)
	}
	n, err := store.CountEvents(ctx, doorlog.EventFilter{Scope: doorlog.Scope{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	// first + 8 good r%d + the two distinct "-dup" sources.
	if n != 1+8+2 {
		t.Fatalf("got %d stored events, want 11", n)
	}
}

func TestWriterClose(t *testing.T) {
	store := openStore(t)
	w := ingest.NewWriter(store, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterOptions{})
	var committed []doorlog.Event
	w2 := ingest.NewWriter(store, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterOptions{OnCommit: func(evs []doorlog.Event) { committed = append(committed, evs...) }})
	if _, err := w2.AppendEvents(context.Background(), []doorlog.Event{event("x", device), event("x", device)}); err != nil {
		t.Fatal(err)
	}
	w2.Close()
	if len(committed) != 1 || committed[0].ID == "" {
		t.Fatalf("got OnCommit events %v, want the one stored event with its id", committed)
	}
	w.Close()
	w.Close() // a second Close is harmless
	_, err := w.AppendEvents(context.Background(), []doorlog.Event{event("late", device)})
	if doorlog.ErrorCode(err) != doorlog.EUNAVAILABLE {
		t.Fatalf("got %v after Close, want EUNAVAILABLE", err)
	}
}

// panickyStore panics while appending any event whose source id is
// "boom", as a bug in a store would, after holding the first commit until
// released (like gatedStore) so that requests queue into one group.
type panickyStore struct {
	gatedStore
}

func (p *panickyStore) AppendEvents(ctx context.Context, events []doorlog.Event) ([]doorlog.AppendResult, error) {
	for _, e := range events {
		if e.SourceID == "boom" {
			p.once.Do(func() { close(p.started) })
			panic("store bug: index out of range [4096] with length 4096")
		}
	}
	return p.gatedStore.AppendEvents(ctx, events)
}

// TestWriterSurvivesPanic checks that a store that panics while appending
// fails the requests of that commit with an internal error that says
// nothing of the panic, logs the panic with its stack, and leaves the
// writer serving the requests after it.
func TestWriterSurvivesPanic(t *testing.T) {
	tests := []struct {
		name string
		// group: the panicking request is queued with others and committed
		// with them in one group.
		group bool
	}{
		{"alone", false},
		{"in a group", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &panickyStore{gatedStore{DB: openStore(t), release: make(chan struct{}), started: make(chan struct{})}}
			var logs syncBuffer
			w := ingest.NewWriter(store, slog.New(slog.NewTextHandler(&logs, nil)), ingest.WriterOptions{})
			defer w.Close()
			ctx := context.Background()

			var wg sync.WaitGroup
			if tt.group {
				// The first request holds the writer while the rest queue.
				wg.Go(func() {
					if _, err := w.AppendEvents(ctx, []doorlog.Event{event("first", device)}); err != nil {
						t.Errorf("first request: %v", err)
					}
				})
				<-store.started
			} else {
				close(store.release)
			}
			requests := [][]doorlog.Event{{event("boom", device)}}
			if tt.group {
				requests = append(requests, []doorlog.Event{event("g1", device)}, []doorlog.Event{event("g2", device), event("boom", device)})
			}
			errs := make([]error, len(requests))
			for i, evs := range requests {
				wg.Go(func() { _, errs[i] = w.AppendEvents(ctx, evs) })
			}
			if tt.group {
				deadline := time.Now().Add(5 * time.Second)
				for time.Now().Before(deadline) && w.Queued() < len(requests) {
					time.Sleep(5 * time.Millisecond)
				}
				close(store.release)
			}
			wg.Wait()

			for i, err := range errs {
				if code := doorlog.ErrorCode(err); code != doorlog.EINTERNAL {
					t.Errorf("request %d of the commit that panicked: got error %v (code %q), want %q", i, err, code, doorlog.EINTERNAL)
				}
				if msg := doorlog.ErrorMessage(err); msg != "Internal error." {
					t.Errorf("request %d: got message %q for the sender, want %q", i, msg, "Internal error.")
				}
			}
			if log := logs.String(); !strings.Contains(log, "store bug: index out of range") || !strings.Contains(log, "goroutine ") {
				t.Errorf("log: got %q, want the panic and its stack", log)
			}

			// The writer goes on: a later request is stored.
			res, err := w.AppendEvents(ctx, []doorlog.Event{event("after", device)})
			if err != nil || len(res) != 1 || res[0].ID == "" {
				t.Fatalf("request after the panic: got %+v, %v, want it stored", res, err)
			}
			n, err := store.CountEvents(ctx, doorlog.EventFilter{Scope: doorlog.Scope{All: true}})
			if err != nil {
				t.Fatal(err)
			}
			want := int64(1) // "after"
			if tt.group {
				want++ // "first", committed before the group
			}
			if n != want {
				t.Errorf("stored events: got %d, want %d (none of the commit that panicked)", n, want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine's logger and
// the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
