// Package apitest builds the stored world the API packages' tests run
// against: a real SQLite file in the test's temp dir, the real catalog, a
// real auth service on a fixed clock, and the fixture's sites, devices and
// accounts. Each API package keeps its own fixture data, events and golden
// files; this package only saves each of them writing the same setup.
package apitest

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/sqlite"
)

// Account is a fixture account with its password in clear.
type Account struct {
	Username, Password string
	Role               doorlog.Role
	SiteIDs            []string
}

// World is a store with the fixture in it and the services around it.
type World struct {
	DB      *sqlite.DB
	Catalog *catalog.Catalog
	Auth    *auth.Service
	// Logs collects what the handler under test logs.
	Logs *LogBuffer
}

// New opens a fresh store for tb (closed at cleanup) and creates the sites,
// devices and accounts in it. Auth runs on a clock stopped at now.
func New(tb testing.TB, now time.Time, sites []doorlog.Site, devices []doorlog.Device, accounts []Account) *World {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "doorlog.db"))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	cat, err := catalog.New()
	if err != nil {
		tb.Fatalf("load catalog: %v", err)
	}
	w := &World{DB: db, Catalog: cat, Auth: auth.New(db, func() time.Time { return now }), Logs: &LogBuffer{}}
	for _, s := range sites {
		if err := db.CreateSite(ctx, &s); err != nil {
			tb.Fatalf("create site %s: %v", s.ID, err)
		}
	}
	for _, d := range devices {
		w.CreateDevice(tb, d)
	}
	for _, a := range accounts {
		hash, err := hashPassword(a.Password)
		if err != nil {
			tb.Fatalf("hash password: %v", err)
		}
		if err := db.CreateAccount(ctx, &doorlog.Account{Username: a.Username, PasswordHash: hash, Role: a.Role, SiteIDs: a.SiteIDs}); err != nil {
			tb.Fatalf("create account %s: %v", a.Username, err)
		}
	}
	return w
}

// CreateDevice stores one more device.
func (w *World) CreateDevice(tb testing.TB, d doorlog.Device) {
	tb.Helper()
	if err := w.DB.CreateDevice(context.Background(), &d); err != nil {
		tb.Fatalf("create device %s: %v", d.ID, err)
	}
}

// Issue creates a token like tmpl and returns its secret.
func (w *World) Issue(tb testing.TB, tmpl doorlog.Token) string {
	tb.Helper()
	secret, _, err := w.Auth.IssueToken(context.Background(), tmpl)
	if err != nil {
		tb.Fatalf("issue %s token: %v", tmpl.Role, err)
	}
	return secret
}

// hashes caches auth.HashPassword for the test binary: bcrypt is slow on
// purpose, and every test's store holds the same few accounts.
var hashes sync.Map // password → hash

func hashPassword(password string) (string, error) {
	if h, ok := hashes.Load(password); ok {
		return h.(string), nil
	}
	h, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	hashes.Store(password, h)
	return h, nil
}

// LogBuffer is a log sink safe for a server's goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Append stores events in one call to db and returns them with the ids the
// store gave them, failing the test on any error.
func Append(tb testing.TB, db *sqlite.DB, events []doorlog.Event) []doorlog.Event {
	tb.Helper()
	res, err := db.AppendEvents(context.Background(), events)
	if err != nil {
		tb.Fatalf("append events: %v", err)
	}
	if len(res) != len(events) {
		tb.Fatalf("append events: got %d results, want %d", len(res), len(events))
	}
	out := slices.Clone(events)
	for i := range out {
		out[i].ID = res[i].ID
	}
	return out
}
