package aipix_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/aipix"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/golden"
)

// caller picks the credential of a request.
type caller int

const (
	anonymous caller = iota
	admin
	siteAdmin
	manager
	harbourManager
	deviceToken
	badToken
)

func (e *env) token(c caller) string {
	switch c {
	case admin:
		return e.admin
	case siteAdmin:
		return e.siteAdmin
	case manager:
		return e.manager
	case harbourManager:
		return e.harbourManager
	case deviceToken:
		return e.device
	case badToken:
		return "dl_0123456789abcdef0123_not-the-secret"
	}
	return ""
}

const (
	formType = "application/x-www-form-urlencoded"
	seedBody = `{"per_page":0,"page":0}`
)

// TestGolden compares whole responses with testdata/*.json. Requests that
// must answer the same share a golden.
func TestGolden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	entrance := logsPath(devEntrance)
	tests := []struct {
		golden string
		name   string
		rq     request
		as     caller
		status int
	}{
		{"logs_default", "GET", request{method: "GET", path: entrance}, admin, 200},
		{"logs_default", "POST seed body", request{method: "POST", path: entrance, body: seedBody}, admin, 200},
		{"logs_default", "GET with JSON body (the PHP example)", request{method: "GET", path: entrance, body: seedBody}, admin, 200},
		{"logs_default", "GET zeros in query", request{method: "GET", path: entrance + "?per_page=0&page=0"}, admin, 200},
		{"logs_default", "GET explicit defaults", request{method: "GET", path: entrance + "?per_page=25&page=1"}, admin, 200},
		{"logs_default", "GET empty values", request{method: "GET", path: entrance + "?per_page=&page="}, admin, 200},
		{"logs_default", "POST no body", request{method: "POST", path: entrance}, admin, 200},
		{"logs_default", "POST empty array body", request{method: "POST", path: entrance, body: `[]`}, admin, 200},
		{"logs_default", "POST nulls", request{method: "POST", path: entrance, body: `{"per_page":null,"page":null}`}, admin, 200},
		{"logs_default", "POST body null wins over query", request{method: "POST", path: entrance + "?page=2", body: `{"page":null}`}, admin, 200},
		{"logs_default", "POST unknown members", request{method: "POST", path: entrance, body: `{"sort":"asc","limit":3}`}, admin, 200},
		{"logs_default", "POST vendor JSON type", request{method: "POST", path: entrance, body: seedBody, contentType: "application/vnd.api+json; charset=utf-8"}, admin, 200},
		{"logs_default", "riverside manager", request{method: "GET", path: entrance}, manager, 200},
		{"logs_default", "riverside admin", request{method: "GET", path: entrance}, siteAdmin, 200},

		{"logs_page2_per_page10", "GET query", request{method: "GET", path: entrance + "?page=2&per_page=10"}, admin, 200},
		{"logs_page2_per_page10", "POST body", request{method: "POST", path: entrance, body: `{"per_page":10,"page":2}`}, admin, 200},
		{"logs_page2_per_page10", "POST numeric strings", request{method: "POST", path: entrance, body: `{"per_page":"10","page":" 2"}`}, admin, 200},
		{"logs_page2_per_page10", "POST integral floats", request{method: "POST", path: entrance, body: `{"per_page":10.0,"page":2e0}`}, admin, 200},
		{"logs_page2_per_page10", "body wins over query", request{method: "POST", path: entrance + "?per_page=50&page=5", body: `{"per_page":10,"page":2}`}, admin, 200},
		{"logs_page2_per_page10", "query fills what the body lacks", request{method: "POST", path: entrance + "?page=2", body: `{"per_page":10}`}, admin, 200},
		{"logs_page2_per_page10", "last repeated query value", request{method: "GET", path: entrance + "?page=7&page=2&per_page=10"}, admin, 200},
		{"logs_page2_per_page10", "POST form", request{method: "POST", path: entrance, body: "per_page=10&page=2", contentType: formType}, admin, 200},
		{"logs_page2_per_page10", "POST JSON sent as a form (curl -d)", request{method: "POST", path: entrance, body: `{"per_page":10,"page":2}`, contentType: formType}, admin, 200},
		{"logs_page2_per_page10", "GET form body is ignored", request{method: "GET", path: entrance + "?page=2&per_page=10", body: "per_page=50&page=1", contentType: formType}, admin, 200},

		{"logs_query", "GET", request{method: "GET", path: entrance + "?per_page=7&page=3"}, admin, 200},
		{"logs_last_page", "GET", request{method: "GET", path: entrance + "?page=3"}, admin, 200},
		{"logs_past_end", "GET", request{method: "GET", path: entrance + "?page=9"}, admin, 200},
		{"logs_slider_page1", "GET", request{method: "GET", path: entrance + "?per_page=1&page=1"}, admin, 200},
		{"logs_slider_page10", "GET", request{method: "GET", path: entrance + "?per_page=1&page=10"}, admin, 200},
		{"logs_slider_page60", "GET", request{method: "GET", path: entrance + "?per_page=1&page=60"}, admin, 200},
		{"logs_per_page100", "GET", request{method: "GET", path: entrance + "?per_page=100"}, admin, 200},
		{"logs_garage", "GET", request{method: "GET", path: logsPath(devGarage)}, manager, 200},
		{"logs_empty", "GET", request{method: "GET", path: logsPath(devHarbour)}, harbourManager, 200},
		{"logs_forwarded_https", "GET", request{method: "GET", path: entrance + "?per_page=30&page=2", header: map[string]string{"X-Forwarded-Proto": "https"}}, admin, 200},

		{"error_unauthenticated", "no token", request{method: "GET", path: entrance}, anonymous, 401},
		{"error_unauthenticated", "bad token", request{method: "GET", path: entrance}, badToken, 401},
		{"error_unauthenticated", "bad token, unknown intercom, bad page", request{method: "POST", path: logsPath(devMissing), body: `{"page":-1}`}, badToken, 401},
		{"error_unauthorized", "device token", request{method: "GET", path: entrance}, deviceToken, 403},
		{"error_unauthorized", "device token, unknown intercom", request{method: "GET", path: logsPath(devMissing)}, deviceToken, 403},
		{"error_not_found", "unknown intercom", request{method: "GET", path: logsPath(devMissing)}, admin, 404},
		{"error_not_found", "another site's intercom", request{method: "GET", path: logsPath(devHarbour)}, manager, 404},
		{"error_not_found", "malformed intercom", request{method: "GET", path: logsPath("not-a-uuid")}, admin, 404},
		{"error_not_found", "unknown intercom before bad parameters", request{method: "GET", path: logsPath(devMissing) + "?page=x"}, admin, 404},
		{"error_per_page_between", "too large", request{method: "GET", path: entrance + "?per_page=101"}, admin, 422},
		{"error_per_page_between", "negative", request{method: "POST", path: entrance, body: `{"per_page":-5}`}, admin, 422},
		{"error_per_page_integer", "word", request{method: "GET", path: entrance + "?per_page=ten"}, admin, 422},
		{"error_per_page_integer", "fraction", request{method: "POST", path: entrance, body: `{"per_page":2.5}`}, admin, 422},
		{"error_per_page_integer", "boolean", request{method: "POST", path: entrance, body: `{"per_page":true}`}, admin, 422},
		{"error_page_min", "negative", request{method: "GET", path: entrance + "?page=-1"}, admin, 422},
		{"error_page_integer", "word", request{method: "POST", path: entrance, body: `{"page":"first"}`}, admin, 422},
		{"error_page_integer", "over int64", request{method: "GET", path: entrance + "?page=99999999999999999999"}, admin, 422},
		{"error_page_integer", "array", request{method: "POST", path: entrance, body: `{"page":[2]}`}, admin, 422},
		{"error_both", "GET", request{method: "GET", path: entrance + "?per_page=500&page=x"}, admin, 422},
		{"error_malformed_json", "truncated", request{method: "POST", path: entrance, body: `{"per_page":`}, admin, 400},
		{"error_malformed_json", "trailing data", request{method: "GET", path: entrance, body: `{"per_page":1} {}`}, admin, 400},
		{"error_method_not_allowed", "DELETE", request{method: "DELETE", path: entrance}, admin, 405},
	}
	for _, tt := range tests {
		t.Run(tt.golden+"/"+tt.name, func(t *testing.T) {
			rq := tt.rq
			rq.token = e.token(tt.as)
			r := e.do(t, rq)
			wantJSON(t, r, tt.status)
			checkGolden(t, tt.golden, r.body)
		})
	}
}

