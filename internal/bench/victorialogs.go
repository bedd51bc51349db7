package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sim"
)

// VictoriaLogs is what the side by side measured of VictoriaLogs, the
// figures doorlog's are set against.
type VictoriaLogs struct {
	// Binary is the binary run, Version what its -version printed.
	Binary  string `json:"binary"`
	Version string `json:"version"`
	// Args are the flags it was started with.
	Args []string `json:"args"`
	// Ingest is its load: the same events, clients, batches and order as
	// doorlog's. Seconds runs to the end of the flush that makes the events
	// searchable, since VictoriaLogs answers before; Stored is what a
	// count of every event found afterwards.
	Ingest Ingest `json:"ingest"`
	// FlushSeconds is the flush's part of Ingest.Seconds.
	FlushSeconds float64 `json:"flush_seconds"`
	// Queries are the compared queries, named as SideBySide.Doorlog's.
	Queries []Query `json:"queries"`
	// MaxRSSBytes, DiskBytes and BytesPerEvent are measured as doorlog's:
	// the peak resident memory through the load and the queries, and the
	// data directory's files after it stopped.
	MaxRSSBytes   *int64   `json:"max_rss_bytes"`
	DiskBytes     *int64   `json:"disk_bytes"`
	BytesPerEvent *float64 `json:"bytes_per_event"`
	// LoadMaxRSSBytes is the peak RSS up to the end of the load and flush,
	// before the queries (a deep page sorts every event up to its offset);
	// null when unknown.
	LoadMaxRSSBytes *int64 `json:"load_max_rss_bytes"`
}

// VictoriaLogs' ingest parameters: the stream is the device (with its site,
// which it implies), as a log shipper of intercom events would set it, so
// that a device's page reads one stream.
const (
	vlStreamFields = "site_id,device_id"
	vlTimeField    = "_time"
	vlMsgField     = "_msg"
)

// vlLine is one event as a VictoriaLogs JSON line. It holds what doorlog
// stores of the event: the message is the key (doorlog renders the text
// from key and model when it lists, and so can a VictoriaLogs client), the
// model is kept whole (VictoriaLogs flattens it into model.* fields), and
// the category doorlog derives from the key is added, since VictoriaLogs
// has no catalog to filter by it.
type vlLine struct {
	Time     json.RawMessage `json:"_time"`
	Msg      string          `json:"_msg"`
	SiteID   string          `json:"site_id"`
	DeviceID string          `json:"device_id"`
	Category string          `json:"category"`
	SourceID string          `json:"source_id,omitempty"`
	Model    json.RawMessage `json:"model,omitempty"`
}

// encodeJSONLines writes items as VictoriaLogs JSON lines; sites maps a
// device to its site.
func encodeJSONLines(items []ingest.Item, sites map[string]string, cat *catalog.Catalog) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range items {
		it := &items[i]
		line := vlLine{
			Time: it.Time, Msg: it.Key, SiteID: sites[it.DeviceID], DeviceID: it.DeviceID,
			Category: string(cat.Entry(it.Key).Category), SourceID: it.SourceID, Model: it.Model,
		}
		if err := enc.Encode(&line); err != nil {
			return nil, fmt.Errorf("bench: encode event %d as a JSON line: %w", i, err)
		}
	}
	return buf.Bytes(), nil
}

// vlSink sends batches to VictoriaLogs' /insert/jsonline. VictoriaLogs
// does not say how many lines it kept, so a 200 counts the batch accepted
// and the run counts the stored events afterwards; a batch is not sent
// again, since VictoriaLogs would keep both copies.
type vlSink struct {
	url      string
	client   *http.Client
	sites    map[string]string
	cat      *catalog.Catalog
	accepted atomic.Int64
}

func newVLSink(base string, client *http.Client, c *comparison) *vlSink {
	params := url.Values{"_stream_fields": {vlStreamFields}, "_time_field": {vlTimeField}, "_msg_field": {vlMsgField}}
	return &vlSink{url: base + "/insert/jsonline?" + params.Encode(), client: client, sites: c.sites, cat: c.cat}
}

func (s *vlSink) encode(dst []byte, items []ingest.Item) ([]byte, error) {
	b, err := encodeJSONLines(items, s.sites, s.cat)
	return append(dst, b...), err
}

func (s *vlSink) send(ctx context.Context, body []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	// Not a form: VictoriaLogs would read the body as its parameters and
	// store nothing, answering 200 all the same.
	req.Header.Set("Content-Type", "application/stream+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("bench: victorialogs ingest: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("bench: victorialogs ingest: %s: %s", resp.Status, snippetOf(b))
	}
	s.accepted.Add(int64(n))
	return nil
}

func (s *vlSink) totals() sim.SinkTotals { return sim.SinkTotals{Accepted: s.accepted.Load()} }

// snippetOf returns the start of an answer, for an error.
func snippetOf(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 300 {
		b = b[:300]
	}
	return string(b)
}

// vlRetention is the -retentionPeriod that keeps every event of a span:
// VictoriaLogs' default of 7 days would drop the older events as they come,
// answering 200 all the same. A month is added, whole days.
func vlRetention(span time.Duration) string {
	return fmt.Sprintf("%dd", int(math.Ceil(span.Hours()/24))+30)
}

// vlServer is a VictoriaLogs the bench started as a child process.
type vlServer struct {
	url string
	// dir holds the data directory (dir/data) and the log (dir/victoria-logs.log).
	dir  string
	args []string
	proc *child
}

