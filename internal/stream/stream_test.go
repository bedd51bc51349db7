package stream_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/stream"
)

var all = doorlog.Scope{All: true}

// events returns n events with ids from, from+1, ... alternating between
// sites a and b and between the access and emergency categories.
func events(from, n int) []doorlog.Event {
	out := make([]doorlog.Event, n)
	for i := range out {
		seq := from + i
		out[i] = doorlog.Event{
			ID:       doorlog.FormatEventID(int64(seq)),
			DeviceID: fmt.Sprintf("00000000-0000-4000-8000-%012x", seq%2),
			SiteID:   []string{"a", "b"}[seq%2],
			Time:     time.UnixMilli(int64(seq)).UTC(),
			Key:      "door_was_opened",
			Category: []doorlog.Category{doorlog.CategoryAccess, doorlog.CategoryEmergency}[seq%2],
			Priority: doorlog.PriorityLow,
			Model:    []byte(`{}`),
		}
	}
	return out
}

// take waits up to a few seconds for sub to be ready and takes what waits.
func take(t testing.TB, sub *stream.Subscription) ([]doorlog.Event, error) {
	t.Helper()
	select {
	case <-sub.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription never became ready")
	}
	return sub.Take(nil)
}

func ids(events []doorlog.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func TestDeliveryFollowsFilters(t *testing.T) {
	b := stream.New(nil, stream.Options{})
	defer b.Close()
	everything := b.Subscribe(doorlog.EventFilter{Scope: all})
	siteA := b.Subscribe(doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"a"}}})
	emergency := b.Subscribe(doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryEmergency}})
	nothing := b.Subscribe(doorlog.EventFilter{})
	if got := b.Subscribers(); got != 4 {
		t.Fatalf("Subscribers: got %d, want 4", got)
	}
	b.Publish(events(1, 3))
	b.Publish(events(4, 3))

	tests := []struct {
		name string
		sub  *stream.Subscription
		want []int
	}{
		{"everything", everything, []int{1, 2, 3, 4, 5, 6}},
		{"site a", siteA, []int{2, 4, 6}},
		{"emergency", emergency, []int{1, 3, 5}},
	}
	for _, tt := range tests {
		got, err := take(t, tt.sub)
		if err != nil {
			t.Fatalf("%s: Take: %v", tt.name, err)
		}
		var want []string
		for _, n := range tt.want {
			want = append(want, doorlog.FormatEventID(int64(n)))
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", tt.name, ids(got), want)
		}
	}
	select {
	case <-nothing.Ready():
		t.Errorf("a subscription matching nothing was woken")
	default:
	}
	// Nothing new: Take returns nothing and no error.
	if got, err := everything.Take(nil); len(got) != 0 || err != nil {
		t.Errorf("Take with nothing waiting: got %d events, %v; want none, nil", len(got), err)
	}
}

func TestStuckSubscriberIsDropped(t *testing.T) {
	const buffer = 100
	b := stream.New(nil, stream.Options{Buffer: buffer})
	defer b.Close()
	stuck := b.Subscribe(doorlog.EventFilter{Scope: all})
	fast := b.Subscribe(doorlog.EventFilter{Scope: all})

	// The stuck subscriber never takes; Publish must go on at full speed
	// and the fast one must still get everything.
	var got []doorlog.Event
	var buf []doorlog.Event
	start := time.Now()
	for i := range 1000 {
		b.Publish(events(1+i*10, 10))
		var err error
		buf, err = fast.Take(buf)
		if err != nil {
			t.Fatalf("fast subscriber: Take: %v", err)
		}
		got = append(got, buf...)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("publishing 10000 events took %v", d)
	}
	if len(got) != 10000 {
		t.Errorf("fast subscriber: got %d events, want 10000", len(got))
	}
	if _, err := take(t, stuck); !errors.Is(err, stream.ErrOverflow) {
		t.Errorf("stuck subscriber: got %v, want ErrOverflow", err)
	}
	if err := stuck.Err(); !errors.Is(err, stream.ErrOverflow) {
		t.Errorf("stuck subscriber: Err: got %v, want ErrOverflow", err)
	}
	if n := b.Subscribers(); n != 1 {
		t.Errorf("Subscribers after the overflow: got %d, want 1", n)
	}
	if n := b.Overflows(); n != 1 {
		t.Errorf("Overflows: got %d, want 1", n)
	}
	stuck.Close() // after the overflow, harmless
	if err := stuck.Err(); !errors.Is(err, stream.ErrOverflow) {
		t.Errorf("Close after the overflow changed the reason to %v", err)
	}
}

