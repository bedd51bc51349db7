package auth_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/sqlite"
)

func openStore(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "doorlog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestPasswords(t *testing.T) {
	hash, err := auth.HashPassword("s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$2") || strings.Contains(hash, "s3cret") {
		t.Fatalf("got hash %q, want a bcrypt hash without the password", hash)
	}
	tests := []struct {
		name, given string
		want        bool
	}{
		{"plain", "s3cret pass", true},
		{"md5 lower", md5Hex("s3cret pass"), true},
		{"md5 upper", strings.ToUpper(md5Hex("s3cret pass")), true},
		{"wrong", "s3cret pas", false},
		{"md5 of wrong", md5Hex("nope"), false},
		{"empty", "", false},
		{"huge", strings.Repeat("x", 5000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.CheckPassword(hash, tt.given); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("a plain password that looks like an md5", func(t *testing.T) {
		pw := md5Hex("anything")
		h, err := auth.HashPassword(pw)
		if err != nil {
			t.Fatal(err)
		}
		if !auth.CheckPassword(h, pw) || !auth.CheckPassword(h, md5Hex(pw)) {
			t.Fatalf("got a failed check, want both spellings accepted")
		}
	})
	if _, err := auth.HashPassword(""); doorlog.ErrorCode(err) != doorlog.EINVALID {
		t.Fatalf("got %v for an empty password, want EINVALID", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	svc := auth.New(store, func() time.Time { return now })
	if err := store.CreateSite(ctx, &doorlog.Site{ID: "a", Name: "A", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := svc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{"a"}, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := store.FindToken(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(secret, hex.EncodeToString(stored.SecretHash)) || len(stored.SecretHash) != 32 {
		t.Fatalf("got stored hash %x, want a 32-byte hash unrelated to the secret's text", stored.SecretHash)
	}
	got, err := svc.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("authenticate the issued token: %v", err)
	}
	if got.Role != doorlog.RoleManager || len(got.SiteIDs) != 1 || got.SiteIDs[0] != "a" {
		t.Fatalf("got token %+v, want a manager of site a", got)
	}
	id, sec, _ := strings.Cut(strings.TrimPrefix(secret, "dl_"), "_")
	bad := []struct{ name, bearer string }{
		{"empty", ""},
		{"no prefix", strings.TrimPrefix(secret, "dl_")},
		{"wrong secret", "dl_" + id + "_" + strings.Repeat("A", len(sec))},
		{"one char off", secret[:len(secret)-1] + flip(secret[len(secret)-1])},
		{"unknown id", "dl_" + strings.Repeat("0", 20) + "_" + sec},
		{"no separator", "dl_" + id + sec},
		{"short id", "dl_abc_" + sec},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := svc.Authenticate(ctx, tt.bearer); !errors.Is(err, auth.ErrToken) {
				t.Fatalf("got %v, want ErrToken", err)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		later := auth.New(store, func() time.Time { return now.Add(time.Hour) })
		if _, err := later.Authenticate(ctx, secret); !errors.Is(err, auth.ErrToken) {
			t.Fatalf("got %v an hour later, want ErrToken", err)
		}
	})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestBearerToken(t *testing.T) {
	tests := []struct{ header, want string }{
		{"Bearer abc", "abc"},
		{"bearer  abc ", "abc"},
		{"Basic abc", ""},
		{"Bearer", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if got := auth.BearerToken(r); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoginEvent(t *testing.T) {
	at := time.Date(2025, 1, 1, 12, 0, 0, 123456789, time.UTC)
	dev := &doorlog.Device{ID: "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11", SiteID: "north"}
	tests := []struct {
		name                 string
		ok                   bool
		acct                 *doorlog.Account
		dev                  *doorlog.Device
		key, model, deviceID string
	}{
		{"success at the root", true, &doorlog.Account{Username: "ann", Role: doorlog.RoleAdmin}, nil, auth.KeyLoginSucceeded, `{"account_type":"admin"}`, ""},
		{"wrong password on a device", false, &doorlog.Account{Username: "bob", Role: doorlog.RoleManager}, dev, auth.KeyLoginFailed, `{"account_type":"manager"}`, dev.ID},
		{"unknown user", false, nil, nil, auth.KeyLoginFailed, `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := auth.LoginEvent(at, tt.ok, tt.acct, tt.dev)
			if ev.Key != tt.key || string(ev.Model) != tt.model || ev.DeviceID != tt.deviceID || !ev.Time.Equal(at.Truncate(time.Millisecond)) {
				t.Fatalf("got %v model %s, want key %s model %s device %q at the millisecond", ev, ev.Model, tt.key, tt.model, tt.deviceID)
			}
			if tt.acct != nil && strings.Contains(string(ev.Model), tt.acct.Username) {
				t.Fatalf("got model %s, which names the user", ev.Model)
			}
		})
	}
}

// TestRevokedElsewhere checks that a token deleted from the store by
// another process (here a second handle on the same SQLite file, as the
// CLI opens it) fails on the very next request, with no wait, and that a
// caller changing the token it got changes nothing for the next one.
func TestRevokedElsewhere(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "doorlog.db")
	open := func() *sqlite.DB {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	server, cli := open(), open()
	svc := auth.New(server, time.Now)
	secret, tok, err := svc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{}, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := svc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		got, err := svc.Authenticate(ctx, secret)
		if err != nil || got.ID != tok.ID {
			t.Fatalf("request %d: got %+v, %v, want the token", i, got, err)
		}
		got.SiteIDs = append(got.SiteIDs, "mine") // must not reach the next caller
	}
	if got, _ := svc.Authenticate(ctx, secret); len(got.SiteIDs) != 0 {
		t.Errorf("got sites %q, want none: a caller changed the token of the next", got.SiteIDs)
	}
	if err := cli.DeleteToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, secret); !errors.Is(err, auth.ErrToken) {
		t.Errorf("the request right after another process deleted the token: got %v, want ErrToken", err)
	}
	if _, err := svc.Authenticate(ctx, other); err != nil {
		t.Errorf("another token: got %v, want it still valid", err)
	}
}

// TestMiddlewareSession checks the credentials the middleware takes: the
// bearer header, the web page's session cookie when there is no header,
// and the CSRF header that unsafe requests authenticated by the cookie
// must carry.
func TestMiddlewareSession(t *testing.T) {
	ctx := context.Background()
	svc := auth.New(openStore(t), time.Now)
	admin, _, err := svc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	manager, _, err := svc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	h := svc.Middleware(func(w http.ResponseWriter, r *http.Request, err error) {
		w.Header().Set("X-Code", doorlog.ErrorCode(err))
		w.WriteHeader(http.StatusUnauthorized)
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Role", string(auth.FromContext(r.Context()).Role))
	}))
	tests := []struct {
		name, method, header, cookie, csrf string
		wantRole, wantCode                 string
	}{
		{"bearer", "GET", "Bearer " + admin, "", "", "admin", ""},
		{"cookie", "GET", "", manager, "", "manager", ""},
		{"cookie on HEAD", "HEAD", "", manager, "", "manager", ""},
		{"header wins over cookie", "GET", "Bearer " + admin, manager, "", "admin", ""},
		{"a bad header is not rescued by a good cookie", "GET", "Bearer dl_nope", manager, "", "", doorlog.EUNAUTHORIZED},
		{"a non-bearer header is not rescued by a cookie", "GET", "Basic abc", manager, "", "", doorlog.EUNAUTHORIZED},
		{"bad cookie", "GET", "", "dl_0123456789abcdef0123_nope", "", "", doorlog.EUNAUTHORIZED},
		{"nothing", "GET", "", "", "", "", doorlog.EUNAUTHORIZED},
		{"cookie POST without the CSRF header", "POST", "", manager, "", "", doorlog.EFORBIDDEN},
		{"cookie DELETE without the CSRF header", "DELETE", "", manager, "", "", doorlog.EFORBIDDEN},
		{"cookie PUT with a wrong CSRF header", "PUT", "", manager, "yes", "", doorlog.EFORBIDDEN},
		{"cookie PATCH with the CSRF header", "PATCH", "", manager, "1", "manager", ""},
		{"cookie POST with the CSRF header", "POST", "", manager, "1", "manager", ""},
		{"bearer POST needs no CSRF header", "POST", "Bearer " + admin, "", "", "admin", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/v1/events", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: tt.cookie})
			}
			if tt.csrf != "" {
				r.Header.Set(auth.CSRFHeader, tt.csrf)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if got := w.Header().Get("X-Role"); got != tt.wantRole {
				t.Errorf("got role %q, want %q", got, tt.wantRole)
			}
			if got := w.Header().Get("X-Code"); got != tt.wantCode {
				t.Errorf("got error code %q, want %q", got, tt.wantCode)
			}
		})
	}
}

// TestRevoke checks that a logout's token stops working at once, for this
// service and for another process sharing the store, and that only a
// valid secret revokes.
func TestRevoke(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "doorlog.db")
	var stores [2]*sqlite.DB
	for i := range stores {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores[i] = db
	}
	svc, elsewhere := auth.New(stores[0], time.Now), auth.New(stores[1], time.Now)
	secret, tok, err := svc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{}, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := svc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*auth.Service{svc, elsewhere} {
		if _, err := s.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Revoke(ctx, secret+"x"); !errors.Is(err, auth.ErrToken) {
		t.Fatalf("revoking with a wrong secret: got %v, want ErrToken", err)
	}
	if err := svc.Revoke(ctx, secret); err != nil {
		t.Fatal(err)
	}
	for i, s := range []*auth.Service{svc, elsewhere} {
		if _, err := s.Authenticate(ctx, secret); !errors.Is(err, auth.ErrToken) {
			t.Errorf("service %d, revoked token: got %v, want ErrToken", i, err)
		}
	}
	if _, err := stores[1].FindToken(ctx, tok.ID); doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
		t.Errorf("the revoked token in the store: got %v, want ENOTFOUND (deleted)", err)
	}
	if err := svc.Revoke(ctx, secret); !errors.Is(err, auth.ErrToken) {
		t.Errorf("revoking twice: got %v, want ErrToken", err)
	}
	if _, err := svc.Authenticate(ctx, other); err != nil {
		t.Errorf("another token: got %v, want it still valid", err)
	}
}

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"720h", 720 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"never", 0, true},
		{"36500d", 36500 * 24 * time.Hour, true},
		{"36501d", 0, false},
		{"0", 0, false},
		{"0s", 0, false},
		{"-1h", 0, false},
		{"0d", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"Never", 0, false},
		{"2562047h", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := auth.ParseExpiry(tt.in)
			if tt.ok && (err != nil || got != tt.want) {
				t.Fatalf("got %v, %v, want %v", got, err, tt.want)
			}
			if !tt.ok && doorlog.ErrorCode(err) != doorlog.EINVALID {
				t.Fatalf("got %v, %v, want EINVALID", got, err)
			}
		})
	}
	if auth.DefaultExpiry(doorlog.RoleDevice) != 365*24*time.Hour || auth.DefaultExpiry(doorlog.RoleAdmin) != 90*24*time.Hour || auth.DefaultExpiry(doorlog.RoleManager) != 90*24*time.Hour {
		t.Errorf("got defaults %v (device), %v (admin), %v (manager), want 365, 90 and 90 days",
			auth.DefaultExpiry(doorlog.RoleDevice), auth.DefaultExpiry(doorlog.RoleAdmin), auth.DefaultExpiry(doorlog.RoleManager))
	}
}
