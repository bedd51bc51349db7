package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
	"github.com/doorlog/doorlog/internal/sqlite"
)

// The durability proof: real binary, real sockets, real SIGKILLs. Every
// batch a client got a 200 for must be in the store exactly once after the
// server was killed mid-stream and restarted, and resending batches (the
// ones whose answer was lost, and one that was acknowledged) must neither
// lose nor duplicate anything.
const (
	durClients = 6
	durRounds  = 3
	// durRoundCap bounds the events one client sends in one round, so that
	// a very fast server still leaves a store that is quick to check; the
	// kill comes at the latest when three quarters of it are sent.
	durRoundCap = 20000
	durMinBatch = 50
	durMaxBatch = 500
)

func TestDurabilityKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly; not in -short mode")
	}
	testStart := time.Now()
	bin := durBuild(t)
	built := time.Since(testStart)
	dir := t.TempDir()
	token := durToken(t, bin, dir)

	srv := durStart(t, bin, dir)
	sites, devices := sim.Population(2, 3)
	httpc := &http.Client{Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := sim.Setup(ctx, srv.base, token, httpc, sites, devices); err != nil {
		t.Fatalf("Setup: %v\n%s", err, srv.output())
	}

	clients := make([]*durClient, durClients)
	for i := range clients {
		clients[i] = &durClient{
			id:    i,
			token: token,
			http:  &http.Client{Timeout: 20 * time.Second},
			gen:   sim.NewGenerator(int64(1000+i), devices),
			rng:   rand.New(rand.NewPCG(uint64(i), 0xd00)),
			clock: time.Now().Add(-2 * time.Hour).UTC(),
		}
	}

	var stats durStats
	for round := 1; round <= durRounds; round++ {
		// Stream until the kill.
		var stop atomic.Bool
		var inFlight atomic.Int64
		var roundEvents atomic.Int64
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Go(func() { c.stream(t, srv.base, &stop, &roundEvents, &inFlight) })
		}
		killAfter := time.Second + time.Duration(round-1)*400*time.Millisecond
		streamStart := time.Now()
		deadline := streamStart.Add(20 * time.Second)
		for time.Since(streamStart) < killAfter && roundEvents.Load() < durClients*durRoundCap*3/4 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: clients stalled", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
		stop.Store(true)
		pending := inFlight.Load()
		srv.kill(t)
		wg.Wait()
		if t.Failed() {
			t.Fatalf("round %d: a client failed; server output:\n%s", round, srv.output())
		}
		unacked := 0
		for _, c := range clients {
			unacked += c.unacked()
		}
		stats.kills++
		t.Logf("round %d: SIGKILL with %d requests in flight, after %v and %d events; %d batches unacknowledged",
			round, pending, time.Since(streamStart).Round(time.Millisecond), roundEvents.Load(), unacked)

		// Restart on the same data and resend what was not acknowledged.
		srv = durStart(t, bin, dir)
		for _, c := range clients {
			wg.Go(func() { c.resend(t, srv.base, &stats) })
		}
		wg.Wait()
		if t.Failed() {
			t.Fatalf("round %d: resending failed; server output:\n%s", round, srv.output())
		}
	}
	srv.term(t)

	// Check the store file directly, with the server stopped.
	db, err := sqlite.Open(ctx, filepath.Join(dir, app.DBFileName))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer db.Close()
	deviceIDs := make([]string, len(devices))
	for i, d := range devices {
		deviceIDs[i] = d.ID
	}
	filter := doorlog.EventFilter{Scope: doorlog.Scope{All: true}, DeviceIDs: deviceIDs}
	stored := map[string]int{}
	sample := map[string]doorlog.Event{}
	q := doorlog.EventQuery{Filter: filter, Order: doorlog.Asc, Limit: 5000}
	for {
		page, err := db.ListEvents(ctx, q)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		for _, e := range page {
			k := e.DeviceID + "/" + e.SourceID
			stored[k]++
			sample[k] = e
		}
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.After = &doorlog.EventCursor{Time: last.Time, ID: last.ID}
	}
	count, err := db.CountEvents(ctx, filter)
	if err != nil {
		t.Fatalf("CountEvents: %v", err)
	}

	sent := map[string]bool{}
	var acked, batches int
	for _, c := range clients {
		for _, b := range c.batches {
			batches++
			if !b.acked {
				t.Errorf("client %d: batch %d never acknowledged", c.id, b.seq)
			}
			for _, ev := range b.events {
				if sent[ev.key] {
					t.Fatalf("test bug: event %s generated twice", ev.key)
				}
				sent[ev.key] = true
				acked++
				switch n := stored[ev.key]; {
				case n == 0:
					t.Errorf("acknowledged event %s (batch %d of client %d) is lost", ev.key, b.seq, c.id)
				case n > 1:
					t.Errorf("event %s is stored %d times", ev.key, n)
				default:
					if got := sample[ev.key]; got.Key != ev.eventKey || got.Time.UnixMilli() != ev.millis {
						t.Errorf("event %s: got key %s time %d, want %s %d", ev.key, got.Key, got.Time.UnixMilli(), ev.eventKey, ev.millis)
					}
				}
			}
		}
	}
	for k, n := range stored {
		if !sent[k] {
			t.Errorf("stored event %s (%d times) was never sent", k, n)
		}
	}
	if got, want := len(stored), len(sent); got != want {
		t.Errorf("got %d distinct events stored, want the %d sent", got, want)
	}
	if got, want := count, int64(len(sent)); got != want {
		t.Errorf("CountEvents: got %d, want %d", got, want)
	}
	if stats.ackedResent == 0 || stats.ackedResentDups != stats.ackedResentEvents {
		t.Errorf("resent acknowledged batches: got %d duplicates of %d events in %d batches, want all duplicates",
			stats.ackedResentDups, stats.ackedResentEvents, stats.ackedResent)
	}
	t.Logf("durability: %d kills survived; %d events in %d batches sent by %d clients; %d acknowledged (%d while streaming, %d on resend); %d stored; 0 lost, 0 duplicated",
		stats.kills, len(sent), batches, durClients, acked, acked-stats.retriedEvents, stats.retriedEvents, len(stored))
	t.Logf("durability: %d unacknowledged batches resent (%d events: %d stored on resend, %d were already stored before the kill); %d acknowledged batches resent, %d/%d duplicates",
		stats.retried, stats.retriedEvents, stats.retriedAccepted, stats.retriedDups, stats.ackedResent, stats.ackedResentDups, stats.ackedResentEvents)
	t.Logf("durability: build %v, test %v", built.Round(time.Millisecond), time.Since(testStart).Round(time.Millisecond))
}

