package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// memSink keeps what it is sent.
type memSink struct {
	mu      sync.Mutex
	items   []ingest.Item
	batches int
	err     error
}

func (m *memSink) Send(_ context.Context, items []ingest.Item) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.items = append(m.items, items...)
	m.batches++
	return nil
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		batch    time.Duration
		duration time.Duration
	}{
		{"slow", 50, 20 * time.Millisecond, 400 * time.Millisecond},
		{"fast", 5000, 50 * time.Millisecond, 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, devices := sim.Population(2, 4)
			sink := &memSink{}
			ctx, cancel := context.WithTimeout(context.Background(), tt.duration)
			defer cancel()
			start := time.Now()
			sent, err := sim.Run(ctx, sim.NewGenerator(1, devices), tt.rate, tt.batch, sink, time.Now)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if took := time.Since(start); took > tt.duration+2*time.Second {
				t.Fatalf("Run took %v after a %v deadline", took, tt.duration)
			}
			if got, want := sent, len(sink.items); got != want {
				t.Fatalf("got sent %d, want the %d the sink took", got, want)
			}
			limit := int(tt.rate*tt.duration.Seconds()*1.5 + tt.rate*tt.batch.Seconds())
			if sent <= 0 || sent > limit {
				t.Fatalf("got %d sent, want 1..%d", sent, limit)
			}
			var prev time.Time
			for i, it := range sink.items {
				tm, err := ingest.ParseTime(it.Time)
				if err != nil {
					t.Fatalf("item %d: %v", i, err)
				}
				if tm.Before(start.Add(-time.Second)) || tm.After(time.Now()) {
					t.Fatalf("item %d: got time %v, want within the run", i, tm)
				}
				if tm.Before(prev) {
					t.Fatalf("item %d: got time %v before the previous %v", i, tm, prev)
				}
				prev = tm
			}
			t.Logf("rate %.0f/s for %v: sent %d in %d batches", tt.rate, tt.duration, sent, sink.batches)
		})
	}
}

func TestRunStopsOnSinkErrorAndBadArguments(t *testing.T) {
	_, devices := sim.Population(1, 2)
	g := sim.NewGenerator(1, devices)
	boom := errors.New("boom")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sim.Run(ctx, g, 1000, 10*time.Millisecond, &memSink{err: boom}, nil); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the sink's error", err)
	}
	for _, tt := range []struct {
		rate  float64
		batch time.Duration
	}{{0, time.Second}, {-1, time.Second}, {10, 0}} {
		if _, err := sim.Run(ctx, g, tt.rate, tt.batch, &memSink{}, nil); err == nil {
			t.Errorf("rate %v batch %v: got no error, want one", tt.rate, tt.batch)
		}
	}
}

// attempt is one request the test server saw.
type attempt struct {
	body              []byte
	contentType, auth string
	method, path      string
}

// scriptedServer answers the n-th request with script[n] (the last entry
// repeats) and records every request.
func scriptedServer(tb testing.TB, script []func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, func() []attempt) {
	tb.Helper()
	var mu sync.Mutex
	var seen []attempt
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, attempt{body, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Method, r.URL.Path})
		n := len(seen) - 1
		mu.Unlock()
		script[min(n, len(script)-1)](w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv, func() []attempt {
		mu.Lock()
		defer mu.Unlock()
		return append([]attempt(nil), seen...)
	}
}

func status(code int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// hangUp drops the connection without an answer, as a crashing server does.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}
}