// startVictoriaLogs starts bin with its data in a new directory under
// parent (the system's temporary directory when empty), listening on a
// free loopback port, and waits until /health answers 200.
func startVictoriaLogs(ctx context.Context, bin, parent string, span time.Duration) (*vlServer, error) {
	dir, err := os.MkdirTemp(parent, "victorialogs-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &vlServer{url: "http://" + addr, dir: dir, args: []string{
		"-storageDataPath=" + filepath.Join(dir, "data"),
		"-httpListenAddr=" + addr,
		"-retentionPeriod=" + vlRetention(span),
		"-loggerLevel=WARN",
	}}
	s.proc, err = startChild(ctx, bin, s.args, filepath.Join(dir, "victoria-logs.log"), s.url+"/health")
	if err != nil {
		// The error has the end of its log.
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: victorialogs: %w", err)
	}
	return s, nil
}

// victoriaLogsVersion returns the first line bin -version prints.
func victoriaLogsVersion(ctx context.Context, bin string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-version")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("bench: %s -version: %w", bin, err)
	}
	v, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	return v, nil
}

// runVictoriaLogs is the VictoriaLogs side of the side by side: it starts
// cfg.VictoriaLogs, loads the events doorlog got, times the compared
// queries, stops it and measures its memory and disk.
func runVictoriaLogs(ctx context.Context, cfg Config, c *comparison) (*VictoriaLogs, error) {
	v := &VictoriaLogs{Binary: cfg.VictoriaLogs}
	var err error
	if v.Version, err = victoriaLogsVersion(ctx, cfg.VictoriaLogs); err != nil {
		return v, err
	}
	srv, err := startVictoriaLogs(ctx, cfg.VictoriaLogs, cfg.VictoriaLogsDir, cfg.Span)
	if err != nil {
		return v, err
	}
	v.Args = srv.args
	pr := &progress{w: cfg.Progress, terminal: cfg.Terminal}
	pr.line("started %s %s with its data in %s", cfg.VictoriaLogs, strings.Join(srv.args, " "), srv.dir)
	rss := startRSS(srv.proc.pid(), 250*time.Millisecond)
	err = vlPhases(ctx, cfg, srv.url, c, pr, v, rss.peak)
	if max := rss.stop(); max > 0 {
		v.MaxRSSBytes = &max
	}
	if serr := srv.proc.stop(); serr != nil {
		err = errors.Join(err, fmt.Errorf("bench: stop victorialogs: %w", serr))
	}
	if v.Ingest.Stored > 0 {
		size, derr := DirSize(filepath.Join(srv.dir, "data"))
		if derr != nil {
			err = errors.Join(err, derr)
		} else {
			per := float64(size) / float64(v.Ingest.Stored)
			v.DiskBytes, v.BytesPerEvent = &size, &per
		}
	}
	if cfg.KeepVictoriaLogs {
		pr.line("kept VictoriaLogs' data and log in %s", srv.dir)
	} else if rerr := os.RemoveAll(srv.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("bench: %w", rerr))
	}
	return v, err
}

// vlPhases loads the events into the VictoriaLogs at base, flushes them,
// checks that every one is there and times the compared queries, filling
// in v. peak, when not nil, gives its peak RSS so far.
func vlPhases(ctx context.Context, cfg Config, base string, c *comparison, pr *progress, v *VictoriaLogs, peak func() int64) error {
	defer pr.done()
	tl := c.newTally()
	sink := newVLSink(base, cfg.Client, c)
	ing, err := load(ctx, cfg, sink, "load victorialogs", c.devices, pr, tl)
	v.Ingest = ing
	if err != nil {
		return err
	}
	if got := tl.expected(c.from, c.to); got.Events != c.want.Events || got.Digest != c.want.Digest {
		return fmt.Errorf("bench: victorialogs: the load made other events than doorlog's: got %+v, want %+v", got, c.want)
	}
	q := &querier{cfg: cfg, t: Target{BaseURL: base}, pr: pr, start: cfg.End.Add(-cfg.Span), end: cfg.End, busy: c.busy}
	t0 := time.Now()
	req, err := q.get(ctx, "/internal/force_flush")
	if err != nil {
		return err
	}
	if _, err := q.do(req); err != nil {
		return fmt.Errorf("bench: victorialogs: flush: %w", err)
	}
	flush := time.Since(t0)
	if peak != nil {
		if p := peak(); p > 0 {
			v.LoadMaxRSSBytes = &p
		}
	}
	v.FlushSeconds = flush.Seconds()
	v.Ingest.Seconds += v.FlushSeconds
	// What it stored is what a count finds; it drops what it refuses (too
	// old for the retention, say) with a 200 all the same.
	req, err = vlQuery(ctx, q, logsqlCount("*"))
	if err != nil {
		return err
	}
	body, err := q.do(req)
	if err != nil {
		return fmt.Errorf("bench: victorialogs: count the events: %w", err)
	}
	stored, err := parseVLCount(body)
	if err != nil {
		return fmt.Errorf("bench: victorialogs: count the events: %w", err)
	}
	v.Ingest.Stored = stored
	v.Ingest.EventsPerSec = float64(stored) / v.Ingest.Seconds
	pr.line("victorialogs: %s events stored, %s events/s with the flush (%.2f s)", thousands(float64(stored)), thousands(v.Ingest.EventsPerSec), v.FlushSeconds)
	if stored != c.want.Events {
		return fmt.Errorf("bench: victorialogs holds %d events after the load, want %d", stored, c.want.Events)
	}
	v.Queries, err = c.victoriaLogs(ctx, q)
	return err
}
