package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/openapi/openapitest"
)

// limitsServer is the whole server with a memory budget, a site with a
// device, and an admin token.
type limitsServer struct {
	app   *app.App
	url   string
	token string
	v     *openapitest.Validator
}

func newLimitsServer(t *testing.T) *limitsServer {
	t.Helper()
	ctx := context.Background()
	a, err := app.Open(ctx, app.Config{Data: t.TempDir(), Name: "limits", Version: "limits", Memory: budget.MinTotal})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ts.Close()
		a.Close()
	})
	if err := a.Store.CreateSite(ctx, &doorlog.Site{ID: siteA, Name: "Site A"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Store.CreateDevice(ctx, &doorlog.Device{ID: devA, SiteID: siteA, Name: "Gate A"}); err != nil {
		t.Fatal(err)
	}
	token, _, err := a.Auth.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin, SiteIDs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return &limitsServer{app: a, url: ts.URL, token: token, v: openapitest.New(t)}
}

func (s *limitsServer) do(tb testing.TB, method, path, contentType, body string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.v.Client(tb).Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return resp, b
}

// bigModels ingests n events of devA whose models are about size bytes.
func (s *limitsServer) bigModels(t *testing.T, n, size int) {
	t.Helper()
	var body bytes.Buffer
	for i := range n {
		fmt.Fprintf(&body, `{"device_id":%q,"time":%d,"key":"access_granted_by_valid_identifier","source_id":"big-%d","model":{"number":%d,"owner":%q}}`+"\n",
			devA, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixMilli()+int64(i), i, i, strings.Repeat("o", size-40))
	}
	resp, b := s.do(t, "POST", "/v1/events", "application/x-ndjson", body.String())
	if resp.StatusCode != 200 || !strings.Contains(string(b), fmt.Sprintf(`"accepted":%d`, n)) {
		t.Fatalf("ingest %d big events: got %d %s", n, resp.StatusCode, b)
	}
}

// TestPagesBoundedByBytes lists events of the largest models: a native or
// OLOID page asked for 1,000 of them ends after about 1 MiB of models, with
// a cursor that goes on, so a walk still serves each event once, and an
// export still carries them all.
func TestPagesBoundedByBytes(t *testing.T) {
	s := newLimitsServer(t)
	const n, size = 150, doorlog.MaxModelBytes - 100
	s.bigModels(t, n, size)
	// A page ends with the model that brings it to 1 MiB.
	wantPage := (1<<20)/(size-10) + 1

	for _, path := range []string{"/v1/events?limit=1000", "/v1/events?limit=1000&order=asc&device_id=" + devA} {
		t.Run(path, func(t *testing.T) {
			var ids []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > n {
					t.Fatal("the walk does not end")
				}
				_, b := s.do(t, "GET", path+cursor, "", "")
				var page struct {
					Events []struct {
						ID string `json:"id"`
					} `json:"events"`
					Next *string `json:"next_cursor"`
				}
				decode(t, b, &page)
				if len(page.Events) > wantPage+1 {
					t.Fatalf("page %d: got %d events of %d-byte models, want about %d (1 MiB)", pages, len(page.Events), size, wantPage)
				}
				if pages == 0 && (len(page.Events) >= n || page.Next == nil) {
					t.Fatalf("first page: got %d events and next_cursor %v, want a page cut by bytes with a cursor", len(page.Events), page.Next)
				}
				for _, e := range page.Events {
					ids = append(ids, e.ID)
				}
				if page.Next == nil {
					break
				}
				cursor = "&cursor=" + *page.Next
			}
			if len(ids) != n || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != n {
				t.Errorf("the walk served %d events (%d distinct), want each of %d once", len(ids), len(slices.Compact(slices.Sorted(slices.Values(ids)))), n)
			}
		})
	}

	t.Run("oloid", func(t *testing.T) {
		seen := map[string]bool{}
		next := ""
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatal("the walk does not end")
			}
			body := `{"limit":1000}`
			if next != "" {
				body = `{"limit":1000,"nextToken":"` + next + `"}`
			}
			_, b := s.do(t, "POST", "/filterActivity", "application/json", body)
			var page struct {
				Data struct {
					Activities []struct {
						ID string `json:"id"`
					} `json:"activities"`
					NextToken *string `json:"nextToken"`
				} `json:"data"`
			}
			decode(t, b, &page)
			if len(page.Data.Activities) > wantPage+1 {
				t.Fatalf("page %d: got %d activities, want about %d (1 MiB)", pages, len(page.Data.Activities), wantPage)
			}
			for _, a := range page.Data.Activities {
				if seen[a.ID] {
					t.Fatalf("activity %s served twice", a.ID)
				}
				seen[a.ID] = true
			}
			if page.Data.NextToken == nil {
				break
			}
			next = *page.Data.NextToken
		}
		if len(seen) != n {
			t.Errorf("the walk served %d activities, want %d", len(seen), n)
		}
	})

	t.Run("export", func(t *testing.T) {
		resp, b := s.do(t, "GET", "/v1/events/export?format=ndjson", "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("got %d, want 200", resp.StatusCode)
		}
		if lines := bytes.Count(b, []byte("\n")); lines != n {
			t.Errorf("the export has %d lines, want %d", lines, n)
		}
	})
}

