// Package metrics exposes doorlog's operational figures in the Prometheus
// format at /metrics: ingest outcomes, request latency per route, live
// stream subscribers, the writer's queue and the store's size. It owns one
// registry, passed in rather than global, so tests and several servers in
// one process never share counters.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds doorlog's collectors.
type Metrics struct {
	reg      *prometheus.Registry
	ingested *prometheus.CounterVec
	requests *prometheus.HistogramVec
	commits  prometheus.Histogram
	logger   *slog.Logger
}

// New returns Metrics on a fresh registry that also carries the Go runtime
// and process collectors.
func New(logger *slog.Logger) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:    reg,
		logger: logger,
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "doorlog_ingested_events_total",
			Help: "Events received for ingest, by outcome: accepted (stored), duplicate (already stored), rejected (invalid).",
		}, []string{"outcome"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "doorlog_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "doorlog_commit_events",
			Help:    "Events written per store transaction by the group-commit writer.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
	}
	for _, outcome := range []string{"accepted", "duplicate", "rejected"} {
		m.ingested.WithLabelValues(outcome)
	}
	reg.MustRegister(m.ingested, m.requests, m.commits,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveIngest counts the outcome of one ingest request.
func (m *Metrics) ObserveIngest(accepted, duplicates, rejected int) {
	m.ingested.WithLabelValues("accepted").Add(float64(accepted))
	m.ingested.WithLabelValues("duplicate").Add(float64(duplicates))
	m.ingested.WithLabelValues("rejected").Add(float64(rejected))
}

// ObserveCommit records the size of one store transaction.
func (m *Metrics) ObserveCommit(events int) { m.commits.Observe(float64(events)) }

// ObserveRequest records one answered request. route is the ServeMux
// pattern that matched ("" when none did), so the label set stays small
// whatever paths clients send.
func (m *Metrics) ObserveRequest(route, method string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Observe(d.Seconds())
}

// GaugeFunc registers a gauge read from fn at each scrape.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// CounterFunc registers a counter read from fn at each scrape.
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

// MemoryPool registers the gauges of one share of the memory budget: the
// bytes reserved in it, its size, and how many requests it refused.
func (m *Metrics) MemoryPool(name string, reserved, size, refused func() float64) {
	labels := prometheus.Labels{"pool": name}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorlog_memory_reserved_bytes", Help: "Bytes reserved by requests in a share of the memory budget.", ConstLabels: labels}, reserved),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorlog_memory_pool_bytes", Help: "Size of a share of the memory budget.", ConstLabels: labels}, size),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "doorlog_memory_refused_total", Help: "Requests refused because a share of the memory budget stayed full.", ConstLabels: labels}, refused),
	)
}

// StoreSize registers the store's size, read at each scrape with a short
// timeout so a busy store never stalls a scrape.
func (m *Metrics) StoreSize(size func(ctx context.Context) (int64, error)) {
	m.GaugeFunc("doorlog_store_size_bytes", "Size of the store's data in bytes.", func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := size(ctx)
		if err != nil {
			m.logger.Warn("metrics: store size unavailable", "err", err)
			return -1
		}
		return float64(n)
	})
}

// Register serves the registry at GET /metrics.
func (m *Metrics) Register(mux *http.ServeMux) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn)}))
}

// ByDevice registers a metric with a device label, read from fn at each
// scrape: one series per device fn names (the pull collector's figures;
// there are as many as devices read from panels). counter says whether
// the values only grow.
func (m *Metrics) ByDevice(name, help string, counter bool, fn func() map[string]float64) {
	t := prometheus.GaugeValue
	if counter {
		t = prometheus.CounterValue
	}
	m.reg.MustRegister(&byDevice{desc: prometheus.NewDesc(name, help, []string{"device"}, nil), valueType: t, fn: fn})
}

// byDevice is a prometheus.Collector of one metric by device.
type byDevice struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	fn        func() map[string]float64
}

func (c *byDevice) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *byDevice) Collect(ch chan<- prometheus.Metric) {
	for device, v := range c.fn() {
		ch <- prometheus.MustNewConstMetric(c.desc, c.valueType, v, device)
	}
}
