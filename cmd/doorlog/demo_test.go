package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDemo starts `serve --demo` as a newcomer does and checks what the
// demo promises: devices with events, and virtual BAS-IP panels the pull
// collector reads.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	base := startServe(t, dir, "--demo", "--demo-rate", "20")
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
	for {
		get("/v1/events?limit=1&count=exact", &events)
		if events.Count >= demoBackfill || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if events.Count < demoBackfill {
		t.Errorf("demo events: got %d, want at least the %d of the day before", events.Count, demoBackfill)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("base %q", base)
	}
}
