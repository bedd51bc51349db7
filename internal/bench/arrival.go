package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// The arrival orders of Config.Arrival: the order in which the load sends
// its events, which decides how the store's time index is written and so
// the ingest rate and the bytes on disk per event.
const (
	// ArrivalTime sends every event in time order, like one live feed.
	// The events are made as they are sent, like the other orders', so a
	// load of any size fits in the bench's memory.
	ArrivalTime = "time"
	// ArrivalLate sends a live feed in time order while a tenth of the
	// devices deliver their events a day late, in bulk.
	ArrivalLate = "late"
	// ArrivalRandom sends events whose times are uniformly random over the
	// span, as a worst case of many feeds out of step.
	ArrivalRandom = "random"
)

// ValidArrival reports whether a is an arrival order the bench knows (the
// empty string is ArrivalTime), so that a flag is checked before a server
// is started.
func ValidArrival(a string) bool {
	switch a {
	case "", ArrivalTime, ArrivalLate, ArrivalRandom:
		return true
	}
	return false
}

// lateEvery makes every lateEvery-th device (10 %) a late one, and gives
// the late devices that share of the events.
const lateEvery = 10

// lateLag is how far behind the live feed the late devices deliver.
const lateLag = 24 * time.Hour

// batchSource makes the events of the load batch by batch, as they are
// sent, so that the load holds no more than the batches in flight whatever
// the number of events.
type batchSource interface {
	// fill puts up to len(items) events into items, in the order they are
	// to be sent, and returns how many; 0 means the source is done. A
	// batch never mixes the live feed with a late bulk delivery.
	fill(items []ingest.Item) int
}

// randomSource makes events whose times are drawn uniformly at random over
// [start, start+span] with its own seeded RNG: each load client has one, so
// that no list of all events is ever built or shuffled.
type randomSource struct {
	gen    *sim.Generator
	rng    *rand.Rand
	start  time.Time
	spanMs int64
	left   int
}

// newRandomSource returns the source of client number client of a random
// arrival load: n events, seeded from seed and the client so that clients
// differ and runs repeat. The generator's seed also differs per client, so
// the clients' source ids never collide.
func newRandomSource(seed int64, client int, devices []sim.Device, start time.Time, span time.Duration, n int) *randomSource {
	s := uint64(seed)*1_000_003 + uint64(client) + 1
	return &randomSource{
		gen:    sim.NewGenerator(int64(s), devices),
		rng:    rand.New(rand.NewPCG(s, 0x72616e646f6d)),
		start:  start,
		spanMs: span.Milliseconds(),
		left:   n,
	}
}

func (s *randomSource) fill(items []ingest.Item) int {
	n := min(len(items), s.left)
	for i := range n {
		// Next expects non-decreasing times to emit follow-ups when they
		// fall due; here a follow-up is simply emitted at the next random
		// time past its due time, which is as good as any for a shuffle.
		items[i] = s.gen.Next(s.start.Add(time.Duration(s.rng.Int64N(s.spanMs+1)) * time.Millisecond))
	}
	s.left -= n
	return n
}

// lateSource sends a live feed in time order of nine devices in ten, while
// the tenth (every lateEvery-th device) delivers a day late in bulk: when
// the live feed passes the start of a day of the span, every event of the
// late devices up to a day before that point is sent, in whole batches of
// late events only. The rest of the late events, those of the span's last
// day, are sent after the live feed ends.
//
// The memory stays bounded without a buffer of held-back events: the late
// devices have a generator of their own that makes their events, in time
// order, only when they are due to be sent; it is a second pass over the
// span that lags the live feed by a day.
type lateSource struct {
	mu sync.Mutex
	// live and late make the two feeds' events; each spreads its share of
	// the events evenly over the span.
	live, late feed
	// nextDay is the next day boundary the live feed is to pass.
	nextDay time.Time
	// bulkUntil is the time up to which (exclusive) late events are being
	// delivered; zero when no bulk delivery is under way.
	bulkUntil time.Time
}

// feed is a generator over a set of devices with its events evenly spaced
// over a span.
type feed struct {
	gen   *sim.Generator
	start time.Time
	step  time.Duration
	done  int
	total int
}

func newFeed(seed int64, devices []sim.Device, start time.Time, span time.Duration, n int) feed {
	f := feed{start: start, total: n, step: span / time.Duration(max(n-1, 1))}
	if len(devices) > 0 && n > 0 {
		f.gen = sim.NewGenerator(seed, devices)
	}
	return f
}

// at is the time of the feed's next event; ok is false when it is done.
func (f *feed) at() (time.Time, bool) {
	if f.done >= f.total {
		return time.Time{}, false
	}
	return f.start.Add(time.Duration(f.done) * f.step), true
}

