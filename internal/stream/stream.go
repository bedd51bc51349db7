// Package stream fans committed events out to live subscribers, such as the
// native API's Server-Sent Events stream.
//
// The group-commit writer calls Broker.Publish after every commit, on its
// own goroutine, so Publish never waits for a subscriber: it adds the events
// each subscriber's filter matches to that subscriber's bounded queue, and a
// subscriber whose queue is full is dropped on the spot. A slow reader is
// disconnected rather than allowed to slow ingest down or to make the server
// hold an unbounded backlog for it; it resumes from the store, where every
// published event already is.
//
// Memory is bounded three ways. The events of a commit are held once,
// whatever the number of subscribers: a queue holds references to a
// commit's events (all of them, or the indices its filter matched), and
// subscribers with the same filter share the match. Each queue is bounded
// in events and in bytes. And the commits that any queue still holds are
// bounded together: past that, the subscribers furthest behind are dropped
// first. The work of a Publish follows the number of distinct filters, not
// the number of subscribers.
package stream

import (
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// Defaults of Options.
const (
	// DefaultBuffer is the most events a subscriber may have waiting
	// before it is dropped.
	DefaultBuffer = 4096
	// DefaultMaxBytes is the most bytes of events a subscriber may have
	// waiting before it is dropped.
	DefaultMaxBytes = 1 << 20
	// DefaultMaxPinned is the most bytes of commits that the queues of all
	// subscribers together may hold.
	DefaultMaxPinned = 16 << 20
)

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
	// MaxBytes is the most bytes of events (their models and fields) one
	// subscriber may have waiting; more drops it. Default DefaultMaxBytes.
	MaxBytes int64
	// MaxPinned is the most bytes of commits the subscribers' queues may
	// hold together; past it, the subscribers furthest behind are dropped
	// until they hold less. Default DefaultMaxPinned.
	MaxPinned int64
}

// Broker hands published events to the subscribers whose filters match.
// Its methods are safe for concurrent use.
type Broker struct {
	logger *slog.Logger
	opts   Options

	// groups is the current set of subscribers by filter, replaced whole
	// (copy on write) under mu, so that Publish reads it without a lock.
	groups atomic.Pointer[[]*group]
	// mu serialises changes to groups and closed.
	mu     sync.Mutex
	closed bool

	// commits numbers the commits published, oldest first.
	commits atomic.Uint64
	// pinned is the bytes of the commits some queue still holds.
	pinned    atomic.Int64
	overflows atomic.Uint64
}

// group is the subscribers with one filter: a commit is matched against the
// filter once for all of them.
type group struct {
	key    string
	filter doorlog.EventFilter
	subs   []*Subscription
}

// commit is the events of one Publish, shared by every queue that holds
// some of them.
type commit struct {
	num    uint64
	events []doorlog.Event
	bytes  int64
	// refs counts the queue segments that hold the commit; the commit is
	// pinned while it is positive.
	refs atomic.Int32
	// renders holds the events rendered once per rendering (a locale),
	// for every subscriber that sends them the same way (see
	// Item.Rendered).
	rendersMu sync.Mutex
	renders   map[string][]renderSlot
}

// renderSlot is one event's rendering: made once, by whichever subscriber
// comes first, while the others that want it at the same moment wait.
type renderSlot struct {
	once sync.Once
	b    []byte
}

// rendered returns the slots of one rendering of the commit's events.
func (c *commit) rendered(key string) []renderSlot {
	c.rendersMu.Lock()
	defer c.rendersMu.Unlock()
	slots, ok := c.renders[key]
	if !ok {
		if c.renders == nil {
			c.renders = map[string][]renderSlot{}
		}
		slots = make([]renderSlot, len(c.events))
		c.renders[key] = slots
	}
	return slots
}

// segment is the part of a commit one queue holds: every event, or those
// at idx.
type segment struct {
	c     *commit
	idx   []int32 // nil: every event of c
	n     int
	bytes int64
}

