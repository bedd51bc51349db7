// Package vpanel is a virtual BAS-IP panel: the panel API (GET /api/info,
// the MD5 login, logout, GET /api/v1/log/items, the clear, GET
// /api/v1/device/time) over a log kept in a ring buffer that overwrites its
// oldest event when full, as a real panel's does. It exists so that the
// pull collector, the demo and `doorlog simulate --panels` have panels to
// read from, with the faults real ones have on demand: a reboot (that may
// lose the log), a clock set wrong, going offline.
//
// The wire format is doorlog's own BAS-IP implementation (package basip,
// held to seed 001 by golden tests) over the ring: one way to answer, so a
// virtual panel answers exactly as doorlog's per-device BAS-IP API does.
package vpanel

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/basip"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/respond"
)

// Config describes a panel.
type Config struct {
	// Device is the panel as doorlog knows it: its id, name and model
	// are what /api/info answers.
	Device doorlog.Device
	// Ring is how many events the log keeps; 0 means DefaultRing.
	Ring int
	// Username and Password are the panel's admin credentials; empty
	// means "admin" and DefaultPassword.
	Username, Password string
	// Firmware is the version /api/info answers; "" means "2.9.0".
	Firmware string
	Catalog  *catalog.Catalog
	// Now is the real clock; the panel's own is Now plus its skew. Nil
	// means time.Now.
	Now func() time.Time
}

// Defaults of a Config.
const (
	DefaultRing     = 500
	DefaultPassword = "123456"
)

// Panel is one virtual panel. Its methods are safe for concurrent use.
type Panel struct {
	cfg     Config
	handler http.Handler

	mu     sync.Mutex
	ring   []doorlog.Event // in arrival order, oldest first
	seq    int64
	logged int64 // every event ever logged
	lost   int64 // events overwritten or lost on a reboot
	skew   time.Duration
	tokens map[string]bool
	srv    *http.Server
	ln     net.Listener
}

// New returns a panel with an empty log, not serving yet (Serve).
func New(cfg Config) *Panel {
	if cfg.Ring <= 0 {
		cfg.Ring = DefaultRing
	}
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = DefaultPassword
	}
	if cfg.Firmware == "" {
		cfg.Firmware = "2.9.0"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Device.SiteID == "" {
		cfg.Device.SiteID = "panel"
	}
	p := &Panel{cfg: cfg, tokens: map[string]bool{}}
	h := basip.New(basip.Config{
		Store:   (*ringStore)(p),
		Catalog: cfg.Catalog,
		Auth:    (*panelAuth)(p),
		Info:    basip.Info{DeviceModel: cfg.Device.Model, DeviceName: cfg.Device.Name, Version: cfg.Firmware},
		Now:     cfg.Now,
	})
	mux := http.NewServeMux()
	h.Panel(cfg.Device.ID).Register(mux)
	mux.HandleFunc("GET /api/v1/device/time", p.deviceTime)
	mux.HandleFunc("POST /_sim/reboot", p.controlReboot)
	mux.HandleFunc("POST /_sim/skew", p.controlSkew)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_ = respond.JSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
	})
	p.handler = mux
	return p
}

// ID returns the panel's device id.
func (p *Panel) ID() string { return p.cfg.Device.ID }

// Handler is the panel's API.
func (p *Panel) Handler() http.Handler { return p.handler }

// now is the panel's own clock.
func (p *Panel) now() time.Time { return p.cfg.Now().Add(p.skew) }

// Log adds an event to the log at the panel's clock, overwriting the
// oldest when the ring is full. Its category and priority are the
// catalog's.
func (p *Panel) Log(key string, model json.RawMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log(key, model)
}

func (p *Panel) log(key string, model json.RawMessage) {
	entry := p.cfg.Catalog.Entry(key)
	if len(model) == 0 {
		model = json.RawMessage(`{}`)
	}
	p.seq++
	p.logged++
	e := doorlog.Event{ID: doorlog.FormatEventID(p.seq), DeviceID: p.cfg.Device.ID, SiteID: p.cfg.Device.SiteID,
		Time: doorlog.TruncateMillis(p.now()), Key: key, Category: entry.Category, Priority: entry.Priority, Model: model}
	if len(p.ring) == p.cfg.Ring {
		p.ring = slices.Delete(p.ring, 0, 1)
		p.lost++
	}
	p.ring = append(p.ring, e)
}

