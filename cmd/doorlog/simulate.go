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
	"strconv"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/sim"
	"github.com/doorlog/doorlog/internal/vpanel"
)

// runSimulate sends realistic traffic from virtual panels to a running
// server through its HTTP ingest API.
func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", envOr("DOORLOG_URL", "http://127.0.0.1:8080"), "base URL of the server (env DOORLOG_URL)")
	token := fs.String("token", envOr("DOORLOG_TOKEN", ""), "admin token (env DOORLOG_TOKEN)")
	sites := fs.Int("sites", 2, "number of virtual sites")
	devices := fs.Int("devices", 4, "virtual panels per site")
	rate := fs.Float64("rate", 20, "events per second, all devices together")
	batch := fs.Duration("batch", time.Second, "how often a batch is sent")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	seed := fs.Int64("seed", 0, "random seed (0: from the clock)")
	setup := fs.Bool("setup", true, "create the virtual sites and devices first (409 when they exist is fine)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	panels := fs.Int("panels", 0, "serve this many virtual BAS-IP panels instead of sending events: the traffic goes into their logs, and with --token the server's devices are set to read them (pull)")
	ring := fs.Int("ring", vpanel.DefaultRing, "with --panels, events each panel's log keeps before it overwrites the oldest")
	panelHost := fs.String("panel-host", "127.0.0.1", "with --panels, the address the panels listen on")
	panelPort := fs.Int("panel-port", 0, "with --panels, the first panel's port, the next ones following (0: any free port each)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *panels < 0 || *panels > 10000 || *ring < 1 {
		return errors.New("--panels must be 0 to 10000 and --ring positive")
	}
	if *token == "" && *panels == 0 {
		return errors.New("--token is required (create one with: doorlog token create --role admin)")
	}
	if *sites < 1 || *devices < 1 || *rate <= 0 {
		return errors.New("--sites, --devices and --rate must be positive")
	}
	logger, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	if *panels > 0 {
		return simulatePanels(ctx, panelSim{url: strings.TrimRight(*url, "/"), token: *token, setup: *setup, n: *panels, perSite: *devices, ring: *ring,
			host: *panelHost, port: *panelPort, rate: *rate, batch: *batch, duration: *duration, seed: *seed}, stdout, logger)
	}
	base := strings.TrimRight(*url, "/")
	client := &http.Client{Timeout: 30 * time.Second}
	siteList, deviceList := sim.Population(*sites, *devices)
	if *setup {
		if err := sim.Setup(ctx, base, *token, client, siteList, deviceList); err != nil {
			return fmt.Errorf("set up virtual devices: %w", err)
		}
	}
	if *seed == 0 {
		*seed = time.Now().UnixNano()
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	printf(stdout, "simulating %d devices in %d sites at %.1f events/s against %s\n", len(deviceList), len(siteList), *rate, base)
	gen := sim.NewGenerator(*seed, deviceList)
	sink := &sim.HTTPSink{BaseURL: base, Token: *token, Client: client, Logger: logger}
	start := time.Now()
	sent, err := sim.Run(ctx, gen, *rate, *batch, sink, time.Now)
	printf(stdout, "sent %d events in %s\n", sent, time.Since(start).Round(time.Millisecond))
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// panelSim is what `simulate --panels` was asked for.
type panelSim struct {
	url, token string
	setup      bool
	n, perSite int
	ring       int
	host       string
	port       int
	rate       float64
	batch      time.Duration
	duration   time.Duration
	seed       int64
}

// simulatePanels serves virtual BAS-IP panels whose logs fill with
// realistic traffic, and, given a token, sets the server's devices to read
// them: the whole path of the pull collector on one machine.
func simulatePanels(ctx context.Context, c panelSim, stdout io.Writer, logger *slog.Logger) error {
	cat, err := catalog.New()
	if err != nil {
		return err
	}
	siteList, deviceList := sim.Population((c.n+c.perSite-1)/c.perSite, c.perSite)
	deviceList = deviceList[:c.n]
	router := vpanel.Router{}
	urls := make([]string, len(deviceList))
	for i, d := range deviceList {
		p := vpanel.New(vpanel.Config{Device: doorlog.Device{ID: d.ID, Name: d.Name, Model: d.Model}, Ring: c.ring, Catalog: cat})
		port := 0
		if c.port > 0 {
			port = c.port + i
		}
		addr, err := p.Serve(net.JoinHostPort(c.host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("panel %d: %w", i, err)
		}
		defer p.Stop()
		router[d.ID] = p
		urls[i] = "http://" + addr
	}
	if c.token != "" && c.setup {
		client := &http.Client{Timeout: 30 * time.Second}
		if err := sim.Setup(ctx, c.url, c.token, client, siteList, deviceList); err != nil {
			return fmt.Errorf("set up virtual devices: %w", err)
		}
		for i, d := range deviceList {
			body := fmt.Sprintf(`{"pull":{"url":%q,"username":"admin","password":%q}}`, urls[i], vpanel.DefaultPassword)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, c.url+"/v1/devices/"+d.ID, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+c.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("set device %s to read its panel: %w", d.ID, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("set device %s to read its panel: %s", d.ID, resp.Status)
			}
		}
	}
	printf(stdout, "serving %d virtual BAS-IP panels (logs of %d events), user admin, password %s:\n", len(deviceList), c.ring, vpanel.DefaultPassword)
	for i, d := range deviceList {
		printf(stdout, "  %s  %s  %s\n", urls[i], d.ID, d.Name)
	}
	if c.token != "" && c.setup {
		printf(stdout, "the devices of %s read them (GET /v1/devices shows each one's collector)\n", c.url)
	}
	printf(stdout, "control a panel: POST <panel>/_sim/reboot?lose=true, POST <panel>/_sim/skew?by=-90m (with a token from its /api/v1/login)\n")
	if c.seed == 0 {
		c.seed = time.Now().UnixNano()
	}
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	gen := sim.NewGenerator(c.seed, deviceList)
	sent, err := sim.Run(ctx, gen, c.rate, c.batch, router, time.Now)
	printf(stdout, "logged %d events on the panels\n", sent)
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
