package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/sim"
)

// The dense-window case (Config.Dense): after the load, the queries and
// the export, Dense more events are sent whose times all fall in the minute
// before cfg.End, spread evenly, from the same devices, in time order and
// with source ids of their own; then the requests that real pollers and the
// web page make at the present are timed against that minute. The load
// spreads its events over 90 days, a dozen to the minute at 1M; a busy
// site's bulk delivery or a collector catching up puts millions into one
// minute, where a count that reads the events rather than the store's
// rolled-up counts shows. Every total is checked against what was sent: it
// must be the total the same request had before the dense events were sent
// plus the dense events sent that the request takes in.

const (
	// denseWindow is how far before cfg.End the dense events begin.
	denseWindow = time.Minute
	// denseSeed is added to Config.Seed for the dense events' generator,
	// so that they are not the load's events again.
	denseSeed = 3 << 40
	// TargetStatsMs is the p99 of a /v1/stats request (issue 14).
	TargetStatsMs = 50
)

// Dense is what the dense-window case measured.
type Dense struct {
	// Events is how many events were sent into the window.
	Events int `json:"events"`
	// From and To are the window: the dense events' times are spread
	// evenly over [From, To), To being the bench's end time.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Ingest is the sending of the dense events (in time order, made as
	// they were sent).
	Ingest Ingest `json:"ingest"`
	// Queries are the requests timed against the window. Their Total,
	// when set, was checked on every answer against the events sent.
	Queries []Query `json:"queries"`
}

// countSpec is the events a request counts: times from from to to (Unix
// milliseconds, both included), of one category and one priority ("" for
// any).
type countSpec struct {
	from, to int64
	category doorlog.Category
	priority doorlog.Priority
}

// denseTally counts, for each countSpec, the dense events sent that it takes
// in. The source it belongs to calls add under its lock.
type denseTally struct {
	cat   *catalog.Catalog
	specs []countSpec
	n     []int64
}

func (t *denseTally) add(at time.Time, key string) {
	ms := at.UnixMilli() // what the generator writes: the time to the millisecond, truncated
	e := t.cat.Entry(key)
	for i, s := range t.specs {
		if ms >= s.from && ms <= s.to && (s.category == "" || s.category == e.Category) && (s.priority == "" || s.priority == e.Priority) {
			t.n[i]++
		}
	}
}

// denseQuery is one request of the dense case.
type denseQuery struct {
	name, api string
	targetMs  float64
	path      string
	// page is the page asked for, for the APIs that page by number.
	page int64
	// counts, when set, is what the request counts, so that its total is
	// checked against the events sent.
	counts *countSpec
	// read checks an answer and returns its total (what counts counts).
	read func(body []byte) (int64, error)
}

// denseQueries returns the requests of the dense case for a bench whose
// events end at end and whose population has devices devices.
func denseQueries(end time.Time, devices int) []denseQuery {
	endMs := end.UnixMilli()
	back := func(d time.Duration) int64 { return end.Add(-d).UnixMilli() }
	open := int64(math.MaxInt64)
	basip := func(name string, from int64, spec countSpec, filter url.Values) denseQuery {
		p := url.Values{"from": {strconv.FormatInt(from, 10)}, "limit": {"50"}, "locale": {"en"}, "page_number": {"1"}}
		for k, v := range filter {
			p[k] = v
		}
		spec.from, spec.to = from, open
		return denseQuery{name: name, api: "basip", targetMs: TargetPageMs, path: "/api/v1/log/items?" + p.Encode(), page: 1, counts: &spec, read: readBasip}
	}
	stats := func(name, path string, from int64, read func([]byte) (int64, error)) denseQuery {
		p := url.Values{"from": {strconv.FormatInt(from, 10)}, "to": {strconv.FormatInt(endMs, 10)}}
		return denseQuery{name: name, api: "native", targetMs: TargetStatsMs, path: path + "?" + p.Encode(),
			counts: &countSpec{from: from, to: endMs}, read: read}
	}
	nativeFrom := back(denseWindow)
	return []denseQuery{
		// A poller that asks every half minute for what came since.
		basip("dense basip from=-30s", back(30*time.Second), countSpec{}, nil),
		// One that asks every minute: the whole dense minute.
		basip("dense basip from=-60s", back(time.Minute), countSpec{}, nil),
		basip("dense basip from=-30s, category", back(30*time.Second), countSpec{category: doorlog.CategoryAccess},
			url.Values{"filter_field": {"category"}, "filter_type": {"equal"}, "filter_value": {string(doorlog.CategoryAccess)}}),
		// An alarm integration: the critical events of the last hour.
		basip("dense basip last hour, priority", back(time.Hour), countSpec{priority: doorlog.PriorityCritical},
			url.Values{"filter_field": {"priority"}, "filter_type": {"equal"}, "filter_value": {string(doorlog.PriorityCritical)}}),
		{name: "dense native window", api: "native", targetMs: TargetPageMs,
			path:   "/v1/events?" + url.Values{"from": {strconv.FormatInt(nativeFrom, 10)}, "to": {strconv.FormatInt(endMs, 10)}, "limit": {"100"}, "count": {"exact"}}.Encode(),
			counts: &countSpec{from: nativeFrom, to: endMs}, read: readNativeCount},
		// The web page's charts: a day by hour, and the last hour by minute.
		stats("dense stats hourly, last day", "/v1/stats/hourly", back(24*time.Hour), readCounts("hours")),
		stats("dense stats timeline, last hour", "/v1/stats/timeline", back(time.Hour), readCounts("buckets")),
		// The devices view: each device's last event and today's grants
		// and denials ("today" is the server's, so it is not checked).
		{name: "dense stats devices", api: "native", targetMs: TargetStatsMs, path: "/v1/stats/devices",
			read: func(body []byte) (int64, error) {
				var p struct {
					Devices []json.RawMessage `json:"devices"`
				}
				if err := json.Unmarshal(body, &p); err != nil {
					return 0, err
				}
				if len(p.Devices) != devices {
					return 0, fmt.Errorf("%d devices, want %d", len(p.Devices), devices)
				}
				return 0, nil
			}},
	}
}

