// Package server assembles doorlog's HTTP handler: every API's routes on one
// standard ServeMux, health endpoints, and the middleware every request goes
// through (panic recovery and request logging).
package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/doorlog/doorlog/internal/respond"
)

// Registrar is an API that adds its routes to a mux.
type Registrar interface {
	Register(mux *http.ServeMux)
}

// Config wires a Server.
type Config struct {
	Logger *slog.Logger
	// Ping reports whether the store answers; /readyz fails when it does
	// not.
	Ping func(ctx context.Context) error
	// APIs are the route sets to serve.
	APIs []Registrar
	// Observe, when set, is told of every answered request with the
	// ServeMux pattern that matched it (for latency metrics per route).
	Observe func(route, method string, code int, d time.Duration)
	// Page, when set, serves the web page: the path / and every path
	// under /web/. It is reached through the catch-all route rather than
	// routes of its own, so the mux holds only API routes, each of which
	// openapi.json describes; the page is not an API.
	Page http.Handler
	// WriteTimeout, when positive, is the time a client has to take an
	// answer, counted from when the answer starts: the HTTP server's own
	// write timeout counts from the end of the request's headers, so time
	// spent reading a slow body, or waiting for a commit, would leave no
	// time to answer a request whose events are already stored.
	WriteTimeout time.Duration
}

// Server is doorlog's HTTP handler.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	draining atomic.Bool
	handler  http.Handler
}

// New returns a Server with every API registered.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	for _, api := range cfg.APIs {
		api.Register(s.mux)
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("/", s.fallback)
	s.handler = s.recoverer(s.logRequests(s.mux))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Drain makes /readyz fail, so a load balancer stops sending traffic while
// in-flight requests finish.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.cfg.Ping != nil {
		if err := s.cfg.Ping(ctx); err != nil {
			s.cfg.Logger.Warn("readiness check failed", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// fallback serves what no API route took: the web page, when there is
// one, and the JSON 404 of unknown paths.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Page != nil && (r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/web/")) {
		s.cfg.Page.ServeHTTP(w, r)
		return
	}
	notFound(w, r)
}

// notFound answers unknown paths in the shape of the API the path belongs
// to: the native API adds a code, AIPIX (Laravel) says {"message": ...},
// and BAS-IP clients, the default, read {"error": ...}.
func notFound(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/"):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint", "code": "not_found"})
	case strings.HasPrefix(r.URL.Path, "/api/admin/"):
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	_ = respond.JSON(w, status, v)
}

// statusRecorder remembers the status written, for the request log, and
// gives the answer its write deadline when it starts.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	// writeTimeout is Config.WriteTimeout.
	writeTimeout time.Duration
}

// start is called once, when the answer starts.
func (r *statusRecorder) start(code int) {
	r.status = code
	if r.writeTimeout > 0 {
		// A handler that streams (the live stream, the export) sets a
		// deadline of its own before each write, which replaces this.
		_ = http.NewResponseController(r.ResponseWriter).SetWriteDeadline(time.Now().Add(r.writeTimeout))
	}
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.start(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.start(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs one line per request. It logs the path and never the
// query string or headers: BAS-IP logins carry the password in the query,
// and tokens travel in headers.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, writeTimeout: s.cfg.WriteTimeout}
		next.ServeHTTP(rec, r)
		elapsed := time.Since(start)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		// ServeMux records the matched pattern on the request it routed.
		if s.cfg.Observe != nil {
			s.cfg.Observe(r.Pattern, r.Method, rec.status, elapsed)
		}
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		// Checked first: the arguments would otherwise be boxed for every
		// request only to be dropped, as debug lines are in production.
		if !s.cfg.Logger.Enabled(r.Context(), level) {
			return
		}
		s.cfg.Logger.Log(r.Context(), level, "request",
			"method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "duration", elapsed, "remote", r.RemoteAddr)
	})
}

// recoverer turns a panic in a handler into a logged 500 without internals,
// so no input can crash the server.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.cfg.Logger.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "Internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}
