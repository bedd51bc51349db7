package api_test

import (
	"bytes"
	"context"
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

	"github.com/doorlog/doorlog/internal/api"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sqlite"
)

const (
	devA = "6f1c2a3e-0000-4000-8000-00000000000a"
	devB = "6f1c2a3e-0000-4000-8000-00000000000b"
	devC = "6f1c2a3e-0000-4000-8000-00000000000c"
)

// env is a running native API over a real SQLite file and real HTTP.
type env struct {
	url   string
	store *sqlite.DB
	auth  *auth.Service
	admin string
}

func newEnv(t testing.TB, limits ingest.Limits) *env {
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
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	writer := ingest.NewWriter(store, logger, ingest.WriterOptions{})
	classify := func(k string) (doorlog.Category, doorlog.Priority) { e := cat.Entry(k); return e.Category, e.Priority }
	authSvc := auth.New(store, time.Now)
	mux := http.NewServeMux()
	api.New(api.Config{Store: store, Auth: authSvc, Ingest: ingest.NewService(store, writer, classify, limits), Logger: logger, Now: time.Now}).Register(mux)
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
	return &env{url: srv.URL, store: store, auth: authSvc, admin: secret}
}

// do sends a request and decodes the JSON answer into a generic value.
func (e *env) do(t testing.TB, method, path, token, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want application/json (body %s)", method, path, ct, raw)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
	}
	return resp.StatusCode, out
}

func (e *env) mustDo(t testing.TB, method, path, token, body string, want int) map[string]any {
	t.Helper()
	status, out := e.do(t, method, path, token, "application/json", body)
	if status != want {
		t.Fatalf("%s %s: got status %d, want %d (body %v)", method, path, status, want, out)
	}
	return out
}

// seed creates sites a and b with one device each.
func (e *env) seed(t testing.TB) {
	t.Helper()
	e.mustDo(t, "POST", "/v1/sites", e.admin, `{"id":"a","name":"Site A"}`, 201)
	e.mustDo(t, "POST", "/v1/sites", e.admin, `{"id":"b","name":"Site B"}`, 201)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+devA+`","site_id":"a","name":"Gate A","model":"AV-07T"}`, 201)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+strings.ToUpper(devB)+`","site_id":"b","name":"Gate B"}`, 201)
}

func (e *env) token(t testing.TB, body string) string {
	t.Helper()
	out := e.mustDo(t, "POST", "/v1/tokens", e.admin, body, 201)
	tok, _ := out["token"].(string)
	if tok == "" {
		t.Fatalf("POST /v1/tokens %s: no token in %v", body, out)
	}
	return tok
}

