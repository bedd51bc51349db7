package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/api"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sqlite"
	"github.com/doorlog/doorlog/internal/storetest"
)

// devA2 is a second device of site a.
const devA2 = "6f1c2a3e-0000-4000-8000-0000000000a2"

// t0 is the time of the first test event.
var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// newEventsEnv is newEnv with the catalog the event listings render with,
// and a logger the test can read.
func newEventsEnv(t testing.TB) (*env, *catalog.Catalog, *syncBuffer) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "doorlog.db"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	writer := ingest.NewWriter(store, logger, ingest.WriterOptions{})
	classify := func(k string) (doorlog.Category, doorlog.Priority) { e := cat.Entry(k); return e.Category, e.Priority }
	// One clock for the API and auth: the expiry POST /v1/tokens gives a
	// token by default is counted on the API's clock and checked on
	// auth's.
	now := func() time.Time { return time.Date(2024, 6, 2, 3, 4, 5, 0, time.UTC) }
	authSvc := auth.New(store, now)
	mux := http.NewServeMux()
	api.New(api.Config{
		Store: store, Auth: authSvc, Ingest: ingest.NewService(store, writer, classify, ingest.DefaultLimits),
		Catalog: cat, Logger: logger, Now: now,
	}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		writer.Close()
		store.Close()
	})
	secret, _, err := authSvc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin, SiteIDs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return &env{url: srv.URL, store: store, auth: authSvc, admin: secret}, cat, logs
}

// syncBuffer is a bytes.Buffer a logger may write from many handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ev returns an event of device dev ("" for a server event) at t0+ms,
// classified by the catalog.
func ev(cat *catalog.Catalog, dev string, ms int, key, model, source string) doorlog.Event {
	e := cat.Entry(key)
	return doorlog.Event{DeviceID: dev, Time: t0.Add(time.Duration(ms) * time.Millisecond), Key: key,
		Category: e.Category, Priority: e.Priority, Model: json.RawMessage(model), SourceID: source}
}

// listedEvent is an event of GET /v1/events, decoded strictly.
type listedEvent struct {
	ID       string          `json:"id"`
	DeviceID *string         `json:"device_id"`
	SiteID   *string         `json:"site_id"`
	Time     string          `json:"time"`
	Key      string          `json:"key"`
	Category string          `json:"category"`
	Priority string          `json:"priority"`
	Name     string          `json:"name"`
	Text     string          `json:"text"`
	Model    json.RawMessage `json:"model"`
	SourceID *string         `json:"source_id"`
}

type listPage struct {
	Events     []listedEvent `json:"events"`
	NextCursor *string       `json:"next_cursor"`
	Count      *int64        `json:"count"`
	CountExact *bool         `json:"count_exact"`
}

// get sends a GET and returns the status and body.
func (e *env) get(t testing.TB, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp.StatusCode, resp.Header, body
}

// list fetches one page of GET /v1/events?query and fails unless it is a
// 200 in exactly the documented shape.
func (e *env) list(t testing.TB, token, query string) listPage {
	t.Helper()
	status, hdr, body := e.get(t, "/v1/events?"+query, token)
	if status != 200 {
		t.Fatalf("GET /v1/events?%s: got status %d (%s), want 200", query, status, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("GET /v1/events?%s: got Content-Type %q, want application/json; charset=utf-8", query, ct)
	}
	var p listPage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("GET /v1/events?%s: body %s: %v", query, body, err)
	}
	if p.Events == nil {
		t.Fatalf("GET /v1/events?%s: body %s has no events array", query, body)
	}
	return p
}

// sources returns the source ids of a page's events, "-" for none.
func sources(p listPage) []string {
	out := []string{}
	for _, e := range p.Events {
		if e.SourceID == nil {
			out = append(out, "-")
			continue
		}
		out = append(out, *e.SourceID)
	}
	return out
}

