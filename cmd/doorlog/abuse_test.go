package main

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/bench"
	"github.com/doorlog/doorlog/internal/budget"
)

// TestAbusiveClientsStayWithinMemoryBudget runs the abusive clients of
// bench.Abuse (an export of the largest models, slow export readers, 40
// unread pages of 1,000, 500 unread live streams, 48 bodies of 16 MiB at
// once, trickled bodies and headers) against the real binary with its
// default memory budget, each while a steady device sends events. The
// server's resident memory must stay within the budget in every phase,
// every event of the steady device must be acknowledged and stored, and
// the trickling clients must be cut by the read timeout.
//
// How much the steady device's latency suffers is measured, not asserted:
// `doorlog bench --abuse` prints it (docs/operations.md).
func TestAbusiveClientsStayWithinMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs abusive clients for half a minute; not in -short mode")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the server's memory is read from /proc")
	}
	bin := durBuild(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Short timeouts, so that the clients they cut are cut within a phase.
	srv, err := bench.StartServer(ctx, bin, t.TempDir(), "--read-timeout", "3s", "--write-timeout", "10s")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	res, err := bench.Abuse(ctx, bench.AbuseConfig{Phase: 5 * time.Second, BigEvents: 2000}, srv.Target())
	if err != nil {
		t.Fatalf("abuse run: %v", err)
	}
	if len(res.Phases) != 7 {
		t.Fatalf("got %d phases, want 7", len(res.Phases))
	}
	for _, p := range res.Phases {
		t.Logf("%-30s clients %3d  peak RSS %6.1f MiB  steady ingest p50 %6.1f ms p99 %7.1f ms  answers %v  limits %v",
			p.Name, p.Clients, float64(p.MaxRSSBytes)/(1<<20), p.IngestP50Ms, p.IngestP99Ms, p.Answers, p.Limits)
		if p.MaxRSSBytes <= 0 || p.MaxRSSBytes > budget.DefaultTotal {
			t.Errorf("%s: peak RSS %d bytes, want within the budget of %d", p.Name, p.MaxRSSBytes, budget.DefaultTotal)
		}
		if p.IngestFailed != 0 || p.IngestOK == 0 {
			t.Errorf("%s: the steady device got %d requests acknowledged and %d not, want every one acknowledged", p.Name, p.IngestOK, p.IngestFailed)
		}
	}
	if res.Acked == 0 || res.Acked != res.Stored {
		t.Errorf("the steady device: %d events acknowledged, %d stored; want the same", res.Acked, res.Stored)
	}
	byName := map[string]bench.AbusePhase{}
	for _, p := range res.Phases {
		byName[p.Name] = p
	}
	if p := byName["trickled bodies and headers"]; p.Answers["cut"] != p.Clients {
		t.Errorf("trickling clients: got answers %v, want all %d cut by the read timeout", p.Answers, p.Clients)
	}
	// The limits were what held the memory: the server says so in its
	// metrics (the clients' own answers depend on how fast they send).
	if p := byName["16 MiB ingest bodies at once"]; p.Limits["refused ingest"] == 0 || p.Answers["200"] == 0 {
		t.Errorf("16 MiB bodies: got answers %v and limits %v, want some stored (200) and others refused by the ingest pool", p.Answers, p.Limits)
	}
	if p := byName["unread live streams"]; p.Limits["stream overflows"] == 0 {
		t.Errorf("unread live streams: got limits %v, want streams dropped for falling behind", p.Limits)
	}
}
