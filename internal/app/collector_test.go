package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/collector"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/vpanel"
)

// pullWorld is a server whose devices are read from virtual panels.
type pullWorld struct {
	t      *testing.T
	data   string
	a      *app.App
	ts     *httptest.Server
	admin  string
	panels map[string]*vpanel.Panel
	addrs  map[string]string
}

// openPullApp opens (or reopens) the server on data and starts its
// panels' collectors.
func openPullApp(t *testing.T, data string) (*app.App, *httptest.Server) {
	t.Helper()
	a, err := app.Open(context.Background(), app.Config{Data: data, Name: "test", Version: "test",
		PullInterval: 20 * time.Millisecond, PullMaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.StartPanels(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, httptest.NewServer(a.Handler())
}

func (w *pullWorld) close() {
	w.ts.Close()
	w.a.Close()
}

// restart closes the server and opens it again on the same store.
func (w *pullWorld) restart() {
	w.close()
	w.a, w.ts = openPullApp(w.t, w.data)
}

// newPullWorld starts n virtual panels with rings of ring events, and a
// server with one device per panel, each read from its panel.
func newPullWorld(t *testing.T, n, ring int) *pullWorld {
	w := &pullWorld{t: t, data: t.TempDir(), panels: map[string]*vpanel.Panel{}, addrs: map[string]string{}}
	w.a, w.ts = openPullApp(t, w.data)
	t.Cleanup(func() {
		w.close()
		for _, p := range w.panels {
			p.Stop()
		}
	})
	admin, _, err := w.a.Auth.IssueToken(context.Background(), doorlog.Token{Role: doorlog.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	w.admin = admin
	if status, b := call(t, w.ts, "POST", "/v1/sites", admin, `{"id":"a","name":"A"}`); status != 201 {
		t.Fatalf("create site: %d %s", status, b)
	}
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", 500+i)
		p := vpanel.New(vpanel.Config{Device: doorlog.Device{ID: id, Name: fmt.Sprintf("Panel %d", i), Model: "AA-14FB"}, Ring: ring, Catalog: w.a.Catalog})
		addr, err := p.Serve("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		w.panels[id], w.addrs[id] = p, addr
		body := fmt.Sprintf(`{"id":%q,"site_id":"a","name":"Panel %d","pull":{"url":"http://%s","username":"admin","password":%q}}`, id, i, addr, vpanel.DefaultPassword)
		if status, b := call(t, w.ts, "POST", "/v1/devices", admin, body); status != 201 {
			t.Fatalf("create device: %d %s", status, b)
		}
	}
	return w
}

// logSome logs n access events on panel p.
func logSome(p *vpanel.Panel, n int, rng *rand.Rand) {
	logSpaced(p, n, 0, rng)
}

// logSpaced logs n access events on panel p, every gap.
func logSpaced(p *vpanel.Panel, n int, gap time.Duration, rng *rand.Rand) {
	for range n {
		p.Log("access_granted_by_valid_identifier", json.RawMessage(fmt.Sprintf(`{"number":%d,"type":"card","lock":%d}`, rng.IntN(1000), 1+rng.IntN(2))))
		time.Sleep(gap)
	}
}

// stored returns a device's stored events, gap records apart.
func (w *pullWorld) stored(device string) (events, gaps []doorlog.Event) {
	w.t.Helper()
	all, err := w.a.Store.ListEvents(context.Background(), doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: doorlog.Scope{All: true}, DeviceIDs: []string{device}}})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, e := range all {
		if e.Key == collector.KeyGap {
			gaps = append(gaps, e)
		} else {
			events = append(events, e)
		}
	}
	return events, gaps
}

// identity is what a panel's event and its stored copy share.
func identity(e doorlog.Event) string {
	return fmt.Sprintf("%d|%s|%s", e.Time.UnixMilli(), e.Key, e.Model)
}

// caughtUp reports whether every event the panel's ring holds is stored
// exactly once, and says what differs when not.
func (w *pullWorld) caughtUp(device string) string {
	want := map[string]int{}
	for _, e := range w.panels[device].Events() {
		want[identity(e)]++
	}
	events, _ := w.stored(device)
	got := map[string]int{}
	for _, e := range events {
		got[identity(e)]++
	}
	for id, n := range want {
		if got[id] != n {
			var same []string
			for _, e := range events {
				if strings.HasPrefix(identity(e), strings.SplitN(id, "|", 2)[0]) && len(same) < 10 {
					same = append(same, e.SourceID+" "+e.Key+" "+string(e.Model))
				}
			}
			return fmt.Sprintf("event %s: stored %d times, the ring holds it %d times (stored that millisecond, the first 10: %q)", id, got[id], n, same)
		}
	}
	for id, n := range got {
		if n > 1 && want[id] < n {
			return fmt.Sprintf("event %s stored %d times", id, n)
		}
	}
	return ""
}

func (w *pullWorld) waitCaughtUp(device string) {
	w.t.Helper()
	eventually(w.t, "device "+device+" caught up with its panel", func() string {
		msg := w.caughtUp(device)
		if msg != "" {
			st, _ := w.a.Collectors.Status(device)
			evs := w.panels[device].Events()
			last := ""
			if len(evs) > 0 {
				last = identity(evs[len(evs)-1])
			}
			c, derr := net.Dial("tcp", w.addrs[device])
			if c != nil {
				c.Close()
			}
			msg += fmt.Sprintf(" [status %+v; ring %d events, newest %s; dial %s now: %v]", st, len(evs), last, w.addrs[device], derr)
		}
		return msg
	})
}

// TestCollectorFaults drives one panel through what real ones do: a ring
// that wraps while the panel is unreachable, a reboot that loses the log,
// a clock set hours off and set back, and doorlog restarted; every event
// the ring held when read is stored once, each real loss is a gap.
func TestCollectorFaults(t *testing.T) {
	w := newPullWorld(t, 1, 20)
	var id string
	for d := range w.panels {
		id = d
	}
	p := w.panels[id]
	rng := rand.New(rand.NewPCG(1, 2))
	logSpaced(p, 10, 2*time.Millisecond, rng)
	w.waitCaughtUp(id)

	// Offline while 50 events go through a ring of 20: about 30 lost (the
	// estimate goes by the ring's density of events over time).
	p.Stop()
	logSpaced(p, 50, 2*time.Millisecond, rng)
	eventually(t, "the collector notices the panel is down", func() string {
		st, _ := w.a.Collectors.Status(id)
		if st.State != collector.StateError || st.LastError == "" {
			return fmt.Sprintf("status %+v", st)
		}
		// The error is shown to admins and logged: never the login's
		// query, which holds the password's hash.
		if strings.Contains(st.LastError, "password") || strings.Contains(st.LastError, "?") {
			t.Errorf("the collector's error tells the login's query: %q", st.LastError)
		}
		return ""
	})
	if _, err := p.Serve(w.addrs[id]); err != nil {
		t.Fatal(err)
	}
	w.waitCaughtUp(id)
	_, gaps := w.stored(id)
	if len(gaps) != 1 {
		t.Fatalf("after the ring wrapped: got %d gaps, want 1", len(gaps))
	}
	var gap struct {
		Missing int64 `json:"estimated_missing"`
	}
	_ = json.Unmarshal(gaps[0].Model, &gap)
	if gap.Missing < 10 || gap.Missing > 150 {
		t.Errorf("the gap's estimate: got %d, want about 30", gap.Missing)
	}
	if st, _ := w.a.Collectors.Status(id); st.State != collector.StateOK || st.Gaps != 1 || st.APIVersion != "2.9.0" {
		t.Errorf("status after the gap: got %+v, want ok with 1 gap, the panel's API 2.9.0", st)
	}

	// The same, per device, in /metrics.
	_, metrics := call(t, w.ts, "GET", "/metrics", "", "")
	for _, want := range []string{
		`doorlog_collector_up{device="` + id + `"} 1`,
		`doorlog_collector_device_gaps_total{device="` + id + `"} 1`,
		`doorlog_collector_gaps_total 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics: no %q", want)
		}
	}
	if !strings.Contains(string(metrics), `doorlog_collector_device_events_total{device="`+id+`"}`) || !strings.Contains(string(metrics), `doorlog_collector_lag_seconds{device="`+id+`"}`) {
		t.Errorf("/metrics: no per-device events or lag of %s", id)
	}

	// A reboot that loses the log, with events logged since the last read.
	p.Stop()
	logSome(p, 5, rng)
	p.Reboot(true)
	logSome(p, 3, rng)
	if _, err := p.Serve(w.addrs[id]); err != nil {
		t.Fatal(err)
	}
	w.waitCaughtUp(id)
	if _, gaps := w.stored(id); len(gaps) != 2 {
		t.Errorf("after a reboot that lost the log: got %d gaps, want 2", len(gaps))
	}

	// A clock three hours slow: times are corrected.
	p.SetSkew(-3 * time.Hour)
	p.Log("door_was_opened", json.RawMessage(`{"lock":2}`))
	eventually(t, "the event of the slow clock", func() string {
		events, _ := w.stored(id)
		for _, e := range events {
			if e.Key == "door_was_opened" {
				if d := time.Since(e.Time); d < -time.Minute || d > time.Minute {
					return fmt.Sprintf("stored at %s, %s from now; want its time corrected", e.Time, d)
				}
				return ""
			}
		}
		return "not stored"
	})
	// Set back to the right time: its new events sort before the last
	// read, and are read all the same, each once.
	p.SetSkew(0)
	logSome(p, 4, rng)
	w.restart()
	logSome(p, 4, rng)
	// Every event still in the ring is stored once; those of the slow
	// clock's era are stored at corrected times, so compare the others.
	eventually(t, "events after the clock was set back, and after a restart", func() string {
		events, _ := w.stored(id)
		seen := map[string]int{}
		for _, e := range events {
			seen[identity(e)]++
		}
		for _, e := range p.Events() {
			if e.Time.Before(time.Now().Add(-time.Hour)) {
				continue
			}
			if seen[identity(e)] != 1 {
				return fmt.Sprintf("panel event %s stored %d times, want once", identity(e), seen[identity(e)])
			}
		}
		return ""
	})
}

// TestCollectorManyPanels is the issue's test: 50 virtual panels with
// rings of 500, traffic on all of them, doorlog restarted twice and panels
// restarted while the collector runs; afterwards every event each ring
// holds is stored exactly once, nothing is stored that no panel logged,
// and the only gap is the one panel whose ring wrapped while it was cut
// off.
func TestCollectorManyPanels(t *testing.T) {
	w := newPullWorld(t, 50, 500)
	ids := make([]string, 0, len(w.panels))
	for id := range w.panels {
		ids = append(ids, id)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	// The cut-off panel is read once before it goes away (and before the
	// traffic starts, so that reading can catch up): a panel's history
	// before its first read records no gap, by design.
	cutOff := ids[0]
	logSome(w.panels[cutOff], 5, rng)
	w.waitCaughtUp(cutOff)
	var mu sync.Mutex // the traffic's rng
	stop := make(chan struct{})
	var traffic sync.WaitGroup
	traffic.Add(1)
	go func() {
		defer traffic.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			mu.Lock()
			for range 10 {
				logSome(w.panels[ids[rng.IntN(len(ids))]], 1, rng)
			}
			mu.Unlock()
		}
	}()
	w.panels[cutOff].Stop()
	for round := range 3 {
		time.Sleep(300 * time.Millisecond)
		if round < 2 {
			w.restart()
		}
		for _, id := range ids[1+round*5 : 6+round*5] {
			p := w.panels[id]
			p.Stop()
			time.Sleep(20 * time.Millisecond)
			if _, err := p.Serve(w.addrs[id]); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The cut-off panel's ring wraps while no one reads it.
	mu.Lock()
	logSome(w.panels[cutOff], 600, rng)
	mu.Unlock()
	close(stop)
	traffic.Wait()
	if _, err := w.panels[cutOff].Serve(w.addrs[cutOff]); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		w.waitCaughtUp(id)
	}
	for _, id := range ids {
		events, gaps := w.stored(id)
		logged, lost := w.panels[id].Counts()
		if id == cutOff {
			if len(gaps) != 1 {
				t.Errorf("the cut-off panel: got %d gaps, want 1", len(gaps))
			}
			continue
		}
		if len(gaps) != 0 || lost != 0 {
			t.Errorf("panel %s: got %d gaps (%d events lost by its ring), want none", id, len(gaps), lost)
		}
		if int64(len(events)) != logged {
			t.Errorf("panel %s: %d events stored, %d logged: want each once", id, len(events), logged)
		}
	}
	var total int64
	for _, st := range w.a.Collectors.Statuses() {
		total += st.Collected
	}
	if total == 0 || !strings.Contains(fmt.Sprint(w.a.Collectors.Statuses()), "ok") {
		t.Errorf("statuses: %v", w.a.Collectors.Statuses())
	}
}

// TestCollectorErrorTellsNoSecret: a panel that cannot be reached at login
// is reported without the login's query (the password's hash), in the
// device's status and the API.
func TestCollectorErrorTellsNoSecret(t *testing.T) {
	w := newPullWorld(t, 0, 10)
	const id = "00000000-0000-4000-8000-000000000777"
	if status, b := call(t, w.ts, "POST", "/v1/devices", w.admin, `{"id":"`+id+`","site_id":"a","name":"Unreachable","pull":{"url":"http://127.0.0.1:1","username":"admin","password":"123456"}}`); status != 201 {
		t.Fatalf("create device: %d %s", status, b)
	}
	eventually(t, "the collector's error", func() string {
		st, ok := w.a.Collectors.Status(id)
		if !ok || st.LastError == "" {
			return fmt.Sprintf("status %+v", st)
		}
		return ""
	})
	st, _ := w.a.Collectors.Status(id)
	_, body := call(t, w.ts, "GET", "/v1/devices", w.admin, "")
	for _, s := range []string{st.LastError, string(body)} {
		if strings.Contains(s, "password") || strings.Contains(s, "e10adc3949ba59abbe56e057f20f883e") {
			t.Errorf("the error tells the login's query: %s", s)
		}
	}
	if !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("the error: got %q, want it to say why", st.LastError)
	}
}

// TestCollectorShiftingRing: a burst of more events in one millisecond
// than a page holds is listed by page number, and a full ring that logs
// something while it is read (a real panel logs the reader's own login)
// drops its oldest event and shifts every page after it by one. No event
// the ring still holds may be skipped for that.
func TestCollectorShiftingRing(t *testing.T) {
	w := newPullWorld(t, 0, 10)
	const id = "00000000-0000-4000-8000-000000000900"
	var frozen atomic.Int64 // the panel's clock in Unix ms while set; 0: real time
	p := vpanel.New(vpanel.Config{Device: doorlog.Device{ID: id, Name: "Burst", Model: "AA-14FB"}, Ring: 120, Catalog: w.a.Catalog,
		Now: func() time.Time {
			if ms := frozen.Load(); ms != 0 {
				return time.UnixMilli(ms)
			}
			return time.Now()
		}})
	// The panel logs an event each time a second page of one listing is
	// asked for (twice at the most), as a login by its reader would.
	var shifts atomic.Int32
	var hold atomic.Bool // the panel does not answer while set
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if hold.Load() {
			http.Error(rw, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/api/v1/log/items" && r.URL.Query().Get("page_number") == "2" && shifts.Add(1) <= 2 {
			p.Log("successful_login_api_call", json.RawMessage(`{"account_type":"admin"}`))
		}
		p.Handler().ServeHTTP(rw, r)
	}))
	t.Cleanup(ts.Close)
	w.panels[id] = p
	rng := rand.New(rand.NewPCG(5, 6))
	logSome(p, 3, rng)
	if status, b := call(t, w.ts, "POST", "/v1/devices", w.admin, `{"id":"`+id+`","site_id":"a","name":"Burst","pull":{"url":"`+ts.URL+`","username":"admin","password":"`+vpanel.DefaultPassword+`"}}`); status != 201 {
		t.Fatalf("create device: %d %s", status, b)
	}
	w.waitCaughtUp(id)
	// 150 events in one millisecond through a ring of 120, read in pages
	// of 50 while the ring shifts under the reader.
	// Each with its own card number: identical events of one millisecond
	// are told apart only by their order, which an eviction changes. The
	// panel is not read meanwhile, and its clock is past the burst's
	// millisecond when it is: what it logs during the read comes after
	// the burst, so the reader moves past the burst for good.
	hold.Store(true)
	frozen.Store(time.Now().UnixMilli())
	for i := range 150 {
		p.Log("access_granted_by_valid_identifier", json.RawMessage(fmt.Sprintf(`{"number":%d,"type":"card","lock":1}`, 5000+i)))
	}
	burst := frozen.Load()
	frozen.Store(0)
	for time.Now().UnixMilli() <= burst {
		time.Sleep(time.Millisecond)
	}
	hold.Store(false)
	w.waitCaughtUp(id)
	if shifts.Load() == 0 {
		t.Fatal("the burst was never listed by page number: the test no longer tests the shift")
	}
}