func TestBufferBound(t *testing.T) {
	const buffer = 10
	tests := []struct {
		name     string
		batches  []int
		overflow bool
	}{
		{"fills the buffer", []int{4, 6}, false},
		{"one over the buffer", []int{4, 6, 1}, true},
		{"a big commit into an empty queue", []int{25}, false},
		{"anything after a big commit", []int{25, 1}, true},
		{"a big commit into a queue with events", []int{1, 25}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := stream.New(nil, stream.Options{Buffer: buffer})
			defer b.Close()
			sub := b.Subscribe(doorlog.EventFilter{Scope: all})
			n := 1
			for _, size := range tt.batches {
				b.Publish(events(n, size))
				n += size
			}
			got, err := sub.Take(nil)
			if tt.overflow {
				if !errors.Is(err, stream.ErrOverflow) || len(got) != 0 {
					t.Fatalf("got %d events, %v; want none, ErrOverflow", len(got), err)
				}
				return
			}
			if err != nil || len(got) != n-1 {
				t.Fatalf("got %d events, %v; want %d, nil", len(got), err, n-1)
			}
		})
	}
}

func TestCloseEndsEverySubscription(t *testing.T) {
	b := stream.New(nil, stream.Options{})
	s1 := b.Subscribe(doorlog.EventFilter{Scope: all})
	s2 := b.Subscribe(doorlog.EventFilter{Scope: all})
	s2.Close()
	if n := b.Subscribers(); n != 1 {
		t.Errorf("Subscribers after one Close: got %d, want 1", n)
	}
	if _, err := s2.Take(nil); !errors.Is(err, stream.ErrClosed) {
		t.Errorf("Take after Close: got %v, want ErrClosed", err)
	}
	b.Publish(events(1, 2))
	b.Close()
	b.Close()
	if _, err := take(t, s1); !errors.Is(err, stream.ErrClosed) {
		t.Errorf("Take after the broker closed: got %v, want ErrClosed", err)
	}
	if n := b.Subscribers(); n != 0 {
		t.Errorf("Subscribers after Close: got %d, want 0", n)
	}
	late := b.Subscribe(doorlog.EventFilter{Scope: all})
	b.Publish(events(3, 2))
	if _, err := take(t, late); !errors.Is(err, stream.ErrClosed) {
		t.Errorf("a subscription after Close: got %v, want ErrClosed", err)
	}
	if n := b.Subscribers(); n != 0 {
		t.Errorf("Subscribers after a late Subscribe: got %d, want 0", n)
	}
}

// TestConcurrent has one publisher, like the writer, and subscribers coming
// and going; each must see a gapless run of the events in commit order from
// its first one on. Run with -race.
func TestConcurrent(t *testing.T) {
	b := stream.New(nil, stream.Options{Buffer: 1 << 20, MaxBytes: 1 << 40, MaxPinned: 1 << 40})
	defer b.Close()
	const total = 20000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				sub := b.Subscribe(doorlog.EventFilter{Scope: all})
				var buf, seen []doorlog.Event
				for len(seen) < 50*(w+1) {
					select {
					case <-sub.Ready():
					case <-stop:
						sub.Close()
						return
					}
					var err error
					if buf, err = sub.Take(buf); err != nil {
						t.Errorf("Take: %v", err)
						sub.Close()
						return
					}
					seen = append(seen, buf...)
				}
				sub.Close()
				for i := 1; i < len(seen); i++ {
					a, _ := doorlog.ParseEventID(seen[i-1].ID)
					c, _ := doorlog.ParseEventID(seen[i].ID)
					if c != a+1 {
						t.Errorf("subscriber %d round %d: event %d follows %d", w, round, c, a)
						return
					}
				}
				_ = b.Subscribers()
			}
		}()
	}
	for i := 0; i < total; i += 5 {
		b.Publish(events(1+i, 5))
		if i%1000 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if n := b.Subscribers(); n != 0 {
		t.Errorf("Subscribers after every subscriber closed: got %d, want 0", n)
	}
}

