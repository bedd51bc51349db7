// Package bench measures a running doorlog server over HTTP, the way its
// users meet it: it creates a realistic population of sites and devices,
// loads events through the native ingest API from concurrent clients, then
// times pages of the four read APIs, the NDJSON export, the server's memory
// and its bytes on disk per event, and reports them against the project's
// performance targets (docs/performance.md).
//
// Run does the measuring against any server given by a Target; StartServer
// starts the real doorlog binary as a child process and gives the Target
// for it, so that RSS and disk can be measured too.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/sim"
)

// Defaults of Config.
const (
	DefaultEvents  = 1_000_000
	DefaultClients = 4
	DefaultBatch   = 5000
	DefaultSamples = 200
	// DefaultSpan is how far back the loaded events' times reach.
	DefaultSpan = 90 * 24 * time.Hour
	// DefaultQueryBudget is the most time one query's samples may take;
	// a query slower than that is sampled fewer times.
	DefaultQueryBudget = 20 * time.Second
	// DefaultSites and DefaultDevicesPerSite give the 500 devices in 20
	// sites the benchmark uses.
	DefaultSites          = 20
	DefaultDevicesPerSite = 25
	// warmups is how many requests of each query are made before timing.
	warmups = 3
	// minSamples is how many samples a query gets even past its budget.
	minSamples = 10
)

// Config is what to run. Zero fields take the defaults above.
type Config struct {
	// Events is how many events are loaded.
	Events int
	// Clients is how many goroutines send ingest batches at once.
	Clients int
	// Batch is how many events one ingest request carries.
	Batch int
	// Samples is how many times each query is timed.
	Samples int
	// QueryBudget bounds the time one query's samples take (at least
	// ten samples are taken whatever it says).
	QueryBudget time.Duration
	// Sites and DevicesPerSite size the population.
	Sites, DevicesPerSite int
	// Span is the time the events are spread over, ending at End.
	Span time.Duration
	// End is the time of the newest event; zero means now.
	End time.Time
	// Seed seeds the event generator; zero means 1, so runs are repeatable.
	Seed int64
	// Version is the doorlog version recorded in the result.
	Version string
	// Progress receives progress lines while the load and the queries run;
	// nil discards them.
	Progress io.Writer
	// Terminal makes the progress a single line rewritten with '\r';
	// otherwise a line is written at every tenth of the load.
	Terminal bool
	// Client makes the requests; nil means a client made for Clients
	// concurrent connections.
	Client *http.Client
	// Arrival is the order the load sends its events in: ArrivalTime
	// (empty means it), ArrivalLate or ArrivalRandom. Real feeds are not
	// all in time order, and the store's cost of an event depends on it.
	Arrival string
	// Mixed, when positive, adds a phase of that length after the queries
	// and the export in which live ingest and the real query patterns run
	// together (see mixed.go); zero leaves it out.
	Mixed time.Duration
	// MixedIngest is the mixed phase's ingest rate in events/s.
	MixedIngest float64
	// MixedQueries is the mixed phase's query rate in requests/s.
	MixedQueries float64
	// MixedInFlight bounds the mixed phase's queries in flight at once; a
	// query due while the bound is reached is skipped and counted.
	MixedInFlight int
	// Dense, when positive, sends that many more events after the queries
	// and the export, all in the minute before End, and times the requests
	// made at the present against that dense minute (see dense.go): the
	// store's counts of a window that cuts an hour must not read every
	// event in it. Zero leaves the case out.
	Dense int
	// VictoriaLogs, when set, is a victoria-logs binary to set doorlog
	// against: after the doorlog run (and its server's stop), Run starts
	// it, loads the very same events into it the same way and times the
	// equivalent LogsQL queries (victorialogs.go, compare.go), so that
	// users weighing a general log store see both on one machine and one
	// load. Empty leaves it out.
	VictoriaLogs string
	// VictoriaLogsDir is where VictoriaLogs' directory is made (the
	// system's temporary directory when empty); KeepVictoriaLogs keeps it
	// rather than removing it.
	VictoriaLogsDir  string
	KeepVictoriaLogs bool
}

