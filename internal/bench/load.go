package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// Ingest is what the load phase measured.
type Ingest struct {
	// Sent is how many events were sent; Stored how many the server
	// accepted, Duplicates and Rejected the rest.
	Sent       int64 `json:"sent"`
	Stored     int64 `json:"stored"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"`
	// Retries is how many batches had to be sent again.
	Retries int64 `json:"retries"`
	// Seconds is the wall time of the load, from the first batch sent to
	// the last answered.
	Seconds float64 `json:"seconds"`
	// EventsPerSec is Stored / Seconds.
	EventsPerSec float64 `json:"events_per_sec"`
	// GeneratorSeconds is the time spent generating and encoding every
	// batch, summed over the clients while they sent (so part of Seconds,
	// as the events are made while they are sent). Builds before the time
	// order was streamed made its batches before the timed load instead,
	// and recorded that time here.
	GeneratorSeconds float64 `json:"generator_seconds"`
	// Arrival is the order the events were sent in (Config.Arrival), which
	// the ingest rate and the bytes on disk per event depend on.
	Arrival string `json:"arrival"`
	// Streamed is true when the events were generated while they were
	// sent rather than beforehand: always now. It is false in the results
	// of older builds for the time order, whose batches were all made
	// before the clock started (and whose bench held them all in memory),
	// so that such results are told apart.
	Streamed bool `json:"streamed,omitempty"`
}

// loadSink is where a load sends its batches: doorlog's native ingest API,
// or VictoriaLogs' JSON lines for the side-by-side run, so that both get
// the very same events in the very same batches and order.
type loadSink interface {
	// encode appends the body of a batch to dst.
	encode(dst []byte, items []ingest.Item) ([]byte, error)
	// send posts a body of n events; nil means the server took it.
	send(ctx context.Context, body []byte, n int) error
	// totals sums what the server said of everything sent.
	totals() sim.SinkTotals
}

// doorlogSink sends NDJSON batches to doorlog's POST /v1/events.
type doorlogSink struct{ *sim.HTTPSink }

func (s doorlogSink) encode(dst []byte, items []ingest.Item) ([]byte, error) {
	return appendNDJSON(dst, items)
}

func (s doorlogSink) send(ctx context.Context, body []byte, _ int) error {
	return s.SendNDJSON(ctx, body, nil)
}

func (s doorlogSink) totals() sim.SinkTotals { return s.Totals() }

// newDoorlogSink is the sink of the target's native ingest API.
func newDoorlogSink(cfg Config, t Target) doorlogSink {
	return doorlogSink{&sim.HTTPSink{BaseURL: t.BaseURL, Token: t.Token, Client: cfg.Client}}
}

// load sends cfg.Events generated events, spread over cfg.Span ending at
// cfg.End, in the cfg.Arrival order, as batches of cfg.Batch from
// cfg.Clients goroutines to sink. what names the load in the progress; tl,
// when not nil, counts what the events hold (for the side-by-side run).
func load(parent context.Context, cfg Config, sink loadSink, what string, devices []sim.Device, pr *progress, tl *tally) (Ingest, error) {
	sources, err := sourceFor(cfg, devices)
	if err != nil {
		return Ingest{}, err
	}
	res, err := send(parent, cfg, sink, what, cfg.Events, sources, pr, tl)
	res.Arrival = cfg.Arrival
	return res, err
}

// send sends total events from the sources to sink: each of cfg.Clients
// clients fills a batch of cfg.Batch from its source, encodes it and sends
// it, again and again, so that the bench holds only the batches in flight
// (a load of 100M events fits in memory). Generating is then part of the
// timed load, on the cores the server uses too. what names the phase in
// the progress and the errors; tl, when not nil, counts the events sent.
func send(parent context.Context, cfg Config, sink loadSink, what string, total int, sources func(client int) batchSource, pr *progress, tl *tally) (Ingest, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		sent, genNanos atomic.Int64
		wg             sync.WaitGroup
		errOnce        sync.Once
		firstErr       error
	)
	began := time.Now()
	stopTicking := pr.ticking(what, &sent, int64(total), began)
	for c := range cfg.Clients {
		src := sources(c)
		wg.Go(func() {
			// Each client counts its own events, merged at its end.
			own := tl.fork()
			defer tl.merge(own)
			items := make([]ingest.Item, cfg.Batch)
			var body []byte
			for ctx.Err() == nil {
				g0 := time.Now()
				n := src.fill(items)
				if n == 0 {
					return
				}
				own.add(items[:n])
				var err error
				body, err = sink.encode(body[:0], items[:n])
				genNanos.Add(int64(time.Since(g0)))
				if err == nil {
					err = sink.send(ctx, body, n)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				sent.Add(int64(n))
			}
		})
	}
	wg.Wait()
	stopTicking()
	elapsed := time.Since(began)
	pr.update(what, sent.Load(), int64(total), began)
	pr.done()
	tot := sink.totals()
	res := Ingest{
		Sent:             sent.Load(),
		Stored:           tot.Accepted,
		Duplicates:       tot.Duplicates,
		Rejected:         tot.Rejected,
		Retries:          tot.Retries,
		Seconds:          elapsed.Seconds(),
		EventsPerSec:     float64(tot.Accepted) / elapsed.Seconds(),
		GeneratorSeconds: time.Duration(genNanos.Load()).Seconds(),
		Streamed:         true,
	}
	return res, sendErr(parent, what, total, res, firstErr)
}

// sendErr says what went wrong with sending total events, if anything.
func sendErr(parent context.Context, what string, total int, res Ingest, firstErr error) error {
	if firstErr != nil {
		return fmt.Errorf("bench: %s: %w", what, firstErr)
	}
	if err := parent.Err(); err != nil {
		return fmt.Errorf("bench: %s: %w", what, err)
	}
	if res.Sent != int64(total) {
		return fmt.Errorf("bench: %s sent %d of %d events", what, res.Sent, total)
	}
	if res.Stored == 0 {
		return fmt.Errorf("bench: %s: the server stored no event", what)
	}
	return nil
}

// ticking updates the progress of what every quarter second with the
// count done of total, until the returned function is called (which
// returns once the updates have stopped).
func (p *progress) ticking(what string, done *atomic.Int64, total int64, began time.Time) (stop func()) {
	tick := time.NewTicker(250 * time.Millisecond)
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				p.update(what, done.Load(), total, began)
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}
