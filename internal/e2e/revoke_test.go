package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// TestRevokeEveryAPI revokes tokens through DELETE /v1/tokens/{id} and
// checks that the very next request with one is refused on every API, in
// that API's own 401 shape, with no wait: tokens are read from the store
// on every request. The token is revoked by an admin, by itself, or is a
// BAS-IP login's token found in the admin's list by its username.
func TestRevokeEveryAPI(t *testing.T) {
	f := newFixture(t)
	apis := []struct {
		name, method, path, contentType, body string
		refused                               expect
	}{
		{"native list", "GET", "/v1/events?limit=1", "", "", nativeUnauthorized},
		{"native ingest", "POST", "/v1/events", "application/json", `{"device_id":"` + devA + `","time":{now},"key":"door_sensor_was_opened"}`, nativeUnauthorized},
		{"native export", "GET", "/v1/events/export?format=ndjson&site_id=site-a", "", "", nativeUnauthorized},
		{"native stats", "GET", "/v1/stats/devices", "", "", nativeUnauthorized},
		{"native tokens", "GET", "/v1/tokens", "", "", nativeUnauthorized},
		{"BAS-IP log", "GET", "/api/v1/log/items?limit=50", "", "", basipLogIn},
		{"BAS-IP log of device A", "GET", "/devices/" + devA + "/api/v1/log/items", "", "", basipLogIn},
		{"AIPIX logs", "GET", "/api/admin/v1/intercoms/" + devA + "/logs", "", "", aipixUnauth},
		{"OLOID activities", "POST", "/filterActivity", "application/json", `{"limit":1}`, oloidUnauthorized},
	}
	revokers := []struct {
		name string
		// issue returns a fresh admin token of every site: its secret and
		// the secret that revokes it.
		issue func(t *testing.T) (secret, revoker string)
	}{
		{"by an admin", func(t *testing.T) (string, string) {
			secret, _, err := f.app.Auth.IssueToken(context.Background(), doorlog.Token{Role: doorlog.RoleAdmin})
			if err != nil {
				t.Fatal(err)
			}
			return secret, f.tokens[admin]
		}},
		{"by itself", func(t *testing.T) (string, string) {
			secret, _, err := f.app.Auth.IssueToken(context.Background(), doorlog.Token{Role: doorlog.RoleAdmin})
			if err != nil {
				t.Fatal(err)
			}
			return secret, secret
		}},
		{"a login's, by an admin", func(t *testing.T) (string, string) {
			status, body := f.do(t, noToken, "GET", "/api/v1/login?username=root&password="+url.QueryEscape(credentials[admin][1]), "", "", nil)
			var r struct{ Token string }
			if status != 200 || json.Unmarshal(body, &r) != nil || r.Token == "" {
				t.Fatalf("BAS-IP login: got %d %s", status, body)
			}
			return r.Token, f.tokens[admin]
		}},
	}
	for _, api := range apis {
		for _, rv := range revokers {
			t.Run(api.name+"/"+rv.name, func(t *testing.T) {
				secret, revoker := rv.issue(t)
				body := strings.ReplaceAll(api.body, "{now}", fmt.Sprint(1714557600000))
				if status, b := f.doAs(t, secret, api.method, api.path, api.contentType, body); status != http.StatusOK {
					t.Fatalf("before the revoke: got %d %s, want 200", status, b)
				}
				if status, b := f.doAs(t, revoker, "DELETE", "/v1/tokens/"+tokenID(secret), "", ""); status != http.StatusNoContent {
					t.Fatalf("revoke: got %d %s, want 204", status, b)
				}
				status, b := f.doAs(t, secret, api.method, api.path, api.contentType, body)
				if status != api.refused.status || !sameJSON(b, []byte(api.refused.body)) {
					t.Fatalf("the next request: got %d %s, want %d %s", status, b, api.refused.status, api.refused.body)
				}
			})
		}
	}
}

// doAs sends one request with a bearer secret through the
// OpenAPI-validating client.
func (f *fixture) doAs(tb testing.TB, secret, method, path, contentType, body string) (int, []byte) {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.url+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.v.Client(tb).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestRevokeWebSession logs in on the web page, revokes the session's
// token through the API (as an admin, then as the session itself), and
// checks that the page's next /web/session answers logged out and the
// cookie no longer authenticates the API.
func TestRevokeWebSession(t *testing.T) {
	f := newFixture(t)
	login := func(t *testing.T) (*http.Client, string) {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Jar: jar}
		form := url.Values{"username": {credentials[managerA][0]}, "password": {credentials[managerA][1]}}
		resp, err := c.PostForm(f.url+"/web/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("web login: got %d, want 200", resp.StatusCode)
		}
		u, _ := url.Parse(f.url)
		for _, ck := range jar.Cookies(u) {
			if ck.Name == auth.SessionCookie {
				return c, ck.Value
			}
		}
		t.Fatal("web login set no session cookie")
		return nil, ""
	}
	get := func(t *testing.T, c *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := c.Get(f.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// revokeWithCookie sends DELETE /v1/tokens/{id} as the page does, with
	// the session cookie and, when csrf, the CSRF header.
	revokeWithCookie := func(t *testing.T, c *http.Client, id string, csrf bool) int {
		t.Helper()
		req, _ := http.NewRequest("DELETE", f.url+"/v1/tokens/"+id, nil)
		if csrf {
			req.Header.Set(auth.CSRFHeader, "1")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, by := range []string{"an admin", "the session itself"} {
		t.Run("revoked by "+by, func(t *testing.T) {
			c, secret := login(t)
			if status, body := get(t, c, "/web/session"); status != 200 || !strings.Contains(body, `"username":"ann"`) {
				t.Fatalf("/web/session after the login: got %d %s, want ann's session", status, body)
			}
			if status, body := get(t, c, "/v1/tokens"); status != 200 || !strings.Contains(body, tokenID(secret)) {
				t.Fatalf("/v1/tokens with the cookie: got %d %s, want the session's own token", status, body)
			}
			if by == "an admin" {
				status, body := f.do(t, admin, "GET", "/v1/tokens?limit=1000", "", "", nil)
				if status != 200 || !strings.Contains(string(body), `"id":"`+tokenID(secret)+`","role":"manager","site_ids":["site-a"],"username":"ann"`) {
					t.Fatalf("the admin's list: got %d %s, want ann's session token in it", status, body)
				}
				if status, body := f.do(t, admin, "DELETE", "/v1/tokens/"+tokenID(secret), "", "", nil); status != 204 {
					t.Fatalf("revoke: got %d %s, want 204", status, body)
				}
			} else {
				if status := revokeWithCookie(t, c, tokenID(secret), false); status != 403 {
					t.Fatalf("revoke with the cookie and no CSRF header: got %d, want 403", status)
				}
				if status := revokeWithCookie(t, c, tokenID(secret), true); status != 204 {
					t.Fatalf("revoke with the cookie: got %d, want 204", status)
				}
			}
			// The API first: the 401 of /web/session deletes the cookie.
			if status, body := get(t, c, "/v1/events"); status != 401 || !sameJSON([]byte(body), []byte(nativeUnauthorized.body)) {
				t.Errorf("/v1/events with the session cookie after the revoke: got %d %s, want 401", status, body)
			}
			status, body := get(t, c, "/web/session")
			if status != 401 || !strings.Contains(body, `"code":"unauthorized"`) {
				t.Errorf("/web/session after the revoke: got %d %s, want 401 (logged out)", status, body)
			}
		})
	}
}
