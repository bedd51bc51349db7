package bench

import (
	"encoding/json"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// itemTime reads the time the generator wrote into an item.
func itemTime(t *testing.T, it ingest.Item) time.Time {
	t.Helper()
	var s string
	if err := json.Unmarshal(it.Time, &s); err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// drain fills batches of size from src until it is done, and returns the
// items in the order they would be sent with the batches' lengths.
func drain(src batchSource, size int) (sent []ingest.Item, batches [][]ingest.Item) {
	items := make([]ingest.Item, size)
	for {
		n := src.fill(items)
		if n == 0 {
			return sent, batches
		}
		batches = append(batches, slices.Clone(items[:n]))
		sent = append(sent, items[:n]...)
	}
}

func TestRandomSourceIsShuffledOverTheSpan(t *testing.T) {
	_, devices := sim.Population(4, 5)
	end := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	span := 30 * 24 * time.Hour
	start := end.Add(-span)
	const n = 3000
	sent, _ := drain(newRandomSource(1, 0, devices, start, span, n), 250)
	if len(sent) != n {
		t.Fatalf("sent %d events, want %d", len(sent), n)
	}
	times := make([]time.Time, len(sent))
	for i, it := range sent {
		times[i] = itemTime(t, it)
		if times[i].Before(start) || times[i].After(end) {
			t.Fatalf("event %d at %s, outside [%s, %s]", i, times[i], start, end)
		}
	}
	if slices.IsSortedFunc(times, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Error("the times are in order as sent; want them shuffled")
	}
	descents := 0
	for i := 1; i < len(times); i++ {
		if times[i].Before(times[i-1]) {
			descents++
		}
	}
	// A uniform shuffle goes back in time about every other event.
	if descents < n/3 {
		t.Errorf("only %d of %d events are earlier than the one before", descents, n)
	}
	lo := slices.MinFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	hi := slices.MaxFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	if lo.After(start.Add(span/20)) || hi.Before(end.Add(-span/20)) {
		t.Errorf("times span %s to %s; want the whole window %s to %s", lo, hi, start, end)
	}
	// Two clients of one run make different events; one client again makes
	// the same.
	other, _ := drain(newRandomSource(1, 1, devices, start, span, 10), 10)
	again, _ := drain(newRandomSource(1, 0, devices, start, span, 10), 10)
	if string(other[0].Time) == string(sent[0].Time) || other[0].SourceID == sent[0].SourceID {
		t.Errorf("clients 0 and 1 start alike: %+v and %+v", sent[0], other[0])
	}
	if string(again[0].Time) != string(sent[0].Time) || again[0].SourceID != sent[0].SourceID {
		t.Errorf("the same client and seed differ: %+v and %+v", sent[0], again[0])
	}
}

func TestLateSourceDeliversADayLate(t *testing.T) {
	_, devices := sim.Population(4, 10)
	end := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	span := 10 * 24 * time.Hour
	start := end.Add(-span)
	const n = 20_000
	sent, batches := drain(newLateSource(1, devices, start, span, n), 300)
	if len(sent) != n {
		t.Fatalf("sent %d events, want %d", len(sent), n)
	}
	_, lateDevs := splitLate(devices)
	if len(lateDevs) != len(devices)/10 {
		t.Fatalf("%d late devices of %d, want 10%%", len(lateDevs), len(devices))
	}
	isLate := map[string]bool{}
	for _, d := range lateDevs {
		isLate[d.ID] = true
	}
	// No batch mixes the live feed with a late delivery.
	for i, b := range batches {
		for _, it := range b[1:] {
			if isLate[it.DeviceID] != isLate[b[0].DeviceID] {
				t.Fatalf("batch %d mixes live and late events", i)
			}
		}
	}
	var (
		lateCount, afterLive int
		newestLive           time.Time
		liveDone             bool
		lastLate             time.Time
		sources              = map[string]bool{}
	)
	liveTotal := n - n/10
	liveSeen := 0
	for i, it := range sent {
		if sources[it.SourceID] {
			t.Fatalf("event %d repeats source id %s", i, it.SourceID)
		}
		sources[it.SourceID] = true
		at := itemTime(t, it)
		if !isLate[it.DeviceID] {
			if at.Before(newestLive) {
				t.Fatalf("live event %d at %s is before the live event %s sent earlier", i, at, newestLive)
			}
			newestLive = at
			liveSeen++
			liveDone = liveSeen == liveTotal
			continue
		}
		lateCount++
		if at.Before(lastLate) {
			t.Fatalf("late event %d at %s is before the late event %s sent earlier", i, at, lastLate)
		}
		lastLate = at
		// Every late event comes after the live events of its time: a day
		// after them, except the last day's, sent once the live feed ends.
		switch {
		case newestLive.Before(at):
			if !liveDone {
				t.Fatalf("late event %d at %s sent before the live feed reached it (%s)", i, at, newestLive)
			}
		case !newestLive.Before(at.Add(lateLag)):
			afterLive++
		case !liveDone:
			t.Fatalf("late event %d at %s sent when the live feed was at %s, less than a day later", i, at, newestLive)
		}
	}
	if lateCount != n/10 {
		t.Errorf("%d late events, want %d", lateCount, n/10)
	}
	// Nine days of the ten are delivered a day late while the feed runs.
	if afterLive < lateCount*8/10 {
		t.Errorf("only %d of %d late events were sent a day behind the live feed", afterLive, lateCount)
	}
}

func TestTimeSourceSharedByClients(t *testing.T) {
	_, devices := sim.Population(4, 5)
	end := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	span := 10 * 24 * time.Hour
	start := end.Add(-span)
	const n, clients, size = 20_000, 4, 300
	cfg := Config{Events: n, Clients: clients, Span: span, End: end, Seed: 7, Arrival: ArrivalTime}
	sources, err := sourceFor(cfg, devices)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		batches [][]ingest.Item
		wg      sync.WaitGroup
	)
	for c := range clients {
		src := sources(c)
		wg.Go(func() {
			items := make([]ingest.Item, size)
			for {
				k := src.fill(items)
				if k == 0 {
					return
				}
				mu.Lock()
				batches = append(batches, slices.Clone(items[:k]))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Each batch is a run of consecutive events: in time order, and not
	// overlapping any other, so the batches in the order of their first
	// event are the whole feed in time order.
	slices.SortFunc(batches, func(a, b []ingest.Item) int { return itemTime(t, a[0]).Compare(itemTime(t, b[0])) })
	var sent []ingest.Item
	for _, b := range batches {
		sent = append(sent, b...)
	}
	if len(sent) != n {
		t.Fatalf("sent %d events, want %d", len(sent), n)
	}
	// The events are the ones the time order always sent: one generator
	// of the seed, evenly from start to end.
	want, _ := drain(&timeSource{f: newFeed(7, devices, start, span, n)}, n)
	for i := range sent {
		if sent[i].SourceID != want[i].SourceID || string(sent[i].Time) != string(want[i].Time) {
			t.Fatalf("event %d: got %s at %s, want %s at %s", i, sent[i].SourceID, sent[i].Time, want[i].SourceID, want[i].Time)
		}
	}
	// The step is rounded down to the nanosecond, and a time to the
	// millisecond as sent: the last event may be a millisecond short.
	if first, last := itemTime(t, sent[0]), itemTime(t, sent[n-1]); !first.Equal(start) || last.Before(end.Add(-time.Millisecond)) || last.After(end) {
		t.Errorf("events from %s to %s, want %s to %s", first, last, start, end)
	}
}

func TestDenseSourceCountsWhatItSends(t *testing.T) {
	_, devices := sim.Population(2, 5)
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	from := end.Add(-denseWindow)
	half := end.Add(-30 * time.Second).UnixMilli()
	tl := &denseTally{cat: cat, specs: []countSpec{
		{from: half, to: math.MaxInt64},
		{from: from.UnixMilli(), to: end.UnixMilli(), category: doorlog.CategoryAccess},
		{from: from.UnixMilli(), to: end.UnixMilli(), priority: doorlog.PriorityHigh},
	}}
	tl.n = make([]int64, len(tl.specs))
	const n = 7000 // 60 s / 7000 is not a whole millisecond: times are truncated as sent
	src := &timeSource{f: feed{gen: sim.NewGenerator(1, devices), start: from, step: denseWindow / n, total: n}, tally: tl, ids: "d-"}
	sent, _ := drain(src, 500)
	if len(sent) != n {
		t.Fatalf("sent %d events, want %d", len(sent), n)
	}
	want := make([]int64, len(tl.specs))
	ids := map[string]bool{}
	for _, it := range sent {
		at := itemTime(t, it)
		if at.Before(from) || !at.Before(end) {
			t.Fatalf("event at %s, outside [%s, %s)", at, from, end)
		}
		ids[it.SourceID] = true
		e := cat.Entry(it.Key)
		if at.UnixMilli() >= half {
			want[0]++
		}
		if e.Category == doorlog.CategoryAccess {
			want[1]++
		}
		if e.Priority == doorlog.PriorityHigh {
			want[2]++
		}
	}
	if len(ids) != n || !ids["d-1"] || !ids["d-7000"] {
		t.Errorf("%d distinct source ids, want %d from d-1 to d-%d", len(ids), n, n)
	}
	for i := range want {
		if tl.n[i] != want[i] {
			t.Errorf("spec %d: tallied %d, want %d", i, tl.n[i], want[i])
		}
	}
}

func TestInterleave(t *testing.T) {
	m := &mixedRun{}
	ps := m.patterns()
	order := interleave(ps)
	total := 0
	for _, p := range ps {
		total += p.weight
	}
	if len(order) != total {
		t.Fatalf("cycle of %d, want %d", len(order), total)
	}
	for _, p := range ps {
		got := 0
		for _, o := range order {
			if o == p {
				got++
			}
		}
		if got != p.weight {
			t.Errorf("%s: %d in the cycle, want %d", p.name, got, p.weight)
		}
	}
}
