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
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency targets of a page, in milliseconds.
const (
	// TargetPageMs is the p99 of a BAS-IP or AIPIX page with its exact
	// total, at any depth, filter and window.
	TargetPageMs = 10
	// TargetCursorMs is the p99 of an OLOID or native cursor page.
	TargetCursorMs = 3
)

// Query is the latency of one kind of request.
type Query struct {
	// Name says which request, such as "basip filter deep".
	Name string `json:"name"`
	// API is basip, aipix, oloid or native.
	API string `json:"api"`
	// Request is an example of the request made (the first sample's).
	Request string `json:"request"`
	// Samples is how many requests were timed.
	Samples int `json:"samples"`
	// P50Ms, P99Ms and MaxMs are the latencies, from sending the request
	// to having read the whole answer, in milliseconds.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Total is the number of events the API said the listing has, for the
	// APIs that count.
	Total int64 `json:"total,omitempty"`
	// Page is the page asked for, for the APIs that page by number.
	Page int64 `json:"page,omitempty"`
	// TargetMs is the p99 the project aims for.
	TargetMs float64 `json:"target_p99_ms"`
}

// Export is what the export measured.
type Export struct {
	// Request is the request made.
	Request string `json:"request"`
	// Events and Bytes are what was read (one event per NDJSON line).
	Events int64 `json:"events"`
	Bytes  int64 `json:"bytes"`
	// Seconds is the time from the request to the end of the answer.
	Seconds float64 `json:"seconds"`
	// EventsPerSec is Events / Seconds.
	EventsPerSec float64 `json:"events_per_sec"`
}

// querier times the read APIs of one target.
type querier struct {
	cfg        Config
	t          Target
	pr         *progress
	start, end time.Time
	// busy is the device whose AIPIX log is paged.
	busy string
}

// sampler makes the i-th request of a query and checks its answer; the
// check runs after the timing.
type sampler struct {
	req   func(i int) (*http.Request, error)
	check func(i int, body []byte) error
}

// all times every query.
func (q *querier) all(ctx context.Context) ([]Query, error) {
	var out []Query
	add := func(qs []Query, err error) error {
		out = append(out, qs...)
		return err
	}
	if err := add(q.basip(ctx)); err != nil {
		return out, err
	}
	if err := add(q.aipix(ctx)); err != nil {
		return out, err
	}
	if err := add(q.oloid(ctx)); err != nil {
		return out, err
	}
	if err := add(q.native(ctx)); err != nil {
		return out, err
	}
	q.pr.done()
	return out, nil
}

// basipPage is the part of a BAS-IP log answer the bench reads.
type basipPage struct {
	ListOption struct {
		Pagination struct {
			TotalItems int64 `json:"total_items"`
			TotalPages int64 `json:"total_pages"`
		} `json:"pagination"`
	} `json:"list_option"`
	ListItems []json.RawMessage `json:"list_items"`
}

// positions are the pages timed of a numbered listing of pages pages:
// first, middle, last and deep (at 90 %). Middle and deep move by up to
// four pages between samples so that not every sample reads the same rows.
func positions(pages int64) []struct {
	name   string
	page   int64
	spread bool
} {
	pages = max(pages, 1)
	return []struct {
		name   string
		page   int64
		spread bool
	}{
		{"page 1", 1, false},
		{"middle", max(1, pages/2), true},
		{"last", pages, false},
		{"deep 90%", max(1, int64(math.Ceil(0.9*float64(pages)))), true},
	}
}

func pageAt(base, pages int64, spread bool, i int) int64 {
	if !spread {
		return base
	}
	return min(pages, base+int64(i%5))
}

