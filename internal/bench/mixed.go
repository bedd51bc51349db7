package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// The mixed phase: after the load, the queries and the export, live ingest
// at a set rate runs together with queries at a set rate drawn from what
// real clients do (BAS-IP pollers, deep pages, cursor walks, charts, a live
// tail, exports). Every request is fired at its scheduled time whether or
// not the ones before it were answered (open loop), so that a slow server
// shows as latency rather than as a lower rate; a bound on the requests in
// flight keeps a stalled server from piling up goroutines, and what it
// skips is counted.

// Defaults of the mixed phase's rates and bound.
const (
	DefaultMixedIngest   = 20_000
	DefaultMixedQueries  = 200
	DefaultMixedInFlight = 64
	// mixedIngestEvery is how often an ingest batch is due; the batch
	// carries the events of that interval at the set rate.
	mixedIngestEvery = 50 * time.Millisecond
	// mixedIngestInFlight bounds the ingest batches in flight at once.
	mixedIngestInFlight = 16
	// tailGrace is how long the live tail waits after the last ingest for
	// the stream to bring the last events.
	tailGrace = time.Second
)

// Mixed is what the mixed phase measured.
type Mixed struct {
	// Seconds is the length of the phase asked for.
	Seconds float64 `json:"seconds"`
	// QueriesPerSec is the query rate asked for, and InFlight the bound
	// on queries in flight.
	QueriesPerSec float64 `json:"queries_per_sec"`
	InFlight      int     `json:"in_flight"`
	// Ingest is the live ingest of the phase.
	Ingest MixedIngest `json:"ingest"`
	// Patterns are the query patterns, and the live tail, in a fixed
	// order.
	Patterns []MixedPattern `json:"patterns"`
	// Skipped is how many queries were due while InFlight were
	// unanswered, and so were not made.
	Skipped int `json:"skipped"`
	// RSSEndBytes is the server's resident memory at the end of the phase;
	// null when the server's process is not known.
	RSSEndBytes *int64 `json:"rss_end_bytes"`
}

