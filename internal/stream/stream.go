// Package stream fans committed events out to live subscribers, such as the
// native API's Server-Sent Events stream.
//
// The group-commit writer calls Broker.Publish after every commit, on its
// own goroutine, so Publish never waits for a subscriber: it appends the
// events each subscriber's filter matches to that subscriber's bounded
// queue, and a subscriber whose queue is full is dropped on the spot. A slow
// reader is disconnected rather than allowed to slow ingest down or to make
// the server hold an unbounded backlog for it; it resumes from the store,
// where every published event already is.
package stream

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// DefaultBuffer is the most events a subscriber may have waiting before it
// is dropped, when Options leaves it unset.
const DefaultBuffer = 4096

// Why a subscription ended, as Subscription.Take reports it.
var (
	// ErrOverflow means the subscriber fell more than its buffer behind
	// and was dropped; what it missed is in the store.
	ErrOverflow = errors.New("stream: subscriber fell behind and was dropped")
	// ErrClosed means the subscription or the whole broker was closed.
	ErrClosed = errors.New("stream: closed")
)

// Options tune a Broker.
type Options struct {
	// Buffer is the most events one subscriber may have waiting; one more
	// drops it. Default DefaultBuffer.
	Buffer int
}

// Broker hands published events to the subscribers whose filters match.
// Its methods are safe for concurrent use.
type Broker struct {
	logger *slog.Logger
	buffer int

	// subs is the current set of subscribers, replaced whole (copy on
	// write) under mu, so that Publish reads it without a lock.
	subs atomic.Pointer[[]*Subscription]
	// mu serialises changes to subs and closed.
	mu     sync.Mutex
	closed bool

	overflows atomic.Uint64
}

// New returns a Broker. A nil logger discards.
func New(logger *slog.Logger, opts Options) *Broker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	b := &Broker{logger: logger, buffer: opts.Buffer}
	b.subs.Store(&[]*Subscription{})
	return b
}

// Subscription is one subscriber's queue of matching events. Its owner
// waits on Ready and drains the queue with Take; it must call Close when it
// stops reading.
type Subscription struct {
	broker *Broker
	filter doorlog.EventFilter
	max    int
	ready  chan struct{}

	mu    sync.Mutex
	queue []doorlog.Event
	// err is why the subscription ended; nil while it is live.
	err error
}

// Subscribe starts a subscription to the events f matches, from the next
// Publish on. After Close the subscription it returns has already ended
// with ErrClosed.
func (b *Broker) Subscribe(f doorlog.EventFilter) *Subscription {
	s := &Subscription{broker: b, filter: f, max: b.buffer, ready: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.end(ErrClosed)
		return s
	}
	old := *b.subs.Load()
	subs := make([]*Subscription, len(old), len(old)+1)
	copy(subs, old)
	subs = append(subs, s)
	b.subs.Store(&subs)
	return s
}

// Publish hands committed events, in commit order, to every subscriber
// whose filter matches them. It never blocks on a subscriber: one whose
// queue would grow past its buffer is dropped with ErrOverflow and its
// queue freed (an empty queue takes one commit whole, however large). It keeps the events (not the slice), so their Model bytes
// must not change afterwards; stored events never do.
func (b *Broker) Publish(events []doorlog.Event) {
	if len(events) == 0 {
		return
	}
	var dropped []*Subscription
	for _, s := range *b.subs.Load() {
		if !s.push(events) {
			dropped = append(dropped, s)
		}
	}
	if len(dropped) > 0 {
		b.overflows.Add(uint64(len(dropped)))
		b.remove(dropped...)
	}
}

// Subscribers returns how many subscriptions are live, for metrics.
func (b *Broker) Subscribers() int { return len(*b.subs.Load()) }

// Overflows returns how many subscribers were dropped for falling behind
// since the broker started, for metrics.
func (b *Broker) Overflows() uint64 { return b.overflows.Load() }

// Close ends every subscription with ErrClosed, and every later one at
// once. Publish after Close does nothing. Close is for shutdown: streams
// end, so that the HTTP server's shutdown need not wait for them.
func (b *Broker) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	subs := *b.subs.Load()
	b.subs.Store(&[]*Subscription{})
	b.mu.Unlock()
	for _, s := range subs {
		s.end(ErrClosed)
	}
	if len(subs) > 0 {
		b.logger.Info("live streams closed", "subscribers", len(subs))
	}
}

// remove takes subscriptions out of the set Publish reads.
func (b *Broker) remove(gone ...*Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.subs.Load()
	subs := make([]*Subscription, 0, len(old))
	for _, s := range old {
		keep := true
		for _, g := range gone {
			if s == g {
				keep = false
				break
			}
		}
		if keep {
			subs = append(subs, s)
		}
	}
	if len(subs) != len(old) {
		b.subs.Store(&subs)
	}
}

// push appends the events the filter matches. It reports false when that
// overflowed the queue, which ended the subscription.
func (s *Subscription) push(events []doorlog.Event) bool {
	matched := false
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return true // ended already; whoever ended it removes it
	}
	// A commit larger than the buffer still goes whole into an empty
	// queue: a reader that keeps up is not dropped for one big commit, and
	// the memory held stays within the larger of the buffer and a commit.
	limit := s.max
	if len(s.queue) == 0 {
		limit = max(s.max, len(events))
	}
	for i := range events {
		if !s.filter.Match(events[i]) {
			continue
		}
		if len(s.queue) >= limit {
			s.queue = nil
			s.err = ErrOverflow
			s.mu.Unlock()
			s.signal()
			return false
		}
		s.queue = append(s.queue, events[i])
		matched = true
	}
	s.mu.Unlock()
	if matched {
		s.signal()
	}
	return true
}

// signal wakes the owner without ever waiting: one pending wake-up covers
// any number of pushes.
func (s *Subscription) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// end ends the subscription with err, unless it has ended already.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		s.queue = nil
	}
	s.mu.Unlock()
	s.signal()
}

// Ready returns a channel that receives a value when events are waiting or
// the subscription has ended; Take then tells which. Several pushes may
// share one value, so the owner takes everything waiting each time.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the events waiting, in commit order, appended to buf[:0]:
// the subscription keeps buf for the next events and the caller owns the
// slice returned, so two buffers passed back and forth serve a whole
// stream without allocating. When the subscription has ended it returns no
// events and why: ErrOverflow or ErrClosed.
func (s *Subscription) Take(buf []doorlog.Event) ([]doorlog.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return buf[:0], s.err
	}
	out := s.queue
	clear(buf[:cap(buf)]) // let the events it held go
	s.queue = buf[:0]
	return out, nil
}

// Err returns why the subscription ended, or nil while it is live.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription (a later Take reports ErrClosed) and takes it
// out of the broker. It may be called more than once.
func (s *Subscription) Close() {
	s.end(ErrClosed)
	s.broker.remove(s)
}
