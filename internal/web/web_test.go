package web_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// server is the real server with one admin account, for the handler tests.
func server(t *testing.T) (*app.App, http.Handler) {
	t.Helper()
	a, err := app.Open(context.Background(), app.Config{Data: t.TempDir(), Name: "test", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	hash, err := auth.HashPassword(adminPass)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.CreateAccount(context.Background(), &doorlog.Account{Username: adminUser, PasswordHash: hash, Role: doorlog.RoleAdmin, SiteIDs: []string{}}); err != nil {
		t.Fatal(err)
	}
	return a, a.Handler()
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func loginRequest(target, user, pass string) *http.Request {
	form := url.Values{"username": {user}, "password": {pass}}
	r := httptest.NewRequest("POST", target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// errorCode reads the code of an error body, failing when it is not the
// {"error", "code"} shape.
func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct{ Error, Code string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || body.Code == "" {
		t.Fatalf("got body %q, want a JSON error with a code", w.Body.String())
	}
	return body.Code
}

func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == auth.SessionCookie {
			return c
		}
	}
	return nil
}

func TestPageFiles(t *testing.T) {
	_, h := server(t)
	t.Run("index", func(t *testing.T) {
		w := serve(h, httptest.NewRequest("GET", "/", nil))
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(w.Body.String(), `<script type="module" src="/web/static/app.js">`) {
			t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("got CSP %q", csp)
		}
	})
	t.Run("gzip and revalidation", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/web/static/events.js", nil)
		r.Header.Set("Accept-Encoding", "gzip, deflate")
		w := serve(h, r)
		if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Fatalf("got %d %v", w.Code, w.Header())
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := io.ReadAll(zr)
		if !strings.Contains(string(js), "export class EventsView") {
			t.Errorf("got %q, want the events module", js[:min(len(js), 80)])
		}
		r = httptest.NewRequest("GET", "/web/static/events.js", nil)
		r.Header.Set("Accept-Encoding", "gzip")
		r.Header.Set("If-None-Match", w.Header().Get("ETag"))
		if w := serve(h, r); w.Code != http.StatusNotModified {
			t.Errorf("got %d for an unchanged file, want 304", w.Code)
		}
		w = serve(h, httptest.NewRequest("GET", "/web/static/events.js", nil))
		if w.Header().Get("Content-Encoding") != "" || !strings.Contains(w.Body.String(), "export class EventsView") {
			t.Errorf("got %q without Accept-Encoding, want the plain file", w.Header().Get("Content-Encoding"))
		}
	})
	t.Run("page weight", func(t *testing.T) {
		total := 0
		for _, f := range []string{"/", "/web/static/app.css", "/web/static/app.js", "/web/static/api.js", "/web/static/util.js", "/web/static/state.js", "/web/static/events.js", "/web/static/charts.js", "/web/static/devices.js", "/web/static/dialog.js", "/web/static/favicon.svg", "/web/catalog.json"} {
			r := httptest.NewRequest("GET", f, nil)
			r.Header.Set("Accept-Encoding", "gzip")
			w := serve(h, r)
			if w.Code != 200 {
				t.Fatalf("%s: got %d", f, w.Code)
			}
			total += w.Body.Len()
		}
		// Everything the page loads, compressed, stays small.
		if total > 60<<10 {
			t.Errorf("the page weighs %d bytes gzipped, want under 60 KiB", total)
		}
		t.Logf("page weight: %d bytes gzipped", total)
	})
	t.Run("catalog", func(t *testing.T) {
		w := serve(h, httptest.NewRequest("GET", "/web/catalog.json", nil))
		var c struct {
			Locales []string
			Keys    []struct {
				Key, Category, Priority string
				Names                   map[string]string
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if len(c.Locales) != 9 || len(c.Keys) < 40 {
			t.Fatalf("got %d locales and %d keys", len(c.Locales), len(c.Keys))
		}
		for _, k := range c.Keys {
			if k.Key == "tamper_event" && (k.Category != "emergency" || k.Names["uk"] == "" || k.Names["uk"] == k.Names["en"]) {
				t.Errorf("got %+v", k)
			}
		}
	})
	for _, tt := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/web/static/nope.js", 404, "not_found"},
		{"GET", "/web/static/index.html", 404, "not_found"},
		{"GET", "/web/nothing", 404, "not_found"},
		{"GET", "/web/login", 405, "method_not_allowed"},
		{"DELETE", "/", 405, "method_not_allowed"},
		{"GET", "/web/session", 401, "unauthorized"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := serve(h, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.status || errorCode(t, w) != tt.code {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.code)
			}
		})
	}
}

func TestSession(t *testing.T) {
	_, h := server(t)

	t.Run("wrong password", func(t *testing.T) {
		w := serve(h, loginRequest("/web/login", adminUser, "nope"))
		if w.Code != 401 || errorCode(t, w) != "unauthorized" || sessionCookie(t, w) != nil {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	})
	t.Run("missing fields", func(t *testing.T) {
		w := serve(h, loginRequest("/web/login", adminUser, ""))
		if w.Code != 400 || errorCode(t, w) != "invalid" {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	})
	t.Run("the query string is not read", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/web/login?username=root&password=root+password+1", nil)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if w := serve(h, r); w.Code != 400 {
			t.Fatalf("got %d %s, want 400", w.Code, w.Body)
		}
	})
	for _, tt := range []struct{ name, header, value string }{
		{"foreign origin", "Origin", "http://evil.example"},
		{"null origin", "Origin", "null"},
		{"cross-site fetch", "Sec-Fetch-Site", "cross-site"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := loginRequest("/web/login", adminUser, adminPass)
			r.Header.Set(tt.header, tt.value)
			w := serve(h, r)
			if w.Code != 403 || errorCode(t, w) != "forbidden" || sessionCookie(t, w) != nil {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
		})
	}

	r := loginRequest("/web/login", adminUser, adminPass)
	r.Header.Set("Origin", "http://example.com") // httptest's host
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	w := serve(h, r)
	c := sessionCookie(t, w)
	if w.Code != 200 || c == nil {
		t.Fatalf("got %d %s, want 200 with the cookie", w.Code, w.Body)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.MaxAge < int((auth.LoginTTL-time.Minute).Seconds()) {
		t.Errorf("got cookie %+v, want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP, a day long", c)
	}
	var sess struct {
		Username, Role string
		SiteIDs        []string `json:"site_ids"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &sess); err != nil || sess.Username != adminUser || sess.Role != "admin" || sess.SiteIDs == nil {
		t.Errorf("got session %s", w.Body)
	}

	withCookie := func(r *http.Request) *http.Request {
		r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: c.Value})
		return r
	}
	if w := serve(h, withCookie(httptest.NewRequest("GET", "/web/session", nil))); w.Code != 200 {
		t.Errorf("session: got %d %s", w.Code, w.Body)
	}
	w = serve(h, withCookie(httptest.NewRequest("GET", "/v1/events?key="+auth.KeyLoginSucceeded+"&count=exact", nil)))
	var list struct{ Count int }
	if err := json.Unmarshal(w.Body.Bytes(), &list); w.Code != 200 || err != nil || list.Count != 1 {
		t.Errorf("the API with the cookie: got %d %s, want the one successful login listed", w.Code, w.Body)
	}

	t.Run("a JSON body and TLS", func(t *testing.T) {
		r := httptest.NewRequest("POST", "https://doorlog.example/web/login", strings.NewReader(`{"username":"root","password":"root password 1"}`))
		r.Header.Set("Content-Type", "application/json")
		w := serve(h, r)
		if c := sessionCookie(t, w); w.Code != 200 || c == nil || !c.Secure {
			t.Fatalf("got %d %+v, want a Secure cookie", w.Code, c)
		}
	})

	t.Run("logout", func(t *testing.T) {
		r := withCookie(httptest.NewRequest("POST", "/web/logout", nil))
		r.Header.Set("Origin", "http://evil.example")
		if w := serve(h, r); w.Code != 403 {
			t.Fatalf("a cross-origin logout: got %d", w.Code)
		}
		w := serve(h, withCookie(httptest.NewRequest("POST", "/web/logout", nil)))
		gone := sessionCookie(t, w)
		if w.Code != 204 || gone == nil || gone.MaxAge >= 0 {
			t.Fatalf("got %d %+v, want 204 deleting the cookie", w.Code, gone)
		}
		for _, path := range []string{"/web/session", "/v1/events"} {
			if w := serve(h, withCookie(httptest.NewRequest("GET", path, nil))); w.Code != 401 {
				t.Errorf("%s with the logged-out token: got %d, want 401", path, w.Code)
			}
		}
		if w := serve(h, httptest.NewRequest("POST", "/web/logout", nil)); w.Code != 204 {
			t.Errorf("a logout without a session: got %d, want 204", w.Code)
		}
	})
}