// MixedIngest is the live ingest of the mixed phase.
type MixedIngest struct {
	// TargetPerSec is the rate asked for, EventsPerSec the rate of events
	// the server stored over the phase.
	TargetPerSec float64 `json:"target_per_sec"`
	EventsPerSec float64 `json:"events_per_sec"`
	// Sent and Stored count events; Batches counts the requests answered
	// 200, Errors those that failed.
	Sent    int64 `json:"sent"`
	Stored  int64 `json:"stored"`
	Batches int   `json:"batches"`
	Errors  int   `json:"errors"`
	// FirstError is the first failed batch's error, empty when none.
	FirstError string `json:"first_error,omitempty"`
	// SkippedEvents is how many events were not sent because their batch
	// was due while mixedIngestInFlight batches were unanswered.
	SkippedEvents int64 `json:"skipped_events"`
	// The latencies of the answered batches, from their scheduled time to
	// the answer.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// MixedPattern is one query pattern of the mixed phase.
type MixedPattern struct {
	Name string `json:"name"`
	// Request is an example of the request made.
	Request string `json:"request"`
	// Count is how many requests were answered and checked (for the live
	// tail: how many of the phase's events it received).
	Count int `json:"count"`
	// Errors is how many requests failed or were answered wrongly (for
	// the live tail: how many times the stream broke).
	Errors int `json:"errors"`
	// Skipped is how many were due while the bound of queries in flight
	// was reached.
	Skipped int `json:"skipped"`
	// The latencies, from the scheduled time to the end of the answer;
	// for the live tail, from the ingest answer of an event's batch to the
	// event's arrival on the stream (0 when it came first).
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// FirstError is the first error's message, empty when none.
	FirstError string `json:"first_error,omitempty"`
	// EarlyEvents is, for the live tail, how many events reached the
	// stream before their batch's ingest answer reached the bench.
	EarlyEvents int `json:"early_events,omitempty"`
}

// mixedRun is the state of a mixed phase.
type mixedRun struct {
	cfg     Config
	q       *querier
	devices []sim.Device
	// tag starts the source ids of the phase's events, so that the tail
	// can tell them and their batch, and repeated runs on one server do not
	// deduplicate each other's events.
	tag string
	// basipPages and aipixPages are the numbers of pages of the full
	// BAS-IP log and of the busy intercom's AIPIX log before the phase.
	basipPages, aipixPages int64
	// acks holds, per ingest batch, when its answer came (Unix ns; 0 not
	// yet or never).
	acks []atomic.Int64
}

// pattern is one kind of request of the mixed phase.
type pattern struct {
	name   string
	weight int
	// make returns the k-th request (k counts every query of the phase)
	// and the check of its answer.
	make func(ctx context.Context, k int) (*http.Request, func(body []byte) error, error)

	mu       sync.Mutex
	lat      []time.Duration
	errs     int
	firstErr string
	skipped  int
	example  string
}

func (p *pattern) record(d time.Duration, err error, req string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.example == "" {
		p.example = req
	}
	if err != nil {
		if p.errs == 0 {
			p.firstErr = err.Error()
		}
		p.errs++
		return
	}
	p.lat = append(p.lat, d)
}

// mixed runs the phase against t, whose load has filled the span before
// cfg.End.
func mixed(ctx context.Context, cfg Config, t Target, devices []sim.Device, pr *progress) (*Mixed, error) {
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		MaxIdleConns: cfg.MixedInFlight + mixedIngestInFlight + 4, MaxIdleConnsPerHost: cfg.MixedInFlight + mixedIngestInFlight + 4,
		IdleConnTimeout: time.Minute,
	}}
	qcfg := cfg
	qcfg.Client = client
	m := &mixedRun{
		cfg: cfg, devices: devices,
		q:   &querier{cfg: qcfg, t: t, pr: pr, start: cfg.End.Add(-cfg.Span), end: cfg.End, busy: devices[0].ID},
		tag: fmt.Sprintf("mx%x", time.Now().UnixMilli()),
	}
	if err := m.probe(ctx); err != nil {
		return nil, err
	}
	res := &Mixed{Seconds: cfg.Mixed.Seconds(), QueriesPerSec: cfg.MixedQueries, InFlight: cfg.MixedInFlight}
	patterns := m.patterns()
	pr.line("mixed: %s of ingest at %s events/s and queries at %s/s", cfg.Mixed, thousands(cfg.MixedIngest), thousands(cfg.MixedQueries))

	begin := time.Now().Add(100 * time.Millisecond)
	end := begin.Add(cfg.Mixed)
	size, every := ingestStep(cfg.MixedIngest)
	m.acks = make([]atomic.Int64, int(cfg.Mixed/every)+2)

	tailCtx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	tail := &pattern{name: "live tail (SSE)"}
	var arrivals []arrival
	var early int
	var wg sync.WaitGroup
	wg.Go(func() { arrivals = m.tail(tailCtx, tail) })
	var ing MixedIngest
	wg.Go(func() { ing = m.ingest(ctx, begin, end, size, every) })
	res.Skipped = m.queries(ctx, begin, end, patterns)
	// Wait for the ingest, then give the stream a moment for the last
	// events before closing it.
	for ctx.Err() == nil && time.Now().Before(end.Add(tailGrace)) {
		time.Sleep(50 * time.Millisecond)
	}
	stopTail()
	wg.Wait()
	res.Ingest = ing

	var delays []time.Duration
	for _, a := range arrivals {
		if a.batch < 0 || a.batch >= len(m.acks) {
			continue
		}
		ack := m.acks[a.batch].Load()
		if ack == 0 {
			continue // its batch failed: the error is counted with ingest
		}
		d := time.Duration(a.at - ack)
		if d < 0 {
			early++
			d = 0
		}
		delays = append(delays, d)
	}
	tail.lat = delays

	for _, p := range append(patterns, tail) {
		mp := MixedPattern{Name: p.name, Request: p.example, Count: len(p.lat), Errors: p.errs, Skipped: p.skipped, FirstError: p.firstErr,
			P50Ms: ms(Percentile(p.lat, 0.50)), P99Ms: ms(Percentile(p.lat, 0.99)), MaxMs: ms(Percentile(p.lat, 1))}
		if p == tail {
			mp.EarlyEvents = early
		}
		res.Patterns = append(res.Patterns, mp)
	}
	if t.PID > 0 {
		if v := parseKB(procField("/proc/"+strconv.Itoa(t.PID)+"/status", "VmRSS")); v > 0 {
			res.RSSEndBytes = &v
		}
	}
	var errs []error
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("bench: mixed: %w", err))
	}
	if res.Ingest.Stored == 0 {
		errs = append(errs, errors.New("bench: mixed: the server stored no live event"))
	}
	return res, errors.Join(errs...)
}