func (c Config) withDefaults() Config {
	if c.Events <= 0 {
		c.Events = DefaultEvents
	}
	if c.Clients <= 0 {
		c.Clients = DefaultClients
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	c.Batch = min(c.Batch, sim.MaxSend*4)
	if c.Samples <= 0 {
		c.Samples = DefaultSamples
	}
	if c.QueryBudget <= 0 {
		c.QueryBudget = DefaultQueryBudget
	}
	if c.Sites <= 0 {
		c.Sites = DefaultSites
	}
	if c.DevicesPerSite <= 0 {
		c.DevicesPerSite = DefaultDevicesPerSite
	}
	if c.Span <= 0 {
		c.Span = DefaultSpan
	}
	if c.End.IsZero() {
		c.End = time.Now()
	}
	c.End = c.End.UTC().Truncate(time.Millisecond)
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Arrival == "" {
		c.Arrival = ArrivalTime
	}
	if c.MixedIngest <= 0 {
		c.MixedIngest = DefaultMixedIngest
	}
	if c.MixedQueries <= 0 {
		c.MixedQueries = DefaultMixedQueries
	}
	if c.MixedInFlight <= 0 {
		c.MixedInFlight = DefaultMixedInFlight
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Client == nil {
		c.Client = &http.Client{
			Timeout: 10 * time.Minute, // the export of a large set takes a while
			Transport: &http.Transport{
				MaxIdleConns:        c.Clients + 4,
				MaxIdleConnsPerHost: c.Clients + 4,
				IdleConnTimeout:     time.Minute,
			},
		}
	}
	return c
}

// Target is the server under test.
type Target struct {
	// BaseURL is the server's root, such as http://127.0.0.1:8080.
	BaseURL string
	// Token is an admin token of every site.
	Token string
	// Backend names the store, such as "sqlite"; empty is "unknown".
	Backend string
	// PID is the server's process, whose RSS is sampled from
	// /proc/PID/status; zero means the RSS is not measured.
	PID int
	// DataDir is the server's data directory, whose files are summed for
	// the bytes on disk after Stop; empty means disk is not measured.
	DataDir string
	// Stop, when set, stops the server after the queries, so that its
	// store is checkpointed and closed before DataDir is measured.
	Stop func(ctx context.Context) error
}

// Run loads cfg.Events events into the target and measures it. It returns
// the result even when a later phase failed, with the error; the figures of
// the phases that ran are filled in.
func Run(ctx context.Context, cfg Config, t Target) (*Result, error) {
	cfg = cfg.withDefaults()
	if t.BaseURL == "" || t.Token == "" {
		return nil, errors.New("bench: the target needs a base URL and a token")
	}
	if !ValidArrival(cfg.Arrival) {
		return nil, fmt.Errorf("bench: arrival %q: want time, late or random", cfg.Arrival)
	}
	t.BaseURL = strings.TrimRight(t.BaseURL, "/")
	res := &Result{
		Started:   time.Now().UTC(),
		Machine:   ReadMachine(),
		GoVersion: runtime.Version(),
		Version:   cfg.Version,
		Backend:   t.Backend,
		Events:    cfg.Events,
		Clients:   cfg.Clients,
		Batch:     cfg.Batch,
		Samples:   cfg.Samples,
		Span:      fmt.Sprintf("%g days", cfg.Span.Hours()/24),
		Arrival:   cfg.Arrival,
	}
	if cfg.Dense < 0 {
		return nil, fmt.Errorf("bench: dense %d: want 0 (none) or more", cfg.Dense)
	}
	if res.Backend == "" {
		res.Backend = "unknown"
	}

	var rss *rssSampler
	if t.PID > 0 {
		rss = startRSS(t.PID, 250*time.Millisecond)
	}
	stopRSS := func() {
		if rss != nil {
			if max := rss.stop(); max > 0 {
				res.MaxRSSBytes = &max
			}
			rss = nil
		}
	}
	defer stopRSS()

	cmp, err := runPhases(ctx, cfg, t, res, rss)
	stopRSS()
	if t.Stop != nil {
		if serr := t.Stop(ctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("bench: stop the server: %w", serr))
		}
	}
	// The dense and the mixed phase's events are on disk too.
	stored := res.Ingest.Stored
	if res.Dense != nil {
		stored += res.Dense.Ingest.Stored
	}
	if res.Mixed != nil {
		stored += res.Mixed.Ingest.Stored
	}
	if t.DataDir != "" && stored > 0 {
		size, derr := DirSize(t.DataDir)
		if derr != nil {
			err = errors.Join(err, derr)
		} else {
			per := float64(size) / float64(stored)
			res.DiskBytes, res.BytesPerEvent = &size, &per
		}
	}
	// VictoriaLogs runs once doorlog has stopped, so that each has the
	// machine to itself, and only after a whole doorlog run: its answers
	// are checked against what doorlog's load made and answered.
	if cmp != nil && err == nil {
		res.SideBySide.VictoriaLogs, err = runVictoriaLogs(ctx, cfg, cmp)
	}
	res.Seconds = time.Since(res.Started).Seconds()
	return res, err
}

// runPhases runs everything against doorlog. With cfg.VictoriaLogs it also
// counts what the load's events hold and times the compared queries on
// doorlog (before the mixed phase adds events), and returns that for the
// VictoriaLogs side.
func runPhases(ctx context.Context, cfg Config, t Target, res *Result, rss *rssSampler) (*comparison, error) {
	sites, devices := sim.Population(cfg.Sites, cfg.DevicesPerSite)
	if err := sim.Setup(ctx, t.BaseURL, t.Token, cfg.Client, sites, devices); err != nil {
		return nil, fmt.Errorf("bench: set up %d sites and %d devices: %w", len(sites), len(devices), err)
	}
	res.Sites, res.Devices = len(sites), len(devices)
	var cmp *comparison
	var tl *tally
	if cfg.VictoriaLogs != "" {
		var err error
		if cmp, err = newComparison(cfg, devices); err != nil {
			return nil, err
		}
		tl = cmp.doorlogLoad
	}
	pr := &progress{w: cfg.Progress, terminal: cfg.Terminal}
	defer pr.done()
	ing, err := load(ctx, cfg, newDoorlogSink(cfg, t), "load", devices, pr, tl)
	res.Ingest = ing
	if err != nil {
		return nil, err
	}
	if cmp != nil {
		cmp.loaded()
		res.SideBySide = &SideBySide{Expected: cmp.want}
		if rss != nil {
			if v := rss.peak(); v > 0 {
				res.SideBySide.DoorlogLoadRSSBytes = &v
			}
		}
	}
	q := &querier{cfg: cfg, t: t, pr: pr, start: cfg.End.Add(-cfg.Span), end: cfg.End, busy: devices[0].ID}
	res.Queries, err = q.all(ctx)
	if err != nil {
		return nil, err
	}
	res.Export, err = q.export(ctx)
	if err != nil {
		return nil, err
	}
	// The side by side's queries run before the dense minute, which would
	// change the answers it expects.
	if cmp != nil {
		if res.SideBySide.Doorlog, err = cmp.doorlog(ctx, q); err != nil {
			return nil, err
		}
	}
	if cfg.Dense > 0 {
		if res.Dense, err = dense(ctx, cfg, t, devices, q, pr); err != nil {
			return nil, err
		}
	}
	if cfg.Mixed > 0 {
		res.Mixed, err = mixed(ctx, cfg, t, devices, pr)
	}
	return cmp, err
}

// progress writes the progress display: a '\r' line on a terminal, else a
// line at each tenth.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	lastTen  int
	dirty    bool
}

// update shows done of total with a rate since start.
func (p *progress) update(what string, done, total int64, start time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := time.Since(start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	line := fmt.Sprintf("%s: %d/%d events (%3.0f%%), %.0f events/s, %s", what, done, total,
		100*float64(done)/float64(max(total, 1)), rate, elapsed.Round(time.Second))
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.dirty = true
		return
	}
	if ten := int(10 * done / max(total, 1)); ten > p.lastTen {
		p.lastTen = ten
		fmt.Fprintln(p.w, line)
	}
}

// line writes a line of its own, ending a '\r' line first.
func (p *progress) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dirty {
		fmt.Fprintln(p.w)
		p.dirty = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// status shows a transient status (the query being sampled) on a terminal
// and nothing elsewhere.
func (p *progress) status(format string, args ...any) {
	if !p.terminal {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K"+format, args...)
	p.dirty = true
}

// done ends a phase: it ends a '\r' line, and the next phase's progress
// starts again from 0 %.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastTen = 0
	if p.dirty {
		fmt.Fprintln(p.w)
		p.dirty = false
	}
}