// readBasip returns a BAS-IP page's total_items; a page 1 of a listing
// that has events must hold some.
func readBasip(body []byte) (int64, error) {
	var p basipPage
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, err
	}
	total := p.ListOption.Pagination.TotalItems
	if total > 0 && len(p.ListItems) == 0 {
		return 0, fmt.Errorf("an empty page of a listing of %d", total)
	}
	return total, nil
}

// readNativeCount returns the exact count of a native page.
func readNativeCount(body []byte) (int64, error) {
	var p struct {
		Events     []json.RawMessage `json:"events"`
		Count      *int64            `json:"count"`
		CountExact bool              `json:"count_exact"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, err
	}
	if p.Count == nil || !p.CountExact {
		return 0, errors.New("no exact count")
	}
	if *p.Count > 0 && len(p.Events) == 0 {
		return 0, fmt.Errorf("an empty page of a listing of %d", *p.Count)
	}
	return *p.Count, nil
}

// readCounts returns the sum of every category of a stats answer's list
// named field (the hours or the buckets).
func readCounts(field string) func([]byte) (int64, error) {
	return func(body []byte) (int64, error) {
		var p map[string]json.RawMessage
		if err := json.Unmarshal(body, &p); err != nil {
			return 0, err
		}
		var rows []struct {
			Access    int64 `json:"access"`
			Emergency int64 `json:"emergency"`
			System    int64 `json:"system"`
			Info      int64 `json:"info"`
		}
		if err := json.Unmarshal(p[field], &rows); err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		if len(rows) == 0 {
			return 0, fmt.Errorf("no %s", field)
		}
		var sum int64
		for _, r := range rows {
			sum += r.Access + r.Emergency + r.System + r.Info
		}
		return sum, nil
	}
}

// dense runs the dense-window case against t, whose load, queries and
// export have run: it reads what each counting request answers before,
// sends cfg.Dense events into the minute before cfg.End, then times every
// request and checks its total on every answer.
func dense(ctx context.Context, cfg Config, t Target, devices []sim.Device, q *querier, pr *progress) (*Dense, error) {
	res := &Dense{Events: cfg.Dense, From: cfg.End.Add(-denseWindow), To: cfg.End}
	cat, err := catalog.New()
	if err != nil {
		return res, fmt.Errorf("bench: dense: %w", err)
	}
	queries := denseQueries(cfg.End, len(devices))
	tl := &denseTally{cat: cat}
	before := make([]int64, len(queries))
	spec := make([]int, len(queries)) // the query's index in tl.specs, -1 for none
	for i, dq := range queries {
		spec[i] = -1
		if dq.counts == nil {
			continue
		}
		// What the load put in the request's window already.
		req, err := q.get(ctx, dq.path)
		if err != nil {
			return res, err
		}
		body, err := q.do(req)
		if err == nil {
			before[i], err = dq.read(body)
		}
		if err != nil {
			return res, fmt.Errorf("bench: %s: before the dense events: %w", dq.name, err)
		}
		spec[i] = len(tl.specs)
		tl.specs = append(tl.specs, *dq.counts)
	}
	tl.n = make([]int64, len(tl.specs))

	src := &timeSource{
		f: feed{gen: sim.NewGenerator(cfg.Seed+denseSeed, devices), start: res.From,
			step: denseWindow / time.Duration(cfg.Dense), total: cfg.Dense},
		tally: tl,
		// Fresh per run: a second run against the same server (--url)
		// must not find them duplicates, or the totals would be off.
		ids: "dense" + strconv.FormatInt(cfg.End.UnixMilli(), 36) + "-",
	}
	pr.line("dense: %s events into the minute from %s to %s", thousands(float64(cfg.Dense)),
		res.From.Format(time.RFC3339), res.To.Format(time.RFC3339))
	res.Ingest, err = send(ctx, cfg, newDoorlogSink(cfg, t), "dense", cfg.Dense, func(int) batchSource { return src }, pr, nil)
	res.Ingest.Arrival = ArrivalTime
	if err != nil {
		return res, err
	}
	if in := res.Ingest; in.Stored != int64(cfg.Dense) {
		return res, fmt.Errorf("bench: dense: %d of %d events stored (%d duplicates, %d rejected), so no total can be checked",
			in.Stored, cfg.Dense, in.Duplicates, in.Rejected)
	}

	for i, dq := range queries {
		want := int64(-1)
		if spec[i] >= 0 {
			want = before[i] + tl.n[spec[i]]
		}
		qr, err := q.sample(ctx, dq.name, dq.api, dq.targetMs, sampler{
			req: func(int) (*http.Request, error) { return q.get(ctx, dq.path) },
			check: func(_ int, body []byte) error {
				n, err := dq.read(body)
				if err != nil {
					return err
				}
				if want >= 0 && n != want {
					return fmt.Errorf("total %d, want %d (%d before the dense events and %d dense events sent in its window)",
						n, want, before[i], want-before[i])
				}
				return nil
			},
		})
		if want >= 0 {
			qr.Total = want
		}
		qr.Page = dq.page
		res.Queries = append(res.Queries, qr)
		if err != nil {
			return res, err
		}
	}
	pr.done()
	return res, nil
}