// ingestStep returns the batch size and interval of live ingest at rate
// events/s: a batch every mixedIngestEvery, or fewer for rates under 20
// events/s so that a batch holds at least one event.
func ingestStep(rate float64) (int, time.Duration) {
	size := max(1, int(math.Round(rate*mixedIngestEvery.Seconds())))
	return size, time.Duration(float64(size) / rate * float64(time.Second))
}

// probe reads the sizes of the listings the deep pages go into.
func (m *mixedRun) probe(ctx context.Context) error {
	var b basipPage
	if err := m.q.fetchJSON(func(int64) (*http.Request, error) {
		return m.q.get(ctx, "/api/v1/log/items?page_number=1&limit=50&locale=en")
	}, 1, &b); err != nil {
		return fmt.Errorf("bench: mixed: basip: %w", err)
	}
	var a aipixPage
	if err := m.q.fetchJSON(func(int64) (*http.Request, error) {
		return m.q.get(ctx, "/api/admin/v1/intercoms/"+url.PathEscape(m.q.busy)+"/logs?per_page=100&page=1")
	}, 1, &a); err != nil {
		return fmt.Errorf("bench: mixed: aipix: %w", err)
	}
	m.basipPages, m.aipixPages = max(b.ListOption.Pagination.TotalPages, 1), max(a.Meta.LastPage, 1)
	return nil
}

// sleepUntil waits until t or ctx's end, and reports whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// ingest sends a batch of size live events every interval from begin to
// end, each at its scheduled time, at most mixedIngestInFlight at once.
func (m *mixedRun) ingest(ctx context.Context, begin, end time.Time, size int, every time.Duration) MixedIngest {
	res := MixedIngest{TargetPerSec: m.cfg.MixedIngest}
	sink := &sim.HTTPSink{BaseURL: m.q.t.BaseURL, Token: m.q.t.Token, Client: m.q.cfg.Client, MaxAttempts: 1}
	gen := sim.NewGenerator(m.cfg.Seed+1<<41, m.devices)
	sem := make(chan struct{}, mixedIngestInFlight)
	var (
		mu   sync.Mutex
		lat  []time.Duration
		wg   sync.WaitGroup
		last time.Time
	)
	for k := 0; k < len(m.acks); k++ {
		due := begin.Add(time.Duration(k) * every)
		if !due.Before(end) || !sleepUntil(ctx, due) {
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			res.SkippedEvents += int64(size)
			continue
		}
		items := make([]ingest.Item, size)
		for j := range items {
			now := time.Now().UTC()
			if now.Before(last) {
				now = last
			}
			last = now
			items[j] = gen.Next(now)
			items[j].SourceID = m.tag + "-" + strconv.Itoa(k) + "-" + strconv.Itoa(j)
		}
		res.Sent += int64(size)
		wg.Go(func() {
			defer func() { <-sem }()
			err := sink.Send(context.WithoutCancel(ctx), items)
			d := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if res.Errors == 0 {
					res.FirstError = err.Error()
				}
				res.Errors++
				return
			}
			m.acks[k].Store(time.Now().UnixNano())
			lat = append(lat, d)
		})
	}
	wg.Wait()
	res.Stored = sink.Totals().Accepted
	res.Batches = len(lat)
	res.EventsPerSec = float64(res.Stored) / end.Sub(begin).Seconds()
	res.P50Ms, res.P99Ms, res.MaxMs = ms(Percentile(lat, 0.50)), ms(Percentile(lat, 0.99)), ms(Percentile(lat, 1))
	return res
}

