package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
)

// Defaults of HTTPSink's retry policy.
const (
	DefaultMaxAttempts = 8
	DefaultBackoff     = 200 * time.Millisecond
	maxBackoff         = 5 * time.Second
	maxRetryAfter      = 30 * time.Second
	// maxLoggedRejections bounds the log lines one batch's rejections take.
	maxLoggedRejections = 10
)

// HTTPSink sends batches to a doorlog server's native ingest endpoint,
// POST /v1/events, as NDJSON. A batch that fails on the network, or that the
// server answers with 429 or a 5xx, is sent again with the very same bytes
// (the same source ids, so the server deduplicates whatever it had already
// stored), waiting longer after each attempt, up to MaxAttempts. Any other
// 4xx is returned as an error at once. Use it by pointer.
type HTTPSink struct {
	// BaseURL is the server's root, such as http://127.0.0.1:8080.
	BaseURL string
	// Token is a bearer token of an admin (or of the one device sent for).
	Token string
	// Client is the HTTP client; nil means http.DefaultClient.
	Client *http.Client
	// Logger gets retries and rejected items; nil discards them.
	Logger *slog.Logger
	// MaxAttempts is how many times one batch is sent at most; zero means
	// DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the wait before the first retry, doubled after each (up to
	// five seconds); zero means DefaultBackoff. A Retry-After header from
	// the server takes precedence.
	Backoff time.Duration

	accepted, duplicates, rejected, retries atomic.Int64
}

// SinkTotals counts what the server said about everything an HTTPSink sent.
type SinkTotals struct {
	Accepted, Duplicates, Rejected, Retries int64
}

// Totals returns the sums of the server's answers so far.
func (s *HTTPSink) Totals() SinkTotals {
	return SinkTotals{
		Accepted:   s.accepted.Load(),
		Duplicates: s.duplicates.Load(),
		Rejected:   s.rejected.Load(),
		Retries:    s.retries.Load(),
	}
}

// StatusError is an HTTP answer that was not a success.
type StatusError struct {
	Method, URL string
	StatusCode  int
	// Body is the start of the response body, for the message.
	Body string
}

// Error implements the error interface.
func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// EncodeNDJSON writes items as NDJSON, one compact JSON object per line.
func EncodeNDJSON(items []ingest.Item) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range items {
		if err := enc.Encode(&items[i]); err != nil {
			return nil, fmt.Errorf("sim: encode item %d: %w", i, err)
		}
	}
	return buf.Bytes(), nil
}

// Send posts the batch, retrying as described on HTTPSink, and logs the
// items the server rejected. It returns nil once the server answered 200:
// then every item was stored, found a duplicate, or rejected.
func (s *HTTPSink) Send(ctx context.Context, items []ingest.Item) error {
	if len(items) == 0 {
		return nil
	}
	body, err := EncodeNDJSON(items)
	if err != nil {
		return err
	}
	return s.SendNDJSON(ctx, body, items)
}

// SendNDJSON posts a batch already encoded by EncodeNDJSON, as Send does.
// items, when not nil, are the encoded items, used only to name rejected
// events in the log; a load generator that encodes ahead of time passes
// nil and keeps only the bytes.
func (s *HTTPSink) SendNDJSON(ctx context.Context, body []byte, items []ingest.Item) error {
	res, err := s.post(ctx, body)
	if err != nil {
		return err
	}
	s.accepted.Add(int64(res.Accepted))
	s.duplicates.Add(int64(res.Duplicates))
	s.rejected.Add(int64(len(res.Rejected)))
	for i, r := range res.Rejected {
		if i == maxLoggedRejections {
			s.logger().Warn("more events rejected", "count", len(res.Rejected)-i)
			break
		}
		attrs := []any{"index", r.Index, "error", r.Error}
		if r.Index >= 0 && r.Index < len(items) {
			attrs = append(attrs, "key", items[r.Index].Key, "device_id", items[r.Index].DeviceID, "source_id", items[r.Index].SourceID)
		}
		s.logger().Warn("event rejected", attrs...)
	}
	return nil
}