// durStats sums what the resends found.
type durStats struct {
	mu                             sync.Mutex
	kills                          int
	retried, retriedEvents         int
	retriedAccepted, retriedDups   int
	ackedResent, ackedResentEvents int
	ackedResentDups                int
}

// durEvent is one sent event: its store identity and what must be stored.
type durEvent struct {
	key      string // device_id/source_id
	eventKey string
	millis   int64
}

// durBatch is one request body a client sends, byte for byte the same on
// every attempt.
type durBatch struct {
	seq    int
	body   []byte
	events []durEvent
	acked  bool
}

// durClient streams batches of generated events and remembers which were
// acknowledged.
type durClient struct {
	id      int
	token   string
	http    *http.Client
	gen     *sim.Generator
	rng     *rand.Rand
	clock   time.Time
	batches []*durBatch
	// lastAcked is an acknowledged batch whose body is kept for resending.
	lastAcked *durBatch
}

func (c *durClient) unacked() int {
	n := 0
	for _, b := range c.batches {
		if !b.acked {
			n++
		}
	}
	return n
}

// newBatch makes the client's next batch. It runs on client goroutines, so a
// bug in the test panics rather than calling t.Fatal.
func (c *durClient) newBatch() *durBatch {
	n := durMinBatch + c.rng.IntN(durMaxBatch-durMinBatch+1)
	items := make([]ingest.Item, n)
	events := make([]durEvent, n)
	for i := range items {
		c.clock = c.clock.Add(time.Duration(1+c.rng.IntN(80)) * time.Millisecond)
		items[i] = c.gen.Next(c.clock)
		tm, err := ingest.ParseTime(items[i].Time)
		if err != nil {
			panic(fmt.Sprintf("generated time %s: %v", items[i].Time, err))
		}
		events[i] = durEvent{key: items[i].DeviceID + "/" + items[i].SourceID, eventKey: items[i].Key, millis: tm.UnixMilli()}
	}
	body, err := sim.EncodeNDJSON(items)
	if err != nil {
		panic(err)
	}
	b := &durBatch{seq: len(c.batches), body: body, events: events}
	c.batches = append(c.batches, b)
	return b
}

// post sends one batch once. A nil error means a 200 with its result.
func (c *durClient) post(base string, body []byte) (ingest.Result, int, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return ingest.Result{}, 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return ingest.Result{}, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return ingest.Result{}, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return ingest.Result{}, resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, data)
	}
	var res ingest.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return ingest.Result{}, resp.StatusCode, fmt.Errorf("answer %q: %v", data, err)
	}
	return res, resp.StatusCode, nil
}

// acknowledged records a 200 for a batch, keeping its body only when it is
// the one to resend later.
func (c *durClient) acknowledged(b *durBatch) {
	b.acked = true
	if c.lastAcked != nil && c.lastAcked != b {
		c.lastAcked.body = nil
	}
	c.lastAcked = b
}

