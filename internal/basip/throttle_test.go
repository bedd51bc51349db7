package basip_test

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/apitest"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/basip"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// withLogin runs the env's logins with opts (the throttle policy
// throttlePolicy unless opts has one).
func withLogin(opts auth.LoginOptions) envOption {
	if opts.Policy == nil {
		opts.Policy = apitest.ThrottlePolicy()
	}
	return withAuth(func(c *auth.Config) { c.Login = opts })
}

// loginFrom logs in at path (a login path with username and password
// filled in) with X-Forwarded-For set to xff when it is not "".
func (e *env) loginFrom(tb testing.TB, path, xff string) response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	return e.request(tb, req)
}

func loginPath(prefix, user, password string) string {
	return prefix + "/api/v1/login?" + url.Values{"username": {user}, "password": {password}}.Encode()
}

// wantThrottled checks BAS-IP's 429: {"error": "Too many login attempts"}
// with Retry-After in whole seconds.
func wantThrottled(tb testing.TB, r response, retryAfter string) {
	tb.Helper()
	wantError(tb, r, http.StatusTooManyRequests, basip.ErrTooManyLogins)
	if got := r.header.Get("Retry-After"); got != retryAfter {
		tb.Errorf("Retry-After: got %q, want %q", got, retryAfter)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		tb.Errorf("Cache-Control: got %q, want no-store", got)
	}
}

// TestLoginThrottled checks, at the root and under a device, that wrong
// passwords lead to a 429 with Retry-After, then a lockout that ends, and
// that a right password is refused as well while it lasts.
func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/devices/" + devEntrance} {
		t.Run("path "+prefix+"/api/v1/login", func(t *testing.T) {
			t.Parallel()
			// The address is not throttled here: only the account shows.
			p := apitest.ThrottlePolicy()
			p.Address.Limit = 0
			e := newEnv(t, withLogin(auth.LoginOptions{Policy: p}))
			clock := e.world.Clock
			bad, good := loginPath(prefix, "admin", "wrong"), loginPath(prefix, "admin", adminPassword)
			wantError(t, e.get(t, bad, ""), 401, basip.ErrLogIn)
			wantError(t, e.get(t, bad, ""), 401, basip.ErrLogIn)
			wantError(t, e.get(t, bad, ""), 401, basip.ErrLogIn)
			// The third failure delays the account by a second.
			wantThrottled(t, e.get(t, good, ""), "1")
			clock.Advance(time.Second)
			wantError(t, e.get(t, bad, ""), 401, basip.ErrLogIn)
			// The fourth locks it for 10 minutes: even the right password
			// is refused, and the refusals do not make it longer.
			for range 5 {
				wantThrottled(t, e.get(t, good, ""), "600")
			}
			clock.Advance(9*time.Minute + 30*time.Second)
			wantThrottled(t, e.get(t, good, ""), "30")
			clock.Advance(30 * time.Second)
			wantJSON(t, e.get(t, good, ""), http.StatusOK)
			// The success forgot the account's failures: two are free again.
			wantError(t, e.get(t, bad, ""), 401, basip.ErrLogIn)
			wantError(t, e.get(t, bad, ""), 401, basip.ErrLogIn)
			wantJSON(t, e.get(t, good, ""), http.StatusOK)
		})
	}
}

// TestLoginThrottledPerAddress checks that one address is throttled
// across usernames, and that a success of its own does not reset that.
func TestLoginThrottledPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLogin(auth.LoginOptions{}))
	for _, user := range []string{"admin", "manager", "riverside-admin"} {
		wantError(t, e.get(t, loginPath("", user, "wrong"), ""), 401, basip.ErrLogIn)
	}
	// A right password neither counts nor clears the three failures.
	wantJSON(t, e.get(t, loginPath("", "manager", managerPassword), ""), http.StatusOK)
	wantError(t, e.get(t, loginPath("/devices/"+devGarage, "mallory", "x"), ""), 401, basip.ErrLogIn)
	// Four failures from the address: it waits a second, whoever logs in.
	wantThrottled(t, e.get(t, loginPath("", "riverside-admin", siteAdminPass), ""), "1")
}

