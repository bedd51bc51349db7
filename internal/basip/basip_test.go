package basip_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/basip"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
)

// ms is the Unix millisecond time of t0+d, as a query value.
func ms(d time.Duration) string {
	return strconv.FormatInt(t0.Add(d).UnixMilli(), 10)
}

// sec is the Unix time in whole seconds of t0 + d (d's part of a second
// dropped), as some pollers send from and to.
func sec(d time.Duration) string {
	return strconv.FormatInt(t0.Add(d).Unix(), 10)
}

// caller picks the credential of a request.
type caller int

const (
	anonymous caller = iota
	admin
	siteAdmin
	manager
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
	case deviceToken:
		return e.device
	case badToken:
		return "dl_0123456789abcdef0123_not-the-secret"
	}
	return ""
}

// TestGolden compares whole responses with testdata/*.json.
func TestGolden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	items := "/api/v1/log/items"
	tests := []struct {
		golden string
		method string
		path   string
		as     caller
		status int
	}{
		{"list_default", "GET", items, admin, 200},
		{"list_locale_ru", "GET", items + "?locale=ru", admin, 200},
		{"list_locale_unknown", "GET", items + "?locale=xx", admin, 200},
		{"list_desc", "GET", items + "?sort_type=desc", admin, 200},
		{"list_page2", "GET", items + "?page_number=2", admin, 200},
		{"list_page_past_end", "GET", items + "?page_number=9", admin, 200},
		{"list_filter_category", "GET", items + "?filter_field=category&filter_type=equal&filter_format=string&filter_value=emergency", admin, 200},
		{"list_filter_priority", "GET", items + "?filter_field=priority&filter_value=critical", admin, 200},
		{"list_filter_name", "GET", items + "?filter_field=name&filter_type=equal&filter_value=door_was_opened", admin, 200},
		{"list_filter_name_unknown_key", "GET", items + "?filter_field=name&filter_value=face_mask_not_detected", admin, 200},
		{"list_time_window", "GET", items + "?from=" + ms(hms(0, 20, 0, 0)) + "&to=" + ms(hms(0, 36, 0, 0)) + "&limit=20", admin, 200},
		{"list_device", "GET", "/devices/" + devGarage + "/api/v1/log/items", admin, 200},
		{"list_site_admin", "GET", items + "?limit=50&sort_type=desc", siteAdmin, 200},

		{"error_log_in", "GET", items, anonymous, 401},
		{"error_log_in", "GET", items, badToken, 401},
		{"error_admin_required", "GET", items, manager, 403},
		{"error_time_format", "GET", items + "?from=yesterday", admin, 400},
		{"error_time_range", "GET", items + "?from=1709539200000&to=1709539199999", admin, 400},
		{"error_pagination_limit", "GET", items + "?limit=15", admin, 400},
		{"error_page_number", "GET", items + "?page_number=0", admin, 400},
		{"error_sort_type", "GET", items + "?sort_type=newest", admin, 400},
		{"error_filter_field", "GET", items + "?filter_field=device&filter_value=x", admin, 400},
		{"error_filter_type", "GET", items + "?filter_field=category&filter_type=like&filter_value=access", admin, 400},
		{"error_filter_format", "GET", items + "?filter_field=category&filter_format=int&filter_value=access", admin, 400},
		{"error_filter_value", "GET", items + "?filter_field=priority&filter_value=urgent", admin, 400},
		{"error_device_not_found", "GET", "/devices/" + devMissing + "/api/v1/log/items", admin, 404},
		{"error_method_not_allowed", "POST", items, admin, 405},

		{"info_root", "GET", "/api/info", anonymous, 200},
		{"info_device", "GET", "/devices/" + devEntrance + "/api/info", anonymous, 200},
	}
	for _, tt := range tests {
		t.Run(tt.golden+"/"+tt.path, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, e.token(tt.as))
			wantJSON(t, r, tt.status)
			checkGolden(t, tt.golden, r.body)
		})
	}
}