// Counts returns how many events the panel ever logged and how many of
// them its log no longer holds (overwritten, or lost on a reboot; a clear
// does not count).
func (p *Panel) Counts() (logged, lost int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logged, p.lost
}

// Events returns the events the log holds, oldest first.
func (p *Panel) Events() []doorlog.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ring)
}

// SetSkew sets the panel's clock to the real one plus d.
func (p *Panel) SetSkew(d time.Duration) {
	p.mu.Lock()
	p.skew = d
	p.mu.Unlock()
}

// Reboot ends every session and, when lose, empties the log (some panels
// lose it on a reboot); the panel logs device_booted. A serving panel is
// offline while it reboots: call Stop and Serve around it for that.
func (p *Panel) Reboot(lose bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens = map[string]bool{}
	if lose {
		p.lost += int64(len(p.ring))
		p.ring = nil
	}
	p.log("device_booted", json.RawMessage(`{"status":"finishing"}`))
}

// Serve serves the panel on addr (host:port; port 0 picks one) until Stop,
// and returns the address it listens on.
func (p *Panel) Serve(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: p.handler, ReadHeaderTimeout: 10 * time.Second}
	p.mu.Lock()
	p.srv, p.ln = srv, ln
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// Stop stops serving at once (the panel goes offline); its log stays.
func (p *Panel) Stop() {
	p.mu.Lock()
	srv := p.srv
	p.srv, p.ln = nil, nil
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// deviceTime serves GET /api/v1/device/time: the panel's clock in Unix
// seconds, as BAS-IP panels answer it. It needs a token.
func (p *Panel) deviceTime(w http.ResponseWriter, r *http.Request) {
	if _, err := (*panelAuth)(p).Authenticate(r.Context(), auth.BearerToken(r)); err != nil {
		_ = respond.JSON(w, http.StatusUnauthorized, map[string]string{"error": basip.ErrLogIn})
		return
	}
	p.mu.Lock()
	now := p.now()
	p.mu.Unlock()
	_ = respond.JSON(w, http.StatusOK, map[string]any{"time_unix": now.Unix(), "timezone": "UTC+00:00"})
}

// The control endpoints of a virtual panel, for `doorlog simulate`: not
// part of the BAS-IP API, and answered only to the panel's own sessions.
//
//	POST /_sim/reboot[?lose=true]   reboot, losing the log when lose
//	POST /_sim/skew?by=-90m         set the clock off by a duration (0 puts it right)
func (p *Panel) controlReboot(w http.ResponseWriter, r *http.Request) {
	if !p.controlled(w, r) {
		return
	}
	p.Reboot(r.URL.Query().Get("lose") == "true")
	_ = respond.JSON(w, http.StatusOK, map[string]string{"result": "rebooted"})
}

func (p *Panel) controlSkew(w http.ResponseWriter, r *http.Request) {
	if !p.controlled(w, r) {
		return
	}
	d, err := ParseSkew(r.URL.Query().Get("by"))
	if err != nil {
		_ = respond.JSON(w, http.StatusBadRequest, map[string]string{"error": "by: " + err.Error()})
		return
	}
	p.SetSkew(d)
	_ = respond.JSON(w, http.StatusOK, map[string]string{"result": "clock set " + d.String() + " off"})
}

// controlled answers 401 unless the request has a session of the panel.
func (p *Panel) controlled(w http.ResponseWriter, r *http.Request) bool {
	if _, err := (*panelAuth)(p).Authenticate(r.Context(), auth.BearerToken(r)); err != nil {
		_ = respond.JSON(w, http.StatusUnauthorized, map[string]string{"error": basip.ErrLogIn})
		return false
	}
	return true
}

// Router logs generated events on the panels of their devices: a
// sim.Sink (events of a device without a panel are dropped).
type Router map[string]*Panel

// Send logs each item on its device's panel, at the panel's clock.
func (r Router) Send(ctx context.Context, items []ingest.Item) error {
	for _, it := range items {
		if p := r[it.DeviceID]; p != nil {
			p.Log(it.Key, it.Model)
		}
	}
	return nil
}

// ringStore is the panel's log as the basip package reads it.
type ringStore Panel

func (s *ringStore) panel() *Panel { return (*Panel)(s) }

// ListEvents lists the ring as a store would.
func (s *ringStore) ListEvents(ctx context.Context, q doorlog.EventQuery) ([]doorlog.Event, error) {
	events := s.matching(q.Filter)
	if q.Order == doorlog.Desc {
		slices.Reverse(events)
	}
	events = events[min(q.Offset, len(events)):]
	if q.Limit > 0 && len(events) > q.Limit {
		events = events[:q.Limit]
	}
	return events, nil
}

// CountEvents counts the ring's events f selects.
func (s *ringStore) CountEvents(ctx context.Context, f doorlog.EventFilter) (int64, error) {
	return int64(len(s.matching(f))), nil
}

// matching returns the ring's events f selects, in (time, id) order.
func (s *ringStore) matching(f doorlog.EventFilter) []doorlog.Event {
	p := s.panel()
	p.mu.Lock()
	var out []doorlog.Event
	for _, e := range p.ring {
		if f.Match(e) {
			out = append(out, e)
		}
	}
	p.mu.Unlock()
	slices.SortStableFunc(out, func(a, b doorlog.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// EventKeys returns the keys the ring holds.
func (s *ringStore) EventKeys(ctx context.Context) ([]string, error) {
	p := s.panel()
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []string
	for _, e := range p.ring {
		if !slices.Contains(keys, e.Key) {
			keys = append(keys, e.Key)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// FindDevice knows the panel alone.
func (s *ringStore) FindDevice(ctx context.Context, id string) (*doorlog.Device, error) {
	p := s.panel()
	if canon, err := doorlog.CanonicalDeviceID(id); err == nil && canon == p.cfg.Device.ID {
		d := p.cfg.Device
		return &d, nil
	}
	return nil, doorlog.Errorf(doorlog.ENOTFOUND, "device %q not found", id)
}

// SetWatermark is the clear: a panel deletes its log.
func (s *ringStore) SetWatermark(ctx context.Context, k doorlog.WatermarkKey, at time.Time) (*doorlog.Watermark, error) {
	p := s.panel()
	p.mu.Lock()
	p.ring = nil
	p.mu.Unlock()
	return &doorlog.Watermark{WatermarkKey: k, ClearedAt: at}, nil
}

// FindWatermark finds none: a panel's clear deletes, it leaves no mark.
func (s *ringStore) FindWatermark(ctx context.Context, k doorlog.WatermarkKey) (*doorlog.Watermark, error) {
	return nil, doorlog.Errorf(doorlog.ENOTFOUND, "no watermark")
}

// panelAuth is the panel's one admin account and its sessions.
type panelAuth Panel

var errLogIn = doorlog.Errorf(doorlog.EUNAUTHORIZED, "wrong username or password")

// Authenticate accepts the tokens of the panel's sessions.
func (a *panelAuth) Authenticate(ctx context.Context, bearer string) (*doorlog.Token, error) {
	p := (*Panel)(a)
	p.mu.Lock()
	ok := p.tokens[bearer]
	p.mu.Unlock()
	if !ok {
		return nil, errLogIn
	}
	return &doorlog.Token{ID: bearer, Role: doorlog.RoleAdmin, Username: p.cfg.Username}, nil
}

// Login checks the admin's password (plain or its MD5 in hex, any case)
// and opens a session; each attempt is logged, as panels log them.
func (a *panelAuth) Login(ctx context.Context, req auth.LoginRequest) (*auth.LoginResult, error) {
	p := (*Panel)(a)
	sum := md5.Sum([]byte(p.cfg.Password))
	ok := req.Username == p.cfg.Username && (req.Password == p.cfg.Password || strings.EqualFold(req.Password, hex.EncodeToString(sum[:])))
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ok {
		p.log(auth.KeyLoginFailed, json.RawMessage(`{}`))
		return nil, errLogIn
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	p.tokens[token] = true
	p.log(auth.KeyLoginSucceeded, json.RawMessage(`{"account_type":"admin"}`))
	return &auth.LoginResult{Account: &doorlog.Account{Username: p.cfg.Username, Role: doorlog.RoleAdmin}, Secret: token}, nil
}

// Revoke ends a session.
func (a *panelAuth) Revoke(ctx context.Context, secret string) error {
	p := (*Panel)(a)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tokens[secret] {
		return errLogIn
	}
	delete(p.tokens, secret)
	return nil
}

// ParseSkew reads a skew for the control of `doorlog simulate`: a Go
// duration ("-90m") or whole seconds ("-5400").
func ParseSkew(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("want a duration such as -90m or a number of seconds")
	}
	return time.Duration(n) * time.Second, nil
}