// TestPublishAllocations holds the allocations of a Publish to a few per
// distinct filter, however many subscribers share the filters and however
// many events the commit holds: the events are shared, never copied per
// subscriber, and the queues and Take's buffers are reused.
func TestPublishAllocations(t *testing.T) {
	for _, n := range []int{10, 200} {
		t.Run(fmt.Sprintf("%d subscribers", n), func(t *testing.T) {
			b := stream.New(nil, stream.Options{})
			defer b.Close()
			var subs []*stream.Subscription
			for i := range n {
				subs = append(subs, b.Subscribe(doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{[]string{"a", "b"}[i%2]}}}))
			}
			batch := events(1, 20)
			bufs := make([][]doorlog.Event, len(subs))
			round := func() {
				b.Publish(batch)
				for i, s := range subs {
					var err error
					if bufs[i], err = s.Take(bufs[i]); err != nil || len(bufs[i]) != 10 {
						t.Fatalf("Take: got %d events, %v; want 10, nil", len(bufs[i]), err)
					}
				}
			}
			round()
			round()
			// One commit, and one list of matched indices per filter.
			if got := testing.AllocsPerRun(100, round); got > 3 {
				t.Errorf("got %v allocations per Publish and Take round, want at most 3", got)
			}
		})
	}
}

// bigEvents returns n events like events, each with a model of size bytes.
func bigEvents(from, n, size int) []doorlog.Event {
	out := events(from, n)
	for i := range out {
		out[i].Model = []byte(`{"pad":"` + strings.Repeat("x", size-10) + `"}`)
	}
	return out
}