// TestGoldenLogin compares the login answers with testdata/*.json; the
// token, random by nature, is checked to work and then left out.
func TestGoldenLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.get(t, "/api/v1/login?username=admin&password="+url.QueryEscape(adminPassword), "")
	wantJSON(t, r, http.StatusOK)
	var ok map[string]any
	if err := json.Unmarshal(r.body, &ok); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	tok, _ := ok["token"].(string)
	if _, err := e.auth.Authenticate(context.Background(), tok); err != nil {
		t.Fatalf("the token of the login does not authenticate: %v", err)
	}
	ok["token"] = "TOKEN"
	body, _ := json.Marshal(ok)
	checkGolden(t, "login_success", body)

	r = e.get(t, "/api/v1/login?username=admin&password=wrong", "")
	wantJSON(t, r, http.StatusUnauthorized)
	checkGolden(t, "login_failure", r.body)
}

// TestEmptyAndUnknownParameters checks that an empty parameter is an absent
// one and that unknown parameters are ignored: each answers the default
// page.
func TestEmptyAndUnknownParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	for _, q := range []string{
		"?locale=&from=&to=&limit=&page_number=&sort_type=",
		"?filter_field=&filter_type=&filter_format=&filter_value=",
		"?sort_field=timestamp&foo=bar&page=7&per_page=100",
		"?limit=10&page_number=1&sort_type=asc&locale=en",
		"?locale=EN",
	} {
		t.Run(q, func(t *testing.T) {
			r := e.get(t, "/api/v1/log/items"+q, e.admin)
			wantJSON(t, r, http.StatusOK)
			checkGolden(t, "list_default", r.body)
		})
	}
}

// TestValidationOrder checks which error wins when several parameters are
// wrong: time format, time range, limit, page number, sort type, filter
// field, filter type, filter format, filter value.
func TestValidationOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		query string
		want  string
	}{
		{"from=abc&to=1&limit=7&page_number=0", basip.ErrWrongTimeFormat},
		{"from=1&to=abc", basip.ErrWrongTimeFormat},
		{"to=1.5", basip.ErrWrongTimeFormat},
		{"from=1e3", basip.ErrWrongTimeFormat},
		{"from=2024-03-04T08:00:00Z", basip.ErrWrongTimeFormat},
		{"from=5&to=1&limit=7", basip.ErrWrongTimeRange},
		{"from=1709539200&to=1709539199999", basip.ErrWrongTimeRange},
		{"from=1709539200001&to=1709539199", basip.ErrWrongTimeRange},
		{"limit=7&page_number=0", basip.ErrWrongLimit},
		{"limit=100", basip.ErrWrongLimit},
		{"limit=0", basip.ErrWrongLimit},
		{"limit=ten", basip.ErrWrongLimit},
		{"page_number=0&sort_type=x", basip.ErrWrongPage},
		{"page_number=-1", basip.ErrWrongPage},
		{"page_number=one", basip.ErrWrongPage},
		{"page_number=99999999999999999999", basip.ErrWrongPage},
		{"sort_type=ASC&filter_field=x", basip.ErrWrongSortType},
		{"filter_field=x&filter_type=y", basip.ErrWrongField},
		{"filter_field=Category&filter_value=access", basip.ErrWrongField},
		{"filter_type=equal", basip.ErrWrongField},
		{"filter_format=string", basip.ErrWrongField},
		{"filter_value=access", basip.ErrWrongField},
		{"filter_field=category&filter_type=y&filter_format=z&filter_value=nope", basip.ErrWrongType},
		{"filter_field=category&filter_format=z&filter_value=nope", basip.ErrWrongFormat},
		{"filter_field=category", basip.ErrWrongValue},
		{"filter_field=category&filter_value=", basip.ErrWrongValue},
		{"filter_field=category&filter_value=Access", basip.ErrWrongValue},
		{"filter_field=priority&filter_value=access", basip.ErrWrongValue},
		{"filter_field=name&filter_value=access", basip.ErrWrongValue},
		{"filter_field=name&filter_value=Door+was+opened", basip.ErrWrongValue},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := e.get(t, "/api/v1/log/items?"+tt.query, e.admin)
			wantError(t, r, http.StatusBadRequest, tt.want)
		})
	}
}

