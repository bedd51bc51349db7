package web_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/doorlog/doorlog/internal/apitest"
	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// testClock is a clock that stands still until a test moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// throttled is the real server on a loopback socket, on a clock of the
// test's, with a small login policy: a username allows 2 failures, waits
// 1 s after the 3rd and is locked for 10 minutes at the 4th; an address
// allows 3, waits after the 4th and 5th, and is locked at the 6th.
// Loopback is a trusted proxy, so X-Forwarded-For names the client.
type throttled struct {
	app   *app.App
	data  string
	url   string
	clock *testClock
	stop  sync.Once
}

// close stops the server and closes the app, once.
func (s *throttled) close(t *testing.T) {
	s.stop.Do(func() {
		if err := s.app.Close(); err != nil {
			t.Errorf("close the app: %v", err)
		}
	})
}

func newThrottled(t *testing.T, eventsPerMinute int) *throttled {
	t.Helper()
	clock := &testClock{now: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	data := t.TempDir()
	a, err := app.Open(context.Background(), app.Config{Data: data, Name: "test", Version: "test", Now: clock.Now, Login: auth.LoginOptions{
		Policy:                apitest.ThrottlePolicy(),
		TrustedProxies:        []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
		FailedEventsPerMinute: eventsPerMinute,
	}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	s := &throttled{app: a, data: data, url: ts.URL, clock: clock}
	t.Cleanup(func() {
		ts.Close()
		s.close(t)
	})
	for _, u := range []string{adminUser, "ann", "bob"} {
		// bcrypt's lowest cost, over the password's hex MD5 as
		// auth.HashPassword does: bcrypt reads the cost from the hash.
		sum := md5.Sum([]byte(u + " password 1"))
		hash, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(sum[:])), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Store.CreateAccount(context.Background(), &doorlog.Account{Username: u, PasswordHash: string(hash), Role: doorlog.RoleAdmin, SiteIDs: []string{}}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

type answer struct {
	status     int
	retryAfter string
	body       struct{ Error, Code string }
}

// login posts the page's login form, from client (X-Forwarded-For) when
// it is not "".
func (s *throttled) login(t *testing.T, user, pass, client string) answer {
	t.Helper()
	req, err := http.NewRequest("POST", s.url+"/web/login", strings.NewReader(url.Values{"username": {user}, "password": {pass}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client != "" {
		req.Header.Set("X-Forwarded-For", client)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(b, &a.body); err != nil {
			t.Fatalf("got %d %s, want a JSON error", resp.StatusCode, b)
		}
	}
	return a
}

func wantStatus(t *testing.T, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("got %d %+v, want %d", a.status, a.body, status)
	}
}

// wantThrottled checks the page's 429: the native shape, with a message
// the page shows as it is, and Retry-After.
func wantThrottled(t *testing.T, a answer, retryAfter, message string) {
	t.Helper()
	if a.status != http.StatusTooManyRequests || a.body.Code != "too_many_requests" || a.body.Error != message || a.retryAfter != retryAfter {
		t.Fatalf("got %d %+v Retry-After %q, want 429 {%q, too_many_requests} Retry-After %s", a.status, a.body, a.retryAfter, message, retryAfter)
	}
}

func TestLoginThrottled(t *testing.T) {
	s := newThrottled(t, 0)
	const good = "root password 1"
	t.Run("per account, across addresses", func(t *testing.T) {
		for _, client := range []string{"198.51.100.1", "198.51.100.2", "2001:db8::3"} {
			wantStatus(t, s.login(t, adminUser, "wrong", client), 401)
		}
		wantThrottled(t, s.login(t, adminUser, good, "203.0.113.9"), "1", "Too many failed login attempts. Try again in 1 second.")
		s.clock.Advance(time.Second)
		wantStatus(t, s.login(t, adminUser, "wrong", "203.0.113.9"), 401)
		wantThrottled(t, s.login(t, adminUser, good, "203.0.113.10"), "600", "Too many failed login attempts. Try again in 10 minutes.")
		s.clock.Advance(9 * time.Minute)
		wantThrottled(t, s.login(t, adminUser, good, "203.0.113.10"), "60", "Too many failed login attempts. Try again in 60 seconds.")
		s.clock.Advance(time.Minute)
		wantStatus(t, s.login(t, adminUser, good, "203.0.113.10"), 200)
		// The success forgot the failures: two are free again.
		wantStatus(t, s.login(t, adminUser, "wrong", "203.0.113.11"), 401)
		wantStatus(t, s.login(t, adminUser, "wrong", "203.0.113.12"), 401)
		wantStatus(t, s.login(t, adminUser, good, "203.0.113.13"), 200)
	})
	t.Run("per address, across usernames", func(t *testing.T) {
		const client = "192.0.2.50"
		wantStatus(t, s.login(t, "ann", "wrong", client), 401)
		wantStatus(t, s.login(t, "bob", "wrong", client), 401)
		wantStatus(t, s.login(t, "nobody", "wrong", client), 401)
		// A success neither counts nor clears the address's failures.
		wantStatus(t, s.login(t, "ann", "ann password 1", client), 200)
		wantStatus(t, s.login(t, "bob", strings.Repeat("x", 2000), client), 401)
		wantThrottled(t, s.login(t, "bob", "bob password 1", client), "1", "Too many failed login attempts. Try again in 1 second.")
		// Other addresses are not throttled.
		wantStatus(t, s.login(t, "bob", "bob password 1", "192.0.2.51"), 200)
	})
}

// TestLoginEventCap checks the cap of failed-login events through the
// server's group-commit writer, and that a stop stores the summary of the
// minute still counting.
func TestLoginEventCap(t *testing.T) {
	s := newThrottled(t, 2)
	// Six failures from one IPv6 /64, as fast as the address's waits
	// allow: the sixth locks it.
	for i, step := range []struct {
		wait   time.Duration
		user   string
		client string
	}{
		{0, "ann", "2001:db8:7:7::1"}, {0, "bob", "[2001:db8:7:7::2]:4431"}, {0, "root", "2001:db8:7:7::3"},
		{0, "ann", "2001:db8:7:7::4"}, {time.Second, "bob", "2001:db8:7:7::5"}, {2 * time.Second, "root", "2001:db8:7:7::6"},
	} {
		s.clock.Advance(step.wait)
		if a := s.login(t, step.user, "wrong", step.client); a.status != 401 {
			t.Fatalf("failure %d: got %d %+v, want 401", i+1, a.status, a.body)
		}
	}
	// The address is locked, and a refusal counts too.
	wantThrottled(t, s.login(t, "ann", "ann password 1", "2001:db8:7:7::7"), "600", "Too many failed login attempts. Try again in 10 minutes.")
	failed := func(db doorlog.Store) []string {
		t.Helper()
		evs, err := db.ListEvents(context.Background(), doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: doorlog.Scope{All: true}, Keys: []string{auth.KeyLoginFailed}}})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			out = append(out, string(ev.Model))
		}
		return out
	}
	if got, want := strings.Join(failed(s.app.Store), " "), `{"account_type":"admin"} {"account_type":"admin"}`; got != want {
		t.Fatalf("within the minute: got %s, want %s", got, want)
	}
	// A stop stores the summary of the minute still counting: 4 failures
	// over the cap and the refusal.
	s.close(t)
	db, err := app.OpenStore(context.Background(), s.data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := `{"account_type":"admin"} {"account_type":"admin"} {"count":5,"client":"2001:db8:7:7::/64"}`
	if got := strings.Join(failed(db), " "); got != want {
		t.Errorf("after the stop: got %s, want %s", got, want)
	}
}