// fill holds the whole pool, its large share and the rest, as requests
// that stopped reading would, and returns what releases it.
func fill(t *testing.T, p *budget.Pool) func() {
	t.Helper()
	var held []*budget.Reservation
	large, err := p.Reserve(context.Background(), p.Size())
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, large)
	for p.Used() < p.Size() {
		r, err := p.Reserve(context.Background(), min(p.Size()/16, p.Size()-p.Used()))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, r)
	}
	return func() {
		for _, r := range held {
			r.Release()
		}
	}
}

// TestReadsRefusedWhenTheirMemoryIsFull fills the read pool: every read API
// answers its own 503 with a Retry-After (after a short wait for room)
// rather than growing the server's memory, and answers again once the
// pool has room.
func TestReadsRefusedWhenTheirMemoryIsFull(t *testing.T) {
	s := newLimitsServer(t)
	s.bigModels(t, 3, 1000)
	_, b := s.do(t, "GET", "/v1/events?limit=1&order=asc", "", "")
	var first struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	decode(t, b, &first)
	if len(first.Events) != 1 {
		t.Fatalf("got %s, want an event", b)
	}
	reads := []struct {
		name, method, path, body, want string
	}{
		{"native list", "GET", "/v1/events", "", `"code":"unavailable"`},
		{"native export", "GET", "/v1/events/export?format=csv", "", `"code":"unavailable"`},
		{"native stream resume", "GET", "/v1/events/stream?last_event_id=" + first.Events[0].ID, "", `"code":"unavailable"`},
		{"basip", "GET", "/api/v1/log/items", "", `{"error":"Server is busy, try again later"}`},
		{"basip per device", "GET", "/devices/" + devA + "/api/v1/log/items", "", `{"error":"Server is busy, try again later"}`},
		{"aipix", "GET", "/api/admin/v1/intercoms/" + devA + "/logs", "", `{"message":"Service Unavailable"}`},
		{"oloid", "POST", "/filterActivity", `{}`, `{"message":"Service unavailable"}`},
	}
	release := fill(t, s.app.Budget.Reads)
	var wg sync.WaitGroup
	for _, r := range reads {
		wg.Go(func() {
			resp, b := s.do(t, r.method, r.path, "application/json", r.body)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), r.want) {
				t.Errorf("%s with the read pool full: got %d, Retry-After %q, %s; want 503, a Retry-After and %s",
					r.name, resp.StatusCode, resp.Header.Get("Retry-After"), b, r.want)
			}
		})
	}
	wg.Wait()
	release()
	for _, r := range reads[:2] {
		if resp, b := s.do(t, r.method, r.path, "application/json", r.body); resp.StatusCode != 200 {
			t.Errorf("%s once the pool has room: got %d %s, want 200", r.name, resp.StatusCode, b)
		}
	}
}

