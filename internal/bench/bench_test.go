package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/bench"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// inProcess starts the real server in this process on a loopback socket
// and returns it as a bench target whose Stop closes it.
func inProcess(tb testing.TB) bench.Target {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	a, err := app.Open(ctx, app.Config{Data: dir, Version: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	stopped := false
	stop := func(context.Context) error {
		if stopped {
			return nil
		}
		stopped = true
		srv.Close()
		return a.Close()
	}
	tb.Cleanup(func() { _ = stop(ctx) })
	secret, _, err := a.Auth.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin, SiteIDs: []string{}})
	if err != nil {
		tb.Fatal(err)
	}
	return bench.Target{BaseURL: srv.URL, Token: secret, Backend: "sqlite", PID: os.Getpid(), DataDir: dir, Stop: stop}
}

func TestRun(t *testing.T) {
	const events = 20_000
	var progress bytes.Buffer
	cfg := bench.Config{Events: events, Clients: 4, Batch: 1000, Samples: 5, Version: "test", Progress: &progress}
	res, err := bench.Run(context.Background(), cfg, inProcess(t))
	if err != nil {
		t.Fatal(err)
	}
	in := res.Ingest
	if in.Sent != events || in.Stored != events || in.Duplicates != 0 || in.Rejected != 0 {
		t.Errorf("ingest sent %d, stored %d, %d duplicates, %d rejected; want %d stored", in.Sent, in.Stored, in.Duplicates, in.Rejected, events)
	}
	if !(in.Seconds > 0 && in.EventsPerSec > 0 && in.GeneratorSeconds > 0) {
		t.Errorf("ingest figures not positive: %+v", in)
	}
	if !in.Streamed || in.Arrival != bench.ArrivalTime || res.Dense != nil {
		t.Errorf("ingest streamed %v, arrival %q, dense %v; want the time order streamed and no dense case", in.Streamed, in.Arrival, res.Dense)
	}
	wantQueries := []string{
		"basip page 1", "basip middle", "basip last", "basip deep 90%",
		"basip filter page 1", "basip filter deep 90%", "basip window last", "basip filter+window deep 90%",
		"aipix page 1", "aipix last", "aipix deep 90%",
		"oloid first page", "oloid next page", "native first page", "native next page",
	}
	byName := map[string]bench.Query{}
	for _, q := range res.Queries {
		byName[q.Name] = q
		if q.Samples != cfg.Samples || !(q.P50Ms > 0) || q.P50Ms > q.P99Ms || q.P99Ms > q.MaxMs || q.TargetMs <= 0 || q.Request == "" {
			t.Errorf("query %s not sane: %+v", q.Name, q)
		}
		if (q.API == "basip" || q.API == "aipix") && (q.Total <= 0 || q.Page <= 0) {
			t.Errorf("query %s has no total or page: %+v", q.Name, q)
		}
	}
	for _, name := range wantQueries {
		if _, ok := byName[name]; !ok {
			t.Errorf("no query %q", name)
		}
	}
	if got := byName["basip page 1"].Total; got != events {
		t.Errorf("basip total = %d, want %d", got, events)
	}
	if f, w := byName["basip filter page 1"].Total, byName["basip window page 1"].Total; !(f > 0 && f < events && w > 0 && w < events) {
		t.Errorf("filter total %d, window total %d: want each between 0 and %d", f, w, events)
	}
	if res.Export.Events != events || !(res.Export.EventsPerSec > 0) || res.Export.Bytes <= 0 {
		t.Errorf("export: %+v, want %d events", res.Export, events)
	}
	if res.MaxRSSBytes == nil || *res.MaxRSSBytes <= 0 {
		t.Errorf("max RSS = %v, want a positive size", res.MaxRSSBytes)
	}
	if res.DiskBytes == nil || res.BytesPerEvent == nil || *res.BytesPerEvent <= 0 || *res.DiskBytes <= 0 {
		t.Errorf("disk = %v, per event %v: want positive sizes", res.DiskBytes, res.BytesPerEvent)
	}
	if res.Machine.CPUs <= 0 || res.GoVersion == "" || res.Version != "test" || res.Backend != "sqlite" || res.Devices != 500 || res.Sites != 20 {
		t.Errorf("description not filled: %+v", res)
	}
	if !strings.Contains(progress.String(), "load: 20000/20000 events (100%)") {
		t.Errorf("progress does not end with the whole load:\n%s", progress.String())
	}

	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ingest", "basip deep 90%", "native next page", "export ndjson", "server max RSS", "disk per event", "target"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if strings.Contains(table.String(), " ? ") {
		t.Errorf("table has an unmeasured figure:\n%s", table.String())
	}

	path := filepath.Join(t.TempDir(), "out", "bench.json")
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back bench.Result
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Ingest.Stored != events || len(back.Queries) != len(res.Queries) || back.BytesPerEvent == nil {
		t.Errorf("JSON does not round-trip: %s", data)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted: 100 … 1
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of odd", ms(3, 1, 2), 0.5, 2 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 0.5, 50 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"max", ms(hundred...), 1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bench.Percentile(tt.ds, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.ds, tt.p, got, tt.want)
			}
		})
	}
}