// New returns a Broker. A nil logger discards.
func New(logger *slog.Logger, opts Options) *Broker {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxPinned <= 0 {
		opts.MaxPinned = DefaultMaxPinned
	}
	b := &Broker{logger: logger, opts: opts}
	b.groups.Store(&[]*group{})
	return b
}

// eventBytes is what an event held in a queue is reckoned to cost: its
// model and source id, its fields, and a rendering of it (about its model
// again, and its name and text).
func eventBytes(e *doorlog.Event) int64 {
	return 2*int64(len(e.Model)) + int64(len(e.SourceID)) + 600
}

// Subscription is one subscriber's queue of matching events. Its owner
// waits on Ready and drains the queue with Take; it must call Close when it
// stops reading.
type Subscription struct {
	broker *Broker
	filter doorlog.EventFilter
	key    string
	ready  chan struct{}

	mu     sync.Mutex
	queue  []segment
	events int
	bytes  int64
	// taken are the commits of the items last taken by TakeItems, still
	// pinned (and counted) until the owner is done with them (Done, or
	// the next TakeItems).
	taken []*commit
	// err is why the subscription ended; nil while it is live.
	err error
}

// Subscribe starts a subscription to the events f matches, from the next
// Publish on. After Close the subscription it returns has already ended
// with ErrClosed.
func (b *Broker) Subscribe(f doorlog.EventFilter) *Subscription {
	s := &Subscription{broker: b, filter: f, key: filterKey(f), ready: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.end(ErrClosed)
		return s
	}
	old := *b.groups.Load()
	groups := make([]*group, 0, len(old)+1)
	found := false
	for _, g := range old {
		if g.key == s.key {
			g = &group{key: g.key, filter: g.filter, subs: append(slices.Clip(g.subs), s)}
			found = true
		}
		groups = append(groups, g)
	}
	if !found {
		groups = append(groups, &group{key: s.key, filter: f, subs: []*Subscription{s}})
	}
	b.groups.Store(&groups)
	return s
}

// filterKey names a filter so that subscribers with equal filters share
// their matching. Two spellings of one filter (the same values in another
// order) only cost a second match.
func filterKey(f doorlog.EventFilter) string {
	b, err := json.Marshal(f)
	if err != nil {
		return "" // cannot happen for plain strings and times; "" shares nothing wrongly, since it only groups equal keys
	}
	return string(b)
}

// Publish hands committed events, in commit order, to every subscriber
// whose filter matches them. It never blocks on a subscriber: one whose
// queue would grow past its bounds is dropped with ErrOverflow and its queue
// freed (an empty queue takes one commit whole, however large). It keeps
// the events slice, so neither it nor the events' Model bytes may change
// afterwards; the writer's never do.
func (b *Broker) Publish(events []doorlog.Event) {
	if len(events) == 0 {
		return
	}
	groups := *b.groups.Load()
	if len(groups) == 0 {
		return
	}
	c := &commit{num: b.commits.Add(1), events: events}
	for i := range events {
		c.bytes += eventBytes(&events[i])
	}
	var dropped []*Subscription
	for _, g := range groups {
		seg, ok := match(c, &g.filter)
		if !ok {
			continue
		}
		for _, s := range g.subs {
			if !s.push(seg) {
				dropped = append(dropped, s)
			}
		}
	}
	if b.pinned.Load() > b.opts.MaxPinned {
		dropped = append(dropped, b.shed(c.num)...)
	}
	if len(dropped) > 0 {
		b.overflows.Add(uint64(len(dropped)))
		b.remove(dropped...)
	}
}

// match returns the segment of c that f selects; ok is false when f
// selects none of it.
func match(c *commit, f *doorlog.EventFilter) (seg segment, ok bool) {
	var idx []int32
	var bytes int64
	for i := range c.events {
		if f.Match(c.events[i]) {
			if idx != nil {
				idx = append(idx, int32(i))
			}
			bytes += eventBytes(&c.events[i])
			continue
		}
		if idx == nil {
			// The first miss: the events before it all matched.
			idx = make([]int32, 0, len(c.events)-1)
			for j := range i {
				idx = append(idx, int32(j))
			}
		}
	}
	switch {
	case idx == nil:
		return segment{c: c, n: len(c.events), bytes: bytes}, true
	case len(idx) == 0:
		return segment{}, false
	default:
		return segment{c: c, idx: idx, n: len(idx), bytes: bytes}, true
	}
}