func TestManagementErrors(t *testing.T) {
	e := newEnv(t, ingest.DefaultLimits)
	e.seed(t)
	manager := e.token(t, `{"role":"manager","site_ids":["a"]}`)
	device := e.token(t, `{"role":"device","device_id":"`+devA+`"}`)
	tests := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", "GET", "/v1/sites", "", "", 401, doorlog.EUNAUTHORIZED},
		{"bad token", "GET", "/v1/sites", "dl_0123456789abcdef0123_nope", "", 401, doorlog.EUNAUTHORIZED},
		{"garbage token", "GET", "/v1/sites", "garbage", "", 401, doorlog.EUNAUTHORIZED},
		{"duplicate site", "POST", "/v1/sites", e.admin, `{"id":"a","name":"Again"}`, 409, doorlog.ECONFLICT},
		{"bad site id", "POST", "/v1/sites", e.admin, `{"id":"no spaces","name":"X"}`, 400, doorlog.EINVALID},
		{"unknown field", "POST", "/v1/sites", e.admin, `{"id":"c","name":"C","colour":"red"}`, 400, doorlog.EINVALID},
		{"malformed json", "POST", "/v1/sites", e.admin, `{"id":`, 400, doorlog.EINVALID},
		{"manager creates site", "POST", "/v1/sites", manager, `{"id":"c","name":"C"}`, 403, doorlog.EFORBIDDEN},
		{"device lists sites", "GET", "/v1/sites", device, "", 403, doorlog.EFORBIDDEN},
		{"device with bad uuid", "POST", "/v1/devices", e.admin, `{"id":"not-a-uuid","site_id":"a","name":"X"}`, 400, doorlog.EINVALID},
		{"device in unknown site", "POST", "/v1/devices", e.admin, `{"id":"6f1c2a3e-0000-4000-8000-0000000000ff","site_id":"zz","name":"X"}`, 400, doorlog.EINVALID},
		{"duplicate device", "POST", "/v1/devices", e.admin, `{"id":"` + devA + `","site_id":"a","name":"X"}`, 409, doorlog.ECONFLICT},
		{"short password", "POST", "/v1/accounts", e.admin, `{"username":"ann","password":"short","role":"manager","site_ids":["a"]}`, 400, doorlog.EINVALID},
		{"manager without sites", "POST", "/v1/accounts", e.admin, `{"username":"ann","password":"long enough","role":"manager"}`, 400, doorlog.EINVALID},
		{"account in unknown site", "POST", "/v1/accounts", e.admin, `{"username":"ann","password":"long enough","role":"manager","site_ids":["zz"]}`, 400, doorlog.EINVALID},
		{"bad role", "POST", "/v1/tokens", e.admin, `{"role":"root"}`, 400, doorlog.EINVALID},
		{"device token without device", "POST", "/v1/tokens", e.admin, `{"role":"device"}`, 400, doorlog.EINVALID},
		{"manager issues token", "POST", "/v1/tokens", manager, `{"role":"manager","site_ids":["a"]}`, 403, doorlog.EFORBIDDEN},
		{"bad expiry", "POST", "/v1/tokens", e.admin, `{"role":"admin","expires_in":"soon"}`, 400, doorlog.EINVALID},
		{"wrong method", "DELETE", "/v1/sites", e.admin, "", 405, "method_not_allowed"},
		// Text that is not valid UTF-8, or holds a lone surrogate escape,
		// is refused: json.Decoder would store U+FFFD in its place.
		{"site name not UTF-8", "POST", "/v1/sites", e.admin, "{\"id\":\"c\",\"name\":\"Caf\xe9\"}", 400, doorlog.EINVALID},
		{"site name with a lone surrogate", "POST", "/v1/sites", e.admin, `{"id":"c","name":"North \ud800"}`, 400, doorlog.EINVALID},
		{"site id not UTF-8", "POST", "/v1/sites", e.admin, "{\"id\":\"c\xff\",\"name\":\"C\"}", 400, doorlog.EINVALID},
		{"device name not UTF-8", "POST", "/v1/devices", e.admin, "{\"id\":\"6f1c2a3e-0000-4000-8000-0000000000fe\",\"site_id\":\"a\",\"name\":\"Gate \xd0\"}", 400, doorlog.EINVALID},
		{"device model with a lone surrogate", "POST", "/v1/devices", e.admin, `{"id":"6f1c2a3e-0000-4000-8000-0000000000fe","site_id":"a","name":"Gate","model":"AV\udc00"}`, 400, doorlog.EINVALID},
		{"username not UTF-8", "POST", "/v1/accounts", e.admin, "{\"username\":\"ann\xff\",\"password\":\"long enough\",\"role\":\"admin\"}", 400, doorlog.EINVALID},
		{"password not UTF-8", "POST", "/v1/accounts", e.admin, "{\"username\":\"ann\",\"password\":\"long enough\xff\",\"role\":\"admin\"}", 400, doorlog.EINVALID},
		{"token site not UTF-8", "POST", "/v1/tokens", e.admin, "{\"role\":\"manager\",\"site_ids\":[\"a\xff\"]}", 400, doorlog.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.do(t, tt.method, tt.path, tt.token, "application/json", tt.body)
			if status != tt.status || out["code"] != tt.code {
				t.Fatalf("got %d %v, want %d with code %q", status, out, tt.status, tt.code)
			}
			if msg, _ := out["error"].(string); msg == "" || strings.Contains(msg, "sql") {
				t.Fatalf("got error message %q, want a plain message", msg)
			}
		})
	}
}

