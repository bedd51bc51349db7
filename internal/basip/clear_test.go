package basip_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/basip"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// login logs in as BAS-IP pollers do (the MD5 of the password) and returns
// the token.
func (e *env) login(tb testing.TB, prefix, user, password string) string {
	tb.Helper()
	sum := md5.Sum([]byte(password))
	r := e.get(tb, prefix+"/api/v1/login?"+url.Values{"username": {user}, "password": {hex.EncodeToString(sum[:])}}.Encode(), "")
	wantJSON(tb, r, http.StatusOK)
	var b struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.Token == "" {
		tb.Fatalf("login: got %s, want a token", r.body)
	}
	return b.Token
}

// pollQuery is what city_bas asks every cycle: access events since a
// time, ascending, one page of 50.
const pollQuery = "?locale=ru&limit=50&page_number=1&sort_type=asc&filter_field=category&filter_type=equal&filter_value=access"

// timestamps returns the timestamps of a page, in order.
func timestamps(b listBody) []int64 {
	out := make([]int64, len(b.ListItems))
	for i, it := range b.ListItems {
		out[i] = it.Timestamp
	}
	return out
}

// TestClearThenPoll replays a BAS-IP poller's loop: read, clear, read
// again. After its clear, the poller's account sees only the events stored
// since (late ones, older than what it read, included), at the root and
// with a new login; every other reader and the per-device paths still see
// everything; a 1.x clear on a device's path clears that path alone.
func TestClearThenPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	items := "/api/v1/log/items" + pollQuery
	entrance := "/devices/" + devEntrance + "/api/v1/log/items" + pollQuery

	tok := e.login(t, "", "admin", adminPassword)
	first := e.list(t, items, tok)
	all := first.ListOption.Pagination.TotalItems
	if all == 0 {
		t.Fatal("the first poll found no access events")
	}
	entranceAll := e.list(t, entrance, tok).ListOption.Pagination.TotalItems

	r := e.send(t, http.MethodPost, "/api/v1/system/data/clear", tok, `{"clear_fields":["logs"]}`)
	wantJSON(t, r, http.StatusOK)
	if got := e.list(t, items, tok).ListOption.Pagination.TotalItems; got != 0 {
		t.Fatalf("poll right after the clear: got %d events, want 0", got)
	}

	// New events: one late (older than everything read), two now, one on
	// another site's device.
	late := t0.Add(-time.Hour)
	fresh := t0.Add(48 * time.Hour)
	e.append(t, []doorlog.Event{
		e.event(devEntrance, fresh, "access_granted_by_valid_identifier", `{"number":1,"type":"card","lock":1}`),
		e.event(devGarage, late, "access_denied_by_unknown_card", `{"card":"77"}`),
		e.event(devHarbour, fresh.Add(time.Second), "access_granted_by_call_host", `{"host":"3","lock":1}`),
		e.event(devEntrance, fresh.Add(2*time.Second), "door_was_opened", `{"lock":1}`),
	})
	want := []int64{late.UnixMilli(), fresh.UnixMilli(), fresh.Add(time.Second).UnixMilli(), fresh.Add(2 * time.Second).UnixMilli()}
	got := e.list(t, items, tok)
	if ts := timestamps(got); got.ListOption.Pagination.TotalItems != 4 || !slices.Equal(ts, want) {
		t.Errorf("poll after new events: got total %d, timestamps %v; want 4, %v", got.ListOption.Pagination.TotalItems, ts, want)
	}
	// With from, as pollers send it: the late event is before it.
	if ts := timestamps(e.list(t, items+"&from="+ms(47*time.Hour), tok)); !slices.Equal(ts, want[1:]) {
		t.Errorf("poll with from after the clear: got %v, want %v", ts, want[1:])
	}

	// Everyone else sees everything.
	if got := e.list(t, items, e.admin).ListOption.Pagination.TotalItems; got != all+4 {
		t.Errorf("another admin after the clear: got %d events, want %d", got, all+4)
	}
	if got := e.list(t, entrance, tok).ListOption.Pagination.TotalItems; got != entranceAll+2 {
		t.Errorf("the poller on a device's path after a root clear: got %d events, want %d", got, entranceAll+2)
	}

	// The watermark is the account's: a logout and a new login keep it.
	wantJSON(t, e.send(t, http.MethodPost, "/api/v1/logout", tok, ""), http.StatusOK)
	wantError(t, e.get(t, items, tok), http.StatusUnauthorized, basip.ErrLogIn)
	tok = e.login(t, "", "admin", adminPassword)
	if got := e.list(t, items, tok).ListOption.Pagination.TotalItems; got != 4 {
		t.Errorf("after a new login: got %d events, want the 4 stored since the clear", got)
	}

	// API 1.x's body, on a device's path: that path alone.
	wantJSON(t, e.send(t, http.MethodPost, "/devices/"+devEntrance+"/api/v1/system/data/clear", tok, `{"data_types":["logs"]}`), http.StatusOK)
	if got := e.list(t, entrance, tok).ListOption.Pagination.TotalItems; got != 0 {
		t.Errorf("device path after its clear: got %d events, want 0", got)
	}
	if got := e.list(t, items, tok).ListOption.Pagination.TotalItems; got != 4 {
		t.Errorf("root after a device's clear: got %d events, want 4", got)
	}

	// A clear of other data changes nothing.
	wantJSON(t, e.send(t, http.MethodPost, "/api/v1/system/data/clear", tok, `{"clear_fields":["calls","identifiers"]}`), http.StatusOK)
	if got := e.list(t, items, tok).ListOption.Pagination.TotalItems; got != 4 {
		t.Errorf("root after a clear of other data: got %d events, want 4", got)
	}
}

