package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sqlite"
)

// clock is a settable clock for the tests: nothing ever sleeps.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// loginWorld is a store with accounts, and a Service over it whose logins
// are throttled by a small policy and recorded in the store.
type loginWorld struct {
	db    *sqlite.DB
	clock *clock
	svc   *auth.Service
	// checks counts the password checks (bcrypt comparisons) made.
	checks atomic.Int64
}

// testPolicy is small, so that tests reach every stage in a few attempts:
// an account allows 2 failures, then waits 1 s and 2 s, and the 5th locks
// it for 10 minutes; an address allows 4, then 1 s, 2 s, 4 s, and the 8th
// locks it.
func testPolicy() *auth.ThrottlePolicy {
	return &auth.ThrottlePolicy{
		Account:    auth.KeyPolicy{Limit: 5, Free: 2, BaseDelay: time.Second, MaxDelay: time.Minute, Lockout: 10 * time.Minute, Forget: 10 * time.Minute},
		Address:    auth.KeyPolicy{Limit: 8, Free: 4, BaseDelay: time.Second, MaxDelay: time.Minute, Lockout: 10 * time.Minute, Forget: time.Hour},
		MaxEntries: 1000,
	}
}

// fastHash is HashPassword at bcrypt's lowest cost, so that the many
// logins of these tests stay fast under the race detector; bcrypt reads
// the cost from the hash, so they are checked like any other.
func fastHash(tb testing.TB, password string) string {
	tb.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(md5Hex(password)), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	return string(h)
}