func (f *feed) next() ingest.Item {
	t, _ := f.at()
	f.done++
	return f.gen.Next(t)
}

// timeSource sends one feed in time order: the events of the time
// arrival order, or those of the dense window. The load's clients share
// it, each taking the next events under its lock, so the order sent is the
// order made, give or take the batches in flight, as with one real feed;
// only the making of the events is serialised, their encoding is not.
type timeSource struct {
	mu sync.Mutex
	f  feed
	// tally, when set, counts the events made, for the checks of the
	// dense queries.
	tally *denseTally
	// ids, when set, replaces the generator's source ids by itself and the
	// event's number from 1.
	ids string
}

func (s *timeSource) fill(items []ingest.Item) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for ; n < len(items); n++ {
		at, ok := s.f.at()
		if !ok {
			break
		}
		items[n] = s.f.next()
		if s.ids != "" {
			items[n].SourceID = s.ids + strconv.Itoa(s.f.done)
		}
		if s.tally != nil {
			s.tally.add(at, items[n].Key)
		}
	}
	return n
}

// splitLate returns the devices that deliver on time and the late ones:
// every lateEvery-th device, at least one when there are two or more.
func splitLate(devices []sim.Device) (live, late []sim.Device) {
	for i, d := range devices {
		if i%lateEvery == lateEvery-1 || (len(devices) < lateEvery && len(devices) > 1 && i == len(devices)-1) {
			late = append(late, d)
		} else {
			live = append(live, d)
		}
	}
	return live, late
}

// newLateSource returns the source of a late arrival load of n events over
// [start, start+span]: a tenth of them from the late devices.
func newLateSource(seed int64, devices []sim.Device, start time.Time, span time.Duration, n int) *lateSource {
	liveDevs, lateDevs := splitLate(devices)
	nLate := n / lateEvery
	if len(lateDevs) == 0 {
		nLate = 0
	}
	return &lateSource{
		live:    newFeed(seed, liveDevs, start, span, n-nLate),
		late:    newFeed(seed+1<<40, lateDevs, start, span, nLate),
		nextDay: start.Add(lateLag),
	}
}

// fill is safe for concurrent use: the load's clients share one source, so
// the order sent is the order made, give or take the batches in flight.
func (s *lateSource) fill(items []ingest.Item) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(items) {
		if !s.bulkUntil.IsZero() {
			// A bulk delivery under way: late events before bulkUntil.
			if t, ok := s.late.at(); ok && t.Before(s.bulkUntil) {
				items[n] = s.late.next()
				n++
				continue
			}
			s.bulkUntil = time.Time{}
			if n > 0 {
				return n
			}
		}
		t, ok := s.live.at()
		if !ok {
			// The live feed is over: the late devices send what is left,
			// in batches of their own.
			if _, ok := s.late.at(); !ok {
				return n
			}
			s.bulkUntil = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) // past every time
			if n > 0 {
				return n
			}
			continue
		}
		if !t.Before(s.nextDay) {
			// The live feed passes a day: the late devices deliver
			// everything up to a day before, in batches of their own.
			s.bulkUntil = s.nextDay.Add(-lateLag)
			s.nextDay = s.nextDay.Add(lateLag)
			if lt, ok := s.late.at(); ok && lt.Before(s.bulkUntil) && n > 0 {
				return n
			}
			continue
		}
		items[n] = s.live.next()
		n++
	}
	return n
}

// sourceFor returns the source of each load client for cfg.Arrival: a
// random source of its own per client, or the one time or late source
// they all share (it locks itself).
func sourceFor(cfg Config, devices []sim.Device) (func(client int) batchSource, error) {
	start := cfg.End.Add(-cfg.Span)
	switch cfg.Arrival {
	case ArrivalTime:
		// The events and times the time order always had: one generator,
		// spaced evenly from start to cfg.End.
		src := &timeSource{f: newFeed(cfg.Seed, devices, start, cfg.Span, cfg.Events)}
		return func(int) batchSource { return src }, nil
	case ArrivalRandom:
		per, extra := cfg.Events/cfg.Clients, cfg.Events%cfg.Clients
		return func(c int) batchSource {
			n := per
			if c < extra {
				n++
			}
			return newRandomSource(cfg.Seed, c, devices, start, cfg.Span, n)
		}, nil
	case ArrivalLate:
		src := newLateSource(cfg.Seed, devices, start, cfg.Span, cfg.Events)
		return func(int) batchSource { return src }, nil
	default:
		return nil, fmt.Errorf("bench: arrival %q: want time, late or random", cfg.Arrival)
	}
}
