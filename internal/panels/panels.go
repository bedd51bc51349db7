// Package panels serves, for each device that has a listen address
// (doorlog.Device.Listen), that device's panel API alone on that address:
// integrations that can be given only a panel's IP address (port 80
// implied) then reach one device, as they would reach the panel itself.
//
// A Manager keeps one HTTP server per address. Addresses are added,
// changed and removed while the server runs (Set), without a restart. An
// address that cannot be bound (taken, not configured on this host, a
// privileged port) is reported in the device's Status and tried again
// every Config.Retry, so that an address configured after doorlog started
// is served once it exists.
package panels

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// The states of a device's listen address.
const (
	// StateListening: the address is bound and served.
	StateListening = "listening"
	// StateError: the address could not be bound; Status.Error says why,
	// and it is tried again.
	StateError = "error"
	// StatePending: the address is set but the Manager has not started
	// (a process that does not serve, such as a CLI command).
	StatePending = "pending"
)

// Status is what a device's listen address is doing.
type Status struct {
	Address string
	State   string
	// Error is why the address could not be bound, for StateError.
	Error string
	// Since is when the address reached its state.
	Since time.Time
}

// Config is what a Manager needs.
type Config struct {
	// Handler returns the panel API of one device.
	Handler func(deviceID string) http.Handler
	// Server returns the HTTP server of one address, serving h, with the
	// server's timeouts and limits; nil gives a server with a header
	// timeout of 10 s and no other limit.
	Server func(h http.Handler) *http.Server
	// Listener wraps each address's listener (connection limits); nil
	// leaves it as it is.
	Listener func(net.Listener) net.Listener
	// Listen binds an address; nil means net.Listen.
	Listen func(network, address string) (net.Listener, error)
	// Retry is how long a failed address waits before it is tried again;
	// 0 means DefaultRetry.
	Retry  time.Duration
	Logger *slog.Logger
	// Now is the clock of Status.Since; nil means time.Now.
	Now func() time.Time
}

// DefaultRetry is the default of Config.Retry.
const DefaultRetry = 30 * time.Second

// Manager serves the devices' listen addresses. Its methods are safe for
// concurrent use.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	started bool
	closed  bool
	panels  map[string]*panel // by device id
}

// panel is one device's address.
type panel struct {
	device string
	addr   string
	status Status
	srv    *http.Server
	ln     net.Listener
	retry  *time.Timer
}

// New returns a Manager that serves nothing until Start.
func New(cfg Config) *Manager {
	if cfg.Listen == nil {
		cfg.Listen = net.Listen
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Server == nil {
		cfg.Server = func(h http.Handler) *http.Server {
			return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		}
	}
	return &Manager{cfg: cfg, panels: map[string]*panel{}}
}

// Start serves the listen addresses of devices (the others are ignored),
// and those Set from now on.
func (m *Manager) Start(devices []*doorlog.Device) {
	m.mu.Lock()
	m.started = true
	// Addresses Set before the start are bound now.
	for _, p := range m.panels {
		if p.status.State == StatePending {
			m.bind(p)
		}
	}
	m.mu.Unlock()
	for _, d := range devices {
		if d.Listen != "" {
			m.Set(d.ID, d.Listen)
		}
	}
}

// Set makes device's listen address addr ("" for none): the address it
// had, if another, stops being served, and addr is bound (once the
// Manager has started). Setting the address a device already has changes
// nothing.
func (m *Manager) Set(device, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	p := m.panels[device]
	if p != nil && p.addr == addr {
		return
	}
	if p != nil {
		m.stop(p)
		delete(m.panels, device)
	}
	if addr == "" {
		return
	}
	p = &panel{device: device, addr: addr}
	m.panels[device] = p
	if !m.started {
		p.status = Status{Address: addr, State: StatePending, Since: m.cfg.Now()}
		return
	}
	m.bind(p)
}

// bind binds p's address and serves it, or records why it could not and
// tries again later; m.mu is held.
func (m *Manager) bind(p *panel) {
	ln, err := m.cfg.Listen("tcp", p.addr)
	if err != nil {
		if p.status.State != StateError || p.status.Error != err.Error() {
			m.cfg.Logger.Warn("panel address cannot be served; trying again", "device", p.device, "listen", p.addr, "err", err, "retry", m.cfg.Retry)
			p.status = Status{Address: p.addr, State: StateError, Error: err.Error(), Since: m.cfg.Now()}
		}
		p.retry = time.AfterFunc(m.cfg.Retry, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if !m.closed && m.panels[p.device] == p {
				m.bind(p)
			}
		})
		return
	}
	if m.cfg.Listener != nil {
		ln = m.cfg.Listener(ln)
	}
	p.ln = ln
	p.srv = m.cfg.Server(m.cfg.Handler(p.device))
	p.status = Status{Address: p.addr, State: StateListening, Since: m.cfg.Now()}
	m.cfg.Logger.Info("serving a panel address", "device", p.device, "listen", p.addr)
	go func(srv *http.Server, ln net.Listener) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			m.cfg.Logger.Warn("panel address stopped", "device", p.device, "listen", p.addr, "err", err)
		}
	}(p.srv, ln)
}

// stop stops serving p: its listener closes at once (so the address is
// free to be bound again right away), its requests in flight are given 5
// seconds to finish; m.mu is held.
func (m *Manager) stop(p *panel) {
	if p.retry != nil {
		p.retry.Stop()
	}
	if p.srv == nil {
		return
	}
	_ = p.ln.Close()
	go func(srv *http.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}(p.srv)
	m.cfg.Logger.Info("stopped serving a panel address", "device", p.device, "listen", p.addr)
}

// Status returns what device's listen address is doing; false when the
// device has none.
func (m *Manager) Status(device string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.panels[device]
	if p == nil {
		return Status{}, false
	}
	return p.status, true
}

// Close stops serving every address, waiting until ctx is done for the
// requests in flight.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	var servers []*http.Server
	for _, p := range m.panels {
		if p.retry != nil {
			p.retry.Stop()
		}
		if p.srv != nil {
			servers = append(servers, p.srv)
		}
	}
	m.panels = map[string]*panel{}
	m.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = srv.Close()
		}
	}
	return errors.Join(errs...)
}
