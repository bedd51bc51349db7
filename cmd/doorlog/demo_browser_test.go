package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/doorlog/doorlog/internal/browsertest"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write docs/screenshots/charts-demo.png from TestDemo")

// demoCharts logs in to the demo's web page as the printed account and
// looks at its charts: the week of history must draw as a week (an hourly
// bar for nearly every hour, busier by day), which the screenshot in
// docs/screenshots/charts-demo.png shows.
func demoCharts(t *testing.T, base string) {
	t.Helper()
	path := browsertest.Require(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900), chromedp.Flag("lang", "en-US"))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	poll := func(what, predicate string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("the demo's page: waiting for %s: %v", what, err)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(base+"/#charts"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), demoUsername),
		chromedp.SendKeys(chromedp.ID("password"), demoPassword),
		chromedp.Click(chromedp.ID("login-submit")),
	); err != nil {
		t.Fatal(err)
	}
	poll("the week's chart", `document.querySelectorAll('#chart-hourly g.bar').length > 0`)
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#chart-hourly g.bar').length`))
	if err != nil {
		t.Fatal(err)
	}
	// 168 hours, a few of them empty in the small hours at the test's
	// slow rate.
	if bars < 140 {
		t.Errorf("the demo's 7-day chart: got %d hourly bars, want nearly one an hour (at least 140 of 168)", bars)
	}
	if !*updateScreenshots {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", "charts-demo.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
