package basip_test

import (
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/apitest"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/basip"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/golden"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the responses")

// The real parts satisfy the interfaces the package declares.
var (
	_ basip.Store         = (*sqlite.DB)(nil)
	_ basip.Catalog       = (*catalog.Catalog)(nil)
	_ basip.Authenticator = (*auth.Service)(nil)
	_ auth.Appender       = (*ingest.Writer)(nil)
	_ auth.Appender       = (*sqlite.DB)(nil)
)

// The fixed world of the tests: two sites, three devices, fixed times.
const (
	siteRiverside = "riverside"
	siteHarbour   = "harbour"
	devEntrance   = "3f2c1a9e-6b1d-4c7a-9a51-0d8e2b7c4a10" // riverside
	devGarage     = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d" // riverside
	devHarbour    = "c0ffee00-1234-4abc-8def-0123456789ab" // harbour
	devMissing    = "00000000-0000-4000-8000-000000000000" // never created

	adminPassword   = "Door-Admin-2024!"
	managerPassword = "Manager-Pass-77"
	siteAdminPass   = "Riverside-Admin-9"
)

// t0 is the start of the fixture's morning; now is the injected clock.
var (
	t0  = time.Date(2024, 3, 4, 8, 0, 0, 0, time.UTC)
	now = time.Date(2024, 3, 5, 9, 30, 0, 123_456_789, time.UTC)
)

// serverInfo is the server's own /api/info.
var serverInfo = basip.Info{
	DeviceModel: "doorlog",
	DeviceName:  "doorlog test server",
	Version:     "1.0.0-test",
	Commit:      "0123456789ab",
}

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

// fixtureEvents are 32 events of site riverside (two devices), 3 of site
// harbour and 2 of the server itself, with realistic models. Events 3 and 4
// share a millisecond, so their order is decided by id. The last riverside
// event has a key unknown to the catalog and a model with a number no
// float64 holds and HTML characters, which must come back byte for byte.
var fixtureEvents = []fixtureEvent{
	{hms(0, 0, 0, 0), devEntrance, "device_booted", `{"status":"finishing"}`},
	{hms(0, 1, 12, 345), devEntrance, "sip_registration_lost", `{}`},
	{hms(0, 5, 0, 120), devEntrance, "access_granted_by_valid_identifier", `{"number":12345,"type":"card","owner":"Anna Kowalska","apartment_address":"Flat 12","lock":1}`},
	{hms(0, 5, 0, 120), devEntrance, "door_was_opened", `{"lock":1}`},
	{hms(0, 5, 9, 800), devEntrance, "door_was_closed", `{"lock":1}`},
	{hms(0, 7, 30, 0), devGarage, "access_denied_by_unknown_card", `{"card":"0012345"}`},
	{hms(0, 10, 0, 500), devEntrance, "incoming_call", `{"number":"12","answered":true}`},
	{hms(0, 10, 45, 0), devEntrance, "access_granted_by_call_host", `{"host":"12","lock":1}`},
	{hms(0, 15, 2, 250), devEntrance, "access_denied_by_not_valid_input_code", `{"code":"4711","lock":1}`},
	{hms(0, 15, 20, 0), devEntrance, "access_granted_by_master_code", `{"code":"8462","lock":1}`},
	{hms(0, 20, 0, 0), devGarage, "access_granted_by_api_call", `{"requestor":"web_ui","lock":1}`},
	{hms(0, 20, 1, 0), devGarage, "door_sensor_was_opened", `{"lock":1}`},
	{hms(0, 20, 31, 0), devGarage, "door_sensor_was_closed", `{"lock":1}`},
	{hms(0, 25, 0, 0), devEntrance, "access_granted_by_valid_face_identifier", `{"number":77,"type":"face_id","owner":"Jan de Vries","apartment_address":"Flat 4","lock":1}`},
	{hms(0, 26, 10, 0), devEntrance, "access_denied_by_not_valid_face_identifier", `{"number":78,"type":"face_id","owner":"Olena Shevchenko","apartment_address":"Flat 9","lock":1}`},
	{hms(0, 30, 0, 0), devEntrance, "outgoing_call", `{"number":"1001","answered":true}`},
	{hms(0, 31, 0, 0), devEntrance, "outgoing_call_missed", `{"number":"1002","answered":false}`},
	{hms(0, 32, 0, 0), devEntrance, "outgoing_call_web", `{"number":"1003","answered":true}`},
	{hms(0, 35, 0, 0), devEntrance, "lock_was_opened_by_exit_btn", `{"lock":1}`},
	{hms(0, 36, 0, 0), devGarage, "lock_was_opened_by_free_access_button", `{"lock":1}`},
	{hms(0, 40, 0, 0), devEntrance, "access_denied_by_unknown_qr", `{"qr":"QR-88213"}`},
	{hms(0, 41, 0, 0), devEntrance, "access_denied_unknown_identifier", `{"identifier_number":"A123BC","identifier_type":"license_plate"}`},
	{hms(0, 45, 0, 0), devGarage, "lift_call_success", `{"info":{"user":{"link_id":null,"name":"Anna Kowalska"},"destination":{"id":7,"short_name":"7F"},"lift":{"id":1,"short_name":"Lift A"}}}`},
	{hms(0, 46, 0, 0), devGarage, "lift_call_error", `{"info":{"user":{"link_id":null,"name":"Jan de Vries"},"destination":{"id":3,"short_name":"3F"}},"error":{"message":"Lift controller timeout"}}`},
	{hms(0, 50, 0, 0), devEntrance, "multi_access_denied", `{"used_identifiers_list":[{"identifier_number":"12345","auth_type":"card","user_name":"Anna Kowalska","user_info":"","apartments_list":["Flat 12"]}],"reject_reasons":[{"not_enough_identifiers_for_current_authentication_type":["face_id"]}]}`},
	{hms(0, 55, 0, 0), devEntrance, "door_was_not_closed_too_long", `{"number":12345,"type":"card","owner":"Anna Kowalska","apartment_address":"Flat 12","lock":1,"lock_opened_time":120}`},
	{hms(1, 0, 0, 0), devGarage, "tamper_event", `{}`},
	{hms(1, 2, 0, 0), devEntrance, "emergency_lock_is_opened", `{"lock":1}`},
	{hms(1, 5, 0, 0), devEntrance, "successful_login_api_call", `{"account_type":"admin"}`},
	{hms(1, 5, 30, 0), devEntrance, "incorrect_login_gui_settings", `{}`},
	{hms(1, 10, 0, 0), devGarage, "cam_light", `{"state":"on"}`},
	{hms(1, 12, 0, 0), devEntrance, "face_mask_not_detected", `{"score":0.93,"frame":12345678901234567890,"note":"<b>mask</b> & gloves"}`},

	{hms(0, 5, 30, 0), devHarbour, "access_granted_by_valid_identifier", `{"number":555,"type":"ukey","owner":"Harbour Tenant","apartment_address":"Unit 3","lock":1}`},
	{hms(0, 30, 0, 0), devHarbour, "tamper_event", `{}`},
	{hms(0, 50, 0, 0), devHarbour, "incoming_call", `{"number":"3","answered":false}`},

	{hms(0, 4, 0, 0), "", "successful_login_api_call", `{"account_type":"admin"}`},
	{hms(0, 4, 10, 0), "", "incorrect_login_api_call", `{}`},
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
	world   *apitest.World
	db      *sqlite.DB
	cat     *catalog.Catalog
	auth    *auth.Service
	srv     *httptest.Server
	logs    *apitest.LogBuffer
	handler *basip.Handler

	admin     string // unrestricted admin token
	siteAdmin string // admin token restricted to riverside
	manager   string // manager token for riverside
	device    string // device token of devEntrance
}