// TestTimeWindow checks that from and to are milliseconds, both inclusive,
// that from == to is allowed, and that far-out values still work.
func TestTimeWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	tests := []struct {
		name  string
		query string
		want  int64
	}{
		{"one millisecond, both ends inclusive", "from=" + ms(hms(0, 5, 0, 120)) + "&to=" + ms(hms(0, 5, 0, 120)), 2},
		{"a millisecond too late", "from=" + ms(hms(0, 5, 0, 121)) + "&to=" + ms(hms(0, 5, 9, 799)), 0},
		{"from only", "from=" + ms(hms(1, 5, 0, 0)), 4},
		{"to only", "to=" + ms(hms(0, 1, 12, 345)), 2},
		{"far future to", "from=" + ms(hms(1, 5, 0, 0)) + "&to=9223372036854775807", 4},
		{"far past from", "from=-9223372036854775808&to=" + ms(0), 1},
		{"before year 1", "from=-9223372036854775808&to=-9223372036854775000", 0},
		{"from in seconds", "from=" + sec(hms(1, 5, 0, 0)), 4},
		{"from in seconds is the start of its second", "from=" + sec(hms(0, 5, 0, 120)) + "&to=" + ms(hms(0, 5, 0, 120)), 2},
		{"from in seconds, to in milliseconds (a C# poller)", "from=" + sec(hms(0, 5, 0, 0)) + "&to=" + ms(hms(0, 5, 9, 800)), 3},
		{"to in seconds takes in its whole second", "from=" + ms(hms(0, 5, 0, 0)) + "&to=" + sec(hms(0, 5, 0, 0)), 2},
		{"both in seconds", "from=" + sec(hms(0, 5, 0, 0)) + "&to=" + sec(hms(0, 5, 9, 0)), 3},
		{"the largest value read as seconds is year 5138", "from=99999999999", 0},
		{"the smallest read as milliseconds is March 1973", "from=100000000000&to=" + ms(hms(0, 1, 12, 345)), 2},
		{"negative seconds", "from=-1&to=" + ms(hms(0, 1, 12, 345)), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.list(t, "/api/v1/log/items?"+tt.query, e.admin)
			if got := b.ListOption.Pagination.TotalItems; got != tt.want {
				t.Errorf("total_items: got %d, want %d", got, tt.want)
			}
		})
	}
}