// TestByteBound drops a subscriber whose waiting events outgrow MaxBytes,
// as it does one that outgrows Buffer.
func TestByteBound(t *testing.T) {
	tests := []struct {
		name     string
		batches  []int // events of 1 KiB models per commit
		overflow bool
	}{
		{"within the bytes", []int{3, 3}, false},
		{"over the bytes", []int{3, 3, 3}, true},
		{"a big commit into an empty queue", []int{20}, false},
		{"anything after a big commit", []int{20, 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Seven or eight events of 1 KiB models fit (each is reckoned
			// at about 2.6 KiB: the model, its rendering and fields).
			b := stream.New(nil, stream.Options{Buffer: 1000, MaxBytes: 20 << 10})
			defer b.Close()
			sub := b.Subscribe(doorlog.EventFilter{Scope: all})
			n := 1
			for _, size := range tt.batches {
				b.Publish(bigEvents(n, size, 1<<10))
				n += size
			}
			got, err := sub.Take(nil)
			if tt.overflow {
				if !errors.Is(err, stream.ErrOverflow) || len(got) != 0 {
					t.Fatalf("got %d events, %v; want none, ErrOverflow", len(got), err)
				}
				if p := b.PinnedBytes(); p != 0 {
					t.Errorf("PinnedBytes after the only subscriber overflowed: got %d, want 0", p)
				}
				return
			}
			if err != nil || len(got) != n-1 {
				t.Fatalf("got %d events, %v; want %d, nil", len(got), err, n-1)
			}
		})
	}
}

// TestPinnedBound has many subscribers that never read and one that keeps
// up: the commits held for them stay within MaxPinned (plus the commit
// being published), the ones furthest behind are dropped, and the one that
// keeps up gets every event.
func TestPinnedBound(t *testing.T) {
	const maxPinned = 64 << 10
	b := stream.New(nil, stream.Options{Buffer: 1 << 20, MaxBytes: 1 << 30, MaxPinned: maxPinned})
	defer b.Close()
	var stuck []*stream.Subscription
	for i := range 50 {
		// Two filters, so that the stuck ones do not all share one match.
		stuck = append(stuck, b.Subscribe(doorlog.EventFilter{Scope: all, Categories: [][]doorlog.Category{nil, {doorlog.CategoryAccess, doorlog.CategoryEmergency}}[i%2]}))
	}
	fast := b.Subscribe(doorlog.EventFilter{Scope: all})
	var got, buf []doorlog.Event
	var maxSeen int64
	const commits, size = 200, 10
	for i := range commits {
		batch := bigEvents(1+i*size, size, 1<<10)
		b.Publish(batch)
		maxSeen = max(maxSeen, b.PinnedBytes())
		var err error
		if buf, err = fast.Take(buf); err != nil {
			t.Fatalf("fast subscriber: Take: %v", err)
		}
		got = append(got, buf...)
	}
	// A commit of 10 events of about 2.6 KiB each may come on top.
	if limit := int64(maxPinned + size*3<<10); maxSeen > limit {
		t.Errorf("pinned bytes reached %d, want at most %d", maxSeen, limit)
	}
	if len(got) != commits*size {
		t.Errorf("the subscriber that keeps up got %d events, want %d", len(got), commits*size)
	}
	dropped := 0
	for _, s := range stuck {
		if errors.Is(s.Err(), stream.ErrOverflow) {
			dropped++
		}
	}
	if dropped != len(stuck) {
		t.Errorf("got %d stuck subscribers dropped, want all %d", dropped, len(stuck))
	}
	if n := b.Subscribers(); n != 1 {
		t.Errorf("Subscribers: got %d, want 1", n)
	}
}

// TestManyStuckSubscribersMemory is the memory a server holds for 500 live
// streams that never read while events arrive: bounded by MaxPinned, not
// by the number of subscribers times their buffers.
func TestManyStuckSubscribersMemory(t *testing.T) {
	const maxPinned = 4 << 20
	b := stream.New(nil, stream.Options{MaxPinned: maxPinned})
	defer b.Close()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	var subs []*stream.Subscription
	for i := range 500 {
		subs = append(subs, b.Subscribe(doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{[]string{"a", "b"}[i%2]}}}))
	}
	for i := range 400 {
		b.Publish(bigEvents(1+i*100, 100, 1<<10)) // 40,000 events of 1 KiB
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	// The pinned commits, one more commit, and the subscribers themselves.
	if grew, limit := int64(ms.HeapAlloc)-int64(before), int64(2*maxPinned+2<<20); grew > limit {
		t.Errorf("the heap grew by %d bytes, want at most %d", grew, limit)
	}
	runtime.KeepAlive(subs)
}

func BenchmarkPublish(b *testing.B) {
	br := stream.New(nil, stream.Options{})
	defer br.Close()
	var subs []*stream.Subscription
	for i := range 100 {
		subs = append(subs, br.Subscribe(doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{fmt.Sprint(i)}}}))
	}
	batch := events(1, 100)
	for b.Loop() {
		br.Publish(batch)
	}
	_ = subs
}

// TestRenderedOnce renders each event once per key for all the
// subscribers that take it, and each gets the events its filter selects.
func TestRenderedOnce(t *testing.T) {
	b := stream.New(nil, stream.Options{})
	defer b.Close()
	var subs []*stream.Subscription
	for i := range 20 {
		f := doorlog.EventFilter{Scope: all}
		if i%2 == 1 {
			f.Categories = []doorlog.Category{doorlog.CategoryEmergency}
		}
		subs = append(subs, b.Subscribe(f))
	}
	b.Publish(events(1, 10))
	var renders sync.Map // key and event id → count
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() {
			items, err := s.TakeItems(nil)
			if err != nil {
				t.Errorf("TakeItems: %v", err)
				return
			}
			want := 10
			if i%2 == 1 {
				want = 5
			}
			if len(items) != want {
				t.Errorf("subscriber %d: got %d items, want %d", i, len(items), want)
			}
			for _, it := range items {
				for _, key := range []string{"en", "uk"} {
					got := it.Rendered(key, func(e *doorlog.Event) []byte {
						n, _ := renders.LoadOrStore(key+" "+e.ID, new(atomic.Int32))
						n.(*atomic.Int32).Add(1)
						return []byte(key + ":" + e.ID)
					})
					if string(got) != key+":"+it.Event().ID {
						t.Errorf("Rendered(%q) of %s: got %q", key, it.Event().ID, got)
					}
				}
			}
		})
	}
	wg.Wait()
	seen := 0
	renders.Range(func(k, v any) bool {
		seen++
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Errorf("%s rendered %d times, want once", k, n)
		}
		return true
	})
	if seen != 20 {
		t.Errorf("got %d renderings, want 20 (10 events in 2 keys)", seen)
	}
}

