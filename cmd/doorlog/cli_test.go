package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestTokenCreate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := app.OpenStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSite(ctx, &doorlog.Site{ID: "north", Name: "North"}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateDevice(ctx, &doorlog.Device{ID: "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11", SiteID: "north", Name: "Gate"}); err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    func(t *testing.T, tok *doorlog.Token)
	}{
		{"admin", []string{"--role", "admin"}, "", func(t *testing.T, tok *doorlog.Token) {
			if tok.Role != doorlog.RoleAdmin || !tok.Scope().All {
				t.Fatalf("got %+v, want an admin of every site", tok)
			}
		}},
		{"manager", []string{"--role", "manager", "--site", "north", "--expires", "1h"}, "", func(t *testing.T, tok *doorlog.Token) {
			if tok.Role != doorlog.RoleManager || !tok.Scope().Allows("north") || tok.Scope().Allows("south") || tok.ExpiresAt.IsZero() {
				t.Fatalf("got %+v, want an expiring manager of north", tok)
			}
		}},
		{"device", []string{"--role", "device", "--device", "0B9A4C1E-5F0E-4C59-9D7E-2F1F6A0B3C11"}, "", func(t *testing.T, tok *doorlog.Token) {
			if tok.Role != doorlog.RoleDevice || tok.DeviceID != "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11" {
				t.Fatalf("got %+v, want the gate's device token", tok)
			}
		}},
		{"manager without site", []string{"--role", "manager"}, "at least one --site", nil},
		{"unknown site", []string{"--role", "manager", "--site", "south"}, "south", nil},
		{"bad role", []string{"--role", "root"}, "--role", nil},
		{"postgres not in this build", []string{"--role", "admin", "--db", "postgres://u:pw@host/db"}, "u:xxxxx@host", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"token", "create", "--data", dir}, tt.args...)
			err := run(ctx, args, &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), ":pw@") {
					t.Fatalf("got error %q, which shows the database password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v (stderr %s)", err, stderr.String())
			}
			secret := lastLine(stdout.String())
			// The CLI and the server share the store: the printed token
			// must authenticate against it.
			tok, err := auth.New(store, time.Now).Authenticate(ctx, secret)
			if err != nil {
				t.Fatalf("got %v authenticating %q, want the new token to work", err, secret)
			}
			tt.want(t, tok)
		})
	}
}

var listening = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// TestServeFromEnvironment starts serve in-process configured only through
// DOORLOG_* variables, checks it answers, and stops it with its context, as
// SIGTERM does.
func TestServeFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOORLOG_ADDR", "127.0.0.1:0")
	t.Setenv("DOORLOG_DATA", dir)
	t.Setenv("DOORLOG_NAME", "north-gate-server")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, io.Discard, pw)
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
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatalf("serve stopped early: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not log its address within 20 s")
	}
	for _, path := range []string{"/readyz", "/api/info"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: got %d %s, want 200", path, resp.StatusCode, body)
		}
		if path == "/api/info" && !strings.Contains(string(body), `"device_name":"north-gate-server"`) {
			t.Fatalf("GET /api/info: got %s, want the name from DOORLOG_NAME", body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v on shutdown, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20 s of its context ending")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, app.DBFileName)); len(matches) != 1 {
		t.Fatalf("got %v, want the store file in DOORLOG_DATA", matches)
	}
}
