package e2e_test

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/openapi/openapitest"
)

// identity is who makes a request.
type identity int

// The six identities of the scope test.
const (
	admin    identity = iota // an admin of every site
	managerA                 // a manager of site A
	managerB                 // a manager of site B
	deviceA                  // the device token of device A
	badToken                 // a well-formed token doorlog never issued
	noToken                  // no Authorization header at all
	nIdentities
)

var identityNames = [nIdentities]string{"admin", "manager-a", "manager-b", "device-a", "bad-token", "no-token"}

func (id identity) String() string { return identityNames[id] }

// The fixture's world: two sites with a device each.
const (
	siteA = "site-a"
	siteB = "site-b"
	devA  = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"
	devB  = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
)

// credentials are the username and password each identity logs in with:
// the accounts of the admin and the managers; an unknown user for the
// device; the admin's name with a wrong password for the bad token; none
// for no token.
var credentials = [nIdentities][2]string{
	admin:    {"root", "root password 1"},
	managerA: {"ann", "ann password 12"},
	managerB: {"bob", "bob password 12"},
	deviceA:  {"panel-a", "no such account"},
	badToken: {"root", "wrong password"},
	noToken:  {"", ""},
}

// fixture is the running server and what the test knows about its data.
type fixture struct {
	app    *app.App
	url    string
	v      *openapitest.Validator
	tokens [nIdentities]string
	// victims are tokens for the revoke rows of the scope table to
	// revoke, one of each kind per identity (so that one identity's
	// revoke leaves the next one's target in place): victims[kind][id] is
	// a token id. See victimKinds.
	victims map[string][nIdentities]string
	// eventIDs are the ids of the events ingested by newFixture, by site.
	eventIDs map[string][]string
}

