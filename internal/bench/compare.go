package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/sim"
)

// The side by side (Config.VictoriaLogs): after the doorlog run, the same
// events go into a VictoriaLogs the bench starts (victorialogs.go), and the
// same five questions are timed on both stores, doorlog through its APIs
// and VictoriaLogs through LogsQL. Every answer of either store is checked
// against what the generated events hold (Expected), counted as the loads
// made them, and VictoriaLogs' first answer of each listing must have the
// very event times of doorlog's.

// compareWindow is the length of the compared window, that of the BAS-IP
// window queries.
const compareWindow = 7 * 24 * time.Hour

// Page sizes of the compared listings: BAS-IP's 50 and AIPIX's 100, as in
// doorlog's own queries.
const (
	comparePage       = 50
	compareDevicePage = 100
)

// SideBySide is doorlog and VictoriaLogs on the same events and the
// equivalent queries.
type SideBySide struct {
	// Expected is what the generated events hold, which every answer of
	// both stores was checked against.
	Expected Expected `json:"expected"`
	// Doorlog is doorlog's latencies of the compared queries.
	Doorlog []Query `json:"doorlog_queries"`
	// DoorlogLoadRSSBytes is doorlog's peak RSS up to the end of its load,
	// before the queries; null when unknown.
	DoorlogLoadRSSBytes *int64 `json:"doorlog_load_max_rss_bytes"`
	// VictoriaLogs is VictoriaLogs' figures; null when it did not run.
	VictoriaLogs *VictoriaLogs `json:"victorialogs"`
}

// windowOf returns the window of the BAS-IP window queries and of the side
// by side: a week from the middle of the span, both ends inclusive at the
// millisecond.
func windowOf(start, end time.Time) (from, to time.Time) {
	mid := start.Add(end.Sub(start) / 2)
	return mid, mid.Add(compareWindow - time.Millisecond)
}

// comparison is the state the two sides of the side by side share.
type comparison struct {
	cfg      Config
	devices  []sim.Device
	sites    map[string]string // device id → site id
	cat      *catalog.Catalog
	from, to time.Time
	busy     string
	// doorlogLoad counts the doorlog load's events; want is its result.
	doorlogLoad *tally
	want        Expected
	// hours is the window's events per hour and category.
	hours map[hourCategory]int64
	// times holds, per compared query, the event times (Unix ms) of
	// doorlog's first answer, which VictoriaLogs' first must repeat.
	times map[string][]int64
}

func newComparison(cfg Config, devices []sim.Device) (*comparison, error) {
	cat, err := catalog.New()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	c := &comparison{cfg: cfg, devices: devices, cat: cat, sites: map[string]string{}, times: map[string][]int64{}}
	for _, d := range devices {
		c.sites[d.ID] = d.SiteID
	}
	if len(devices) > 0 {
		c.busy = devices[0].ID
	}
	c.from, c.to = windowOf(cfg.End.Add(-cfg.Span), cfg.End)
	c.doorlogLoad = c.newTally()
	return c, nil
}

// newTally counts a load's events against the comparison's window.
func (c *comparison) newTally() *tally { return newTally(c.cat, c.from, c.to, c.busy) }

// loaded fixes what the doorlog load's events hold.
func (c *comparison) loaded() {
	c.want = c.doorlogLoad.expected(c.from, c.to)
	c.hours = c.doorlogLoad.hours
}

// row is what the checks read of one listed event, on either store.
type row struct {
	ms       int64
	category string
	device   string
}

// compared is one query of the side by side: a listing page with its exact
// total, or the hourly counts of the window.
type compared struct {
	name string
	// api is the doorlog API that answers it.
	api string
	// filter is the LogsQL filter of the listing.
	filter string
	// desc lists newest first (AIPIX) rather than oldest first (BAS-IP's
	// default).
	desc  bool
	limit int
	// total is the listing's size, from the events made.
	total int64
	// offset is the offset of sample i's page.
	offset func(i int) int64
	// doorlog is doorlog's request path for sample i.
	doorlog func(i int) string
	// parse reads doorlog's answer: the total it says and the rows.
	parse func(body []byte) (int64, []row, error)
	// match checks a row of either store.
	match func(r row) error
	// hourly marks the hourly counts, which have no rows.
	hourly bool
}