// TestLoginThrottledPerAccount checks that one username is throttled
// across addresses, which a trusted proxy names in X-Forwarded-For, and
// that X-Forwarded-For from a peer that is not trusted is not believed.
func TestLoginThrottledPerAccount(t *testing.T) {
	t.Parallel()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	t.Run("behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withLogin(auth.LoginOptions{TrustedProxies: loopback}))
		for _, client := range []string{"198.51.100.1", "198.51.100.2", "203.0.113.3"} {
			wantError(t, e.loginFrom(t, loginPath("", "admin", "wrong"), client), 401, basip.ErrLogIn)
		}
		wantThrottled(t, e.loginFrom(t, loginPath("", "admin", adminPassword), "203.0.113.4"), "1")
		// Another username from the same addresses is not throttled.
		wantJSON(t, e.loginFrom(t, loginPath("", "manager", managerPassword), "198.51.100.1"), http.StatusOK)
		// Without the header the client is the proxy itself, whose
		// address none of the failures above was counted against: had
		// they been, its 6th failure here would lock it.
		for range 3 {
			wantError(t, e.loginFrom(t, loginPath("", "riverside-admin", "wrong"), ""), 401, basip.ErrLogIn)
		}
		wantError(t, e.loginFrom(t, loginPath("", "manager", "wrong"), ""), 401, basip.ErrLogIn)
		wantThrottled(t, e.loginFrom(t, loginPath("", "manager", managerPassword), ""), "1")
	})
	t.Run("X-Forwarded-For from an untrusted peer", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withLogin(auth.LoginOptions{}))
		users := []string{"admin", "manager", "riverside-admin", "admin"}
		for i, client := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"} {
			wantError(t, e.loginFrom(t, loginPath("", users[i], "wrong"), client), 401, basip.ErrLogIn)
		}
		// All four came from 127.0.0.1, whatever the header said.
		wantThrottled(t, e.loginFrom(t, loginPath("", "manager", managerPassword), "198.51.100.9"), "1")
	})
}

// TestLoginLongPassword checks that a password over auth.MaxPasswordBytes
// is a failed login like any other, and counts for the throttle.
func TestLoginLongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLogin(auth.LoginOptions{}))
	long := loginPath("/devices/"+devEntrance, "admin", strings.Repeat("p", 2000))
	for range 3 {
		wantError(t, e.get(t, long, ""), 401, basip.ErrLogIn)
	}
	wantThrottled(t, e.get(t, loginPath("", "admin", adminPassword), ""), "1")
}

// TestLoginEventCap checks that one address stores at most its share of
// failed-login events a minute on a device's log, and that the rest are
// counted in one summary event, read back from the store.
func TestLoginEventCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLogin(auth.LoginOptions{
		FailedEventsPerMinute: 2,
		Policy: &auth.ThrottlePolicy{
			Account: auth.KeyPolicy{Limit: 100, Free: 100},
			Address: auth.KeyPolicy{Limit: 5, Free: 5, Lockout: time.Hour},
		},
	}))
	path := loginPath("/devices/"+devGarage, "admin", "wrong")
	for range 5 {
		wantError(t, e.get(t, path, ""), 401, basip.ErrLogIn)
	}
	for range 3 {
		wantThrottled(t, e.get(t, path, ""), "3600")
	}
	stored := func() []string {
		evs, err := e.db.ListEvents(context.Background(), doorlog.EventQuery{Filter: doorlog.EventFilter{
			Scope: doorlog.Scope{All: true}, DeviceIDs: []string{devGarage}, Keys: []string{basip.KeyLoginFailed},
		}})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			out = append(out, string(ev.Model))
		}
		return out
	}
	if got, want := strings.Join(stored(), " "), `{"account_type":"admin"} {"account_type":"admin"}`; got != want {
		t.Fatalf("within the minute: got %s, want %s", got, want)
	}
	// The minute ends; the next attempt writes the summary of the 3
	// failures over the cap and the 3 refusals.
	e.world.Clock.Advance(time.Minute)
	wantThrottled(t, e.get(t, path, ""), "3540")
	want := `{"account_type":"admin"} {"account_type":"admin"} {"count":6,"client":"127.0.0.1"}`
	if got := strings.Join(stored(), " "); got != want {
		t.Fatalf("after the minute: got %s, want %s", got, want)
	}
	// The device's log shows it in BAS-IP's own words.
	b := e.list(t, "/devices/"+devGarage+"/api/v1/log/items?filter_field=name&filter_value="+basip.KeyLoginFailed+"&sort_type=desc", e.admin)
	if len(b.ListItems) != 3 || b.ListItems[0].Info.Text != "Failed login attempt to the web interface: 6 more attempts in the same minute, not logged one by one (from 127.0.0.1)" {
		t.Errorf("got %+v, want the summary first", b.ListItems)
	}
}