// filterFixture stores the events the filter tests list: sites a (devA,
// devA2) and b (devB), and one server event (source "-", at t0+7s).
func filterFixture(t testing.TB) (*env, *catalog.Catalog) {
	t.Helper()
	e, cat, _ := newEventsEnv(t)
	e.seed(t)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	storetest.MustAppend(t, e.store,
		ev(cat, devA, 0, "access_granted_by_valid_identifier", `{"number":12345,"type":"card","owner":"Ann Lee","apartment_address":"Flat 12","lock":1}`, "e1"),
		ev(cat, devA, 1000, "access_denied_by_unknown_card", `{"card":"00AB12"}`, "e2"),
		ev(cat, devB, 2000, "access_granted_by_valid_identifier", `{"number":"777","type":"qr","owner":"Bob Stone","lock":2}`, "e3"),
		ev(cat, devA2, 3000, "door_was_opened", `{"lock":1}`, "e4"),
		ev(cat, devB, 4000, "tamper_event", `{}`, "e5"),
		ev(cat, devA, 5000, "incoming_call", `{"number":"101","answered":true}`, "e6"),
		ev(cat, devA2, 6000, "firmware_2099_new_thing", `{"note":"hello"}`, "e7"),
		ev(cat, "", 7000, "successful_login_api_call", `{"account_type":"admin"}`, ""),
		ev(cat, devB, 8000, "access_granted_by_valid_identifier", `{"number":12345,"type":"ukey","owner":"Ann Lee"}`, "e9"),
	)
	return e, cat
}

