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
	// GeneratorSeconds is the time the generator spent making events (it
	// runs alongside the sending); when it is close to Seconds, the client
	// rather than the server bounded the rate.
	GeneratorSeconds float64 `json:"generator_seconds"`
}

// load sends cfg.Events generated events, spread evenly over cfg.Span
// ending at cfg.End and in time order like a real feed, as NDJSON batches of
// cfg.Batch from cfg.Clients goroutines.
func load(parent context.Context, cfg Config, t Target, devices []sim.Device, pr *progress) (Ingest, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	sink := &sim.HTTPSink{BaseURL: t.BaseURL, Token: t.Token, Client: cfg.Client}
	gen := sim.NewGenerator(cfg.Seed, devices)
	start := cfg.End.Add(-cfg.Span)
	step := cfg.Span / time.Duration(max(cfg.Events-1, 1))

	batches := make(chan []ingest.Item, 2*cfg.Clients)
	var genTime time.Duration
	genDone := make(chan struct{})
	go func() {
		defer close(genDone)
		defer close(batches)
		for i := 0; i < cfg.Events; {
			t0 := time.Now()
			n := min(cfg.Batch, cfg.Events-i)
			items := make([]ingest.Item, n)
			for j := range items {
				items[j] = gen.Next(start.Add(time.Duration(i+j) * step))
			}
			i += n
			genTime += time.Since(t0)
			select {
			case batches <- items:
			case <-ctx.Done():
				return
			}
		}
	}()

	var (
		sent     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	began := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	stopTick := make(chan struct{})
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		for {
			select {
			case <-tick.C:
				pr.update("load", sent.Load(), int64(cfg.Events), began)
			case <-stopTick:
				return
			}
		}
	}()
	for range cfg.Clients {
		wg.Go(func() {
			for items := range batches {
				if err := sink.Send(ctx, items); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				sent.Add(int64(len(items)))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	cancel() // the producer stops if the clients stopped early
	<-genDone
	close(stopTick)
	<-tickDone
	pr.update("load", sent.Load(), int64(cfg.Events), began)
	pr.done()

	tot := sink.Totals()
	res := Ingest{
		Sent:             sent.Load(),
		Stored:           tot.Accepted,
		Duplicates:       tot.Duplicates,
		Rejected:         tot.Rejected,
		Retries:          tot.Retries,
		Seconds:          elapsed.Seconds(),
		EventsPerSec:     float64(tot.Accepted) / elapsed.Seconds(),
		GeneratorSeconds: genTime.Seconds(),
	}
	if firstErr != nil {
		return res, fmt.Errorf("bench: load: %w", firstErr)
	}
	if err := parent.Err(); err != nil {
		return res, fmt.Errorf("bench: load: %w", err)
	}
	if res.Sent != int64(cfg.Events) {
		return res, fmt.Errorf("bench: load sent %d of %d events", res.Sent, cfg.Events)
	}
	if res.Stored == 0 {
		return res, errors.New("bench: load: the server stored no event")
	}
	return res, nil
}