// shed drops the subscribers furthest behind, oldest pinned commit first,
// until the queues hold at most MaxPinned bytes of commits. A subscriber
// that holds only the newest commit (number newest) is up to date and
// kept. It returns the subscribers it ended.
func (b *Broker) shed(newest uint64) []*Subscription {
	type behind struct {
		s      *Subscription
		oldest uint64
	}
	var late []behind
	for _, g := range *b.groups.Load() {
		for _, s := range g.subs {
			if oldest, ok := s.oldest(); ok && oldest < newest {
				late = append(late, behind{s, oldest})
			}
		}
	}
	slices.SortFunc(late, func(x, y behind) int {
		switch {
		case x.oldest < y.oldest:
			return -1
		case x.oldest > y.oldest:
			return 1
		}
		return 0
	})
	var dropped []*Subscription
	for _, l := range late {
		if b.pinned.Load() <= b.opts.MaxPinned {
			break
		}
		if l.s.end(ErrOverflow) {
			dropped = append(dropped, l.s)
		}
	}
	return dropped
}

// Subscribers returns how many subscriptions are live, for metrics.
func (b *Broker) Subscribers() int {
	n := 0
	for _, g := range *b.groups.Load() {
		n += len(g.subs)
	}
	return n
}

// Overflows returns how many subscribers were dropped for falling behind
// since the broker started, for metrics.
func (b *Broker) Overflows() uint64 { return b.overflows.Load() }

// PinnedBytes returns the bytes of commits the subscribers' queues hold
// now, for metrics and tests.
func (b *Broker) PinnedBytes() int64 { return b.pinned.Load() }

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
	groups := *b.groups.Load()
	b.groups.Store(&[]*group{})
	b.mu.Unlock()
	n := 0
	for _, g := range groups {
		for _, s := range g.subs {
			s.end(ErrClosed)
			n++
		}
	}
	if n > 0 {
		b.logger.Info("live streams closed", "subscribers", n)
	}
}

// remove takes subscriptions out of the set Publish reads.
func (b *Broker) remove(gone ...*Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.groups.Load()
	groups := make([]*group, 0, len(old))
	changed := false
	for _, g := range old {
		subs := slices.DeleteFunc(slices.Clone(g.subs), func(s *Subscription) bool { return slices.Contains(gone, s) })
		switch {
		case len(subs) == len(g.subs):
			groups = append(groups, g)
		case len(subs) > 0:
			groups = append(groups, &group{key: g.key, filter: g.filter, subs: subs})
			changed = true
		default:
			changed = true
		}
	}
	if changed {
		b.groups.Store(&groups)
	}
}

// ref and unref count a segment's hold on its commit.
func (b *Broker) ref(c *commit) {
	if c.refs.Add(1) == 1 {
		b.pinned.Add(c.bytes)
	}
}

func (b *Broker) unref(c *commit) {
	if c.refs.Add(-1) == 0 {
		b.pinned.Add(-c.bytes)
	}
}

// push adds a segment to the queue. It reports false when that overflowed
// the queue, which ended the subscription.
func (s *Subscription) push(seg segment) bool {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return true // ended already; whoever ended it removes it
	}
	// A commit larger than the bounds still goes whole into an empty
	// queue: a reader that keeps up is not dropped for one big commit, and
	// the memory held stays within the larger of the bounds and a commit.
	if len(s.queue) > 0 && (s.events+seg.n > s.broker.opts.Buffer || s.bytes+seg.bytes > s.broker.opts.MaxBytes) {
		s.dropQueue()
		s.err = ErrOverflow
		s.mu.Unlock()
		s.signal()
		return false
	}
	s.broker.ref(seg.c)
	s.queue = append(s.queue, seg)
	s.events += seg.n
	s.bytes += seg.bytes
	s.mu.Unlock()
	s.signal()
	return true
}

