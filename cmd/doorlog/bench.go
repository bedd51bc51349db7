package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	fs.StringVar(&cfg.Arrival, "arrival", bench.ArrivalTime, "order the load sends events in: time (one feed in time order), late (a feed in time order while 10% of devices deliver a day late in bulk) or random (times uniformly random over the span)")
	fs.DurationVar(&cfg.Mixed, "mixed", 0, "after the queries and the export, run live ingest and the real query patterns together for this long (0: no mixed phase)")
	fs.Float64Var(&cfg.MixedIngest, "mixed-ingest", bench.DefaultMixedIngest, "with --mixed, live ingest rate in events/s")
	fs.Float64Var(&cfg.MixedQueries, "mixed-queries", bench.DefaultMixedQueries, "with --mixed, query rate in requests/s (open loop: fired on schedule whether or not earlier ones were answered)")
	fs.IntVar(&cfg.MixedInFlight, "mixed-inflight", bench.DefaultMixedInFlight, "with --mixed, most queries in flight at once; a query due beyond it is skipped and counted")
	fs.IntVar(&cfg.Dense, "dense", 0, "after the queries and the export, send this many more events into the minute before the end and time the requests made at the present against it: BAS-IP polls, a native page with its count, the charts and the devices view (0: none)")
	out := fs.String("out", "", "JSON result file (default bench-results/bench-<time>.json)")
	keep := fs.Bool("keep", false, "keep the started server's directory (data and log) instead of removing it")
	dir := fs.String("dir", "", "where the started server's directory is made (default: the system's temporary directory)")
	url := fs.String("url", "", "benchmark this running server instead of starting one (RSS and disk are then unknown)")
	token := fs.String("token", envOr("DOORLOG_TOKEN", ""), "admin token of the server given by --url (env DOORLOG_TOKEN)")
	abuse := fs.Bool("abuse", false, "instead of the load and queries, run the abusive clients against a started server and report its memory and a steady device's ingest latency in each phase (docs/operations.md)")
	abusePhase := fs.Duration("abuse-phase", bench.DefaultAbusePhase, "with --abuse, how long each phase lasts")
	serverBin := fs.String("server", "", "the doorlog binary to start as the server (default: this one), e.g. an older build to compare")
	serveArgs := fs.String("serve-args", "", "extra flags for the started server's serve command, separated by spaces (e.g. \"--memory 256MiB\")")
	fs.StringVar(&cfg.VictoriaLogs, "victorialogs", "", "a victoria-logs binary: after the doorlog run, start it (data under --dir), load the same events the same way, time the equivalent LogsQL queries and print both side by side")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench takes no arguments, got %q", fs.Args())
	}
	if cfg.Events < 1 || cfg.Clients < 1 || cfg.Batch < 1 || cfg.Samples < 1 {
		return errors.New("--events, --clients, --batch and --samples must be positive")
	}
	if !bench.ValidArrival(cfg.Arrival) {
		return fmt.Errorf("--arrival %q: want time, late or random", cfg.Arrival)
	}
	if cfg.Dense < 0 {
		return errors.New("--dense must not be negative")
	}
	if cfg.Mixed < 0 || cfg.MixedIngest <= 0 || cfg.MixedQueries <= 0 || cfg.MixedInFlight < 1 {
		return errors.New("--mixed must not be negative, and --mixed-ingest, --mixed-queries and --mixed-inflight must be positive")
	}
	if cfg.VictoriaLogs != "" {
		// Checked now, not after the doorlog run it would follow.
		bin, err := exec.LookPath(cfg.VictoriaLogs)
		if err != nil {
			return fmt.Errorf("--victorialogs: %w", err)
		}
		cfg.VictoriaLogs, cfg.VictoriaLogsDir, cfg.KeepVictoriaLogs = bin, *dir, *keep
	}
	started := time.Now().UTC().Format("20060102T150405Z")
	if *out == "" {
		*out = filepath.Join("bench-results", "bench-"+started+".json")
	}
	cfg.Progress = stderr
	if f, ok := stderr.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			cfg.Terminal = true
		}
	}

	if *abuse {
		if *url != "" {
			return errors.New("--abuse measures the memory of a server it starts; it does not take --url")
		}
		if cfg.VictoriaLogs != "" {
			return errors.New("--abuse does not take --victorialogs")
		}
		if *out == filepath.Join("bench-results", "bench-"+started+".json") {
			*out = filepath.Join("bench-results", "abuse-"+started+".json")
		}
		return runAbuse(ctx, bench.AbuseConfig{Phase: *abusePhase, Progress: stderr, Version: buildVersion()}, *serverBin, *dir, strings.Fields(*serveArgs), *keep, *out, stdout, stderr)
	}

	var target bench.Target
	if *url != "" {
		if *token == "" {
			return errors.New("--url needs --token, an admin token of every site")
		}
		target = bench.Target{BaseURL: *url, Token: *token}
	} else {
		exe := *serverBin
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return fmt.Errorf("find this binary to start the server: %w", err)
			}
		}
		srv, err := bench.StartServer(ctx, exe, *dir, strings.Fields(*serveArgs)...)
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

// runAbuse starts this binary as a server and runs the abusive clients
// against it (bench.Abuse), printing a line per phase.
func runAbuse(ctx context.Context, cfg bench.AbuseConfig, exe, dir string, serveArgs []string, keep bool, out string, stdout, stderr io.Writer) error {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find this binary to start the server: %w", err)
		}
	}
	srv, err := bench.StartServer(ctx, exe, dir, serveArgs...)
	if err != nil {
		return err
	}
	defer func() {
		_ = srv.Stop()
		if keep {
			printf(stderr, "kept the server's data and log in %s\n", srv.Dir)
		} else {
			_ = os.RemoveAll(srv.Dir)
		}
	}()
	printf(stderr, "started %s serve %s at %s with its data in %s\n", exe, strings.Join(serveArgs, " "), srv.URL, srv.Dir)
	res, runErr := bench.Abuse(ctx, cfg, srv.Target())
	if res == nil {
		return runErr
	}
	var idle bench.AbusePhase
	if len(res.Phases) > 0 {
		idle = res.Phases[0]
	}
	printf(stdout, "\n%-30s %8s %12s %12s %10s %8s\n", "phase", "clients", "peak RSS MiB", "ingest p50", "ingest p99", "p99/idle")
	for _, p := range res.Phases {
		ratio := 0.0
		if idle.IngestP99Ms > 0 {
			ratio = p.IngestP99Ms / idle.IngestP99Ms
		}
		printf(stdout, "%-30s %8d %12.1f %9.1f ms %7.1f ms %8.2f\n", p.Name, p.Clients, float64(p.MaxRSSBytes)/(1<<20), p.IngestP50Ms, p.IngestP99Ms, ratio)
	}
	printf(stdout, "steady device: %d events acknowledged, %d stored\n", res.Acked, res.Stored)
	if err := res.WriteJSON(out); err != nil {
		return errors.Join(runErr, err)
	}
	printf(stdout, "results written to %s\n", out)
	return runErr
}
