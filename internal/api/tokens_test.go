package api_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/cursor"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
)

// issue makes a token like tmpl straight through auth and returns its
// secret and id.
func (e *env) issue(t testing.TB, tmpl doorlog.Token) (secret, id string) {
	t.Helper()
	secret, tok, err := e.auth.IssueToken(context.Background(), tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok.ID
}

// tokenKinds are the tokens of the scope tests, by name; "admin" is the
// env's admin of every site, "expired" a manager of site a whose token
// has expired.
var tokenKinds = map[string]doorlog.Token{
	"admin-a":    {Role: doorlog.RoleAdmin, SiteIDs: []string{"a"}},
	"admin-b":    {Role: doorlog.RoleAdmin, SiteIDs: []string{"b"}},
	"manager-a":  {Role: doorlog.RoleManager, SiteIDs: []string{"a"}, Username: "ann"},
	"manager-ab": {Role: doorlog.RoleManager, SiteIDs: []string{"a", "b"}},
	"manager-b":  {Role: doorlog.RoleManager, SiteIDs: []string{"b"}},
	"device-a":   {Role: doorlog.RoleDevice, DeviceID: devA},
	"device-b":   {Role: doorlog.RoleDevice, DeviceID: devB},
}

// kindOf is the template of a token kind of the scope tests.
func kindOf(name string) doorlog.Token {
	switch name {
	case "admin":
		return doorlog.Token{Role: doorlog.RoleAdmin}
	case "expired":
		return doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{"a"}, ExpiresAt: time.Now().Add(-time.Minute)}
	}
	return tokenKinds[name]
}

// tokenWorld issues one token of each kind and returns the secret and id
// of each, by name.
func (e *env) tokenWorld(t testing.TB) (secrets, ids map[string]string) {
	t.Helper()
	secrets, ids = map[string]string{"admin": e.admin}, map[string]string{"admin": tokenID(e.admin)}
	for name, tmpl := range tokenKinds {
		secrets[name], ids[name] = e.issue(t, tmpl)
	}
	secrets["expired"], ids["expired"] = e.issue(t, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{"a"}, ExpiresAt: time.Now().Add(-time.Minute)})
	return secrets, ids
}

// tokenID is the id part of a token's secret, dl_<id>_<secret>.
func tokenID(secret string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(secret, "dl_"), "_")
	return id
}

// listedIDs lists GET /v1/tokens as the token given, following every
// next_cursor, and returns the ids and the entries.
func (e *env) listedIDs(t testing.TB, token, query string) ([]string, []map[string]any) {
	t.Helper()
	var ids []string
	var entries []map[string]any
	cursor := ""
	for range 100 {
		q := query
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		out := e.mustDo(t, "GET", "/v1/tokens?"+q, token, "", 200)
		for _, v := range out["tokens"].([]any) {
			m := v.(map[string]any)
			ids = append(ids, m["id"].(string))
			entries = append(entries, m)
		}
		next, _ := out["next_cursor"].(string)
		if next == "" {
			return ids, entries
		}
		cursor = next
	}
	t.Fatal("more than 100 pages")
	return nil, nil
}