// TestSeedExample stores the 25 cam_light events of seed 000's example on
// its intercom, sends the seed's cURL request and compares the answer with
// the seed's JSON (testdata/seed_000.json, copied verbatim). The seed's
// links are relative to "/"; doorlog's are the absolute URLs of the
// endpoint, so those are adapted and nothing else.
func TestSeedExample(t *testing.T) {
	t.Parallel()
	seed, err := os.ReadFile(filepath.Join("testdata", "seed_000.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data []struct {
			DeviceID string                     `json:"device_id"`
			DateTime string                     `json:"date_time"`
			Data     map[string]json.RawMessage `json:"data"`
		} `json:"data"`
	}
	if err := json.Unmarshal(seed, &doc); err != nil {
		t.Fatalf("decode seed: %v", err)
	}
	if len(doc.Data) != 25 {
		t.Fatalf("seed: got %d events, want 25", len(doc.Data))
	}

	e := newEnv(t)
	device := doc.Data[0].DeviceID
	e.createDevice(t, doorlog.Device{ID: device, SiteID: siteRiverside, Name: "AIPIX intercom"})
	var events []doorlog.Event
	for _, d := range doc.Data {
		at, err := time.Parse(time.RFC3339Nano, d.DateTime)
		if err != nil {
			t.Fatalf("seed date_time %q: %v", d.DateTime, err)
		}
		var key string
		if err := json.Unmarshal(d.Data["action"], &key); err != nil {
			t.Fatalf("seed action: %v", err)
		}
		model := `{"state":` + string(d.Data["state"]) + `}`
		events = append(events, e.event(device, at, key, model))
	}
	e.append(t, events)

	path := logsPath(device)
	r := e.do(t, request{method: "POST", path: path, token: e.admin, body: "{\n    \"per_page\": 0,\n    \"page\": 0\n}"})
	wantJSON(t, r, http.StatusOK)

	base := "http://" + testHost + path
	adapted := strings.NewReplacer(`"/?page=`, `"`+base+`?page=`, `"path": "/"`, `"path": "`+base+`"`).Replace(string(seed))
	if strings.Count(adapted, base) != 4 {
		t.Fatalf("adapting the seed's links: got %d absolute URLs, want 4 (first, last, page 1, path)", strings.Count(adapted, base))
	}
	want, err := golden.DecodeExact([]byte(adapted))
	if err != nil {
		t.Fatalf("decode adapted seed: %v", err)
	}
	golden.Compare(t, r.body, want, "seed 000's example")
}

