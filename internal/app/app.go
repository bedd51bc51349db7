// Package app wires doorlog's parts into one running server: the store,
// the catalog, auth, the group-commit writer, ingest, every API and the
// web page on one handler. The serve command and the end-to-end tests both build the server
// through it, so the tests exercise exactly what runs.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/doorlog/doorlog/internal/aipix"
	"github.com/doorlog/doorlog/internal/api"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/basip"
	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/collector"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/metrics"
	"github.com/doorlog/doorlog/internal/oloid"
	"github.com/doorlog/doorlog/internal/openapi"
	"github.com/doorlog/doorlog/internal/panels"
	"github.com/doorlog/doorlog/internal/seal"
	"github.com/doorlog/doorlog/internal/server"
	"github.com/doorlog/doorlog/internal/sqlite"
	"github.com/doorlog/doorlog/internal/stream"
	"github.com/doorlog/doorlog/internal/web"
)

// Config is what a server is built from.
type Config struct {
	// Data is the data directory of the embedded store; DB, when set, is a
	// store URL used instead.
	Data, DB string
	// Name is the server's device_name in /api/info.
	Name string
	// Version is the build's version, shown in /api/info.
	Version string
	// Commit is the revision the build was made from, shown in /api/info
	// ("" when unknown).
	Commit string
	// Limits bound ingest requests and the distinct keys outside the
	// catalog the server stores (Limits.MaxUnknownKeys, which BAS-IP's list
	// of names follows too); the zero value means ingest.DefaultLimits.
	Limits ingest.Limits
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Memory is the server's memory budget in bytes (see budget.Plan);
	// 0 leaves requests unbounded by it, as tests that do not test it
	// want.
	Memory int64
	// MaxStreams and MaxStreamsPerToken bound the live streams open, in
	// all and per token; 0 means the API's defaults.
	MaxStreams, MaxStreamsPerToken int
	// WriteTimeout is the longest a client may take to accept an answer,
	// counted from when the answer starts, or one chunk of an export; 0
	// means no deadline of the server's own (an export then uses the
	// API's default).
	WriteTimeout time.Duration
	// Login is how logins are throttled and their events capped; the
	// zero value means the defaults (docs/operations.md, "Login
	// throttling").
	Login auth.LoginOptions
	// PanelServer and PanelListener give each device's own listen
	// address the HTTP server's timeouts and limits and the connection
	// limits of the main address (see panels.Config); nil leaves them at
	// the panels package's defaults.
	PanelServer   func(http.Handler) *http.Server
	PanelListener func(net.Listener) net.Listener
	// PanelRetry is how long a panel address that could not be bound
	// waits before it is tried again; 0 means panels.DefaultRetry.
	PanelRetry time.Duration
	// SecretKey is the key that seals the pull collector's panel
	// passwords, in base64 (DOORLOG_SECRET_KEY); "" reads it from the key
	// file beside the store (SecretKeyPath), made on first use.
	SecretKey string
	// PullInterval and PullMaxBackoff pace the pull collector; 0 means
	// collector.DefaultInterval and collector.DefaultMaxBackoff.
	PullInterval, PullMaxBackoff time.Duration
}

// App is a wired server. Its fields are for the serve command (the demo)
// and for tests; the HTTP side is Handler.
type App struct {
	Store   *sqlite.DB
	Catalog *catalog.Catalog
	Auth    *auth.Service
	Writer  *ingest.Writer
	Ingest  *ingest.Service
	Server  *server.Server
	Metrics *metrics.Metrics
	// Broker fans committed events out to live streams. Close it when the
	// HTTP server starts shutting down (http.Server.RegisterOnShutdown), so
	// that open streams end instead of holding Shutdown up; Close closes
	// it too.
	Broker *stream.Broker
	// Budget is the memory budget's pools that requests draw from (all
	// nil, unlimited, when Config.Memory is 0).
	Budget budget.Pools
	// Panels serves each device's own listen address once started
	// (StartPanels); Close stops it.
	Panels *panels.Manager
	// Collectors read the devices' panels (their pull sources) once
	// started (StartPanels); Close stops them.
	Collectors *collector.Manager
	// Secrets seals and opens the panels' passwords.
	Secrets *seal.Sealer

	// purge deletes long-expired tokens while the server runs.
	purge *tokenPurger
	// stopSummaries ends the loop that stores the summaries of capped
	// failed-login events; summariesDone is closed when it has.
	stopSummaries context.CancelFunc
	summariesDone chan struct{}
}

// summaryEvery is how often the summaries of capped failed-login events
// whose minute is over are stored (see auth.Service.FlushLoginSummaries).
const summaryEvery = 5 * time.Second

