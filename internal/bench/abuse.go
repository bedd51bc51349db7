package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doorlog/doorlog/internal/sim"
)

// The abuse run: the clients that once took a doorlog server's memory (an
// export of the largest models, exports and pages that are never read, live
// streams that never read, many of the largest ingest bodies at once, bodies
// trickled a byte at a time), each for a phase, while a steady device keeps
// sending events as a panel would. It measures, per phase, the server's
// peak resident memory and the steady device's ingest latency, against a
// first phase without abuse. The test in cmd/doorlog runs it against the
// real binary and checks the memory stays within the budget and every event
// of the steady device is acknowledged; `doorlog bench --abuse` prints the
// figures (docs/operations.md).

// Defaults of AbuseConfig, the numbers of the probe the limits were built
// against (issue 11).
const (
	DefaultAbusePhase   = 10 * time.Second
	DefaultBigEvents    = 3000
	DefaultSlowExports  = 8
	DefaultUnreadPages  = 40
	DefaultUnreadStream = 500
	DefaultBigBodies    = 48
	DefaultTricklers    = 10
)

// AbuseConfig is what to run. Zero fields take the defaults.
type AbuseConfig struct {
	// Phase is how long each phase lasts.
	Phase time.Duration
	// BigEvents is how many events with a model of the largest size are
	// loaded first, for the exports and pages to carry.
	BigEvents int
	// The number of abusive clients of each phase.
	SlowExports, UnreadPages, UnreadStreams, BigBodies, Tricklers int
	// Progress receives a line per phase; nil discards.
	Progress io.Writer
	// Version is the doorlog version recorded in the result.
	Version string
}

func (c AbuseConfig) withDefaults() AbuseConfig {
	if c.Phase <= 0 {
		c.Phase = DefaultAbusePhase
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.BigEvents, DefaultBigEvents)
	def(&c.SlowExports, DefaultSlowExports)
	def(&c.UnreadPages, DefaultUnreadPages)
	def(&c.UnreadStreams, DefaultUnreadStream)
	def(&c.BigBodies, DefaultBigBodies)
	def(&c.Tricklers, DefaultTricklers)
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// AbusePhase is what one phase measured.
type AbusePhase struct {
	Name string `json:"name"`
	// Clients is the number of abusive clients.
	Clients int `json:"clients"`
	// MaxRSSBytes is the server's peak resident memory during the phase.
	MaxRSSBytes int64 `json:"max_rss_bytes"`
	// The steady device's requests: latencies of the acknowledged ones,
	// and how many were not acknowledged (any answer but 200).
	IngestP50Ms  float64 `json:"ingest_p50_ms"`
	IngestP99Ms  float64 `json:"ingest_p99_ms"`
	IngestMaxMs  float64 `json:"ingest_max_ms"`
	IngestOK     int     `json:"ingest_ok"`
	IngestFailed int     `json:"ingest_failed"`
	// Answers counts the abusive clients' answers by status ("cut" for a
	// connection the server closed before answering).
	Answers map[string]int `json:"answers"`
	// CutAfterMs is, for the trickling clients, the median time the server
	// took to close their connection; 0 elsewhere.
	CutAfterMs float64 `json:"cut_after_ms,omitempty"`
	// Limits counts what the server's limits did during the phase, from
	// its /metrics: requests refused by each memory pool
	// ("refused ingest", "refused reads") and live streams dropped for
	// falling behind ("stream overflows").
	Limits map[string]float64 `json:"limits"`
}

// AbuseResult is the whole run.
type AbuseResult struct {
	Started time.Time    `json:"started"`
	Machine Machine      `json:"machine"`
	Version string       `json:"version"`
	Phases  []AbusePhase `json:"phases"`
	// MaxRSSBytes is the peak over every phase.
	MaxRSSBytes int64 `json:"max_rss_bytes"`
	// Acked is the number of the steady device's events acknowledged, and
	// Stored the number the server lists for it at the end: they must be
	// equal.
	Acked  int64 `json:"acked"`
	Stored int64 `json:"stored"`
}

// abuser runs the abusive clients of a phase until ctx ends, counting
// their answers.
type abuser struct {
	name    string
	clients int
	run     func(a *abuseRun, ctx context.Context, answers *answerCount) error
}

// abuseRun is the state of a run: the server and what was set up on it.
type abuseRun struct {
	cfg    AbuseConfig
	t      Target
	http   *http.Client
	big    string // the device whose events have the largest models
	steady string // the device that sends as a panel would
	load   string // the device of the background load
	host   string // host:port, for raw connections
	// bigBody is the body the big-bodies phase sends, made by setup so
	// that the phase's time is all sending.
	bigBody []byte
}

// answerCount counts answers by status, safely from many goroutines.
type answerCount struct {
	mu   sync.Mutex
	m    map[string]int
	cuts []time.Duration
}

func (a *answerCount) add(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]int{}
	}
	a.m[key]++
}

