package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// benchBatchSize is the events in one request of BenchmarkIngestHTTP, a
// batching client's typical request.
const benchBatchSize = 5000

// benchTemplates are NDJSON bodies of simulated traffic whose source ids
// start with roundMarker; each request replaces the marker with its own
// round number (same length), so every event the benchmark posts is new.
const roundMarker = "R0000000-"

func benchTemplates(b *testing.B, devices []sim.Device, n int) [][]byte {
	b.Helper()
	g := sim.NewGenerator(1, devices)
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		items := make([]ingest.Item, benchBatchSize)
		for j := range items {
			t = t.Add(37 * time.Millisecond)
			items[j] = g.Next(t)
			items[j].SourceID = roundMarker + items[j].SourceID
		}
		body, err := sim.EncodeNDJSON(items)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = body
	}
	return out
}

// BenchmarkIngestHTTP measures durable ingest through the whole server:
// four clients post NDJSON batches of 5,000 simulated events (unique source
// ids) to POST /v1/events over loopback, each waiting for its answer.
func BenchmarkIngestHTTP(b *testing.B) {
	ctx := context.Background()
	a, err := app.Open(ctx, app.Config{Data: b.TempDir(), Name: "bench", Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	b.Cleanup(func() {
		ts.Close()
		a.Close()
	})
	sites, devices := sim.Population(10, 8)
	for i := range sites {
		if err := a.Store.CreateSite(ctx, &sites[i]); err != nil {
			b.Fatal(err)
		}
	}
	for _, d := range devices {
		if err := a.Store.CreateDevice(ctx, &doorlog.Device{ID: d.ID, SiteID: d.SiteID, Name: d.Name, Model: d.Model}); err != nil {
			b.Fatal(err)
		}
	}
	secret, _, err := a.Auth.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	templates := benchTemplates(b, devices, 8)
	// Every body is built before the clock starts, so that the clients
	// spend their CPU only on HTTP.
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = bytes.ReplaceAll(templates[i%len(templates)], []byte(roundMarker), fmt.Appendf(nil, "R%07d-", i))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var next atomic.Int64
	b.SetParallelism(2) // 2 × GOMAXPROCS (2 here): four concurrent clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			req, err := http.NewRequest("POST", ts.URL+"/v1/events", bytes.NewReader(bodies[i]))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Content-Type", "application/x-ndjson")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(answer, fmt.Appendf(nil, `"accepted":%d,`, benchBatchSize)) {
				b.Errorf("got %d %s, want every event accepted", resp.StatusCode, answer)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*benchBatchSize)/b.Elapsed().Seconds(), "events/s")
}
