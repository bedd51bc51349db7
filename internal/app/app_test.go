package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// TestMetrics ingests through the real server and reads the figures back
// from /metrics as Prometheus would.
func TestMetrics(t *testing.T) {
	ts, secret := startGate(t)
	var body strings.Builder
	for i := range 5 {
		fmt.Fprintf(&body, `{"device_id":%q,"time":%d,"key":"incoming_call","source_id":"s%d"}`+"\n", gateDevice, 1714557600000+i, i%4)
	}
	body.WriteString(`{"device_id":"nope","time":1,"key":"x"}` + "\n")
	req, _ := http.NewRequest("POST", ts.URL+"/v1/events", strings.NewReader(body.String()))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("got ingest status %d, want 200", resp.StatusCode)
	}

	resp, err = http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(raw)
	if resp.StatusCode != 200 {
		t.Fatalf("got /metrics status %d, want 200", resp.StatusCode)
	}
	value := func(series string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("got no series %s in /metrics", series)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	tests := []struct {
		series string
		check  func(float64) bool
		want   string
	}{
		{`doorlog_ingested_events_total{outcome="accepted"}`, func(v float64) bool { return v == 4 }, "4"},
		{`doorlog_ingested_events_total{outcome="duplicate"}`, func(v float64) bool { return v == 1 }, "1"},
		{`doorlog_ingested_events_total{outcome="rejected"}`, func(v float64) bool { return v == 1 }, "1"},
		{`doorlog_http_request_duration_seconds_count{code="200",method="POST",route="POST /v1/events"}`, func(v float64) bool { return v == 1 }, "1"},
		{`doorlog_commit_events_sum`, func(v float64) bool { return v == 4 }, "4"},
		{`doorlog_store_size_bytes`, func(v float64) bool { return v > 0 }, "> 0"},
		{`doorlog_writer_queued_requests`, func(v float64) bool { return v == 0 }, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.series, func(t *testing.T) {
			if got := value(tt.series); !tt.check(got) {
				t.Fatalf("got %v, want %s", got, tt.want)
			}
		})
	}
	if !strings.Contains(text, "go_goroutines") || !strings.Contains(text, "process_resident_memory_bytes") {
		t.Fatalf("got no runtime or process metrics in /metrics")
	}
}

// gateDevice is the one device of startGate's site "a".
const gateDevice = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"

// startGate serves a fresh store over real HTTP with one site ("a") and
// one device in it (gateDevice), and returns the server and an admin
// token's secret. Both are closed when the test ends.
func startGate(tb testing.TB) (*httptest.Server, string) {
	tb.Helper()
	_, ts, secret := startGateApp(tb)
	return ts, secret
}

// serveApp opens an app with cfg (in a new data directory when cfg has
// none) and serves it over real HTTP until the test ends; it returns the
// app, the server and an admin token's secret.
func serveApp(tb testing.TB, cfg app.Config) (*app.App, *httptest.Server, string) {
	tb.Helper()
	if cfg.Data == "" {
		cfg.Data = tb.TempDir()
	}
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	tb.Cleanup(func() {
		ts.Close()
		a.Close()
	})
	secret, _, err := a.Auth.IssueToken(context.Background(), doorlog.Token{Role: doorlog.RoleAdmin})
	if err != nil {
		tb.Fatal(err)
	}
	return a, ts, secret
}

// startGateApp is startGate that also returns the app.
func startGateApp(tb testing.TB) (*app.App, *httptest.Server, string) {
	tb.Helper()
	ctx := context.Background()
	a, ts, secret := serveApp(tb, app.Config{Name: "test", Version: "test"})
	if err := a.Store.CreateSite(ctx, &doorlog.Site{ID: "a", Name: "A"}); err != nil {
		tb.Fatal(err)
	}
	if err := a.Store.CreateDevice(ctx, &doorlog.Device{ID: gateDevice, SiteID: "a", Name: "Gate"}); err != nil {
		tb.Fatal(err)
	}
	return a, ts, secret
}

// call sends one request to ts with token as its bearer ("" for none) and
// a JSON body ("" for none), and returns the status and the body.
func call(tb testing.TB, ts *httptest.Server, method, path, token, body string) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, raw
}