func (a *answerCount) cut(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cuts = append(a.cuts, d)
}

// Abuse runs the phases against t, whose PID must be set (memory is what
// is measured). It returns what it measured even when a phase failed, with
// the error.
func Abuse(ctx context.Context, cfg AbuseConfig, t Target) (*AbuseResult, error) {
	cfg = cfg.withDefaults()
	if t.PID <= 0 {
		return nil, errors.New("bench: the abuse run needs the server's process to measure its memory")
	}
	u, err := url.Parse(t.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	a := &abuseRun{cfg: cfg, t: t, host: u.Host, http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	res := &AbuseResult{Started: time.Now().UTC(), Machine: ReadMachine(), Version: cfg.Version}
	if err := a.setup(ctx); err != nil {
		return res, err
	}
	fmt.Fprintf(cfg.Progress, "loaded %d events with %d KiB models\n", cfg.BigEvents, bigModelBytes>>10)

	phases := []abuser{
		{"no abuse", 0, nil},
		{"export of 16 KiB models", 1, (*abuseRun).exportAll},
		{"slow export readers", cfg.SlowExports, (*abuseRun).slowExports},
		{"unread pages of 1000", cfg.UnreadPages, (*abuseRun).unreadPages},
		{"unread live streams", cfg.UnreadStreams, (*abuseRun).unreadStreams},
		{"16 MiB ingest bodies at once", cfg.BigBodies, (*abuseRun).bigBodies},
		{"trickled bodies and headers", cfg.Tricklers, (*abuseRun).tricklers},
	}
	var acked atomic.Int64
	var seq atomic.Int64
	var errs []error
	for _, ph := range phases {
		p, err := a.phase(ctx, ph, &acked, &seq)
		res.Phases = append(res.Phases, p)
		res.MaxRSSBytes = max(res.MaxRSSBytes, p.MaxRSSBytes)
		fmt.Fprintf(cfg.Progress, "%-30s %4d clients  peak RSS %6.1f MiB  ingest p50 %6.1f ms  p99 %7.1f ms  failed %d  answers %v  limits %v\n",
			p.Name, p.Clients, float64(p.MaxRSSBytes)/(1<<20), p.IngestP50Ms, p.IngestP99Ms, p.IngestFailed, p.Answers, p.Limits)
		if err != nil {
			errs = append(errs, fmt.Errorf("bench: phase %q: %w", ph.name, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	res.Acked = acked.Load()
	n, err := a.count(ctx, a.steady)
	if err != nil {
		errs = append(errs, err)
	}
	res.Stored = n
	return res, errors.Join(errs...)
}

// bigModelBytes is the size of the models of the big events: the largest
// a model may be, less room for the rest of the item.
const bigModelBytes = 16<<10 - 64

// setup creates a site with the run's devices and loads the big events.
func (a *abuseRun) setup(ctx context.Context) error {
	sites, devices := sim.Population(1, 3)
	if err := sim.Setup(ctx, a.t.BaseURL, a.t.Token, a.http, sites, devices); err != nil {
		return fmt.Errorf("bench: set up the abuse run's devices: %w", err)
	}
	a.big, a.steady, a.load = devices[0].ID, devices[1].ID, devices[2].ID
	rng := rand.New(rand.NewPCG(7, 7))
	const perBody = 500
	for start := 0; start < a.cfg.BigEvents; start += perBody {
		var body bytes.Buffer
		for i := start; i < min(start+perBody, a.cfg.BigEvents); i++ {
			body.Write(bigItem(a.big, fmt.Sprintf("big-%d", i), time.Now().Add(-time.Duration(a.cfg.BigEvents-i)*time.Second), rng))
		}
		if status, err := a.post(ctx, "/v1/events", "application/x-ndjson", body.Bytes()); err != nil || status != http.StatusOK {
			return fmt.Errorf("bench: load the big events: status %d, %v", status, err)
		}
	}
	var body bytes.Buffer
	for i := 0; body.Len() < 16<<20-2*bigModelBytes; i++ {
		body.Write(bigItem(a.big, fmt.Sprintf("body-%d", i), time.Now(), rng))
	}
	a.bigBody = body.Bytes()
	return nil
}

// bigItem is one NDJSON line of an event with a model of bigModelBytes of
// text that compresses about as badly as names and numbers do: a slice of
// a block of random letters made once, at a random place, so that making
// many of them costs little (the test runs this under the race detector).
func bigItem(device, source string, at time.Time, rng *rand.Rand) []byte {
	n := bigModelBytes - 40
	off := rng.IntN(len(randomLetters) - n)
	line, _ := json.Marshal(map[string]any{
		"device_id": device, "time": at.UnixMilli(), "key": "access_granted_by_valid_identifier", "source_id": source,
		"model": map[string]any{"number": 12345, "type": "card", "owner": randomLetters[off : off+n]},
	})
	return append(line, '\n')
}

// randomLetters is the block bigItem takes its text from.
var randomLetters = func() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789 "
	rng := rand.New(rand.NewPCG(3, 3))
	b := make([]byte, 256<<10)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return string(b)
}()

// phase runs one phase: the steady device and the background load, the
// abusive clients if any, and the memory sampling.
func (a *abuseRun) phase(ctx context.Context, ab abuser, acked, seq *atomic.Int64) (AbusePhase, error) {
	p := AbusePhase{Name: ab.name, Clients: ab.clients}
	before, err := a.limitCounts(ctx)
	if err != nil {
		return p, err
	}
	resetPeak(a.t.PID)
	rss := startRSS(a.t.PID, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Phase)
	defer cancel()

	var wg sync.WaitGroup
	var lat []time.Duration
	var failed atomic.Int64
	wg.Go(func() { lat = a.steadyDevice(ctx, acked, seq, &failed) })
	wg.Go(func() { a.backgroundLoad(ctx, seq) })
	var answers answerCount
	var errMu sync.Mutex
	var errs []error
	if ab.run != nil {
		wg.Go(func() {
			if err := ab.run(a, ctx, &answers); err != nil && ctx.Err() == nil {
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	p.MaxRSSBytes = rss.stop()
	slices.Sort(lat)
	p.IngestOK, p.IngestFailed = len(lat), int(failed.Load())
	p.IngestP50Ms, p.IngestP99Ms = ms(Percentile(lat, 0.50)), ms(Percentile(lat, 0.99))
	if len(lat) > 0 {
		p.IngestMaxMs = ms(lat[len(lat)-1])
	}
	p.Answers = answers.m
	if len(answers.cuts) > 0 {
		slices.Sort(answers.cuts)
		p.CutAfterMs = ms(answers.cuts[len(answers.cuts)/2])
	}
	// Let the phase's connections close before the next one is measured.
	time.Sleep(500 * time.Millisecond)
	after, err := a.limitCounts(context.WithoutCancel(ctx))
	if err != nil {
		errs = append(errs, err)
	}
	p.Limits = map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			p.Limits[k] = d
		}
	}
	return p, errors.Join(errs...)
}

// steadyDevice sends a batch of 10 small events every 50 ms, as a busy
// panel would, and returns the latencies of the acknowledged ones.
func (a *abuseRun) steadyDevice(ctx context.Context, acked, seq *atomic.Int64, failed *atomic.Int64) []time.Duration {
	var lat []time.Duration
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return lat
		case <-tick.C:
		}
		var body bytes.Buffer
		for range 10 {
			n := seq.Add(1)
			fmt.Fprintf(&body, `{"device_id":%q,"time":%d,"key":"door_sensor_was_opened","source_id":"steady-%d","model":{"lock":1}}`+"\n", a.steady, time.Now().UnixMilli(), n)
		}
		start := time.Now()
		// Not the phase's context: a request in flight when the phase ends
		// is finished, so that every acknowledged event is counted.
		status, err := a.post(context.WithoutCancel(ctx), "/v1/events", "application/x-ndjson", body.Bytes())
		if err == nil && status == http.StatusOK {
			lat = append(lat, time.Since(start))
			acked.Add(10)
		} else {
			failed.Add(1)
		}
	}
}

// backgroundLoad sends 200 events with 1 KiB models ten times a second,
// so that live streams have something to fall behind on.
func (a *abuseRun) backgroundLoad(ctx context.Context, seq *atomic.Int64) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	pad := strings.Repeat("x", 1000)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var body bytes.Buffer
		for range 200 {
			fmt.Fprintf(&body, `{"device_id":%q,"time":%d,"key":"incoming_call","source_id":"load-%d","model":{"pad":%q}}`+"\n", a.load, time.Now().UnixMilli(), seq.Add(1), pad)
		}
		_, _ = a.post(ctx, "/v1/events", "application/x-ndjson", body.Bytes())
	}
}

// exportAll exports every event, reading at full speed, again and again.
func (a *abuseRun) exportAll(ctx context.Context, answers *answerCount) error {
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, "GET", a.t.BaseURL+"/v1/events/export?format=ndjson", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+a.t.Token)
		resp, err := a.http.Do(req)
		if err != nil {
			answers.add("cut")
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answers.add(strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// rawRequest opens a connection with a small receive buffer, sends a
// request, and returns the connection for the caller to read (or not).
func (a *abuseRun) rawRequest(ctx context.Context, method, path string, header string, body []byte) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", a.host)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// A client that reads nothing with a small window makes the
		// server's writes block early, as a slow link would.
		_ = tc.SetReadBuffer(4 << 10)
	}
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n%s", method, path, a.host, a.t.Token, header)
	if body != nil {
		req += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	req += "\r\n"
	if _, err := conn.Write(append([]byte(req), body...)); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// holdUnread sends a request on a connection and never reads the answer,
// reconnecting every few seconds so that the server keeps working for it,
// until ctx ends.
func (a *abuseRun) holdUnread(ctx context.Context, path string, readFirst int, answers *answerCount) {
	for ctx.Err() == nil {
		conn, err := a.rawRequest(ctx, "GET", path, "", nil)
		if err != nil {
			answers.add("dial failed")
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		if readFirst > 0 {
			// Take the head of the answer, then stop reading.
			buf := make([]byte, readFirst)
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			// A refusal is shorter than readFirst: what came is enough.
			n, _ := io.ReadFull(conn, buf)
			if n == 0 {
				answers.add("cut")
			} else {
				answers.add(statusOf(buf[:n]))
			}
		} else {
			answers.add("sent")
		}
		sleepCtx(ctx, 5*time.Second)
		conn.Close()
	}
}

// statusOf reads the status code of an HTTP answer's first bytes.
func statusOf(b []byte) string {
	if f := strings.Fields(string(b)); len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/") {
		return f[1]
	}
	return "?"
}

func (a *abuseRun) slowExports(ctx context.Context, answers *answerCount) error {
	var wg sync.WaitGroup
	for range a.cfg.SlowExports {
		wg.Go(func() { a.holdUnread(ctx, "/v1/events/export?format=ndjson", 64<<10, answers) })
	}
	wg.Wait()
	return nil
}

func (a *abuseRun) unreadPages(ctx context.Context, answers *answerCount) error {
	var wg sync.WaitGroup
	for range a.cfg.UnreadPages {
		wg.Go(func() { a.holdUnread(ctx, "/v1/events?limit=1000", 0, answers) })
	}
	wg.Wait()
	return nil
}

func (a *abuseRun) unreadStreams(ctx context.Context, answers *answerCount) error {
	var wg sync.WaitGroup
	for i := range a.cfg.UnreadStreams {
		wg.Go(func() {
			// Stagger the connections over the first second.
			sleepCtx(ctx, time.Duration(i)*time.Second/time.Duration(a.cfg.UnreadStreams))
			a.holdUnread(ctx, "/v1/events/stream", 0, answers)
		})
	}
	wg.Wait()
	return nil
}

// bigBodies sends bodies of the largest size, of events with the largest
// models, from many clients at once. Their source ids repeat, so that the
// server decodes and checks each body whole but stores its events once.
func (a *abuseRun) bigBodies(ctx context.Context, answers *answerCount) error {
	payload := a.bigBody
	var wg sync.WaitGroup
	for range a.cfg.BigBodies {
		wg.Go(func() {
			for ctx.Err() == nil {
				status, err := a.post(ctx, "/v1/events", "application/x-ndjson", payload)
				switch {
				case err != nil && ctx.Err() != nil:
				case err != nil:
					answers.add("cut " + errKind(err))
					sleepCtx(ctx, 100*time.Millisecond)
				default:
					answers.add(strconv.Itoa(status))
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// tricklers send a request's body, or half its headers, a byte every
// 3 seconds, and note how long the server takes to close the connection.
func (a *abuseRun) tricklers(ctx context.Context, answers *answerCount) error {
	var wg sync.WaitGroup
	for i := range a.cfg.Tricklers {
		wg.Go(func() {
			d := net.Dialer{Timeout: 5 * time.Second}
			conn, err := d.DialContext(ctx, "tcp", a.host)
			if err != nil {
				answers.add("dial failed")
				return
			}
			defer conn.Close()
			start := time.Now()
			if i%2 == 0 {
				fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{", a.host, a.t.Token)
			} else {
				fmt.Fprintf(conn, "GET /v1/events HTTP/1.1\r\nHost: %s\r\n", a.host)
			}
			// The server closing the connection ends the read below.
			closed := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
				close(closed)
			}()
			tick := time.NewTicker(3 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-closed:
					answers.add("cut")
					answers.cut(time.Since(start))
					return
				case <-ctx.Done():
					answers.add("still open")
					return
				case <-tick.C:
					_, _ = conn.Write([]byte("x"))
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// post sends a body and returns the answer's status, reading the answer
// whole.
func (a *abuseRun) post(ctx context.Context, path, contentType string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", a.t.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.t.Token)
	req.Header.Set("Content-Type", contentType)
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// WriteJSON writes the result to path, creating its directory.
func (r *AbuseResult) WriteJSON(path string) error {
	return writeJSONFile(path, r)
}

// limitMetrics are the /metrics series limitCounts reads, by the name it
// gives them.
var limitMetrics = map[string]string{
	`doorlog_memory_refused_total{pool="ingest"}`: "refused ingest",
	`doorlog_memory_refused_total{pool="reads"}`:  "refused reads",
	`doorlog_stream_overflows`:                    "stream overflows",
}

// limitCounts reads the counters of the server's limits from /metrics.
func (a *abuseRun) limitCounts(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", a.t.BaseURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: read /metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		if name, found := limitMetrics[series]; ok && found {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return nil, fmt.Errorf("bench: /metrics: %s %q: %w", series, value, err)
			}
			out[name] = v
		}
	}
	return out, sc.Err()
}

// count returns the exact number of events the server lists for device.
func (a *abuseRun) count(ctx context.Context, device string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", a.t.BaseURL+"/v1/events?limit=1&count=exact&device_id="+device, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.t.Token)
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bench: count the steady device's events: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Count int64 `json:"count"`
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: count the steady device's events: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, fmt.Errorf("bench: count the steady device's events: %w", err)
	}
	return out.Count, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// errKind names the kind of a client error, for the answers' counts.
func errKind(err error) string {
	msg := err.Error()
	for _, k := range []string{"reset", "broken pipe", "EOF", "timeout", "refused"} {
		if strings.Contains(msg, k) {
			return k
		}
	}
	return "error"
}
