package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
)

// inCatalog stands for the catalog in these tests: the key of event, and
// keys starting "cat_".
func inCatalog(key string) bool { return key == "incoming_call" || strings.HasPrefix(key, "cat_") }

// keyItem is an item of device with key and a source id of its own.
func keyItem(key, src string) ingest.Item {
	return ingest.Item{DeviceID: device, Time: []byte("1714557600000"), Key: key, SourceID: src}
}

// unknownStored returns the stored keys outside the catalog.
func unknownStored(t testing.TB, store ingest.KeyLister) []string {
	t.Helper()
	keys, err := store.EventKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if !inCatalog(k) {
			out = append(out, k)
		}
	}
	return out
}

// TestKeyLimitConcurrent sends many requests at once, each with new keys
// outside the catalog: together they store exactly the limit's number of
// such keys, never more, and every item past it is rejected by index.
func TestKeyLimitConcurrent(t *testing.T) {
	const limit, requests, perRequest = 50, 20, 10
	store := openStore(t)
	ctx := context.Background()
	// A catalog key and an unknown key stored before the service starts;
	// the unknown one takes a place.
	seed := []doorlog.Event{event("old-1", device), event("old-2", device)}
	seed[1].Key = "old_unknown"
	if _, err := store.AppendEvents(ctx, seed); err != nil {
		t.Fatal(err)
	}
	w := ingest.NewWriter(store, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterOptions{})
	defer w.Close()
	limits := ingest.DefaultLimits
	limits.MaxUnknownKeys = limit
	svc := ingest.NewService(store, w, classify, limits)
	if err := svc.LimitKeys(ctx, store, inCatalog); err != nil {
		t.Fatal(err)
	}
	admin := &doorlog.Token{Role: doorlog.RoleAdmin}

	results := make([]ingest.Result, requests)
	var wg sync.WaitGroup
	for r := range requests {
		wg.Go(func() {
			var items []ingest.Item
			for i := range perRequest {
				items = append(items, keyItem(fmt.Sprintf("new_%d_%d", r, i), fmt.Sprintf("r%d-%d", r, i)))
				// The same new key twice in a request takes one place.
				if i == 0 {
					items = append(items, keyItem(fmt.Sprintf("new_%d_%d", r, i), fmt.Sprintf("r%d-again", r)))
				}
			}
			items = append(items, keyItem("cat_door_opened", fmt.Sprintf("r%d-cat", r)), keyItem("old_unknown", fmt.Sprintf("r%d-old", r)))
			var err error
			if results[r], err = svc.IngestItems(ctx, admin, items); err != nil {
				t.Errorf("request %d: %v", r, err)
			}
		})
	}
	wg.Wait()

	stored := map[string]bool{}
	for _, k := range unknownStored(t, store) {
		stored[k] = true
	}
	if len(stored) != limit {
		t.Errorf("stored keys outside the catalog: got %d, want exactly the limit %d", len(stored), limit)
	}
	for r, res := range results {
		if res.Accepted+res.Duplicates+len(res.Rejected) != perRequest+3 {
			t.Errorf("request %d: got %+v, want each of its %d items accounted for", r, res, perRequest+3)
		}
		for _, rej := range res.Rejected {
			// Items 0 and 1 are new_r_0, items 2 to 10 the other new
			// keys; 11 and 12 a catalog key and the stored unknown one.
			key := fmt.Sprintf("new_%d_%d", r, max(rej.Index-1, 0))
			if rej.Index > perRequest || stored[key] {
				t.Errorf("request %d: got item %d (%s) rejected, want only new keys that were not stored", r, rej.Index, key)
			}
			if !strings.Contains(rej.Error, "--max-unknown-keys") {
				t.Errorf("request %d item %d: got %q, want the limit named", r, rej.Index, rej.Error)
			}
		}
	}
}

// failingAppender fails every append while fail is set, as a full disk
// does, and appends to the store otherwise.
type failingAppender struct {
	ingest.Appender
	mu   sync.Mutex
	fail bool
}

func (f *failingAppender) AppendEvents(ctx context.Context, events []doorlog.Event) ([]doorlog.AppendResult, error) {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return nil, doorlog.Errorf(doorlog.EUNAVAILABLE, "the disk is full")
	}
	return f.Appender.AppendEvents(ctx, events)
}

// TestKeyLimitFailedAppend checks that the keys of a request that could not
// be stored do not count against the limit: a later request may store as
// many new keys as if it had never come.
func TestKeyLimitFailedAppend(t *testing.T) {
	store := openStore(t)
	w := ingest.NewWriter(store, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterOptions{})
	defer w.Close()
	app := &failingAppender{Appender: w, fail: true}
	limits := ingest.DefaultLimits
	limits.MaxUnknownKeys = 3
	svc := ingest.NewService(store, app, classify, limits)
	ctx := context.Background()
	if err := svc.LimitKeys(ctx, store, inCatalog); err != nil {
		t.Fatal(err)
	}
	admin := &doorlog.Token{Role: doorlog.RoleAdmin}
	items := func(prefix string) []ingest.Item {
		return []ingest.Item{keyItem(prefix+"_a", prefix+"1"), keyItem(prefix+"_b", prefix+"2"), keyItem(prefix+"_c", prefix+"3"), keyItem(prefix+"_d", prefix+"4")}
	}
	if _, err := svc.IngestItems(ctx, admin, items("lost")); doorlog.ErrorCode(err) != doorlog.EUNAVAILABLE {
		t.Fatalf("request on a full disk: got %v, want EUNAVAILABLE", err)
	}
	app.mu.Lock()
	app.fail = false
	app.mu.Unlock()
	res, err := svc.IngestItems(ctx, admin, items("kept"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 3 || len(res.Rejected) != 1 || res.Rejected[0].Index != 3 {
		t.Errorf("request after the failure: got %+v, want 3 accepted and item 3 rejected", res)
	}
	if got := unknownStored(t, store); strings.Join(got, ",") != "kept_a,kept_b,kept_c" {
		t.Errorf("stored keys outside the catalog: got %q, want kept_a, kept_b, kept_c", got)
	}
}