// stream sends new batches, each once, until stop is set or a request
// fails (the server was killed).
func (c *durClient) stream(t *testing.T, base string, stop *atomic.Bool, sent, inFlight *atomic.Int64) {
	for !stop.Load() && sent.Load() < durClients*durRoundCap {
		b := c.newBatch()
		sent.Add(int64(len(b.events)))
		inFlight.Add(1)
		res, code, err := c.post(base, b.body)
		inFlight.Add(-1)
		if err != nil {
			if code >= 400 && code < 500 {
				t.Errorf("client %d: batch %d: %v", c.id, b.seq, err)
			}
			return // the server is gone; the batch is resent after the restart
		}
		if res.Accepted != len(b.events) || res.Duplicates != 0 || len(res.Rejected) != 0 {
			t.Errorf("client %d: new batch %d of %d: got %+v, want all accepted", c.id, b.seq, len(b.events), res)
		}
		c.acknowledged(b)
	}
}

// resend sends every unacknowledged batch until it is acknowledged, then
// one acknowledged batch again, which must be all duplicates.
func (c *durClient) resend(t *testing.T, base string, stats *durStats) {
	deadline := time.Now().Add(30 * time.Second)
	again := c.lastAcked
	var againBody []byte
	if again != nil {
		againBody = again.body
	}
	for _, b := range c.batches {
		if b.acked {
			continue
		}
		for {
			res, code, err := c.post(base, b.body)
			if err == nil {
				if len(res.Rejected) != 0 || res.Accepted+res.Duplicates != len(b.events) {
					t.Errorf("client %d: resent batch %d of %d: got %+v", c.id, b.seq, len(b.events), res)
				}
				stats.mu.Lock()
				stats.retried++
				stats.retriedEvents += len(b.events)
				stats.retriedAccepted += res.Accepted
				stats.retriedDups += res.Duplicates
				stats.mu.Unlock()
				c.acknowledged(b)
				break
			}
			if (code >= 400 && code < 500) || time.Now().After(deadline) {
				t.Errorf("client %d: resending batch %d: %v", c.id, b.seq, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if againBody == nil {
		return
	}
	res, _, err := c.post(base, againBody)
	if err != nil {
		t.Errorf("client %d: resending acknowledged batch %d: %v", c.id, again.seq, err)
		return
	}
	if res.Accepted != 0 || res.Duplicates != len(again.events) || len(res.Rejected) != 0 {
		t.Errorf("client %d: resent acknowledged batch %d of %d: got %+v, want all duplicates", c.id, again.seq, len(again.events), res)
	}
	stats.mu.Lock()
	stats.ackedResent++
	stats.ackedResentEvents += len(again.events)
	stats.ackedResentDups += res.Duplicates
	stats.mu.Unlock()
}

// durBuild compiles this command into a temporary directory.
func durBuild(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "doorlog")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// durToken creates an admin token with the CLI.
func durToken(t *testing.T, bin, dir string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "token", "create", "--role", "admin", "--data", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("token create: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	tok := strings.TrimSpace(lines[len(lines)-1])
	if tok == "" {
		t.Fatalf("token create printed no token; stderr:\n%s", stderr.String())
	}
	return tok
}

// durServer is one running `doorlog serve`.
type durServer struct {
	cmd  *exec.Cmd
	base string
	out  *durOutput
	done chan struct{}
	err  error // the exit status, once done is closed
}

// durOutput collects a child's output for failure messages.
type durOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *durOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len() > 1<<20 { // keep the tail small: the end is what explains a failure
		tail := append([]byte(nil), o.buf.Bytes()[o.buf.Len()-64<<10:]...)
		o.buf.Reset()
		o.buf.Write(tail)
	}
	return o.buf.Write(p)
}

func (s *durServer) output() string {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return s.out.buf.String()
}

// durStart starts the server on a free loopback port and waits until
// /readyz answers 200.
func durStart(t *testing.T, bin, dir string) *durServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &durServer{base: "http://" + addr, out: &durOutput{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--addr", addr, "--data", dir, "--log-level", "warn")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-s.done:
			t.Fatalf("server exited before it was ready: %v\n%s", s.err, s.output())
		default:
		}
		resp, err := c.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 20s (last: %v)\n%s", err, s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL, as a power cut or the OOM killer
// would, and waits until it is gone.
func (s *durServer) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("server did not die after SIGKILL")
	}
}

// term stops the server with SIGTERM and expects a clean exit.
func (s *durServer) term(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("server exited with %v after SIGTERM, want 0\n%s", s.err, s.output())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not stop within 30s of SIGTERM\n%s", s.output())
	}
}