// queries fires the patterns' requests at cfg.MixedQueries a second from
// begin to end, in a fixed interleaving by weight, and returns how many
// were skipped because cfg.MixedInFlight were unanswered.
func (m *mixedRun) queries(ctx context.Context, begin, end time.Time, patterns []*pattern) int {
	order := interleave(patterns)
	every := time.Duration(float64(time.Second) / m.cfg.MixedQueries)
	sem := make(chan struct{}, m.cfg.MixedInFlight)
	skipped := 0
	var wg sync.WaitGroup
	for k := 0; ; k++ {
		due := begin.Add(time.Duration(k) * every)
		if !due.Before(end) || !sleepUntil(ctx, due) {
			break
		}
		p := order[k%len(order)]
		select {
		case sem <- struct{}{}:
		default:
			p.mu.Lock()
			p.skipped++
			p.mu.Unlock()
			skipped++
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			rctx := context.WithoutCancel(ctx)
			req, check, err := p.make(rctx, k)
			if err != nil {
				p.record(0, err, "")
				return
			}
			body, err := m.q.do(req)
			d := time.Since(due)
			if err == nil {
				err = check(body)
			}
			p.record(d, err, req.Method+" "+req.URL.RequestURI())
		})
	}
	wg.Wait()
	return skipped
}

// interleave spreads the patterns over a cycle of the sum of their weights
// by smooth weighted round robin, so that each comes back at even steps.
func interleave(patterns []*pattern) []*pattern {
	total := 0
	for _, p := range patterns {
		total += p.weight
	}
	cur := make([]int, len(patterns))
	out := make([]*pattern, 0, total)
	for range total {
		best := 0
		for i, p := range patterns {
			cur[i] += p.weight
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, patterns[best])
	}
	return out
}

// patterns returns the query patterns of the phase with their weights.
func (m *mixedRun) patterns() []*pattern {
	return []*pattern{
		{name: "basip poll from=last seen", weight: 5, make: m.basipPoll(nil)},
		{name: "basip poll from=last seen, category", weight: 3,
			make: m.basipPoll(url.Values{"filter_field": {"category"}, "filter_type": {"equal"}, "filter_value": {"access"}})},
		{name: "basip deep page", weight: 1, make: m.basipDeep},
		{name: "aipix deep page", weight: 1, make: m.aipixDeep},
		{name: "oloid cursor walk", weight: 2, make: m.oloidWalk()},
		{name: "native cursor walk", weight: 2, make: m.nativeWalk()},
		{name: "native device page", weight: 2, make: m.devicePage},
		{name: "stats hourly", weight: 1, make: m.simple("/v1/stats/hourly")},
		{name: "stats devices", weight: 1, make: m.simple("/v1/stats/devices")},
		{name: "export ndjson of an hour", weight: 2, make: m.exportHour},
	}
}