// TestPoller replays the request a real BAS-IP poller sends, over more than
// 100 matching events, and checks page 2 is the 51st to 100th access event
// at or after from, in (time, id) order.
func TestPoller(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	base := t0.Add(123 * time.Millisecond)
	var events []doorlog.Event
	for i := range 180 {
		// Pairs of events share a millisecond, so ids must break ties.
		at := base.Add(time.Duration(i/2) * 1500 * time.Millisecond)
		key, device := "access_granted_by_valid_identifier", devEntrance
		switch {
		case i%5 == 3:
			key = "incoming_call"
		case i%7 == 0:
			key, device = "door_was_opened", devGarage
		case i%11 == 0:
			key = "tamper_event"
		}
		events = append(events, e.event(device, at, key, fmt.Sprintf(`{"number":%d,"type":"card","lock":1}`, i)))
	}
	// Store them out of order, in several batches, as devices that
	// reconnect do.
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	var stored []doorlog.Event
	for chunk := range slices.Chunk(events, 37) {
		stored = append(stored, e.append(t, chunk)...)
	}

	from := base.Add(6 * 1500 * time.Millisecond) // the 13th and 14th events' time: inclusive
	var want []doorlog.Event
	for _, ev := range stored {
		if ev.Category == doorlog.CategoryAccess && !ev.Time.Before(from) {
			want = append(want, ev)
		}
	}
	slices.SortFunc(want, func(a, b doorlog.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(want) < 100 {
		t.Fatalf("fixture: got %d matching events, want at least 100", len(want))
	}

	path := fmt.Sprintf("/api/v1/log/items?from=%d&limit=50&page_number=2&sort_type=asc&filter_field=category&filter_type=equal&filter_value=access", from.UnixMilli())
	b := e.list(t, path, e.admin)
	p := b.ListOption.Pagination
	if p.TotalItems != int64(len(want)) || p.ItemsLimit != 50 || p.CurrentPage != 2 || p.TotalPages != int64((len(want)+49)/50) {
		t.Errorf("pagination: got %+v, want total_items %d, items_limit 50, total_pages %d, current_page 2", p, len(want), (len(want)+49)/50)
	}
	if !b.ListOption.Filter.IsFiltered {
		t.Errorf("is_filtered: got false, want true")
	}
	if len(b.ListItems) != 50 {
		t.Fatalf("list_items: got %d, want 50", len(b.ListItems))
	}
	for i, it := range b.ListItems {
		w := want[50+i]
		if it.Timestamp != w.Time.UnixMilli() || it.Name.Key != w.Key || !bytes.Equal(it.Info.Model, w.Model) || it.Category != "access" {
			t.Errorf("item %d: got %d %s %s %s, want %d %s %s access", 51+i, it.Timestamp, it.Name.Key, it.Info.Model, it.Category, w.Time.UnixMilli(), w.Key, w.Model)
		}
	}
}

// TestScope checks what each kind of token sees.
func TestScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	count := func(keep func(f fixtureEvent) bool) int64 {
		var n int64
		for _, f := range fixtureEvents {
			if keep(f) {
				n++
			}
		}
		return n
	}
	riverside := func(f fixtureEvent) bool { return siteOf(f.device) == siteRiverside }
	all := func(fixtureEvent) bool { return true }
	garage := func(f fixtureEvent) bool { return f.device == devGarage }
	logins := func(f fixtureEvent) bool { return f.key == "successful_login_api_call" }
	riversideLogins := func(f fixtureEvent) bool { return riverside(f) && logins(f) }

	items := "/api/v1/log/items?limit=50"
	tests := []struct {
		name string
		path string
		as   caller
		want int64
	}{
		{"admin sees every site and the server", items, admin, count(all)},
		{"admin sees server logins", items + "&filter_field=name&filter_value=successful_login_api_call", admin, count(logins)},
		{"site admin sees its site only", items, siteAdmin, count(riverside)},
		{"site admin sees no server login", items + "&filter_field=name&filter_value=successful_login_api_call", siteAdmin, count(riversideLogins)},
		{"site admin sees no server event by category", items + "&filter_field=category&filter_value=system", siteAdmin, count(func(f fixtureEvent) bool {
			return riverside(f) && e.cat.Entry(f.key).Category == doorlog.CategorySystem
		})},
		{"site admin on its own device", "/devices/" + devGarage + "/api/v1/log/items?limit=50", siteAdmin, count(garage)},
		{"device path in upper case", "/devices/" + strings.ToUpper(devGarage) + "/api/v1/log/items?limit=50", admin, count(garage)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.list(t, tt.path, e.token(tt.as))
			if got := b.ListOption.Pagination.TotalItems; got != tt.want {
				t.Errorf("total_items: got %d, want %d", got, tt.want)
			}
			if got := int64(len(b.ListItems)); got != tt.want {
				t.Errorf("list_items: got %d, want %d", got, tt.want)
			}
			if tt.as == siteAdmin {
				for _, it := range b.ListItems {
					if strings.Contains(string(it.Info.Model), "Harbour") || it.Name.Key == "incorrect_login_api_call" {
						t.Errorf("site admin got an event of another site or of the server: %s %s", it.Name.Key, it.Info.Model)
					}
				}
			}
		})
	}

	denied := []struct {
		name   string
		path   string
		as     caller
		status int
		error  string
	}{
		{"site admin on another site's device", "/devices/" + devHarbour + "/api/v1/log/items", siteAdmin, 404, "Device not found"},
		{"unknown device", "/devices/" + devMissing + "/api/v1/log/items", admin, 404, "Device not found"},
		{"malformed device id", "/devices/not-a-uuid/api/v1/log/items", admin, 404, "Device not found"},
		{"manager at the root", "/api/v1/log/items", manager, 403, "Administrator rights required"},
		{"manager on its device", "/devices/" + devEntrance + "/api/v1/log/items", manager, 403, "Administrator rights required"},
		{"device token at the root", "/api/v1/log/items", deviceToken, 403, "Administrator rights required"},
		{"device token on its device", "/devices/" + devEntrance + "/api/v1/log/items", deviceToken, 403, "Administrator rights required"},
		{"no token on a device", "/devices/" + devEntrance + "/api/v1/log/items", anonymous, 401, "Log In"},
		{"bad token on an unknown device", "/devices/" + devMissing + "/api/v1/log/items", badToken, 401, "Log In"},
		{"manager before a bad parameter", "/api/v1/log/items?limit=3", manager, 403, "Administrator rights required"},
		{"unknown device before a bad parameter", "/devices/" + devMissing + "/api/v1/log/items?limit=3", admin, 404, "Device not found"},
	}
	for _, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.get(t, tt.path, e.token(tt.as)), tt.status, tt.error)
		})
	}

	t.Run("other authorization schemes", func(t *testing.T) {
		for _, h := range []string{"Basic YWRtaW46YWRtaW4=", e.admin, "Bearer", "Token " + e.admin} {
			req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/log/items", nil)
			req.Header.Set("Authorization", h)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("Authorization %.12q...: got %d, want 401", h, resp.StatusCode)
			}
		}
	})
}