func TestScopedListings(t *testing.T) {
	e := newEnv(t, ingest.DefaultLimits)
	e.seed(t)
	manager := e.token(t, `{"role":"manager","site_ids":["a"]}`)
	restricted := e.token(t, `{"role":"admin","site_ids":["b"]}`)
	ids := func(out map[string]any, field string) []string {
		var got []string
		for _, v := range out[field].([]any) {
			got = append(got, v.(map[string]any)["id"].(string))
		}
		return got
	}
	tests := []struct {
		name, token, path, field string
		want                     []string
	}{
		{"admin sites", e.admin, "/v1/sites", "sites", []string{"a", "b"}},
		{"manager sites", manager, "/v1/sites", "sites", []string{"a"}},
		{"restricted admin sites", restricted, "/v1/sites", "sites", []string{"b"}},
		{"admin devices", e.admin, "/v1/devices", "devices", []string{devA, devB}},
		{"admin devices of b", e.admin, "/v1/devices?site_id=b", "devices", []string{devB}},
		{"admin devices of a and b, comma-separated", e.admin, "/v1/devices?site_id=a,b", "devices", []string{devA, devB}},
		{"manager devices", manager, "/v1/devices", "devices", []string{devA}},
		{"manager asks for b", manager, "/v1/devices?site_id=b", "devices", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := e.mustDo(t, "GET", tt.path, tt.token, "", 200)
			if got := ids(out, tt.field); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("restricted admin cannot grant other sites", func(t *testing.T) {
		status, out := e.do(t, "POST", "/v1/tokens", restricted, "", `{"role":"manager","site_ids":["a"]}`)
		if status != 400 {
			t.Fatalf("got %d %v, want 400", status, out)
		}
		status, out = e.do(t, "POST", "/v1/tokens", restricted, "", `{"role":"admin"}`)
		if status != 403 {
			t.Fatalf("got %d %v, want 403 for an unrestricted admin token", status, out)
		}
		status, out = e.do(t, "POST", "/v1/devices", restricted, "", `{"id":"6f1c2a3e-0000-4000-8000-0000000000cc","site_id":"a","name":"X"}`)
		if status != 400 {
			t.Fatalf("got %d %v, want 400 for a device in another site", status, out)
		}
	})
}

func TestAccountLogsIn(t *testing.T) {
	e := newEnv(t, ingest.DefaultLimits)
	e.seed(t)
	out := e.mustDo(t, "POST", "/v1/accounts", e.admin, `{"username":"ann","password":"correct horse","role":"manager","site_ids":["a"]}`, 201)
	if out["username"] != "ann" || out["role"] != "manager" || fmt.Sprint(out["site_ids"]) != "[a]" {
		t.Fatalf("got %v, want ann/manager/[a]", out)
	}
	e.mustDo(t, "POST", "/v1/accounts", e.admin, `{"username":"ann","password":"correct horse","role":"manager","site_ids":["a"]}`, 409)
	acct, err := e.store.FindAccount(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(acct.PasswordHash, "correct horse") || !strings.HasPrefix(acct.PasswordHash, "$2") {
		t.Fatalf("got stored hash %q, want a bcrypt hash", acct.PasswordHash)
	}
	res, err := e.auth.Login(context.Background(), auth.LoginRequest{Username: "ann", Password: "correct horse"})
	if err != nil {
		t.Fatalf("login with the new account: %v", err)
	}
	sites := e.mustDo(t, "GET", "/v1/sites", res.Secret, "", 200)["sites"].([]any)
	if len(sites) != 1 {
		t.Fatalf("got %d sites for the manager's login token, want 1", len(sites))
	}
}

func TestIngest(t *testing.T) {
	limits := ingest.DefaultLimits
	limits.MaxBody = 64 << 10
	limits.MaxModel = 1024
	e := newEnv(t, limits)
	e.seed(t)
	device := e.token(t, `{"role":"device","device_id":"`+devA+`"}`)
	manager := e.token(t, `{"role":"manager","site_ids":["a"]}`)

	ev := func(dev, tm, key, model, source string) string {
		m := map[string]any{"device_id": dev, "time": json.RawMessage(tm), "key": key, "source_id": source}
		if model != "" {
			m["model"] = json.RawMessage(model)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	type want struct {
		status, accepted, duplicates int
		rejected                     map[int]string // index → part of the message
	}
	tests := []struct {
		name, token, contentType, body string
		want                           want
	}{
		{"one object", e.admin, "application/json", ev(devA, `"2024-05-01T10:00:00.123Z"`, "access_granted_by_valid_identifier", `{"number":12345,"type":"card","lock":1}`, "s1"), want{200, 1, 0, nil}},
		{"retry is a duplicate", e.admin, "application/json", ev(devA, `"2024-05-01T10:00:00.123Z"`, "access_granted_by_valid_identifier", `{}`, "s1"), want{200, 0, 1, nil}},
		{"array with ms time and unknown key", e.admin, "application/json", "[" + ev(devA, `1714557600456`, "door_was_opened", "", "s2") + "," + ev(devB, `"2024-05-01T12:00:00+02:00"`, "brand_new_firmware_event", `{"x":1}`, "s3") + "]", want{200, 2, 0, nil}},
		{"ndjson with bad items", e.admin, "application/x-ndjson", strings.Join([]string{
			ev(devA, `"2024-05-01T10:00:01Z"`, "tamper_event", "", "s4"),
			ev("6f1c2a3e-0000-4000-8000-0000000000ee", `"2024-05-01T10:00:01Z"`, "tamper_event", "", "s5"),
			ev(devA, `"yesterday"`, "tamper_event", "", "s6"),
			ev(devA, `"2024-05-01T10:00:01Z"`, "bad key!", "", "s7"),
			ev(devA, `"2024-05-01T10:00:01Z"`, "tamper_event", `[1,2]`, "s8"),
			ev(devA, `"2024-05-01T10:00:01Z"`, "tamper_event", `{"pad":"`+strings.Repeat("x", 2000)+`"}`, "s9"),
			`{"device_id": 5}`,
			ev(devA, `"2024-05-01T10:00:01Z"`, "tamper_event", "", "s4"),
		}, "\n") + "\n", want{200, 1, 1, map[int]string{1: "unknown device", 2: "time", 3: "key", 4: "model", 5: "larger", 6: "device_id"}}},
		{"concatenated objects without ndjson type", e.admin, "application/json", ev(devA, `"2024-05-01T10:00:02Z"`, "incoming_call", "", "s10") + "\n" + ev(devA, `"2024-05-01T10:00:03Z"`, "outgoing_call", "", "s11"), want{200, 2, 0, nil}},
		{"device token for its device, device_id omitted", device, "application/json", `{"time":"2024-05-01T10:00:04Z","key":"device_booted","source_id":"s12"}`, want{200, 1, 0, nil}},
		{"device token for another device", device, "application/json", ev(devB, `"2024-05-01T10:00:04Z"`, "device_booted", "", "s13"), want{200, 0, 0, map[int]string{0: "own device"}}},
		{"manager may not ingest", manager, "application/json", ev(devA, `"2024-05-01T10:00:04Z"`, "device_booted", "", "s14"), want{403, 0, 0, nil}},
		{"empty body", e.admin, "application/json", "  ", want{400, 0, 0, nil}},
		{"not json", e.admin, "application/json", "hello", want{400, 0, 0, nil}},
		{"broken array", e.admin, "application/json", "[{", want{400, 0, 0, nil}},
		// A stray bracket between objects used to end the body early: the
		// first event was stored, the rest dropped, and the answer 200.
		{"stray bracket between objects", e.admin, "application/json", ev(devA, `"2024-05-01T10:00:06Z"`, "incoming_call", "", "s15") + "]" + ev(devA, `"2024-05-01T10:00:07Z"`, "incoming_call", "", "s16"), want{400, 0, 0, nil}},
		{"too large", e.admin, "application/x-ndjson", strings.Repeat(ev(devA, `"2024-05-01T10:00:05Z"`, "incoming_call", "", "big")+"\n", 1000), want{413, 0, 0, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.do(t, "POST", "/v1/events", tt.token, tt.contentType, tt.body)
			if status != tt.want.status {
				t.Fatalf("got status %d (%v), want %d", status, out, tt.want.status)
			}
			if status != 200 {
				if out["error"] == "" || out["code"] == "" {
					t.Fatalf("got error body %v, want error and code", out)
				}
				return
			}
			if got := int(out["accepted"].(float64)); got != tt.want.accepted {
				t.Errorf("got accepted %d, want %d (%v)", got, tt.want.accepted, out)
			}
			if got := int(out["duplicates"].(float64)); got != tt.want.duplicates {
				t.Errorf("got duplicates %d, want %d (%v)", got, tt.want.duplicates, out)
			}
			rejected := out["rejected"].([]any)
			if len(rejected) != len(tt.want.rejected) {
				t.Fatalf("got rejected %v, want indexes %v", rejected, tt.want.rejected)
			}
			for _, r := range rejected {
				r := r.(map[string]any)
				idx := int(r["index"].(float64))
				if !strings.Contains(r["error"].(string), tt.want.rejected[idx]) {
					t.Errorf("got rejection %v, want index %d to mention %q", r, idx, tt.want.rejected[idx])
				}
			}
		})
	}

	// What was acknowledged is stored, once, with the sender's data.
	events, err := e.store.ListEvents(context.Background(), doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: doorlog.Scope{All: true}}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 7 {
		t.Fatalf("got %d stored events, want 7: %v", len(events), events)
	}
	// 12:00+02:00 is 10:00Z, the earliest, so the card grant is second.
	first := events[1]
	if events[0].SourceID != "s3" {
		t.Fatalf("got first event %v, want s3 (its offset time is the earliest in UTC)", events[0])
	}
	if !first.Time.Equal(time.Date(2024, 5, 1, 10, 0, 0, 123e6, time.UTC)) || first.Key != "access_granted_by_valid_identifier" ||
		first.Category != doorlog.CategoryAccess || first.SiteID != "a" || first.SourceID != "s1" || string(first.Model) != `{"number":12345,"type":"card","lock":1}` {
		t.Fatalf("got first event %+v (model %s), want the card grant as sent", first, first.Model)
	}
	for _, ev := range events {
		if ev.Key == "brand_new_firmware_event" && (ev.Category != doorlog.CategoryInfo || ev.Priority != doorlog.PriorityLow || ev.SiteID != "b") {
			t.Fatalf("got unknown key stored as %+v, want category info, priority low, site b", ev)
		}
	}
}

// TestConcurrentIngest sends from many clients at once: the group commit
// must store every acknowledged event exactly once.
func TestConcurrentIngest(t *testing.T) {
	e := newEnv(t, ingest.DefaultLimits)
	e.seed(t)
	const clients, batches, perBatch = 8, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			for b := range batches {
				var buf bytes.Buffer
				for i := range perBatch {
					fmt.Fprintf(&buf, `{"device_id":%q,"time":%d,"key":"incoming_call","source_id":"c%d-b%d-i%d"}`+"\n", devA, 1714557600000+int64(i), c, b, i)
				}
				req, _ := http.NewRequest("POST", e.url+"/v1/events", &buf)
				req.Header.Set("Authorization", "Bearer "+e.admin)
				req.Header.Set("Content-Type", "application/x-ndjson")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var res ingest.Result
				err = json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || res.Accepted != perBatch {
					errs <- fmt.Errorf("client %d batch %d: status %d, result %+v, err %v", c, b, resp.StatusCode, res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, err := e.store.CountEvents(context.Background(), doorlog.EventFilter{Scope: doorlog.Scope{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	if n != clients*batches*perBatch {
		t.Fatalf("got %d stored events, want %d", n, clients*batches*perBatch)
	}
}
