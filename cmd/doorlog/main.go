// Command doorlog is the event-log server for building intercoms and access
// control, and its tools. Each subcommand is a Run(ctx, args) function with
// its own flag set; main only picks one and wires the signal context.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// the module's version from the build info is used.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "doorlog:", err)
		}
		os.Exit(2)
	}
}

const usage = `doorlog — event-log server for building intercoms and access control

Usage:
  doorlog serve     [--addr 127.0.0.1:8080] [--data ./doorlog-data] [--demo]
  doorlog token     create --role admin|manager|device [--site ID]... [--device UUID] [--expires 90d|720h|never] [--data DIR | --db URL]
  doorlog token     list [--expired] [--data DIR | --db URL]
  doorlog token     revoke ID [--data DIR | --db URL]
  doorlog simulate  --url http://127.0.0.1:8080 --token TOKEN [--sites 2] [--devices 4] [--rate 20]
  doorlog simulate  --panels N [--ring 500] [--token TOKEN --url URL]   (virtual BAS-IP panels the server reads)
  doorlog bench     [--events 1000000] [--clients 4] [--batch 5000] [--samples 200] [--out FILE] [--keep] [--url URL --token TOKEN]
  doorlog version

Run "doorlog COMMAND -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "token":
		return runToken(ctx, args[1:], stdout, stderr)
	case "simulate":
		return runSimulate(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "doorlog", buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// buildCommit returns the first 12 hex digits of the revision the binary
// was built from (Go records it when building in a git checkout), or ""
// when it was not recorded.
func buildCommit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value[:min(12, len(s.Value))]
		}
	}
	return ""
}

// envOr returns the environment variable's value, or def when it is unset,
// so every flag can also be set as DOORLOG_*.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string, def bool) bool {
	switch os.Getenv(name) {
	case "1", "true", "TRUE", "yes", "on":
		return true
	case "0", "false", "FALSE", "no", "off":
		return false
	}
	return def
}