// TestDataBytes checks the data object byte for byte: "action" first, the
// model's members in their stored order, a model's own "action" dropped,
// numbers no float64 holds and HTML characters kept, and no escaped
// slashes.
func TestDataBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	r := e.get(t, logsPath(devEntrance)+"?per_page=100", e.admin)
	wantJSON(t, r, http.StatusOK)
	for _, want := range []string{
		`"data":{"action":"access_granted_by_valid_identifier","number":` + bigNumber + `,"type":"card","owner":"Anna Kowalska","apartment_address":"Flat 12","lock":1}`,
		`"data":{"action":"face_mask_not_detected","score":0.93,"frame":12345678901234567890,"note":"<b>mask</b> & gloves","snapshot":"https://cam.example/s/13.jpg"}`,
		`"data":{"action":"cam_light","state":"off"}`,
		`"data":{"action":"tamper_event"}`,
		`"date_time":"2022-06-23T04:00:00.29+00:00"`,
		`"date_time":"2022-06-23T04:01:37+00:00"`,
		`"date_time":"2022-06-23T04:08:05.123+00:00"`,
		`"date_time":"2022-06-23T04:12:56.007+00:00"`,
		`"path":"http://` + testHost + logsPath(devEntrance) + `"`,
	} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("body: want it to contain %s", want)
		}
	}
	for _, unwanted := range []string{`cam_light_spoofed`, `\/`, `\u003c`, `\u0026`} {
		if bytes.Contains(r.body, []byte(unwanted)) {
			t.Errorf("body contains %s", unwanted)
		}
	}
}