// newFixture builds the whole server with app.Open on a temporary
// directory, serves it on a loopback socket, and fills it: sites A and B,
// a device in each, three accounts, a token per identity, and events on
// both devices ingested through the API.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	a, err := app.Open(ctx, app.Config{Data: t.TempDir(), Name: "e2e", Version: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ts.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close the app: %v", err)
		}
	})
	f := &fixture{app: a, url: ts.URL, v: openapitest.New(t), eventIDs: map[string][]string{}}

	now := time.Now().UTC()
	for _, s := range []doorlog.Site{{ID: siteA, Name: "Site A"}, {ID: siteB, Name: "Site B"}} {
		s.CreatedAt = now
		if err := a.Store.CreateSite(ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []doorlog.Device{
		{ID: devA, SiteID: siteA, Name: "Gate A", Model: "AV-07T"},
		{ID: devB, SiteID: siteB, Name: "Gate B", Model: "AA-14FB"},
	} {
		d.CreatedAt = now
		if err := a.Store.CreateDevice(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	for id, sites := range map[identity][]string{admin: nil, managerA: {siteA}, managerB: {siteB}} {
		role := doorlog.RoleManager
		if id == admin {
			role = doorlog.RoleAdmin
		}
		hash, err := fastHash(credentials[id][1])
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Store.CreateAccount(ctx, &doorlog.Account{Username: credentials[id][0], PasswordHash: hash, Role: role, SiteIDs: sites, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for id, tmpl := range map[identity]doorlog.Token{
		admin:    {Role: doorlog.RoleAdmin},
		managerA: {Role: doorlog.RoleManager, SiteIDs: []string{siteA}},
		managerB: {Role: doorlog.RoleManager, SiteIDs: []string{siteB}},
		deviceA:  {Role: doorlog.RoleDevice, DeviceID: devA},
	} {
		if f.tokens[id], _, err = a.Auth.IssueToken(ctx, tmpl); err != nil {
			t.Fatal(err)
		}
	}
	f.tokens[badToken] = "dl_0123456789abcdef0123_c2VjcmV0LXRoYXQtd2FzLW5ldmVyLWlzc3VlZA"
	f.victims = map[string][nIdentities]string{}
	for kind, tmpl := range victimKinds {
		var ids [nIdentities]string
		for id := range nIdentities {
			_, tok, err := a.Auth.IssueToken(ctx, tmpl)
			if err != nil {
				t.Fatal(err)
			}
			ids[id] = tok.ID
		}
		f.victims[kind] = ids
	}

	// Events on both devices, interleaved, so that a leak of one site into
	// the other's answers shows up between the events expected.
	var batch strings.Builder
	t0 := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	models := []string{
		`{"number":12345,"type":"card","owner":"Ann Lee","apartment_address":"Flat 12","lock":1}`,
		`{"lock":1}`,
		`{"number":"555","answered":true}`,
	}
	keys := []string{"access_granted_by_valid_identifier", "door_sensor_was_opened", "incoming_call"}
	for i := range 6 {
		dev := []string{devA, devB}[i%2]
		fmt.Fprintf(&batch, `{"device_id":%q,"time":%d,"key":%q,"model":%s,"source_id":"fixture-%d"}`+"\n",
			dev, t0.Add(time.Duration(i)*time.Minute).UnixMilli(), keys[i/2], models[i/2], i)
	}
	status, body := f.do(t, admin, "POST", "/v1/events", "application/x-ndjson", batch.String(), nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"accepted":6`) {
		t.Fatalf("ingest the fixture: got %d %s, want 200 with 6 accepted", status, body)
	}
	events, err := a.Store.ListEvents(ctx, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: doorlog.Scope{All: true}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		f.eventIDs[e.SiteID] = append(f.eventIDs[e.SiteID], e.ID)
	}
	return f
}

// fastHash is auth.HashPassword at bcrypt's lowest cost: bcrypt over the
// password's hex MD5 (see package auth). bcrypt reads the cost from the
// hash, so logins check these as they check any other, while the many
// logins of the table stay fast under the race detector.
func fastHash(password string) (string, error) {
	sum := md5.Sum([]byte(password))
	h, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(sum[:])), bcrypt.MinCost)
	return string(h), err
}

// do sends one request as id through the OpenAPI-validating client and
// returns the status and the whole body. header, when set, adds headers.
func (f *fixture) do(tb testing.TB, id identity, method, path, contentType, body string, header http.Header) (int, []byte) {
	tb.Helper()
	resp := f.send(tb, context.Background(), id, method, path, contentType, body, header)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// send sends one request as id through the OpenAPI-validating client and
// returns the response unread, for streams.
func (f *fixture) send(tb testing.TB, ctx context.Context, id identity, method, path, contentType, body string, header http.Header) *http.Response {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.url+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	if f.tokens[id] != "" {
		req.Header.Set("Authorization", "Bearer "+f.tokens[id])
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := f.v.Client(tb).Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// expand fills a path or body template for id: {devA}, {devB}, {who} (the
// identity's name), {newdev} (a device id of the identity's own), {user},
// {password} and {md5} (the identity's credentials, the password's hex
// MD5), {qpassword} (the password escaped for a query string), and {now}
// (the time, in milliseconds since the epoch).
func expand(s string, id identity) string {
	sum := md5.Sum([]byte(credentials[id][1]))
	return strings.NewReplacer(
		"{now}", strconv.FormatInt(time.Now().UnixMilli(), 10),
		"{devA}", devA,
		"{devB}", devB,
		"{who}", id.String(),
		"{newdev}", newDevice(id),
		"{user}", credentials[id][0],
		"{password}", credentials[id][1],
		"{qpassword}", url.QueryEscape(credentials[id][1]),
		"{md5}", hex.EncodeToString(sum[:]),
	).Replace(s)
}

// victimKinds are the kinds of token the scope table revokes, by the
// placeholder that names one in a path: {victim-manager-a} is a manager
// token of site A, {victim-device-b} device B's token.
var victimKinds = map[string]doorlog.Token{
	"{victim-manager-a}": {Role: doorlog.RoleManager, SiteIDs: []string{siteA}},
	"{victim-device-b}":  {Role: doorlog.RoleDevice, DeviceID: devB},
}

// expandVictims fills the victim placeholders of a path for id.
func (f *fixture) expandVictims(s string, id identity) string {
	for kind, ids := range f.victims {
		s = strings.ReplaceAll(s, kind, ids[id])
	}
	return s
}

// newDevice is the id of the device id tries to create.
func newDevice(id identity) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", 100+int(id))
}

// snapshot is what a refused request must leave unchanged.
type snapshot struct {
	events, sites, devices, tokens int
	account                        bool // whether the identity's "user-{who}" account exists
}

func (f *fixture) snapshot(tb testing.TB, id identity) snapshot {
	tb.Helper()
	ctx := context.Background()
	all := doorlog.Scope{All: true}
	n, err := f.app.Store.CountEvents(ctx, doorlog.EventFilter{Scope: all})
	if err != nil {
		tb.Fatal(err)
	}
	sites, err := f.app.Store.ListSites(ctx, all)
	if err != nil {
		tb.Fatal(err)
	}
	devices, err := f.app.Store.ListDevices(ctx, doorlog.DeviceFilter{Scope: all})
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := f.app.Store.ListTokens(ctx, doorlog.TokenFilter{Scope: all})
	if err != nil {
		tb.Fatal(err)
	}
	_, err = f.app.Store.FindAccount(ctx, "user-"+id.String())
	return snapshot{events: int(n), sites: len(sites), devices: len(devices), tokens: len(tokens), account: err == nil}
}

// allEvents selects every event, the server's own included.
var allEvents = doorlog.EventFilter{Scope: doorlog.Scope{All: true}}

// count returns how many events a filter selects, whoever may see them.
func (f *fixture) count(tb testing.TB, filter doorlog.EventFilter) int64 {
	tb.Helper()
	n, err := f.app.Store.CountEvents(context.Background(), filter)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// countOf returns how many events a device has.
func (f *fixture) countOf(tb testing.TB, device string) int64 {
	tb.Helper()
	return f.count(tb, doorlog.EventFilter{Scope: allEvents.Scope, DeviceIDs: []string{device}})
}

// siteOfDevice returns a device's site, or "" for none (a server event) or
// an unknown device.
func (f *fixture) siteOfDevice(device string) string {
	if device == "" {
		return ""
	}
	d, err := f.app.Store.FindDevice(context.Background(), device)
	if err != nil {
		return ""
	}
	return d.SiteID
}

// scopeSites is the sites an identity reads; nil means every site and the
// server's own events.
func scopeSites(id identity) []string {
	switch id {
	case managerA:
		return []string{siteA}
	case managerB:
		return []string{siteB}
	}
	return nil
}

// visible is the sites whose events id reads, narrowed to only when given.
func visible(id identity, only ...string) []string {
	sites := scopeSites(id)
	if sites == nil {
		sites = []string{siteA, siteB}
	}
	if len(only) == 0 {
		return sites
	}
	var out []string
	for _, s := range sites {
		if slices.Contains(only, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkEvents checks events id read, given as (event id, site, device)
// triples: each must be in id's scope (its sites, and a device of those
// sites; managers never see the server's own events), and every fixture
// event of the sites in present must be among them.
func (f *fixture) checkEvents(tb testing.TB, id identity, got [][3]string, present []string) {
	tb.Helper()
	sites := scopeSites(id)
	seen := map[string]bool{}
	for _, e := range got {
		seen[e[0]] = true
		if sites == nil {
			continue
		}
		if !slices.Contains(sites, e[1]) || !slices.Contains(sites, f.siteOfDevice(e[2])) {
			tb.Errorf("%s sees event %s of site %q, device %q: outside its sites %v", id, e[0], e[1], e[2], sites)
		}
	}
	for _, s := range present {
		for _, eid := range f.eventIDs[s] {
			if !seen[eid] {
				tb.Errorf("%s does not see event %s of site %s", id, eid, s)
			}
		}
	}
}

// readStream reads Server-Sent Events until stop says it has enough or the
// deadline passes, and returns the data of each "event" message. Each data
// is checked against the document's Event schema, which the transport
// cannot do for a body that never ends.
func (f *fixture) readStream(tb testing.TB, body io.Reader, stop func(data [][]byte) bool) [][]byte {
	tb.Helper()
	var out [][]byte
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "event" {
				f.v.CheckSchema(tb, "Event", []byte(data))
				out = append(out, []byte(data))
				if stop(out) {
					return out
				}
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	return out
}

// decode unmarshals a JSON answer, failing tb when it is not JSON.
func decode(tb testing.TB, body []byte, v any) {
	tb.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		tb.Fatalf("answer is not the JSON expected: %v\n%s", err, body)
	}
}