// envOption changes the Config before the handler is made.
type envOption func(*basip.Config, *env)

// withAuth gives the handler an auth service configured as the world's
// and then changed by change (a login policy, an appender).
func withAuth(change func(*auth.Config)) envOption {
	return func(cfg *basip.Config, e *env) {
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
			{ID: devEntrance, SiteID: siteRiverside, Name: "Main entrance", Model: "AA-14FB"},
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

	cfg := basip.Config{
		Store:   w.DB,
		Catalog: w.Catalog,
		Auth:    e.auth,
		Info:    serverInfo,
		Logger:  slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	for _, o := range opts {
		o(&cfg, e)
	}
	e.handler = basip.New(cfg)
	mux := http.NewServeMux()
	e.handler.Register(mux)
	e.srv = httptest.NewServer(mux)
	tb.Cleanup(e.srv.Close)
	return e
}

// appendFixture stores the fixture's events and returns them as stored.
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
func (e *env) do(tb testing.TB, method, path, token string) response {
	tb.Helper()
	return e.send(tb, method, path, token, "")
}

// send is do with a JSON body ("" for none).
func (e *env) send(tb testing.TB, method, path, token, body string) response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if body != "" && err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err != nil {
		tb.Fatalf("new request %s %s: %v", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.request(tb, req)
}

// request sends req to the test server and reads its answer whole.
func (e *env) request(tb testing.TB, req *http.Request) response {
	tb.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: got}
}

func (e *env) get(tb testing.TB, path, token string) response {
	tb.Helper()
	return e.do(tb, http.MethodGet, path, token)
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

// wantError checks a {"error": msg} answer.
func wantError(tb testing.TB, r response, status int, msg string) {
	tb.Helper()
	wantJSON(tb, r, status)
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		tb.Fatalf("body %s: %v", r.body, err)
	}
	if want := map[string]any{"error": msg}; !reflect.DeepEqual(got, want) {
		tb.Errorf("body: got %s, want {\"error\": %q}", r.body, msg)
	}
}

// listBody is the part of a log list answer the tests look into.
type listBody struct {
	ListOption struct {
		Pagination struct {
			TotalItems  int64 `json:"total_items"`
			ItemsLimit  int   `json:"items_limit"`
			TotalPages  int64 `json:"total_pages"`
			CurrentPage int64 `json:"current_page"`
		} `json:"pagination"`
		Filter struct {
			IsFiltered bool `json:"is_filtered"`
		} `json:"filter"`
	} `json:"list_option"`
	ListItems []struct {
		Timestamp int64  `json:"timestamp"`
		Category  string `json:"category"`
		Priority  string `json:"priority"`
		Name      struct {
			Key  string `json:"key"`
			Text string `json:"text"`
		} `json:"name"`
		Info struct {
			Model json.RawMessage `json:"model"`
			Text  string          `json:"text"`
		} `json:"info"`
	} `json:"list_items"`
}

// list fetches a log list and decodes it, failing unless it is a 200.
func (e *env) list(tb testing.TB, path, token string) listBody {
	tb.Helper()
	r := e.get(tb, path, token)
	wantJSON(tb, r, http.StatusOK)
	var b listBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	return b
}

// checkGolden compares a JSON body with testdata/<name>.json by meaning,
// or rewrites the file with -update.
func checkGolden(tb testing.TB, name string, body []byte) {
	tb.Helper()
	golden.Check(tb, filepath.Join("testdata", name+".json"), body, *update)
}
