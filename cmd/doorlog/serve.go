package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/api"
	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/connlimit"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/lockfile"
	"github.com/doorlog/doorlog/internal/seal"
)

// serveConfig is everything serve reads from its flags and environment.
type serveConfig struct {
	addr      string
	data      string
	db        string
	demo      bool
	demoRate  float64
	logLevel  string
	logFormat string
	name      string
	maxBody   int64
	// memory is the memory budget; the timeouts and maxConns bound every
	// client (docs/operations.md).
	memory       byteSize
	readTimeout  time.Duration
	writeTimeout time.Duration
	idleTimeout  time.Duration
	maxConns     int
	// maxPerAddr bounds one client address's connections; maxStreams and
	// maxTokenStreams the live streams in all and per token.
	maxPerAddr      int
	maxStreams      int
	maxTokenStreams int
	login           loginFlags
	// maxUnknownKeys bounds the distinct keys outside the catalog stored.
	maxUnknownKeys int
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c serveConfig
	var envErrs []error
	fs.StringVar(&c.addr, "addr", envOr("DOORLOG_ADDR", "127.0.0.1:8080"), "listen address (env DOORLOG_ADDR)")
	fs.StringVar(&c.data, "data", envOr("DOORLOG_DATA", "./doorlog-data"), "data directory of the embedded store (env DOORLOG_DATA)")
	fs.StringVar(&c.db, "db", envOr("DOORLOG_DB", ""), "store URL instead of --data, e.g. sqlite:/var/lib/doorlog/doorlog.db (env DOORLOG_DB)")
	fs.BoolVar(&c.demo, "demo", envBool("DOORLOG_DEMO", false), "create demo sites and devices and simulate their traffic (env DOORLOG_DEMO)")
	fs.Float64Var(&c.demoRate, "demo-rate", envFloat("DOORLOG_DEMO_RATE", 1, &envErrs), "events per second the demo simulates, on average over its week of history too (env DOORLOG_DEMO_RATE)")
	fs.StringVar(&c.logLevel, "log-level", envOr("DOORLOG_LOG_LEVEL", "info"), "debug, info, warn or error (env DOORLOG_LOG_LEVEL); debug logs every request")
	fs.StringVar(&c.logFormat, "log-format", envOr("DOORLOG_LOG_FORMAT", "text"), "text or json (env DOORLOG_LOG_FORMAT)")
	fs.StringVar(&c.name, "name", envOr("DOORLOG_NAME", "doorlog"), "the server's name in /api/info (env DOORLOG_NAME)")
	fs.Int64Var(&c.maxBody, "max-body", int64(envInt("DOORLOG_MAX_BODY", int(ingest.DefaultLimits.MaxBody), &envErrs)), "largest ingest request body in bytes (env DOORLOG_MAX_BODY)")
	c.login.register(fs)
	fs.IntVar(&c.maxUnknownKeys, "max-unknown-keys", envInt("DOORLOG_MAX_UNKNOWN_KEYS", ingest.DefaultMaxUnknownKeys, &envErrs),
		"most distinct event keys outside the catalog the server stores; events with a new one past it are rejected (env DOORLOG_MAX_UNKNOWN_KEYS)")
	c.memory = byteSize(budget.DefaultTotal)
	if v, ok := os.LookupEnv("DOORLOG_MEMORY"); ok {
		envErrs = append(envErrs, c.memory.Set(v))
	}
	fs.Var(&c.memory, "memory", "memory budget the server stays within, e.g. 192MiB or 1GiB (env DOORLOG_MEMORY)")
	fs.DurationVar(&c.readTimeout, "read-timeout", envDuration("DOORLOG_READ_TIMEOUT", defaultReadTimeout, &envErrs), "longest time to read a request, body included (env DOORLOG_READ_TIMEOUT)")
	fs.DurationVar(&c.writeTimeout, "write-timeout", envDuration("DOORLOG_WRITE_TIMEOUT", defaultWriteTimeout, &envErrs), "longest time to write a response, or one chunk of an export (env DOORLOG_WRITE_TIMEOUT)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", envDuration("DOORLOG_IDLE_TIMEOUT", defaultIdleTimeout, &envErrs), "how long an idle keep-alive connection is kept (env DOORLOG_IDLE_TIMEOUT)")
	fs.IntVar(&c.maxConns, "max-connections", envInt("DOORLOG_MAX_CONNECTIONS", defaultMaxConns, &envErrs), "most client connections open at once; more wait to be accepted (env DOORLOG_MAX_CONNECTIONS)")
	fs.IntVar(&c.maxPerAddr, "max-connections-per-address", envInt("DOORLOG_MAX_CONNECTIONS_PER_ADDRESS", defaultMaxPerAddr, &envErrs), "most connections one client address (IPv6: its /64) has open at once, loopback and --trusted-proxies not counted; 0 is no limit (env DOORLOG_MAX_CONNECTIONS_PER_ADDRESS)")
	fs.IntVar(&c.maxStreams, "max-streams", envInt("DOORLOG_MAX_STREAMS", api.DefaultMaxStreams, &envErrs), "most live streams open at once (env DOORLOG_MAX_STREAMS)")
	fs.IntVar(&c.maxTokenStreams, "max-streams-per-token", envInt("DOORLOG_MAX_STREAMS_PER_TOKEN", api.DefaultMaxStreamsPerToken, &envErrs), "most live streams one token has open at once (env DOORLOG_MAX_STREAMS_PER_TOKEN)")
	if err := errors.Join(envErrs...); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.login.applyEnv(fs); err != nil {
		return err
	}
	if c.maxUnknownKeys < 0 {
		return fmt.Errorf("--max-unknown-keys %d: want 0 or more", c.maxUnknownKeys)
	}
	if int64(c.memory) < budget.MinTotal {
		return fmt.Errorf("--memory %s: want at least %s", c.memory, byteSize(budget.MinTotal))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--read-timeout", c.readTimeout}, {"--write-timeout", c.writeTimeout}, {"--idle-timeout", c.idleTimeout}} {
		if d.v < time.Second {
			return fmt.Errorf("%s %s: want at least 1s", d.name, d.v)
		}
	}
	// The demo's week of history is its rate on average: bounded, so
	// that a demo never fills a disk.
	if c.demo && (c.demoRate <= 0 || c.demoRate > maxDemoRate) {
		return fmt.Errorf("--demo-rate %g: want more than 0 and at most %d events per second", c.demoRate, maxDemoRate)
	}
	if c.maxConns < 16 {
		return fmt.Errorf("--max-connections %d: want at least 16", c.maxConns)
	}
	// The largest body must fit the ingest share of the memory budget:
	// by default it is made to, and an explicit one that does not is
	// refused rather than allowed past the budget.
	maxBody := budget.NewPlan(int64(c.memory)).MaxBody()
	if c.maxBody < 1<<10 || c.maxBody > maxBody {
		if !flagSet(fs, "max-body") && os.Getenv("DOORLOG_MAX_BODY") == "" {
			c.maxBody = min(c.maxBody, maxBody)
		} else {
			return fmt.Errorf("--max-body %d: want 1024 to %d bytes (a third of the ingest share, a quarter of --memory %s); raise --memory for larger bodies", c.maxBody, maxBody, c.memory)
		}
	}
	if c.maxPerAddr < 0 {
		return fmt.Errorf("--max-connections-per-address %d: want 0 (no limit) or more", c.maxPerAddr)
	}
	// Streams hold their connections: some must stay for everything else.
	if c.maxStreams < 1 || c.maxStreams > c.maxConns*3/4 {
		return fmt.Errorf("--max-streams %d: want 1 to %d (three quarters of --max-connections)", c.maxStreams, c.maxConns*3/4)
	}
	if c.maxTokenStreams < 1 {
		return fmt.Errorf("--max-streams-per-token %d: want at least 1", c.maxTokenStreams)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	logger, err := newLogger(stderr, c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	return serve(ctx, c, stdout, logger)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

func serve(ctx context.Context, c serveConfig, stdout io.Writer, logger *slog.Logger) error {
	plan := budget.NewPlan(int64(c.memory))
	tuneGC(plan)
	// The lock comes first and goes last (defers run in reverse): no
	// other server may open the store while this one has it open.
	lock, err := lockStore(c)
	if err != nil {
		return err
	}
	defer lock.Release()
	limits := ingest.DefaultLimits
	limits.MaxBody = c.maxBody
	limits.MaxUnknownKeys = c.maxUnknownKeys
	login, err := c.login.options()
	if err != nil {
		return err
	}
	// Every phase of a connection has a deadline, so that a client that
	// sends or reads slowly, or not at all, is cut and its buffers freed:
	// the headers, the whole request, each response (the live stream and
	// the export set a deadline per write instead), and idle keep-alive.
	// The devices' own panel addresses get the same.
	newHTTPServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: min(readHeaderTimeout, c.readTimeout),
			ReadTimeout:       c.readTimeout,
			WriteTimeout:      c.writeTimeout,
			IdleTimeout:       c.idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
	}
	// Past maxConns, connections wait in the kernel's queue to be
	// accepted: each one costs memory whether or not it sends anything.
	// Past maxPerAddr, one client's next connection is closed at once, so
	// it cannot take every slot; loopback and the trusted proxies, whose
	// connections carry everyone's requests, are not counted per address.
	exempt := func(addr netip.Addr) bool {
		if addr.IsLoopback() {
			return true
		}
		for _, p := range login.TrustedProxies {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	}
	// A panel address is one device's: its pollers need a few connections,
	// and a thousand addresses must not add a thousand times the main
	// address's connections.
	panelListener := func(ln net.Listener) net.Listener {
		return connlimit.New(ln, connlimit.Config{Max: panelMaxConns, PerAddress: min(c.maxPerAddr, panelMaxConns), Exempt: exempt})
	}
	a, err := app.Open(ctx, app.Config{Data: c.data, DB: c.db, Name: c.name, Version: buildVersion(), Commit: buildCommit(), Limits: limits, Logger: logger, Login: login,
		Memory: plan.Total, WriteTimeout: c.writeTimeout, MaxStreams: c.maxStreams, MaxStreamsPerToken: c.maxTokenStreams,
		PanelServer: newHTTPServer, PanelListener: panelListener, SecretKey: os.Getenv(seal.EnvKey)})
	if err != nil {
		return err
	}
	defer a.Close()
	srv := a.Server

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	baseURL := "http://" + ln.Addr().String()
	limited := connlimit.New(ln, connlimit.Config{Max: c.maxConns, PerAddress: c.maxPerAddr, Exempt: exempt})
	ln = limited
	a.Metrics.CounterFunc("doorlog_connections_refused_total", "Connections closed at once for being past their client address's limit.", func() float64 {
		return float64(limited.Refused())
	})
	httpSrv := newHTTPServer(srv)
	// Live streams end only when the broker closes; Shutdown waits for
	// them, so close it as soon as shutdown begins.
	httpSrv.RegisterOnShutdown(a.Broker.Close)
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	logger.Info("listening on "+baseURL, "data", c.data, "version", buildVersion(), "memory", c.memory.String(), "max_connections", c.maxConns)
	if err := a.StartPanels(ctx); err != nil {
		logger.Error("the devices' panel addresses could not be read; none is served", "err", err)
	}

	// The event counts load at their first use. Loaded now, before events
	// arrive, each append keeps them current; first loaded after a large
	// load, they must count every stored event first, with that read and
	// ingest waiting (about a minute per 100M events).
	var warmWG sync.WaitGroup
	defer warmWG.Wait()
	warmWG.Add(1)
	go func() {
		defer warmWG.Done()
		start := time.Now()
		if _, err := a.Store.CountEvents(ctx, doorlog.EventFilter{Scope: doorlog.Scope{All: true}}); err != nil {
			logger.Warn("the event counts could not be loaded at start; the first read loads them", "err", err)
			return
		}
		logger.Debug("event counts loaded", "took", time.Since(start))
	}()

	var demoWG sync.WaitGroup
	demoCtx, stopDemo := context.WithCancel(ctx)
	defer stopDemo()
	if c.demo {
		puller := demoPuller{catalog: a.Catalog, seal: a.Secrets.Seal, collectors: a.Collectors, update: a.Store.UpdateDevice, reset: a.Store.SaveCollectorState}
		if err := startDemo(demoCtx, &demoWG, a.Store, a.Auth, a.Ingest, puller, c.demoRate, baseURL, stdout, logger); err != nil {
			logger.Error("demo could not start", "err", err)
		}
	}

	select {
	case err := <-serveErr:
		stopDemo()
		demoWG.Wait()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests")
	srv.Drain()
	stopDemo()
	demoWG.Wait()
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("shutdown did not finish cleanly", "err", err)
	}
	// Every handler has returned, so every batch it queued is committed;
	// the deferred Close lets anything still queued (the demo's last
	// batch) finish before the store closes.
	logger.Info("stopped")
	return nil
}

// lockStore makes this process the one server of its store: a second
// server on the same store would store events that never reach the first
// one's live streams, and each would count the other's events twice. The
// lock is the OS's (package lockfile), so a server killed with SIGKILL
// leaves none behind. CLI commands beside the server (token create) take
// no lock.
func lockStore(c serveConfig) (*lockfile.Lock, error) {
	path, err := app.StorePath(c.data, c.db)
	if err != nil {
		return nil, err
	}
	what := "data directory " + c.data
	if c.db != "" {
		what = "store " + path
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// A store reached through a symbolic link is locked where it lies,
	// so that each of its names finds the same lock (before the first
	// start there is no file yet, only its directory).
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	} else if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		path = filepath.Join(dir, filepath.Base(path))
	}
	lock, err := lockfile.Acquire(path+app.LockSuffix, lockfile.Holder{PID: os.Getpid(), Started: time.Now().UTC()})
	var held *lockfile.HeldError
	switch {
	case errors.As(err, &held) && held.Holder != nil:
		return nil, fmt.Errorf("%s is already served by process %d, started %s (it holds %s); stop that server first, or give this one another --data or --db",
			what, held.Holder.PID, held.Holder.Started.Format(time.RFC3339), held.Path)
	case errors.As(err, &held):
		return nil, fmt.Errorf("%s is already served by another process, starting right now (it holds %s); stop that server first, or give this one another --data or --db",
			what, held.Path)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return lock, nil
}

// printf writes to the console a person watches; errors writing there are
// of no consequence.
func printf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Garbage collector defaults of the server, used unless the Go runtime's own
// GOGC and GOMEMLIMIT variables are set. Ingest and export make a lot of
// short-lived garbage; collecting at twice the live heap instead of once
// halves the collections and the latency tails they cause (measured with
// doorlog bench, docs/performance.md), while the soft limit (two thirds of
// the memory budget, budget.Plan) makes the collector work harder instead
// of letting the heap grow past it, which keeps the process within its
// budget (SQLite's page caches come on top, outside the Go heap).
const serverGCPercent = 200

func tuneGC(plan budget.Plan) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(plan.Heap)
	}
}

// The connection limits' defaults (docs/operations.md).
const (
	defaultReadTimeout  = time.Minute
	defaultWriteTimeout = 30 * time.Second
	defaultIdleTimeout  = 2 * time.Minute
	defaultMaxConns     = 1024
	defaultMaxPerAddr   = 128
	// maxDemoRate bounds --demo-rate: a week of history at 5 events per
	// second is 3 million events, 300 MB.
	maxDemoRate = 5
	// panelMaxConns bounds the connections of one device's own panel
	// address (docs/api-basip.md, "Panel addresses").
	panelMaxConns = 64
	// readHeaderTimeout bounds the headers alone, which a client sends at
	// once: a slow one is an attack on connection slots.
	readHeaderTimeout = 10 * time.Second
	// maxHeaderBytes bounds a request's headers (Go's default is 1 MiB).
	maxHeaderBytes = 64 << 10
)

// envDuration returns the duration in the environment variable name, or
// def when it is unset; a value that does not parse is added to errs.
func envDuration(name string, def time.Duration, errs *[]error) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a duration such as 30s", name, v))
		return def
	}
	return d
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// envFloat is envDuration for numbers.
func envFloat(name string, def float64, errs *[]error) float64 {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a number", name, v))
		return def
	}
	return f
}

// envInt is envDuration for integers.
func envInt(name string, def int, errs *[]error) int {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s=%q: want an integer", name, v))
		return def
	}
	return n
}

// byteSize is a flag of a size in bytes, written as a number with an
// optional unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (of 1024).
type byteSize int64

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	mult, ok := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
	if err != nil || !ok || f < 0 || f*mult > 1<<50 {
		return fmt.Errorf("%q is not a size such as 192MiB, 200MB or 1GiB", s)
	}
	*b = byteSize(f * mult)
	return nil
}

func (b byteSize) String() string {
	switch n := int64(b); {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	default:
		return strconv.FormatInt(n, 10) + "B"
	}
}
