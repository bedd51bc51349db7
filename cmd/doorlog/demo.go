package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
	"github.com/doorlog/doorlog/internal/vpanel"
)

// The demo account lets a newcomer log in to the web page (and try the
// BAS-IP and OLOID logins) without creating anything. It exists only where --demo ran.
const (
	demoUsername = "demo"
	demoPassword = "doorlog-demo"
	demoSites    = 2
	demoDevices  = 4 // per site
	// demoBackfillDays is how much history a fresh demo store gets, at the
	// live rate on average, with a building's daily and weekly rhythm, so
	// that the first page a newcomer opens is full and the 7-day charts look
	// like a real building's rather than a cliff.
	demoBackfillDays = 7
	// demoPulled is how many of the demo's devices are virtual BAS-IP
	// panels that the server reads (the pull collector) instead of devices
	// that send their events.
	demoPulled = 2
)

// demoPuller is what the demo needs to make devices read from virtual
// panels: the catalog the panels classify with, the sealing of their
// password, and the collectors to tell.
type demoPuller struct {
	catalog    *catalog.Catalog
	seal       func(string) []byte
	collectors interface{ Set(*doorlog.Device) }
	update     func(ctx context.Context, d *doorlog.Device) error
	// reset sets where the collector stands with a device.
	reset func(ctx context.Context, st *doorlog.CollectorState) error
}

// demoStore is what the demo needs of the store.
type demoStore interface {
	CreateSite(ctx context.Context, s *doorlog.Site) error
	CreateDevice(ctx context.Context, d *doorlog.Device) error
	CreateAccount(ctx context.Context, a *doorlog.Account) error
	FindAccount(ctx context.Context, username string) (*doorlog.Account, error)
	CountEvents(ctx context.Context, f doorlog.EventFilter) (int64, error)
}

// itemIngester stores decoded items.
type itemIngester interface {
	IngestItems(ctx context.Context, tok *doorlog.Token, items []ingest.Item) (ingest.Result, error)
}

// sinkFunc adapts a function to sim.Sink.
type sinkFunc func(ctx context.Context, items []ingest.Item) error

func (f sinkFunc) Send(ctx context.Context, items []ingest.Item) error { return f(ctx, items) }

// startDemo creates the demo sites, devices, account and token, prints how
// to reach the server, and starts simulated traffic in-process through the
// same ingest path the HTTP API uses.
func startDemo(ctx context.Context, wg *sync.WaitGroup, store demoStore, authSvc *auth.Service, ing itemIngester, puller demoPuller, rate float64, baseURL string, stdout io.Writer, logger *slog.Logger) error {
	sites, devices := sim.Population(demoSites, demoDevices)
	now := time.Now().UTC()
	for i := range sites {
		s := sites[i]
		s.CreatedAt = now
		if err := store.CreateSite(ctx, &s); err != nil && doorlog.ErrorCode(err) != doorlog.ECONFLICT {
			return err
		}
	}
	// Counted before the panels start: their collectors store events at
	// once (the panels log the collectors' logins).
	siteIDs := make([]string, len(sites))
	for i, s := range sites {
		siteIDs[i] = s.ID
	}
	existing, err := store.CountEvents(ctx, doorlog.EventFilter{Scope: doorlog.Scope{All: true}, SiteIDs: siteIDs})
	if err != nil {
		return err
	}
	// The first devices are virtual panels the server reads: their events
	// go into the panels' logs, and the pull collector brings them in.
	router := vpanel.Router{}
	var panelURLs []string
	for i, d := range devices {
		dev := &doorlog.Device{ID: d.ID, SiteID: d.SiteID, Name: d.Name, Model: d.Model, CreatedAt: now}
		if err := store.CreateDevice(ctx, dev); err != nil && doorlog.ErrorCode(err) != doorlog.ECONFLICT {
			return err
		}
		if i >= demoPulled {
			continue
		}
		p := vpanel.New(vpanel.Config{Device: *dev, Catalog: puller.catalog})
		addr, err := p.Serve("127.0.0.1:0")
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			p.Stop()
		}()
		// The panel's port is new on every start: the device follows it.
		dev.Pull = &doorlog.PullSource{URL: "http://" + addr, Username: "admin", SealedPassword: puller.seal(vpanel.DefaultPassword)}
		if err := puller.update(ctx, dev); err != nil {
			return err
		}
		// A new panel, with a new log: read from its start, rather than
		// report the last run's panel's log as lost.
		if err := puller.reset(ctx, &doorlog.CollectorState{DeviceID: dev.ID}); err != nil {
			return err
		}
		puller.collectors.Set(dev)
		router[dev.ID] = p
		panelURLs = append(panelURLs, dev.Pull.URL+" ("+dev.Name+")")
	}
	if _, err := store.FindAccount(ctx, demoUsername); doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
		hash, err := auth.HashPassword(demoPassword)
		if err != nil {
			return err
		}
		acct := &doorlog.Account{Username: demoUsername, PasswordHash: hash, Role: doorlog.RoleAdmin, SiteIDs: []string{}, CreatedAt: now}
		if err := store.CreateAccount(ctx, acct); err != nil && doorlog.ErrorCode(err) != doorlog.ECONFLICT {
			return err
		}
	} else if err != nil {
		return err
	}
	secret, tok, err := authSvc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin, SiteIDs: []string{}, ExpiresAt: now.Add(7 * 24 * time.Hour)})
	if err != nil {
		return err
	}

	printf(stdout, "\ndoorlog demo is running at %s\n", baseURL)
	printf(stdout, "  %d simulated devices in %d sites log about %.0f events per second.\n", len(devices), len(sites), rate)
	printf(stdout, "  %d of them are virtual BAS-IP panels that doorlog reads (the pull collector): %s\n\n", len(panelURLs), strings.Join(panelURLs, ", "))
	printf(stdout, "  Web page:                    %s/\n", baseURL)
	printf(stdout, "  Log in there as:             %s / %s\n\n", demoUsername, demoPassword)
	printf(stdout, "  Admin token (valid 7 days):  %s\n\n", secret)
	printf(stdout, "  Newest events, BAS-IP style:\n    curl -s -H %s %s\n",
		shellQuote("Authorization: Bearer "+secret), shellQuote(baseURL+"/api/v1/log/items?sort_type=desc&limit=10"))
	printf(stdout, "  Log in as a BAS-IP client does:\n    curl -s %s\n\n",
		shellQuote(baseURL+"/api/v1/login?username="+demoUsername+"&password="+demoPassword))

	gen := sim.NewGenerator(now.UnixNano(), devices)
	send := sinkFunc(func(ctx context.Context, items []ingest.Item) error {
		res, err := ing.IngestItems(ctx, tok, items)
		if err != nil {
			return err
		}
		for _, r := range res.Rejected {
			logger.Warn("demo event rejected", "index", r.Index, "error", r.Error)
		}
		return nil
	})
	// Live events of the panels go into their logs; the others are sent.
	sink := sinkFunc(func(ctx context.Context, items []ingest.Item) error {
		sent := items[:0:0]
		var logged []ingest.Item
		for _, it := range items {
			if router[it.DeviceID] != nil {
				logged = append(logged, it)
			} else {
				sent = append(sent, it)
			}
		}
		_ = router.Send(ctx, logged)
		if len(sent) == 0 {
			return nil
		}
		return send(ctx, sent)
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		if existing == 0 {
			// The day before: stored as sent, the panels' too.
			if err := backfill(ctx, gen, send, now, rate, rand.New(rand.NewPCG(uint64(now.UnixNano()), 7))); err != nil {
				logger.Warn("demo backfill failed", "err", err)
			}
		}
		if _, err := sim.Run(ctx, gen, rate, time.Second, sink, time.Now); err != nil && ctx.Err() == nil {
			logger.Warn("demo traffic stopped", "err", err)
		}
	}()
	return nil
}