// TestTakenItemsHoldTheirCommitUntilDone counts the commit of items taken
// but not yet written as pinned, and lets it go once the owner is done:
// a stream watching one device must not keep a large commit of other
// devices' events alive after it sent its one event.
func TestTakenItemsHoldTheirCommitUntilDone(t *testing.T) {
	b := stream.New(nil, stream.Options{})
	defer b.Close()
	watched := events(1, 1)[0]
	sub := b.Subscribe(doorlog.EventFilter{Scope: all, DeviceIDs: []string{watched.DeviceID}})
	others := bigEvents(2, 200, 16<<10)
	for i := range others {
		others[i].DeviceID = "00000000-0000-4000-8000-0000000000ff"
	}
	commit := append([]doorlog.Event{watched}, others...)
	gone := weak.Make(&commit[0])
	b.Publish(commit)
	commit, others = nil, nil

	items, err := sub.TakeItems(nil)
	if err != nil || len(items) != 1 {
		t.Fatalf("TakeItems: got %d items, %v; want the watched device's one", len(items), err)
	}
	if p := b.PinnedBytes(); p < 200*16<<10 {
		t.Errorf("PinnedBytes while the taken item is being written: got %d, want the whole commit (over %d)", p, 200*16<<10)
	}
	clear(items)
	sub.Done()
	if p := b.PinnedBytes(); p != 0 {
		t.Errorf("PinnedBytes after Done: got %d, want 0", p)
	}
	runtime.GC()
	if gone.Value() != nil {
		t.Error("the commit is still reachable after the only stream that took from it is done")
	}
	runtime.KeepAlive(sub)
}

// TestReadingFilteredStreamsMemory has 20 streams that keep up, each
// watching one device, while commits of large events of other devices go
// by: the heap stays small, since no stream holds a commit once it has
// sent its events.
func TestReadingFilteredStreamsMemory(t *testing.T) {
	b := stream.New(nil, stream.Options{})
	defer b.Close()
	var subs []*stream.Subscription
	for i := range 20 {
		subs = append(subs, b.Subscribe(doorlog.EventFilter{Scope: all, DeviceIDs: []string{fmt.Sprintf("00000000-0000-4000-8000-%012x", 100+i)}}))
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	bufs := make([][]stream.Item, len(subs))
	for c := range 40 {
		commit := bigEvents(1+c*301, 301, 16<<10) // about 5 MiB
		commit[0].DeviceID = fmt.Sprintf("00000000-0000-4000-8000-%012x", 100+c%20)
		for i := 1; i < len(commit); i++ {
			commit[i].DeviceID = "00000000-0000-4000-8000-0000000000ff"
		}
		b.Publish(commit)
		for i, s := range subs {
			var err error
			if bufs[i], err = s.TakeItems(bufs[i]); err != nil {
				t.Fatalf("TakeItems: %v", err)
			}
			clear(bufs[i])
			bufs[i] = bufs[i][:0]
			s.Done()
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grew := int64(ms.HeapAlloc) - int64(before); grew > 8<<20 {
		t.Errorf("the heap grew by %d bytes over 40 commits of 5 MiB that every stream has sent, want under 8 MiB", grew)
	}
	runtime.KeepAlive(subs)
}
