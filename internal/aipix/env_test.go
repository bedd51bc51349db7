package aipix_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/aipix"
	"github.com/doorlog/doorlog/internal/apitest"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/golden"
	"github.com/doorlog/doorlog/internal/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the responses")

// The real parts satisfy the interfaces the package declares.
var (
	_ aipix.Store         = (*sqlite.DB)(nil)
	_ aipix.Catalog       = (*catalog.Catalog)(nil)
	_ aipix.Authenticator = (*auth.Service)(nil)
)

// The fixed world of the tests: site riverside with two intercoms, site
// harbour with one, and the Host every request is sent with, so that the
// links in the goldens do not depend on the test server's port.
const (
	siteRiverside = "riverside"
	siteHarbour   = "harbour"
	devEntrance   = "3f2c1a9e-6b1d-4c7a-9a51-0d8e2b7c4a10" // riverside, 60 events
	devGarage     = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d" // riverside, 3 events
	devHarbour    = "c0ffee00-1234-4abc-8def-0123456789ab" // harbour, no events
	devMissing    = "00000000-0000-4000-8000-000000000000" // never created

	testHost = "doorlog.test:8080"
)

// now is the clock of auth.
var now = time.Date(2022, 6, 24, 9, 30, 0, 0, time.UTC)

// t0 is the time of the first fixture event.
var t0 = time.Date(2022, 6, 23, 4, 0, 0, 0, time.UTC)

// fixtureEvent is one event of the fixture: device, time, key and model.
type fixtureEvent struct {
	device string
	at     time.Time
	key    string
	model  string
}

// bigNumber is an identifier number no float64 holds.
const bigNumber = "123456789012345678901234567890"

// fixtureEvents are the 60 events of the entrance intercom, then 3 of the
// garage. Times step by 97 s with milliseconds from fracs, so date_time
// shows .29, .02, .007, .99 and whole seconds. Most events are cam_light
// on/off (seed 000's events); among them are grants with a number no float64
// holds, door openings, an unknown key with HTML in its model, an empty
// model, a model with its own "action" member, and two events at the same
// millisecond (their order is decided by id).
func fixtureEvents() []fixtureEvent {
	fracs := []int{290, 0, 110, 20, 0, 123, 500, 0, 7, 990}
	var out []fixtureEvent
	for i := range 60 {
		at := t0.Add(time.Duration(i)*97*time.Second + time.Duration(fracs[i%10])*time.Millisecond)
		key, model := "cam_light", `{"state":"on"}`
		if i%2 == 1 {
			model = `{"state":"off"}`
		}
		switch {
		case i == 13:
			key, model = "face_mask_not_detected", `{"score":0.93,"frame":12345678901234567890,"note":"<b>mask</b> & gloves","snapshot":"https://cam.example/s/13.jpg"}`
		case i == 21:
			key, model = "tamper_event", `{}`
		case i == 34:
			model = `{"state":"off","action":"cam_light_spoofed"}`
		case i == 42:
			at = out[41].at
			key, model = "door_was_opened", `{"lock":2}`
		case i%5 == 2:
			key, model = "access_granted_by_valid_identifier", `{"number":`+bigNumber+`,"type":"card","owner":"Anna Kowalska","apartment_address":"Flat 12","lock":1}`
		case i%7 == 3:
			key, model = "door_was_opened", `{"lock":1}`
		}
		out = append(out, fixtureEvent{devEntrance, at, key, model})
	}
	out = append(out,
		fixtureEvent{devGarage, t0.Add(30 * time.Minute), "access_denied_by_unknown_card", `{"card":"0012345"}`},
		fixtureEvent{devGarage, t0.Add(45*time.Minute + 10*time.Millisecond), "cam_light", `{"state":"on"}`},
		fixtureEvent{devGarage, t0.Add(46 * time.Minute), "cam_light", `{"state":"off"}`},
	)
	return out
}

// env is a running API over a real SQLite file, the real catalog and real
// auth, with the fixture's sites, intercoms and tokens for every kind of
// caller, but no events.
type env struct {
	db   *sqlite.DB
	cat  *catalog.Catalog
	auth *auth.Service
	srv  *httptest.Server
	logs *apitest.LogBuffer

	admin          string // unrestricted admin
	siteAdmin      string // admin of riverside
	manager        string // manager of riverside
	harbourManager string // manager of harbour
	device         string // device token of the entrance
}

// envOption changes the Config before the handler is made.
type envOption func(*aipix.Config, *env)

// newEnv starts an API with the fixture's sites, intercoms and tokens.
func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	w := apitest.New(tb, now,
		[]doorlog.Site{{ID: siteRiverside, Name: "Riverside Residence"}, {ID: siteHarbour, Name: "Harbour Offices"}},
		[]doorlog.Device{
			{ID: devEntrance, SiteID: siteRiverside, Name: "Main entrance", Model: "AA-14FB"},
			{ID: devGarage, SiteID: siteRiverside, Name: "Garage gate", Model: "AV-07T"},
			{ID: devHarbour, SiteID: siteHarbour, Name: "Harbour lobby", Model: "AQ-10"},
		},
		[]apitest.Account{})
	e := &env{db: w.DB, cat: w.Catalog, auth: w.Auth, logs: w.Logs}
	e.admin = w.Issue(tb, doorlog.Token{Role: doorlog.RoleAdmin})
	e.siteAdmin = w.Issue(tb, doorlog.Token{Role: doorlog.RoleAdmin, SiteIDs: []string{siteRiverside}})
	e.manager = w.Issue(tb, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{siteRiverside}})
	e.harbourManager = w.Issue(tb, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{siteHarbour}})
	e.device = w.Issue(tb, doorlog.Token{Role: doorlog.RoleDevice, DeviceID: devEntrance})

	cfg := aipix.Config{
		Store:   w.DB,
		Catalog: w.Catalog,
		Auth:    e.auth,
		Logger:  slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	for _, o := range opts {
		o(&cfg, e)
	}
	mux := http.NewServeMux()
	aipix.New(cfg).Register(mux)
	e.srv = httptest.NewServer(mux)
	tb.Cleanup(e.srv.Close)
	return e
}

