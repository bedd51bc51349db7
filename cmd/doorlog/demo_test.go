package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// TestDemo starts `serve --demo` as a newcomer does and checks what the
// demo promises: devices with events, and virtual BAS-IP panels the pull
// collector reads.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	// A slow demo, so that its history (a week at the live rate) is small.
	const rate = 0.02
	base := startServe(t, dir, "--demo", "--demo-rate", "0.02")
	token := lastLine(mustCLI(t, "token", "create", "--role", "admin", "--data", dir))
	get := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, v); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
	var pulled []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		var list struct {
			Devices []struct {
				Name      string                `json:"name"`
				Pull      *struct{ URL string } `json:"pull"`
				Collector *struct {
					State     string `json:"state"`
					Collected int64  `json:"events_collected"`
				} `json:"collector"`
			} `json:"devices"`
		}
		get("/v1/devices", &list)
		pulled = pulled[:0]
		for _, d := range list.Devices {
			if d.Pull != nil && d.Collector != nil && d.Collector.State == "ok" && d.Collector.Collected > 0 {
				pulled = append(pulled, d.Name)
			}
		}
		if len(pulled) == demoPulled || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(pulled) != demoPulled {
		t.Fatalf("demo devices read from virtual panels: got %q, want %d", pulled, demoPulled)
	}
	var events struct {
		Count int64 `json:"count"`
	}
	// A week at the live rate on average: about 12,000 events.
	week := int64(rate * demoBackfillDays * 86400)
	for {
		get("/v1/events?limit=1&count=exact", &events)
		if events.Count >= week*9/10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if events.Count < week*9/10 || events.Count > week*11/10+1000 {
		t.Errorf("demo events: got %d, want about the %d of a week at the live rate", events.Count, week)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("base %q", base)
	}
	// Looked at in a browser: in a subtest of its own, which a machine
	// without Chromium skips (outside CI) without skipping the above.
	t.Run("charts in a browser", func(t *testing.T) { demoCharts(t, base) })
}

// TestBackfillRhythm: the demo's history is a week of events at the live
// rate on average, in time order, quiet at night and busy at the morning
// rush, so the charts look like a building's.
func TestBackfillRhythm(t *testing.T) {
	mean := 0.0
	monday := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for h := range 7 * 24 {
		mean += rhythm(monday.Add(time.Duration(h) * time.Hour))
	}
	if mean /= 7 * 24; math.Abs(mean-1) > 1e-9 {
		t.Errorf("the rhythm's weekly mean: got %v, want 1", mean)
	}
	_, devices := sim.Population(2, 4)
	gen := sim.NewGenerator(1, devices)
	now := monday.Add(7*24*time.Hour + 13*time.Hour)
	var got []ingest.Item
	sink := sinkFunc(func(_ context.Context, items []ingest.Item) error {
		got = append(got, items...)
		return nil
	})
	const rate = 0.5
	if err := backfill(context.Background(), gen, sink, now, rate, rand.New(rand.NewPCG(1, 2))); err != nil {
		t.Fatal(err)
	}
	want := rate * demoBackfillDays * 86400
	if n := float64(len(got)); n < want*0.97 || n > want*1.03 {
		t.Errorf("events: got %d, want about %.0f (a week at %.1f/s)", len(got), want, rate)
	}
	byHour := map[int]int{}
	var last time.Time
	for _, it := range got {
		var at time.Time
		if err := json.Unmarshal(it.Time, &at); err != nil {
			t.Fatalf("event time %s: %v", it.Time, err)
		}
		at = at.UTC()
		if at.Before(last) || !at.Before(now) || at.Before(now.Add(-demoBackfillDays*24*time.Hour-time.Minute)) {
			t.Fatalf("event at %s: out of order or out of the week before %s", at, now)
		}
		last = at
		if at.Weekday() != time.Saturday && at.Weekday() != time.Sunday {
			byHour[at.Hour()]++
		}
	}
	if byHour[3]*10 > byHour[8] {
		t.Errorf("working days: %d events at 3 h, %d at 8 h; want the night far quieter than the rush", byHour[3], byHour[8])
	}
}
