// Package e2e_test runs the whole doorlog server, built by app.Open exactly
// as the serve command builds it, over real HTTP, and checks tenancy
// across every API: nobody sees or changes anything outside their scope.
// Every request and response goes through openapitest, so the test also
// keeps openapi.json honest.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// expect is what one identity must get from one endpoint.
type expect struct {
	status int
	// body, when set, is the exact JSON answer (compared as JSON).
	body string
	// check, when set, looks into a successful answer.
	check func(tb testing.TB, f *fixture, id identity, body []byte)
}

// six is the expectations of one endpoint, one per identity in order:
// admin, manager A, manager B, device A, bad token, no token.
type six [nIdentities]expect

// endpoint is one row group of the table: a request and what each identity
// gets from it.
type endpoint struct {
	name   string
	method string
	// path and body are templates for expand.
	path        string
	contentType string
	body        string
	header      http.Header
	// stream reads the answer with readStream; its check gets the data of
	// the events read, one per line.
	stream bool
	// live, for a stream, is run once the stream is open (the events it
	// should then carry are ingested by it).
	live func(tb testing.TB, f *fixture)
	// login stores an attempt event whatever the answer, so a refusal is
	// not required to leave the store unchanged.
	login bool
	want  six
}

func ok(check func(tb testing.TB, f *fixture, id identity, body []byte)) expect {
	return expect{status: http.StatusOK, check: check}
}

func created(check func(tb testing.TB, f *fixture, id identity, body []byte)) expect {
	return expect{status: http.StatusCreated, check: check}
}

// Each API's refusals, in its own shape.
var (
	nativeUnauthorized = expect{status: 401, body: `{"error":"missing or invalid token","code":"unauthorized"}`}
	nativeForbidden    = expect{status: 403, check: nativeCode("forbidden")}
	nativeInvalid      = expect{status: 400, check: nativeCode("invalid")}
	nativeNotFound     = expect{status: 404, body: `{"error":"token not found","code":"not_found"}`}
	basipLogIn         = expect{status: 401, body: `{"error":"Log In"}`}
	basipAdminRequired = expect{status: 403, body: `{"error":"Administrator rights required"}`}
	aipixUnauth        = expect{status: 401, body: `{"message":"Unauthenticated."}`}
	aipixForbidden     = expect{status: 403, body: `{"message":"This action is unauthorized."}`}
	aipixNotFound      = expect{status: 404, body: `{"message":"Not Found"}`}
	aipixInvalid       = expect{status: 422, body: `{"message":"The per page field must be between 1 and 100.","errors":{"per_page":["The per page field must be between 1 and 100."]}}`}
	oloidUnauthorized  = expect{status: 401, body: `{"message":"Unauthorized"}`}
	oloidForbidden     = expect{status: 403, body: `{"message":"Forbidden"}`}
	oloidBadLogin      = expect{status: 401, body: `{"message":"Invalid credentials"}`}
	oloidBadLimit      = expect{status: 400, body: `{"message":"limit must be an integer from 1 to 1000"}`}
	anyoneOK           = six{ok(nil), ok(nil), ok(nil), ok(nil), ok(nil), ok(nil)}
)

// readers is what an endpoint that admins and managers read, within their
// sites, answers: check for the three readers, the native API's refusals
// for the others.
func readers(check func(tb testing.TB, f *fixture, id identity, body []byte)) six {
	return six{ok(check), ok(check), ok(check), nativeForbidden, nativeUnauthorized, nativeUnauthorized}
}

// adminOnly is what a native management call answers: check for the
// admin, 403 for managers and devices, 401 without a valid token.
func adminOnly(check func(tb testing.TB, f *fixture, id identity, body []byte)) six {
	return six{created(check), nativeForbidden, nativeForbidden, nativeForbidden, nativeUnauthorized, nativeUnauthorized}
}

