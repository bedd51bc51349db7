package app_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
)

// The world of the kinds tests: two sites with a device each.
const (
	kindsDevA = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"
	kindsDevB = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
	// unknownKeys is how many distinct keys outside the catalog the test
	// sends: twice the 4,096 kinds the counts once held.
	unknownKeys = 8_000
)

// kindsT0 is the time of the first event; the events span about 16 hours.
var kindsT0 = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

// kindsServer is a server started with app.Open on a data directory and
// served on a loopback socket, with an admin token.
type kindsServer struct {
	app    *app.App
	url    string
	token  string
	logs   *syncBuffer
	closed bool
}

// startKinds opens the app on dir with the limits and serves it; the
// world is created when create is set. Close stops it.
func startKinds(t testing.TB, dir string, limits ingest.Limits, create bool) *kindsServer {
	t.Helper()
	ctx := context.Background()
	logs := &syncBuffer{}
	a, err := app.Open(ctx, app.Config{Data: dir, Name: "kinds", Version: "test", Limits: limits, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if create {
		for _, s := range []string{"a", "b"} {
			if err := a.Store.CreateSite(ctx, &doorlog.Site{ID: s, Name: s}); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []doorlog.Device{{ID: kindsDevA, SiteID: "a", Name: "Gate A"}, {ID: kindsDevB, SiteID: "b", Name: "Gate B"}} {
			if err := a.Store.CreateDevice(ctx, &d); err != nil {
				t.Fatal(err)
			}
		}
	}
	token, _, err := a.Auth.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	s := &kindsServer{app: a, url: ts.URL, token: token, logs: logs}
	t.Cleanup(func() {
		ts.Close()
		if !s.closed {
			s.app.Close()
		}
	})
	return s
}

// close shuts the app down, which writes the counts' snapshot.
func (s *kindsServer) close(t testing.TB) {
	t.Helper()
	s.closed = true
	if err := s.app.Close(); err != nil {
		t.Fatalf("close the app: %v", err)
	}
}

// do sends a request with the admin token and returns the status and body.
func (s *kindsServer) do(t testing.TB, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// get is do for a GET that must answer 200 with JSON, decoded into v.
func (s *kindsServer) get(t testing.TB, path string, v any) {
	t.Helper()
	s.post(t, "GET", path, "", v)
}

func (s *kindsServer) post(t testing.TB, method, path, body string, v any) {
	t.Helper()
	status, b := s.do(t, method, path, "application/json", body)
	if status != http.StatusOK {
		t.Fatalf("%s %s: got %d %.300s, want 200", method, path, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: %v in %.300s", method, path, err, b)
	}
}

// ingestResult is the answer of POST /v1/events.
type ingestResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Rejected   []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"rejected"`
}

// send posts items as NDJSON and returns the answer, which must be a 200.
func (s *kindsServer) send(t testing.TB, items []string) ingestResult {
	t.Helper()
	status, b := s.do(t, "POST", "/v1/events", "application/x-ndjson", strings.Join(items, "\n"))
	if status != http.StatusOK {
		t.Fatalf("POST /v1/events: got %d %.300s, want 200", status, b)
	}
	var r ingestResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// item is one NDJSON event of device dev at time at, with source id src.
func item(dev string, at time.Time, key, src string) string {
	return fmt.Sprintf(`{"device_id":%q,"time":%d,"key":%q,"model":{"src":%q},"source_id":%q}`, dev, at.UnixMilli(), key, src, src)
}

// sentEvents is what the test sent.
type sentEvents struct {
	total, devA, denialsB int
	keys                  []string    // the unknown keys, in the order sent
	times                 []time.Time // the times of every event
	lastIDs               []string    // the ids of the last five events stored
}

// between is how many events sent are in [from, to].
func (s *sentEvents) between(from, to time.Time) int {
	n := 0
	for _, t := range s.times {
		if !t.Before(from) && !t.After(to) {
			n++
		}
	}
	return n
}

// TestManyUnknownKeys sends 8,000 distinct keys the catalog does not know
// through POST /v1/events, with the limit on such keys raised to hold them,
// and reads them back through every read API: each answers 200 with the
// right totals. It does so again after a restart (the counts from their
// snapshot) and after a restart with the snapshot damaged (the counts
// rebuilt from the events). Before, a kind code past 4095 crashed the
// writer after its commit and every counted read answered 500 for good.
func TestManyUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	limits := ingest.DefaultLimits
	limits.MaxUnknownKeys = 25_000
	s := startKinds(t, dir, limits, true)

	// A read first, so that the counts are loaded and each commit below
	// updates them, as on a server that has been answering reads.
	var first struct {
		Count int `json:"count"`
	}
	s.get(t, "/v1/events?count=exact&limit=1", &first)
	var sent sentEvents
	for start := 0; start < unknownKeys; start += 4000 {
		var items []string
		for i := start; i < start+4000; i++ {
			dev := []string{kindsDevA, kindsDevB}[i%2]
			key := fmt.Sprintf("fw_err_%d", i)
			at := kindsT0.Add(time.Duration(i) * 7 * time.Second)
			sent.keys = append(sent.keys, key)
			sent.times = append(sent.times, at)
			items = append(items, item(dev, at, key, fmt.Sprint("k-", i)))
			if dev == kindsDevA {
				sent.devA++
			}
			if i%100 == 1 {
				// Catalog events among them: denials on device B.
				items = append(items, item(kindsDevB, at.Add(3*time.Second), "access_denied_by_unknown_card", fmt.Sprint("d-", i)))
				sent.times = append(sent.times, at.Add(3*time.Second))
				sent.denialsB++
			}
		}
		if r := s.send(t, items); r.Accepted != len(items) || len(r.Rejected) != 0 {
			t.Fatalf("batch at %d: got %+v, want all %d accepted", start, r, len(items))
		}
		sent.total += len(items)
	}
	events, err := s.app.Store.EventsAfter(context.Background(), doorlog.EventFilter{Scope: doorlog.Scope{All: true}}, "", sent.total)
	if err != nil || len(events) != sent.total {
		t.Fatalf("EventsAfter: got %d events, %v; want %d", len(events), err, sent.total)
	}
	for _, e := range events[len(events)-5:] {
		sent.lastIDs = append(sent.lastIDs, e.ID)
	}

	t.Run("first run", func(t *testing.T) { checkReads(t, s, &sent, true) })
	s.close(t)

	s = startKinds(t, dir, limits, false)
	t.Run("after a restart", func(t *testing.T) {
		checkReads(t, s, &sent, false)
		if log := s.logs.String(); strings.Contains(log, "counting the events") || strings.Contains(log, "rebuild") {
			t.Errorf("log: got %q, want the counts loaded from their snapshot", log)
		}
	})
	s.close(t)

	damageSnapshot(t, filepath.Join(dir, app.DBFileName))
	s = startKinds(t, dir, limits, false)
	t.Run("after a restart with a damaged snapshot", func(t *testing.T) {
		checkReads(t, s, &sent, false)
		if log := s.logs.String(); !strings.Contains(log, "cannot be read; counting the events") {
			t.Errorf("log: got %q, want the damaged snapshot reported", log)
		}
	})
	s.close(t)
}

// damageSnapshot flips a byte in the middle of the stored snapshot of the
// counts, as a bad disk or an older build's bug might.
func damageSnapshot(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var snap []byte
	if err := db.QueryRow(`SELECT value FROM store_state WHERE name = 'rollup'`).Scan(&snap); err != nil {
		t.Fatalf("read the snapshot: %v", err)
	}
	snap[len(snap)/2] ^= 0x40
	if _, err := db.Exec(`UPDATE store_state SET value = ? WHERE name = 'rollup'`, snap); err != nil {
		t.Fatal(err)
	}
}

// checkReads reads the sent events through every read API; after a
// restart (all false) only through those that answer from the counts,
// which is what a restart may lose, to keep the test fast.
func checkReads(t *testing.T, s *kindsServer, sent *sentEvents, all bool) {
	one := sent.keys[5_433] // device B's (odd)

	t.Run("BAS-IP", func(t *testing.T) {
		type list struct {
			ListOption struct {
				Pagination struct {
					TotalItems int `json:"total_items"`
					TotalPages int `json:"total_pages"`
				} `json:"pagination"`
				Filter struct {
					AvailableValues struct {
						Name []struct{ Key string } `json:"name"`
					} `json:"available_values"`
				} `json:"filter"`
			} `json:"list_option"`
			ListItems []struct {
				Name struct{ Key string } `json:"name"`
			} `json:"list_items"`
		}
		for _, tt := range []struct {
			name, path   string
			total, items int
		}{
			{"root", "/api/v1/log/items?limit=50", sent.total, 50},
			{"root, last page", fmt.Sprintf("/api/v1/log/items?limit=50&page_number=%d", (sent.total+49)/50), sent.total, (sent.total-1)%50 + 1},
			{"device", "/devices/" + kindsDevA + "/api/v1/log/items?limit=50&sort_type=desc", sent.devA, 50},
			{"one unknown key", "/api/v1/log/items?filter_field=name&filter_type=equal&filter_value=" + one, 1, 1},
			{"one unknown key of another device", "/devices/" + kindsDevA + "/api/v1/log/items?filter_field=name&filter_value=" + one, 0, 0},
			{"category", "/api/v1/log/items?filter_field=category&filter_value=info&page_number=200", unknownKeys, 10},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var r list
				s.get(t, tt.path, &r)
				if got := r.ListOption.Pagination.TotalItems; got != tt.total {
					t.Errorf("total_items: got %d, want %d", got, tt.total)
				}
				if len(r.ListItems) != tt.items {
					t.Errorf("list_items: got %d, want %d", len(r.ListItems), tt.items)
				}
				if tt.total == 1 && (len(r.ListItems) != 1 || r.ListItems[0].Name.Key != one) {
					t.Errorf("list_items: got %+v, want the event of %s", r.ListItems, one)
				}
				// The catalog's keys, then every unknown key (the
				// limit, which caps the list, holds them all).
				if got, want := len(r.ListOption.Filter.AvailableValues.Name), len(s.app.Catalog.Keys())+unknownKeys; got != want {
					t.Errorf("available_values.name: got %d keys, want %d", got, want)
				}
			})
		}
	})

	t.Run("AIPIX", func(t *testing.T) {
		var r struct {
			Data []struct {
				DeviceID string `json:"device_id"`
			} `json:"data"`
			Meta struct {
				Total    int `json:"total"`
				LastPage int `json:"last_page"`
			} `json:"meta"`
		}
		s.get(t, "/api/admin/v1/intercoms/"+kindsDevA+"/logs?per_page=100&page=37", &r)
		if r.Meta.Total != sent.devA || r.Meta.LastPage != (sent.devA+99)/100 || len(r.Data) != 100 {
			t.Errorf("got total %d, last page %d, %d items; want %d, %d, 100", r.Meta.Total, r.Meta.LastPage, len(r.Data), sent.devA, (sent.devA+99)/100)
		}
	})

	t.Run("native list", func(t *testing.T) {
		for _, tt := range []struct {
			query string
			want  int
		}{
			{"count=exact&limit=10", sent.total},
			{"count=exact&limit=10&key=" + one, 1},
			{"count=exact&limit=10&category=info", unknownKeys},
			{"count=exact&limit=10&device_id=" + kindsDevB + "&category=access", sent.denialsB},
			{fmt.Sprintf("count=exact&limit=10&from=%d&to=%d", kindsT0.Add(time.Hour).UnixMilli(), kindsT0.Add(2*time.Hour).UnixMilli()), sent.between(kindsT0.Add(time.Hour), kindsT0.Add(2*time.Hour))},
		} {
			var r struct {
				Events []json.RawMessage `json:"events"`
				Count  int               `json:"count"`
			}
			s.get(t, "/v1/events?"+tt.query, &r)
			if r.Count != tt.want || len(r.Events) != min(10, tt.want) {
				t.Errorf("GET /v1/events?%s: got count %d and %d events, want %d and %d", tt.query, r.Count, len(r.Events), tt.want, min(10, tt.want))
			}
		}
	})

	window := fmt.Sprintf("from=%d&to=%d", kindsT0.UnixMilli(), kindsT0.Add(48*time.Hour-time.Millisecond).UnixMilli())
	t.Run("stats", func(t *testing.T) {
		var hourly struct {
			Hours []struct{ Access, Emergency, System, Info int }
		}
		s.get(t, "/v1/stats/hourly?"+window, &hourly)
		var access, info int
		for _, h := range hourly.Hours {
			access += h.Access
			info += h.Info
		}
		if len(hourly.Hours) != 48 || access != sent.denialsB || info != unknownKeys {
			t.Errorf("hourly: got %d hours, %d access and %d info events; want 48, %d and %d", len(hourly.Hours), access, info, sent.denialsB, unknownKeys)
		}
		var denials struct {
			Devices []struct {
				DeviceID string `json:"device_id"`
				Denials  int    `json:"denials"`
			} `json:"devices"`
		}
		s.get(t, "/v1/stats/denials?"+window, &denials)
		if len(denials.Devices) != 1 || denials.Devices[0].DeviceID != kindsDevB || denials.Devices[0].Denials != sent.denialsB {
			t.Errorf("denials: got %+v, want %d of device B", denials.Devices, sent.denialsB)
		}
		var devices struct {
			Devices []struct {
				ID string `json:"id"`
			} `json:"devices"`
		}
		s.get(t, "/v1/stats/devices", &devices)
		if len(devices.Devices) != 2 {
			t.Errorf("devices: got %+v, want both devices", devices.Devices)
		}
	})

	if !all {
		return
	}
	t.Run("OLOID", func(t *testing.T) {
		n, other := 0, 0
		token := "null"
		for pages := 0; ; pages++ {
			var r struct {
				Data struct {
					Activities []struct {
						ActivityType string `json:"activityType"`
					} `json:"activities"`
					NextToken *string `json:"nextToken"`
				} `json:"data"`
			}
			s.post(t, "POST", "/filterActivity", fmt.Sprintf(`{"limit":1000,"nextToken":%s}`, token), &r)
			for _, a := range r.Data.Activities {
				n++
				if a.ActivityType == "OTHER" {
					other++
				}
			}
			if r.Data.NextToken == nil || pages > sent.total/1000+1 {
				break
			}
			b, _ := json.Marshal(*r.Data.NextToken)
			token = string(b)
		}
		if n != sent.total || other != unknownKeys {
			t.Errorf("got %d activities, %d of them OTHER; want %d, %d", n, other, sent.total, unknownKeys)
		}
	})

	t.Run("export", func(t *testing.T) {
		status, b := s.do(t, "GET", "/v1/events/export?format=ndjson", "", "")
		if n := bytes.Count(b, []byte("\n")); status != http.StatusOK || n != sent.total {
			t.Errorf("got %d with %d lines, want 200 with %d", status, n, sent.total)
		}
	})

	t.Run("stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", s.url+"/v1/events/stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+s.token)
		// Resume after the sixth newest event: the last five follow.
		after, err := s.app.Store.EventsAfter(ctx, doorlog.EventFilter{Scope: doorlog.Scope{All: true}}, "", sent.total)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Last-Event-ID", after[len(after)-6].ID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got %d, want 200", resp.StatusCode)
		}
		var ids []string
		sc := bufio.NewScanner(resp.Body)
		for len(ids) < 5 && sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				ids = append(ids, id)
			}
		}
		if strings.Join(ids, ",") != strings.Join(sent.lastIDs, ",") {
			t.Errorf("got ids %v, want the last five %v", ids, sent.lastIDs)
		}
	})
}

// TestUnknownKeysLimit sends more new keys outside the catalog than the
// default limit allows: the items past it are rejected by index with a
// message that names the limit and its flag, every other item is stored,
// and keys stored already stay accepted.
func TestUnknownKeysLimit(t *testing.T) {
	s := startKinds(t, t.TempDir(), ingest.Limits{}, true)
	defer s.close(t)
	max := ingest.DefaultMaxUnknownKeys

	var items []string
	var wantRejected []int
	for i := range max + 5 {
		at := kindsT0.Add(time.Duration(i) * time.Second)
		items = append(items, item(kindsDevA, at, fmt.Sprintf("new_key_%d", i), fmt.Sprint("n-", i)))
		if i >= max {
			wantRejected = append(wantRejected, len(items)-1)
		}
		if i%400 == 0 {
			items = append(items, item(kindsDevB, at, "door_was_opened", fmt.Sprint("o-", i)))
		}
	}
	r := s.send(t, items)
	var got []int
	for _, rej := range r.Rejected {
		got = append(got, rej.Index)
		if !strings.Contains(rej.Error, "--max-unknown-keys") || !strings.Contains(rej.Error, fmt.Sprint(max)) {
			t.Errorf("rejection %d: got %q, want it to name the limit (%d) and --max-unknown-keys", rej.Index, rej.Error, max)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantRejected) || r.Accepted != len(items)-len(wantRejected) {
		t.Fatalf("got %d accepted and rejections at %v, want %d accepted and rejections at %v", r.Accepted, got, len(items)-len(wantRejected), wantRejected)
	}

	// A stored unknown key, a catalog key and a new key in one request.
	r = s.send(t, []string{item(kindsDevA, kindsT0, "new_key_7", "later-1"), item(kindsDevA, kindsT0, "incoming_call", "later-2"), item(kindsDevA, kindsT0, "brand_new", "later-3")})
	if r.Accepted != 2 || len(r.Rejected) != 1 || r.Rejected[0].Index != 2 {
		t.Errorf("after the limit: got %+v, want the stored and the catalog key accepted, the new key (index 2) rejected", r)
	}
	var list struct {
		Count int `json:"count"`
	}
	s.get(t, "/v1/events?count=exact&limit=1&key=new_key_7", &list)
	if list.Count != 2 {
		t.Errorf("events of new_key_7: got %d, want 2", list.Count)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