// dropQueue lets go of every segment; s.mu is held.
func (s *Subscription) dropQueue() {
	for _, seg := range s.queue {
		s.broker.unref(seg.c)
	}
	clear(s.queue)
	s.queue = s.queue[:0]
	s.events, s.bytes = 0, 0
	s.dropTaken()
}

// dropTaken lets go of the commits last taken; s.mu is held.
func (s *Subscription) dropTaken() {
	for _, c := range s.taken {
		s.broker.unref(c)
	}
	clear(s.taken)
	s.taken = s.taken[:0]
}

// oldest returns the number of the oldest commit the queue holds; ok is
// false when it holds none.
func (s *Subscription) oldest() (num uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return 0, false
	}
	return s.queue[0].c.num, true
}

// signal wakes the owner without ever waiting: one pending wake-up covers
// any number of pushes.
func (s *Subscription) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// end ends the subscription with err, unless it has ended already, and
// reports whether it did.
func (s *Subscription) end(err error) bool {
	s.mu.Lock()
	ended := s.err == nil
	if ended {
		s.err = err
		s.dropQueue()
		s.queue = nil
	}
	s.mu.Unlock()
	s.signal()
	return ended
}

// Ready returns a channel that receives a value when events are waiting or
// the subscription has ended; Take then tells which. Several pushes may
// share one value, so the owner takes everything waiting each time.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the events waiting, in commit order, appended to buf[:0]:
// the caller owns the slice returned, so one buffer passed back each time
// serves a whole stream without allocating. When the subscription has
// ended it returns no events and why: ErrOverflow or ErrClosed.
func (s *Subscription) Take(buf []doorlog.Event) ([]doorlog.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return buf[:0], s.err
	}
	clear(buf[:cap(buf)]) // let the events it held go
	out := buf[:0]
	for _, seg := range s.queue {
		if seg.idx == nil {
			out = append(out, seg.c.events...)
		} else {
			for _, i := range seg.idx {
				out = append(out, seg.c.events[i])
			}
		}
	}
	s.dropQueue()
	return out, nil
}

// Item is one event waiting for a subscriber, taken with TakeItems. It
// refers to the event where the commit holds it, so that what is done to
// it once (rendering it) serves every subscriber.
type Item struct {
	c *commit
	i int32
}

// Event is the item's event. It must not be changed.
func (it Item) Event() *doorlog.Event { return &it.c.events[it.i] }

// Rendered returns the event rendered by render, which is called at most
// once per event and key for all the subscribers of the commit (key names
// the rendering, such as a locale: one key, one function). The bytes
// returned are shared and must not be changed.
func (it Item) Rendered(key string, render func(e *doorlog.Event) []byte) []byte {
	slot := &it.c.rendered(key)[it.i]
	slot.once.Do(func() { slot.b = render(&it.c.events[it.i]) })
	return slot.b
}

// TakeItems is Take for a subscriber that renders events: it returns the
// items waiting, appended to buf[:0], which share their commit's
// renderings. Items hold their commits: the commits stay pinned, and
// counted against MaxPinned, until the owner calls Done (or TakeItems
// again, or Close), so an owner stuck writing them is seen holding them.
// The owner must not use the items after Done, and should clear its slice
// of them then.
func (s *Subscription) TakeItems(buf []Item) ([]Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(buf[:cap(buf)]) // let the commits it held go
	s.dropTaken()
	if s.err != nil {
		return buf[:0], s.err
	}
	out := buf[:0]
	for _, seg := range s.queue {
		if seg.idx == nil {
			for i := range seg.c.events {
				out = append(out, Item{seg.c, int32(i)})
			}
		} else {
			for _, i := range seg.idx {
				out = append(out, Item{seg.c, i})
			}
		}
		// The queue's hold on the commit passes to the taken items.
		s.taken = append(s.taken, seg.c)
	}
	clear(s.queue)
	s.queue = s.queue[:0]
	s.events, s.bytes = 0, 0
	return out, nil
}

// Done lets go of the commits of the items last taken with TakeItems.
func (s *Subscription) Done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropTaken()
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