func TestScope(t *testing.T) {
	f := newFixture(t)
	table := []endpoint{
		// The native API.
		{
			name: "ingest NDJSON for device A", method: "POST", path: "/v1/events", contentType: "application/x-ndjson",
			body: `{"device_id":"{devA}","time":"2024-05-02T10:00:00.000Z","key":"door_sensor_was_opened","source_id":"ingest-a-{who}"}` + "\n",
			want: six{ok(ingested(1, 0)), nativeForbidden, nativeForbidden, ok(ingested(1, 0)), nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "ingest for device B", method: "POST", path: "/v1/events", contentType: "application/json",
			body: `{"device_id":"{devB}","time":1714644000000,"key":"tamper_event","source_id":"ingest-b-{who}"}`,
			// A device token may only send its own device's events: the
			// item is rejected and nothing is stored.
			want: six{ok(ingested(1, 0)), nativeForbidden, nativeForbidden, expect{status: 200, check: ingested(0, 1)}, nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "list events", method: "GET", path: "/v1/events?limit=1000&count=exact",
			want: readers(eventList()),
		},
		{
			name: "list events of an unknown category", method: "GET", path: "/v1/events?category=access,bogus",
			want: six{nativeInvalid, nativeInvalid, nativeInvalid, nativeForbidden, nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "list events of site B", method: "GET", path: "/v1/events?site_id=site-b",
			want: readers(eventList(siteB)),
		},
		{
			name: "list events of device B", method: "GET", path: "/v1/events?device_id={devB}&order=asc",
			want: readers(eventList(siteB)),
		},
		{
			name: "export CSV", method: "GET", path: "/v1/events/export?format=csv",
			want: readers(csvExport),
		},
		{
			name: "export NDJSON of both sites", method: "GET", path: "/v1/events/export?format=ndjson&site_id=site-a,site-b&locale=uk",
			want: readers(ndjsonExport),
		},
		{
			name: "stream from the start", method: "GET", path: "/v1/events/stream",
			header: http.Header{"Last-Event-Id": {"0000000000000"}}, stream: true,
			want: readers(replayedStream),
		},
		{
			name: "stream live", method: "GET", path: "/v1/events/stream?category=emergency", stream: true,
			live: ingestLive,
			want: readers(liveStream),
		},
		// The stats of the web page's charts and devices view: the
		// readers of GET /v1/events, within their sites. Denials are
		// ingested first, now, so that the denials chart and the devices
		// view's "today" and status have something to show.
		{
			name: "ingest denials for devices A and B", method: "POST", path: "/v1/events", contentType: "application/x-ndjson",
			body: `{"device_id":"{devA}","time":{now},"key":"access_denied_by_unknown_card","source_id":"deny-a-{who}"}` + "\n" +
				`{"device_id":"{devB}","time":{now},"key":"access_denied_by_unknown_qr","source_id":"deny-b-{who}"}` + "\n",
			want: six{ok(ingested(2, 0)), nativeForbidden, nativeForbidden, ok(ingested(1, 1)), nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "hourly stats", method: "GET", path: "/v1/stats/hourly?from=2024-05-01T07:30:00Z&to=2024-05-01T09:59:59.999Z",
			want: readers(hourlyStats("")),
		},
		{
			name: "hourly stats of site B", method: "GET", path: "/v1/stats/hourly?site_id=site-b&category=access,info&from=2024-05-01T07:30:00Z&to=2024-05-01T09:59:59.999Z",
			want: readers(hourlyStats(siteB, doorlog.CategoryAccess, doorlog.CategoryInfo)),
		},
		{
			name: "hourly stats over more than 31 days", method: "GET", path: "/v1/stats/hourly?from=2024-05-01T00:00:00Z&to=2024-06-02T00:00:00Z",
			want: six{nativeInvalid, nativeInvalid, nativeInvalid, nativeForbidden, nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "timeline by minute", method: "GET", path: "/v1/stats/timeline?interval=1m&from=2024-05-01T07:59:30Z&to=2024-05-01T08:05:59.999Z",
			want: readers(timelineStats("")),
		},
		{
			name: "timeline by minute of site B", method: "GET", path: "/v1/stats/timeline?site_id=site-b&interval=1m&from=2024-05-01T07:59:30Z&to=2024-05-01T08:05:59.999Z",
			want: readers(timelineStats(siteB)),
		},
		{
			name: "timeline by minute over a day", method: "GET", path: "/v1/stats/timeline?interval=1m&from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z",
			want: six{nativeInvalid, nativeInvalid, nativeInvalid, nativeForbidden, nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "denials by device", method: "GET", path: "/v1/stats/denials",
			want: readers(denialStats("")),
		},
		{
			name: "denials by device of site B", method: "GET", path: "/v1/stats/denials?site_id=site-b&limit=100",
			want: readers(denialStats(siteB)),
		},
		{
			name: "devices", method: "GET", path: "/v1/stats/devices?tz=Europe/Kyiv",
			want: readers(deviceStats("", "Europe/Kyiv")),
		},
		{
			name: "devices of site B", method: "GET", path: "/v1/stats/devices?site_id=site-b&silent_after=1h",
			want: readers(deviceStats(siteB, "UTC")),
		},
		{
			name: "devices with a bad silent_after", method: "GET", path: "/v1/stats/devices?silent_after=1s",
			want: six{nativeInvalid, nativeInvalid, nativeInvalid, nativeForbidden, nativeUnauthorized, nativeUnauthorized},
		},
		// The web page's open alarms: the readers of GET /v1/events, within
		// their sites; acknowledging one outside them is a 404, as for an
		// event that does not exist.
		{
			name: "ingest alarms for devices A and B", method: "POST", path: "/v1/events", contentType: "application/x-ndjson",
			body: `{"device_id":"{devA}","time":{now},"key":"tamper_event","source_id":"alarm-a-{who}"}` + "\n" +
				`{"device_id":"{devB}","time":{now},"key":"door_was_not_closed_too_long","source_id":"alarm-b-{who}"}` + "\n",
			want: six{ok(ingested(2, 0)), nativeForbidden, nativeForbidden, ok(ingested(1, 1)), nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "open alarms", method: "GET", path: "/v1/alarms?limit=200",
			want: readers(alarmsListed),
		},
		{
			name: "acknowledge an alarm of site B", method: "POST", path: "/v1/alarms/{alarm-b}/ack",
			want: six{
				expect{status: http.StatusCreated, check: acked},
				expect{status: 404, check: nativeCode("not_found")},
				// Manager B may, but the admin was first.
				expect{status: 409, check: nativeCode("conflict")},
				nativeForbidden, nativeUnauthorized, nativeUnauthorized,
			},
		},
		{
			name: "list sites", method: "GET", path: "/v1/sites",
			want: readers(sitesAre),
		},
		{
			name: "create site", method: "POST", path: "/v1/sites", contentType: "application/json",
			body: `{"id":"new-{who}","name":"New site of {who}"}`,
			want: adminOnly(nil),
		},
		{
			name: "list devices", method: "GET", path: "/v1/devices",
			want: readers(devicesAre("")),
		},
		{
			name: "list devices of site B", method: "GET", path: "/v1/devices?site_id=site-b",
			want: readers(devicesAre(siteB)),
		},
		{
			name: "create device in site A", method: "POST", path: "/v1/devices", contentType: "application/json",
			body: `{"id":"{newdev}","site_id":"site-a","name":"New gate of {who}","model":"AV-07T"}`,
			want: adminOnly(nil),
		},
		{
			name: "create account", method: "POST", path: "/v1/accounts", contentType: "application/json",
			body: `{"username":"user-{who}","password":"a long password","role":"manager","site_ids":["site-a"]}`,
			want: adminOnly(nil),
		},
		{
			name: "create manager token", method: "POST", path: "/v1/tokens", contentType: "application/json",
			body: `{"role":"manager","site_ids":["site-a"],"expires_in":"1h"}`,
			want: adminOnly(nil),
		},
		{
			name: "create device token for device B", method: "POST", path: "/v1/tokens", contentType: "application/json",
			body: `{"role":"device","device_id":"{devB}"}`,
			want: adminOnly(nil),
		},
		// Tokens: every valid token lists and revokes what it may reach;
		// an admin of every site, every token; a manager or a device, only
		// itself (so another's token is a 404, as an unknown one).
		{
			name: "list tokens", method: "GET", path: "/v1/tokens?limit=1000",
			want: six{ok(tokensListed), ok(tokensListed), ok(tokensListed), ok(tokensListed), nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "list tokens, expired too", method: "GET", path: "/v1/tokens?expired=true&limit=1000",
			want: six{ok(tokensListed), ok(tokensListed), ok(tokensListed), ok(tokensListed), nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "list tokens with a wrong limit", method: "GET", path: "/v1/tokens?limit=0",
			want: six{nativeInvalid, nativeInvalid, nativeInvalid, nativeInvalid, nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "revoke a manager token of site A", method: "DELETE", path: "/v1/tokens/{victim-manager-a}",
			want: six{expect{status: 204, check: revoked("{victim-manager-a}")}, nativeNotFound, nativeNotFound, nativeNotFound, nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "revoke device B's token", method: "DELETE", path: "/v1/tokens/{victim-device-b}",
			want: six{expect{status: 204, check: revoked("{victim-device-b}")}, nativeNotFound, nativeNotFound, nativeNotFound, nativeUnauthorized, nativeUnauthorized},
		},
		{
			name: "revoke an unknown token", method: "DELETE", path: "/v1/tokens/00000000000000000000",
			want: six{nativeNotFound, nativeNotFound, nativeNotFound, nativeNotFound, nativeUnauthorized, nativeUnauthorized},
		},

		// The BAS-IP panel API: admins only, as on a panel.
		{
			name: "BAS-IP log list", method: "GET", path: "/api/v1/log/items?limit=50&sort_type=desc",
			want: six{ok(basipTotal("")), basipAdminRequired, basipAdminRequired, basipAdminRequired, basipLogIn, basipLogIn},
		},
		{
			name: "BAS-IP log list with a wrong limit", method: "GET", path: "/api/v1/log/items?limit=7",
			want: six{expect{status: 400, body: `{"error":"Wrong pagination limit"}`}, basipAdminRequired, basipAdminRequired, basipAdminRequired, basipLogIn, basipLogIn},
		},
		{
			name: "BAS-IP log list of device A", method: "GET", path: "/devices/{devA}/api/v1/log/items?filter_field=category&filter_value=access",
			want: six{ok(basipTotal(devA)), basipAdminRequired, basipAdminRequired, basipAdminRequired, basipLogIn, basipLogIn},
		},
		{
			name: "BAS-IP log list of device B", method: "GET", path: "/devices/{devB}/api/v1/log/items?locale=ru",
			want: six{ok(basipTotal(devB)), basipAdminRequired, basipAdminRequired, basipAdminRequired, basipLogIn, basipLogIn},
		},
		{
			name: "BAS-IP login", method: "GET", path: "/api/v1/login?username={user}&password={md5}", login: true,
			want: six{ok(basipLogin("admin")), ok(basipLogin("manager")), ok(basipLogin("manager")), basipLogIn, basipLogIn, basipLogIn},
		},
		{
			name: "BAS-IP login on device A", method: "GET", path: "/devices/{devA}/api/v1/login?username={user}&password={qpassword}", login: true,
			want: six{ok(basipLogin("admin")), ok(basipLogin("manager")), ok(basipLogin("manager")), basipLogIn, basipLogIn, basipLogIn},
		},
		{
			// Of other data than the log: a clear that changes nothing,
			// so that the rows after it read what they always read.
			name: "BAS-IP clear of device B", method: "POST", path: "/devices/{devB}/api/v1/system/data/clear", contentType: "application/json",
			body: `{"clear_fields":["calls"]}`,
			want: six{expect{status: 200, body: `{"result":"ok"}`}, basipAdminRequired, basipAdminRequired, basipAdminRequired, basipLogIn, basipLogIn},
		},
		{
			name: "BAS-IP info", method: "GET", path: "/api/info",
			want: anyoneOK,
		},
		{
			name: "BAS-IP info of device B", method: "GET", path: "/devices/{devB}/api/info",
			want: six{ok(basipInfo), ok(basipInfo), ok(basipInfo), ok(basipInfo), ok(basipInfo), ok(basipInfo)},
		},

		// The AIPIX admin API: an intercom outside the token's sites is not
		// found.
		{
			name: "AIPIX logs of device A", method: "GET", path: "/api/admin/v1/intercoms/{devA}/logs?per_page=100",
			want: six{ok(aipixLogs(devA, 100)), ok(aipixLogs(devA, 100)), aipixNotFound, aipixForbidden, aipixUnauth, aipixUnauth},
		},
		{
			name: "AIPIX logs of device A with a wrong per_page", method: "GET", path: "/api/admin/v1/intercoms/{devA}/logs?per_page=500",
			// The intercom is checked before the parameters.
			want: six{aipixInvalid, aipixInvalid, aipixNotFound, aipixForbidden, aipixUnauth, aipixUnauth},
		},
		{
			name: "AIPIX logs of device B by POST", method: "POST", path: "/api/admin/v1/intercoms/{devB}/logs",
			contentType: "application/json", body: `{"per_page":0,"page":0}`,
			want: six{ok(aipixLogs(devB, 25)), aipixNotFound, ok(aipixLogs(devB, 25)), aipixForbidden, aipixUnauth, aipixUnauth},
		},

		// The OLOID activity API.
		{
			name: "OLOID activities", method: "POST", path: "/filterActivity", contentType: "application/json",
			body: `{"limit":1000}`,
			want: six{ok(oloidActivities), ok(oloidActivities), ok(oloidActivities), oloidForbidden, oloidUnauthorized, oloidUnauthorized},
		},
		{
			name: "OLOID activities of a window", method: "POST", path: "/filterActivity", contentType: "application/json",
			body: `{"start":1714550400000,"end":1714550699999,"limit":1,"nextToken":null}`,
			want: six{ok(oloidWindow), ok(oloidWindow), ok(oloidWindow), oloidForbidden, oloidUnauthorized, oloidUnauthorized},
		},
		{
			name: "OLOID activities with a wrong limit", method: "POST", path: "/filterActivity", contentType: "application/json",
			body: `{"limit":0}`,
			want: six{oloidBadLimit, oloidBadLimit, oloidBadLimit, oloidForbidden, oloidUnauthorized, oloidUnauthorized},
		},
		{
			name: "OLOID login", method: "POST", path: "/login", contentType: "application/json", login: true,
			body: `{"UserName":"{user}","Password":"{password}"}`,
			want: six{ok(oloidLogin), ok(oloidLogin), ok(oloidLogin), oloidBadLogin, oloidBadLogin, oloidBadLogin},
		},
		{
			name: "OLOID login to tenant B", method: "POST", path: "/login", contentType: "application/json", login: true,
			body: `{"UserName":"{user}","Password":"{md5}","TenantName":"site-b"}`,
			want: six{ok(oloidLogin), oloidBadLogin, ok(oloidLogin), oloidBadLogin, oloidBadLogin, oloidBadLogin},
		},

		// Operations: no authentication, whoever asks.
		{name: "healthz", method: "GET", path: "/healthz", want: anyoneOK},
		{name: "readyz", method: "GET", path: "/readyz", want: anyoneOK},
		{name: "metrics", method: "GET", path: "/metrics", want: anyoneOK},
		{name: "openapi.json", method: "GET", path: "/openapi.json", want: anyoneOK},
	}

	for _, ep := range table {
		t.Run(ep.name, func(t *testing.T) {
			for id := range nIdentities {
				t.Run(id.String(), func(t *testing.T) {
					want := ep.want[id]
					before := f.snapshot(t, id)
					status, body := f.exchange(t, ep, id)
					if status != want.status {
						t.Fatalf("got status %d, want %d\n%s", status, want.status, body)
					}
					if want.body != "" && !sameJSON(body, []byte(want.body)) {
						t.Errorf("got %s, want %s", bytes.TrimSpace(body), want.body)
					}
					if want.check != nil {
						want.check(t, f, id, body)
					}
					if status >= 400 && !ep.login {
						if after := f.snapshot(t, id); after != before {
							t.Errorf("a refused request changed the store: got %+v, want %+v", after, before)
						}
					}
				})
			}
		})
	}
}

// exchange makes the endpoint's request as id and returns the status and
// the body: for a stream that starts, the data of the events read, one per
// line.
func (f *fixture) exchange(t *testing.T, ep endpoint, id identity) (int, []byte) {
	t.Helper()
	path, body := f.expandVictims(expand(ep.path, id), id), expand(ep.body, id)
	if strings.Contains(path, "{alarm-b}") {
		path = strings.ReplaceAll(path, "{alarm-b}", f.alarmOf(t, siteB))
	}
	if !ep.stream {
		return f.do(t, id, ep.method, path, ep.contentType, body, ep.header)
	}
	// A stream does not end: read until the check has what it needs or
	// a deadline that only a failing test reaches.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp := f.send(t, ctx, id, ep.method, path, ep.contentType, body, ep.header)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	if ep.live != nil {
		ep.live(t, f)
	}
	want := streamWant(t, f, ep, id)
	data := f.readStream(t, resp.Body, func(data [][]byte) bool { return len(data) >= want })
	if ctx.Err() != nil {
		t.Errorf("the stream gave %d events before the deadline, want %d", len(data), want)
	}
	return http.StatusOK, bytes.Join(data, []byte("\n"))
}

// streamWant is how many events a stream must carry for id: the live
// stream's first event, or every event in id's scope for the replay (all
// of which are stored before the stream opens).
func streamWant(tb testing.TB, f *fixture, ep endpoint, id identity) int {
	if ep.live != nil {
		return 1
	}
	sites := scopeSites(id)
	if sites == nil {
		return int(f.count(tb, allEvents))
	}
	return int(f.count(tb, doorlog.EventFilter{Scope: allEvents.Scope, SiteIDs: sites}))
}

// ingestLive ingests, as the admin, an emergency event on device B and then
// one on device A: the live stream filtered to emergencies must carry first
// the one of its reader's site.
func ingestLive(tb testing.TB, f *fixture) {
	tb.Helper()
	for _, dev := range []string{devB, devA} {
		body := `{"device_id":"` + dev + `","time":"2024-05-03T10:00:00.000Z","key":"tamper_event","source_id":"live-` + dev + `-` + tb.Name() + `"}`
		if status, b := f.do(tb, admin, "POST", "/v1/events", "application/json", body, nil); status != 200 {
			tb.Fatalf("live ingest: got %d %s", status, b)
		}
	}
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// The checks of successful answers.

func nativeCode(code string) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var e struct{ Code string }
		decode(tb, body, &e)
		if e.Code != code {
			tb.Errorf("got code %q, want %q", e.Code, code)
		}
	}
}

func ingested(accepted, rejected int) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var r struct {
			Accepted, Duplicates int
			Rejected             []struct{ Index int }
		}
		decode(tb, body, &r)
		if r.Accepted != accepted || len(r.Rejected) != rejected {
			tb.Errorf("got %d accepted and %d rejected, want %d and %d: %s", r.Accepted, len(r.Rejected), accepted, rejected, body)
		}
	}
}

type nativeEvent struct {
	ID       string  `json:"id"`
	SiteID   *string `json:"site_id"`
	DeviceID *string `json:"device_id"`
}

func (e nativeEvent) triple() [3]string {
	var s, d string
	if e.SiteID != nil {
		s = *e.SiteID
	}
	if e.DeviceID != nil {
		d = *e.DeviceID
	}
	return [3]string{e.ID, s, d}
}

// eventList checks a page of GET /v1/events: every event in scope, every
// fixture event of the scope listed; with only, narrowed to those sites.
func eventList(only ...string) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var page struct {
			Events []nativeEvent
			Count  *int64
		}
		decode(tb, body, &page)
		var got [][3]string
		for _, e := range page.Events {
			got = append(got, e.triple())
			if len(only) > 0 && !slices.Contains(only, e.triple()[1]) {
				tb.Errorf("got event %s of site %q, want only %v", e.ID, e.triple()[1], only)
			}
		}
		present := visible(id, only...)
		f.checkEvents(tb, id, got, present)
		if page.Count != nil && *page.Count != int64(len(page.Events)) {
			tb.Errorf("got count %d, want %d (every event is on the page)", *page.Count, len(page.Events))
		}
		// A manager filtering on another site's events sees nothing.
		if len(present) == 0 && len(page.Events) > 0 {
			tb.Errorf("got %d events of %v, want none", len(page.Events), only)
		}
	}
}

func csvExport(tb testing.TB, f *fixture, id identity, body []byte) {
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(rows) == 0 {
		tb.Fatalf("not CSV: %v\n%s", err, body)
	}
	if got := strings.Join(rows[0], ","); got != "id,time,site_id,site_name,device_id,device_name,key,category,priority,name,text,source_id,model" {
		tb.Errorf("got header %q", got)
	}
	var got [][3]string
	for _, r := range rows[1:] {
		got = append(got, [3]string{r[0], r[2], r[4]})
	}
	f.checkEvents(tb, id, got, visible(id))
}

func ndjsonExport(tb testing.TB, f *fixture, id identity, body []byte) {
	var got [][3]string
	for line := range bytes.Lines(body) {
		var e nativeEvent
		decode(tb, line, &e)
		got = append(got, e.triple())
	}
	f.checkEvents(tb, id, got, visible(id))
}

func replayedStream(tb testing.TB, f *fixture, id identity, body []byte) {
	ndjsonExport(tb, f, id, body)
}

// liveStream checks the first live event: the reader's own site's (the
// admin's is device B's, ingested first).
func liveStream(tb testing.TB, f *fixture, id identity, body []byte) {
	var e nativeEvent
	decode(tb, body, &e)
	wantDev := devB
	if id == managerA {
		wantDev = devA
	}
	if got := e.triple()[2]; got != wantDev {
		tb.Errorf("got the live event of device %s first, want %s's", got, wantDev)
	}
	f.checkEvents(tb, id, [][3]string{e.triple()}, nil)
}

func sitesAre(tb testing.TB, f *fixture, id identity, body []byte) {
	var r struct{ Sites []struct{ ID string } }
	decode(tb, body, &r)
	var got []string
	for _, s := range r.Sites {
		got = append(got, s.ID)
	}
	if want := scopeSites(id); want != nil && !slices.Equal(got, want) {
		tb.Errorf("got sites %v, want %v", got, want)
	}
	if id == admin && (!slices.Contains(got, siteA) || !slices.Contains(got, siteB)) {
		tb.Errorf("got sites %v, want both fixture sites among them", got)
	}
}

func devicesAre(site string) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var r struct {
			Devices []struct {
				ID     string
				SiteID string `json:"site_id"`
			}
		}
		decode(tb, body, &r)
		var ids []string
		for _, d := range r.Devices {
			ids = append(ids, d.ID)
			if s := scopeSites(id); s != nil && !slices.Contains(s, d.SiteID) {
				tb.Errorf("got device %s of site %s, outside %v", d.ID, d.SiteID, s)
			}
			if site != "" && d.SiteID != site {
				tb.Errorf("got device %s of site %s, want only %s", d.ID, d.SiteID, site)
			}
		}
		var want []string
		switch {
		case id == managerA && site == siteB:
			// another site's devices: none
		case id == managerA:
			want = []string{devA}
		default:
			want = []string{devB}
			if id == admin && site == "" {
				want = []string{devA, devB}
			}
		}
		for _, w := range want {
			if !slices.Contains(ids, w) {
				tb.Errorf("got devices %v, want %s among them", ids, w)
			}
		}
		if id == managerA && site == siteB && len(ids) > 0 {
			tb.Errorf("got devices %v of site B, want none", ids)
		}
	}
}

// basipTotal checks a BAS-IP log list's total: every event (including the
// server's own) at the root, or the device's.
func basipTotal(device string) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var r struct {
			ListOption struct {
				Pagination struct {
					TotalItems int64 `json:"total_items"`
				}
				Filter struct {
					IsFiltered bool `json:"is_filtered"`
				}
			} `json:"list_option"`
		}
		decode(tb, body, &r)
		var want int64
		switch {
		case device == "":
			want = f.count(tb, allEvents)
		case r.ListOption.Filter.IsFiltered:
			want = f.count(tb, doorlog.EventFilter{Scope: allEvents.Scope, DeviceIDs: []string{device}, Categories: []doorlog.Category{doorlog.CategoryAccess}})
		default:
			want = f.countOf(tb, device)
		}
		if got := r.ListOption.Pagination.TotalItems; got != want || got == 0 {
			tb.Errorf("got total_items %d, want %d (and not 0)", got, want)
		}
	}
}

func basipLogin(role string) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var r struct {
			AccountType string `json:"account_type"`
			Token       string
		}
		decode(tb, body, &r)
		if r.AccountType != role || !strings.HasPrefix(r.Token, "dl_") {
			tb.Errorf("got %s, want a %s token", body, role)
		}
	}
}