// backfill stores demoBackfillDays of past traffic, oldest first, at rate
// events per second on average, shaped by rhythm, in batches of
// sim.MaxSend.
func backfill(ctx context.Context, gen *sim.Generator, sink sim.Sink, now time.Time, rate float64, rng *rand.Rand) error {
	items := make([]ingest.Item, 0, sim.MaxSend)
	start := now.Add(-demoBackfillDays * 24 * time.Hour).Truncate(time.Minute)
	for minute := start; minute.Before(now); minute = minute.Add(time.Minute) {
		// A Poisson count a minute: the events of an average minute of
		// this hour, this day of the week.
		n := poisson(rng, rate*60*rhythm(minute))
		times := make([]time.Time, n)
		for i := range times {
			times[i] = minute.Add(time.Duration(rng.Int64N(int64(time.Minute))))
		}
		slices.SortFunc(times, time.Time.Compare)
		for _, t := range times {
			if !t.Before(now) {
				break
			}
			items = append(items, gen.Next(t))
			if len(items) == sim.MaxSend {
				if err := sink.Send(ctx, items); err != nil {
					return err
				}
				items = items[:0]
			}
		}
	}
	if len(items) == 0 {
		return nil
	}
	return sink.Send(ctx, items)
}

// rhythm is a building's activity at t against its weekly average: quiet
// nights, a morning and an evening rush on working days, a late and
// flatter weekend. Its mean over a week is 1, so history made with it
// averages the live rate.
func rhythm(t time.Time) float64 {
	return demoWeek[int(t.Weekday())][t.Hour()] / demoWeekMean
}

// demoDay and demoWeekend are the relative activity of each hour.
var (
	demoDay      = [24]float64{0.1, 0.06, 0.05, 0.05, 0.08, 0.3, 1.0, 2.4, 2.6, 1.4, 0.9, 0.9, 1.1, 1.0, 0.9, 1.0, 1.4, 2.2, 2.5, 1.8, 1.2, 0.8, 0.4, 0.2}
	demoWeekend  = [24]float64{0.15, 0.1, 0.06, 0.05, 0.05, 0.08, 0.2, 0.4, 0.8, 1.2, 1.4, 1.5, 1.5, 1.4, 1.3, 1.3, 1.4, 1.5, 1.5, 1.3, 1.1, 0.8, 0.5, 0.3}
	demoWeek     = [7][24]float64{demoWeekend, demoDay, demoDay, demoDay, demoDay, demoDay, demoWeekend}
	demoWeekMean = func() float64 {
		sum := 0.0
		for _, day := range demoWeek {
			for _, v := range day {
				sum += v
			}
		}
		return sum / (7 * 24)
	}()
)

// poisson draws a Poisson count of mean m (Knuth's method for small means,
// a normal approximation for large ones).
func poisson(rng *rand.Rand, m float64) int {
	if m > 30 {
		return max(0, int(math.Round(m+math.Sqrt(m)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
