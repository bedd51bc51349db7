package oloid_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/apitest"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/oloid"
)

// withLogin runs the env's logins with opts (the throttle policy
// throttlePolicy unless opts has one).
func withLogin(opts auth.LoginOptions) envOption {
	if opts.Policy == nil {
		opts.Policy = apitest.ThrottlePolicy()
	}
	return withAuth(func(c *auth.Config) { c.Login = opts })
}

func loginBody(user, password string) string {
	return fmt.Sprintf(`{"UserName": %q, "Password": %q}`, user, password)
}

// loginFrom posts a login with X-Forwarded-For set to xff when it is not
// "".
func (e *env) loginFrom(tb testing.TB, body, xff string) response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/login", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantThrottled checks OLOID's 429: {"message": "Too many login attempts"}
// with Retry-After in whole seconds.
func wantThrottled(tb testing.TB, r response, retryAfter string) {
	tb.Helper()
	wantMessage(tb, r, http.StatusTooManyRequests, oloid.MessageTooManyLogins)
	if got := r.header.Get("Retry-After"); got != retryAfter {
		tb.Errorf("Retry-After: got %q, want %q", got, retryAfter)
	}
}

// TestLoginThrottled checks that wrong passwords lead to a 429 with
// Retry-After, then a lockout that ends, and that a right password is
// refused as well while it lasts.
func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	p := apitest.ThrottlePolicy()
	p.Address.Limit = 0 // only the account shows here
	e := newEnv(t, withLogin(auth.LoginOptions{Policy: p}))
	bad, good := loginBody("admin", "wrong"), loginBody("admin", adminPassword)
	for range 3 {
		wantMessage(t, e.post(t, "/login", "", bad), 401, oloid.MessageInvalidCredentials)
	}
	wantThrottled(t, e.post(t, "/login", "", good), "1")
	e.world.Clock.Advance(time.Second)
	// A TenantName the account may not see fails like a wrong password,
	// and counts: the fourth failure locks the account.
	wantMessage(t, e.post(t, "/login", "", fmt.Sprintf(`{"UserName": "admin", "Password": %q, "TenantName": "nowhere"}`, adminPassword)), 401, oloid.MessageInvalidCredentials)
	for range 3 {
		wantThrottled(t, e.post(t, "/login", "", good), "600")
	}
	e.world.Clock.Advance(10 * time.Minute)
	wantJSON(t, e.post(t, "/login", "", good), http.StatusOK)
	// The success forgot the account's failures: two are free again.
	wantMessage(t, e.post(t, "/login", "", bad), 401, oloid.MessageInvalidCredentials)
	wantMessage(t, e.post(t, "/login", "", bad), 401, oloid.MessageInvalidCredentials)
	wantJSON(t, e.post(t, "/login", "", good), http.StatusOK)
}

// TestLoginThrottledPerAddress checks that one address is throttled
// across usernames, and that a success of its own does not reset that.
func TestLoginThrottledPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLogin(auth.LoginOptions{}))
	for _, user := range []string{"admin", "manager", "riverside-admin"} {
		wantMessage(t, e.post(t, "/login", "", loginBody(user, "wrong")), 401, oloid.MessageInvalidCredentials)
	}
	wantJSON(t, e.post(t, "/login", "", loginBody("manager", managerPassword)), http.StatusOK)
	wantMessage(t, e.post(t, "/login", "", loginBody("admin", strings.Repeat("p", 2000))), 401, oloid.MessageInvalidCredentials)
	wantThrottled(t, e.post(t, "/login", "", loginBody("riverside-admin", siteAdminPass)), "1")
}

// TestLoginThrottledPerAccount checks that one username is throttled
// across addresses that a trusted proxy names in X-Forwarded-For.
func TestLoginThrottledPerAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLogin(auth.LoginOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}}))
	for _, client := range []string{"198.51.100.1", "2001:db8::1", "203.0.113.3"} {
		wantMessage(t, e.loginFrom(t, loginBody("admin", "wrong"), client), 401, oloid.MessageInvalidCredentials)
	}
	wantThrottled(t, e.loginFrom(t, loginBody("admin", adminPassword), "203.0.113.4"), "1")
	wantJSON(t, e.loginFrom(t, loginBody("manager", managerPassword), "198.51.100.1"), http.StatusOK)
}

// TestLoginEventCap checks that one address stores at most its share of
// failed-login events a minute, and that the rest are counted in one
// summary event, read back from the store, when the minute is over.
func TestLoginEventCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLogin(auth.LoginOptions{
		FailedEventsPerMinute: 1,
		Policy: &auth.ThrottlePolicy{
			Account: auth.KeyPolicy{Limit: 100, Free: 100},
			Address: auth.KeyPolicy{Limit: 100, Free: 100},
		},
	}))
	for range 4 {
		wantMessage(t, e.post(t, "/login", "", loginBody("manager", "wrong")), 401, oloid.MessageInvalidCredentials)
	}
	e.world.Clock.Advance(time.Minute)
	e.auth.FlushLoginSummaries(context.Background(), false)
	evs, err := e.db.ListEvents(context.Background(), doorlog.EventQuery{Filter: doorlog.EventFilter{
		Scope: doorlog.Scope{All: true}, Keys: []string{oloid.KeyLoginFailed},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, string(ev.Model))
	}
	if want := `{"account_type":"manager"} {"count":3,"client":"127.0.0.1"}`; strings.Join(got, " ") != want {
		t.Errorf("stored: got %s, want %s", strings.Join(got, " "), want)
	}
	// OLOID shows the summary as one more LOGIN_FAILED activity.
	if got := e.loginEvents(t)["LOGIN_FAILED"]; len(got) != 2 {
		t.Errorf("LOGIN_FAILED details: got %v, want 2", got)
	}
}
