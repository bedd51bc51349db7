package bench

// A fake VictoriaLogs for the tests of the side by side. CI has no
// VictoriaLogs binary and must not build one (its source is not in this
// repository, and building it takes minutes), so the tests run the bench's
// client code against this instead: it implements only the endpoints the
// bench calls, checks the requests it gets the way VictoriaLogs reads them,
// and answers the exact LogsQL queries the bench sends by evaluating them
// over the lines it was given. It is no stand-in for the real thing: its
// figures mean nothing, and the real binary is run by hand
// (docs/performance.md).

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FakeVictoriaLogsEnv, set in the environment, makes the test binary act
// as a victoria-logs binary (see TestMain), so that the bench's child
// process code runs against a real child.
const FakeVictoriaLogsEnv = "DOORLOG_BENCH_FAKE_VICTORIALOGS"

// fakeVersion is what the fake's -version prints.
const fakeVersion = "victoria-logs-fake-v0.0.0"

func TestMain(m *testing.M) {
	if os.Getenv(FakeVictoriaLogsEnv) != "" {
		os.Exit(runFakeVictoriaLogs(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runFakeVictoriaLogs is the fake as a process: the flags the bench passes
// (any other is an error, as it is to VictoriaLogs), a file in the data
// directory so that the disk is measured, and SIGTERM to stop.
func runFakeVictoriaLogs(args []string) int {
	fs := flag.NewFlagSet("victoria-logs", flag.ContinueOnError)
	version := fs.Bool("version", false, "")
	data := fs.String("storageDataPath", "", "")
	addr := fs.String("httpListenAddr", "", "")
	retention := fs.String("retentionPeriod", "7d", "")
	fs.String("loggerLevel", "INFO", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Println(fakeVersion)
		return 0
	}
	if *data == "" || *addr == "" || !strings.HasSuffix(*retention, "d") {
		fmt.Fprintf(os.Stderr, "fake victoria-logs: want -storageDataPath, -httpListenAddr and -retentionPeriod in days, got %q\n", args)
		return 2
	}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	days, _ := strconv.Atoi(strings.TrimSuffix(*retention, "d"))
	f := newFakeVL(time.Duration(days) * 24 * time.Hour)
	f.disk = filepath.Join(*data, "rows.jsonl")
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: f}
	go func() { _ = srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = srv.Close()
	if errs := f.errors(); len(errs) > 0 {
		fmt.Fprintln(os.Stderr, errors.Join(errs...))
		return 1
	}
	return 0
}

// fakeRow is a stored line: what the queries read of it.
type fakeRow struct {
	t        time.Time
	category string
	device   string
}

// fakeVL is the fake's handler.
type fakeVL struct {
	retention time.Duration
	// disk, when set, is a file each ingested body is appended to.
	disk string

	mu sync.Mutex
	// pending are ingested rows not yet flushed; rows the searchable ones.
	pending, rows []fakeRow
	// queries are the LogsQL queries asked, in order; inserts counts the
	// ingest requests, and flushedAfter the inserts the last flush came
	// after.
	queries      []string
	inserts      int
	flushes      int
	flushedAfter int
	errs         []error
	// fault, when set, changes an answer to see that the bench catches it.
	fault string
}

func newFakeVL(retention time.Duration) *fakeVL { return &fakeVL{retention: retention} }

// fail records a request the real VictoriaLogs would not have read as the
// bench means it.
func (f *fakeVL) fail(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Errorf(format, args...))
}

func (f *fakeVL) errors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errs)
}

func (f *fakeVL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		fmt.Fprint(w, "OK")
	case "/insert/jsonline":
		f.insert(w, r)
	case "/internal/force_flush":
		f.mu.Lock()
		f.rows = append(f.rows, f.pending...)
		f.pending = nil
		f.flushes++
		f.flushedAfter = f.inserts
		f.mu.Unlock()
	case "/select/logsql/query":
		f.query(w, r)
	default:
		f.fail("unexpected request %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

// insert takes JSON lines as VictoriaLogs does, with the parameters the
// bench must send; a line outside the retention is dropped silently, as
// VictoriaLogs drops it.
func (f *fakeVL) insert(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method != http.MethodPost || q.Get("_stream_fields") != "site_id,device_id" || q.Get("_time_field") != "_time" || q.Get("_msg_field") != "_msg" {
		f.fail("ingest request %s %s: want POST with _stream_fields=site_id,device_id, _time_field=_time, _msg_field=_msg", r.Method, r.URL)
	}
	if ct := r.Header.Get("Content-Type"); ct == "application/x-www-form-urlencoded" || ct == "" {
		f.fail("ingest request with Content-Type %q: VictoriaLogs would read the body as a form and store nothing", ct)
	}
	var rows []fakeRow
	var raw strings.Builder
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		raw.Write(sc.Bytes())
		raw.WriteByte('\n')
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			f.fail("ingest line %q: %v", sc.Text(), err)
			continue
		}
		for _, k := range []string{"_time", "_msg", "site_id", "device_id", "category"} {
			if s, _ := line[k].(string); s == "" {
				f.fail("ingest line %q has no %s", sc.Text(), k)
			}
		}
		s, _ := line["_time"].(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			f.fail("ingest line %q: _time: %v", sc.Text(), err)
			continue
		}
		if time.Since(t) > f.retention {
			continue
		}
		cat, _ := line["category"].(string)
		dev, _ := line["device_id"].(string)
		rows = append(rows, fakeRow{t: t, category: cat, device: dev})
	}
	if err := sc.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault == "drop one" && len(rows) > 0 && f.inserts == 0 {
		rows = rows[1:]
	}
	f.pending = append(f.pending, rows...)
	f.inserts++
	if f.disk != "" {
		if fh, err := os.OpenFile(f.disk, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, _ = fh.WriteString(raw.String())
			fh.Close()
		}
	}
}

// The LogsQL the fake understands: exactly the shapes the bench sends.
var (
	fakeWindow = regexp.MustCompile(`^_time:\[(\S+), (\S+)\)(?: category:=(\w+))?$`)
	fakeDevice = regexp.MustCompile(`^\{device_id="([^"]+)"\}$`)
	fakeSort   = regexp.MustCompile(`^sort by \(_time( desc)?\)(?: offset (\d+))? limit (\d+)$`)
)

// query answers the bench's LogsQL queries as JSON lines.
func (f *fakeVL) query(w http.ResponseWriter, r *http.Request) {
	lq := r.URL.Query().Get("query")
	f.mu.Lock()
	f.queries = append(f.queries, lq)
	if f.flushes == 0 || f.flushedAfter != f.inserts {
		f.errs = append(f.errs, fmt.Errorf("query %q before the ingested lines were flushed", lq))
	}
	rows := slices.Clone(f.rows)
	fault := f.fault
	f.mu.Unlock()

	filter, pipe, ok := strings.Cut(lq, " | ")
	if !ok {
		http.Error(w, "the fake wants a filter and a pipe: "+lq, http.StatusBadRequest)
		return
	}
	var keep func(fakeRow) bool
	switch m, d := fakeWindow.FindStringSubmatch(filter), fakeDevice.FindStringSubmatch(filter); {
	case filter == "*":
		keep = func(fakeRow) bool { return true }
	case m != nil:
		from, err1 := time.Parse(time.RFC3339Nano, m[1])
		to, err2 := time.Parse(time.RFC3339Nano, m[2])
		if err1 != nil || err2 != nil {
			http.Error(w, "bad time in "+filter, http.StatusBadRequest)
			return
		}
		cat := m[3]
		if fault == "no category" {
			cat = ""
		}
		keep = func(x fakeRow) bool {
			return !x.t.Before(from) && x.t.Before(to) && (cat == "" || x.category == cat)
		}
	case d != nil:
		keep = func(x fakeRow) bool { return x.device == d[1] }
	default:
		http.Error(w, "the fake does not know the filter "+filter, http.StatusBadRequest)
		return
	}
	var sel []fakeRow
	for _, x := range rows {
		if keep(x) {
			sel = append(sel, x)
		}
	}
	enc := json.NewEncoder(w)
	w.Header().Set("Content-Type", "application/stream+json")
	switch s := fakeSort.FindStringSubmatch(pipe); {
	case s != nil:
		slices.SortStableFunc(sel, func(a, b fakeRow) int {
			if s[1] != "" {
				return b.t.Compare(a.t)
			}
			return a.t.Compare(b.t)
		})
		off, _ := strconv.Atoi(s[2])
		limit, _ := strconv.Atoi(s[3])
		if fault == "no offset" {
			off = 0
		}
		sel = sel[min(off, len(sel)):]
		sel = sel[:min(limit, len(sel))]
		for _, x := range sel {
			_ = enc.Encode(map[string]string{"_time": x.t.UTC().Format(time.RFC3339Nano), "category": x.category, "device_id": x.device, "_msg": "m"})
		}
	case pipe == "stats count() total":
		n := len(sel)
		if fault == "count off by one" {
			n++
		}
		_ = enc.Encode(map[string]string{"total": strconv.Itoa(n)})
	case pipe == "stats by (_time:1h, category) count() n":
		counts := map[[2]string]int{}
		for _, x := range sel {
			counts[[2]string{x.t.UTC().Truncate(time.Hour).Format(time.RFC3339), x.category}]++
		}
		for k, n := range counts {
			_ = enc.Encode(map[string]string{"_time": k[0], "category": k[1], "n": strconv.Itoa(n)})
		}
	default:
		http.Error(w, "the fake does not know the pipe "+pipe, http.StatusBadRequest)
	}
}