func basipInfo(tb testing.TB, f *fixture, id identity, body []byte) {
	var r struct {
		DeviceName string `json:"device_name"`
	}
	decode(tb, body, &r)
	if r.DeviceName != "Gate B" {
		tb.Errorf("got device_name %q, want Gate B", r.DeviceName)
	}
}

// aipixLogs checks an AIPIX page of perPage: the intercom's events only,
// and the right total.
func aipixLogs(device string, perPage int64) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var r struct {
			Data []struct {
				DeviceID string `json:"device_id"`
			}
			Meta struct{ Total int64 }
		}
		decode(tb, body, &r)
		for _, d := range r.Data {
			if d.DeviceID != device {
				tb.Errorf("got an entry of device %s in %s's logs", d.DeviceID, device)
			}
		}
		want := f.countOf(tb, device)
		if r.Meta.Total != want || int64(len(r.Data)) != min(want, perPage) {
			tb.Errorf("got total %d and %d entries, want %d and %d", r.Meta.Total, len(r.Data), want, min(want, perPage))
		}
	}
}

type oloidPage struct {
	Data struct {
		Activities []struct {
			ID      string
			Details struct {
				EndpointID string `json:"endpointId"`
			}
		}
		NextToken *string `json:"nextToken"`
	}
}

func (p oloidPage) triples(f *fixture, tb testing.TB) [][3]string {
	var got [][3]string
	for _, a := range p.Data.Activities {
		got = append(got, [3]string{a.ID, f.siteOfDevice(a.Details.EndpointID), a.Details.EndpointID})
	}
	return got
}