// TestOrderAndLinks walks the list through its next links, from the first
// page to the last, and checks it sees every event of the intercom once,
// newest first by (time, id), with Laravel's from, to and prev.
func TestOrderAndLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := newestFirst(e.appendFixture(t), devEntrance)
	for _, perPage := range []int{7, 25, 60, 100} {
		t.Run(strconv.Itoa(perPage), func(t *testing.T) {
			var got []string
			next := "http://" + testHost + logsPath(devEntrance) + "?per_page=" + strconv.Itoa(perPage)
			var prev *string
			for page := int64(1); next != ""; page++ {
				u, err := url.Parse(next)
				if err != nil {
					t.Fatalf("next %q: %v", next, err)
				}
				if u.Host != testHost || u.Scheme != "http" {
					t.Fatalf("next %q: want http://%s", next, testHost)
				}
				b := e.list(t, request{method: "GET", path: u.RequestURI(), token: e.admin})
				if b.Meta.CurrentPage != page {
					t.Errorf("current_page: got %d, want %d", b.Meta.CurrentPage, page)
				}
				if b.Meta.Total != int64(len(want)) || b.Meta.PerPage != perPage {
					t.Errorf("total, per_page: got %d, %d, want %d, %d", b.Meta.Total, b.Meta.PerPage, len(want), perPage)
				}
				if from := int64(len(got)) + 1; b.Meta.From == nil || *b.Meta.From != from {
					t.Errorf("page %d from: got %v, want %d", page, b.Meta.From, from)
				}
				if to := int64(len(got) + len(b.Data)); b.Meta.To == nil || *b.Meta.To != to {
					t.Errorf("page %d to: got %v, want %d", page, b.Meta.To, to)
				}
				if (prev == nil) != (b.Links.Prev == nil) || prev != nil && *prev != *b.Links.Prev {
					t.Errorf("page %d prev: got %v, want the previous page's URL %v", page, b.Links.Prev, prev)
				}
				prev = nil
				for _, l := range b.Meta.Links {
					if l.Active {
						prev = l.URL
					}
				}
				if prev == nil {
					t.Fatalf("page %d: no active entry in meta.links", page)
				}
				for _, d := range b.Data {
					got = append(got, d.DateTime+" "+string(d.Data))
				}
				next = ""
				if b.Links.Next != nil {
					next = *b.Links.Next
				}
				if page > 100 {
					t.Fatal("more than 100 pages")
				}
			}
			if len(got) != len(want) {
				t.Fatalf("events: got %d, want %d", len(got), len(want))
			}
			for i, w := range want {
				action := `{"action":"` + w.Key + `"`
				if wantTime := w.Time.UTC().Format("2006-01-02T15:04:05.999-07:00"); !strings.HasPrefix(got[i], wantTime+" "+action) {
					t.Errorf("event %d: got %s, want %s %s...", i, got[i], wantTime, action)
				}
			}
		})
	}
}