func (q *querier) basip(ctx context.Context) ([]Query, error) {
	from, to := windowOf(q.start, q.end)
	window := url.Values{
		"from": {strconv.FormatInt(from.UnixMilli(), 10)},
		"to":   {strconv.FormatInt(to.UnixMilli(), 10)},
	}
	filter := url.Values{"filter_field": {"category"}, "filter_type": {"equal"}, "filter_value": {"access"}}
	variants := []struct {
		name string
		vals []url.Values
	}{
		{"basip", nil},
		{"basip filter", []url.Values{filter}},
		{"basip window", []url.Values{window}},
		{"basip filter+window", []url.Values{filter, window}},
	}
	var out []Query
	for _, v := range variants {
		params := url.Values{"limit": {"50"}, "locale": {"en"}}
		for _, extra := range v.vals {
			for k, vs := range extra {
				params[k] = vs
			}
		}
		get := func(page int64) (*http.Request, error) {
			p := cloneValues(params)
			p.Set("page_number", strconv.FormatInt(page, 10))
			return q.get(ctx, "/api/v1/log/items?"+p.Encode())
		}
		var first basipPage
		if err := q.fetchJSON(get, 1, &first); err != nil {
			return out, fmt.Errorf("bench: %s: %w", v.name, err)
		}
		total, pages := first.ListOption.Pagination.TotalItems, first.ListOption.Pagination.TotalPages
		if total == 0 {
			return out, fmt.Errorf("bench: %s: the listing is empty", v.name)
		}
		for _, pos := range positions(pages) {
			name := v.name + " " + pos.name
			qr, err := q.sample(ctx, name, "basip", TargetPageMs, sampler{
				req: func(i int) (*http.Request, error) { return get(pageAt(pos.page, pages, pos.spread, i)) },
				check: func(i int, body []byte) error {
					var p basipPage
					if err := json.Unmarshal(body, &p); err != nil {
						return err
					}
					if p.ListOption.Pagination.TotalItems != total || len(p.ListItems) == 0 {
						return fmt.Errorf("page %d: %d items of %d, want some of %d",
							pageAt(pos.page, pages, pos.spread, i), len(p.ListItems), p.ListOption.Pagination.TotalItems, total)
					}
					return nil
				},
			})
			qr.Total, qr.Page = total, pos.page
			out = append(out, qr)
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// aipixPage is the part of an AIPIX log answer the bench reads.
type aipixPage struct {
	Data []json.RawMessage `json:"data"`
	Meta struct {
		Total    int64 `json:"total"`
		LastPage int64 `json:"last_page"`
	} `json:"meta"`
}

func (q *querier) aipix(ctx context.Context) ([]Query, error) {
	get := func(page int64) (*http.Request, error) {
		return q.get(ctx, "/api/admin/v1/intercoms/"+url.PathEscape(q.busy)+"/logs?per_page=100&page="+strconv.FormatInt(page, 10))
	}
	var first aipixPage
	if err := q.fetchJSON(get, 1, &first); err != nil {
		return nil, fmt.Errorf("bench: aipix: %w", err)
	}
	total, pages := first.Meta.Total, first.Meta.LastPage
	if total == 0 {
		return nil, fmt.Errorf("bench: aipix: intercom %s has no event", q.busy)
	}
	var out []Query
	for _, pos := range positions(pages) {
		if pos.name == "middle" {
			continue
		}
		name := "aipix " + pos.name
		qr, err := q.sample(ctx, name, "aipix", TargetPageMs, sampler{
			req: func(i int) (*http.Request, error) { return get(pageAt(pos.page, pages, pos.spread, i)) },
			check: func(_ int, body []byte) error {
				var p aipixPage
				if err := json.Unmarshal(body, &p); err != nil {
					return err
				}
				if p.Meta.Total != total || len(p.Data) == 0 {
					return fmt.Errorf("%d items of %d, want some of %d", len(p.Data), p.Meta.Total, total)
				}
				return nil
			},
		})
		qr.Total, qr.Page = total, pos.page
		out = append(out, qr)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// walk times a cursor API: the first page again and again, then a walk of
// next pages from the newest event on, starting over at the end.
func (q *querier) walk(ctx context.Context, api string, first func() (*http.Request, error),
	next func(cursor string) (*http.Request, error), parse func(body []byte) (n int, cursor string, err error)) ([]Query, error) {
	var out []Query
	qr, err := q.sample(ctx, api+" first page", api, TargetCursorMs, sampler{
		req: func(int) (*http.Request, error) { return first() },
		check: func(_ int, body []byte) error {
			n, _, err := parse(body)
			if err == nil && n == 0 {
				err = errors.New("empty first page")
			}
			return err
		},
	})
	out = append(out, qr)
	if err != nil {
		return out, err
	}
	// The cursor of the page before each sample.
	cursor := ""
	restart := func() error {
		req, err := first()
		if err != nil {
			return err
		}
		body, err := q.do(req)
		if err != nil {
			return err
		}
		_, cursor, err = parse(body)
		if err == nil && cursor == "" {
			err = errors.New("the listing has a single page")
		}
		return err
	}
	if err := restart(); err != nil {
		return out, fmt.Errorf("bench: %s: %w", api, err)
	}
	qr, err = q.sample(ctx, api+" next page", api, TargetCursorMs, sampler{
		req: func(int) (*http.Request, error) { return next(cursor) },
		check: func(_ int, body []byte) error {
			n, c, err := parse(body)
			if err != nil {
				return err
			}
			if n == 0 {
				return errors.New("empty page")
			}
			cursor = c
			if cursor == "" {
				return restart()
			}
			return nil
		},
	})
	return append(out, qr), err
}

func (q *querier) oloid(ctx context.Context) ([]Query, error) {
	post := func(body string) (*http.Request, error) { return q.post(ctx, "/filterActivity", body) }
	return q.walk(ctx, "oloid",
		func() (*http.Request, error) { return post(`{"limit":100}`) },
		func(c string) (*http.Request, error) {
			b, err := json.Marshal(map[string]any{"nextToken": c, "limit": 100})
			if err != nil {
				return nil, err
			}
			return post(string(b))
		},
		func(body []byte) (int, string, error) {
			var p struct {
				Data struct {
					Activities []json.RawMessage `json:"activities"`
					NextToken  *string           `json:"nextToken"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				return 0, "", err
			}
			c := ""
			if p.Data.NextToken != nil {
				c = *p.Data.NextToken
			}
			return len(p.Data.Activities), c, nil
		})
}

func (q *querier) native(ctx context.Context) ([]Query, error) {
	return q.walk(ctx, "native",
		func() (*http.Request, error) { return q.get(ctx, "/v1/events?limit=100") },
		func(c string) (*http.Request, error) {
			return q.get(ctx, "/v1/events?limit=100&cursor="+url.QueryEscape(c))
		},
		func(body []byte) (int, string, error) {
			var p struct {
				Events     []json.RawMessage `json:"events"`
				NextCursor *string           `json:"next_cursor"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				return 0, "", err
			}
			c := ""
			if p.NextCursor != nil {
				c = *p.NextCursor
			}
			return len(p.Events), c, nil
		})
}

// export reads the whole set as NDJSON.
func (q *querier) export(ctx context.Context) (Export, error) {
	path := "/v1/events/export?format=ndjson"
	ex := Export{Request: "GET " + path}
	req, err := q.get(ctx, path)
	if err != nil {
		return ex, err
	}
	q.pr.status("export: reading every event as NDJSON…")
	defer q.pr.done()
	began := time.Now()
	resp, err := q.cfg.Client.Do(req)
	if err != nil {
		return ex, fmt.Errorf("bench: export: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return ex, fmt.Errorf("bench: export: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	r := bufio.NewReaderSize(resp.Body, 1<<20)
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		ex.Bytes += int64(n)
		ex.Events += int64(bytes.Count(buf[:n], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ex, fmt.Errorf("bench: export: read after %d events: %w", ex.Events, err)
		}
	}
	ex.Seconds = time.Since(began).Seconds()
	if ex.Events == 0 {
		return ex, errors.New("bench: export: no event")
	}
	ex.EventsPerSec = float64(ex.Events) / ex.Seconds
	return ex, nil
}

// sample times a query: a few warm-up requests, then up to cfg.Samples
// timed ones within cfg.QueryBudget (at least minSamples).
func (q *querier) sample(ctx context.Context, name, api string, targetMs float64, s sampler) (Query, error) {
	return q.sampleAll(ctx, name, api, targetMs, multiSampler{
		reqs: func(i int) ([]*http.Request, error) {
			req, err := s.req(i)
			return []*http.Request{req}, err
		},
		check: func(i int, bodies [][]byte) error { return s.check(i, bodies[0]) },
	})
}

// multiSampler makes the requests of the i-th sample of a query, sent one
// after the other and timed together, and checks their answers after the
// timing. A VictoriaLogs page with its total is two requests, where
// doorlog's is one.
type multiSampler struct {
	reqs  func(i int) ([]*http.Request, error)
	check func(i int, bodies [][]byte) error
	// describe, when set, is the Request recorded for the i-th sample;
	// otherwise it is the requests' method and URI.
	describe func(i int) string
}

// sampleAll is sample for a query of one or more requests.
func (q *querier) sampleAll(ctx context.Context, name, api string, targetMs float64, s multiSampler) (Query, error) {
	qr := Query{Name: name, API: api, TargetMs: targetMs}
	doAll := func(reqs []*http.Request) ([][]byte, error) {
		bodies := make([][]byte, len(reqs))
		for k, req := range reqs {
			body, err := q.do(req)
			if err != nil {
				return nil, err
			}
			bodies[k] = body
		}
		return bodies, nil
	}
	for range warmups {
		reqs, err := s.reqs(0)
		if err != nil {
			return qr, fmt.Errorf("bench: %s: %w", name, err)
		}
		if _, err := doAll(reqs); err != nil {
			return qr, fmt.Errorf("bench: %s: warm-up: %w", name, err)
		}
	}
	lat := make([]time.Duration, 0, q.cfg.Samples)
	began := time.Now()
	for i := range q.cfg.Samples {
		if i >= minSamples && time.Since(began) > q.cfg.QueryBudget {
			break
		}
		if i%10 == 0 {
			q.pr.status("query %s: %d/%d", name, i, q.cfg.Samples)
		}
		reqs, err := s.reqs(i)
		if err != nil {
			return qr, fmt.Errorf("bench: %s: %w", name, err)
		}
		if i == 0 {
			if s.describe != nil {
				qr.Request = s.describe(i)
			} else {
				var parts []string
				for _, req := range reqs {
					parts = append(parts, req.Method+" "+req.URL.RequestURI())
				}
				qr.Request = strings.Join(parts, " + ")
			}
		}
		t0 := time.Now()
		bodies, err := doAll(reqs)
		d := time.Since(t0)
		if err != nil {
			return qr, fmt.Errorf("bench: %s: sample %d: %w", name, i, err)
		}
		lat = append(lat, d)
		if err := s.check(i, bodies); err != nil {
			return qr, fmt.Errorf("bench: %s: sample %d: %w", name, i, err)
		}
		if err := ctx.Err(); err != nil {
			return qr, fmt.Errorf("bench: %s: %w", name, err)
		}
	}
	qr.Samples = len(lat)
	qr.P50Ms, qr.P99Ms, qr.MaxMs = ms(Percentile(lat, 0.50)), ms(Percentile(lat, 0.99)), ms(Percentile(lat, 1))
	if !q.pr.terminal {
		q.pr.line("query %s: p50 %.2f ms, p99 %.2f ms (%d samples)", name, qr.P50Ms, qr.P99Ms, qr.Samples)
	}
	return qr, nil
}

// Percentile returns the p-th quantile (0 < p ≤ 1) of ds by the
// nearest-rank method, or 0 for no durations. ds is not changed.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (q *querier) get(ctx context.Context, path string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.t.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	if q.t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+q.t.Token)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

func (q *querier) post(ctx context.Context, path, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.t.BaseURL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+q.t.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// do makes a request and reads its whole answer, which must be a 200.
func (q *querier) do(req *http.Request) ([]byte, error) {
	resp, err := q.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", req.Method, req.URL.RequestURI(), err)
	}
	if resp.StatusCode != http.StatusOK {
		if len(body) > 300 {
			body = body[:300]
		}
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.RequestURI(), resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// fetchJSON gets page page with get and decodes the answer into v.
func (q *querier) fetchJSON(get func(page int64) (*http.Request, error), page int64, v any) error {
	req, err := get(page)
	if err != nil {
		return err
	}
	body, err := q.do(req)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// cloneValues copies url.Values.
func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+1)
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
