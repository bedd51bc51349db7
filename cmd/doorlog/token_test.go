package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

const gate = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"

// tokenDir returns a data directory with site north and its gate.
func tokenDir(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := app.OpenStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateSite(ctx, &doorlog.Site{ID: "north", Name: "North"}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateDevice(ctx, &doorlog.Device{ID: gate, SiteID: "north", Name: "Gate"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cli runs doorlog with args and returns stdout and stderr.
func cli(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// mustCLI is cli that fails the test on an error.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, err := cli(t, args...)
	if err != nil {
		t.Fatalf("doorlog %s: %v (stderr %s)", strings.Join(args, " "), err, stderr)
	}
	return stdout
}

// storedToken reads the token of a secret from the data directory.
func storedToken(t *testing.T, dir, secret string) *doorlog.Token {
	t.Helper()
	store, err := app.OpenStore(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tok, err := auth.New(store, time.Now).Authenticate(context.Background(), secret)
	if err != nil {
		t.Fatalf("got %v authenticating %q, want the new token to work", err, secret)
	}
	return tok
}

// TestTokenCreateExpiry checks the default lifetimes of CLI tokens, the
// ones --expires takes, and that never is only had by asking.
func TestTokenCreateExpiry(t *testing.T) {
	dir := tokenDir(t)
	day := 24 * time.Hour
	tests := []struct {
		name string
		args []string
		want time.Duration // 0: never
	}{
		{"admin by default", []string{"--role", "admin"}, 90 * day},
		{"manager by default", []string{"--role", "manager", "--site", "north"}, 90 * day},
		{"device by default", []string{"--role", "device", "--device", gate}, 365 * day},
		{"days", []string{"--role", "admin", "--expires", "7d"}, 7 * day},
		{"a duration", []string{"--role", "device", "--device", gate, "--expires", "36h"}, 36 * time.Hour},
		{"never", []string{"--role", "admin", "--expires", "never"}, 0},
		{"zero, as before", []string{"--role", "admin", "--expires", "0"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			stdout := mustCLI(t, append([]string{"token", "create", "--data", dir}, tt.args...)...)
			after := time.Now()
			tok := storedToken(t, dir, lastLine(stdout))
			if tt.want == 0 {
				if !tok.ExpiresAt.IsZero() {
					t.Fatalf("got expiry %v, want never", tok.ExpiresAt)
				}
				return
			}
			lo, hi := before.Add(tt.want).Add(-time.Millisecond), after.Add(tt.want)
			if tok.ExpiresAt.Before(lo) || tok.ExpiresAt.After(hi) {
				t.Fatalf("got expiry %v, want between %v and %v", tok.ExpiresAt, lo, hi)
			}
		})
	}
	for _, bad := range []string{"-1h", "soon", "0d", "1.5d", "36501d"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			_, _, err := cli(t, "token", "create", "--data", dir, "--role", "admin", "--expires", bad)
			if err == nil || !strings.Contains(err.Error(), "--expires") || !strings.Contains(err.Error(), "never") {
				t.Fatalf("got %v, want an --expires error naming never", err)
			}
		})
	}
}

// TestTokenListRevoke lists and revokes tokens from the CLI.
func TestTokenListRevoke(t *testing.T) {
	dir := tokenDir(t)
	admin := lastLine(mustCLI(t, "token", "create", "--data", dir, "--role", "admin", "--expires", "never"))
	manager := lastLine(mustCLI(t, "token", "create", "--data", dir, "--role", "manager", "--site", "north"))
	device := lastLine(mustCLI(t, "token", "create", "--data", dir, "--role", "device", "--device", gate))
	var expiredID string
	{
		store, err := app.OpenStore(context.Background(), dir, "")
		if err != nil {
			t.Fatal(err)
		}
		_, tok, err := auth.New(store, time.Now).IssueToken(context.Background(), doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{"north"}, Username: "ann", ExpiresAt: time.Now().Add(-time.Hour)})
		store.Close()
		if err != nil {
			t.Fatal(err)
		}
		expiredID = tok.ID
	}
	id := func(secret string) string { return strings.SplitN(secret, "_", 3)[1] }

	list := mustCLI(t, "token", "list", "--data", dir)
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("got list\n%s\nwant a header and 3 tokens", list)
	}
	for _, want := range []string{
		id(admin) + "  admin    every site",
		id(manager) + "  manager  sites north",
		id(device) + "  device   device " + gate,
	} {
		if !strings.Contains(list, want) {
			t.Errorf("got list\n%s\nwant a line with %q", list, want)
		}
	}
	if strings.Contains(list, expiredID) || strings.Contains(list, strings.SplitN(admin, "_", 3)[2]) {
		t.Errorf("got list\n%s\nwith the expired token or a secret", list)
	}
	list = mustCLI(t, "token", "list", "--expired", "--data", dir)
	if !strings.Contains(list, expiredID) || !strings.Contains(list, "(expired)") || !strings.Contains(list, " ann ") {
		t.Errorf("got list --expired\n%s\nwant ann's expired token marked (expired)", list)
	}

	// By id with the flags after it, and by the whole secret.
	if out := mustCLI(t, "token", "revoke", id(manager), "--data", dir); !strings.Contains(out, "Revoked token "+id(manager)) {
		t.Errorf("got %q, want the revoke confirmed", out)
	}
	if out := mustCLI(t, "token", "revoke", "--data", dir, device); strings.Contains(out, strings.SplitN(device, "_", 3)[2]) {
		t.Errorf("got %q, which shows the secret", out)
	}
	list = mustCLI(t, "token", "list", "--data", dir)
	if strings.Contains(list, id(manager)) || strings.Contains(list, id(device)) || !strings.Contains(list, id(admin)) {
		t.Errorf("after the revokes: got list\n%s\nwant the admin token alone", list)
	}

	errs := []struct {
		name string
		args []string
		want string
	}{
		{"unknown id", []string{"token", "revoke", "--data", dir, "00000000000000000000"}, "not found"},
		{"revoked twice", []string{"token", "revoke", "--data", dir, id(manager)}, "not found"},
		{"no id", []string{"token", "revoke", "--data", dir}, "one token id"},
		{"two ids", []string{"token", "revoke", "--data", dir, "a", "b"}, "one token id"},
		{"unknown command", []string{"token", "delete", "x"}, "create, list or revoke"},
		{"list takes no argument", []string{"token", "list", "--data", dir, "x"}, "no arguments"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := cli(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestTokenRevokeWhileServing runs the server on a data directory and, from
// the CLI on the same directory while it runs, creates a token, lists it,
// and revokes it: the server's very next request with the token is a 401,
// with no wait.
func TestTokenRevokeWhileServing(t *testing.T) {
	dir := tokenDir(t)
	base := startServe(t, dir)
	secret := lastLine(mustCLI(t, "token", "create", "--data", dir, "--role", "admin"))
	id := strings.SplitN(secret, "_", 3)[1]
	get := func() (int, string) {
		req, _ := http.NewRequest("GET", base+"/v1/tokens", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Several requests, so that a server caching tokens would have it
	// cached.
	for range 3 {
		if status, body := get(); status != 200 || !strings.Contains(body, `"id":"`+id+`"`) {
			t.Fatalf("before the revoke: got %d %s, want 200 listing the token", status, body)
		}
	}
	if list := mustCLI(t, "token", "list", "--data", dir); !strings.Contains(list, id) {
		t.Fatalf("token list while serving: got\n%s\nwant %s in it", list, id)
	}
	mustCLI(t, "token", "revoke", id, "--data", dir)
	if status, body := get(); status != 401 || !strings.Contains(body, `"code":"unauthorized"`) {
		t.Fatalf("the request right after the CLI's revoke: got %d %s, want 401", status, body)
	}
}

// startServe runs doorlog serve on dir in this process, with args added to
// its flags, until the test ends, and returns its base URL.
func startServe(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, args...), io.Discard, pw)
		pw.Close()
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v on shutdown, want nil", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop within 20 s of its context ending")
		}
	})
	select {
	case base := <-urls:
		return base
	case err := <-done:
		t.Fatalf("serve stopped early: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not log its address within 20 s")
	}
	return ""
}
