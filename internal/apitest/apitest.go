// Package apitest builds the stored world the API packages' tests run
// against: a real SQLite file in the test's temp dir, the real catalog, a
// real auth service on a clock that stands still unless a test moves it,
// and the fixture's sites, devices and accounts. Each API package keeps its own fixture data, events and golden
// files; this package only saves each of them writing the same setup.
package apitest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

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
	// Auth throttles logins with the default policy and stores their
	// events in DB, logging to Logs.
	Auth *auth.Service
	// Clock is the clock of Auth.
	Clock *Clock
	// Logs collects what the handler under test logs.
	Logs *LogBuffer
}

// Clock is a clock that stands still until a test moves it, safe for a
// server's goroutines.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// AuthConfig is the configuration of World.Auth: the store, the clock, the
// store as the appender of login events, the catalog's classification and
// Logs.
func (w *World) AuthConfig() auth.Config {
	return auth.Config{
		Store:    w.DB,
		Now:      w.Clock.Now,
		Appender: w.DB,
		Classify: func(key string) (doorlog.Category, doorlog.Priority) {
			e := w.Catalog.Entry(key)
			return e.Category, e.Priority
		},
		Logger: slog.New(slog.NewTextHandler(w.Logs, nil)),
	}
}

// NewAuth returns another auth service over the world, configured as
// World.Auth and then changed by change (a login policy, an appender).
func (w *World) NewAuth(change func(*auth.Config)) *auth.Service {
	cfg := w.AuthConfig()
	change(&cfg)
	return auth.NewService(cfg)
}

// New opens a fresh store for tb (closed at cleanup) and creates the sites,
// devices and accounts in it. Auth runs on Clock, which stands at now.
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
	w := &World{DB: db, Catalog: cat, Clock: &Clock{now: now}, Logs: &LogBuffer{}}
	w.Auth = auth.NewService(w.AuthConfig())
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

// hashes caches hashPassword for the test binary: every test's store
// holds the same few accounts.
var hashes sync.Map // password → hash

// hashPassword is auth.HashPassword at bcrypt's lowest cost: bcrypt over
// the password's hex MD5 (see package auth). bcrypt reads the cost from
// the hash, so logins check these as they check any other, while the
// tests that log in many times stay fast under the race detector.
func hashPassword(password string) (string, error) {
	if h, ok := hashes.Load(password); ok {
		return h.(string), nil
	}
	sum := md5.Sum([]byte(password))
	b, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(sum[:])), bcrypt.MinCost)
	if err != nil {
		return "", err
	}
	h := string(b)
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

// ThrottlePolicy is a login throttle policy small enough for tests to reach
// every stage in a few attempts: a username allows 2 failures, waits 1 s
// after the 3rd and is locked for 10 minutes at the 4th; an address allows
// 3, waits after the 4th and 5th, and is locked at the 6th.
func ThrottlePolicy() *auth.ThrottlePolicy {
	return &auth.ThrottlePolicy{
		Account:    auth.KeyPolicy{Limit: 4, Free: 2, BaseDelay: time.Second, MaxDelay: time.Minute, Lockout: 10 * time.Minute, Forget: time.Hour},
		Address:    auth.KeyPolicy{Limit: 6, Free: 3, BaseDelay: time.Second, MaxDelay: time.Minute, Lockout: 10 * time.Minute, Forget: time.Hour},
		MaxEntries: 100,
	}
}