func TestListTokensScope(t *testing.T) {
	e := newEnv(t, ingest.DefaultLimits)
	e.seed(t)
	secrets, ids := e.tokenWorld(t)
	names := func(list []string) []string {
		var out []string
		for _, id := range list {
			for name, nid := range ids {
				if nid == id {
					out = append(out, name)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	every := []string{"admin", "admin-a", "admin-b", "device-a", "device-b", "manager-a", "manager-ab", "manager-b"}
	tests := []struct {
		caller, query string
		want          []string
	}{
		{"admin", "", every},
		{"admin", "expired=true", append([]string{"expired"}, every...)},
		{"admin", "expired=false&limit=3", every},
		{"admin", "limit=1&expired=true", append([]string{"expired"}, every...)},
		{"admin-a", "", []string{"admin-a", "device-a", "manager-a"}},
		{"admin-a", "expired=true", []string{"admin-a", "device-a", "expired", "manager-a"}},
		{"admin-b", "expired=true&limit=2", []string{"admin-b", "device-b", "manager-b"}},
		{"manager-a", "expired=true", []string{"manager-a"}},
		{"manager-ab", "", []string{"manager-ab"}},
		{"device-a", "", []string{"device-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.caller+"?"+tt.query, func(t *testing.T) {
			got, entries := e.listedIDs(t, secrets[tt.caller], tt.query)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if n := names(got); !slices.Equal(n, want) {
				t.Fatalf("got %q, want %q", n, want)
			}
			if len(got) != len(slices.Compact(slices.Sorted(slices.Values(got)))) {
				t.Errorf("got %q, with repeats across pages", got)
			}
			var prev time.Time
			for i, m := range entries {
				for _, secretField := range []string{"token", "secret", "secret_hash", "hash"} {
					if _, ok := m[secretField]; ok {
						t.Errorf("entry %v shows %q", m, secretField)
					}
				}
				created, err := time.Parse(time.RFC3339Nano, m["created_at"].(string))
				if err != nil {
					t.Fatal(err)
				}
				if i > 0 && created.After(prev) {
					t.Errorf("entry %d created %v after the one before (%v), want newest first", i, created, prev)
				}
				prev = created
				if cur := m["current"].(bool); cur != (m["id"] == tokenID(secrets[tt.caller])) {
					t.Errorf("entry %v: got current %v", m["id"], cur)
				}
				if exp := m["expired"].(bool); exp != (m["id"] == ids["expired"]) {
					t.Errorf("entry %v: got expired %v", m["id"], exp)
				}
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		_, entries := e.listedIDs(t, e.admin, "limit=1000")
		byID := map[string]map[string]any{}
		for _, m := range entries {
			byID[m["id"].(string)] = m
		}
		if m := byID[ids["manager-a"]]; m["username"] != "ann" || m["role"] != "manager" || strings.Join(toStrings(m["site_ids"]), ",") != "a" || m["device_id"] != nil {
			t.Errorf("manager-a: got %v, want ann's manager token of site a, no device", m)
		}
		if m := byID[ids["device-b"]]; m["device_id"] != devB || m["role"] != "device" || len(toStrings(m["site_ids"])) != 0 || m["username"] != nil {
			t.Errorf("device-b: got %v, want the device token of %s, no sites, no username", m, devB)
		}
		if m := byID[ids["admin"]]; m["expires_at"] != nil || len(toStrings(m["site_ids"])) != 0 {
			t.Errorf("admin: got %v, want no expiry and no sites", m)
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		// An event list's cursor, signed by the same key, must not pass
		// for a token list's.
		key, err := e.store.ServerKey(context.Background(), "native-cursor")
		if err != nil {
			t.Fatal(err)
		}
		eventCursor, err := cursor.New(key).Encode(map[string]any{"o": "desc", "t": time.Now().UnixMilli(), "i": "0000000000001", "f": "x"})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "expired=yes", "expired=true&expired=false", "cursor=garbage", "cursor=" + url.QueryEscape(eventCursor)} {
			status, out := e.do(t, "GET", "/v1/tokens?"+q, e.admin, "", "")
			if status != 400 || out["code"] != doorlog.EINVALID {
				t.Errorf("GET /v1/tokens?%s: got %d %v, want 400 invalid", q, status, out)
			}
		}
	})
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// TestRevokeTokenScope revokes each kind of token as each kind of caller,
// over real HTTP, and checks the answer (204 or 404) and its effect: a
// revoked token fails its very next request, a refused revoke leaves the
// token working.
func TestRevokeTokenScope(t *testing.T) {
	e := newEnv(t, ingest.DefaultLimits)
	e.seed(t)
	callers := []string{"admin", "admin-a", "admin-b", "manager-a", "device-a"}
	targets := []string{"admin", "admin-a", "admin-b", "manager-a", "manager-ab", "manager-b", "device-a", "device-b", "expired"}
	// may lists the targets each caller may revoke beyond itself.
	may := map[string][]string{
		"admin":   targets,
		"admin-a": {"admin-a", "manager-a", "device-a", "expired"},
		"admin-b": {"admin-b", "manager-b", "device-b"},
	}
	for _, caller := range callers {
		for _, target := range targets {
			t.Run(caller+" revokes "+target, func(t *testing.T) {
				// Fresh tokens for each case, two even of one kind: a
				// revoke ends one.
				secrets, ids := map[string]string{}, map[string]string{}
				secrets["caller"], ids["caller"] = e.issue(t, kindOf(caller))
				secrets["target"], ids["target"] = e.issue(t, kindOf(target))
				want := http.StatusNotFound
				if slices.Contains(may[caller], target) {
					want = http.StatusNoContent
				}
				status, body := e.raw(t, "DELETE", "/v1/tokens/"+ids["target"], secrets["caller"])
				if status != want {
					t.Fatalf("got %d %s, want %d", status, body, want)
				}
				_, err := e.store.FindToken(context.Background(), ids["target"])
				if want == http.StatusNoContent {
					if body != "" {
						t.Errorf("got body %q with the 204, want none", body)
					}
					if doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
						t.Errorf("after the revoke: got %v from the store, want ENOTFOUND", err)
					}
					if target != "expired" {
						if status, out := e.do(t, "GET", "/v1/tokens", secrets["target"], "", ""); status != 401 || out["code"] != doorlog.EUNAUTHORIZED {
							t.Errorf("the revoked token's next request: got %d %v, want 401", status, out)
						}
					}
				} else {
					if !strings.Contains(body, `"code":"not_found"`) {
						t.Errorf("got body %s, want the native not_found error", body)
					}
					if err != nil {
						t.Errorf("after a refused revoke: got %v from the store, want the token kept", err)
					}
				}
				// The caller's token still works, unless it revoked itself.
				if status, _ := e.do(t, "GET", "/v1/tokens", secrets["caller"], "", ""); status != 200 {
					t.Errorf("the caller's next request: got %d, want 200", status)
				}
			})
		}
		t.Run(caller+" revokes itself", func(t *testing.T) {
			secret, id := e.issue(t, kindOf(caller))
			if status, body := e.raw(t, "DELETE", "/v1/tokens/"+id, secret); status != http.StatusNoContent {
				t.Fatalf("got %d %s, want 204", status, body)
			}
			if status, out := e.do(t, "GET", "/v1/tokens", secret, "", ""); status != 401 || out["code"] != doorlog.EUNAUTHORIZED {
				t.Errorf("its next request: got %d %v, want 401", status, out)
			}
		})
		t.Run(caller+" revokes an unknown token", func(t *testing.T) {
			secret, _ := e.issue(t, kindOf(caller))
			for _, id := range []string{"00000000000000000000", strings.Repeat("f", 300), "a%2Fb"} {
				if status, body := e.raw(t, "DELETE", "/v1/tokens/"+id, secret); status != http.StatusNotFound || !strings.Contains(body, `"code":"not_found"`) {
					t.Errorf("DELETE /v1/tokens/%s: got %d %s, want 404 not_found", id, status, body)
				}
			}
		})
	}
	t.Run("without a token", func(t *testing.T) {
		_, id := e.issue(t, tokenKinds["manager-a"])
		if status, body := e.raw(t, "DELETE", "/v1/tokens/"+id, ""); status != 401 {
			t.Fatalf("got %d %s, want 401", status, body)
		}
		if _, err := e.store.FindToken(context.Background(), id); err != nil {
			t.Errorf("got %v, want the token kept", err)
		}
	})
	t.Run("other methods", func(t *testing.T) {
		resp := e.request(t, "GET", "/v1/tokens/00000000000000000000", e.admin)
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "DELETE" {
			t.Errorf("GET /v1/tokens/{id}: got %d Allow %q, want 405 Allow DELETE", resp.StatusCode, resp.Header.Get("Allow"))
		}
		resp = e.request(t, "PUT", "/v1/tokens", e.admin)
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST" {
			t.Errorf("PUT /v1/tokens: got %d Allow %q, want 405 Allow GET, POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

// request sends a bodiless request and returns the response, its body
// read and closed.
func (e *env) request(t testing.TB, method, path, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// raw sends a bodiless request and returns the status and the body as
// text, for answers that may have no body.
func (e *env) raw(t testing.TB, method, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestCreateTokenExpiry checks POST /v1/tokens' expiries: the default of
// each role without expires_in, the lifetimes it takes, and "never" only
// when asked for.
func TestCreateTokenExpiry(t *testing.T) {
	e := newEnv(t, ingest.DefaultLimits)
	e.seed(t)
	day := 24 * time.Hour
	tests := []struct {
		name, body string
		want       time.Duration // 0: never
	}{
		{"admin by default", `{"role":"admin"}`, 90 * day},
		{"manager by default", `{"role":"manager","site_ids":["a"]}`, 90 * day},
		{"device by default", `{"role":"device","device_id":"` + devA + `"}`, 365 * day},
		{"hours", `{"role":"admin","expires_in":"720h"}`, 720 * time.Hour},
		{"days", `{"role":"device","device_id":"` + devA + `","expires_in":"30d"}`, 30 * day},
		{"never", `{"role":"admin","expires_in":"never"}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			out := e.mustDo(t, "POST", "/v1/tokens", e.admin, tt.body, 201)
			after := time.Now()
			tok, err := e.store.FindToken(context.Background(), out["id"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == 0 {
				if out["expires_at"] != nil || !tok.ExpiresAt.IsZero() {
					t.Fatalf("got expires_at %v (stored %v), want null", out["expires_at"], tok.ExpiresAt)
				}
				return
			}
			got, err := time.Parse(time.RFC3339Nano, out["expires_at"].(string))
			if err != nil {
				t.Fatalf("expires_at %v: %v", out["expires_at"], err)
			}
			lo, hi := before.Add(tt.want).Add(-time.Millisecond), after.Add(tt.want)
			if got.Before(lo) || got.After(hi) || !tok.ExpiresAt.Equal(got) {
				t.Fatalf("got expires_at %v (stored %v), want between %v and %v", got, tok.ExpiresAt, lo, hi)
			}
		})
	}
	for _, bad := range []string{"0", "0s", "-1h", "0d", "soon", "forever", "36501d"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			status, out := e.do(t, "POST", "/v1/tokens", e.admin, "application/json", `{"role":"admin","expires_in":"`+bad+`"}`)
			if status != 400 || out["code"] != doorlog.EINVALID || !strings.Contains(out["error"].(string), "never") {
				t.Fatalf("got %d %v, want 400 invalid naming \"never\"", status, out)
			}
		})
	}
}