func oloidActivities(tb testing.TB, f *fixture, id identity, body []byte) {
	var p oloidPage
	decode(tb, body, &p)
	f.checkEvents(tb, id, p.triples(f, tb), visible(id))
	if p.Data.NextToken != nil {
		tb.Errorf("got a nextToken with every activity on the page")
	}
}

// oloidWindow checks the first page of one activity in the window of the
// first five fixture minutes (fixture events 0 to 4, the newest first),
// then follows its nextToken to the end: the walk lists exactly the
// window's events in the reader's scope.
func oloidWindow(tb testing.TB, f *fixture, id identity, body []byte) {
	var p oloidPage
	decode(tb, body, &p)
	got := p.triples(f, tb)
	for p.Data.NextToken != nil {
		next, _ := json.Marshal(map[string]any{"nextToken": *p.Data.NextToken})
		status, b := f.do(tb, id, "POST", "/filterActivity", "application/json", string(next), nil)
		if status != 200 {
			tb.Fatalf("next page: got %d %s", status, b)
		}
		p = oloidPage{}
		decode(tb, b, &p)
		if len(p.Data.Activities) > 1 {
			tb.Errorf("got %d activities on a page of limit 1", len(p.Data.Activities))
		}
		got = append(got, p.triples(f, tb)...)
	}
	f.checkEvents(tb, id, got, nil)
	want := map[identity]int{admin: 5, managerA: 3, managerB: 2}[id]
	if len(got) != want {
		tb.Errorf("got %d activities in the window, want %d", len(got), want)
	}
}