func (s *HTTPSink) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// post sends one NDJSON body until it is answered or the attempts run out.
func (s *HTTPSink) post(ctx context.Context, body []byte) (ingest.Result, error) {
	attempts := s.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	wait := s.Backoff
	if wait <= 0 {
		wait = DefaultBackoff
	}
	url := strings.TrimRight(s.BaseURL, "/") + "/v1/events"
	for attempt := 1; ; attempt++ {
		res, retryAfter, retryable, err := s.postOnce(ctx, url, body)
		if err == nil {
			return res, nil
		}
		if !retryable || attempt >= attempts || ctx.Err() != nil {
			if retryable && attempt >= attempts {
				return ingest.Result{}, fmt.Errorf("sim: giving up after %d attempts: %w", attempt, err)
			}
			return ingest.Result{}, err
		}
		pause := wait
		if retryAfter > 0 {
			pause = min(retryAfter, maxRetryAfter)
		}
		s.retries.Add(1)
		s.logger().Warn("batch not stored, sending it again", "attempt", attempt, "wait", pause, "err", err)
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ingest.Result{}, fmt.Errorf("sim: %w (last error: %w)", ctx.Err(), err)
		case <-timer.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// postOnce makes one attempt. It tells whether a failure is worth another
// attempt, and the Retry-After the server asked for, if any.
func (s *HTTPSink) postOnce(ctx context.Context, url string, body []byte) (res ingest.Result, retryAfter time.Duration, retryable bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return res, 0, false, fmt.Errorf("sim: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Accept", "application/json")
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := client(s.Client).Do(req)
	if err != nil {
		return res, 0, true, err // the network: the server may or may not have stored it
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		retryable = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		return res, parseRetryAfter(resp.Header.Get("Retry-After")), retryable, statusError(req, resp, data)
	}
	if err != nil {
		// The batch is stored but the answer was cut short: sending it
		// again only finds duplicates, which is safe.
		return res, 0, true, fmt.Errorf("sim: read ingest answer: %w", err)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, 0, false, fmt.Errorf("sim: %s %s: answer is not an ingest result: %s", req.Method, url, snippet(data))
	}
	return res, 0, false, nil
}

func parseRetryAfter(h string) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return 0
}

func statusError(req *http.Request, resp *http.Response, body []byte) error {
	return &StatusError{Method: req.Method, URL: req.URL.String(), StatusCode: resp.StatusCode, Body: snippet(body)}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func client(c *http.Client) *http.Client {
	if c == nil {
		return http.DefaultClient
	}
	return c
}

// Setup creates the sites and devices on a server with an admin token:
// POST /v1/sites with {"id", "name"} and POST /v1/devices with {"id",
// "site_id", "name", "model"}. Something that exists already (409 Conflict)
// is fine, so Setup can run before every simulation.
func Setup(ctx context.Context, baseURL, token string, client *http.Client, sites []doorlog.Site, devices []Device) error {
	base := strings.TrimRight(baseURL, "/")
	for _, st := range sites {
		body := map[string]string{"id": st.ID, "name": st.Name}
		if err := create(ctx, client, base+"/v1/sites", token, body); err != nil {
			return fmt.Errorf("sim: create site %s: %w", st.ID, err)
		}
	}
	for _, d := range devices {
		body := map[string]string{"id": d.ID, "site_id": d.SiteID, "name": d.Name, "model": d.Model}
		if err := create(ctx, client, base+"/v1/devices", token, body); err != nil {
			return fmt.Errorf("sim: create device %s (%s): %w", d.ID, d.Name, err)
		}
	}
	return nil
}

func create(ctx context.Context, c *http.Client, url, token string, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client(c).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusConflict {
		return nil
	}
	return statusError(req, resp, answer)
}