// logsqlTime writes a time for a LogsQL time filter: RFC 3339 in UTC to the
// millisecond.
func logsqlTime(t time.Time) string { return t.UTC().Format(sim.TimeLayout) }

// logsqlWindow is the LogsQL filter of [from, to] at the millisecond: to
// is inclusive, as doorlog's, so the filter ends, exclusive, a millisecond
// later.
func logsqlWindow(from, to time.Time) string {
	return "_time:[" + logsqlTime(from) + ", " + logsqlTime(to.Add(time.Millisecond)) + ")"
}

// logsqlDevice is the LogsQL stream filter of one device.
func logsqlDevice(id string) string { return "{device_id=" + strconv.Quote(id) + "}" }

// logsqlPage is the LogsQL of a page of a listing sorted by time: oldest
// first, or newest first when desc.
func logsqlPage(filter string, desc bool, offset int64, limit int) string {
	order := "_time"
	if desc {
		order = "_time desc"
	}
	off := ""
	if offset > 0 {
		off = " offset " + strconv.FormatInt(offset, 10)
	}
	return fmt.Sprintf("%s | sort by (%s)%s limit %d", filter, order, off, limit)
}

// logsqlCount is the LogsQL of a listing's exact total, as a field total.
func logsqlCount(filter string) string { return filter + " | stats count() total" }

// logsqlHourly is the LogsQL of the events per hour and category, as
// doorlog's GET /v1/stats/hourly counts them.
func logsqlHourly(filter string) string {
	return filter + " | stats by (_time:1h, category) count() n"
}

// queries returns the compared queries.
func (c *comparison) queries() []compared {
	winFilter := logsqlWindow(c.from, c.to)
	window := url.Values{
		"from": {strconv.FormatInt(c.from.UnixMilli(), 10)},
		"to":   {strconv.FormatInt(c.to.UnixMilli(), 10)},
	}
	inWindow := func(r row) error {
		if r.ms < c.from.UnixMilli() || r.ms > c.to.UnixMilli() {
			return fmt.Errorf("an event at %s is outside the window", time.UnixMilli(r.ms).UTC().Format(sim.TimeLayout))
		}
		return nil
	}
	basip := func(extra url.Values, page func(i int) int64) func(int) string {
		return func(i int) string {
			p := cloneValues(extra)
			p.Set("limit", strconv.Itoa(comparePage))
			p.Set("locale", "en")
			p.Set("page_number", strconv.FormatInt(page(i), 10))
			return "/api/v1/log/items?" + p.Encode()
		}
	}
	first := func(int) int64 { return 1 }
	pages := max(1, (c.want.Events+comparePage-1)/comparePage)
	deep := max(1, int64(math.Ceil(0.9*float64(pages))))
	withCategory := cloneValues(window)
	withCategory.Set("filter_field", "category")
	withCategory.Set("filter_type", "equal")
	withCategory.Set("filter_value", string(doorlog.CategoryAccess))
	return []compared{
		{
			name: "window page 1", api: "basip", filter: winFilter, limit: comparePage, total: c.want.Window,
			offset: func(int) int64 { return 0 }, doorlog: basip(window, first), parse: parseBasip, match: inWindow,
		},
		{
			name: "window+category page 1", api: "basip", filter: winFilter + " category:=" + string(doorlog.CategoryAccess),
			limit: comparePage, total: c.want.WindowAccess,
			offset: func(int) int64 { return 0 }, doorlog: basip(withCategory, first), parse: parseBasip,
			match: func(r row) error {
				if r.category != string(doorlog.CategoryAccess) {
					return fmt.Errorf("an event of category %q", r.category)
				}
				return inWindow(r)
			},
		},
		{
			name: "deep page 90%", api: "basip", filter: "*", limit: comparePage, total: c.want.Events,
			offset:  func(i int) int64 { return (pageAt(deep, pages, true, i) - 1) * comparePage },
			doorlog: basip(nil, func(i int) int64 { return pageAt(deep, pages, true, i) }),
			parse:   parseBasip, match: func(row) error { return nil },
		},
		{
			name: "device page 1", api: "aipix", filter: logsqlDevice(c.busy), desc: true, limit: compareDevicePage,
			total: c.want.DeviceEvents, offset: func(int) int64 { return 0 },
			doorlog: func(int) string {
				return "/api/admin/v1/intercoms/" + url.PathEscape(c.busy) + "/logs?per_page=" + strconv.Itoa(compareDevicePage) + "&page=1"
			},
			parse: parseAipix,
			match: func(r row) error {
				if r.device != c.busy {
					return fmt.Errorf("an event of device %q", r.device)
				}
				return nil
			},
		},
		{
			name: "stats by hour, 7 days", api: "native", filter: winFilter, hourly: true, total: c.want.Window,
			doorlog: func(int) string { return "/v1/stats/hourly?" + window.Encode() },
		},
	}
}

