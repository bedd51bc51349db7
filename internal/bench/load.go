package bench

import (
	"context"
	"errors"
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
	// batch: before the timed load began for the time order (not part of
	// Seconds), and summed over the clients while they sent for the late
	// and random orders (part of Seconds, since those generate as they
	// send).
	GeneratorSeconds float64 `json:"generator_seconds"`
	// Arrival is the order the events were sent in (Config.Arrival), which
	// the ingest rate and the bytes on disk per event depend on.
	Arrival string `json:"arrival"`
	// Streamed is true when the events were generated while they were
	// sent rather than beforehand.
	Streamed bool `json:"streamed,omitempty"`
}

// loadSink is where a load sends its batches: doorlog's native ingest API,
// or VictoriaLogs' JSON lines for the side-by-side run, so that both get
// the very same events in the very same batches and order.
type loadSink interface {
	// encode makes the body of a batch.
	encode(items []ingest.Item) ([]byte, error)
	// send posts a body of n events; nil means the server took it.
	send(ctx context.Context, body []byte, n int) error
	// totals sums what the server said of everything sent.
	totals() sim.SinkTotals
}

// doorlogSink sends NDJSON batches to doorlog's POST /v1/events.
type doorlogSink struct{ *sim.HTTPSink }

func (s doorlogSink) encode(items []ingest.Item) ([]byte, error) { return sim.EncodeNDJSON(items) }

func (s doorlogSink) send(ctx context.Context, body []byte, _ int) error {
	return s.SendNDJSON(ctx, body, nil)
}

func (s doorlogSink) totals() sim.SinkTotals { return s.Totals() }

// newDoorlogSink is the sink of the target's native ingest API.
func newDoorlogSink(cfg Config, t Target) doorlogSink {
	return doorlogSink{&sim.HTTPSink{BaseURL: t.BaseURL, Token: t.Token, Client: cfg.Client}}
}

// load sends cfg.Events generated events, spread evenly over cfg.Span
// ending at cfg.End and in time order like a real feed, as batches of
// cfg.Batch from cfg.Clients goroutines. Every batch is generated and
// encoded before the clock starts: the clients share the machine's cores
// with the server, and a real feed's encoding happens on the devices, so
// only sending is timed. what names the load in the progress; tl, when not
// nil, counts what the events hold (for the side-by-side run).
func load(parent context.Context, cfg Config, sink loadSink, what string, devices []sim.Device, pr *progress, tl *tally) (Ingest, error) {
	if cfg.Arrival != ArrivalTime {
		return loadStreamed(parent, cfg, sink, what, devices, pr, tl)
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	gen := sim.NewGenerator(cfg.Seed, devices)
	start := cfg.End.Add(-cfg.Span)
	step := cfg.Span / time.Duration(max(cfg.Events-1, 1))

	genStart := time.Now()
	bodies := make([][]byte, 0, (cfg.Events+cfg.Batch-1)/cfg.Batch)
	items := make([]ingest.Item, cfg.Batch)
	for i := 0; i < cfg.Events; {
		n := min(cfg.Batch, cfg.Events-i)
		for j := range n {
			items[j] = gen.Next(start.Add(time.Duration(i+j) * step))
		}
		tl.add(items[:n])
		body, err := sink.encode(items[:n])
		if err != nil {
			return Ingest{}, fmt.Errorf("bench: encode events: %w", err)
		}
		bodies = append(bodies, body)
		i += n
		if len(bodies)%20 == 0 {
			pr.update("generate", int64(i), int64(cfg.Events), genStart)
		}
		if err := ctx.Err(); err != nil {
			return Ingest{}, fmt.Errorf("bench: generate: %w", err)
		}
	}
	pr.update("generate", int64(cfg.Events), int64(cfg.Events), genStart)
	pr.done()
	genTime := time.Since(genStart)

	batches := make(chan int, len(bodies))
	for i := range bodies {
		batches <- i
	}
	close(batches)

	var (
		sent     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	began := time.Now()
	stopTicking := pr.ticking(what, &sent, int64(cfg.Events), began)
	for range cfg.Clients {
		wg.Go(func() {
			for i := range batches {
				n := min(cfg.Batch, cfg.Events-i*cfg.Batch)
				if err := sink.send(ctx, bodies[i], n); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				sent.Add(int64(n))
			}
		})
	}
	wg.Wait()
	stopTicking()
	res := loaded(cfg, pr, what, sink, sent.Load(), began, genTime)
	res.Arrival = ArrivalTime
	return res, loadErr(parent, cfg, res, firstErr)
}

// loadStreamed sends cfg.Events events in the late or random arrival
// order: each client fills a batch from its source, encodes it and sends
// it, again and again, so that the bench holds only the batches in flight
// (a load of 100M events fits in memory). Generating is then part of the
// timed load, on the cores the server uses too.
func loadStreamed(parent context.Context, cfg Config, sink loadSink, what string, devices []sim.Device, pr *progress, tl *tally) (Ingest, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	sources, err := sourceFor(cfg, devices)
	if err != nil {
		return Ingest{}, err
	}
	var (
		sent, genNanos atomic.Int64
		wg             sync.WaitGroup
		errOnce        sync.Once
		firstErr       error
	)
	began := time.Now()
	stopTicking := pr.ticking(what, &sent, int64(cfg.Events), began)
	for c := range cfg.Clients {
		src := sources(c)
		wg.Go(func() {
			// Each client counts its own events, merged at its end.
			own := tl.fork()
			defer tl.merge(own)
			items := make([]ingest.Item, cfg.Batch)
			for ctx.Err() == nil {
				g0 := time.Now()
				n := src.fill(items)
				if n == 0 {
					return
				}
				own.add(items[:n])
				body, err := sink.encode(items[:n])
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
	res := loaded(cfg, pr, what, sink, sent.Load(), began, time.Duration(genNanos.Load()))
	res.Arrival, res.Streamed = cfg.Arrival, true
	return res, loadErr(parent, cfg, res, firstErr)
}

// loaded ends a load's progress and says what it did: sent events since
// began, what the server answered (the sink's totals) and the time spent
// generating.
func loaded(cfg Config, pr *progress, what string, sink loadSink, sent int64, began time.Time, gen time.Duration) Ingest {
	elapsed := time.Since(began)
	pr.update(what, sent, int64(cfg.Events), began)
	pr.done()
	tot := sink.totals()
	return Ingest{
		Sent:             sent,
		Stored:           tot.Accepted,
		Duplicates:       tot.Duplicates,
		Rejected:         tot.Rejected,
		Retries:          tot.Retries,
		Seconds:          elapsed.Seconds(),
		EventsPerSec:     float64(tot.Accepted) / elapsed.Seconds(),
		GeneratorSeconds: gen.Seconds(),
	}
}

// loadErr says what went wrong with a load, if anything.
func loadErr(parent context.Context, cfg Config, res Ingest, firstErr error) error {
	if firstErr != nil {
		return fmt.Errorf("bench: load: %w", firstErr)
	}
	if err := parent.Err(); err != nil {
		return fmt.Errorf("bench: load: %w", err)
	}
	if res.Sent != int64(cfg.Events) {
		return fmt.Errorf("bench: load sent %d of %d events", res.Sent, cfg.Events)
	}
	if res.Stored == 0 {
		return errors.New("bench: load: the server stored no event")
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
