package vpanel_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/vpanel"
)

const devID = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"

func newPanel(t *testing.T, ring int, now func() time.Time) (*vpanel.Panel, *httptest.Server) {
	t.Helper()
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	p := vpanel.New(vpanel.Config{Device: doorlog.Device{ID: devID, Name: "Gate", Model: "AA-14FB"}, Ring: ring, Catalog: cat, Now: now})
	ts := httptest.NewServer(p.Handler())
	t.Cleanup(ts.Close)
	return p, ts
}

func get(t *testing.T, ts *httptest.Server, path, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, b)
		}
	}
	return resp.StatusCode
}

type page struct {
	ListOption struct {
		Pagination struct {
			TotalItems int `json:"total_items"`
		} `json:"pagination"`
	} `json:"list_option"`
	ListItems []struct {
		Timestamp int64 `json:"timestamp"`
		Name      struct {
			Key string `json:"key"`
		} `json:"name"`
		Info struct {
			Model map[string]any `json:"model"`
		} `json:"info"`
	} `json:"list_items"`
}

func login(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	sum := md5.Sum([]byte(vpanel.DefaultPassword))
	var l struct {
		Token string `json:"token"`
	}
	if status := get(t, ts, "/api/v1/login?username=admin&password="+strings.ToUpper(hex.EncodeToString(sum[:])), "", &l); status != 200 || l.Token == "" {
		t.Fatalf("login: got %d %+v", status, l)
	}
	return l.Token
}

// TestRing: the log overwrites its oldest events past its size, is read
// like a panel's (asc, from, pages), and a wrong password is refused.
func TestRing(t *testing.T) {
	clock := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	p, ts := newPanel(t, 5, func() time.Time { return clock })
	for i := range 8 {
		clock = clock.Add(time.Second)
		p.Log("access_granted_by_valid_identifier", json.RawMessage(fmt.Sprintf(`{"number":%d,"type":"card","lock":1}`, i)))
	}
	if logged, lost := p.Counts(); logged != 8 || lost != 3 {
		t.Errorf("counts: got %d logged %d lost, want 8 and 3", logged, lost)
	}
	if status := get(t, ts, "/api/v1/login?username=admin&password=nope", "", nil); status != 401 {
		t.Errorf("a wrong password: got %d, want 401", status)
	}
	tok := login(t, ts) // logs a login: the ring drops one more
	var pg page
	get(t, ts, "/api/v1/log/items?limit=50&sort_type=asc", tok, &pg)
	if pg.ListOption.Pagination.TotalItems != 5 || len(pg.ListItems) != 5 {
		t.Fatalf("log: got %d items (total %d), want the 5 the ring holds", len(pg.ListItems), pg.ListOption.Pagination.TotalItems)
	}
	// Cards 0 to 7, a failed and a good login: the ring keeps cards 5 to
	// 7 and the two logins.
	if n := pg.ListItems[0].Info.Model["number"]; n != float64(5) {
		t.Errorf("oldest kept: got card %v, want 5", n)
	}
	from := pg.ListItems[2].Timestamp
	get(t, ts, fmt.Sprintf("/api/v1/log/items?limit=10&from=%d", from), tok, &pg)
	if len(pg.ListItems) != 3 || pg.ListItems[0].Timestamp != from {
		t.Errorf("from %d: got %d items starting at %v, want 3 from it", from, len(pg.ListItems), pg.ListItems)
	}
	// The clear deletes the log, as a panel's does.
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/system/data/clear", strings.NewReader(`{"clear_fields":["logs"]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := ts.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("clear: %v %v", err, resp)
	}
	resp.Body.Close()
	get(t, ts, "/api/v1/log/items", tok, &pg)
	if pg.ListOption.Pagination.TotalItems != 0 {
		t.Errorf("after the clear: got %d events, want 0", pg.ListOption.Pagination.TotalItems)
	}
}

// TestRebootAndSkew: a reboot ends sessions and may lose the log; the
// clock skew moves event times and the device time alike.
func TestRebootAndSkew(t *testing.T) {
	clock := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	p, ts := newPanel(t, 50, func() time.Time { return clock })
	p.Log("door_was_opened", nil)
	tok := login(t, ts)
	p.Reboot(true)
	if status := get(t, ts, "/api/v1/log/items", tok, nil); status != 401 {
		t.Errorf("a session after a reboot: got %d, want 401", status)
	}
	tok = login(t, ts)
	var pg page
	get(t, ts, "/api/v1/log/items", tok, &pg)
	if pg.ListOption.Pagination.TotalItems != 2 || pg.ListItems[0].Name.Key != "device_booted" {
		t.Errorf("after a reboot that loses the log: got %+v, want device_booted and the login", pg.ListItems)
	}
	p.SetSkew(-3 * time.Hour)
	p.Log("door_was_closed", nil)
	var tm struct {
		TimeUnix int64 `json:"time_unix"`
	}
	get(t, ts, "/api/v1/device/time", tok, &tm)
	if want := clock.Add(-3 * time.Hour).Unix(); tm.TimeUnix != want {
		t.Errorf("device time: got %d, want %d", tm.TimeUnix, want)
	}
	// Logged by the skewed clock, three hours before the logins logged by
	// the right one: it sorts first.
	get(t, ts, "/api/v1/log/items?sort_type=asc&limit=10", tok, &pg)
	if got, want := pg.ListItems[0].Timestamp, clock.Add(-3*time.Hour).UnixMilli(); pg.ListItems[0].Name.Key != "door_was_closed" || got != want {
		t.Errorf("first event: got %s at %d, want door_was_closed at %d", pg.ListItems[0].Name.Key, got, want)
	}
}

// TestControl reboots a panel and sets its clock through the control
// endpoints, which need a session.
func TestControl(t *testing.T) {
	clock := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	p, ts := newPanel(t, 50, func() time.Time { return clock })
	p.Log("door_was_opened", nil)
	post := func(path, token string) int {
		req, _ := http.NewRequest("POST", ts.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post("/_sim/reboot?lose=true", ""); status != 401 {
		t.Errorf("reboot without a session: got %d, want 401", status)
	}
	tok := login(t, ts)
	if status := post("/_sim/skew?by=-90m", tok); status != 200 {
		t.Errorf("skew: got %d, want 200", status)
	}
	if status := post("/_sim/skew?by=soon", tok); status != 400 {
		t.Errorf("a bad skew: got %d, want 400", status)
	}
	if status := post("/_sim/reboot?lose=true", tok); status != 200 {
		t.Errorf("reboot: got %d, want 200", status)
	}
	events := p.Events()
	if len(events) != 1 || events[0].Key != "device_booted" || !events[0].Time.Equal(clock.Add(-90*time.Minute)) {
		t.Errorf("after the reboot with a slow clock: got %+v, want device_booted at %s", events, clock.Add(-90*time.Minute))
	}
}