// TestModelWrittenThrough checks a model goes out as stored: a number no
// float64 holds and HTML characters survive.
func TestModelWrittenThrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	r := e.get(t, "/api/v1/log/items?filter_field=name&filter_value=face_mask_not_detected", e.admin)
	wantJSON(t, r, http.StatusOK)
	want := `"model":{"score":0.93,"frame":12345678901234567890,"note":"<b>mask</b> & gloves"}`
	if !bytes.Contains(r.body, []byte(want)) {
		t.Errorf("body: got %s, want it to contain %s", r.body, want)
	}
}

// loginEvents lists the stored login attempts the unrestricted admin sees
// through the API, at path.
func (e *env) loginEvents(tb testing.TB, path string) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for _, key := range []string{basip.KeyLoginSucceeded, basip.KeyLoginFailed} {
		b := e.list(tb, path+"?limit=50&filter_field=name&filter_value="+key, e.admin)
		for _, it := range b.ListItems {
			if it.Timestamp != now.UnixMilli() {
				tb.Errorf("%s timestamp: got %d, want %d", key, it.Timestamp, now.UnixMilli())
			}
			if it.Category != "system" {
				tb.Errorf("%s category: got %s, want system", key, it.Category)
			}
			out[key] = append(out[key], string(it.Info.Model))
		}
	}
	return out
}

