package main

import (
	"context"
	"io"
	"log/slog"
	"sort"
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
	// demoBackfill is how many past events a fresh demo store gets, spread
	// over the last day, so that the first page a newcomer opens is full.
	demoBackfill = 2000
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
			if err := backfill(ctx, gen, send, now); err != nil {
				logger.Warn("demo backfill failed", "err", err)
			}
		}
		if _, err := sim.Run(ctx, gen, rate, time.Second, sink, time.Now); err != nil && ctx.Err() == nil {
			logger.Warn("demo traffic stopped", "err", err)
		}
	}()
	return nil
}

// backfill stores a day of past traffic, oldest first.
func backfill(ctx context.Context, gen *sim.Generator, sink sim.Sink, now time.Time) error {
	times := make([]time.Time, demoBackfill)
	for i := range times {
		times[i] = now.Add(-time.Duration(demoBackfill-i) * (24 * time.Hour / demoBackfill))
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	items := make([]ingest.Item, 0, len(times))
	for _, t := range times {
		items = append(items, gen.Next(t))
	}
	return sink.Send(ctx, items)
}