// TestTies checks that two events at the same millisecond come newest id
// first.
func TestTies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	at := time.Date(2022, 6, 23, 7, 53, 35, 290e6, time.UTC)
	e.append(t, []doorlog.Event{e.event(devGarage, at, "cam_light", `{"state":"on"}`)})
	e.append(t, []doorlog.Event{e.event(devGarage, at, "cam_light", `{"state":"off"}`)})
	b := e.list(t, request{method: "GET", path: logsPath(devGarage), token: e.admin})
	if len(b.Data) != 2 || string(b.Data[0].Data) != `{"action":"cam_light","state":"off"}` {
		t.Errorf("data: got %+v, want the later-stored event (off) first", b.Data)
	}
}

// TestScope checks which tokens see which intercoms: a token sees an
// intercom of its sites, and one outside them is a 404 like an unknown one.
func TestScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	e.append(t, []doorlog.Event{e.event(devHarbour, t0, "incoming_call", `{"number":"3","answered":false}`)})
	tests := []struct {
		name   string
		device string
		as     caller
		total  int64 // -1: 404
	}{
		{"admin, entrance", devEntrance, admin, 60},
		{"admin, garage", devGarage, admin, 3},
		{"admin, harbour", devHarbour, admin, 1},
		{"riverside admin, garage", devGarage, siteAdmin, 3},
		{"riverside admin, harbour", devHarbour, siteAdmin, -1},
		{"riverside manager, entrance", devEntrance, manager, 60},
		{"riverside manager, harbour", devHarbour, manager, -1},
		{"harbour manager, harbour", devHarbour, harbourManager, 1},
		{"harbour manager, entrance", devEntrance, harbourManager, -1},
		{"harbour manager, garage", devGarage, harbourManager, -1},
		{"upper-case intercom id", strings.ToUpper(devGarage), manager, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(t, logsPath(tt.device)+"?per_page=100", e.token(tt.as))
			if tt.total < 0 {
				wantMessage(t, r, http.StatusNotFound, aipix.MsgNotFound)
				return
			}
			wantJSON(t, r, http.StatusOK)
			var b logsBody
			if err := json.Unmarshal(r.body, &b); err != nil {
				t.Fatal(err)
			}
			if b.Meta.Total != tt.total || int64(len(b.Data)) != tt.total {
				t.Errorf("total, data: got %d, %d, want %d", b.Meta.Total, len(b.Data), tt.total)
			}
			for _, d := range b.Data {
				if d.DeviceID != strings.ToLower(tt.device) || d.Context != "intercom" {
					t.Errorf("entry: got device_id %s, context %s, want %s, intercom", d.DeviceID, d.Context, tt.device)
				}
			}
		})
	}

	t.Run("a token without the Bearer scheme", func(t *testing.T) {
		for _, h := range []string{"Basic YWRtaW46YWRtaW4=", e.admin, "Bearer", "Token " + e.admin} {
			r := e.do(t, request{method: "GET", path: logsPath(devEntrance), header: map[string]string{"Authorization": h}})
			wantMessage(t, r, http.StatusUnauthorized, aipix.MsgUnauthenticated)
		}
	})
}

// TestEventCodes checks event_code comes from the catalog: cam_light is 0,
// a BAS-IP key its own code, an unknown key 999.
func TestEventCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	b := e.list(t, request{method: "GET", path: logsPath(devEntrance) + "?per_page=100", token: e.admin})
	seen := map[string]bool{}
	for _, d := range b.Data {
		var data struct{ Action string }
		if err := json.Unmarshal(d.Data, &data); err != nil {
			t.Fatal(err)
		}
		if want := e.cat.Entry(data.Action).Code; d.EventCode != want {
			t.Errorf("%s event_code: got %d, want %d", data.Action, d.EventCode, want)
		}
		seen[data.Action] = true
		switch data.Action {
		case "cam_light":
			if d.EventCode != 0 {
				t.Errorf("cam_light event_code: got %d, want 0", d.EventCode)
			}
		case "face_mask_not_detected":
			if d.EventCode != 999 {
				t.Errorf("unknown key event_code: got %d, want 999", d.EventCode)
			}
		}
	}
	if !seen["cam_light"] || !seen["face_mask_not_detected"] || !seen["access_granted_by_valid_identifier"] {
		t.Errorf("fixture: got actions %v, want cam_light, an unknown key and a BAS-IP key", seen)
	}
}

