package oloid_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/apitest"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/golden"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/oloid"
	"github.com/doorlog/doorlog/internal/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the responses")

// The real parts satisfy the interfaces the package declares.
var (
	_ oloid.Store         = (*sqlite.DB)(nil)
	_ oloid.Catalog       = (*catalog.Catalog)(nil)
	_ oloid.Authenticator = (*auth.Service)(nil)
	_ auth.Appender       = (*ingest.Writer)(nil)
	_ auth.Appender       = (*sqlite.DB)(nil)
)

// The fixed world of the tests: site riverside with two named devices, and
// site harbour with one, for the scope tests.
const (
	siteRiverside = "riverside"
	siteHarbour   = "harbour"
	devEntrance   = "3f2c1a9e-6b1d-4c7a-9a51-0d8e2b7c4a10" // riverside
	devGarage     = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d" // riverside
	devHarbour    = "c0ffee00-1234-4abc-8def-0123456789ab" // harbour

	adminPassword   = "Door-Admin-2024!"
	managerPassword = "Manager-Pass-77"
	siteAdminPass   = "Riverside-Admin-9"
)

// The day of seed 002's example request, and the injected clock.
const (
	dayStart = 1662364800000 // 2022-09-05T08:00:00Z
	dayEnd   = 1662451200000 // 2022-09-06T08:00:00Z
)

var (
	t0  = time.UnixMilli(dayStart).UTC()
	now = time.Date(2022, 9, 7, 9, 30, 0, 123_456_789, time.UTC)
)

// fixtureEvent is one event of the fixture: offset from t0, device ("" for
// a server event), key and model.
type fixtureEvent struct {
	at     time.Duration
	device string
	key    string
	model  string
}

func hms(h, m, s, ms int) time.Duration {
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(ms)*time.Millisecond
}

