package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/browsertest"
	"github.com/doorlog/doorlog/internal/doorlog"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write docs/screenshots/*.png from the browser test")

// The browser test's world: two sites, three devices, an admin and a
// manager of the north site.
const (
	siteNorth = "north"
	siteSouth = "south"
	devGate   = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"
	devLobby  = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	devGarage = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
	// devService has a week of ordinary traffic behind it, so the charts
	// have something to draw; the steps below never filter on it.
	devService = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"

	adminUser, adminPass     = "root", "root password 1"
	managerUser, managerPass = "ann", "ann password 12"
)

// world is the real server with its data.
type world struct {
	app   *app.App
	url   string
	token string // an admin's bearer token, for ingesting
	seq   int
	// noStats hides /v1/stats/..., as an older server would.
	noStats atomic.Bool
	// offline drops every request unanswered, as a server that is down
	// (or a network that is) would.
	offline atomic.Bool

	mu sync.Mutex
	// streams end the live streams served so far; see dropStreams.
	streams []context.CancelFunc
}

// dropStreams ends every live stream the server is serving, as a network
// drop or a proxy's timeout would.
func (w *world) dropStreams() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, cancel := range w.streams {
		cancel()
	}
	w.streams = nil
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	// Logins: the default policy, but a username is locked at its second
	// failure, so the page's answer to a throttled login shows quickly.
	policy := auth.DefaultThrottlePolicy()
	policy.Account.Limit, policy.Account.Free = 2, 1
	a, err := app.Open(ctx, app.Config{Data: t.TempDir(), Name: "browser-test", Version: "test", Login: auth.LoginOptions{Policy: &policy}})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{app: a}
	// With noStats set, the server answers the aggregation endpoints as a
	// doorlog without them would: the page must say so, not break.
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.offline.Load() {
			panic(http.ErrAbortHandler) // the connection is cut, no answer
		}
		if w.noStats.Load() && strings.HasPrefix(r.URL.Path, "/v1/stats/") {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusNotFound)
			_, _ = rw.Write([]byte(`{"error":"no such endpoint","code":"not_found"}`))
			return
		}
		if r.URL.Path == "/v1/events/stream" {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			w.mu.Lock()
			w.streams = append(w.streams, cancel)
			w.mu.Unlock()
			r = r.WithContext(ctx)
		}
		a.Handler().ServeHTTP(rw, r)
	}))
	t.Cleanup(func() {
		a.Broker.Close() // ends the page's live streams, so Close does not wait
		ts.Close()
		a.Close()
	})
	w.url = ts.URL
	for _, s := range []doorlog.Site{{ID: siteNorth, Name: "North Court"}, {ID: siteSouth, Name: "South Tower"}} {
		if err := a.Store.CreateSite(ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []doorlog.Device{
		{ID: devGate, SiteID: siteNorth, Name: "North gate", Model: "AV-07T"},
		{ID: devLobby, SiteID: siteNorth, Name: "Lobby door", Model: "AA-12FB"},
		{ID: devGarage, SiteID: siteSouth, Name: "Garage barrier", Model: "CU-01"},
		{ID: devService, SiteID: siteSouth, Name: "Service door", Model: "AV-02IP"},
	} {
		if err := a.Store.CreateDevice(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	for _, acct := range []struct {
		user, pass string
		role       doorlog.Role
		sites      []string
	}{{adminUser, adminPass, doorlog.RoleAdmin, []string{}}, {managerUser, managerPass, doorlog.RoleManager, []string{siteNorth}}} {
		hash, err := auth.HashPassword(acct.pass)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Store.CreateAccount(ctx, &doorlog.Account{Username: acct.user, PasswordHash: hash, Role: acct.role, SiteIDs: acct.sites}); err != nil {
			t.Fatal(err)
		}
	}
	if w.token, _, err = a.Auth.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	// How events reach two of the devices: the lobby door is read from a
	// panel that does not answer, the gate has a panel address of its own.
	lobby, _ := a.Store.FindDevice(ctx, devLobby)
	lobby.Pull = &doorlog.PullSource{URL: "http://127.0.0.1:1", Username: "admin", SealedPassword: a.Secrets.Seal("123456")}
	gate, _ := a.Store.FindDevice(ctx, devGate)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	gate.Listen = ln.Addr().String()
	ln.Close()
	for _, d := range []*doorlog.Device{lobby, gate} {
		if err := a.Store.UpdateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.StartPanels(ctx); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	card := func(owner string) map[string]any {
		return map[string]any{"number": 1001, "type": "card", "owner": owner, "apartment_address": "Flat 12", "lock": 1}
	}
	type ev struct {
		dev, key string
		model    map[string]any
	}
	var evs []ev
	for i := range 3 {
		evs = append(evs, ev{devGate, "access_granted_by_valid_identifier", card(fmt.Sprintf("Ann Lee %d", i))})
	}
	evs = append(evs,
		ev{devGate, "access_denied_by_unknown_card", map[string]any{"card": "777"}},
		ev{devGate, "access_denied_by_unknown_card", map[string]any{"card": "778"}},
		ev{devGate, "door_sensor_was_opened", nil},
		ev{devGate, "door_sensor_was_closed", nil},
		ev{devGate, "tamper_event", nil},
		ev{devLobby, "access_granted_by_valid_identifier", card("Lena Lobby")},
		ev{devLobby, "door_was_not_closed_too_long", nil},
		ev{devLobby, "incoming_call", map[string]any{"number": "12", "answered": true}},
		ev{devGarage, "access_granted_by_valid_identifier", card("Sam South")},
		ev{devGarage, "access_denied_by_unknown_card", map[string]any{"card": "999"}},
		ev{devGarage, "emergency_lock_is_opened", nil},
	)
	for i, e := range evs {
		w.ingest(t, e.dev, e.key, e.model, now.Add(-time.Duration(50-3*i)*time.Minute))
	}
	w.week(t, now)
	return w
}

// week ingests a week of the service door's traffic before the last hour,
// busier by day than by night, in one request.
func (w *world) week(t *testing.T, now time.Time) {
	t.Helper()
	keys := []string{"access_granted_by_valid_identifier", "door_sensor_was_opened", "access_granted_by_valid_identifier", "incoming_call", "access_denied_by_unknown_card", "door_sensor_was_closed"}
	var body bytes.Buffer
	n := 0
	for h := 7 * 24; h >= 1; h-- {
		hour := now.Add(-time.Duration(h) * time.Hour)
		per := 1 + 5*max(0, 6-abs(hour.UTC().Hour()-14))/6
		for i := range per {
			item := map[string]any{"device_id": devService, "time": hour.Add(time.Duration(i) * 7 * time.Minute).UnixMilli(), "key": keys[n%len(keys)], "source_id": fmt.Sprintf("w-%d", n)}
			if item["key"] == "access_granted_by_valid_identifier" {
				item["model"] = map[string]any{"number": 2000 + n%40, "type": "card", "owner": fmt.Sprintf("Tenant %d", n%40), "lock": 1}
			}
			b, _ := json.Marshal(item)
			body.Write(append(b, '\n'))
			n++
		}
	}
	req, _ := http.NewRequest("POST", w.url+"/v1/events", &body)
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest the week: got status %d", resp.StatusCode)
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// get reads the native API as the world's admin.
func (w *world) get(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", w.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got status %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// ingest stores one event through the native API, as a device would.
func (w *world) ingest(t *testing.T, dev, key string, model map[string]any, at time.Time) {
	t.Helper()
	w.seq++
	item := map[string]any{"device_id": dev, "time": at.UnixMilli(), "key": key, "source_id": fmt.Sprintf("b-%d", w.seq)}
	if model != nil {
		item["model"] = model
	}
	body, _ := json.Marshal(item)
	req, _ := http.NewRequest("POST", w.url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest: got status %d", resp.StatusCode)
	}
}

// browser is one headless Chromium tab on the world's server.
type browser struct {
	ctx context.Context
	w   *world

	mu         sync.Mutex
	exceptions []string
}

func newBrowser(t *testing.T, path string, w *world) *browser {
	return newBrowserIn(t, path, w, "en-US")
}

// newBrowserIn starts a Chromium whose languages (navigator.languages,
// Accept-Language) are lang.
func newBrowserIn(t *testing.T, path string, w *world, lang string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{ctx: ctx, w: w}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	// Any Content-Security-Policy violation of the page (an inline style
	// or script, a file from elsewhere) fails the test too.
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber))`,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Any uncaught exception of the page fails the test.
	err = chromedp.Listen(ctx, func(ev any) {
		if ex, ok := ev.(*runtime.EventExceptionThrown); ok {
			d := ex.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// step runs one part of the scenario as a subtest, with a time limit; on
// failure it saves a screenshot of the page.
func (b *browser) step(t *testing.T, name string, fn func(t *testing.T, ctx context.Context)) bool {
	return t.Run(name, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		defer cancel()
		// Deferred: a t.Fatal in fn ends it early.
		defer func() {
			b.mu.Lock()
			ex := b.exceptions
			b.exceptions = nil
			b.mu.Unlock()
			for _, e := range ex {
				t.Errorf("the page threw: %s", e)
			}
			csp, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`window.__csp || []`))
			if err != nil {
				t.Errorf("read the CSP violations: %v", err)
			}
			for _, v := range csp {
				t.Errorf("the page broke its Content-Security-Policy: %s", v)
			}
			_, _ = chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](`window.__csp = []`))
			if t.Failed() {
				b.failureScreenshot(t, name)
			}
		}()
		fn(t, ctx)
	})
}

// failureScreenshot saves the page as it is: under the -artifacts output
// when go test was given -artifacts, else in testdata/failures/.
func (b *browser) failureScreenshot(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("no failure screenshot: %v", err)
		return
	}
	dir := filepath.Join("testdata", "failures")
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("no failure screenshot: %v", err)
		return
	}
	file := filepath.Join(dir, regexp.MustCompile(`[^a-zA-Z0-9_-]+`).ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Logf("no failure screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the failure: %s", file)
}

// docScreenshot writes docs/screenshots/name.png with -update-screenshots.
// With full, it is the whole page rather than the window.
func (b *browser) docScreenshot(t *testing.T, ctx context.Context, name string, full bool) {
	t.Helper()
	if !*updateScreenshots {
		return
	}
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wait polls a JavaScript predicate until it is true.
func wait(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its value.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// pick chooses a value in a <select> as a person would, so its change
// event fires.
func pick(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	ok := eval[bool](t, ctx, fmt.Sprintf(`(() => {
		const el = document.getElementById(%q);
		if (![...el.options].some(o => o.value === %q)) return false;
		el.value = %q;
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`, id, value, value))
	if !ok {
		t.Fatalf("select #%s has no option %q", id, value)
	}
}

// rows is the JavaScript for the events table's rows as cell texts.
const rows = `[...document.querySelectorAll('#events-body tr')].map(tr => ({
	device: tr.querySelector('td.where .device').textContent,
	site: tr.querySelector('td.where .site').textContent,
	category: tr.querySelector('td.mark .cat-label').textContent,
	name: tr.querySelector('td.name').textContent,
	text: tr.querySelector('td.text').lastChild.textContent,
}))`

type row struct{ Device, Site, Category, Name, Text string }

func login(t *testing.T, ctx context.Context, user, pass string) {
	t.Helper()
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("username")))
	eval[chromedp.Void](t, ctx, `document.getElementById('username').value = document.getElementById('password').value = ''`)
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), pass),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	wait(t, ctx, "the events after the login", `document.querySelectorAll('#events-body tr').length > 0`)
}

// TestBrowser drives the page in headless Chromium against the real
// server, as a person would: log in, filter, watch the live tail, switch
// locale, open an event, export, look at the charts and devices, log out,
// and log in as a manager who must not see the other site.
func TestBrowser(t *testing.T) {
	path := browsertest.Require(t)
	start := time.Now()
	w := newWorld(t)
	b := newBrowser(t, path, w)
	defer func() { t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond)) }()

	b.step(t, "the tables' plural forms are the browser's", func(t *testing.T, ctx context.Context) {
		do(t, ctx, chromedp.Navigate(w.url+"/"))
		for _, loc := range []string{"en", "es", "ru", "uk", "pl", "nl", "tr", "fr", "da"} {
			forms, _ := pageMessages(t, loc)["events.count"].(map[string]any)
			var want []string
			for c := range forms {
				want = append(want, c)
			}
			slices.Sort(want)
			got := eval[[]string](t, ctx, fmt.Sprintf(`new Intl.PluralRules(%q).resolvedOptions().pluralCategories.sort()`, loc))
			if !slices.Equal(got, want) {
				t.Errorf("%s: Chromium's plural categories are %v, the table's %v", loc, got, want)
			}
		}
	})

	b.step(t, "the login page in the language chosen", func(t *testing.T, ctx context.Context) {
		do(t, ctx, chromedp.Navigate(w.url+"/"))
		wait(t, ctx, "the login form in English, the browser's language", `!document.getElementById('login-view').hidden && document.documentElement.lang === 'en' && document.getElementById('locale').value === 'en'`)
		pick(t, ctx, "locale", "pl")
		wait(t, ctx, "the login form in Polish", fmt.Sprintf(`document.getElementById('login-title').textContent === %q && document.documentElement.lang === 'pl'`, msg(t, "pl", "login.title")))
		noEnglish(t, ctx, "pl")
		do(t, ctx, chromedp.Reload())
		wait(t, ctx, "Polish remembered", fmt.Sprintf(`document.getElementById('locale').value === 'pl' && document.getElementById('login-submit').textContent === %q`, msg(t, "pl", "login.submit")))
		pick(t, ctx, "locale", "en")
		wait(t, ctx, "English again", `document.documentElement.lang === 'en' && document.getElementById('login-title').textContent === 'Log in to doorlog'`)
	})

	if !b.step(t, "log in", func(t *testing.T, ctx context.Context) {
		do(t, ctx, chromedp.Navigate(w.url+"/"))
		wait(t, ctx, "the login form", `!document.getElementById('login-view').hidden`)
		do(t, ctx, chromedp.SendKeys(chromedp.ID("username"), adminUser), chromedp.SendKeys(chromedp.ID("password"), "wrong password"), chromedp.Click(chromedp.ID("login-submit")))
		wait(t, ctx, "the refusal", `document.getElementById('login-error').textContent.includes('Wrong username or password')`)
		login(t, ctx, adminUser, adminPass)
		if got := eval[string](t, ctx, `document.getElementById('user').textContent`); !strings.Contains(got, "root · administrator (all sites)") {
			t.Errorf("got user %q", got)
		}
		// One line an event on a desktop: a row is one line of text high.
		if tall := eval[float64](t, ctx, `Math.max(...[...document.querySelectorAll('#events-body tr')].map(r => r.getBoundingClientRect().height))`); tall > 36 {
			t.Errorf("the tallest event row is %.0f px at 1280 px wide, want one line (at most 36 px)", tall)
		}
		// About 25 events on a 900 px screen, below the header, the open
		// alarms, the filters and the toolbar.
		wait(t, ctx, "the open alarms", `document.querySelectorAll('#alarms-list li.alarm').length > 0`)
		if n := eval[int](t, ctx, `[...document.querySelectorAll('#events-body tr')].filter(r => r.getBoundingClientRect().bottom <= window.innerHeight).length`); n < 24 {
			t.Errorf("got %d events on a 1280×900 screen, want about 25 (at least 24)", n)
		}
		b.docScreenshot(t, ctx, "events", false)
	}) {
		t.FailNow()
	}

	b.step(t, "filter by device and category", func(t *testing.T, ctx context.Context) {
		pick(t, ctx, "f-device", devGate)
		pick(t, ctx, "f-category", "access")
		wait(t, ctx, "the filtered list", `location.hash.includes('device_id=`+devGate+`') && location.hash.includes('category=access') && document.getElementById('count').textContent.startsWith('7 events')`)
		got := eval[[]row](t, ctx, rows)
		if len(got) != 7 {
			t.Fatalf("got %d rows, want the gate's 7 access events", len(got))
		}
		// A filter of the folded ones is set: they are shown, in line with
		// the others of their row.
		if open := eval[bool](t, ctx, `getComputedStyle(document.getElementById('f-category').parentElement).display !== 'none'`); !open {
			t.Errorf("the category filter is set but hidden under More filters")
		}
		if d := eval[float64](t, ctx, `(b => b('f-category') - b('f-site'))(id => document.getElementById(id).getBoundingClientRect().bottom)`); d < -2 || d > 2 {
			t.Errorf("the category filter's menu ends %.0f px from the site's, in one row: want them in line", d)
		}
		for _, r := range got {
			if r.Device != "North gate" || r.Category != "Access" || r.Site != "North Court" {
				t.Errorf("got row %+v, want the North gate's access events only", r)
			}
		}
		// The URL is the view: loading it again shows the same filters.
		href := eval[string](t, ctx, `location.href`)
		do(t, ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(href))
		wait(t, ctx, "the reloaded view", `document.getElementById('f-device').value === '`+devGate+`' && document.getElementById('f-category').value === 'access' && document.querySelectorAll('#events-body tr').length === 7`)
	})

	b.step(t, "live tail", func(t *testing.T, ctx context.Context) {
		wait(t, ctx, "the live stream", `document.getElementById('live-status').dataset.state === 'on'`)
		w.ingest(t, devLobby, "access_granted_by_valid_identifier", map[string]any{"number": 5, "type": "card", "owner": "Lobby Lou"}, time.Now())
		w.ingest(t, devGate, "access_granted_by_valid_identifier", map[string]any{"number": 42, "type": "card", "owner": "Live Larry", "apartment_address": "Flat 7", "lock": 1}, time.Now())
		wait(t, ctx, "the new event on top", `document.querySelector('#events-body tr td.text').textContent.includes('Live Larry')`)
		for _, r := range eval[[]row](t, ctx, rows) {
			if strings.Contains(r.Text, "Lobby Lou") {
				t.Errorf("got the lobby's event %+v in a list filtered to the gate", r)
			}
		}
		b.docScreenshot(t, ctx, "live-tail", false)

		do(t, ctx, chromedp.Click(chromedp.ID("live-toggle")))
		wait(t, ctx, "the paused tail", `document.getElementById('live-toggle').textContent === 'Resume (0 new)'`)
		w.ingest(t, devGate, "access_granted_by_valid_identifier", map[string]any{"number": 43, "type": "card", "owner": "Paused Pat", "apartment_address": "Flat 8", "lock": 1}, time.Now())
		wait(t, ctx, "the count of what arrived while paused", `document.getElementById('live-toggle').textContent === 'Resume (1 new)'`)
		if eval[bool](t, ctx, `document.getElementById('events-body').textContent.includes('Paused Pat')`) {
			t.Errorf("an event was shown while the tail was paused")
		}
		do(t, ctx, chromedp.Click(chromedp.ID("live-toggle")))
		wait(t, ctx, "the held event after resuming", `document.querySelector('#events-body tr td.text').textContent.includes('Paused Pat') && document.getElementById('live-toggle').textContent === 'Pause'`)
	})

	b.step(t, "live tail resumes after a drop", func(t *testing.T, ctx context.Context) {
		wait(t, ctx, "the live stream", `document.getElementById('live-status').dataset.state === 'on'`)
		w.dropStreams()
		// Stored while the page is disconnected: the browser's reconnection
		// with Last-Event-ID must bring it.
		w.ingest(t, devGate, "access_granted_by_valid_identifier", map[string]any{"number": 44, "type": "card", "owner": "Dropped Dora", "lock": 1}, time.Now())
		wait(t, ctx, "the event stored during the drop", `document.querySelector('#events-body tr td.text').textContent.includes('Dropped Dora')`)
		if n := eval[int](t, ctx, `[...document.querySelectorAll('#events-body tr')].filter(tr => tr.textContent.includes('Dropped Dora')).length`); n != 1 {
			t.Errorf("got the event %d times, want once", n)
		}
	})

	b.step(t, "locale", func(t *testing.T, ctx context.Context) {
		want := w.app.Catalog.Name("uk", "access_granted_by_valid_identifier")
		pick(t, ctx, "locale", "uk")
		wait(t, ctx, "names in Ukrainian", fmt.Sprintf(`document.querySelector('#events-body tr td.name')?.textContent === %q`, want))
		if got := eval[string](t, ctx, `localStorage.getItem('doorlog.locale')`); got != "uk" {
			t.Errorf("got remembered locale %q, want uk", got)
		}
		do(t, ctx, chromedp.Reload())
		wait(t, ctx, "the remembered locale after a reload", fmt.Sprintf(`document.getElementById('locale').value === 'uk' && document.querySelector('#events-body tr td.name')?.textContent === %q`, want))
		pick(t, ctx, "locale", "en")
		wait(t, ctx, "names in English", fmt.Sprintf(`document.querySelector('#events-body tr td.name')?.textContent === %q`, w.app.Catalog.Name("en", "access_granted_by_valid_identifier")))
	})

	b.step(t, "open an event by keyboard", func(t *testing.T, ctx context.Context) {
		do(t, ctx, chromedp.Focus(chromedp.CSS("#events-body tr")), chromedp.KeyEvent("\r"))
		wait(t, ctx, "the event dialog", `document.getElementById('event-dialog').open`)
		var model struct {
			Model struct{ Owner string } `json:"model"`
			Key   string                 `json:"key"`
		}
		if err := json.Unmarshal([]byte(eval[string](t, ctx, `document.getElementById('event-dialog-json').textContent`)), &model); err != nil {
			t.Fatalf("the dialog's JSON: %v", err)
		}
		if model.Model.Owner != "Dropped Dora" || model.Key != "access_granted_by_valid_identifier" {
			t.Errorf("got %+v in the dialog, want the newest event's model", model)
		}
		do(t, ctx, chromedp.KeyEvent("\u001b"))
		wait(t, ctx, "the dialog closed and the focus back on the row", `!document.getElementById('event-dialog').open && document.activeElement.matches('#events-body tr')`)
	})

	b.step(t, "export", func(t *testing.T, ctx context.Context) {
		href := eval[string](t, ctx, `document.getElementById('export-csv').href`)
		for _, want := range []string{"/v1/events/export?", "format=csv", "device_id=" + devGate, "category=access", "tz=", "from="} {
			if !strings.Contains(href, want) {
				t.Errorf("got CSV link %s, want %s in it", href, want)
			}
		}
		type response struct {
			Status      int    `json:"status"`
			Disposition string `json:"disposition"`
			Body        string `json:"body"`
		}
		csv := eval[response](t, ctx, `fetch(document.getElementById('export-csv').href).then(async r => ({status: r.status, disposition: r.headers.get('content-disposition') || '', body: await r.text()}))`)
		lines := strings.Split(strings.TrimSpace(csv.Body), "\r\n")
		if csv.Status != 200 || !strings.HasPrefix(csv.Disposition, "attachment") || !strings.HasPrefix(lines[0], "id,time,site_id,site_name,device_id,device_name,key") {
			t.Fatalf("got CSV export %d %q %q", csv.Status, csv.Disposition, lines[0])
		}
		if len(lines) != 1+10 || !strings.Contains(csv.Body, "Live Larry") || strings.Contains(csv.Body, "Lobby Lou") || !strings.Contains(csv.Body, ",North Court,"+devGate+",North gate,") {
			t.Errorf("got %d CSV lines, want a header and the gate's 10 access events, with the site's and device's names:\n%s", len(lines), csv.Body)
		}
		// For Excel: semicolons and a UTF-8 mark, remembered.
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#export-csv-style"), "excel"))
		eval[bool](t, ctx, `document.getElementById('export-csv-style').dispatchEvent(new Event('change')), true`)
		excel := eval[string](t, ctx, `fetch(document.getElementById('export-csv').href).then(r => r.arrayBuffer()).then(b => String.fromCharCode(...new Uint8Array(b).slice(0, 40)))`)
		if !strings.HasPrefix(excel, "\u00ef\u00bb\u00bfid;time;site_id;site_name;") {
			t.Errorf("the CSV for Excel starts %q, want a UTF-8 BOM and semicolons", excel)
		}
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#export-csv-style"), "comma"))
		eval[bool](t, ctx, `document.getElementById('export-csv-style').dispatchEvent(new Event('change')), true`)
		nd := eval[string](t, ctx, `fetch(document.getElementById('export-ndjson').href).then(r => r.text())`)
		if n := len(strings.Split(strings.TrimSpace(nd), "\n")); n != 10 {
			t.Errorf("got %d NDJSON lines, want 10", n)
		}
	})

	b.step(t, "charts", func(t *testing.T, ctx context.Context) {
		do(t, ctx, chromedp.Click(chromedp.CSS(`#nav a[data-view=charts]`)))
		wait(t, ctx, "the alarm timeline", `document.querySelectorAll('#chart-alarms .mark').length >= 1`)
		// The hourly and denial charts come from /v1/stats/...; until a
		// server has them, the page must say so rather than break.
		for _, id := range []string{"chart-hourly", "chart-denials"} {
			wait(t, ctx, id, fmt.Sprintf(`(el => el.querySelector('svg') || el.textContent.includes('Not available') || el.textContent.startsWith('No '))(document.getElementById(%q))`, id))
		}
		// The filters apply: the gate's only alarm is its tamper.
		if n := eval[int](t, ctx, `document.querySelectorAll('#chart-alarms .mark').length`); n != 1 {
			t.Errorf("got %d alarm marks for the gate, want 1", n)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("f-reset")))
		wait(t, ctx, "every alarm", `document.querySelectorAll('#chart-alarms .mark').length === 3`)
		b.docScreenshot(t, ctx, "charts", true)
		// Bars sized to the window: hours for a week, minutes for an hour.
		wait(t, ctx, "hourly bars for 7 days", fmt.Sprintf(`document.getElementById('chart-hourly-interval').textContent.includes(%q)`, msg(t, "en", "charts.per_hour")))
		pick(t, ctx, "f-window", "1h")
		wait(t, ctx, "minute bars for an hour", fmt.Sprintf(`document.getElementById('chart-hourly-interval').textContent.includes(%q) && document.querySelectorAll('#chart-hourly g.bar').length >= 5`, msg(t, "en", "charts.per_minute")))
		pick(t, ctx, "f-window", "7d")
		do(t, ctx, chromedp.Focus(chromedp.CSS("#chart-alarms .mark")), chromedp.KeyEvent("\r"))
		wait(t, ctx, "the alarm's event", `document.getElementById('event-dialog').open`)
		do(t, ctx, chromedp.KeyEvent("\u001b"))
		wait(t, ctx, "the dialog closed", `!document.getElementById('event-dialog').open`)
	})

	b.step(t, "devices", func(t *testing.T, ctx context.Context) {
		do(t, ctx, chromedp.Click(chromedp.CSS(`#nav a[data-view=devices]`)))
		wait(t, ctx, "the devices", `document.querySelectorAll('#devices-body tr[data-device]').length === 4`)
		// How each device is fed: refreshed until the collector has tried
		// the lobby's panel.
		wait(t, ctx, "the lobby's collector and the gate's panel address", `(() => {
			const cell = (id) => document.querySelector('#devices-body tr[data-device="'+id+'"] td.feed')?.textContent || '';
			if (!cell('`+devLobby+`').includes('cannot read')) { document.getElementById('devices-refresh').click(); return false; }
			return cell('`+devLobby+`').includes('Pulled from http://127.0.0.1:1') && cell('`+devGate+`').includes('(serving)') && cell('`+devGarage+`').includes('sends its events');
		})()`)
		b.docScreenshot(t, ctx, "devices", false)
		do(t, ctx, chromedp.Click(chromedp.CSS(`#devices-body tr[data-device="`+devGarage+`"]`)))
		wait(t, ctx, "the garage's events", `location.hash.startsWith('#events') && location.hash.includes('device_id=`+devGarage+`') && document.getElementById('count').textContent.startsWith('3 events')`)
		for _, r := range eval[[]row](t, ctx, rows) {
			if r.Device != "Garage barrier" {
				t.Errorf("got row %+v, want the garage's events only", r)
			}
		}
	})

	var tamper struct {
		Events []struct{ ID string } `json:"events"`
	}
	w.get(t, "/v1/events?key=tamper_event", &tamper)
	if len(tamper.Events) != 1 {
		t.Fatalf("got %d tamper events, want 1", len(tamper.Events))
	}
	li := `#alarms-list li[data-id="` + tamper.Events[0].ID + `"]`
	// A second viewer, whose browser speaks Russian: the page takes its
	// language from the browser the first time.
	b2 := newBrowserIn(t, path, w, "ru-RU")
	b2.step(t, "a second viewer in Russian, then Polish", func(t *testing.T, ctx2 context.Context) {
		do(t, ctx2, chromedp.Navigate(w.url+"/"))
		wait(t, ctx2, "the login page in Russian", fmt.Sprintf(`document.documentElement.lang === 'ru' && document.getElementById('locale').value === 'ru' && document.getElementById('login-title').textContent === %q`, msg(t, "ru", "login.title")))
		login(t, ctx2, adminUser, adminPass)
		wait(t, ctx2, "the tamper alarm on the second page", `document.querySelector('`+li+`') !== null`)
		wait(t, ctx2, "the list in Russian", `document.getElementById('count').textContent.includes('·') && document.getElementById('live-status').dataset.state === 'on'`)
		noEnglish(t, ctx2, "ru")
		b2.docScreenshot(t, ctx2, "events-ru", false)
		pick(t, ctx2, "locale", "pl")
		wait(t, ctx2, "the list in Polish", fmt.Sprintf(`document.documentElement.lang === 'pl' && document.getElementById('live-toggle').textContent === %q`, msg(t, "pl", "live.pause")))
		wait(t, ctx2, "the open alarms in Polish", fmt.Sprintf(`document.querySelector('%s button.ack')?.textContent === %q`, li, msg(t, "pl", "alarms.ack")))
		noEnglish(t, ctx2, "pl")
	})

	b.step(t, "an alarm acknowledged here is gone there", func(t *testing.T, ctx context.Context) {
		id := tamper.Events[0].ID
		ctx2, cancel := context.WithTimeout(b2.ctx, 20*time.Second)
		defer cancel()
		do(t, ctx, chromedp.Navigate(w.url+"/#events"))
		wait(t, ctx, "the tamper alarm on the first page", `document.querySelector('`+li+`') !== null`)
		if n := eval[int](t, ctx, `document.querySelectorAll('#alarms-list li').length`); n > 3 {
			do(t, ctx, chromedp.Click(chromedp.ID("alarms-more")))
		}
		b.docScreenshot(t, ctx, "alarms", false)
		do(t, ctx, chromedp.Click(chromedp.CSS(li+` button.ack`)))
		wait(t, ctx, "the alarm gone here", `document.querySelector('`+li+`') === null`)
		wait(t, ctx2, "the alarm gone there", `document.querySelector('`+li+`') === null`)
		var alarms struct {
			Alarms []struct {
				ID  string `json:"id"`
				Ack *struct {
					Username string `json:"username"`
				} `json:"ack"`
			} `json:"alarms"`
		}
		w.get(t, "/v1/alarms", &alarms)
		acked := false
		for _, a := range alarms.Alarms {
			if a.ID == id {
				acked = a.Ack != nil && a.Ack.Username == adminUser
			}
		}
		if !acked {
			t.Errorf("GET /v1/alarms: got %+v, want the tamper acknowledged by %s", alarms.Alarms, adminUser)
		}
		var logged struct {
			Events []struct{ Text string } `json:"events"`
		}
		w.get(t, "/v1/events?key=alarm_acknowledged", &logged)
		if len(logged.Events) != 1 {
			t.Errorf("got %d acknowledge events in the log, want 1", len(logged.Events))
		}
	})

	b.step(t, "the offline banner", func(t *testing.T, ctx context.Context) {
		do(t, ctx, chromedp.Navigate(w.url+"/#events"))
		wait(t, ctx, "the live stream", `document.getElementById('live-status').dataset.state === 'on'`)
		w.offline.Store(true)
		w.dropStreams()
		wait(t, ctx, "the banner", `!document.getElementById('offline').hidden && /Last event .* ago/.test(document.getElementById('offline').textContent)`)
		w.offline.Store(false)
		wait(t, ctx, "the banner gone when the server is back", `document.getElementById('offline').hidden && document.getElementById('live-status').dataset.state === 'on'`)
	})

	b.step(t, "the live list keeps a bounded number of rows", func(t *testing.T, ctx context.Context) {
		eval[chromedp.Void](t, ctx, `localStorage.setItem('doorlog.maxRows', '100')`)
		defer eval[chromedp.Void](t, ctx, `localStorage.removeItem('doorlog.maxRows')`)
		do(t, ctx, chromedp.Navigate(w.url+"/#events"), chromedp.Reload())
		wait(t, ctx, "the first page", `document.querySelectorAll('#events-body tr').length >= 100 && document.getElementById('live-status').dataset.state === 'on'`)
		// Scrolled down: the next pages come.
		eval[chromedp.Void](t, ctx, `window.scrollTo(0, document.body.scrollHeight)`)
		wait(t, ctx, "three pages", `document.querySelectorAll('#events-body tr').length >= 300 || (window.scrollTo(0, document.body.scrollHeight), false)`)
		eval[chromedp.Void](t, ctx, `window.scrollTo(0, 0)`)
		w.ingest(t, devGate, "access_granted_by_valid_identifier", map[string]any{"number": 45, "type": "card", "owner": "Bounded Bo", "lock": 1}, time.Now())
		wait(t, ctx, "the list cut to 100 rows", `document.querySelectorAll('#events-body tr').length === 100 && document.querySelector('#events-body tr td.text').textContent.includes('Bounded Bo')`)
		// Scrolled down again: the dropped rows come back from the API.
		eval[chromedp.Void](t, ctx, `window.scrollTo(0, document.body.scrollHeight)`)
		wait(t, ctx, "older rows loaded again", `document.querySelectorAll('#events-body tr').length >= 180 || (window.scrollTo(0, document.body.scrollHeight), false)`)
		type listed struct {
			ID   string `json:"id"`
			Time string `json:"time"`
		}
		got := eval[[]listed](t, ctx, `[...document.querySelectorAll('#events-body tr')].map(tr => ({id: tr.dataset.id, time: tr.ev.time}))`)
		var want struct {
			Events []listed `json:"events"`
		}
		w.get(t, fmt.Sprintf("/v1/events?limit=%d", len(got)), &want)
		for i := range got {
			if i >= len(want.Events) || got[i].ID != want.Events[i].ID {
				t.Fatalf("row %d: got %+v, want the API's newest-first list %v…", i, got[i], want.Events[max(0, i-1):min(len(want.Events), i+2)])
			}
		}
	})

	b.step(t, "without the stats endpoints", func(t *testing.T, ctx context.Context) {
		w.noStats.Store(true)
		defer w.noStats.Store(false)
		do(t, ctx, chromedp.Click(chromedp.CSS(`#nav a[data-view=charts]`)))
		for _, id := range []string{"chart-hourly", "chart-denials"} {
			wait(t, ctx, id+"'s notice", fmt.Sprintf(`document.getElementById(%q).textContent.includes('Not available')`, id))
		}
		wait(t, ctx, "the alarm timeline, which needs only the event list", `document.querySelectorAll('#chart-alarms .mark').length >= 1`)
		do(t, ctx, chromedp.Click(chromedp.CSS(`#nav a[data-view=devices]`)))
		wait(t, ctx, "the devices without their status", `document.getElementById('devices-note').textContent.includes('not available') && document.querySelectorAll('#devices-body tr[data-device]').length === 4`)
	})

	b.step(t, "phone width", func(t *testing.T, ctx context.Context) {
		do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(w.url+"/#events"), chromedp.Reload())
		wait(t, ctx, "the list", `document.querySelectorAll('#events-body tr').length > 3`)
		// The filters fold away behind a button on a phone.
		if eval[string](t, ctx, `getComputedStyle(document.getElementById('filters')).display`) != "none" {
			t.Errorf("the filters are not folded at phone width")
		}
		if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
			wide := eval[[]string](t, ctx, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`)
			t.Errorf("got a page %d px wide at a phone's 390 px; too wide: %q", w, wide)
		}
		// Two lines an event on a phone.
		if tall := eval[float64](t, ctx, `Math.max(...[...document.querySelectorAll('#events-body tr')].map(r => r.getBoundingClientRect().height))`); tall > 60 {
			t.Errorf("the tallest event row is %.0f px at 390 px wide, want two lines (at most 60 px)", tall)
		}
		b.docScreenshot(t, ctx, "phone", false)
		// The header folds away while the list is scrolled down, and is
		// back as soon as it is scrolled up.
		eval[chromedp.Void](t, ctx, `window.scrollTo(0, 600)`)
		wait(t, ctx, "the header folded", `document.getElementById('top').getBoundingClientRect().bottom <= 0`)
		eval[chromedp.Void](t, ctx, `window.scrollTo(0, 450)`)
		wait(t, ctx, "the header back", `document.getElementById('top').getBoundingClientRect().top >= 0 && document.getElementById('top').getBoundingClientRect().bottom > 20`)
		eval[chromedp.Void](t, ctx, `window.scrollTo(0, 0)`)
		do(t, ctx, chromedp.Click(chromedp.ID("filters-toggle")))
		wait(t, ctx, "the unfolded filters", `getComputedStyle(document.getElementById('filters')).display !== 'none'`)
		if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("got a page %d px wide with the filters shown at a phone's 390 px", w)
		}
		// The charts are drawn at the phone's width: their text is as
		// large as on a desktop (12 to 13 CSS pixels), not shrunk with
		// the picture.
		do(t, ctx, chromedp.Click(chromedp.CSS(`#nav a[data-view=charts]`)))
		wait(t, ctx, "the charts at phone width", `document.querySelectorAll('#chart-hourly svg, #chart-alarms svg').length === 2`)
		type textSize struct {
			Chart  string  `json:"chart"`
			Height float64 `json:"height"`
			Scale  float64 `json:"scale"`
		}
		for _, ts := range eval[[]textSize](t, ctx, `[...document.querySelectorAll('#chart-hourly svg, #chart-denials svg, #chart-alarms svg')].map(svg => ({
			chart: svg.parentElement.id,
			height: svg.querySelector('text').getBoundingClientRect().height,
			scale: svg.getBoundingClientRect().width / svg.viewBox.baseVal.width,
		}))`) {
			if ts.Scale < 0.97 || ts.Scale > 1.03 || ts.Height < 11 {
				t.Errorf("%s at 390 px: drawn at %.2f of its size, text %.1f px high; want 1 and at least 11 px", ts.Chart, ts.Scale, ts.Height)
			}
		}
		// The next steps start from the events view.
		do(t, ctx, chromedp.Navigate(w.url+"/#events"))
		wait(t, ctx, "the events again", `!document.getElementById('events-view').hidden`)
		do(t, ctx, chromedp.EmulateViewport(1280, 900))
	})

	b.step(t, "log out", func(t *testing.T, ctx context.Context) {
		// An unsafe API call authenticated by the cookie needs the CSRF
		// header, which a page of another site cannot send.
		status := eval[[]int](t, ctx, `(async () => [
			(await fetch('/v1/sites', {method: 'POST', body: '{"id":"east","name":"East"}'})).status,
			(await fetch('/v1/sites', {method: 'POST', headers: {'X-Doorlog-CSRF': '1'}, body: '{"id":"east","name":"East"}'})).status,
		])()`)
		if status[0] != 403 || status[1] != 201 {
			t.Errorf("got statuses %v for a POST without and with the CSRF header, want 403 then 201", status)
		}
		do(t, ctx, chromedp.Click(chromedp.ID("logout")))
		wait(t, ctx, "the login form", `!document.getElementById('login-view').hidden && document.getElementById('events-view').hidden`)
		if got := eval[int](t, ctx, `fetch('/v1/events').then(r => r.status)`); got != 401 {
			t.Errorf("got %d from the API after logging out, want 401", got)
		}
		do(t, ctx, chromedp.Reload())
		wait(t, ctx, "the login form after a reload", `!document.getElementById('login-view').hidden`)
	})

	b.step(t, "a throttled login says how long to wait", func(t *testing.T, ctx context.Context) {
		for range 3 {
			eval[chromedp.Void](t, ctx, `document.getElementById('login-error').textContent = ''; document.getElementById('username').value = document.getElementById('password').value = ''`)
			do(t, ctx, chromedp.SendKeys(chromedp.ID("username"), "mallory"), chromedp.SendKeys(chromedp.ID("password"), "guess"), chromedp.Click(chromedp.ID("login-submit")))
			wait(t, ctx, "an answer", `document.getElementById('login-error').textContent !== ''`)
		}
		// The second failure locked the username: the page shows the
		// server's message, not a generic failure.
		if got := eval[string](t, ctx, `document.getElementById('login-error').textContent`); got != "Too many failed login attempts. Try again in 15 minutes." {
			t.Errorf("after three wrong passwords: got %q, want the server's message", got)
		}
	})

	b.step(t, "a manager sees only its sites", func(t *testing.T, ctx context.Context) {
		login(t, ctx, managerUser, managerPass)
		wait(t, ctx, "the manager's list", `document.getElementById('count').textContent.includes('events')`)
		for _, r := range eval[[]row](t, ctx, rows) {
			if r.Site != "North Court" {
				t.Errorf("the manager of North Court sees %+v", r)
			}
		}
		if got := eval[[]string](t, ctx, `[...document.getElementById('f-site').options].map(o => o.textContent)`); strings.Join(got, "|") != "All sites|North Court" {
			t.Errorf("got site choices %q", got)
		}
		// A shared link to the other site shows nothing of it.
		do(t, ctx, chromedp.Navigate(w.url+"/#events?site_id="+siteSouth+"&device_id="+devGarage))
		wait(t, ctx, "the empty list", `!document.getElementById('events-empty').hidden && document.querySelectorAll('#events-body tr').length === 0`)
		body := eval[string](t, ctx, `fetch('/v1/events/export?format=ndjson&site_id=`+siteSouth+`').then(r => r.text())`)
		if strings.TrimSpace(body) != "" {
			t.Errorf("the manager exported the south site's events: %s", body)
		}
	})
}

// pageMessages reads a locale's message table as the page loads it.
func pageMessages(t testing.TB, loc string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("static", "i18n", loc+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// msg is a locale's plain message for key, as the page shows it without
// placeholders.
func msg(t testing.TB, loc, key string) string {
	t.Helper()
	s, ok := pageMessages(t, loc)[key].(string)
	if !ok {
		t.Fatalf("no plain message %q in %s", key, loc)
	}
	return s
}

// englishLeft is the JavaScript that lists the English fragments (given
// as the argument's array) found in the visible page: every text shown,
// the options of its menus, its placeholders, titles and labels. Data
// (site, device and user names, event details) and the time zone's name
// are left out: they are not the page's words; nor is the language
// choice, where each language is named in its own.
const englishLeft = `(frags => {
	const skip = '.where, td.text, .alarm-where, #user, #f-site, #f-device, .tz, .brand, #locale, noscript, dialog:not([open])';
	const texts = [];
	const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	for (let n = walker.nextNode(); n; n = walker.nextNode()) {
		const el = n.parentElement;
		if (!el || el.closest(skip) || el.closest('[hidden]')) continue;
		if (el.tagName !== 'OPTION' && el.getClientRects().length === 0) continue;
		texts.push(n.textContent);
	}
	for (const el of document.querySelectorAll('[placeholder], [title], [aria-label]')) {
		if (el.closest(skip) || el.closest('[hidden]')) continue;
		for (const a of ['placeholder', 'title', 'aria-label']) if (el.hasAttribute(a)) texts.push(el.getAttribute(a));
	}
	const all = texts.join('\n');
	const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
	return frags.filter((f) => new RegExp('(^|[^\\p{L}])' + esc(f) + '($|[^\\p{L}])', 'u').test(all));
})`

// englishFragments are the English table's words that must not show in
// loc: each message's text between its placeholders, of four letters or
// more, unless loc's own message says the same (a product name).
func englishFragments(t testing.TB, loc string) []string {
	t.Helper()
	en, other := pageMessages(t, "en"), pageMessages(t, loc)
	forms := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case map[string]any:
			var out []string
			for _, f := range v {
				out = append(out, f.(string))
			}
			return out
		}
		return nil
	}
	letters := regexp.MustCompile(`\pL`)
	seen := map[string]bool{}
	var out []string
	for k, v := range en {
		theirs := strings.Join(forms(other[k]), "\n")
		for _, f := range forms(v) {
			for _, part := range regexp.MustCompile(`\{\w+\}`).Split(f, -1) {
				part = strings.Trim(part, " .,:;()·—…-\u00a0")
				if len(letters.FindAllString(part, -1)) < 4 || seen[part] || strings.Contains(theirs, part) {
					continue
				}
				seen[part] = true
				out = append(out, part)
			}
		}
	}
	slices.Sort(out)
	return out
}

// noEnglish fails when the page in loc shows any of the English table's
// words.
func noEnglish(t *testing.T, ctx context.Context, loc string) {
	t.Helper()
	frags, _ := json.Marshal(englishFragments(t, loc))
	if left := eval[[]string](t, ctx, englishLeft+`(`+string(frags)+`)`); len(left) > 0 {
		t.Errorf("the page in %s still shows English: %q", loc, left)
	}
}