// TestClearAndLogoutRefused checks the answers of clear and logout to
// callers and bodies they refuse, in BAS-IP's error shape.
func TestClearAndLogoutRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	clear := "/api/v1/system/data/clear"
	body := `{"clear_fields":["logs"]}`
	tests := []struct {
		name         string
		method, path string
		token, body  string
		status       int
		want         string
	}{
		{"clear without a token", "POST", clear, "", body, 401, basip.ErrLogIn},
		{"clear with a bad token", "POST", clear, "dl_nope_nope", body, 401, basip.ErrLogIn},
		{"clear by a manager", "POST", clear, e.manager, body, 403, basip.ErrAdminRequired},
		{"clear by a device token", "POST", clear, e.device, body, 403, basip.ErrAdminRequired},
		{"clear of a device outside the scope", "POST", "/devices/" + devHarbour + clear, e.siteAdmin, body, 404, basip.ErrDeviceNotFound},
		{"clear of an unknown device", "POST", "/devices/" + devMissing + clear, e.admin, body, 404, basip.ErrDeviceNotFound},
		{"clear with a body that is not JSON", "POST", clear, e.admin, `clear_fields=logs`, 400, basip.ErrWrongBody},
		{"clear with an array", "POST", clear, e.admin, `["logs"]`, 400, basip.ErrWrongBody},
		{"clear with no body", "POST", clear, e.admin, "", 400, basip.ErrWrongBody},
		{"clear with a huge body", "POST", clear, e.admin, `{"clear_fields":["` + strings.Repeat("x", basip.MaxClearBody) + `"]}`, 413, basip.ErrBodyTooLarge},
		{"clear by GET", "GET", clear, e.admin, "", 405, basip.ErrMethodNotAllowed},
		{"logout without a token", "POST", "/api/v1/logout", "", "", 401, basip.ErrLogIn},
		{"logout with a bad token", "POST", "/api/v1/logout", "dl_nope_nope", "", 401, basip.ErrLogIn},
		{"logout on an unknown device", "POST", "/devices/" + devMissing + "/api/v1/logout", e.admin, "", 404, basip.ErrDeviceNotFound},
		{"logout by GET", "GET", "/api/v1/logout", e.admin, "", 405, basip.ErrMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.send(t, tt.method, tt.path, tt.token, tt.body)
			wantError(t, r, tt.status, tt.want)
			if tt.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow: got %q, want POST", r.header.Get("Allow"))
			}
		})
	}
	// Nothing refused left a watermark: the admin still sees everything.
	e.appendFixture(t)
	if got := e.list(t, "/api/v1/log/items", e.admin).ListOption.Pagination.TotalItems; got != int64(len(fixtureEvents)) {
		t.Errorf("after refused clears: got %d events, want all %d", got, len(fixtureEvents))
	}
}