// TestIngestRefusedWhenItsMemoryIsFull fills the ingest pool: a batch is
// answered 429 with a Retry-After and nothing of it stored; with only the
// pool's large share taken (a client sending the largest bodies), a
// panel's small batch is still stored.
func TestIngestRefusedWhenItsMemoryIsFull(t *testing.T) {
	s := newLimitsServer(t)
	item := func(src string) string {
		return fmt.Sprintf(`{"device_id":%q,"time":1714557600000,"key":"door_was_opened","source_id":%q}`, devA, src)
	}
	release := fill(t, s.app.Budget.Ingest)
	resp, b := s.do(t, "POST", "/v1/events", "application/json", item("refused"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(b), `"code":"too_many_requests"`) {
		t.Errorf("ingest with the pool full: got %d, Retry-After %q, %s; want 429, Retry-After 1, code too_many_requests", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	release()

	// Only the large share taken: small batches pass, large ones wait.
	pool := s.app.Budget.Ingest
	large, err := pool.Reserve(context.Background(), pool.Size())
	if err != nil {
		t.Fatal(err)
	}
	resp, b = s.do(t, "POST", "/v1/events", "application/json", item("small"))
	if resp.StatusCode != 200 {
		t.Errorf("a small batch beside the largest bodies: got %d %s, want 200", resp.StatusCode, b)
	}
	var big strings.Builder
	for i := 0; big.Len() < int(pool.Size()/16); i++ {
		big.WriteString(item(fmt.Sprintf("large-%d", i)) + "\n")
	}
	resp, b = s.do(t, "POST", "/v1/events", "application/x-ndjson", big.String())
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a large batch while the large share is taken: got %d %s, want 429", resp.StatusCode, b)
	}
	large.Release()
	resp, b = s.do(t, "POST", "/v1/events", "application/x-ndjson", big.String())
	if resp.StatusCode != 200 {
		t.Errorf("the large batch once the share is free: got %d %s, want 200", resp.StatusCode, b)
	}

	// Only what was acknowledged is stored.
	_, b = s.do(t, "GET", "/v1/events?limit=1&count=exact", "", "")
	var list struct {
		Count int64 `json:"count"`
	}
	decode(t, b, &list)
	if want := int64(1 + strings.Count(big.String(), "\n")); list.Count != want {
		t.Errorf("stored events: got %d, want %d", list.Count, want)
	}
}

// TestOrdinaryPagesBesideLargeReaders takes the read pool's large share, as
// exports, resumed streams or pages of the largest models being sent to
// slow clients would: the ordinary pages of every API (a default native
// page, a BAS-IP page, an AIPIX page, an OLOID page) are still answered,
// since they only reserve what they hold.
func TestOrdinaryPagesBesideLargeReaders(t *testing.T) {
	s := newLimitsServer(t)
	s.bigModels(t, 30, 500)
	pool := s.app.Budget.Reads
	large, err := pool.Reserve(context.Background(), pool.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer large.Release()
	for _, r := range []struct{ name, method, path, body string }{
		{"native default page", "GET", "/v1/events", ""},
		{"native page of 1000", "GET", "/v1/events?limit=1000", ""},
		{"basip", "GET", "/api/v1/log/items?limit=50", ""},
		{"aipix", "GET", "/api/admin/v1/intercoms/" + devA + "/logs?per_page=100", ""},
		{"oloid", "POST", "/filterActivity", `{"limit":1000}`},
	} {
		if resp, b := s.do(t, r.method, r.path, "application/json", r.body); resp.StatusCode != 200 {
			t.Errorf("%s beside the large share taken: got %d %s, want 200", r.name, resp.StatusCode, b)
		}
	}
}

// TestAnnouncedBodiesHoldNothing opens connections that announce bodies and
// send nothing, as a client on a dead link (or an attacker with a device's
// token) would: the small ones hold none of the ingest memory, the large
// one holds at most the pool's large share, so a panel's batch is still
// stored at once.
func TestAnnouncedBodiesHoldNothing(t *testing.T) {
	s := newLimitsServer(t)
	host := strings.TrimPrefix(s.url, "http://")
	for _, size := range []int{16 << 20, 500 << 10, 500 << 10, 500 << 10, 500 << 10, 500 << 10} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n", s.token, size)
	}
	pool := s.app.Budget.Ingest
	// The large one takes its share as soon as its headers are in.
	deadline := time.Now().Add(5 * time.Second)
	for pool.Used() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // and the small ones would have by now
	if used, share := pool.Used(), pool.Size()*3/4; used != share {
		t.Errorf("ingest memory held by bodies of which nothing arrived: got %d bytes, want the large one's share, %d, and nothing for the small ones", used, share)
	}
	item := fmt.Sprintf(`{"device_id":%q,"time":1714557600000,"key":"door_was_opened","source_id":"panel-1"}`, devA)
	start := time.Now()
	resp, b := s.do(t, "POST", "/v1/events", "application/json", item)
	if resp.StatusCode != 200 {
		t.Fatalf("a panel's batch beside announced bodies that never come: got %d %s after %v, want 200", resp.StatusCode, b, time.Since(start).Round(time.Millisecond))
	}
}
