package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/sim"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return errors.New("--token is required (create one with: doorlog token create --role admin)")
	}
	if *sites < 1 || *devices < 1 || *rate <= 0 {
		return errors.New("--sites, --devices and --rate must be positive")
	}
	logger, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		return err
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