// fixtureEvents are 40 events of site riverside and of the server: 37 in
// seed 002's example day (one exactly at each end), 3 outside it. Four
// events share 00:05:00.120 and three share 12:00:00.500, so ids break
// their ties. Models name people in every way the details mapping reads
// them, one model has members named like OLOID's own, and one has a number
// no float64 holds and HTML characters.
var fixtureEvents = []fixtureEvent{
	{-24 * time.Hour, devEntrance, "incoming_call", `{"number":"7","answered":false}`},
	{-time.Millisecond, devEntrance, "device_booted", `{"status":"starting"}`},
	{24*time.Hour + time.Millisecond, devEntrance, "door_was_opened", `{"lock":1}`},

	{0, devEntrance, "device_booted", `{"status":"finishing"}`},
	{hms(0, 1, 12, 345), devEntrance, "sip_registration_lost", `{}`},
	{hms(0, 5, 0, 120), devEntrance, "access_granted_by_valid_identifier", `{"number":12345,"type":"card","owner":"Anna Kowalska","apartment_address":"Flat 12","lock":1}`},
	{hms(0, 5, 0, 120), devEntrance, "door_was_opened", `{"lock":1}`},
	{hms(0, 5, 0, 120), devGarage, "door_sensor_was_opened", `{"lock":1}`},
	{hms(0, 5, 0, 120), devEntrance, "incoming_call", `{"number":"12","answered":true}`},
	{hms(0, 5, 9, 800), devEntrance, "door_was_closed", `{"lock":1}`},
	{hms(0, 7, 30, 0), devGarage, "access_denied_by_unknown_card", `{"card":"0012345"}`},
	{hms(0, 20, 0, 0), devGarage, "access_granted_by_api_call", `{"requestor":"web_ui","lock":1}`},
	{hms(0, 25, 0, 0), devEntrance, "access_granted_by_valid_face_identifier", `{"number":77,"type":"face_id","owner":"Jan de Vries","apartment_address":"Flat 4","lock":1}`},
	{hms(0, 26, 10, 0), devEntrance, "access_denied_by_not_valid_face_identifier", `{"number":78,"type":"face_id","owner":"Olena Shevchenko","apartment_address":"Flat 9","lock":1}`},
	{hms(0, 30, 0, 0), devEntrance, "outgoing_call", `{"number":"1001","answered":true}`},
	{hms(0, 41, 0, 0), devEntrance, "access_denied_unknown_identifier", `{"identifier_number":"A123BC","identifier_type":"license_plate"}`},
	{hms(0, 45, 0, 0), devGarage, "lift_call_success", `{"info":{"user":{"link_id":null,"name":"Anna Kowalska"},"destination":{"id":7,"short_name":"7F"},"lift":{"id":1,"short_name":"Lift A"}}}`},
	{hms(0, 46, 0, 0), devGarage, "lift_call_error", `{"info":{"user":{"link_id":null,"name":"Jan de Vries"},"destination":{"id":3,"short_name":"3F"}},"error":{"message":"Lift controller timeout"}}`},
	{hms(0, 50, 0, 0), devEntrance, "multi_access_denied", `{"used_identifiers_list":[{"identifier_number":"12345","auth_type":"card","user_name":"Anna Kowalska","user_info":"","apartments_list":["Flat 12"]}],"reject_reasons":[{"not_enough_identifiers_for_current_authentication_type":["face_id"]}]}`},
	{hms(0, 51, 0, 0), devEntrance, "multi_access_granted", `{"lock_number":1,"used_identifiers_list":[{"identifier_number":"0012345","auth_type":"card"},{"identifier_number":"17","auth_type":"face_id","user_name":"John Doe"}]}`},
	{hms(1, 0, 0, 0), devGarage, "tamper_event", `{}`},
	{hms(1, 2, 0, 0), devEntrance, "emergency_lock_is_opened", `{"lock":1}`},
	{hms(1, 5, 0, 0), "", "successful_login_api_call", `{"account_type":"admin"}`},
	{hms(1, 5, 30, 0), "", "incorrect_login_api_call", `{}`},
	{hms(2, 0, 0, 0), devEntrance, "access_granted_by_remote_server_api_call", `{"number":"0099","type":"card","owner":"Jane Smith","userName":"spoofed","endpointId":"spoofed","lock":2,"link_id":"a1"}`},
	{hms(3, 0, 0, 0), devEntrance, "remote_unlock_request", `{"ip_address":"192.168.1.100","session":12345678901234567890,"score":0.93,"note":"<b>open</b> & close"}`},
	{hms(4, 0, 0, 0), devGarage, "cam_light", `{"state":"on"}`},
	{hms(5, 0, 0, 0), devEntrance, "door_was_not_closed_too_long", `{"number":12345,"type":"card","owner":"Anna Kowalska","apartment_address":"Flat 12","lock":1,"lock_opened_time":120}`},
	{hms(6, 0, 0, 0), devEntrance, "access_denied_by_not_valid_input_code", `{"code":"4711","lock":1}`},
	{hms(7, 0, 0, 0), devEntrance, "access_granted_by_master_code", `{"code":"8462","lock":1}`},
	{hms(8, 0, 0, 0), devEntrance, "lock_was_opened_by_exit_btn", `{"lock":1}`},
	{hms(9, 0, 0, 0), devGarage, "lock_was_opened_by_free_access_button", `{"lock":1}`},
	{hms(10, 0, 0, 0), devEntrance, "access_granted_by_call_host", `{"host":"12","lock":1}`},
	{hms(11, 0, 0, 0), devEntrance, "outgoing_call_missed", `{"number":"1002","answered":false}`},
	{hms(12, 0, 0, 500), devEntrance, "access_granted_by_valid_identifier", `{"number":"0012345","type":"card","owner":"Piotr Nowak","apartment_address":"Flat 3","lock":1}`},
	{hms(12, 0, 0, 500), devEntrance, "door_was_opened", `{"lock":1}`},
	{hms(12, 0, 0, 500), "", "successful_login_api_call", `{"account_type":"manager"}`},
	{hms(18, 0, 0, 0), devEntrance, "access_granted_by_shared_identifier", `{"number":"AB123C","type":"license_plate","users_list":[{"user_name":"John"},{"user_name":"Jane"}],"lock_number":1}`},
	{hms(23, 59, 59, 999), devGarage, "door_sensor_was_closed", `{"lock":1}`},
	{24 * time.Hour, devEntrance, "tamper_event", `{}`},
}

// siteOf tells the site of a fixture device.
func siteOf(device string) string {
	switch device {
	case devEntrance, devGarage:
		return siteRiverside
	case devHarbour:
		return siteHarbour
	}
	return ""
}

// env is a running API over a real SQLite file, the real catalog and real
// auth, with the fixture's sites, devices and accounts and tokens for every
// kind of caller.
type env struct {
	world *apitest.World
	db    *sqlite.DB
	cat   *catalog.Catalog
	auth  *auth.Service
	srv   *httptest.Server
	logs  *apitest.LogBuffer

	admin     string // unrestricted admin token
	siteAdmin string // admin token restricted to riverside
	manager   string // manager token for riverside
	device    string // device token of devEntrance
}

// envOption changes the Config before the handler is made.
type envOption func(*oloid.Config, *env)

// withAuth gives the handler an auth service configured as the world's
// and then changed by change (a login policy, an appender).
func withAuth(change func(*auth.Config)) envOption {
	return func(cfg *oloid.Config, e *env) {
		e.auth = e.world.NewAuth(change)
		cfg.Auth = e.auth
	}
}