// basipPoll is a BAS-IP poller: page 1 of the events from the newest time
// it has seen (the newest timestamp of its last answer), as the pull
// collectors and integrations poll a panel's log. The pollers of a
// pattern share what they have seen.
func (m *mixedRun) basipPoll(extra url.Values) func(context.Context, int) (*http.Request, func([]byte) error, error) {
	var lastSeen atomic.Int64
	lastSeen.Store(m.cfg.End.UnixMilli())
	return func(ctx context.Context, _ int) (*http.Request, func([]byte) error, error) {
		p := cloneValues(extra)
		p.Set("from", strconv.FormatInt(lastSeen.Load(), 10))
		p.Set("page_number", "1")
		p.Set("limit", "50")
		p.Set("locale", "en")
		req, err := m.q.get(ctx, "/api/v1/log/items?"+p.Encode())
		return req, func(body []byte) error {
			var page struct {
				ListItems []struct {
					Timestamp int64 `json:"timestamp"`
				} `json:"list_items"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				return err
			}
			for _, it := range page.ListItems {
				for {
					old := lastSeen.Load()
					if it.Timestamp <= old || lastSeen.CompareAndSwap(old, it.Timestamp) {
						break
					}
				}
			}
			return nil
		}, err
	}
}

func (m *mixedRun) basipDeep(ctx context.Context, k int) (*http.Request, func([]byte) error, error) {
	page := pageAt(max(1, int64(math.Ceil(0.9*float64(m.basipPages)))), m.basipPages, true, k)
	req, err := m.q.get(ctx, "/api/v1/log/items?limit=50&locale=en&page_number="+strconv.FormatInt(page, 10))
	return req, func(body []byte) error {
		var p basipPage
		if err := json.Unmarshal(body, &p); err != nil {
			return err
		}
		if len(p.ListItems) == 0 {
			return fmt.Errorf("page %d is empty", page)
		}
		return nil
	}, err
}

func (m *mixedRun) aipixDeep(ctx context.Context, k int) (*http.Request, func([]byte) error, error) {
	page := pageAt(max(1, int64(math.Ceil(0.9*float64(m.aipixPages)))), m.aipixPages, true, k)
	req, err := m.q.get(ctx, "/api/admin/v1/intercoms/"+url.PathEscape(m.q.busy)+"/logs?per_page=100&page="+strconv.FormatInt(page, 10))
	return req, func(body []byte) error {
		var p aipixPage
		if err := json.Unmarshal(body, &p); err != nil {
			return err
		}
		if len(p.Data) == 0 {
			return fmt.Errorf("page %d is empty", page)
		}
		return nil
	}, err
}

// cursorWalk is a walk through a cursor API shared by the requests of a
// pattern: each asks for the page after the newest cursor answered (the
// first page when there is none, or when the walk reached the end).
type cursorWalk struct {
	mu     sync.Mutex
	cursor string
}

func (c *cursorWalk) get() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cursor
}

func (c *cursorWalk) set(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cursor = s
}

func (m *mixedRun) oloidWalk() func(context.Context, int) (*http.Request, func([]byte) error, error) {
	var w cursorWalk
	return func(ctx context.Context, _ int) (*http.Request, func([]byte) error, error) {
		body := map[string]any{"limit": 100}
		if c := w.get(); c != "" {
			body["nextToken"] = c
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		req, err := m.q.post(ctx, "/filterActivity", string(b))
		return req, func(body []byte) error {
			var p struct {
				Data struct {
					Activities []json.RawMessage `json:"activities"`
					NextToken  *string           `json:"nextToken"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				return err
			}
			if len(p.Data.Activities) == 0 {
				return errors.New("empty page")
			}
			next := ""
			if p.Data.NextToken != nil {
				next = *p.Data.NextToken
			}
			w.set(next)
			return nil
		}, err
	}
}

func (m *mixedRun) nativeWalk() func(context.Context, int) (*http.Request, func([]byte) error, error) {
	var w cursorWalk
	return func(ctx context.Context, _ int) (*http.Request, func([]byte) error, error) {
		path := "/v1/events?limit=100"
		if c := w.get(); c != "" {
			path += "&cursor=" + url.QueryEscape(c)
		}
		req, err := m.q.get(ctx, path)
		return req, func(body []byte) error {
			var p nativePage
			if err := json.Unmarshal(body, &p); err != nil {
				return err
			}
			if len(p.Events) == 0 {
				return errors.New("empty page")
			}
			next := ""
			if p.NextCursor != nil {
				next = *p.NextCursor
			}
			w.set(next)
			return nil
		}, err
	}
}

