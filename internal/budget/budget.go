// Package budget bounds the memory that requests may hold at once.
//
// A server that answers whatever arrives holds, at any moment, the sum of
// what every request in progress holds: a body being read, a page being
// rendered, a response waiting for a client that stopped reading. Bounding
// each request is not enough, since a client can open many. A Pool is a
// share of the server's memory budget (docs/operations.md) for one kind of
// request: a request reserves the bytes it may hold before it allocates
// them, gives back what it did not need, and releases the rest when it
// ends. When the pool is spent, a request waits a little for others to end
// and is then refused with ErrFull, which its API answers with a 429 or a
// 503 and a Retry-After, instead of the server growing until the kernel
// kills it.
package budget

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// ErrFull is returned by Reserve and Grow when the pool stayed spent for
// the pool's whole wait.
var ErrFull = errors.New("budget: pool is full")

// Pool is a number of bytes shared by concurrent requests. A nil *Pool is
// unlimited: every reservation succeeds at once, which is what in-process
// callers and tests that do not configure limits get.
//
// Large reservations (over a sixteenth of the pool) may hold at most three
// quarters of it together, so that whatever the large ones do (a client
// sending the largest bodies from many connections, or asking for the
// largest pages and not reading them), a quarter of the pool is left for
// the small requests of everyone else: a panel's batch of events, a
// poller's page.
type Pool struct {
	name    string
	size    int64
	wait    time.Duration
	sem     *semaphore.Weighted
	largeAt int64
	large   *semaphore.Weighted

	used    atomic.Int64
	refused atomic.Uint64
}

// New returns a pool of size bytes (at least 1) whose reservations wait at
// most wait for room before failing with ErrFull.
func New(name string, size int64, wait time.Duration) *Pool {
	size = max(size, 16)
	return &Pool{name: name, size: size, wait: wait, sem: semaphore.NewWeighted(size),
		largeAt: size / 16, large: semaphore.NewWeighted(size * 3 / 4)}
}

// Name is the pool's name, for metrics and logs.
func (p *Pool) Name() string {
	if p == nil {
		return ""
	}
	return p.name
}

// Size is the pool's size in bytes; 0 for an unlimited pool.
func (p *Pool) Size() int64 {
	if p == nil {
		return 0
	}
	return p.size
}

// Used is the number of bytes reserved now.
func (p *Pool) Used() int64 {
	if p == nil {
		return 0
	}
	return p.used.Load()
}

// Refused is the number of reservations that failed with ErrFull since the
// pool was made.
func (p *Pool) Refused() uint64 {
	if p == nil {
		return 0
	}
	return p.refused.Load()
}

// Large reports whether a reservation of n bytes is a large one (see Pool),
// which waits behind the other large ones for the pool's large share.
func (p *Pool) Large(n int64) bool {
	return p != nil && n > p.largeAt
}

// Reserve reserves n bytes, waiting up to the pool's wait (or until ctx
// ends) for them. A request for more than the large share (three quarters
// of the pool) reserves the large share, so that one large request can
// still run, and small ones beside it. The reservation must be released.
func (p *Pool) Reserve(ctx context.Context, n int64) (*Reservation, error) {
	r := &Reservation{pool: p}
	if err := r.Grow(ctx, n); err != nil {
		return nil, err
	}
	return r, nil
}

// take acquires n bytes of sem, waiting up to the pool's wait.
func (p *Pool) take(ctx context.Context, sem *semaphore.Weighted, n int64) error {
	if n <= 0 || sem.TryAcquire(n) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	if err := sem.Acquire(ctx, n); err != nil {
		p.refused.Add(1)
		return ErrFull
	}
	return nil
}

// largePart is how much of a reservation of n bytes the large sub-pool
// holds: all of it once it is large, none before.
func (p *Pool) largePart(n int64) int64 {
	if n > p.largeAt {
		return n
	}
	return 0
}

// Reservation is the bytes one request holds of a pool. Its methods may be
// called from several goroutines.
type Reservation struct {
	pool *Pool
	mu   sync.Mutex
	n    int64
}

// Bytes is the number of bytes reserved.
func (r *Reservation) Bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Grow reserves n more bytes, waiting as Reserve does. The reservation
// never holds more than the large share: past that, Grow succeeds without
// reserving more, so a request already holding it is not refused for
// growing further (its own limits bound it).
func (r *Reservation) Grow(ctx context.Context, n int64) error {
	if r == nil || r.pool == nil || n <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pool
	to := min(r.n+n, p.size*3/4)
	// The large sub-pool first: a large request waits there, behind the
	// other large ones, not in front of the small ones in the pool.
	dl := p.largePart(to) - p.largePart(r.n)
	if err := p.take(ctx, p.large, dl); err != nil {
		return err
	}
	if err := p.take(ctx, p.sem, to-r.n); err != nil {
		if dl > 0 {
			p.large.Release(dl)
		}
		return err
	}
	p.used.Add(to - r.n)
	r.n = to
	return nil
}