// TestLogin checks both password spellings, the failures, and that every
// attempt with a username is stored as an event without secrets.
func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sum := md5.Sum([]byte(adminPassword))
	md5Lower := hex.EncodeToString(sum[:])
	msum := md5.Sum([]byte(managerPassword))

	tests := []struct {
		name     string
		user     string
		password string
		status   int
		role     string
	}{
		{"plain password", "admin", adminPassword, 200, "admin"},
		{"md5 of the password", "admin", md5Lower, 200, "admin"},
		{"md5 in upper case", "admin", strings.ToUpper(md5Lower), 200, "admin"},
		{"manager", "manager", hex.EncodeToString(msum[:]), 200, "manager"},
		{"wrong password", "admin", "Door-Admin-2023!", 401, ""},
		{"wrong manager password", "manager", "nope", 401, ""},
		{"unknown user", "mallory", adminPassword, 401, ""},
		{"no password", "admin", "", 401, ""},
		{"no username", "", adminPassword, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{}
			if tt.user != "" {
				q.Set("username", tt.user)
			}
			if tt.password != "" {
				q.Set("password", tt.password)
			}
			r := e.get(t, "/api/v1/login?"+q.Encode(), "")
			if tt.status != 200 {
				wantError(t, r, tt.status, "Log In")
				return
			}
			wantJSON(t, r, 200)
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", cc)
			}
			var got struct {
				AccountType string `json:"account_type"`
				Token       string `json:"token"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("decode %s: %v", r.body, err)
			}
			if got.AccountType != tt.role {
				t.Errorf("account_type: got %q, want %q", got.AccountType, tt.role)
			}
			tok, err := e.auth.Authenticate(context.Background(), got.Token)
			if err != nil {
				t.Fatalf("token: got error %v, want it to authenticate", err)
			}
			if string(tok.Role) != tt.role {
				t.Errorf("token role: got %s, want %s", tok.Role, tt.role)
			}
		})
	}

	t.Run("the token of a login lists logs", func(t *testing.T) {
		r := e.get(t, "/api/v1/login?username=admin&password="+md5Lower, "")
		var got struct{ Token string }
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		e.list(t, "/api/v1/log/items", got.Token)
	})

	t.Run("attempts are stored as server events", func(t *testing.T) {
		got := e.loginEvents(t, "/api/v1/log/items")
		want := map[string][]string{
			// 4 successes above and one in the subtest before.
			basip.KeyLoginSucceeded: {`{"account_type":"admin"}`, `{"account_type":"admin"}`, `{"account_type":"admin"}`, `{"account_type":"manager"}`, `{"account_type":"admin"}`},
			// wrong password, wrong manager password, unknown user, no
			// password; no username stores nothing.
			basip.KeyLoginFailed: {`{"account_type":"admin"}`, `{"account_type":"manager"}`, `{}`, `{"account_type":"admin"}`},
		}
		for key, w := range want {
			if !slices.Equal(got[key], w) {
				t.Errorf("%s models: got %v, want %v", key, got[key], w)
			}
		}
		body := e.get(t, "/api/v1/log/items?limit=50", e.admin).body
		for _, secret := range []string{adminPassword, md5Lower, strings.ToUpper(md5Lower), "Door-Admin-2023!", "mallory", `"username"`, `"password"`} {
			if bytes.Contains(body, []byte(secret)) {
				t.Errorf("the log holds %q, want no secret or username", secret)
			}
		}
		// Server events belong to no site.
		if b := e.list(t, "/api/v1/log/items", e.siteAdmin); b.ListOption.Pagination.TotalItems != 0 {
			t.Errorf("site admin sees %d events, want 0", b.ListOption.Pagination.TotalItems)
		}
	})

	t.Run("a login under a device is that device's event", func(t *testing.T) {
		r := e.get(t, "/devices/"+devHarbour+"/api/v1/login?username=manager&password="+url.QueryEscape(managerPassword), "")
		wantJSON(t, r, 200)
		r = e.get(t, "/devices/"+devHarbour+"/api/v1/login?username=nobody&password=x", "")
		wantError(t, r, 401, "Log In")
		got := e.loginEvents(t, "/devices/"+devHarbour+"/api/v1/log/items")
		want := map[string][]string{
			basip.KeyLoginSucceeded: {`{"account_type":"manager"}`},
			basip.KeyLoginFailed:    {`{}`},
		}
		for key, w := range want {
			if !slices.Equal(got[key], w) {
				t.Errorf("%s models: got %v, want %v", key, got[key], w)
			}
		}
		// The device's site sees them; the other site does not.
		if b := e.list(t, "/api/v1/log/items?filter_field=category&filter_value=system", e.siteAdmin); b.ListOption.Pagination.TotalItems != 0 {
			t.Errorf("riverside admin sees %d system events, want 0", b.ListOption.Pagination.TotalItems)
		}
	})

	t.Run("a login under an unknown device", func(t *testing.T) {
		wantError(t, e.get(t, "/devices/"+devMissing+"/api/v1/login?username=admin&password=x", ""), 404, "Device not found")
	})
}

// TestLoginWhenStoringFails checks that a login answers when its event
// cannot be stored, and that the failure is logged.
func TestLoginWhenStoringFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *basip.Config, e *env) {
		w := ingest.NewWriter(e.db, cfg.Logger, ingest.WriterOptions{})
		w.Close() // every append now fails with EUNAVAILABLE
		withAuth(func(c *auth.Config) { c.Appender = w })(cfg, e)
	})
	r := e.get(t, "/api/v1/login?username=admin&password="+url.QueryEscape(adminPassword), "")
	wantJSON(t, r, http.StatusOK)
	wantError(t, e.get(t, "/api/v1/login?username=admin&password=wrong", ""), 401, "Log In")
	if logs := e.logs.String(); strings.Count(logs, "store login event") != 2 {
		t.Errorf("log: got %q, want two failures to store a login event", logs)
	}
	if strings.Contains(e.logs.String(), adminPassword) {
		t.Errorf("log holds the password")
	}
}

// TestLoginThroughWriter stores login events through the group-commit
// writer, as the server does.
func TestLoginThroughWriter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *basip.Config, e *env) {
		w := ingest.NewWriter(e.db, cfg.Logger, ingest.WriterOptions{})
		t.Cleanup(w.Close)
		withAuth(func(c *auth.Config) { c.Appender = w })(cfg, e)
	})
	wantJSON(t, e.get(t, "/api/v1/login?username=admin&password="+url.QueryEscape(adminPassword), ""), 200)
	got := e.loginEvents(t, "/api/v1/log/items")
	if want := []string{`{"account_type":"admin"}`}; !slices.Equal(got[basip.KeyLoginSucceeded], want) {
		t.Errorf("models: got %v, want %v", got[basip.KeyLoginSucceeded], want)
	}
}

// TestInternalError checks that a broken store answers a bare 500 and logs
// the cause.
func TestInternalError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token := e.admin
	e.db.Close()
	for _, path := range []string{
		"/api/v1/log/items",
		"/devices/" + devEntrance + "/api/info",
		"/api/v1/login?username=admin&password=secret-in-query",
	} {
		t.Run(path, func(t *testing.T) {
			wantError(t, e.get(t, path, token), http.StatusInternalServerError, "Internal error")
		})
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "err=") {
		t.Errorf("log: got %q, want the causes", logs)
	}
	if strings.Contains(logs, "secret-in-query") {
		t.Errorf("log holds the password: %q", logs)
	}
}

// TestMethods checks every other method gets a JSON 405 with Allow.
func TestMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		method string
		path   string
		allow  string
	}{
		{"POST", "/api/v1/log/items", "GET, HEAD"},
		{"DELETE", "/devices/" + devEntrance + "/api/v1/log/items", "GET, HEAD"},
		{"POST", "/api/v1/login", "GET"},
		{"HEAD", "/api/v1/login", "GET"},
		{"PUT", "/devices/" + devEntrance + "/api/v1/login", "GET"},
		{"POST", "/api/info", "GET, HEAD"},
		{"OPTIONS", "/devices/" + devMissing + "/api/info", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, e.admin)
			if r.status != http.StatusMethodNotAllowed {
				t.Fatalf("status: got %d, want 405", r.status)
			}
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: got %q, want %q", got, tt.allow)
			}
			if tt.method != "HEAD" {
				wantError(t, r, http.StatusMethodNotAllowed, "Method not allowed")
			}
		})
	}

	t.Run("HEAD of the log list", func(t *testing.T) {
		r := e.do(t, "HEAD", "/api/v1/log/items", e.admin)
		if r.status != http.StatusOK {
			t.Errorf("status: got %d, want 200", r.status)
		}
	})
}

// TestInfo checks /api/info needs no token and hides nothing it should not.
func TestInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/api/info", 200, `{"device_model":"doorlog","device_name":"doorlog test server","device_type":"server","device_serial_number":"","firmware_version":"1.0.0-test","frontend_version":"1.0.0-test","framework_version":"1.0.0-test","api_version":"2.9.0","hybrid_enable":false,"hybrid_version":"1.0.0-test","commit":"0123456789ab"}`},
		{"/devices/" + devHarbour + "/api/info", 200, `{"device_model":"AQ-10","device_name":"Harbour lobby","device_type":"panel","device_serial_number":"` + devHarbour + `","firmware_version":"1.0.0-test","frontend_version":"1.0.0-test","framework_version":"1.0.0-test","api_version":"2.9.0","hybrid_enable":false,"hybrid_version":"1.0.0-test","commit":"0123456789ab"}`},
		{"/devices/" + devMissing + "/api/info", 404, `{"error":"Device not found"}`},
		{"/devices/zzz/api/info", 404, `{"error":"Device not found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := e.get(t, tt.path, "")
			wantJSON(t, r, tt.status)
			if got := strings.TrimSpace(string(r.body)); got != tt.want {
				t.Errorf("body: got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestUnknownNamesCapped checks that available_values.name lists the
// catalog's keys and at most MaxUnknownNames other stored keys, so that a
// server with thousands of invented keys does not send them all with every
// page, while a filter on any stored key still works and one on a key never
// stored is refused as BAS-IP refuses it.
func TestUnknownNamesCapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *basip.Config, _ *env) { c.MaxUnknownNames = 2 })
	var events []doorlog.Event
	for i, key := range []string{"zz_new_3", "zz_new_1", "zz_new_2", "door_was_opened"} {
		events = append(events, e.event(devEntrance, t0.Add(time.Duration(i)*time.Minute), key, `{}`))
	}
	e.append(t, events)
	catalogKeys := e.cat.Keys()
	for _, tt := range []struct {
		name, query string
		status      int
		total       int64
	}{
		{"no filter", "", http.StatusOK, 4},
		{"a listed stored key", "?filter_field=name&filter_value=zz_new_1", http.StatusOK, 1},
		{"a stored key past the cap", "?filter_field=name&filter_value=zz_new_3", http.StatusOK, 1},
		{"a key never stored", "?filter_field=name&filter_value=zz_new_4", http.StatusBadRequest, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(t, "/api/v1/log/items"+tt.query, e.admin)
			if tt.status != http.StatusOK {
				wantError(t, r, tt.status, basip.ErrWrongValue)
				return
			}
			wantJSON(t, r, http.StatusOK)
			var b struct {
				ListOption struct {
					Pagination struct {
						TotalItems int64 `json:"total_items"`
					} `json:"pagination"`
					Filter struct {
						AvailableValues struct {
							Name []struct{ Key string } `json:"name"`
						} `json:"available_values"`
					} `json:"filter"`
				} `json:"list_option"`
			}
			if err := json.Unmarshal(r.body, &b); err != nil {
				t.Fatal(err)
			}
			if b.ListOption.Pagination.TotalItems != tt.total {
				t.Errorf("total_items: got %d, want %d", b.ListOption.Pagination.TotalItems, tt.total)
			}
			var names []string
			for _, n := range b.ListOption.Filter.AvailableValues.Name {
				names = append(names, n.Key)
			}
			if want := append(slices.Clone(catalogKeys), "zz_new_1", "zz_new_2"); !slices.Equal(names, want) {
				t.Errorf("available_values.name: got %q, want the catalog's keys then zz_new_1, zz_new_2", names)
			}
		})
	}
}