func newLoginWorld(tb testing.TB, opts auth.LoginOptions, appender func(*sqlite.DB) auth.Appender, logger *slog.Logger) *loginWorld {
	tb.Helper()
	ctx := context.Background()
	db := openStore(tb)
	w := &loginWorld{db: db, clock: &clock{now: time.Date(2025, 1, 1, 12, 0, 30, 0, time.UTC)}}
	if err := db.CreateSite(ctx, &doorlog.Site{ID: "north", Name: "North", CreatedAt: w.clock.Now()}); err != nil {
		tb.Fatal(err)
	}
	for _, d := range []string{devA, devB} {
		if err := db.CreateDevice(ctx, &doorlog.Device{ID: d, SiteID: "north", Name: "Gate", CreatedAt: w.clock.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	w.addAccounts(tb, "")
	cat, err := catalog.New()
	if err != nil {
		tb.Fatal(err)
	}
	if opts.Policy == nil {
		opts.Policy = testPolicy()
	}
	var app auth.Appender = db
	if appender != nil {
		app = appender(db)
	}
	w.svc = auth.NewService(auth.Config{
		Store: db, Now: w.clock.Now, Appender: app, Logger: logger, Login: opts,
		Classify: func(key string) (doorlog.Category, doorlog.Priority) {
			e := cat.Entry(key)
			return e.Category, e.Priority
		},
	})
	auth.SetDummyHash(w.svc, fastHash(tb, "dummy"))
	auth.SetPasswordCheck(w.svc, func(hash, given string) bool {
		w.checks.Add(1)
		return auth.CheckPassword(hash, given)
	})
	return w
}

// addAccounts creates the accounts root, ann and bob, each name followed
// by suffix.
func (w *loginWorld) addAccounts(tb testing.TB, suffix string) {
	tb.Helper()
	for _, a := range []struct{ user, pass string }{{"root", "open sesame"}, {"ann", "ann password"}, {"bob", "bob password"}} {
		if err := w.db.CreateAccount(context.Background(), &doorlog.Account{Username: a.user + suffix, PasswordHash: fastHash(tb, a.pass), Role: doorlog.RoleAdmin, SiteIDs: []string{}, CreatedAt: w.clock.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
}

const (
	devA = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"
	devB = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
)

// request is an HTTP request from addr.
func request(addr string) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1/login", nil)
	r.RemoteAddr = addr
	return r
}

func (w *loginWorld) login(tb testing.TB, user, pass, addr string) (*auth.LoginResult, error) {
	tb.Helper()
	return w.svc.Login(context.Background(), auth.LoginRequest{Username: user, Password: pass, Request: request(addr)})
}

// outcome names a login's result: "ok", "401", "429 <seconds>" or the
// error.
func outcome(res *auth.LoginResult, err error) string {
	if d := doorlog.RetryAfter(err); d > 0 {
		s := max(1, int(math.Ceil(d.Seconds())))
		if doorlog.ErrorCode(err) != doorlog.ETOOMANY {
			return "a throttled error with code " + doorlog.ErrorCode(err)
		}
		return "429 " + time.Duration(s*int(time.Second)).String()
	}
	switch {
	case err == nil && res != nil && res.Secret != "":
		return "ok"
	case errors.Is(err, auth.ErrLogin):
		return "401"
	}
	return "error " + doorlog.ErrorMessage(err)
}

// storedLogins returns the login events in the store, oldest first.
func storedLogins(tb testing.TB, db *sqlite.DB) []doorlog.Event {
	tb.Helper()
	evs, err := db.ListEvents(context.Background(), doorlog.EventQuery{Filter: doorlog.EventFilter{
		Scope: doorlog.Scope{All: true}, Keys: []string{auth.KeyLoginSucceeded, auth.KeyLoginFailed},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}

func TestLogin(t *testing.T) {
	ctx := context.Background()
	w := newLoginWorld(t, auth.LoginOptions{}, nil, nil)
	res, err := w.login(t, "root", md5Hex("open sesame"), "192.0.2.1:5000")
	if err != nil || res.Account.Role != doorlog.RoleAdmin {
		t.Fatalf("got %v, %v, want a login as admin", res, err)
	}
	tok, err := w.svc.Authenticate(ctx, res.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Username != "root" || !tok.Scope().All || !tok.ExpiresAt.Equal(w.clock.Now().Add(auth.LoginTTL)) || tok.ID != res.Token.ID {
		t.Fatalf("got token %+v, want root's, every site, expiring after LoginTTL", tok)
	}
	if _, err := w.login(t, "root", "wrong", "192.0.2.1:5000"); !errors.Is(err, auth.ErrLogin) {
		t.Fatalf("got %v for a wrong password, want ErrLogin", err)
	}
	if _, err := w.login(t, "nobody", "open sesame", "192.0.2.1:5000"); !errors.Is(err, auth.ErrLogin) {
		t.Fatalf("got %v for an unknown user, want ErrLogin", err)
	}
	var models []string
	for _, ev := range storedLogins(t, w.db) {
		models = append(models, ev.Key+" "+string(ev.Model))
	}
	want := []string{auth.KeyLoginSucceeded + ` {"account_type":"admin"}`, auth.KeyLoginFailed + ` {"account_type":"admin"}`, auth.KeyLoginFailed + ` {}`}
	if strings.Join(models, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored events:\ngot  %q\nwant %q", models, want)
	}
}

// TestLoginAllow checks that a refusal by the API's own check (OLOID's
// tenant) fails like a wrong password, issues no token and counts.
func TestLoginAllow(t *testing.T) {
	w := newLoginWorld(t, auth.LoginOptions{}, nil, nil)
	deny := func(context.Context, *doorlog.Account) (bool, error) { return false, nil }
	for range 3 {
		_, err := w.svc.Login(context.Background(), auth.LoginRequest{Username: "root", Password: "open sesame", Request: request("192.0.2.1:1"), Allow: deny})
		if !errors.Is(err, auth.ErrLogin) {
			t.Fatalf("got %v, want ErrLogin", err)
		}
	}
	// Three failures: past the two free ones, so the next is delayed.
	if got := outcome(w.login(t, "root", "open sesame", "192.0.2.1:1")); got != "429 1s" {
		t.Errorf("after three refusals: got %s, want 429 1s", got)
	}
}

// TestLongPasswordNotHashed checks that a password over MaxPasswordBytes is
// refused without any bcrypt comparison, and counts as a failure.
func TestLongPasswordNotHashed(t *testing.T) {
	w := newLoginWorld(t, auth.LoginOptions{}, nil, nil)
	long := strings.Repeat("x", 2000)
	for i, user := range []string{"root", "nobody"} {
		if _, err := w.login(t, user, long, "192.0.2.1:1"); !errors.Is(err, auth.ErrLogin) {
			t.Fatalf("%s: got %v, want ErrLogin", user, err)
		}
		if n := w.checks.Load(); n != 0 {
			t.Fatalf("after %d long passwords: got %d password checks, want 0", i+1, n)
		}
	}
	if _, err := w.login(t, "root", strings.Repeat("x", auth.MaxPasswordBytes), "192.0.2.1:1"); !errors.Is(err, auth.ErrLogin) {
		t.Fatalf("a password of MaxPasswordBytes: got %v, want ErrLogin", err)
	}
	if n := w.checks.Load(); n != 1 {
		t.Errorf("a password of MaxPasswordBytes: got %d checks, want 1", n)
	}
	// root has 2 failures now (the long one counted), which is all the
	// free ones: one more long password is delayed like any failure.
	if _, err := w.login(t, "root", long, "192.0.2.1:1"); !errors.Is(err, auth.ErrLogin) {
		t.Fatalf("got %v, want ErrLogin", err)
	}
	if got := outcome(w.login(t, "root", "open sesame", "192.0.2.1:1")); got != "429 1s" {
		t.Errorf("after three failures, one a long password: got %s, want 429 1s", got)
	}
	if _, err := auth.HashPassword(strings.Repeat("x", auth.MaxPasswordBytes+1)); doorlog.ErrorCode(err) != doorlog.EINVALID {
		t.Errorf("HashPassword over MaxPasswordBytes: got %v, want EINVALID", err)
	}
}

// TestLoginThrottle walks the stages of the policy for one account and for
// one address, and what a success resets.
func TestLoginThrottle(t *testing.T) {
	type step struct {
		advance    time.Duration
		user, pass string
		addr       string
		want       string
	}
	const good = "open sesame"
	tests := []struct {
		name  string
		steps []step
	}{
		{"account: free, doubling delays, lockout and its end", []step{
			{0, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", "bad", "192.0.2.2:1", "401"},
			{0, "root", "bad", "192.0.2.3:1", "401"}, // 3rd: waits 1 s
			{0, "root", good, "192.0.2.4:1", "429 1s"},
			{time.Second, "root", "bad", "192.0.2.4:1", "401"}, // 4th: waits 2 s
			{time.Second, "root", good, "192.0.2.5:1", "429 1s"},
			{time.Second, "root", "bad", "192.0.2.5:1", "401"}, // 5th: locked 10 min
			{0, "root", good, "192.0.2.6:1", "429 10m0s"},
			{9 * time.Minute, "root", good, "192.0.2.6:1", "429 1m0s"},
			// Other accounts and addresses are not affected.
			{0, "ann", "ann password", "192.0.2.6:1", "ok"},
			{time.Minute, "root", good, "192.0.2.6:1", "ok"},
			// The success forgot root's failures: two are free again.
			{0, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", good, "192.0.2.1:1", "ok"},
		}},
		{"refused attempts do not count", []step{
			{0, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", "bad", "192.0.2.1:1", "429 1s"},
			{0, "root", "bad", "192.0.2.1:1", "429 1s"},
			{0, "root", "bad", "192.0.2.1:1", "429 1s"},
			{time.Second, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", "bad", "192.0.2.1:1", "429 2s"},
		}},
		{"failures are forgotten over time", []step{
			{0, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", "bad", "192.0.2.1:1", "401"},
			// One failure drains per 10 minutes: after 20, one is left.
			{20 * time.Minute, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", "bad", "192.0.2.1:1", "401"},
			{0, "root", good, "192.0.2.1:1", "429 1s"},
		}},
		{"address: across usernames, and a success does not reset it", []step{
			{0, "root", "bad", "198.51.100.7:1", "401"},
			{0, "ann", "bad", "198.51.100.7:2", "401"},
			{0, "bob", "bad", "198.51.100.7:3", "401"},
			{0, "mallory", "bad", "198.51.100.7:4", "401"},
			// A valid account of the attacker's own neither counts nor
			// clears the address's four failures.
			{0, "ann", "ann password", "198.51.100.7:5", "ok"},
			{0, "eve", "bad", "198.51.100.7:6", "401"}, // 5th: waits 1 s
			{0, "ann", "ann password", "198.51.100.7:5", "429 1s"},
			{time.Second, "trent", "bad", "198.51.100.7:6", "401"},
			{2 * time.Second, "carol", "bad", "198.51.100.7:6", "401"},
			{4 * time.Second, "dave", "bad", "198.51.100.7:6", "401"}, // 8th: locked
			{0, "root", good, "198.51.100.7:7", "429 10m0s"},
			// Another address is free; the same /64 of IPv6 is one.
			{0, "root", good, "198.51.100.8:1", "ok"},
		}},
		{"IPv6 by /64", []step{
			{0, "u1", "bad", "[2001:db8:1:2::1]:1", "401"},
			{0, "u2", "bad", "[2001:db8:1:2::2]:1", "401"},
			{0, "u3", "bad", "[2001:db8:1:2:ffff::3]:1", "401"},
			{0, "u4", "bad", "[2001:db8:1:2::4]:1", "401"},
			{0, "u5", "bad", "[2001:db8:1:2::5]:1", "401"},
			{0, "root", good, "[2001:db8:1:2::6]:1", "429 1s"},
			{0, "root", good, "[2001:db8:1:3::6]:1", "ok"},
		}},
	}
	// One service for every case (each makes a bcrypt hash of the default
	// cost, which is slow under the race detector): each case has its own
	// accounts, and its addresses are moved into a network of its own, so
	// the cases share no key.
	w := newLoginWorld(t, auth.LoginOptions{}, nil, nil)
	for c, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suffix := fmt.Sprintf("-%d", c)
			w.addAccounts(t, suffix)
			for i, s := range tt.steps {
				w.clock.Advance(s.advance)
				addr := caseAddr(s.addr, c)
				if got := outcome(w.login(t, s.user+suffix, s.pass, addr)); got != s.want {
					t.Fatalf("step %d (%s from %s): got %s, want %s", i+1, s.user+suffix, addr, got, s.want)
				}
			}
		})
	}
}

// caseAddr moves an address of the table of TestLoginThrottle into a
// network of case c's own: the second byte of an IPv4 address, the third
// group of an IPv6 one.
func caseAddr(addr string, c int) string {
	if strings.HasPrefix(addr, "[") {
		return strings.Replace(addr, "2001:db8:", fmt.Sprintf("2001:db8:%x", c), 1)
	}
	first, rest, _ := strings.Cut(addr, ".")
	_, rest, _ = strings.Cut(rest, ".")
	return fmt.Sprintf("%s.%d.%s", first, c, rest)
}

// TestLoginThrottleBeforeCheck checks that a refused attempt checks no
// password, even the right one.
func TestLoginThrottleBeforeCheck(t *testing.T) {
	w := newLoginWorld(t, auth.LoginOptions{}, nil, nil)
	for range 3 {
		w.login(t, "root", "bad", "192.0.2.1:1")
	}
	before := w.checks.Load()
	for range 50 {
		if got := outcome(w.login(t, "root", "open sesame", "192.0.2.1:1")); got != "429 1s" {
			t.Fatalf("got %s, want 429 1s", got)
		}
	}
	if n := w.checks.Load() - before; n != 0 {
		t.Errorf("got %d password checks while throttled, want 0", n)
	}
}

// TestLoginConcurrentGuesses checks that a burst of concurrent guesses
// cannot all pass before their failures are counted.
func TestLoginConcurrentGuesses(t *testing.T) {
	w := newLoginWorld(t, auth.LoginOptions{}, nil, nil)
	var wg sync.WaitGroup
	var checked atomic.Int64
	for range 40 {
		wg.Go(func() {
			if _, err := w.login(t, "root", "bad", "192.0.2.1:1"); errors.Is(err, auth.ErrLogin) {
				checked.Add(1)
			}
		})
	}
	wg.Wait()
	// The third failure delays the account, and no attempt passes after it.
	if n := checked.Load(); n != 3 {
		t.Errorf("got %d of 40 concurrent guesses checked, want 3", n)
	}
}

// TestLoginEventCap checks the cap on failed-login events per client
// address and minute, and the summary event that counts the rest.
func TestLoginEventCap(t *testing.T) {
	ctx := context.Background()
	opts := auth.LoginOptions{FailedEventsPerMinute: 3, Policy: &auth.ThrottlePolicy{
		// Generous, so the cap is what shows; the address locks at 20.
		Account: auth.KeyPolicy{Limit: 1000, Free: 1000},
		Address: auth.KeyPolicy{Limit: 20, Free: 20, Lockout: time.Hour},
	}}
	w := newLoginWorld(t, opts, nil, nil)
	dev := &doorlog.Device{ID: devA, SiteID: "north"}
	attempt := func(user, pass, addr string, d *doorlog.Device) error {
		_, err := w.svc.Login(ctx, auth.LoginRequest{Username: user, Password: pass, Request: request(addr), Device: d})
		return err
	}
	// Minute one (12:00:30): 25 wrong passwords from one address through
	// device A: 3 stored, 17 counted, then 5 refused by the throttle and
	// counted too. Another address keeps its own share.
	for i := range 25 {
		w.clock.Advance(time.Second)
		if err := attempt("u"+string(rune('a'+i)), "bad", "203.0.113.9:1", dev); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	for range 2 {
		attempt("root", "bad", "203.0.113.10:1", nil)
	}
	// A success is always stored.
	if err := attempt("root", "open sesame", "203.0.113.10:1", nil); err != nil {
		t.Fatal(err)
	}
	type row struct {
		key, model, device string
	}
	rows := func() []row {
		var out []row
		for _, ev := range storedLogins(t, w.db) {
			out = append(out, row{ev.Key, string(ev.Model), ev.DeviceID})
		}
		return out
	}
	want := []row{
		{auth.KeyLoginFailed, `{}`, devA}, {auth.KeyLoginFailed, `{}`, devA}, {auth.KeyLoginFailed, `{}`, devA},
		{auth.KeyLoginFailed, `{"account_type":"admin"}`, ""}, {auth.KeyLoginFailed, `{"account_type":"admin"}`, ""},
		{auth.KeyLoginSucceeded, `{"account_type":"admin"}`, ""},
	}
	if got := rows(); !equalRows(got, want) {
		t.Fatalf("within the minute:\ngot  %v\nwant %v", got, want)
	}
	// The minute is not over: a flush writes nothing yet.
	w.svc.FlushLoginSummaries(ctx, false)
	if got := rows(); len(got) != len(want) {
		t.Fatalf("a flush within the minute: got %d events, want %d", len(got), len(want))
	}
	// The next minute's first attempt writes the summary first: 22
	// attempts, all through device A, so the summary is A's.
	w.clock.Advance(time.Minute)
	attempt("ua", "bad", "203.0.113.9:1", nil)
	want = append(want,
		row{auth.KeyLoginFailed, `{"count":22,"client":"203.0.113.9"}`, devA},
	)
	if got := rows(); !equalRows(got, want) {
		t.Fatalf("at the next minute's attempt:\ngot  %v\nwant %v", got, want)
	}
	// Still locked: refused through both devices and the root, counted in
	// a summary that is the server's; the flush after the minute writes
	// it.
	attempt("ua", "bad", "203.0.113.9:1", &doorlog.Device{ID: devB, SiteID: "north"})
	attempt("ua", "bad", "203.0.113.9:1", dev)
	w.clock.Advance(time.Minute)
	w.svc.FlushLoginSummaries(ctx, false)
	want = append(want, row{auth.KeyLoginFailed, `{"count":3,"client":"203.0.113.9"}`, ""})
	if got := rows(); !equalRows(got, want) {
		t.Fatalf("after the flush:\ngot  %v\nwant %v", got, want)
	}
	// A stop writes the current minute's summary too.
	attempt("ua", "bad", "203.0.113.9:1", nil)
	w.svc.FlushLoginSummaries(ctx, true)
	w.svc.FlushLoginSummaries(ctx, true)
	want = append(want, row{auth.KeyLoginFailed, `{"count":1,"client":"203.0.113.9"}`, ""})
	if got := rows(); !equalRows(got, want) {
		t.Fatalf("after the final flush:\ngot  %v\nwant %v", got, want)
	}
	// Every event is classified by the catalog.
	for _, ev := range storedLogins(t, w.db) {
		if ev.Category != doorlog.CategorySystem {
			t.Errorf("event %s: got category %s, want system", ev.Key, ev.Category)
		}
	}
}

func equalRows[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLoginEventStoreFails checks that a login answers when its event
// cannot be stored, and that a lost summary's count is logged.
func TestLoginEventStoreFails(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	opts := auth.LoginOptions{FailedEventsPerMinute: 1}
	w := newLoginWorld(t, opts, func(db *sqlite.DB) auth.Appender {
		wr := ingest.NewWriter(db, logger, ingest.WriterOptions{})
		wr.Close() // every append now fails with EUNAVAILABLE
		return wr
	}, logger)
	if got := outcome(w.login(t, "root", "open sesame", "192.0.2.1:1")); got != "ok" {
		t.Fatalf("got %s, want ok", got)
	}
	for range 3 {
		w.login(t, "root", "bad", "192.0.2.1:1")
	}
	w.svc.FlushLoginSummaries(context.Background(), true)
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "auth: store login event"); n != 3 {
		t.Errorf("log: got %d failures to store, want 3 (success, failure, summary):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "summarized_attempts=2") {
		t.Errorf("log: got %q, want the summary's count of 2", logs.String())
	}
	if strings.Contains(logs.String(), "open sesame") {
		t.Errorf("the log holds the password")
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestSummaryEvent checks the summary event's shape and its text.
func TestSummaryEvent(t *testing.T) {
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 12, 0, 0, 123456789, time.UTC)
	ev := auth.SummaryEvent(at, 57, "203.0.113.9", nil)
	var m map[string]any
	if err := json.Unmarshal(ev.Model, &m); err != nil || len(m) != 2 || m["count"] != float64(57) || m["client"] != "203.0.113.9" {
		t.Fatalf("got model %s, want count and client", ev.Model)
	}
	if ev.Key != auth.KeyLoginFailed || ev.DeviceID != "" || !ev.Time.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("got %+v", ev)
	}
	for _, tt := range []struct {
		locale, model, want string
	}{
		{"en", `{"count":57,"client":"203.0.113.9"}`, "Failed login attempt to the web interface: 57 more attempts in the same minute, not logged one by one (from 203.0.113.9)"},
		{"en", `{"count":1}`, "Failed login attempt to the web interface: 1 more attempt in the same minute, not logged one by one"},
		{"en", `{"account_type":"admin"}`, "Failed login attempt to the web interface (admin)"},
		{"ru", `{"count":5,"client":"2001:db8::/64"}`, "Неудачная попытка входа в веб-интерфейс: ещё 5 попыток за ту же минуту, без отдельных записей (с адреса 2001:db8::/64)"},
	} {
		if got := cat.Text(tt.locale, auth.KeyLoginFailed, json.RawMessage(tt.model)); got != tt.want {
			t.Errorf("%s %s:\ngot  %q\nwant %q", tt.locale, tt.model, got, tt.want)
		}
	}
}

// TestLoginEventCapAcrossAddresses has a client with many addresses (a
// /48 is 65,536 /64s) guess once from each: past the server-wide share a
// minute (60 times the per-address cap), failures are no longer stored one
// by one nor summarized per address, but counted together in one summary,
// so that no number of addresses fills a device's log.
func TestLoginEventCapAcrossAddresses(t *testing.T) {
	ctx := context.Background()
	opts := auth.LoginOptions{FailedEventsPerMinute: 2, Policy: &auth.ThrottlePolicy{
		Account: auth.KeyPolicy{Limit: 100000, Free: 100000},
		Address: auth.KeyPolicy{Limit: 1000, Free: 1000},
	}}
	w := newLoginWorld(t, opts, nil, nil)
	dev := &doorlog.Device{ID: devA, SiteID: "north"}
	const addresses = 500
	for i := range addresses {
		addr := fmt.Sprintf("[2001:db8:%x:%x::1]:4000", i/256, i%256)
		for range 3 {
			if _, err := w.svc.Login(ctx, auth.LoginRequest{Username: "root", Password: "bad", Request: request(addr), Device: dev}); err == nil {
				t.Fatal("a wrong password logged in")
			}
		}
	}
	w.clock.Advance(time.Minute)
	w.svc.FlushLoginSummaries(ctx, false)
	var single, summaries int
	var counted int64
	for _, ev := range storedLogins(t, w.db) {
		var m struct {
			Count int64 `json:"count"`
		}
		_ = json.Unmarshal(ev.Model, &m)
		if m.Count == 0 {
			single++
		} else {
			summaries++
			counted += m.Count
		}
	}
	// 120 stored one by one (the share of 60 × 2), by 60 addresses; the
	// third attempt of each of the first 59 is summarized on its own (the
	// 60th's came once the share was spent); everything after the share
	// is in one summary: 60 summaries.
	if single != 120 || summaries != 60 {
		t.Errorf("got %d failed logins stored one by one and %d summaries, want 120 and 60", single, summaries)
	}
	if want := int64(addresses*3 - 120); counted != want {
		t.Errorf("the summaries count %d attempts, want %d (every attempt not stored one by one)", counted, want)
	}
}
