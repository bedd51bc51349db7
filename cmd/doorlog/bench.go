package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/doorlog/doorlog/internal/bench"
)

// runBench loads a realistic set of events into a doorlog server and
// measures ingest, the read APIs, export, memory and disk (see
// docs/performance.md). By default it starts this very binary as the
// server, in a temporary directory; --url and --token measure a running
// server instead.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.Config{Version: buildVersion()}
	fs.IntVar(&cfg.Events, "events", bench.DefaultEvents, "events to load")
	fs.IntVar(&cfg.Clients, "clients", bench.DefaultClients, "concurrent ingest clients")
	fs.IntVar(&cfg.Batch, "batch", bench.DefaultBatch, "events per ingest request")
	fs.IntVar(&cfg.Samples, "samples", bench.DefaultSamples, "timed requests per query")
	fs.DurationVar(&cfg.QueryBudget, "query-budget", bench.DefaultQueryBudget, "most time one query's samples may take (at least 10 are taken)")
	fs.Int64Var(&cfg.Seed, "seed", 1, "random seed of the event generator")
	out := fs.String("out", "", "JSON result file (default bench-results/bench-<time>.json)")
	keep := fs.Bool("keep", false, "keep the started server's directory (data and log) instead of removing it")
	dir := fs.String("dir", "", "where the started server's directory is made (default: the system's temporary directory)")
	url := fs.String("url", "", "benchmark this running server instead of starting one (RSS and disk are then unknown)")
	token := fs.String("token", envOr("DOORLOG_TOKEN", ""), "admin token of the server given by --url (env DOORLOG_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench takes no arguments, got %q", fs.Args())
	}
	if cfg.Events < 1 || cfg.Clients < 1 || cfg.Batch < 1 || cfg.Samples < 1 {
		return errors.New("--events, --clients, --batch and --samples must be positive")
	}
	if *out == "" {
		*out = filepath.Join("bench-results", "bench-"+time.Now().UTC().Format("20060102T150405Z")+".json")
	}
	cfg.Progress = stderr
	if f, ok := stderr.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			cfg.Terminal = true
		}
	}

	var target bench.Target
	if *url != "" {
		if *token == "" {
			return errors.New("--url needs --token, an admin token of every site")
		}
		target = bench.Target{BaseURL: *url, Token: *token}
	} else {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary to start the server: %w", err)
		}
		srv, err := bench.StartServer(ctx, exe, *dir)
		if err != nil {
			return err
		}
		defer func() {
			_ = srv.Stop()
			if *keep {
				printf(stderr, "kept the server's data and log in %s\n", srv.Dir)
			} else {
				_ = os.RemoveAll(srv.Dir)
			}
		}()
		printf(stderr, "started %s serve at %s with its data in %s\n", exe, srv.URL, srv.Dir)
		target = srv.Target()
	}

	res, runErr := bench.Run(ctx, cfg, target)
	if res == nil {
		return runErr
	}
	fmt.Fprintln(stdout)
	if err := res.WriteTable(stdout); err != nil {
		return err
	}
	if err := res.WriteJSON(*out); err != nil {
		return errors.Join(runErr, err)
	}
	printf(stdout, "\nresults written to %s\n", *out)
	return runErr
}