func (e *env) createDevice(tb testing.TB, d doorlog.Device) {
	tb.Helper()
	if err := e.db.CreateDevice(context.Background(), &d); err != nil {
		tb.Fatalf("create device %s: %v", d.ID, err)
	}
}

// appendFixture stores the fixture's events, shuffled and in several
// batches (as reconnecting devices send them, so ids do not follow times),
// and returns them as stored.
func (e *env) appendFixture(tb testing.TB) []doorlog.Event {
	tb.Helper()
	fx := fixtureEvents()
	events := make([]doorlog.Event, len(fx))
	for i, f := range fx {
		events[i] = e.event(f.device, f.at, f.key, f.model)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	var stored []doorlog.Event
	for chunk := range slices.Chunk(events, 17) {
		stored = append(stored, e.append(tb, chunk)...)
	}
	return stored
}

// event makes an event classified by the catalog; its site is filled from
// the device by the store.
func (e *env) event(device string, at time.Time, key, model string) doorlog.Event {
	entry := e.cat.Entry(key)
	return doorlog.Event{
		DeviceID: device,
		Time:     at,
		Key:      key,
		Category: entry.Category,
		Priority: entry.Priority,
		Model:    json.RawMessage(model),
	}
}

// append stores events in one call and returns them with their ids.
func (e *env) append(tb testing.TB, events []doorlog.Event) []doorlog.Event {
	tb.Helper()
	return apitest.Append(tb, e.db, events)
}

// newestFirst returns a device's events in the API's order: (time, id)
// descending.
func newestFirst(events []doorlog.Event, device string) []doorlog.Event {
	var out []doorlog.Event
	for _, ev := range events {
		if ev.DeviceID == device {
			out = append(out, ev)
		}
	}
	slices.SortFunc(out, func(a, b doorlog.Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out
}

// logsPath is the log list of an intercom.
func logsPath(device string) string {
	return "/api/admin/v1/intercoms/" + device + "/logs"
}

// request is one HTTP request to the test server.
type request struct {
	method string
	path   string // with the query
	token  string // "" sends no Authorization
	body   string
	// contentType is sent when set; a body without one is sent as JSON.
	contentType string
	header      map[string]string
}

// response is one HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with Host testHost.
func (e *env) do(tb testing.TB, rq request) response {
	tb.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req, err := http.NewRequest(rq.method, e.srv.URL+rq.path, body)
	if err != nil {
		tb.Fatalf("new request %s %s: %v", rq.method, rq.path, err)
	}
	req.Host = testHost
	req.Header.Set("Accept", "application/json")
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	switch {
	case rq.contentType != "":
		req.Header.Set("Content-Type", rq.contentType)
	case rq.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", rq.method, rq.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// get sends a GET without a body.
func (e *env) get(tb testing.TB, path, token string) response {
	tb.Helper()
	return e.do(tb, request{method: http.MethodGet, path: path, token: token})
}

// wantJSON checks the status and the JSON content type of a response.
func wantJSON(tb testing.TB, r response, status int) {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status: got %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type: got %q, want %q", ct, "application/json")
	}
}

// wantMessage checks a {"message": msg} answer.
func wantMessage(tb testing.TB, r response, status int, msg string) {
	tb.Helper()
	wantJSON(tb, r, status)
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		tb.Fatalf("body %s: %v", r.body, err)
	}
	if want := map[string]any{"message": msg}; !reflect.DeepEqual(got, want) {
		tb.Errorf("body: got %s, want {\"message\": %q}", r.body, msg)
	}
}

// logsBody is a decoded 200 answer.
type logsBody struct {
	Data []struct {
		DeviceID  string          `json:"device_id"`
		DateTime  string          `json:"date_time"`
		Context   string          `json:"context"`
		EventCode int             `json:"event_code"`
		Data      json.RawMessage `json:"data"`
	} `json:"data"`
	Links struct {
		First string  `json:"first"`
		Last  string  `json:"last"`
		Prev  *string `json:"prev"`
		Next  *string `json:"next"`
	} `json:"links"`
	Meta struct {
		CurrentPage int64  `json:"current_page"`
		From        *int64 `json:"from"`
		LastPage    int64  `json:"last_page"`
		Links       []struct {
			URL    *string `json:"url"`
			Label  string  `json:"label"`
			Active bool    `json:"active"`
		} `json:"links"`
		Path    string `json:"path"`
		PerPage int    `json:"per_page"`
		To      *int64 `json:"to"`
		Total   int64  `json:"total"`
	} `json:"meta"`
}

// list sends rq and decodes the answer, failing unless it is a 200.
func (e *env) list(tb testing.TB, rq request) logsBody {
	tb.Helper()
	r := e.do(tb, rq)
	wantJSON(tb, r, http.StatusOK)
	var b logsBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		tb.Fatalf("decode %s: %v", rq.path, err)
	}
	return b
}

// checkGolden compares a JSON body with testdata/<name>.json by meaning,
// or rewrites the file with -update.
func checkGolden(tb testing.TB, name string, body []byte) {
	tb.Helper()
	golden.Check(tb, filepath.Join("testdata", name+".json"), body, *update)
}