// Shrink gives back the bytes above n, once a request knows it needs less
// than it reserved.
func (r *Reservation) Shrink(n int64) {
	if r == nil || r.pool == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < 0 {
		n = 0
	}
	if r.n > n {
		p := r.pool
		if dl := p.largePart(r.n) - p.largePart(n); dl > 0 {
			p.large.Release(dl)
		}
		p.used.Add(n - r.n)
		p.sem.Release(r.n - n)
		r.n = n
	}
}

// Release gives every byte back. It may be called more than once.
func (r *Reservation) Release() { r.Shrink(0) }

// Pools are the shares of the server's memory budget that requests draw
// from (docs/operations.md says how the budget is split). A nil pool is
// unlimited.
type Pools struct {
	// Ingest holds the request bodies being decoded and stored.
	Ingest *Pool
	// Reads holds the pages of events being read, rendered and written:
	// lists, exports, and the compatibility APIs' pages.
	Reads *Pool
}

// EventOverhead is the memory one event of a page holds besides its model:
// its fields as read, and its rendered id, times, name and text.
const EventOverhead = 512

// PageCost is the memory a page of n events whose models add up to
// modelBytes holds while it is rendered and written: each model once as
// read and once in the rendered answer, and EventOverhead per event.
func PageCost(n int, modelBytes int64) int64 {
	return 2*modelBytes + int64(n)*EventOverhead
}

// ReservePage reserves what a page of at most rows events may hold before
// it is read: rows of the largest models, or when maxBytes is positive
// (the page's EventQuery.MaxBytes) that many bytes of models and one more
// model, but never more than a small reservation. Most pages hold far less
// than their worst case, and an ordinary page must not wait behind the
// large reservations for a worst case it will not reach. Once the page is
// read, Fit sizes the reservation to what it holds.
func (p *Pool) ReservePage(ctx context.Context, rows, maxBytes int) (*Reservation, error) {
	models := int64(rows) * doorlog.MaxModelBytes
	if maxBytes > 0 {
		models = min(models, int64(maxBytes)+doorlog.MaxModelBytes)
	}
	n := PageCost(rows, models)
	if p != nil {
		n = min(n, p.largeAt)
	}
	return p.Reserve(ctx, n)
}

// Fit sizes a page's reservation to what the events read hold: it gives
// back what they do not need, or reserves what more they do, waiting for
// room as Reserve does (and failing with ErrFull, when the caller must let
// the page go and refuse the request).
func (r *Reservation) Fit(ctx context.Context, events []doorlog.Event) error {
	need := PageCost(len(events), int64(doorlog.PageBytes(events)))
	if have := r.Bytes(); need > have {
		return r.Grow(ctx, need-have)
	}
	r.Shrink(need)
	return nil
}

// Plan is how the server's memory budget is shared out (docs/operations.md
// explains each share). The shares add up to well under the total: the
// rest is the process's steady state (the counts, caches, SQLite's page
// caches, code and stacks) and the garbage collector's headroom.
type Plan struct {
	// Total is the budget: the resident memory the server is meant to stay
	// under.
	Total int64
	// Heap is the Go runtime's soft memory limit (GOMEMLIMIT): the heap
	// the collector works to stay under. SQLite's page caches live
	// outside it.
	Heap int64
	// Ingest is the pool of request bodies being decoded and stored.
	Ingest int64
	// Reads is the pool of pages of events being read and written.
	Reads int64
	// Streams is the most bytes of commits the live streams' queues hold
	// together.
	Streams int64
}

// IngestFactor is how many bytes of memory an ingest request holds per
// byte of its body while it is decoded, validated, queued and stored: the
// models and times copied out of the body, and for small items the item,
// the event and the store's row built from each, which together outweigh
// the item's JSON (the most items a request may carry keeps a body of the
// largest size within it). An ingest request reserves this many times the
// bytes it has read.
const IngestFactor = 3

// MaxBody is the largest ingest body the plan's ingest share holds: a
// larger one would need more memory than the whole share.
func (p Plan) MaxBody() int64 { return p.Ingest / IngestFactor }

// DefaultTotal is the default memory budget: under the 200 MB the server
// is meant to fit in.
const DefaultTotal = 192 << 20

// MinTotal is the smallest budget a server accepts: below it, the pools
// would be too small for one request of the largest size.
const MinTotal = 96 << 20

// NewPlan shares out a budget of total bytes.
func NewPlan(total int64) Plan {
	return Plan{
		Total:   total,
		Heap:    total * 2 / 3,
		Ingest:  total / 4,
		Reads:   total / 6,
		Streams: total / 16,
	}
}

// poolWait is how long a request waits for room in a pool before it is
// refused: long enough for the requests ahead of it to finish, short enough
// that a client is told to come back rather than left hanging.
const poolWait = 2 * time.Second

// Pools returns the pools of the plan.
func (p Plan) Pools() Pools {
	return Pools{
		Ingest: New("ingest", p.Ingest, poolWait),
		Reads:  New("reads", p.Reads, poolWait),
	}
}
