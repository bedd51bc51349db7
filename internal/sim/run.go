package sim

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/doorlog/doorlog/internal/ingest"
)

// Sink receives batches of generated events.
type Sink interface {
	// Send delivers one batch. It returns nil only when the whole batch was
	// taken (for a server: stored).
	Send(ctx context.Context, items []ingest.Item) error
}

// MaxSend is the most events Run hands to a Sink in one call; a larger due
// batch is split. It stays well under the server's per-request limit.
const MaxSend = 5000

// maxBehind is how far Run lets a slow sink fall behind before it gives up
// on the events it could not send in time rather than bursting them later.
const maxBehind = 10 * time.Second

// Run generates events at rate events per second of real time and sends them
// to sink in one batch every batch interval, until ctx is done. Events are
// timestamped with now (time.Now when nil), spread evenly over the interval
// they belong to. When the sink is slower than the rate, Run falls behind by
// at most ten seconds' worth of events and then skips ahead. It returns how
// many events the sink took; stopping because ctx is done is not an error,
// a sink's failure is.
func Run(ctx context.Context, g *Generator, rate float64, batch time.Duration, sink Sink, now func() time.Time) (sent int, err error) {
	if g == nil || sink == nil {
		return 0, errors.New("sim: Run needs a generator and a sink")
	}
	if !(rate > 0) || math.IsInf(rate, 0) {
		return 0, errors.New("sim: rate must be a positive number of events per second")
	}
	if batch <= 0 {
		return 0, errors.New("sim: batch interval must be positive")
	}
	if now == nil {
		now = time.Now
	}
	backlogCap := max(1, int64(rate*maxBehind.Seconds()))
	spacing := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var produced int64
	ticker := time.NewTicker(batch)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return sent, nil
		case <-ticker.C:
		}
		due := int64(time.Since(start).Seconds()*rate) - produced
		if due > backlogCap {
			produced += due - backlogCap
			due = backlogCap
		}
		if due <= 0 {
			continue
		}
		// Spread the batch's times over at most one interval ending now,
		// so that consecutive batches do not overlap in time.
		step := min(spacing, batch/time.Duration(due))
		stamp := now()
		items := make([]ingest.Item, due)
		for i := range items {
			items[i] = g.Next(stamp.Add(-time.Duration(due-1-int64(i)) * step))
		}
		produced += due
		for len(items) > 0 {
			n := min(len(items), MaxSend)
			if err := sink.Send(ctx, items[:n]); err != nil {
				if ctx.Err() != nil {
					return sent, nil
				}
				return sent, err
			}
			sent += n
			items = items[n:]
		}
	}
}