// nativePage is the part of a native listing the bench reads.
type nativePage struct {
	Events     []json.RawMessage `json:"events"`
	NextCursor *string           `json:"next_cursor"`
}

// devicePage is the first native page of one device's events, the device
// going round the population, as a device's page in an app is read.
func (m *mixedRun) devicePage(ctx context.Context, k int) (*http.Request, func([]byte) error, error) {
	dev := m.devices[k%len(m.devices)].ID
	req, err := m.q.get(ctx, "/v1/events?limit=100&device_id="+url.QueryEscape(dev))
	return req, func(body []byte) error {
		var p nativePage
		return json.Unmarshal(body, &p)
	}, err
}

// simple is a GET whose answer must be JSON.
func (m *mixedRun) simple(path string) func(context.Context, int) (*http.Request, func([]byte) error, error) {
	return func(ctx context.Context, _ int) (*http.Request, func([]byte) error, error) {
		req, err := m.q.get(ctx, path)
		return req, func(body []byte) error {
			if !json.Valid(body) {
				return errors.New("the answer is not JSON")
			}
			return nil
		}, err
	}
}

// exportHour exports one hour of the loaded span, a different hour for
// each request (drawn with a generator seeded by the request's number, so
// that runs repeat).
func (m *mixedRun) exportHour(ctx context.Context, k int) (*http.Request, func([]byte) error, error) {
	hours := max(int64(m.cfg.Span/time.Hour), 1)
	rng := rand.New(rand.NewPCG(uint64(m.cfg.Seed), uint64(k)))
	from := m.cfg.End.Add(-m.cfg.Span).Add(time.Duration(rng.Int64N(hours)) * time.Hour)
	req, err := m.q.get(ctx, "/v1/events/export?format=ndjson&from="+strconv.FormatInt(from.UnixMilli(), 10)+
		"&to="+strconv.FormatInt(from.Add(time.Hour).UnixMilli()-1, 10))
	if req != nil {
		req.Header.Set("Accept", "application/x-ndjson")
	}
	return req, func(body []byte) error {
		for line := range bytes.Lines(body) {
			if !json.Valid(line) {
				return errors.New("a line is not JSON")
			}
		}
		return nil
	}, err
}

// arrival is one of the phase's events received by the live tail: its
// ingest batch and when it came (Unix ns).
type arrival struct {
	batch int
	at    int64
}

// tail reads the live stream of the first device's site, as a guard's
// screen follows a building, until ctx ends, and returns the phase's
// events it received. A stream that breaks is counted as an error of p and
// opened again.
func (m *mixedRun) tail(ctx context.Context, p *pattern) []arrival {
	var out []arrival
	path := "/v1/events/stream?site_id=" + url.QueryEscape(m.devices[0].SiteID)
	p.example = "GET " + path
	client := &http.Client{Transport: m.q.cfg.Client.Transport}
	for ctx.Err() == nil {
		req, err := m.q.get(ctx, path)
		if err != nil {
			p.errs++
			return out
		}
		req.Header.Set("Accept", "text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				p.errs++
				sleepCtx(ctx, 100*time.Millisecond)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			p.errs++
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		prefix := `"source_id":"` + m.tag + "-"
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "data: ") {
				continue
			}
			at := time.Now().UnixNano()
			_, rest, ok := strings.Cut(line, prefix)
			if !ok {
				continue
			}
			num, _, _ := strings.Cut(rest, "-")
			if b, err := strconv.Atoi(num); err == nil {
				out = append(out, arrival{batch: b, at: at})
			}
		}
		resp.Body.Close()
		if ctx.Err() == nil {
			p.errs++
		}
	}
	return out
}