// wantRows is how many rows the page of a listing at offset holds.
func (cq compared) wantRows(offset int64) int {
	return int(max(0, min(int64(cq.limit), cq.total-offset)))
}

// checkRows checks a page's total and rows, from either store.
func (cq compared) checkRows(i int, total int64, rows []row) error {
	if total != cq.total {
		return fmt.Errorf("total %d, want %d (the events made)", total, cq.total)
	}
	if want := cq.wantRows(cq.offset(i)); len(rows) != want {
		return fmt.Errorf("got %d rows at offset %d, want %d", len(rows), cq.offset(i), want)
	}
	for k, r := range rows {
		if err := cq.match(r); err != nil {
			return fmt.Errorf("row %d: %w", k, err)
		}
		if k > 0 && ((!cq.desc && r.ms < rows[k-1].ms) || (cq.desc && r.ms > rows[k-1].ms)) {
			return fmt.Errorf("row %d is out of time order", k)
		}
	}
	return nil
}

// checkHours checks hourly counts, from either store, against the events
// made: every cell equal, and no event outside the window.
func (c *comparison) checkHours(got map[hourCategory]int64) error {
	var sum int64
	for k, n := range got {
		sum += n
		if want := c.hours[k]; n != want {
			return fmt.Errorf("hour %s, category %s: got %d, want %d", k.hour, k.category, n, want)
		}
	}
	if sum != c.want.Window {
		return fmt.Errorf("got %d events over the hours, want %d", sum, c.want.Window)
	}
	return nil
}

// msTimes returns the rows' times.
func msTimes(rows []row) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ms
	}
	return out
}

// parseBasip reads a BAS-IP page.
func parseBasip(body []byte) (int64, []row, error) {
	var p struct {
		ListOption struct {
			Pagination struct {
				TotalItems int64 `json:"total_items"`
			} `json:"pagination"`
		} `json:"list_option"`
		ListItems []struct {
			Timestamp int64  `json:"timestamp"`
			Category  string `json:"category"`
		} `json:"list_items"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, nil, err
	}
	rows := make([]row, len(p.ListItems))
	for i, it := range p.ListItems {
		rows[i] = row{ms: it.Timestamp, category: it.Category}
	}
	return p.ListOption.Pagination.TotalItems, rows, nil
}

// parseAipix reads an AIPIX page.
func parseAipix(body []byte) (int64, []row, error) {
	var p struct {
		Data []struct {
			DeviceID string `json:"device_id"`
			DateTime string `json:"date_time"`
		} `json:"data"`
		Meta struct {
			Total int64 `json:"total"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return 0, nil, err
	}
	rows := make([]row, len(p.Data))
	for i, d := range p.Data {
		t, err := time.Parse(time.RFC3339Nano, d.DateTime)
		if err != nil {
			return 0, nil, err
		}
		rows[i] = row{ms: t.UnixMilli(), device: d.DeviceID}
	}
	return p.Meta.Total, rows, nil
}