// TestMethods checks HEAD answers like GET without a body, and every other
// method gets Laravel's 405 with Allow, before any authentication.
func TestMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, method := range []string{"PUT", "PATCH", "DELETE", "OPTIONS"} {
		t.Run(method, func(t *testing.T) {
			r := e.do(t, request{method: method, path: logsPath(devEntrance)})
			want := "The " + method + " method is not supported for route api/admin/v1/intercoms/" + devEntrance + "/logs. Supported methods: GET, HEAD, POST."
			wantMessage(t, r, http.StatusMethodNotAllowed, want)
			if got := r.header.Get("Allow"); got != "GET, HEAD, POST" {
				t.Errorf("Allow: got %q, want %q", got, "GET, HEAD, POST")
			}
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		r := e.do(t, request{method: "HEAD", path: logsPath(devEntrance), token: e.admin})
		if r.status != http.StatusOK || len(r.body) != 0 {
			t.Errorf("got %d with %d bytes, want 200 without a body", r.status, len(r.body))
		}
	})
}

// TestTLS checks that a TLS connection gives https links.
func TestTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mux := http.NewServeMux()
	aipix.New(aipix.Config{Store: e.db, Catalog: e.cat, Auth: e.auth}).Register(mux)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	req, err := http.NewRequest("GET", srv.URL+logsPath(devGarage), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b logsBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	if want := srv.URL + logsPath(devGarage); b.Meta.Path != want || b.Links.First != want+"?page=1" {
		t.Errorf("path, first: got %s, %s, want %s, %s?page=1", b.Meta.Path, b.Links.First, want, want)
	}
}

// TestBodyTooLarge checks a body over MaxBody answers 413.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"per_page":10,"pad":"` + strings.Repeat("x", aipix.MaxBody) + `"}`
	r := e.do(t, request{method: "POST", path: logsPath(devEntrance), token: e.admin, body: body})
	wantMessage(t, r, http.StatusRequestEntityTooLarge, aipix.MsgTooLarge)
}

// failingStore is the real store with CountEvents failing with err.
type failingStore struct {
	aipix.Store
	err error
}

func (s failingStore) CountEvents(context.Context, doorlog.EventFilter) (int64, error) {
	return 0, s.err
}

// TestServerErrors checks that a broken store answers a bare 500 (or 503
// when it is busy) and that the cause is logged, not sent.
func TestServerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"internal", errors.New("disk I/O error at page 42"), 500, aipix.MsgServerError},
		{"busy", &doorlog.Error{Code: doorlog.EUNAVAILABLE, Message: "the database is busy; try again", Err: errors.New("disk I/O error at page 42")}, 503, aipix.MsgUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *aipix.Config, e *env) {
				cfg.Store = failingStore{Store: e.db, err: tt.err}
			})
			r := e.get(t, logsPath(devEntrance), e.admin)
			wantMessage(t, r, tt.status, tt.msg)
			if logs := e.logs.String(); !strings.Contains(logs, "disk I/O error at page 42") || !strings.Contains(logs, "aipix: list events") {
				t.Errorf("log: got %q, want the cause", logs)
			}
		})
	}

	t.Run("closed store", func(t *testing.T) {
		e := newEnv(t)
		token := e.admin
		e.db.Close()
		r := e.get(t, logsPath(devEntrance), token)
		wantMessage(t, r, http.StatusInternalServerError, aipix.MsgServerError)
		if logs := e.logs.String(); !strings.Contains(logs, "err=") || strings.Contains(logs, token) {
			t.Errorf("log: got %q, want the cause and no token", logs)
		}
	})
}
