package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

func TestEncodeJSONLines(t *testing.T) {
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	sites := map[string]string{"dev-1": "demo-1"}
	tests := []struct {
		name string
		item ingest.Item
		want string
	}{
		{
			name: "access event with a nested model",
			item: ingest.Item{DeviceID: "dev-1", Time: json.RawMessage(`"2025-05-01T10:00:00.123Z"`), Key: "access_granted_by_valid_identifier",
				Model: json.RawMessage(`{"owner":"Zoë <O'Connor> & co","lock":{"id":1}}`), SourceID: "p1-ab-7"},
			want: `{"_time":"2025-05-01T10:00:00.123Z","_msg":"access_granted_by_valid_identifier","site_id":"demo-1","device_id":"dev-1","category":"access","source_id":"p1-ab-7","model":{"owner":"Zoë <O'Connor> & co","lock":{"id":1}}}`,
		},
		{
			name: "info event with an empty model",
			item: ingest.Item{DeviceID: "dev-1", Time: json.RawMessage(`"2025-05-01T10:00:00.000Z"`), Key: "cam_light", Model: json.RawMessage(`{}`), SourceID: "s"},
			want: `{"_time":"2025-05-01T10:00:00.000Z","_msg":"cam_light","site_id":"demo-1","device_id":"dev-1","category":"info","source_id":"s","model":{}}`,
		},
		{
			name: "key unknown to the catalog, device of no known site, no model or source",
			item: ingest.Item{DeviceID: "dev-9", Time: json.RawMessage(`"2025-05-01T10:00:00.000Z"`), Key: "vendor_thing"},
			want: `{"_time":"2025-05-01T10:00:00.000Z","_msg":"vendor_thing","site_id":"","device_id":"dev-9","category":"info"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeJSONLines([]ingest.Item{tt.item}, sites, cat)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want+"\n" {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLogsQL(t *testing.T) {
	from := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	to := from.Add(compareWindow - time.Millisecond)
	win := logsqlWindow(from, to)
	tests := []struct {
		name, got, want string
	}{
		{"window, end exclusive a millisecond after doorlog's inclusive one", win, "_time:[2025-05-01T10:00:00.000Z, 2025-05-08T10:00:00.000Z)"},
		{"device", logsqlDevice("6c1d-x"), `{device_id="6c1d-x"}`},
		{"first page, oldest first", logsqlPage(win, false, 0, 50), win + " | sort by (_time) limit 50"},
		{"page with offset", logsqlPage("*", false, 850, 50), "* | sort by (_time) offset 850 limit 50"},
		{"newest first", logsqlPage(`{device_id="d"}`, true, 0, 100), `{device_id="d"} | sort by (_time desc) limit 100`},
		{"count", logsqlCount(win + " category:=access"), win + " category:=access | stats count() total"},
		{"hourly", logsqlHourly(win), win + " | stats by (_time:1h, category) count() n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

// testComparison returns a comparison whose doorlog load is cfg's events
// made without a server, and whose doorlog first answers are worked out
// from those events, as doorlog gives them: each listing's rows (its match
// is its filter) sorted by time, from the first sample's offset.
func testComparison(tb testing.TB, cfg Config) *comparison {
	tb.Helper()
	_, devices := sim.Population(cfg.Sites, cfg.DevicesPerSite)
	c, err := newComparison(cfg, devices)
	if err != nil {
		tb.Fatal(err)
	}
	sink := &recordingSink{c: c}
	if _, err := load(context.Background(), cfg, sink, "load", devices, &progress{w: io.Discard}, c.doorlogLoad); err != nil {
		tb.Fatal(err)
	}
	c.loaded()
	for _, cq := range c.queries() {
		if cq.hourly {
			continue
		}
		var rows []row
		for _, r := range sink.rows {
			if cq.match(r) == nil {
				rows = append(rows, r)
			}
		}
		slices.SortStableFunc(rows, func(a, b row) int {
			if cq.desc {
				return cmp.Compare(b.ms, a.ms)
			}
			return cmp.Compare(a.ms, b.ms)
		})
		rows = rows[min(cq.offset(0), int64(len(rows))):]
		c.times[cq.name] = msTimes(rows[:min(cq.limit, len(rows))])
	}
	return c
}

// recordingSink takes every batch without sending it, keeping the rows.
type recordingSink struct {
	c        *comparison
	mu       sync.Mutex
	rows     []row
	accepted atomic.Int64
}

func (s *recordingSink) encode(dst []byte, items []ingest.Item) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		t, err := time.Parse(time.RFC3339Nano, unquote(it.Time))
		if err != nil {
			return nil, err
		}
		s.rows = append(s.rows, row{ms: t.UnixMilli(), category: string(s.c.cat.Entry(it.Key).Category), device: it.DeviceID})
	}
	return nil, nil
}

func (s *recordingSink) send(_ context.Context, _ []byte, n int) error {
	s.accepted.Add(int64(n))
	return nil
}

func (s *recordingSink) totals() sim.SinkTotals { return sim.SinkTotals{Accepted: s.accepted.Load()} }

func TestComparedQueries(t *testing.T) {
	end := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{Events: 1000, End: end}.withDefaults()
	c := testComparison(t, cfg)
	if c.want.Events != 1000 || c.want.Window == 0 || c.want.WindowAccess == 0 || c.want.DeviceEvents == 0 {
		t.Fatalf("expected counts %+v: want all positive", c.want)
	}
	win := "_time:[2025-06-17T00:00:00.000Z, 2025-06-24T00:00:00.000Z)"
	dev := `{device_id="` + c.busy + `"}`
	want := map[string]struct {
		logsql  []string
		doorlog string
	}{
		"window page 1": {
			[]string{win + " | sort by (_time) limit 50", win + " | stats count() total"},
			"/api/v1/log/items?from=1750118400000&limit=50&locale=en&page_number=1&to=1750723199999",
		},
		"window+category page 1": {
			[]string{win + " category:=access | sort by (_time) limit 50", win + " category:=access | stats count() total"},
			"/api/v1/log/items?filter_field=category&filter_type=equal&filter_value=access&from=1750118400000&limit=50&locale=en&page_number=1&to=1750723199999",
		},
		// 1000 events are 20 pages of 50; 90 % deep is page 18, offset 850.
		"deep page 90%": {
			[]string{"* | sort by (_time) offset 850 limit 50", "* | stats count() total"},
			"/api/v1/log/items?limit=50&locale=en&page_number=18",
		},
		"device page 1": {
			[]string{dev + " | sort by (_time desc) limit 100", dev + " | stats count() total"},
			"/api/admin/v1/intercoms/" + c.busy + "/logs?per_page=100&page=1",
		},
		"stats by hour, 7 days": {
			[]string{win + " | stats by (_time:1h, category) count() n"},
			"/v1/stats/hourly?from=1750118400000&to=1750723199999",
		},
	}
	qs := c.queries()
	if len(qs) != len(want) {
		t.Errorf("got %d compared queries, want %d", len(qs), len(want))
	}
	for _, cq := range qs {
		t.Run(cq.name, func(t *testing.T) {
			w, ok := want[cq.name]
			if !ok {
				t.Fatalf("unexpected query %q", cq.name)
			}
			if got := cq.logsqlOf(0); !slices.Equal(got, w.logsql) {
				t.Errorf("got LogsQL %q, want %q", got, w.logsql)
			}
			if got := cq.doorlog(0); got != w.doorlog {
				t.Errorf("got doorlog request %s, want %s", got, w.doorlog)
			}
		})
	}
}

// vlConfig is a small side-by-side run: 3,000 events ending now (the fake
// drops what is outside its retention, as VictoriaLogs does).
func vlConfig() Config {
	return Config{Events: 3000, Clients: 3, Batch: 400, Samples: 4, Arrival: ArrivalRandom}.withDefaults()
}

func TestVLPhases(t *testing.T) {
	cfg := vlConfig()
	c := testComparison(t, cfg)
	f := newFakeVL(120 * 24 * time.Hour)
	srv := httptest.NewServer(f)
	defer srv.Close()
	v := &VictoriaLogs{}
	if err := vlPhases(context.Background(), cfg, srv.URL, c, &progress{w: io.Discard}, v, nil); err != nil {
		t.Fatal(err)
	}
	if errs := f.errors(); len(errs) > 0 {
		t.Errorf("the fake saw wrong requests: %v", errs)
	}
	if v.Ingest.Stored != int64(cfg.Events) || v.Ingest.Sent != int64(cfg.Events) || !(v.Ingest.EventsPerSec > 0) || !(v.FlushSeconds > 0) {
		t.Errorf("ingest %+v, flush %v s: want %d events stored and positive rates", v.Ingest, v.FlushSeconds, cfg.Events)
	}
	// 3 clients, each sending 1,000 events in batches of 400, 400 and 200.
	if got, want := f.inserts, 9; got != want {
		t.Errorf("got %d ingest requests, want %d", got, want)
	}
	var names []string
	for _, q := range v.Queries {
		names = append(names, q.Name)
		if q.Samples != cfg.Samples || q.API != "victorialogs" || q.Total <= 0 || !strings.Contains(q.Request, "| ") {
			t.Errorf("query %+v: want %d samples, api victorialogs, a total and the LogsQL as the request", q, cfg.Samples)
		}
	}
	var wantNames []string
	for _, cq := range c.queries() {
		wantNames = append(wantNames, cq.name)
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("got queries %q, want %q", names, wantNames)
	}
	// Every query the fake got is one the bench means: the count of all,
	// then the compared queries' LogsQL.
	wantQL := map[string]bool{logsqlCount("*"): true}
	for _, cq := range c.queries() {
		for i := range cfg.Samples {
			for _, lq := range cq.logsqlOf(i) {
				wantQL[lq] = true
			}
		}
	}
	if f.queries[0] != logsqlCount("*") {
		t.Errorf("got first query %q, want the count of every event", f.queries[0])
	}
	for _, lq := range f.queries {
		if !wantQL[lq] {
			t.Errorf("unexpected query %q", lq)
		}
	}
}

func TestVLPhasesCatchesWrongAnswers(t *testing.T) {
	const keepAll = 120 * 24 * time.Hour
	tests := []struct {
		name, fault string
		retention   time.Duration
		want        string
	}{
		{"a line lost", "drop one", keepAll, "victorialogs holds 2999 events after the load, want 3000"},
		{"lines older than the retention dropped", "", 30 * 24 * time.Hour, "after the load, want 3000"},
		{"a wrong count", "count off by one", keepAll, "victorialogs holds 3001 events"},
		{"the category filter ignored", "no category", keepAll, "window+category page 1: sample 0: total"},
		{"the offset ignored", "no offset", keepAll, "deep page 90%: sample 0: the event times differ from doorlog's first answer"},
	}
	cfg := vlConfig()
	c := testComparison(t, cfg)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeVL(tt.retention)
			f.fault = tt.fault
			srv := httptest.NewServer(f)
			defer srv.Close()
			err := vlPhases(context.Background(), cfg, srv.URL, c, &progress{w: io.Discard}, &VictoriaLogs{}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestRunVictoriaLogsChild(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The child is this test binary acting as victoria-logs (TestMain).
	t.Setenv(FakeVictoriaLogsEnv, "1")
	cfg := vlConfig()
	cfg.VictoriaLogs, cfg.VictoriaLogsDir = exe, t.TempDir()
	var progress bytes.Buffer
	cfg.Progress = &progress
	c := testComparison(t, cfg)
	v, err := runVictoriaLogs(context.Background(), cfg, c)
	if err != nil {
		t.Fatalf("%v; progress:\n%s", err, progress.String())
	}
	if v.Version != fakeVersion || v.Binary != exe {
		t.Errorf("got version %q of %s, want %q of %s", v.Version, v.Binary, fakeVersion, exe)
	}
	if !slices.Contains(v.Args, "-retentionPeriod=120d") || !slices.Contains(v.Args, "-loggerLevel=WARN") {
		t.Errorf("got args %q, want a retention of 120 days for the 90 days", v.Args)
	}
	if v.MaxRSSBytes == nil || v.LoadMaxRSSBytes == nil || *v.LoadMaxRSSBytes <= 0 || *v.MaxRSSBytes < *v.LoadMaxRSSBytes ||
		v.DiskBytes == nil || *v.DiskBytes <= 0 || v.BytesPerEvent == nil {
		t.Errorf("got RSS %v (through the load %v), disk %v: want all measured", v.MaxRSSBytes, v.LoadMaxRSSBytes, v.DiskBytes)
	}
	if v.Ingest.Stored != int64(cfg.Events) || len(v.Queries) != len(c.queries()) {
		t.Errorf("got %d stored and %d queries, want %d and %d", v.Ingest.Stored, len(v.Queries), cfg.Events, len(c.queries()))
	}
	if left, _ := os.ReadDir(cfg.VictoriaLogsDir); len(left) != 0 {
		t.Errorf("got %d entries left in the directory, want it cleaned up", len(left))
	}
}

func TestVictoriaLogsNotReady(t *testing.T) {
	// A binary that exits at once: the error says so, with its log.
	parent := t.TempDir()
	_, err := startVictoriaLogs(context.Background(), "/bin/false", parent, DefaultSpan)
	if err == nil || !strings.Contains(err.Error(), "not ready: it exited") {
		t.Errorf("got error %v, want one saying it exited", err)
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Errorf("got %d entries left behind, want none", len(left))
	}
}

func TestVLRetention(t *testing.T) {
	tests := []struct {
		span time.Duration
		want string
	}{
		{DefaultSpan, "120d"},
		{36 * time.Hour, "32d"},
		{0, "30d"},
	}
	for _, tt := range tests {
		t.Run(tt.span.String(), func(t *testing.T) {
			if got := vlRetention(tt.span); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSideBySideTable(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	f64 := func(v float64) *float64 { return &v }
	r := &Result{
		Arrival: ArrivalRandom, Clients: 4, Batch: 5000,
		Ingest:      Ingest{Seconds: 10, EventsPerSec: 100_000},
		MaxRSSBytes: i64(100 << 20), DiskBytes: i64(50 << 20), BytesPerEvent: f64(52.4),
		SideBySide: &SideBySide{
			Expected:            Expected{Events: 1_000_000, Digest: "00ff"},
			DoorlogLoadRSSBytes: i64(80 << 20),
			Doorlog: []Query{
				{Name: "window page 1", Total: 77_777, Samples: 50, P50Ms: 1, P99Ms: 2},
				{Name: "stats by hour, 7 days", Total: 77_777, Samples: 50, P50Ms: 0.5, P99Ms: 1},
			},
			VictoriaLogs: &VictoriaLogs{
				Version: "victoria-logs-v1.26.0", FlushSeconds: 0.25,
				Ingest:      Ingest{Seconds: 20, EventsPerSec: 50_000},
				MaxRSSBytes: i64(300 << 20), LoadMaxRSSBytes: i64(160 << 20),
				Queries: []Query{{Name: "window page 1", Samples: 40, P50Ms: 5, P99Ms: 9.5}},
			},
		},
	}
	var b bytes.Buffer
	if err := r.SideBySide.WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for line := range strings.Lines(b.String()) {
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	want := []string{
		"",
		"side by side with VictoriaLogs victoria-logs-v1.26.0: the same 1,000,000 events (digest 00ff), arrival random, 4 clients, batches of 5000; each store alone, one after the other",
		"VictoriaLogs answers an ingest request before the events are on disk; its events/s includes the flush that makes them searchable (0.25 s)",
		"",
		"measure doorlog VictoriaLogs VictoriaLogs ÷ doorlog",
		"------- ------- ------------ ----------------------",
		"ingest 100,000 events/s 50,000 events/s 0.50×",
		"disk per event 52.4 B/event (50.0 MiB) unknown",
		"max RSS through the load 80.0 MiB 160.0 MiB 2.00×",
		"max RSS, whole run 100.0 MiB 300.0 MiB 3.00×",
		"window page 1 (of 77,777) p50 1.00 p99 2.00 ms (n=50) p50 5.00 p99 9.50 ms (n=40) p50 5.00×",
		"stats by hour, 7 days (of 77,777) p50 0.50 p99 1.00 ms (n=50) not measured",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got table\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The whole report ends with it.
	var all bytes.Buffer
	if err := r.WriteTable(&all); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(all.String(), b.String()) {
		t.Errorf("the report does not end with the side by side:\n%s", all.String())
	}
}

// BenchmarkTallyAdd measures what counting the events costs the loads of a
// side-by-side run (the late and random orders count while they send).
func BenchmarkTallyAdd(b *testing.B) {
	cfg := Config{Events: 5000}.withDefaults()
	_, devices := sim.Population(cfg.Sites, cfg.DevicesPerSite)
	c, err := newComparison(cfg, devices)
	if err != nil {
		b.Fatal(err)
	}
	src := newRandomSource(1, 0, devices, cfg.End.Add(-cfg.Span), cfg.Span, cfg.Events)
	items := make([]ingest.Item, cfg.Events)
	items = items[:src.fill(items)]
	tl := c.newTally()
	for b.Loop() {
		tl.add(items)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/event")
}