func TestHTTPSink(t *testing.T) {
	ok := status(200, `{"accepted": 3, "duplicates": 0, "rejected": []}`)
	tests := []struct {
		name     string
		script   []func(http.ResponseWriter, *http.Request)
		attempts int
		wantErr  string
		want     sim.SinkTotals
	}{
		{"accepted at once", []func(http.ResponseWriter, *http.Request){ok}, 1, "", sim.SinkTotals{Accepted: 3}},
		{"two 503 then stored", []func(http.ResponseWriter, *http.Request){
			status(503, `{"error": "shutting down"}`), status(503, `{"error": "shutting down"}`), ok,
		}, 3, "", sim.SinkTotals{Accepted: 3, Retries: 2}},
		{"hang-up then duplicates", []func(http.ResponseWriter, *http.Request){
			hangUp, status(200, `{"accepted": 1, "duplicates": 2, "rejected": []}`),
		}, 2, "", sim.SinkTotals{Accepted: 1, Duplicates: 2, Retries: 1}},
		{"rejected items", []func(http.ResponseWriter, *http.Request){
			status(200, `{"accepted": 2, "duplicates": 0, "rejected": [{"index": 1, "error": "key must be 1 to 100 letters"}]}`),
		}, 1, "", sim.SinkTotals{Accepted: 2, Rejected: 1}},
		{"400 is final", []func(http.ResponseWriter, *http.Request){status(400, `{"error": "bad"}`)}, 1, "400", sim.SinkTotals{}},
		{"401 is final", []func(http.ResponseWriter, *http.Request){status(401, `{"error": "Log In"}`)}, 1, "401", sim.SinkTotals{}},
		{"500 until the bound", []func(http.ResponseWriter, *http.Request){status(500, `{"error": "Internal error."}`)}, 4, "giving up after 4 attempts", sim.SinkTotals{Retries: 3}},
	}
	_, devices := sim.Population(1, 2)
	items, _ := generate(t, 5, devices, 3, time.Second)
	want := encode(t, items)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := scriptedServer(t, tt.script)
			var logs bytes.Buffer
			sink := &sim.HTTPSink{
				BaseURL: srv.URL + "/", Token: "secret-token", Client: srv.Client(),
				Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
				MaxAttempts: 4, Backoff: time.Millisecond,
			}
			err := sink.Send(context.Background(), items)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Send: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			got := seen()
			if len(got) != tt.attempts {
				t.Fatalf("got %d attempts, want %d", len(got), tt.attempts)
			}
			for i, a := range got {
				if !bytes.Equal(a.body, want) {
					t.Errorf("attempt %d: got body %q, want the same bytes %q", i, a.body, want)
				}
				if a.method != http.MethodPost || a.path != "/v1/events" {
					t.Errorf("attempt %d: got %s %s, want POST /v1/events", i, a.method, a.path)
				}
				if a.contentType != "application/x-ndjson" || a.auth != "Bearer secret-token" {
					t.Errorf("attempt %d: got Content-Type %q, Authorization %q", i, a.contentType, a.auth)
				}
			}
			if got := sink.Totals(); got != tt.want {
				t.Errorf("got totals %+v, want %+v", got, tt.want)
			}
			if tt.want.Rejected > 0 && !strings.Contains(logs.String(), "source_id="+items[1].SourceID) {
				t.Errorf("rejection not logged with its source id; logs:\n%s", logs.String())
			}
		})
	}
}

func TestHTTPSinkStopsOnCancel(t *testing.T) {
	srv, seen := scriptedServer(t, []func(http.ResponseWriter, *http.Request){status(503, `{}`)})
	sink := &sim.HTTPSink{BaseURL: srv.URL, Client: srv.Client(), MaxAttempts: 1000, Backoff: 20 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, devices := sim.Population(1, 1)
	items, _ := generate(t, 5, devices, 1, time.Second)
	if err := sink.Send(ctx, items); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
	if n := len(seen()); n < 2 || n > 100 {
		t.Fatalf("got %d attempts before the deadline, want a few", n)
	}
}

func TestSetup(t *testing.T) {
	var mu sync.Mutex
	created := map[string]string{}
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer admin" {
			status(401, `{"error": "Log In"}`)(w, r)
			return
		}
		if fail.Load() {
			status(400, `{"error": "device site_id is required"}`)(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var m map[string]string
		if err := json.Unmarshal(body, &m); err != nil || m["id"] == "" {
			status(400, `{"error": "bad body"}`)(w, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		key := r.URL.Path + " " + m["id"]
		if _, ok := created[key]; ok {
			status(409, `{"error": "exists"}`)(w, r)
			return
		}
		created[key] = string(body)
		status(201, string(body))(w, r)
	}))
	defer srv.Close()
	sites, devices := sim.Population(2, 3)
	ctx := context.Background()
	if err := sim.Setup(ctx, srv.URL, "admin", srv.Client(), sites, devices); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if got, want := len(created), len(sites)+len(devices); got != want {
		t.Fatalf("got %d created, want %d", got, want)
	}
	if got, want := created["/v1/devices "+devices[0].ID], `{"id":"`+devices[0].ID+`","model":"`+devices[0].Model+`","name":"`+devices[0].Name+`","site_id":"demo-1"}`; got != want {
		t.Fatalf("got device body %s, want %s", got, want)
	}
	if err := sim.Setup(ctx, srv.URL, "admin", srv.Client(), sites, devices); err != nil {
		t.Fatalf("Setup again (409s): %v", err)
	}
	if err := sim.Setup(ctx, srv.URL, "wrong", srv.Client(), sites, devices); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("got %v, want a 401 error", err)
	}
	fail.Store(true)
	if err := sim.Setup(ctx, srv.URL, "admin", srv.Client(), []doorlog.Site{{ID: "x", Name: "X"}}, nil); err == nil {
		t.Fatalf("got no error for a 400")
	}
}
