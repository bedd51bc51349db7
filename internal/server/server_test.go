package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/doorlog/doorlog/internal/server"
)

// routes is a tiny API for the middleware to wrap.
type routes struct{}

func (routes) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		panic("secret internal detail")
	})
	mux.HandleFunc("GET /api/v1/login", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServer(t *testing.T) {
	logs := &syncBuffer{}
	pingErr := error(nil)
	var mu sync.Mutex
	srv := server.New(server.Config{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Ping: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			return pingErr
		},
		APIs: []server.Registrar{routes{}},
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	get := func(t *testing.T, path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}

	tests := []struct {
		name, path string
		status     int
		field      string
		want       string
	}{
		{"healthz", "/healthz", 200, "status", "ok"},
		{"readyz", "/readyz", 200, "status", "ready"},
		{"unknown native path", "/v1/nothing", 404, "code", "not_found"},
		{"unknown BAS-IP path", "/api/v1/nothing", 404, "error", "Not found"},
		{"unknown AIPIX path", "/api/admin/v1/intercoms/x/logs/", 404, "message", "Not Found"},
		{"panic", "/boom", 500, "error", "Internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := get(t, tt.path)
			if status != tt.status || out[tt.field] != tt.want {
				t.Fatalf("got %d %v, want %d with %s=%q", status, out, tt.status, tt.field, tt.want)
			}
		})
	}

	t.Run("readyz fails when the store does not answer", func(t *testing.T) {
		mu.Lock()
		pingErr = errors.New("disk gone")
		mu.Unlock()
		defer func() { mu.Lock(); pingErr = nil; mu.Unlock() }()
		if status, _ := get(t, "/readyz"); status != 503 {
			t.Fatalf("got %d, want 503", status)
		}
	})

	t.Run("request logs carry no query string", func(t *testing.T) {
		get(t, "/api/v1/login?username=ann&password=hunter2hunter2")
		if !strings.Contains(logs.String(), "path=/api/v1/login") {
			t.Fatalf("got logs %q, want a line for the login request", logs.String())
		}
		if strings.Contains(logs.String(), "hunter2") {
			t.Fatalf("got logs containing the password: %q", logs.String())
		}
		if !strings.Contains(logs.String(), "secret internal detail") {
			t.Fatalf("got logs %q, want the panic logged for the operator", logs.String())
		}
	})

	t.Run("readyz fails while draining", func(t *testing.T) {
		srv.Drain()
		if status, out := get(t, "/readyz"); status != 503 {
			t.Fatalf("got %d %v, want 503", status, out)
		}
		if status, _ := get(t, "/healthz"); status != 200 {
			t.Fatalf("got healthz %d while draining, want 200", status)
		}
	})
}

// TestPage checks that the web page gets / and /web/..., and nothing an
// API route or the JSON 404 should answer.
func TestPage(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Page", r.URL.Path)
	})
	srv := server.New(server.Config{Logger: slog.New(slog.DiscardHandler), APIs: []server.Registrar{routes{}}, Page: page})
	tests := []struct {
		path     string
		wantPage bool
		status   int
	}{
		{"/", true, 200},
		{"/web/static/app.js", true, 200},
		{"/web/login", true, 200},
		{"/healthz", false, 200},
		{"/webby", false, 404},
		{"/v1/nothing", false, 404},
		{"/index.html", false, 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, httptest.NewRequest("GET", tt.path, nil))
			if got := w.Header().Get("X-Page") != ""; got != tt.wantPage || w.Code != tt.status {
				t.Fatalf("got page %v, status %d; want page %v, status %d", got, w.Code, tt.wantPage, tt.status)
			}
		})
	}
}