// parseDoorlogHours reads GET /v1/stats/hourly, leaving out the zeros.
func parseDoorlogHours(body []byte) (map[hourCategory]int64, error) {
	var p struct {
		Hours []map[string]any `json:"hours"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, err
	}
	out := map[hourCategory]int64{}
	for _, h := range p.Hours {
		hour, _ := h["hour"].(string)
		if len(hour) < 13 {
			return nil, fmt.Errorf("hour %q", hour)
		}
		for _, c := range doorlog.Categories {
			if n, _ := h[string(c)].(float64); n != 0 {
				out[hourCategory{hour[:13], string(c)}] = int64(n)
			}
		}
	}
	return out, nil
}

// doorlog times the compared queries on doorlog, through q, after its
// load; each answer is checked against the events made, and each listing's
// first answer kept for VictoriaLogs' to repeat.
func (c *comparison) doorlog(ctx context.Context, q *querier) ([]Query, error) {
	var out []Query
	for _, cq := range c.queries() {
		qr, err := q.sample(ctx, "doorlog "+cq.name, cq.api, 0, sampler{
			req: func(i int) (*http.Request, error) { return q.get(ctx, cq.doorlog(i)) },
			check: func(i int, body []byte) error {
				if cq.hourly {
					got, err := parseDoorlogHours(body)
					if err != nil {
						return err
					}
					return c.checkHours(got)
				}
				total, rows, err := cq.parse(body)
				if err != nil {
					return err
				}
				if err := cq.checkRows(i, total, rows); err != nil {
					return err
				}
				if i == 0 {
					c.times[cq.name] = msTimes(rows)
				}
				return nil
			},
		})
		qr.Name, qr.Total = cq.name, cq.total
		out = append(out, qr)
		if err != nil {
			return out, err
		}
	}
	q.pr.done()
	return out, nil
}

// vlRows reads the JSON lines of a VictoriaLogs answer.
func vlRows(body []byte) ([]map[string]string, error) {
	var out []map[string]string
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("a line of the answer: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// parseVLPage reads a VictoriaLogs page as rows.
func parseVLPage(body []byte) ([]row, error) {
	lines, err := vlRows(body)
	if err != nil {
		return nil, err
	}
	rows := make([]row, len(lines))
	for i, l := range lines {
		t, err := time.Parse(time.RFC3339Nano, l["_time"])
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		rows[i] = row{ms: t.UnixMilli(), category: l["category"], device: l["device_id"]}
	}
	return rows, nil
}

// parseVLCount reads the answer of logsqlCount.
func parseVLCount(body []byte) (int64, error) {
	lines, err := vlRows(body)
	if err != nil {
		return 0, err
	}
	if len(lines) != 1 {
		return 0, fmt.Errorf("the count has %d lines, want 1", len(lines))
	}
	return strconv.ParseInt(lines[0]["total"], 10, 64)
}

// parseVLHours reads the answer of logsqlHourly.
func parseVLHours(body []byte) (map[hourCategory]int64, error) {
	lines, err := vlRows(body)
	if err != nil {
		return nil, err
	}
	out := map[hourCategory]int64{}
	for _, l := range lines {
		n, err := strconv.ParseInt(l["n"], 10, 64)
		if err != nil || len(l["_time"]) < 13 {
			return nil, fmt.Errorf("line %v", l)
		}
		out[hourCategory{l["_time"][:13], l["category"]}] += n
	}
	return out, nil
}

// vlQuery is the request of a LogsQL query.
func vlQuery(ctx context.Context, q *querier, logsql string) (*http.Request, error) {
	return q.get(ctx, "/select/logsql/query?"+url.Values{"query": {logsql}}.Encode())
}

// logsqlOf returns the LogsQL of the i-th sample of a compared query: the
// page and its count, or the hourly counts.
func (cq compared) logsqlOf(i int) []string {
	if cq.hourly {
		return []string{logsqlHourly(cq.filter)}
	}
	return []string{logsqlPage(cq.filter, cq.desc, cq.offset(i), cq.limit), logsqlCount(cq.filter)}
}

// victoriaLogs times the compared queries on VictoriaLogs, through q: a
// page with its total is two requests timed together.
func (c *comparison) victoriaLogs(ctx context.Context, q *querier) ([]Query, error) {
	var out []Query
	for _, cq := range c.queries() {
		qr, err := q.sampleAll(ctx, "victorialogs "+cq.name, "victorialogs", 0, multiSampler{
			reqs: func(i int) ([]*http.Request, error) {
				var reqs []*http.Request
				for _, lq := range cq.logsqlOf(i) {
					req, err := vlQuery(ctx, q, lq)
					if err != nil {
						return nil, err
					}
					reqs = append(reqs, req)
				}
				return reqs, nil
			},
			describe: func(i int) string { return strings.Join(cq.logsqlOf(i), "  +  ") },
			check: func(i int, bodies [][]byte) error {
				if cq.hourly {
					got, err := parseVLHours(bodies[0])
					if err != nil {
						return err
					}
					return c.checkHours(got)
				}
				rows, err := parseVLPage(bodies[0])
				if err != nil {
					return err
				}
				total, err := parseVLCount(bodies[1])
				if err != nil {
					return err
				}
				if err := cq.checkRows(i, total, rows); err != nil {
					return err
				}
				if want, ok := c.times[cq.name]; ok && i == 0 && !slices.Equal(msTimes(rows), want) {
					return fmt.Errorf("the event times differ from doorlog's first answer: got %v, want %v", msTimes(rows), want)
				}
				return nil
			},
		})
		qr.Name, qr.Total = cq.name, cq.total
		out = append(out, qr)
		if err != nil {
			return out, err
		}
	}
	q.pr.done()
	return out, nil
}

// WriteTable writes the side by side: a row per figure with doorlog's
// value, VictoriaLogs' and their ratio. r is the run, for doorlog's
// ingest, memory and disk.
func (s *SideBySide) WriteTable(w io.Writer, r *Result) error {
	v := s.VictoriaLogs
	if v == nil {
		v = &VictoriaLogs{}
	}
	fmt.Fprintf(w, "\nside by side with VictoriaLogs %s: the same %s events (digest %s), arrival %s, %d clients, batches of %d; each store alone, one after the other\n",
		orUnknown(v.Version), thousands(float64(s.Expected.Events)), s.Expected.Digest, r.Arrival, r.Clients, r.Batch)
	if v.Ingest.Seconds > 0 {
		fmt.Fprintf(w, "VictoriaLogs answers an ingest request before the events are on disk; its events/s includes the flush that makes them searchable (%.2f s)\n", v.FlushSeconds)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tdoorlog\tVictoriaLogs\tVictoriaLogs ÷ doorlog\t")
	fmt.Fprintln(tw, "-------\t-------\t------------\t----------------------\t")
	rate := func(in Ingest) (string, float64) {
		if in.Seconds <= 0 {
			return "unknown", 0
		}
		return thousands(in.EventsPerSec) + " events/s", in.EventsPerSec
	}
	dv, dn := rate(r.Ingest)
	vv, vn := rate(v.Ingest)
	fmt.Fprintf(tw, "ingest\t%s\t%s\t%s\t\n", dv, vv, ratio(vn, dn))
	disk := func(per *float64, size *int64) (string, float64) {
		if per == nil || size == nil {
			return "unknown", 0
		}
		return fmt.Sprintf("%.1f B/event (%.1f MiB)", *per, float64(*size)/(1<<20)), *per
	}
	dv, dn = disk(r.BytesPerEvent, r.DiskBytes)
	vv, vn = disk(v.BytesPerEvent, v.DiskBytes)
	fmt.Fprintf(tw, "disk per event\t%s\t%s\t%s\t\n", dv, vv, ratio(vn, dn))
	mem := func(b *int64) (string, float64) {
		if b == nil {
			return "unknown", 0
		}
		return fmt.Sprintf("%.1f MiB", float64(*b)/(1<<20)), float64(*b)
	}
	dv, dn = mem(s.DoorlogLoadRSSBytes)
	vv, vn = mem(v.LoadMaxRSSBytes)
	fmt.Fprintf(tw, "max RSS through the load\t%s\t%s\t%s\t\n", dv, vv, ratio(vn, dn))
	dv, dn = mem(r.MaxRSSBytes)
	vv, vn = mem(v.MaxRSSBytes)
	fmt.Fprintf(tw, "max RSS, whole run\t%s\t%s\t%s\t\n", dv, vv, ratio(vn, dn))
	byName := map[string]Query{}
	for _, q := range v.Queries {
		byName[q.Name] = q
	}
	lat := func(q Query, ok bool) string {
		if !ok || q.Samples == 0 {
			return "not measured"
		}
		return fmt.Sprintf("p50 %.2f  p99 %.2f ms (n=%d)", q.P50Ms, q.P99Ms, q.Samples)
	}
	for _, d := range s.Doorlog {
		vq, ok := byName[d.Name]
		name := d.Name
		if d.Total > 0 {
			name = fmt.Sprintf("%s (of %s)", d.Name, thousands(float64(d.Total)))
		}
		rt := ""
		if ok && vq.Samples > 0 && d.Samples > 0 {
			rt = "p50 " + ratio(vq.P50Ms, d.P50Ms)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, lat(d, true), lat(vq, ok), rt)
	}
	return tw.Flush()
}

// ratio writes a ÷ b, or nothing when either is unknown.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func orUnknown(s string) string {
	if s == "" {
		return "(version unknown)"
	}
	return s
}