// newEnv starts an API with the sites, devices, accounts and tokens of the
// fixture but no events.
func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	w := apitest.New(tb, now,
		[]doorlog.Site{{ID: siteRiverside, Name: "Riverside Residence"}, {ID: siteHarbour, Name: "Harbour Offices"}},
		[]doorlog.Device{
			{ID: devEntrance, SiteID: siteRiverside, Name: "Main Entrance", Model: "AA-14FB"},
			{ID: devGarage, SiteID: siteRiverside, Name: "Garage gate", Model: "AV-07T"},
			{ID: devHarbour, SiteID: siteHarbour, Name: "Harbour lobby", Model: "AQ-10"},
		},
		[]apitest.Account{
			{Username: "admin", Password: adminPassword, Role: doorlog.RoleAdmin},
			{Username: "riverside-admin", Password: siteAdminPass, Role: doorlog.RoleAdmin, SiteIDs: []string{siteRiverside}},
			{Username: "manager", Password: managerPassword, Role: doorlog.RoleManager, SiteIDs: []string{siteRiverside}},
		})
	e := &env{world: w, db: w.DB, cat: w.Catalog, auth: w.Auth, logs: w.Logs}
	e.admin = w.Issue(tb, doorlog.Token{Role: doorlog.RoleAdmin})
	e.siteAdmin = w.Issue(tb, doorlog.Token{Role: doorlog.RoleAdmin, SiteIDs: []string{siteRiverside}})
	e.manager = w.Issue(tb, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{siteRiverside}})
	e.device = w.Issue(tb, doorlog.Token{Role: doorlog.RoleDevice, DeviceID: devEntrance})

	cfg := oloid.Config{
		Store:   w.DB,
		Catalog: w.Catalog,
		Auth:    e.auth,
		Logger:  slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	for _, o := range opts {
		o(&cfg, e)
	}
	mux := http.NewServeMux()
	oloid.New(cfg).Register(mux)
	e.srv = httptest.NewServer(mux)
	tb.Cleanup(e.srv.Close)
	return e
}

// appendFixture stores the fixture's events, in one call, and returns them
// as stored.
func (e *env) appendFixture(tb testing.TB) []doorlog.Event {
	tb.Helper()
	events := make([]doorlog.Event, len(fixtureEvents))
	for i, f := range fixtureEvents {
		events[i] = e.event(f.device, t0.Add(f.at), f.key, f.model)
	}
	return e.append(tb, events)
}

// event makes an event classified by the catalog.
func (e *env) event(device string, at time.Time, key, model string) doorlog.Event {
	entry := e.cat.Entry(key)
	return doorlog.Event{
		DeviceID: device,
		SiteID:   siteOf(device),
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

// response is one HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to the test server; token "" sends no Authorization.
func (e *env) do(tb testing.TB, method, path, token, body string) response {
	tb.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatalf("new request %s %s: %v", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// post sends a POST with a JSON body.
func (e *env) post(tb testing.TB, path, token, body string) response {
	tb.Helper()
	return e.do(tb, http.MethodPost, path, token, body)
}

// wantJSON checks the status and the JSON content type of a response.
func wantJSON(tb testing.TB, r response, status int) {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status: got %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		tb.Errorf("Content-Type: got %q, want %q", ct, "application/json; charset=utf-8")
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

// page is a decoded /filterActivity answer.
type page struct {
	Data struct {
		Activities []activity `json:"activities"`
		NextToken  *string    `json:"nextToken"`
	} `json:"data"`
	Message string `json:"message"`
}

type activity struct {
	ID           string          `json:"id"`
	Timestamp    int64           `json:"timestamp"`
	ActivityType string          `json:"activityType"`
	Details      json.RawMessage `json:"details"`
}

// filter posts body to /filterActivity, fails unless the answer is a 200,
// and returns the raw answer and the decoded page.
func (e *env) filter(tb testing.TB, token, body string) (response, page) {
	tb.Helper()
	r := e.post(tb, "/filterActivity", token, body)
	wantJSON(tb, r, http.StatusOK)
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
	if p.Message != oloid.MessageActivities {
		tb.Errorf("message: got %q, want %q", p.Message, oloid.MessageActivities)
	}
	return r, p
}

// withoutToken returns body with data.nextToken, when it is a string,
// replaced by the placeholder NEXT_TOKEN, for a golden file. The bytes are
// replaced, so the golden file keeps the answer's member order.
func withoutToken(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Fatalf("decode %s: %v", body, err)
	}
	if p.Data.NextToken == nil {
		return body
	}
	return replaceOnce(tb, body, `"nextToken":`+strconv.Quote(*p.Data.NextToken), `"nextToken":"NEXT_TOKEN"`)
}

// replaceOnce replaces the one occurrence of old in body.
func replaceOnce(tb testing.TB, body []byte, old, new string) []byte {
	tb.Helper()
	if n := bytes.Count(body, []byte(old)); n != 1 {
		tb.Fatalf("got %d occurrences of %s in %s, want 1", n, old, body)
	}
	return bytes.Replace(body, []byte(old), []byte(new), 1)
}

// checkGolden compares a JSON body with testdata/<name>.json by meaning,
// or rewrites the file with -update.
func checkGolden(tb testing.TB, name string, body []byte) {
	tb.Helper()
	golden.Check(tb, filepath.Join("testdata", name+".json"), body, *update)
}