func TestListEventsFilters(t *testing.T) {
	e, _ := filterFixture(t)
	all := []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7", "-", "e9"}
	tests := []struct {
		query string
		want  []string // in ascending time
	}{
		{"", all},
		{"site_id=a", []string{"e1", "e2", "e4", "e6", "e7"}},
		{"site_id=a,b", []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e9"}},
		{"site_id=a&site_id=b", []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e9"}},
		{"site_id=+a+,,", []string{"e1", "e2", "e4", "e6", "e7"}},
		{"site_id=zz", nil},
		{"device_id=" + devA, []string{"e1", "e2", "e6"}},
		{"device_id=" + strings.ToUpper(devA), []string{"e1", "e2", "e6"}},
		{"device_id=" + devA + "," + devB, []string{"e1", "e2", "e3", "e5", "e6", "e9"}},
		{"device_id=not-a-uuid", nil},
		{"category=emergency", []string{"e5"}},
		{"category=access,system", []string{"e1", "e2", "e3", "e4", "-", "e9"}},
		{"priority=critical", []string{"e5"}},
		{"priority=high&priority=medium", []string{"e1", "e2", "e3", "-", "e9"}},
		{"key=incoming_call", []string{"e6"}},
		{"key=tamper_event&key=door_was_opened", []string{"e4", "e5"}},
		{"key=firmware_2099_new_thing", []string{"e7"}},
		{"key=no_such_key", nil},
		{"identifier_number=12345", []string{"e1", "e9"}},
		{"identifier_number=777,00AB12", []string{"e2", "e3"}},
		{"identifier_type=card", []string{"e1", "e2"}},
		{"identifier_type=qr,ukey", []string{"e3", "e9"}},
		{"identifier_number=12345&identifier_type=card", []string{"e1"}},
		{"from=2024-05-01T10:00:02Z", []string{"e3", "e4", "e5", "e6", "e7", "-", "e9"}},
		{"from=0&to=253402300799999", all},
		{"from=1970-01-01T03:00:00%2B03:00&to=9999-12-31T23:59:59.999Z", all},
		{"to=" + fmt.Sprint(t0.UnixMilli()+2000), []string{"e1", "e2", "e3"}},
		{"from=2024-05-01T10:00:01Z&to=2024-05-01T10:00:03.000Z", []string{"e2", "e3", "e4"}},
		{"from=2024-05-01T10:00:00.001Z&to=2024-05-01T10:00:00.999Z", nil},
		{"from=2024-05-01T13:00:05%2B03:00", []string{"e6", "e7", "-", "e9"}},
		{"from=2024-05-01T13:00:05+03:00", []string{"e6", "e7", "-", "e9"}}, // an unescaped + reads as a space
		{"from=" + fmt.Sprint(t0.UnixMilli()+8000) + "&to=" + fmt.Sprint(t0.UnixMilli()+8000), []string{"e9"}},
		{"q=ann+lee", []string{"e1", "e9"}},
		{"q=STONE", []string{"e3"}},
		{"q=tamper", []string{"e5"}},                        // the English name
		{"q=" + url.QueryEscape("ДВЕРІ"), []string{"e4"}},   // the Ukrainian name
		{"q=" + url.QueryEscape("Sabotaj"), []string{"e5"}}, // the Turkish name
		{"q=firmware_2099", []string{"e7"}},                 // an unknown key is its own name
		{"q=HELLO", []string{"e7"}},
		{"q=web+interface", []string{"-"}},
		{"q=50%25", nil},
		{"site_id=a&category=access&q=ann", []string{"e1"}},
		{"site_id=b&identifier_number=12345&from=2024-05-01T10:00:05Z", []string{"e9"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			want := tt.want
			if want == nil {
				want = []string{}
			}
			q := tt.query
			if q != "" {
				q += "&"
			}
			if got := sources(e.list(t, e.admin, q+"order=asc")); !slices.Equal(got, want) {
				t.Errorf("order=asc: got %q, want %q", got, want)
			}
			desc := slices.Clone(want)
			slices.Reverse(desc)
			if got := sources(e.list(t, e.admin, tt.query)); !slices.Equal(got, desc) {
				t.Errorf("default order: got %q, want newest first %q", got, desc)
			}
			p := e.list(t, e.admin, q+"count=exact")
			if p.Count == nil || *p.Count != int64(len(want)) || p.CountExact == nil || !*p.CountExact {
				t.Errorf("count=exact: got count %v exact %v, want %d exact", deref(p.Count), deref(p.CountExact), len(want))
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestListEventsShape(t *testing.T) {
	e, cat := filterFixture(t)
	status, _, body := e.get(t, "/v1/events?order=asc&limit=2", e.admin)
	if status != 200 {
		t.Fatalf("got status %d (%s), want 200", status, body)
	}
	var raw struct {
		Events     []map[string]json.RawMessage `json:"events"`
		NextCursor json.RawMessage              `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	first := raw.Events[0]
	want := map[string]string{
		"device_id": `"` + devA + `"`,
		"site_id":   `"a"`,
		"time":      `"2024-05-01T10:00:00.000Z"`,
		"key":       `"access_granted_by_valid_identifier"`,
		"category":  `"access"`,
		"priority":  `"medium"`,
		"name":      `"Lock opened by identifier"`,
		"text":      `"Lock 1 opened by card 12345 (Ann Lee, Flat 12)"`,
		// The stored bytes, written through.
		"model":     `{"number":12345,"type":"card","owner":"Ann Lee","apartment_address":"Flat 12","lock":1}`,
		"source_id": `"e1"`,
	}
	for field, w := range want {
		if got := string(first[field]); got != w {
			t.Errorf("%s: got %s, want %s", field, got, w)
		}
	}
	if id := string(first["id"]); len(id) != doorlog.EventIDLen+2 {
		t.Errorf("id: got %s, want a %d-character string", id, doorlog.EventIDLen)
	}
	if len(first) != len(want)+1 {
		t.Errorf("got fields %v, want exactly %d", slices.Sorted(mapKeys(first)), len(want)+1)
	}
	if string(raw.NextCursor) == "null" || len(raw.NextCursor) < 10 {
		t.Errorf("next_cursor: got %s, want a cursor (more events follow)", raw.NextCursor)
	}

	// A server event has null device and site, and no source_id.
	server := e.list(t, e.admin, "category=system")
	if len(server.Events) != 1 {
		t.Fatalf("category=system: got %d events, want 1", len(server.Events))
	}
	s := server.Events[0]
	if s.DeviceID != nil || s.SiteID != nil || s.SourceID != nil || s.Time != "2024-05-01T10:00:07.000Z" {
		t.Errorf("server event: got device %v site %v source %v time %s, want null, null, absent, 2024-05-01T10:00:07.000Z",
			deref(s.DeviceID), deref(s.SiteID), deref(s.SourceID), s.Time)
	}
	if server.NextCursor != nil {
		t.Errorf("last page: got next_cursor %q, want null", *server.NextCursor)
	}
	if got, want := s.Text, cat.Text("en", s.Key, s.Model); got != want {
		t.Errorf("server event text: got %q, want %q", got, want)
	}

	// Milliseconds always have three digits, in UTC.
	storetest.MustAppend(t, e.store, doorlog.Event{DeviceID: devA, Time: time.Date(2030, 1, 2, 3, 4, 5, 120_000_000, time.FixedZone("X", 5*3600)),
		Key: "door_was_opened", Category: doorlog.CategoryAccess, Priority: doorlog.PriorityLow})
	last := e.list(t, e.admin, "limit=1")
	if got := last.Events[0].Time; got != "2030-01-01T22:04:05.120Z" {
		t.Errorf("time: got %s, want 2030-01-01T22:04:05.120Z", got)
	}
	if got := string(last.Events[0].Model); got != "{}" {
		t.Errorf("model of an event stored without one: got %s, want {}", got)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestListEventsLocale(t *testing.T) {
	e, cat := filterFixture(t)
	tests := []struct{ locale, want string }{
		{"", "en"},
		{"uk", "uk"},
		{"UK", "uk"},
		{"tr", "tr"},
		{"da", "da"},
		{"xx", "en"},
		{"en-US", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.locale, func(t *testing.T) {
			p := e.list(t, e.admin, "order=asc&locale="+url.QueryEscape(tt.locale))
			for _, got := range p.Events {
				if w := cat.Name(tt.want, got.Key); got.Name != w {
					t.Errorf("%s name: got %q, want %q", got.Key, got.Name, w)
				}
				if w := cat.Text(tt.want, got.Key, got.Model); got.Text != w {
					t.Errorf("%s text: got %q, want %q", got.Key, got.Text, w)
				}
			}
		})
	}
	p := e.list(t, e.admin, "locale=uk&limit=1&order=asc")
	if got, want := p.Events[0].Text, "Замок 1 відімкнено: картка 12345 (Ann Lee, Flat 12)"; got != want {
		t.Errorf("uk text: got %q, want %q", got, want)
	}
	if got := e.list(t, e.admin, "key=firmware_2099_new_thing&locale=uk").Events[0]; got.Name != "firmware_2099_new_thing" || got.Text != "firmware_2099_new_thing" {
		t.Errorf("unknown key: got name %q text %q, want the key for both", got.Name, got.Text)
	}
}

func TestListEventsErrors(t *testing.T) {
	e, _ := filterFixture(t)
	device := e.token(t, `{"role":"device","device_id":"`+devA+`"}`)
	tests := []struct {
		name, query, token string
		status             int
		code, mention      string
	}{
		{"no token", "", "", 401, doorlog.EUNAUTHORIZED, ""},
		{"device token", "", device, 403, doorlog.EFORBIDDEN, ""},
		{"unknown category", "category=access,bogus", e.admin, 400, doorlog.EINVALID, "category"},
		{"unknown priority", "priority=urgent", e.admin, 400, doorlog.EINVALID, "priority"},
		{"bad from", "from=yesterday", e.admin, 400, doorlog.EINVALID, "from"},
		{"bad to", "to=2024-05-01", e.admin, 400, doorlog.EINVALID, "to"},
		{"from twice", "from=1&from=2", e.admin, 400, doorlog.EINVALID, "from"},
		{"to before from", "from=2000&to=1999", e.admin, 400, doorlog.EINVALID, "before from"},
		// Times outside 1970 to 9999 in UTC, once the offset is applied:
		// no event lies there.
		{"from before 1970", "from=-1", e.admin, 400, doorlog.EINVALID, `from: "-1" is outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z`},
		{"from at the zero time", "from=0001-01-01T00:00:00Z", e.admin, 400, doorlog.EINVALID, "from: \"0001-01-01T00:00:00Z\" is outside"},
		{"from before year 0 by its offset", "from=0000-01-01T00:00:00%2B01:00", e.admin, 400, doorlog.EINVALID, "from: \"0000-01-01T00:00:00+01:00\" is outside"},
		{"to past 9999", "to=253402300800000", e.admin, 400, doorlog.EINVALID, "to: \"253402300800000\" is outside"},
		{"to past 9999 by its offset", "to=9999-12-31T23:00:00-02:00", e.admin, 400, doorlog.EINVALID, "to: \"9999-12-31T23:00:00-02:00\" is outside"},
		{"to past int64", "to=99999999999999999999", e.admin, 400, doorlog.EINVALID, "is outside"},
		{"from before int64", "from=-99999999999999999999", e.admin, 400, doorlog.EINVALID, "is outside"},
		{"bad order", "order=sideways", e.admin, 400, doorlog.EINVALID, "order"},
		{"limit 0", "limit=0", e.admin, 400, doorlog.EINVALID, "limit"},
		{"limit too big", "limit=1001", e.admin, 400, doorlog.EINVALID, "limit"},
		{"limit not a number", "limit=ten", e.admin, 400, doorlog.EINVALID, "limit"},
		{"bad count", "count=maybe", e.admin, 400, doorlog.EINVALID, "count"},
		{"q too long", "q=" + strings.Repeat("x", 201), e.admin, 400, doorlog.EINVALID, "q must"},
		{"too many keys", "key=" + strings.Repeat("k,", 101), e.admin, 400, doorlog.EINVALID, "key"},
		{"garbage cursor", "cursor=garbage", e.admin, 400, doorlog.EINVALID, "invalid cursor"},
		{"empty signed-looking cursor", "cursor=" + strings.Repeat("A", 40), e.admin, 400, doorlog.EINVALID, "invalid cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := e.get(t, "/v1/events?"+tt.query, tt.token)
			var out struct{ Error, Code string }
			if err := json.Unmarshal(body, &out); err != nil || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("got body %q (%v), want a JSON error", body, err)
			}
			if status != tt.status || out.Code != tt.code || !strings.Contains(out.Error, tt.mention) {
				t.Errorf("got %d %q %q, want %d %q with a message mentioning %q", status, out.Code, out.Error, tt.status, tt.code, tt.mention)
			}
		})
	}
}

func TestListEventsScope(t *testing.T) {
	e, _ := filterFixture(t)
	managerA := e.token(t, `{"role":"manager","site_ids":["a"]}`)
	adminB := e.token(t, `{"role":"admin","site_ids":["b"]}`)
	tests := []struct {
		name, token, query string
		want               []string
	}{
		{"manager of a sees a", managerA, "", []string{"e1", "e2", "e4", "e6", "e7"}},
		{"manager of a asks for b", managerA, "site_id=b", nil},
		{"manager of a asks for a and b", managerA, "site_id=a,b", []string{"e1", "e2", "e4", "e6", "e7"}},
		{"manager of a asks for b's device", managerA, "device_id=" + devB, nil},
		{"manager of a searches b's text", managerA, "q=stone", nil},
		{"manager of a, identifier in both sites", managerA, "identifier_number=12345", []string{"e1"}},
		{"manager never sees server events", managerA, "category=system", nil},
		{"admin of b", adminB, "", []string{"e3", "e5", "e9"}},
		{"admin of b asks for a", adminB, "site_id=a", nil},
		{"unrestricted admin sees server events", e.admin, "category=system", []string{"-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == nil {
				want = []string{}
			}
			p := e.list(t, tt.token, tt.query+"&order=asc&count=exact")
			if got := sources(p); !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			if *p.Count != int64(len(want)) {
				t.Errorf("count: got %d, want %d", *p.Count, len(want))
			}
		})
	}
}

// bulk appends n events over devices devA, devA2 and devB in batches, the
// first ties of them all in one millisecond, the rest 3 ms apart and out of
// time order, and returns their ids.
func bulk(t testing.TB, e *env, cat *catalog.Catalog, n, ties int) []string {
	t.Helper()
	keys := []string{"access_granted_by_valid_identifier", "door_was_opened", "access_denied_by_unknown_card", "incoming_call", "tamper_event"}
	devs := []string{devA, devA2, devB}
	var ids []string
	const batch = 1000
	for start := 0; start < n; start += batch {
		var events []doorlog.Event
		for i := start; i < min(start+batch, n); i++ {
			ms := 100_000
			if i >= ties {
				ms = (i * 7919 % n) * 3 // a permutation of 0..n-1 when n is not a multiple of 7919
			}
			events = append(events, ev(cat, devs[i%3], ms, keys[i%5],
				fmt.Sprintf(`{"number":%d,"type":"card","owner":"Owner %d","lock":1}`, i, i%37), fmt.Sprintf("b%d", i)))
		}
		for _, r := range storetest.MustAppend(t, e.store, events...) {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// walk pages through GET /v1/events?query by cursor and returns every
// event id in the order served, checking each page's size.
func walk(t testing.TB, e *env, token, query string, limit int) []listedEvent {
	t.Helper()
	var out []listedEvent
	cursor := ""
	for pages := 0; ; pages++ {
		q := fmt.Sprintf("%s&limit=%d", query, limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		p := e.list(t, token, q)
		out = append(out, p.Events...)
		if p.NextCursor == nil {
			return out
		}
		if len(p.Events) != limit {
			t.Fatalf("page %d: got %d events with a next_cursor, want %d", pages, len(p.Events), limit)
		}
		cursor = *p.NextCursor
		if pages > 2000 {
			t.Fatalf("walk: still going after %d pages and %d events", pages, len(out))
		}
	}
}

func ids(events []listedEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func TestListEventsCursorPaging(t *testing.T) {
	e, cat, _ := newEventsEnv(t)
	e.seed(t)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	bulk(t, e, cat, 2500, 600)
	tests := []struct {
		name, query string
		filter      doorlog.EventFilter
		limit       int
	}{
		{"asc", "order=asc", doorlog.EventFilter{}, 97},
		{"desc", "order=desc", doorlog.EventFilter{}, 97},
		{"default order, big pages", "", doorlog.EventFilter{}, 1000},
		{"small pages in the tie", "from=" + fmt.Sprint(t0.UnixMilli()+100_000) + "&to=" + fmt.Sprint(t0.UnixMilli()+100_000), doorlog.EventFilter{
			From: t0.Add(100 * time.Second), To: t0.Add(100 * time.Second)}, 7},
		{"filtered asc", "order=asc&site_id=a&category=access", doorlog.EventFilter{SiteIDs: []string{"a"}, Categories: []doorlog.Category{doorlog.CategoryAccess}}, 50},
		{"filtered desc, text", "order=desc&q=owner+3", doorlog.EventFilter{Text: "owner 3"}, 33},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			order := doorlog.Desc
			if strings.Contains(tt.query, "order=asc") {
				order = doorlog.Asc
			}
			f := tt.filter
			f.Scope = doorlog.Scope{All: true}
			want := storetest.MustList(t, e.store, doorlog.EventQuery{Filter: f, Order: order})
			if len(want) < 2*tt.limit {
				t.Fatalf("the filter matches %d events; too few to page", len(want))
			}
			wantIDs := make([]string, len(want))
			for i, w := range want {
				wantIDs[i] = w.ID
			}
			got := ids(walk(t, e, e.admin, tt.query, tt.limit))
			if !slices.Equal(got, wantIDs) {
				t.Errorf("walk: got %d ids, want the %d of the full listing in order", len(got), len(wantIDs))
			}
		})
	}
}

// TestListEventsCursorConcurrentIngest walks 10 000 events page by page
// while other clients ingest new events over HTTP, at times before, inside
// and after the window, some in the very millisecond most originals share.
// Every original must be served exactly once, nothing twice, and the walk
// must stay in (time, id) order.
func TestListEventsCursorConcurrentIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("ingests concurrently for a while")
	}
	e, cat, _ := newEventsEnv(t)
	e.seed(t)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	const n = 10_000
	originals := bulk(t, e, cat, n, 1000)

	for _, order := range []string{"asc", "desc"} {
		t.Run(order, func(t *testing.T) {
			stop := make(chan struct{})
			var ingested atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for g := range 2 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), uint64(len(order))))
					for b := 0; ; b++ {
						select {
						case <-stop:
							return
						default:
						}
						var body strings.Builder
						for i := range 20 {
							ms := rng.IntN(3*n+2000) - 1000
							if i%4 == 0 {
								ms = 100_000 // the tie millisecond
							}
							fmt.Fprintf(&body, `{"device_id":%q,"time":%d,"key":"door_was_opened","source_id":"%s-%d-%d-%d"}`+"\n",
								[]string{devA, devB}[i%2], t0.UnixMilli()+int64(ms), order, g, b, i)
						}
						status, out := e.do(t, "POST", "/v1/events", e.admin, "application/x-ndjson", body.String())
						if status != 200 {
							errs <- fmt.Errorf("ingest: got %d %v", status, out)
							return
						}
						ingested.Add(20)
					}
				})
			}
			got := walk(t, e, e.admin, "order="+order, 250)
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			t.Logf("%d events ingested during the walk, %d served", ingested.Load(), len(got))
			if ingested.Load() == 0 {
				t.Fatalf("nothing was ingested during the walk: the test tests nothing")
			}
			seen := map[string]int{}
			for i, ev := range got {
				seen[ev.ID]++
				if i > 0 {
					prev := got[i-1]
					inOrder := prev.Time < ev.Time || (prev.Time == ev.Time && prev.ID < ev.ID)
					if order == "desc" {
						inOrder = prev.Time > ev.Time || (prev.Time == ev.Time && prev.ID > ev.ID)
					}
					if !inOrder {
						t.Fatalf("event %d (%s %s) is out of %s order after (%s %s)", i, ev.Time, ev.ID, order, prev.Time, prev.ID)
					}
				}
			}
			for id, c := range seen {
				if c != 1 {
					t.Errorf("event %s served %d times, want once", id, c)
				}
			}
			for _, id := range originals {
				if seen[id] != 1 {
					t.Errorf("original event %s served %d times, want once", id, seen[id])
				}
			}
		})
	}
}

func TestListEventsCursorInvalid(t *testing.T) {
	e, _ := filterFixture(t)
	first := e.list(t, e.admin, "category=access&order=asc&limit=2")
	if first.NextCursor == nil {
		t.Fatal("no next_cursor on a first page of 2")
	}
	c := *first.NextCursor
	// Another base64url character in the middle changes one payload byte.
	flipped := []byte(c)
	if mid := len(flipped) / 2; flipped[mid] == 'A' {
		flipped[mid] = 'B'
	} else {
		flipped[mid] = 'A'
	}
	tests := []struct {
		name, query string
		status      int
	}{
		{"same filter", "category=access&order=asc&limit=2", 200},
		{"same filter, other limit and locale", "category=access&order=asc&limit=5&locale=uk", 200},
		{"same filter, spelt another way", "order=asc&category=access,access", 200},
		{"tampered", "category=access&order=asc&limit=2&x", 400},
		{"other filter", "category=emergency&order=asc&limit=2", 400},
		{"filter added", "category=access&order=asc&limit=2&site_id=a", 400},
		{"filter removed", "order=asc&limit=2", 400},
		{"other order", "category=access&order=desc&limit=2", 400},
		{"default order is desc", "category=access&limit=2", 400},
		{"other text", "category=access&order=asc&q=a", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := c
			if tt.name == "tampered" {
				cur = string(flipped)
			}
			status, _, body := e.get(t, "/v1/events?"+tt.query+"&cursor="+url.QueryEscape(cur), e.admin)
			if status != tt.status {
				t.Fatalf("got %d (%s), want %d", status, body, tt.status)
			}
			if status == 400 {
				var out struct{ Error, Code string }
				_ = json.Unmarshal(body, &out)
				if out.Code != doorlog.EINVALID || !strings.HasPrefix(out.Error, "invalid cursor") {
					t.Errorf("got %q %q, want code invalid and an error starting with \"invalid cursor\"", out.Code, out.Error)
				}
			}
		})
	}
	// The cursor continues where the first page stopped.
	next := e.list(t, e.admin, "category=access&order=asc&limit=2&cursor="+url.QueryEscape(c))
	if got := sources(next); !slices.Equal(got, []string{"e3", "e4"}) {
		t.Errorf("second page: got %q, want [e3 e4]", got)
	}
	// A manager with another scope cannot see more through an admin's
	// cursor: the scope is the token's, on every page.
	manager := e.token(t, `{"role":"manager","site_ids":["a"]}`)
	if got := sources(e.list(t, manager, "category=access&order=asc&cursor="+url.QueryEscape(c))); !slices.Equal(got, []string{"e4"}) {
		t.Errorf("manager of a with an admin's cursor: got %q, want [e4]", got)
	}
}

func TestListEventsCount(t *testing.T) {
	e, cat, _ := newEventsEnv(t)
	e.seed(t)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	bulk(t, e, cat, 10_050, 10)
	tests := []struct {
		query string
		count int64
		exact bool
	}{
		{"count=exact", 10_050, true},
		{"count=estimate", 10_000, false},
		{"count=estimate&category=emergency", 2010, true}, // every fifth event is a tamper
		{"count=exact&category=emergency", 2010, true},
		{"count=estimate&site_id=b", 3350, true},
		{"count=estimate&site_id=a", 6700, true},
		{"count=estimate&q=owner", 10_000, false},
		{"count=estimate&key=no_such_key", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			p := e.list(t, e.admin, tt.query+"&limit=3")
			if p.Count == nil || p.CountExact == nil {
				t.Fatalf("got no count, want %d", tt.count)
			}
			if *p.Count != tt.count || *p.CountExact != tt.exact {
				t.Errorf("got count %d exact %v, want %d exact %v", *p.Count, *p.CountExact, tt.count, tt.exact)
			}
		})
	}
	if p := e.list(t, e.admin, "limit=1"); p.Count != nil || p.CountExact != nil {
		t.Errorf("without count: got count %v exact %v, want neither field", deref(p.Count), deref(p.CountExact))
	}
}

// BenchmarkListPage measures GET /v1/events pages of 100 over HTTP from
// 20 000 events: the first page, and a page deep in the listing by cursor.
func BenchmarkListPage(b *testing.B) {
	e, cat, _ := newEventsEnv(b)
	e.seed(b)
	e.mustDo(b, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	bulk(b, e, cat, 20_000, 100)
	deep := e.list(b, e.admin, "limit=1000")
	for range 9 {
		deep = e.list(b, e.admin, "limit=1000&cursor="+url.QueryEscape(*deep.NextCursor))
	}
	for _, bb := range []struct{ name, query string }{
		{"first", "limit=100"},
		{"first-uk", "limit=100&locale=uk"},
		{"deep-cursor", "limit=100&cursor=" + url.QueryEscape(*deep.NextCursor)},
		{"site-filter", "limit=100&site_id=a&category=access"},
		{"text", "limit=100&q=owner+3"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				if p := e.list(b, e.admin, bb.query); len(p.Events) != 100 {
					b.Fatalf("got %d events, want 100", len(p.Events))
				}
			}
		})
	}
}