func oloidLogin(tb testing.TB, f *fixture, id identity, body []byte) {
	var r struct {
		Data struct {
			AccessToken string `json:"accessToken"`
		}
	}
	decode(tb, body, &r)
	// The token works, within the account's sites.
	tok := r.Data.AccessToken
	req, _ := http.NewRequest("POST", f.url+"/filterActivity", strings.NewReader(`{"limit":1000}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.v.Client(tb).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		tb.Fatalf("filterActivity with the login's token: got %d %s", resp.StatusCode, b.Bytes())
	}
	var p oloidPage
	decode(tb, b.Bytes(), &p)
	f.checkEvents(tb, id, p.triples(f, tb), visible(id))
}

// tokensListed checks GET /v1/tokens: an admin of every site sees the
// token of every identity, the others their own token alone.
func tokensListed(tb testing.TB, f *fixture, id identity, body []byte) {
	var r struct {
		Tokens []struct {
			ID      string
			Current bool
		}
	}
	decode(tb, body, &r)
	var got []string
	for _, t := range r.Tokens {
		got = append(got, t.ID)
		if t.Current != (t.ID == tokenID(f.tokens[id])) {
			tb.Errorf("token %s: got current %v", t.ID, t.Current)
		}
	}
	if id != admin {
		if want := []string{tokenID(f.tokens[id])}; !slices.Equal(got, want) {
			tb.Errorf("got tokens %q, want only its own %q", got, want)
		}
		return
	}
	for _, other := range []identity{admin, managerA, managerB, deviceA} {
		if !slices.Contains(got, tokenID(f.tokens[other])) {
			tb.Errorf("got tokens %q, want %s's among them", got, other)
		}
	}
}

// tokenID is the id part of a secret dl_<id>_<secret>.
func tokenID(secret string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(secret, "dl_"), "_")
	return id
}

// revoked checks that the victim of kind revoked by id is gone from the
// store.
func revoked(kind string) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		victim := f.victims[kind][id]
		if _, err := f.app.Store.FindToken(context.Background(), victim); doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
			tb.Errorf("token %s after its revoke: got %v, want ENOTFOUND", victim, err)
		}
	}
}

// alarmOf is the id of the first alarm stored for site (by the table's
// "ingest alarms" row).
func (f *fixture) alarmOf(tb testing.TB, site string) string {
	tb.Helper()
	evs, err := f.app.Store.ListEvents(context.Background(), doorlog.EventQuery{Limit: 1, Filter: doorlog.EventFilter{
		Scope: doorlog.Scope{All: true}, SiteIDs: []string{site}, Keys: []string{"door_was_not_closed_too_long"},
	}})
	if err != nil || len(evs) == 0 {
		tb.Fatalf("the alarm of site %s: %v (%d found)", site, err, len(evs))
	}
	return evs[0].ID
}

// alarmsListed checks GET /v1/alarms: every alarm within id's sites, and
// the alarms ingested now for each of them listed.
func alarmsListed(tb testing.TB, f *fixture, id identity, body []byte) {
	var r struct {
		Alarms []struct {
			nativeEvent
			Key string `json:"key"`
		} `json:"alarms"`
		Open int `json:"open"`
	}
	decode(tb, body, &r)
	var got [][3]string
	sites := map[string]bool{}
	for _, a := range r.Alarms {
		got = append(got, a.triple())
		if a.SiteID != nil {
			sites[*a.SiteID] = true
		}
	}
	f.checkEvents(tb, id, got, nil)
	for _, s := range visible(id) {
		if !sites[s] {
			tb.Errorf("%s: got no alarm of site %s, want those ingested now", id, s)
		}
	}
	if r.Open != len(r.Alarms) {
		tb.Errorf("%s: got %d open of %d alarms, want all open before any acknowledge", id, r.Open, len(r.Alarms))
	}
}

// acked checks an acknowledge's answer: who acknowledged.
func acked(tb testing.TB, f *fixture, id identity, body []byte) {
	var r struct {
		EventID  string `json:"event_id"`
		Username string `json:"username"`
	}
	decode(tb, body, &r)
	if r.EventID != f.alarmOf(tb, siteB) || r.Username == "" {
		tb.Errorf("%s: got acknowledge %s, want the alarm of site B with who acknowledged it", id, body)
	}
}
