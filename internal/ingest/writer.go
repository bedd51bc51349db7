// Package ingest turns incoming events into stored ones: it validates each
// item, resolves its device and site, classifies it with the catalog, and
// hands whole batches to a single writer goroutine that group-commits
// concurrent requests into one durable store transaction.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// Appender is the store operation the writer needs.
type Appender interface {
	AppendEvents(ctx context.Context, events []doorlog.Event) ([]doorlog.AppendResult, error)
}

// Writer group-commits batches of events. Many requests wait on disk at
// once; committing them in one transaction turns N fsyncs into one, which is
// what makes durable ingest fast.
type Writer struct {
	store    Appender
	logger   *slog.Logger
	maxBatch int
	onCommit func([]doorlog.Event)

	mu     sync.RWMutex
	closed bool
	queue  chan *writeRequest
	done   chan struct{}
}

type writeRequest struct {
	ctx     context.Context
	events  []doorlog.Event
	results []doorlog.AppendResult
	err     error
	done    chan struct{}
}

// WriterOptions tune a Writer.
type WriterOptions struct {
	// MaxBatch is the most events committed in one transaction; one request
	// larger than that is still committed whole. Default 20000.
	MaxBatch int
	// OnCommit, when set, is called by the writer goroutine with the events
	// of every commit (ids assigned, duplicates left out), in commit order.
	// It must not block.
	OnCommit func([]doorlog.Event)
}

// NewWriter starts the writer goroutine. Close stops it.
func NewWriter(store Appender, logger *slog.Logger, opts WriterOptions) *Writer {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 20000
	}
	w := &Writer{
		store:    store,
		logger:   logger,
		maxBatch: opts.MaxBatch,
		onCommit: opts.OnCommit,
		queue:    make(chan *writeRequest, 1024),
		done:     make(chan struct{}),
	}
	go w.run()
	return w
}

// AppendEvents stores the events durably, committed together with whatever
// other requests are waiting, and returns one result per event. It has the
// store's signature, so a Writer can stand wherever a store appends.
func (w *Writer) AppendEvents(ctx context.Context, events []doorlog.Event) ([]doorlog.AppendResult, error) {
	if len(events) == 0 {
		return nil, nil
	}
	req := &writeRequest{ctx: ctx, events: events, done: make(chan struct{})}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return nil, doorlog.Errorf(doorlog.EUNAVAILABLE, "the server is shutting down")
	}
	w.queue <- req
	w.mu.RUnlock()
	// Once queued, the request is committed whatever the caller does, so
	// wait for the outcome rather than report a failure that may not be one.
	<-req.done
	return req.results, req.err
}

// Queued returns how many requests wait for the writer, for metrics and
// tests.
func (w *Writer) Queued() int { return len(w.queue) }

// Close lets every queued request finish, then stops the writer. Requests
// after Close fail with EUNAVAILABLE.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *Writer) run() {
	defer close(w.done)
	var batch []*writeRequest
	for req := range w.queue {
		batch = append(batch[:0], req)
		n := len(req.events)
	gather:
		for n < w.maxBatch {
			select {
			case more, ok := <-w.queue:
				if !ok {
					break gather
				}
				batch = append(batch, more)
				n += len(more.events)
			default:
				break gather
			}
		}
		w.commit(batch, n)
		// The slice is reused, but not what it points to: a writer
		// that goes quiet must not keep its last requests, and with
		// them their events and models (up to a whole body each),
		// alive until the next request.
		clear(batch)
	}
}

// commit writes a group in one transaction. When that fails and the group
// holds several requests, each is retried alone so that one request's
// failure is never another's.
func (w *Writer) commit(batch []*writeRequest, n int) {
	if len(batch) == 1 {
		w.commitOne(batch[0])
		return
	}
	all := make([]doorlog.Event, 0, n)
	for _, r := range batch {
		all = append(all, r.events...)
	}
	results, err := w.append(context.WithoutCancel(batch[0].ctx), all)
	if errors.Is(err, errPanicked) {
		// The commit may or may not have happened: committing the
		// requests again could store their events twice, so the whole
		// group fails, and each sender retries (by source_id, safely).
		for _, r := range batch {
			r.err = err
			close(r.done)
		}
		return
	}
	if err != nil {
		w.logger.Warn("group commit failed, committing requests one by one", "requests", len(batch), "events", n, "err", err)
		for _, r := range batch {
			w.commitOne(r)
		}
		return
	}
	w.published(all, results)
	off := 0
	for _, r := range batch {
		r.results = results[off : off+len(r.events)]
		off += len(r.events)
		close(r.done)
	}
}

func (w *Writer) commitOne(r *writeRequest) {
	r.results, r.err = w.append(context.WithoutCancel(r.ctx), r.events)
	if r.err == nil {
		w.published(r.events, r.results)
	}
	close(r.done)
}

// errPanicked marks the error of an append that panicked.
var errPanicked = errors.New("the store panicked")

// append is the store's AppendEvents, with a panic turned into an internal
// error of this group's requests: the writer is one goroutine serving every
// ingest request, so a panic must not end it (or the process) with
// requests waiting. The panic and its stack are logged; the senders get a
// 500 that says nothing of it.
func (w *Writer) append(ctx context.Context, events []doorlog.Event) (results []doorlog.AppendResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			w.logger.Error("ingest: the store panicked while appending; the requests of this commit failed", "events", len(events), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			results, err = nil, &doorlog.Error{Code: doorlog.EINTERNAL, Message: "the events could not be stored", Err: fmt.Errorf("%w: %v", errPanicked, p)}
		}
	}()
	results, err = w.store.AppendEvents(ctx, events)
	if err == nil && len(results) != len(events) {
		// A store that answers for other events than it was given would
		// make the writer hand out wrong results, or index past them.
		return nil, &doorlog.Error{Code: doorlog.EINTERNAL, Message: "the events could not be stored", Err: fmt.Errorf("the store returned %d results for %d events", len(results), len(events))}
	}
	return results, err
}

// published hands the stored events to OnCommit. The events are committed
// whatever happens here, so a panic of OnCommit (a metric, the stream
// broker) is logged and the requests still succeed.
func (w *Writer) published(events []doorlog.Event, results []doorlog.AppendResult) {
	if w.onCommit == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			w.logger.Error("ingest: OnCommit panicked; the events are stored", "events", len(events), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	stored := make([]doorlog.Event, 0, len(events))
	for i, res := range results {
		if res.Duplicate {
			continue
		}
		e := events[i]
		e.ID = res.ID
		stored = append(stored, e)
	}
	if len(stored) > 0 {
		w.onCommit(stored)
	}
}