// Open opens the store and builds every part. Close releases them.
func Open(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Limits == (ingest.Limits{}) {
		cfg.Limits = ingest.DefaultLimits
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	store, err := OpenStore(ctx, cfg.Data, cfg.DB)
	if err != nil {
		return nil, err
	}
	store.SetLogger(cfg.Logger)
	keyPath, err := SecretKeyPath(cfg.Data, cfg.DB)
	if err != nil {
		store.Close()
		return nil, err
	}
	sealer, err := seal.Load(cfg.SecretKey, keyPath)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("secret key: %w", err)
	}
	cat, err := catalog.New()
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	classify := func(key string) (doorlog.Category, doorlog.Priority) {
		e := cat.Entry(key)
		return e.Category, e.Priority
	}
	var pools budget.Pools
	streamOpts := stream.Options{}
	if cfg.Memory > 0 {
		plan := budget.NewPlan(cfg.Memory)
		pools = plan.Pools()
		streamOpts.MaxPinned = plan.Streams
	}
	a := &App{Store: store, Catalog: cat, Metrics: metrics.New(cfg.Logger), Broker: stream.New(cfg.Logger, streamOpts), Budget: pools, Secrets: sealer}
	for _, p := range []*budget.Pool{pools.Ingest, pools.Reads} {
		if p != nil {
			a.Metrics.MemoryPool(p.Name(), func() float64 { return float64(p.Used()) }, func() float64 { return float64(p.Size()) }, func() float64 { return float64(p.Refused()) })
		}
	}
	onCommit := []func([]doorlog.Event){
		func(evs []doorlog.Event) { a.Metrics.ObserveCommit(len(evs)) },
		a.Broker.Publish,
	}
	a.Writer = ingest.NewWriter(store, cfg.Logger, ingest.WriterOptions{OnCommit: func(evs []doorlog.Event) {
		for _, f := range onCommit {
			f(evs)
		}
	}})
	a.Ingest = ingest.NewService(store, a.Writer, classify, cfg.Limits)
	// BAS-IP lists as many keys outside the catalog as ingest may store
	// (none when it stores none).
	maxNames := cfg.Limits.MaxUnknownKeys
	if maxNames == 0 {
		maxNames = -1
	}
	if err := a.Ingest.LimitKeys(ctx, store, func(key string) bool { return cat.Entry(key).Known }); err != nil {
		a.Writer.Close()
		store.Close()
		return nil, err
	}
	a.Ingest.SetObserver(a.Metrics)
	a.Metrics.StoreSize(store.SizeBytes)
	a.Metrics.GaugeFunc("doorlog_writer_queued_requests", "Ingest requests waiting for the group-commit writer.", func() float64 {
		return float64(a.Writer.Queued())
	})
	a.Metrics.GaugeFunc("doorlog_stream_subscribers", "Live event streams open.", func() float64 {
		return float64(a.Broker.Subscribers())
	})
	a.Metrics.GaugeFunc("doorlog_stream_pinned_bytes", "Bytes of committed events the live streams' queues hold.", func() float64 {
		return float64(a.Broker.PinnedBytes())
	})
	a.Metrics.GaugeFunc("doorlog_stream_overflows", "Live streams dropped for falling behind since the server started.", func() float64 {
		return float64(a.Broker.Overflows())
	})
	a.Auth = auth.NewService(auth.Config{Store: store, Now: cfg.Now, Appender: a.Writer, Classify: classify, Logger: cfg.Logger, Login: cfg.Login})
	a.purge = startTokenPurge(ctx, store, cfg.Now, cfg.Logger)
	page, err := web.New(web.Config{Auth: a.Auth, Catalog: cat, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		a.purge.stop()
		a.Writer.Close()
		store.Close()
		return nil, fmt.Errorf("web page: %w", err)
	}
	bas := basip.New(basip.Config{
		Store: store, Catalog: cat, Auth: a.Auth, Logger: cfg.Logger, Reads: pools.Reads,
		MaxUnknownNames: maxNames,
		Now:             cfg.Now,
		Info: basip.Info{
			DeviceModel: "doorlog",
			DeviceName:  cfg.Name,
			Version:     cfg.Version,
			Commit:      cfg.Commit,
		},
	})
	// A device's own address serves its panel API alone, through the same
	// middleware (logging, panic recovery, write deadlines) as the main
	// address.
	a.Panels = panels.New(panels.Config{
		Handler: func(deviceID string) http.Handler {
			return server.New(server.Config{WriteTimeout: cfg.WriteTimeout, Logger: cfg.Logger, Ping: store.Ping,
				Observe: a.Metrics.ObserveRequest, APIs: []server.Registrar{bas.Panel(deviceID)}})
		},
		Server:   cfg.PanelServer,
		Listener: cfg.PanelListener,
		Retry:    cfg.PanelRetry,
		Logger:   cfg.Logger,
		Now:      cfg.Now,
	})
	a.Collectors = collector.New(collector.Config{Store: store, Ingest: a.Ingest, Secrets: sealer, Logger: cfg.Logger, Now: cfg.Now,
		Interval: cfg.PullInterval, MaxBackoff: cfg.PullMaxBackoff})
	a.Metrics.CounterFunc("doorlog_collector_events_total", "Events the pull collector stored from panels since the server started.", func() float64 {
		n, _, _ := a.Collectors.Totals()
		return float64(n)
	})
	a.Metrics.CounterFunc("doorlog_collector_gaps_total", "Gaps the pull collector recorded (events a panel's log lost before they were read) since the server started.", func() float64 {
		_, n, _ := a.Collectors.Totals()
		return float64(n)
	})
	a.Metrics.CounterFunc("doorlog_collector_errors_total", "Reads of a panel that failed since the server started.", func() float64 {
		_, _, n := a.Collectors.Totals()
		return float64(n)
	})
	a.Metrics.GaugeFunc("doorlog_collector_failing_devices", "Devices whose panel's last read failed.", func() float64 {
		n := 0
		for _, st := range a.Collectors.Statuses() {
			if st.State == collector.StateError {
				n++
			}
		}
		return float64(n)
	})
	perDevice := func(fig func(collector.Status) float64) func() map[string]float64 {
		return func() map[string]float64 {
			out := map[string]float64{}
			for id, st := range a.Collectors.Statuses() {
				out[id] = fig(st)
			}
			return out
		}
	}
	a.Metrics.ByDevice("doorlog_collector_up", "1 when the last read of the device's panel went through, else 0.", false, perDevice(func(st collector.Status) float64 {
		if st.State == collector.StateOK {
			return 1
		}
		return 0
	}))
	a.Metrics.ByDevice("doorlog_collector_lag_seconds", "Seconds since the device's panel was last read (-1 before the first read).", false, perDevice(func(st collector.Status) float64 {
		if st.LastSuccess.IsZero() {
			return -1
		}
		return st.Lag.Seconds()
	}))
	a.Metrics.ByDevice("doorlog_collector_device_events_total", "Events stored from the device's panel.", true, perDevice(func(st collector.Status) float64 { return float64(st.Collected) }))
	a.Metrics.ByDevice("doorlog_collector_device_gaps_total", "Gaps recorded on the device (events its panel's log lost before they were read).", true, perDevice(func(st collector.Status) float64 { return float64(st.Gaps) }))
	a.Metrics.GaugeFunc("doorlog_collector_max_lag_seconds", "The longest time since a device's panel was last read, over the devices with a pull source.", func() float64 {
		var lag time.Duration
		for _, st := range a.Collectors.Statuses() {
			lag = max(lag, st.Lag)
		}
		return lag.Seconds()
	})
	a.Server = server.New(server.Config{
		WriteTimeout: cfg.WriteTimeout,
		Logger:       cfg.Logger,
		Ping:         store.Ping,
		Observe:      a.Metrics.ObserveRequest,
		Page:         page,
		APIs: []server.Registrar{
			a.Metrics,
			api.New(api.Config{Store: store, Auth: a.Auth, Ingest: a.Ingest, Catalog: cat, Logger: cfg.Logger, Now: cfg.Now,
				Stream: api.StreamConfig{Broker: a.Broker, Store: store, MaxStreams: cfg.MaxStreams, MaxStreamsPerToken: cfg.MaxStreamsPerToken},
				Budget: pools, WriteTimeout: cfg.WriteTimeout, Panels: a.Panels, Collectors: a.Collectors, Secrets: sealer}),
			bas,
			oloid.New(oloid.Config{Store: store, Catalog: cat, Auth: a.Auth, Logger: cfg.Logger, Reads: pools.Reads}),
			aipix.New(aipix.Config{Store: store, Catalog: cat, Auth: a.Auth, Logger: cfg.Logger, Reads: pools.Reads}),
			openapi.New(),
		},
	})
	a.startSummaries()
	return a, nil
}

// startSummaries runs the loop that stores the summaries of capped
// failed-login events once their minute is over, even when no further
// attempt comes to trigger it.
func (a *App) startSummaries() {
	ctx, stop := context.WithCancel(context.Background())
	a.stopSummaries, a.summariesDone = stop, make(chan struct{})
	go func() {
		defer close(a.summariesDone)
		t := time.NewTicker(summaryEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.Auth.FlushLoginSummaries(ctx, false)
			}
		}
	}()
}

// Handler is the server's HTTP handler.
func (a *App) Handler() http.Handler { return a.Server }

// StartPanels serves the listen addresses of the stored devices and reads
// their panels (their pull sources), and from then on those set through
// the API.
func (a *App) StartPanels(ctx context.Context) error {
	devices, err := a.Store.ListDevices(ctx, doorlog.DeviceFilter{Scope: doorlog.Scope{All: true}})
	if err != nil {
		return err
	}
	a.Panels.Start(devices)
	a.Collectors.Start(devices)
	return nil
}

// Close ends the live streams, lets queued writes finish, then closes the
// store. Call it after the HTTP server has stopped taking requests.
func (a *App) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = a.Panels.Close(ctx)
	cancel()
	// The collectors store through the writer: they stop before it.
	a.Collectors.Close()
	a.purge.stop()
	a.Broker.Close()
	// The summaries of capped failed logins still counting are stored
	// before the writer stops, so a clean stop loses no count.
	a.stopSummaries()
	<-a.summariesDone
	a.Auth.FlushLoginSummaries(context.Background(), true)
	a.Writer.Close()
	return a.Store.Close()
}