func TestDirSize(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "b"), make([]byte, 23), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := bench.DirSize(dir)
	if err != nil || got != 123 {
		t.Errorf("DirSize = %d, %v; want 123", got, err)
	}
}

// exactCount asks the target for the exact number of its events.
func exactCount(t *testing.T, target bench.Target) int64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, target.BaseURL+"/v1/events?limit=1&count=exact", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+target.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Count      int64 `json:"count"`
		CountExact bool  `json:"count_exact"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || !out.CountExact {
		t.Fatalf("count: status %d, %+v, %v", resp.StatusCode, out, err)
	}
	return out.Count
}

func TestRunArrivals(t *testing.T) {
	const events = 6000
	// The time order is TestRun's.
	for _, arrival := range []string{bench.ArrivalLate, bench.ArrivalRandom} {
		t.Run(arrival, func(t *testing.T) {
			target := inProcess(t)
			// Counted before the server stops: no Stop, so no disk.
			running := target
			running.Stop, running.DataDir = nil, ""
			cfg := bench.Config{Events: events, Clients: 3, Batch: 500, Samples: 2, Version: "test", Arrival: arrival}
			res, err := bench.Run(context.Background(), cfg, running)
			if err != nil {
				t.Fatal(err)
			}
			in := res.Ingest
			if in.Sent != events || in.Stored != events || in.Duplicates != 0 || in.Rejected != 0 {
				t.Errorf("ingest sent %d, stored %d, %d duplicates, %d rejected; want %d stored", in.Sent, in.Stored, in.Duplicates, in.Rejected, events)
			}
			if res.Arrival != arrival || in.Arrival != arrival || !(in.EventsPerSec > 0) {
				t.Errorf("arrival %q, ingest %+v; want arrival %q and a rate", res.Arrival, in, arrival)
			}
			if got := exactCount(t, target); got != events {
				t.Errorf("count=exact = %d, want %d", got, events)
			}
			if res.Export.Events != events {
				t.Errorf("export read %d events, want %d", res.Export.Events, events)
			}
			var table bytes.Buffer
			if err := res.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(table.String(), "ingest, arrival "+arrival) {
				t.Errorf("table does not name the arrival %s:\n%s", arrival, table.String())
			}
		})
	}
}

// exported counts the events the target exports for the query query, by
// reading them: a path that does not use the store's counts.
func exported(tb testing.TB, target bench.Target, query string) int64 {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, target.BaseURL+"/v1/events/export?format=ndjson&"+query, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+target.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("export %s: status %d, %v", query, resp.StatusCode, err)
	}
	return int64(bytes.Count(body, []byte{'\n'}))
}

// evenlyIn counts the events of n spread evenly from start by step (the
// i-th at start + i*step, to the millisecond as sent) whose time is from
// from to to, both included.
func evenlyIn(n int, start time.Time, step time.Duration, from, to time.Time) int64 {
	var c int64
	for i := range n {
		ms := start.Add(time.Duration(i) * step).UnixMilli()
		if ms >= from.UnixMilli() && ms <= to.UnixMilli() {
			c++
		}
	}
	return c
}

func TestRunDense(t *testing.T) {
	const events, dense = 5000, 20_000
	target := inProcess(t)
	// Counted before the server stops: no Stop, so no disk.
	running := target
	running.Stop, running.DataDir = nil, ""
	cfg := bench.Config{Events: events, Dense: dense, Clients: 3, Batch: 1000, Samples: 3, Version: "test"}
	res, err := bench.Run(context.Background(), cfg, running)
	if err != nil {
		t.Fatal(err)
	}
	// The time order, streamed, sends every event once, and so does the
	// dense case.
	if in := res.Ingest; in.Sent != events || in.Stored != events || !in.Streamed {
		t.Errorf("load sent %d, stored %d, streamed %v; want %d stored, streamed", in.Sent, in.Stored, in.Streamed, events)
	}
	d := res.Dense
	if d == nil {
		t.Fatal("no dense case in the result")
	}
	if in := d.Ingest; d.Events != dense || in.Sent != dense || in.Stored != dense || in.Duplicates != 0 || !(in.EventsPerSec > 0) {
		t.Errorf("dense: %d events, sent %d, stored %d, %d duplicates; want %d stored", d.Events, in.Sent, in.Stored, in.Duplicates, dense)
	}
	if got := exactCount(t, target); got != events+dense {
		t.Errorf("count=exact = %d, want %d", got, events+dense)
	}
	end := d.To
	if want := end.Add(-time.Minute); !d.From.Equal(want) {
		t.Errorf("dense window from %s, want %s (a minute before %s)", d.From, want, end)
	}

	// What was sent in a window: the load's events evenly over the 90
	// days ending at end, both ends included, and the dense ones evenly
	// over the minute before end.
	sent := func(from, to time.Time) int64 {
		span := bench.DefaultSpan
		return evenlyIn(events, end.Add(-span), span/(events-1), from, to) +
			evenlyIn(dense, end.Add(-time.Minute), time.Minute/dense, from, to)
	}
	far := end.Add(time.Hour)
	ms := func(at time.Time) string { return strconv.FormatInt(at.UnixMilli(), 10) }
	tests := []struct {
		name      string
		targetMs  float64
		wantTotal int64
	}{
		{"dense basip from=-30s", bench.TargetPageMs, sent(end.Add(-30*time.Second), far)},
		{"dense basip from=-60s", bench.TargetPageMs, sent(end.Add(-time.Minute), far)},
		// The filtered totals are checked against the events exported
		// with the same filter, which are read rather than counted.
		{"dense basip from=-30s, category", bench.TargetPageMs, exported(t, target, "category=access&from="+ms(end.Add(-30*time.Second)))},
		{"dense basip last hour, priority", bench.TargetPageMs, exported(t, target, "priority=critical&from="+ms(end.Add(-time.Hour)))},
		{"dense native window", bench.TargetPageMs, sent(end.Add(-time.Minute), end)},
		{"dense stats hourly, last day", bench.TargetStatsMs, sent(end.Add(-24*time.Hour), end)},
		{"dense stats timeline, last hour", bench.TargetStatsMs, sent(end.Add(-time.Hour), end)},
		{"dense stats devices", bench.TargetStatsMs, 0},
	}
	byName := map[string]bench.Query{}
	for _, q := range d.Queries {
		byName[q.Name] = q
	}
	if len(d.Queries) != len(tests) {
		t.Errorf("got %d dense queries, want %d", len(d.Queries), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, ok := byName[tt.name]
			if !ok {
				t.Fatalf("no query %q", tt.name)
			}
			if q.Total != tt.wantTotal {
				t.Errorf("total: got %d, want %d", q.Total, tt.wantTotal)
			}
			if q.TargetMs != tt.targetMs {
				t.Errorf("target: got %g ms, want %g ms", q.TargetMs, tt.targetMs)
			}
			if q.Samples != cfg.Samples || !(q.P50Ms > 0) || q.P50Ms > q.P99Ms || q.P99Ms > q.MaxMs || q.Request == "" {
				t.Errorf("not sane: %+v", q)
			}
		})
	}
	// The filters narrow: some of the window's events, not all.
	if c, all := byName["dense basip from=-30s, category"].Total, byName["dense basip from=-30s"].Total; !(c > 0 && c < all) {
		t.Errorf("category total %d, want between 0 and %d", c, all)
	}
	if p := byName["dense basip last hour, priority"].Total; !(p > 0 && p < dense) {
		t.Errorf("priority total %d, want between 0 and %d", p, dense)
	}

	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if !strings.Contains(table.String(), tt.name) {
			t.Errorf("table lacks %q:\n%s", tt.name, table.String())
		}
	}
	if !strings.Contains(table.String(), "dense: 20,000 events sent (20,000 stored)") || !strings.Contains(table.String(), "p99 <= 50 ms") {
		t.Errorf("table lacks the dense line or the stats target:\n%s", table.String())
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back bench.Result
	if err := json.Unmarshal(data, &back); err != nil || back.Dense == nil || len(back.Dense.Queries) != len(tests) || back.Dense.Ingest.Stored != dense {
		t.Errorf("JSON does not round-trip the dense case: %v\n%s", err, data)
	}
}

func TestRunMixed(t *testing.T) {
	const events = 5000
	cfg := bench.Config{Events: events, Clients: 2, Batch: 500, Samples: 2, Version: "test",
		Mixed: 3 * time.Second, MixedIngest: 200, MixedQueries: 40}
	res, err := bench.Run(context.Background(), cfg, inProcess(t))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Mixed
	if m == nil {
		t.Fatal("no mixed phase in the result")
	}
	if m.Ingest.Stored <= 0 || m.Ingest.Errors != 0 || m.Ingest.Batches <= 0 || !(m.Ingest.EventsPerSec > 0) {
		t.Errorf("mixed ingest: %+v", m.Ingest)
	}
	want := []string{
		"basip poll from=last seen", "basip poll from=last seen, category", "basip deep page", "aipix deep page",
		"oloid cursor walk", "native cursor walk", "native device page", "stats hourly", "stats devices",
		"export ndjson of an hour", "live tail (SSE)",
	}
	got := map[string]bench.MixedPattern{}
	for _, p := range m.Patterns {
		got[p.Name] = p
	}
	for _, name := range want {
		p, ok := got[name]
		if !ok {
			t.Errorf("no pattern %q", name)
			continue
		}
		if p.Count <= 0 || p.Errors != 0 || p.Request == "" || p.P50Ms > p.P99Ms || p.P99Ms > p.MaxMs {
			t.Errorf("pattern %q: %+v", name, p)
		}
	}
	if m.RSSEndBytes == nil || *m.RSSEndBytes <= 0 {
		t.Errorf("RSS at the end = %v, want a size", m.RSSEndBytes)
	}
	if res.BytesPerEvent == nil || *res.BytesPerEvent <= 0 {
		t.Errorf("bytes per event = %v", res.BytesPerEvent)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, w := range append(want, "mixed phase", "live ingest") {
		if !strings.Contains(table.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, table.String())
		}
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back bench.Result
	if err := json.Unmarshal(data, &back); err != nil || back.Mixed == nil || len(back.Mixed.Patterns) != len(want) {
		t.Errorf("JSON does not round-trip the mixed phase: %v\n%s", err, data)
	}
}

func TestRunSideBySide(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// VictoriaLogs is this test binary acting as a fake of it (see
	// victorialogs_fake_test.go for why not the real one): the test checks
	// the doorlog side's answers against the events made, and that the
	// side by side is reported.
	t.Setenv(bench.FakeVictoriaLogsEnv, "1")
	const events = 6000
	cfg := bench.Config{Events: events, Clients: 2, Batch: 1000, Samples: 3, Version: "test", Arrival: bench.ArrivalLate,
		VictoriaLogs: exe, VictoriaLogsDir: t.TempDir()}
	res, err := bench.Run(context.Background(), cfg, inProcess(t))
	if err != nil {
		t.Fatal(err)
	}
	s := res.SideBySide
	if s == nil || s.VictoriaLogs == nil {
		t.Fatalf("got side by side %+v, want both sides", s)
	}
	if s.Expected.Events != events || s.Expected.Window <= 0 || s.Expected.Window >= events || s.Expected.DeviceEvents <= 0 {
		t.Errorf("got expected counts %+v, want %d events with some in the window", s.Expected, events)
	}
	if len(s.Doorlog) != 5 || len(s.VictoriaLogs.Queries) != len(s.Doorlog) {
		t.Fatalf("got %d doorlog and %d VictoriaLogs queries, want 5 each", len(s.Doorlog), len(s.VictoriaLogs.Queries))
	}
	for i, d := range s.Doorlog {
		v := s.VictoriaLogs.Queries[i]
		if d.Name != v.Name || d.Samples != cfg.Samples || v.Samples != cfg.Samples || d.Total != v.Total || d.Total <= 0 {
			t.Errorf("got doorlog %+v and VictoriaLogs %+v: want the same query, total and samples", d, v)
		}
	}
	if s.DoorlogLoadRSSBytes == nil || *s.DoorlogLoadRSSBytes <= 0 || s.VictoriaLogs.LoadMaxRSSBytes == nil {
		t.Errorf("got RSS through the load %v and %v, want both measured", s.DoorlogLoadRSSBytes, s.VictoriaLogs.LoadMaxRSSBytes)
	}
	if got := s.VictoriaLogs.Ingest.Stored; got != events {
		t.Errorf("VictoriaLogs stored %d, want %d", got, events)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "side by side with VictoriaLogs victoria-logs-fake") || !strings.Contains(table.String(), "deep page 90% (of 6,000)") {
		t.Errorf("the table lacks the side by side:\n%s", table.String())
	}
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		SideBySide struct {
			VictoriaLogs struct {
				Queries []json.RawMessage `json:"queries"`
			} `json:"victorialogs"`
		} `json:"side_by_side"`
	}
	if err := json.Unmarshal(data, &back); err != nil || len(back.SideBySide.VictoriaLogs.Queries) != 5 {
		t.Errorf("got JSON side_by_side with %d VictoriaLogs queries (%v), want 5", len(back.SideBySide.VictoriaLogs.Queries), err)
	}
}
