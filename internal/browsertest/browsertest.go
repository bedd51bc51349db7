// Package browsertest finds the Chromium that the web page's browser tests
// drive (internal/web, and the demo's look at its charts in cmd/doorlog).
// scripts/test installs Debian's chromium when it is missing, so in CI a
// missing browser is a failure, never a skipped test.
package browsertest

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium is the system's Chromium: CHROME_PATH, else chromium or
// chromium-browser on PATH; "" when there is none.
func Chromium() string {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Require returns Chromium's path. Without one it fails the test in CI
// (CI=true) and skips it elsewhere, saying loudly what did not run.
func Require(tb testing.TB) string {
	tb.Helper()
	p := Chromium()
	if p == "" {
		const why = "no Chromium found (install Debian's chromium package, or set CHROME_PATH): THIS BROWSER TEST DID NOT RUN"
		if os.Getenv("CI") == "true" {
			tb.Fatal(why)
		}
		tb.Skip(why)
	}
	return p
}
