package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets of the figures that are not page latencies (issue #4: 2 cores,
// embedded store, 10M events).
const (
	// TargetIngestPerSec is the durable ingest rate.
	TargetIngestPerSec = 150_000
	// TargetExportPerSec is the export rate.
	TargetExportPerSec = 300_000
	// TargetRSSBytes is the most memory the server may use, 200 MiB.
	TargetRSSBytes = 200 << 20
	// TargetBytesPerEvent is the most disk one stored event may take.
	TargetBytesPerEvent = 150
)

// Result is every figure of one run, as written to the JSON file.
type Result struct {
	Started time.Time `json:"started"`
	// Seconds is how long the whole run took.
	Seconds   float64 `json:"seconds"`
	Machine   Machine `json:"machine"`
	GoVersion string  `json:"go_version"`
	// Version is doorlog's version.
	Version string `json:"doorlog_version"`
	// Backend is the store of the server.
	Backend string `json:"store_backend"`
	// Events is how many events were asked for; Ingest.Stored how many
	// were stored.
	Events  int    `json:"events"`
	Sites   int    `json:"sites"`
	Devices int    `json:"devices"`
	Clients int    `json:"clients"`
	Batch   int    `json:"batch"`
	Samples int    `json:"samples"`
	Span    string `json:"span"`
	// Arrival is the order the load sent its events in (Config.Arrival).
	Arrival string `json:"arrival"`

	Ingest  Ingest  `json:"ingest"`
	Queries []Query `json:"queries"`
	Export  Export  `json:"export"`
	// Dense is the dense-window case's figures; absent when it was not
	// run.
	Dense *Dense `json:"dense,omitempty"`
	// Mixed is the mixed phase's figures; null when it was not run.
	Mixed *Mixed `json:"mixed,omitempty"`
	// MaxRSSBytes is the most resident memory the server had, sampled
	// every 250 ms (and its VmHWM); null when unknown.
	MaxRSSBytes *int64 `json:"max_rss_bytes"`
	// DiskBytes is the size of the data directory after the server
	// stopped, and BytesPerEvent that over the events stored; null when
	// unknown.
	DiskBytes     *int64   `json:"disk_bytes"`
	BytesPerEvent *float64 `json:"bytes_per_event"`
	// SideBySide is the comparison with VictoriaLogs (Config.VictoriaLogs);
	// absent when it was not asked for.
	SideBySide *SideBySide `json:"side_by_side,omitempty"`
}

// Machine describes where the bench ran.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	// MemoryBytes is the total memory, 0 when unknown.
	MemoryBytes int64  `json:"memory_bytes"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
}

// ReadMachine describes this machine from the runtime and, on Linux,
// /proc/cpuinfo and /proc/meminfo.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: "unknown"}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.CPUModel = v
	}
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		m.MemoryBytes = parseKB(v)
	}
	return m
}

// procField returns the value of the first "name: value" line of a /proc
// file, or "".
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// parseKB reads "123456 kB" as bytes, 0 when it cannot.
func parseKB(v string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	if err != nil {
		return 0
	}
	return n << 10
}

// DirSize returns the total size of the regular files under dir.
func DirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bench: size of %s: %w", dir, err)
	}
	return total, nil
}

// Check is one figure against its target.
type Check struct {
	Name   string
	Value  string
	Target string
	// Status is "ok", "FAIL" or "?" (not measured).
	Status string
}

func status(known, ok bool) string {
	switch {
	case !known:
		return "?"
	case ok:
		return "ok"
	default:
		return "FAIL"
	}
}

// Checks lists every figure of r with its target and whether it is met.
func (r *Result) Checks() []Check {
	var out []Check
	// The figures that depend on the arrival order name it, except for the
	// time order the table has always shown.
	ingestName, diskName := "ingest", "disk per event"
	if r.Arrival != "" && r.Arrival != ArrivalTime {
		ingestName, diskName = "ingest, arrival "+r.Arrival, "disk per event, arrival "+r.Arrival
	}
	out = append(out, Check{ingestName, fmt.Sprintf("%s events/s", thousands(r.Ingest.EventsPerSec)),
		fmt.Sprintf(">= %s/s", thousands(TargetIngestPerSec)), status(r.Ingest.Seconds > 0, r.Ingest.EventsPerSec >= TargetIngestPerSec)})
	queries := r.Queries
	if r.Dense != nil {
		queries = append(slices.Clip(queries), r.Dense.Queries...)
	}
	for _, q := range queries {
		v := fmt.Sprintf("p50 %.2f  p99 %.2f  max %.2f ms  (n=%d)", q.P50Ms, q.P99Ms, q.MaxMs, q.Samples)
		out = append(out, Check{q.Name, v, fmt.Sprintf("p99 <= %g ms", q.TargetMs), status(q.Samples > 0, q.P99Ms <= q.TargetMs)})
	}
	out = append(out, Check{"export ndjson", fmt.Sprintf("%s events/s (%s events)", thousands(r.Export.EventsPerSec), thousands(float64(r.Export.Events))),
		fmt.Sprintf(">= %s/s", thousands(TargetExportPerSec)), status(r.Export.Seconds > 0, r.Export.EventsPerSec >= TargetExportPerSec)})
	rss, rssOK := "unknown", false
	if r.MaxRSSBytes != nil {
		rss, rssOK = fmt.Sprintf("%.1f MiB", float64(*r.MaxRSSBytes)/(1<<20)), *r.MaxRSSBytes <= TargetRSSBytes
	}
	out = append(out, Check{"server max RSS", rss, "<= 200 MiB", status(r.MaxRSSBytes != nil, rssOK)})
	disk, diskOK := "unknown", false
	if r.BytesPerEvent != nil && r.DiskBytes != nil {
		disk = fmt.Sprintf("%.1f B/event (%.1f MiB)", *r.BytesPerEvent, float64(*r.DiskBytes)/(1<<20))
		diskOK = *r.BytesPerEvent <= TargetBytesPerEvent
	}
	out = append(out, Check{diskName, disk, fmt.Sprintf("<= %d B", TargetBytesPerEvent), status(r.BytesPerEvent != nil, diskOK)})
	return out
}

// WriteTable writes the run's description and a fixed-width table of every
// figure with its target and a pass/fail mark.
func (r *Result) WriteTable(w io.Writer) error {
	mem := "unknown"
	if r.Machine.MemoryBytes > 0 {
		mem = fmt.Sprintf("%.1f GiB", float64(r.Machine.MemoryBytes)/(1<<30))
	}
	fmt.Fprintf(w, "doorlog %s, %s, store %s; %d CPUs (%s), %s memory\n",
		r.Version, r.GoVersion, r.Backend, r.Machine.CPUs, r.Machine.CPUModel, mem)
	fmt.Fprintf(w, "%s events sent (%s stored) over %s from %d devices in %d sites; %d clients, batches of %d; %d samples per query\n",
		thousands(float64(r.Ingest.Sent)), thousands(float64(r.Ingest.Stored)), r.Span, r.Devices, r.Sites, r.Clients, r.Batch, r.Samples)
	if r.Ingest.Seconds > 0 {
		fmt.Fprintf(w, "arrival %s: load took %.1f s (events generated and encoded while sending, %.1f s summed over the clients, timed); %d duplicates, %d rejected, %d retries\n",
			r.Arrival, r.Ingest.Seconds, r.Ingest.GeneratorSeconds, r.Ingest.Duplicates, r.Ingest.Rejected, r.Ingest.Retries)
	}
	if d := r.Dense; d != nil {
		fmt.Fprintf(w, "dense: %s events sent (%s stored) into the minute from %s to %s in %.1f s, %s events/s; each dense total checked against them\n",
			thousands(float64(d.Ingest.Sent)), thousands(float64(d.Ingest.Stored)), d.From.Format(time.RFC3339), d.To.Format(time.RFC3339),
			d.Ingest.Seconds, thousands(d.Ingest.EventsPerSec))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tresult\ttarget\t")
	fmt.Fprintln(tw, "-------\t------\t------\t")
	for _, c := range r.Checks() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Value, c.Target, c.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Mixed != nil {
		if err := r.Mixed.WriteTable(w); err != nil {
			return err
		}
	}
	if r.SideBySide != nil {
		return r.SideBySide.WriteTable(w, r)
	}
	return nil
}

// WriteTable writes the mixed phase's figures: the live ingest, then a
// row per query pattern and the live tail. They have no targets yet, so
// the table has no pass/fail mark.
func (m *Mixed) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "\nmixed phase: %.0f s, ingest asked %s events/s, queries asked %s/s (open loop, at most %d in flight; %d skipped)\n",
		m.Seconds, thousands(m.Ingest.TargetPerSec), thousands(m.QueriesPerSec), m.InFlight, m.Skipped)
	in := m.Ingest
	fmt.Fprintf(w, "live ingest: %s events/s stored (%s sent, %s skipped), batch p50 %.2f  p99 %.2f  max %.2f ms, %d errors\n",
		thousands(in.EventsPerSec), thousands(float64(in.Sent)), thousands(float64(in.SkippedEvents)), in.P50Ms, in.P99Ms, in.MaxMs, in.Errors)
	if in.FirstError != "" {
		fmt.Fprintf(w, "live ingest: first error: %s\n", in.FirstError)
	}
	if m.RSSEndBytes != nil {
		fmt.Fprintf(w, "server RSS at the end: %.1f MiB\n", float64(*m.RSSEndBytes)/(1<<20))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "pattern\tcount\tp50 ms\tp99 ms\tmax ms\terrors\tskipped\t")
	for _, p := range m.Patterns {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%d\t%d\t\n", p.Name, p.Count, p.P50Ms, p.P99Ms, p.MaxMs, p.Errors, p.Skipped)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range m.Patterns {
		if p.FirstError != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", p.Name, p.FirstError)
		}
		if p.EarlyEvents > 0 {
			fmt.Fprintf(w, "%s: %d of %d events reached the stream before their batch's ingest answer reached the bench (counted as 0 ms)\n",
				p.Name, p.EarlyEvents, p.Count)
		}
	}
	return nil
}

// WriteJSON writes r, indented, to path, creating its directory.
func (r *Result) WriteJSON(path string) error {
	return writeJSONFile(path, r)
}

// writeJSONFile writes v, indented, to path, creating its directory.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode result: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// thousands formats a non-negative number rounded to an integer with comma
// separators: 1234567.8 is "1,234,568".
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
