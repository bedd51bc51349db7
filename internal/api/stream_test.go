package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/api"
	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/sqlite"
	"github.com/doorlog/doorlog/internal/stream"
)

// streamEnv is the native API with the live stream wired as the server
// wires it: the writer publishes every commit to the broker. Everything is
// real: a SQLite file, HTTP on a loopback socket, the group-commit writer.
type streamEnv struct {
	*env
	srv    *httptest.Server
	broker *stream.Broker
	// inflight counts stream requests whose handler has not returned.
	inflight atomic.Int32
}

// streamOptions tune a streamEnv.
type streamOptions struct {
	buffer int
	stream api.StreamConfig
	// smallBuffers makes the server's socket send buffers small, so that a
	// client that stops reading blocks the handler soon.
	smallBuffers bool
}

func newStreamEnv(t testing.TB, opts streamOptions) *streamEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "doorlog.db"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	broker := stream.New(logger, stream.Options{Buffer: opts.buffer})
	writer := ingest.NewWriter(store, logger, ingest.WriterOptions{OnCommit: broker.Publish})
	classify := func(k string) (doorlog.Category, doorlog.Priority) { e := cat.Entry(k); return e.Category, e.Priority }
	authSvc := auth.New(store, time.Now)
	sc := opts.stream
	sc.Broker, sc.Store = broker, store
	mux := http.NewServeMux()
	api.New(api.Config{
		Store: store, Auth: authSvc, Ingest: ingest.NewService(store, writer, classify, ingest.DefaultLimits),
		Catalog: cat, Logger: logger, Now: time.Now, Stream: sc,
	}).Register(mux)
	se := &streamEnv{broker: broker}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/events/stream" {
			se.inflight.Add(1)
			defer se.inflight.Add(-1)
		}
		mux.ServeHTTP(w, r)
	})
	se.srv = httptest.NewUnstartedServer(handler)
	if opts.smallBuffers {
		se.srv.Listener = smallBufferListener{se.srv.Listener}
	}
	se.srv.Config.RegisterOnShutdown(broker.Close)
	se.srv.Start()
	t.Cleanup(func() {
		broker.Close()
		se.srv.Close()
		writer.Close()
		store.Close()
	})
	secret, _, err := authSvc.IssueToken(ctx, doorlog.Token{Role: doorlog.RoleAdmin, SiteIDs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	se.env = &env{url: se.srv.URL, store: store, auth: authSvc, admin: secret}
	se.seed(t)
	return se
}

// smallBufferListener gives every accepted connection a small send buffer.
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// streamItem is one event to ingest.
type streamItem struct {
	device, key, source string
	ms                  int64
	model               string
}

func (it streamItem) json() string {
	model := it.model
	if model == "" {
		model = "{}"
	}
	return fmt.Sprintf(`{"device_id":%q,"time":%d,"key":%q,"source_id":%q,"model":%s}`, it.device, it.ms, it.key, it.source, model)
}

// ingest posts items as NDJSON with the admin token and fails the test
// unless every one is stored. It may be called from any goroutine.
func (se *streamEnv) ingest(t testing.TB, items ...streamItem) {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(it.json())
		b.WriteByte('\n')
	}
	req, err := http.NewRequest("POST", se.url+"/v1/events", strings.NewReader(b.String()))
	if err != nil {
		t.Error(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+se.admin)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("ingest: %v", err)
		return
	}
	defer resp.Body.Close()
	var res struct {
		Accepted int `json:"accepted"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 || res.Accepted != len(items) {
		t.Errorf("ingest: got status %d, %d accepted (%v), want 200, %d", resp.StatusCode, res.Accepted, err, len(items))
	}
}

// storedIDs returns the ids of every stored event in arrival order.
func (se *streamEnv) storedIDs(t testing.TB) []string {
	t.Helper()
	events, err := se.store.EventsAfter(t.Context(), doorlog.EventFilter{Scope: doorlog.Scope{All: true}}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// sseMessage is one message of an event stream: an event, or a comment.
type sseMessage struct {
	id, event, data string
	retry           string
	comment         string
}

// sseClient reads an event stream from a real connection, with bufio over
// the response body, on a goroutine of its own so that tests can wait with
// a timeout.
type sseClient struct {
	resp *http.Response
	conn net.Conn
	msgs chan sseMessage
	// done is closed when the stream has ended; err then says how.
	done chan struct{}
	err  error
}

// openStream starts GET /v1/events/stream?query with token and, when last
// is set, a Last-Event-ID header. It returns the response when the status
// is not 200, with the body unread.
func (se *streamEnv) openStream(t testing.TB, token, query, last string) (*sseClient, *http.Response) {
	t.Helper()
	return se.openStreamGated(t, token, query, last, nil)
}

// openStreamGated is openStream with a client that reads nothing until
// gate is closed, over a connection with a small receive buffer, when gate
// is not nil.
func (se *streamEnv) openStreamGated(t testing.TB, token, query, last string, gate chan struct{}) (*sseClient, *http.Response) {
	t.Helper()
	var conn net.Conn
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok && gate != nil {
				_ = tc.SetReadBuffer(4096)
			}
			conn = c
			return c, err
		},
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequest("GET", se.url+"/v1/events/stream?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Cleanup(func() { resp.Body.Close() })
		return nil, resp
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type: got %q, want text/event-stream", ct)
	}
	c := &sseClient{resp: resp, conn: conn, msgs: make(chan sseMessage, 1<<16), done: make(chan struct{})}
	go func() {
		if gate != nil {
			<-gate
		}
		c.read()
	}()
	t.Cleanup(c.close)
	return c, resp
}

// mustOpen opens a stream and fails the test unless it is a 200.
func (se *streamEnv) mustOpen(t testing.TB, token, query, last string) *sseClient {
	t.Helper()
	c, resp := se.openStream(t, token, query, last)
	if c == nil {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET stream: got status %d (%s), want 200", resp.StatusCode, body)
	}
	return c
}

func (c *sseClient) read() {
	defer close(c.done)
	defer close(c.msgs)
	r := bufio.NewReader(c.resp.Body)
	var m sseMessage
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.err = err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if data != nil || m.comment != "" || m.retry != "" {
				m.data = strings.Join(data, "\n")
				c.msgs <- m
			}
			m, data = sseMessage{}, nil
		case strings.HasPrefix(line, ":"):
			m.comment = strings.TrimSpace(line[1:])
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				m.id = value
			case "event":
				m.event = value
			case "data":
				data = append(data, value)
			case "retry":
				m.retry = value
			}
		}
	}
}

// close ends the stream the polite way.
func (c *sseClient) close() { c.resp.Body.Close() }

// kill drops the connection abruptly: a TCP reset, no goodbye.
func (c *sseClient) kill() {
	if tc, ok := c.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.conn.Close()
	<-c.done
}

// next returns the next message that is not a comment or a retry, failing
// the test after timeout.
func (c *sseClient) next(t testing.TB, timeout time.Duration) sseMessage {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				t.Fatalf("the stream ended (%v) while a message was awaited", c.err)
			}
			if m.comment != "" || m.retry != "" {
				continue
			}
			return m
		case <-deadline:
			t.Fatalf("no message within %v", timeout)
		}
	}
}

// events reads n event messages.
func (c *sseClient) events(t testing.TB, n int) []sseMessage {
	t.Helper()
	out := make([]sseMessage, 0, n)
	for len(out) < n {
		m := c.next(t, 10*time.Second)
		if m.event != "event" {
			t.Fatalf("got a %q message %+v, want an event", m.event, m)
		}
		out = append(out, m)
	}
	return out
}

// quiet fails the test if an event arrives within d.
func (c *sseClient) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return
			}
			if m.comment == "" && m.retry == "" {
				t.Fatalf("got an unexpected message %+v", m)
			}
		case <-deadline:
			return
		}
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// subscribed waits until n streams are subscribed: a stream's response
// headers arrive before it subscribes only when it replays, and an event
// ingested before the subscription is not live for it.
func (se *streamEnv) subscribed(t testing.TB, n int) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d subscribers", n), func() bool { return se.broker.Subscribers() == n })
}

// TestStreamLive delivers live events through every kind of filter, each
// client getting exactly the events its filter selects, in order.
func TestStreamLive(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{})
	items := []streamItem{
		/* 0 */ {device: devA, key: "door_was_opened", source: "l0", ms: 1714557600001},
		/* 1 */ {device: devA, key: "tamper_event", source: "l1", ms: 1714557600123},
		/* 2 */ {device: devB, key: "incoming_call", source: "l2", ms: 1714557600200, model: `{"number":"101"}`},
		/* 3 */ {device: devB, key: "door_was_not_closed_too_long", source: "l3", ms: 1714557600300, model: `{"lock":1}`},
		/* 4 */ {device: devA, key: "access_granted_by_valid_identifier", source: "l4", ms: 1714557600400, model: `{"number":12345,"type":"card","owner":"Ann Lee"}`},
		/* 5 */ {device: devB, key: "access_denied_by_unknown_card", source: "l5", ms: 1714557600500, model: `{"card":"777"}`},
	}
	tests := []struct {
		query string
		want  []int
	}{
		{"", []int{0, 1, 2, 3, 4, 5}},
		{"category=emergency&locale=uk", []int{1, 3}},
		{"site_id=b", []int{2, 3, 5}},
		{"device_id=" + strings.ToUpper(devB), []int{2, 3, 5}},
		{"key=tamper_event,incoming_call", []int{1, 2}},
		{"priority=critical", []int{1, 3}},
		{"identifier_number=12345", []int{4}},
		{"identifier_number=101,777", []int{2, 5}},
		{"identifier_type=card", []int{4, 5}},
		{"q=ann+LEE", []int{4}},
		{"q=tamper", []int{1}},
		{"from=1714557600123&to=2024-05-01T10:00:00.300Z", []int{1, 2, 3}},
		{"category=access&identifier_type=card&site_id=a", []int{4}},
		{"site_id=nowhere", nil},
	}
	clients := make([]*sseClient, len(tests))
	for i, tt := range tests {
		clients[i] = se.mustOpen(t, se.admin, tt.query, "")
	}
	se.subscribed(t, len(tests))
	se.ingest(t, items...)
	stored := se.storedIDs(t)
	for i, tt := range tests {
		var want []string
		for _, n := range tt.want {
			want = append(want, stored[n])
		}
		if got := messageIDs(clients[i].events(t, len(want))); !slices.Equal(got, want) {
			t.Errorf("%q: got %v, want %v", tt.query, got, want)
		}
	}
	for _, c := range clients {
		c.quiet(t, 50*time.Millisecond)
	}

	// Every message carries the event as GET /v1/events shows it.
	c := se.mustOpen(t, se.admin, "category=emergency&locale=uk", stored[0])
	got := c.events(t, 1)[0]
	var ev map[string]any
	if err := json.Unmarshal([]byte(got.data), &ev); err != nil {
		t.Fatalf("data %q is not JSON: %v", got.data, err)
	}
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": stored[1], "device_id": devA, "site_id": "a", "time": "2024-05-01T10:00:00.123Z",
		"key": "tamper_event", "category": "emergency", "priority": "critical",
		"name": cat.Name("uk", "tamper_event"), "text": cat.Text("uk", "tamper_event", []byte(`{}`)),
		"model": map[string]any{}, "source_id": "l1",
	}
	for k, w := range want {
		if fmt.Sprint(ev[k]) != fmt.Sprint(w) {
			t.Errorf("event field %q: got %v, want %v", k, ev[k], w)
		}
	}
	if len(ev) != len(want) {
		t.Errorf("event: got fields %v, want %d fields", ev, len(want))
	}
	if got.id != stored[1] || got.event != "event" {
		t.Errorf("message: got id %q event %q, want id %q event %q", got.id, got.event, stored[1], "event")
	}
}

func TestStreamStartsWithRetry(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{})
	c := se.mustOpen(t, se.admin, "", "")
	select {
	case m := <-c.msgs:
		if m.retry != "2000" {
			t.Errorf("first message: got %+v, want retry: 2000", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no first message")
	}
	if got := c.resp.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control: got %q, want no-cache", got)
	}
}

func TestStreamHeartbeat(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{stream: api.StreamConfig{Heartbeat: 20 * time.Millisecond}})
	c := se.mustOpen(t, se.admin, "", "")
	pings := 0
	deadline := time.After(5 * time.Second)
	for pings < 3 {
		select {
		case m := <-c.msgs:
			if m.comment == "ping" {
				pings++
			}
		case <-deadline:
			t.Fatalf("got %d pings in 5 s, want 3", pings)
		}
	}
}

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{})
	device := se.token(t, `{"role":"device","device_id":"`+devA+`"}`)
	se.ingest(t, streamItem{device: devA, key: "door_was_opened", source: "e1", ms: 1714557600000})
	newest := se.storedIDs(t)[0]
	past := doorlog.FormatEventID(1 << 40)
	tests := []struct {
		name, token, query, last string
		status                   int
		code                     string
	}{
		{"no token", "", "", "", 401, doorlog.EUNAUTHORIZED},
		{"device token", device, "", "", 403, doorlog.EFORBIDDEN},
		{"bad Last-Event-ID", se.admin, "", "42", 400, doorlog.EINVALID},
		{"bad last_event_id", se.admin, "last_event_id=nope", "", 400, doorlog.EINVALID},
		{"Last-Event-ID never issued", se.admin, "", past, 400, doorlog.EINVALID},
		{"bad filter", se.admin, "category=nope", "", 400, doorlog.EINVALID},
		{"fine", se.admin, "", newest, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, resp := se.openStream(t, tt.token, tt.query, tt.last)
			if resp.StatusCode != tt.status {
				t.Fatalf("got status %d, want %d", resp.StatusCode, tt.status)
			}
			if c != nil {
				return
			}
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if body["code"] != tt.code || body["error"] == "" {
				t.Errorf("error body: got %v, want code %q and a message", body, tt.code)
			}
		})
	}
	if n := se.broker.Subscribers(); n > 1 {
		t.Errorf("Subscribers after refused streams: got %d, want at most the one open", n)
	}
}

// TestStreamResume resumes after a Last-Event-ID: exactly the missed
// events, in order, then live ones, with replay pages of every fullness.
func TestStreamResume(t *testing.T) {
	t.Parallel()
	for _, page := range []int{1, 3, 4, 100} {
		t.Run(fmt.Sprintf("page %d", page), func(t *testing.T) {
			se := newStreamEnv(t, streamOptions{stream: api.StreamConfig{ReplayPage: page}})
			var items []streamItem
			for i := range 12 {
				items = append(items, streamItem{device: []string{devA, devB}[i%2], key: "door_was_opened", source: fmt.Sprint("r", i), ms: 1714557600000 + int64(i)})
			}
			se.ingest(t, items...)
			stored := se.storedIDs(t)
			for _, how := range []string{"header", "query"} {
				t.Run(how, func(t *testing.T) {
					var c *sseClient
					if how == "header" {
						c = se.mustOpen(t, se.admin, "site_id=a", stored[3])
					} else {
						c = se.mustOpen(t, se.admin, "site_id=a&last_event_id="+stored[3], "")
					}
					// Site a has the even ones, and each subtest adds one.
					after, err := se.store.EventsAfter(t.Context(), doorlog.EventFilter{Scope: doorlog.Scope{All: true}, SiteIDs: []string{"a"}}, stored[3], 0)
					if err != nil {
						t.Fatal(err)
					}
					var want []string
					for _, e := range after {
						want = append(want, e.ID)
					}
					if len(want) < 4 || want[0] != stored[4] {
						t.Fatalf("the store has %v after %s in site a, want %s first", want, stored[3], stored[4])
					}
					if got := messageIDs(c.events(t, len(want))); !slices.Equal(got, want) {
						t.Fatalf("replayed: got %v, want %v", got, want)
					}
					se.subscribed(t, 1)
					se.ingest(t,
						streamItem{device: devA, key: "door_was_closed", source: "live-a-" + how, ms: 1714557700000},
						streamItem{device: devB, key: "door_was_closed", source: "live-b-" + how, ms: 1714557700000},
					)
					live := c.events(t, 1)[0]
					if all := se.storedIDs(t); live.id != all[len(all)-2] {
						t.Fatalf("live: got %s, want %s", live.id, all[len(all)-2])
					}
					c.quiet(t, 100*time.Millisecond)
					c.close()
					se.subscribed(t, 0)
				})
			}
		})
	}
}

func messageIDs(msgs []sseMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.id
	}
	return out
}

// TestStreamKilledAndResumed kills a client's connection several times
// while several writers ingest; reconnecting with its Last-Event-ID each
// time, the client must end with exactly the ingested events, each once.
func TestStreamKilledAndResumed(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{stream: api.StreamConfig{ReplayPage: 37}})
	// The first connection starts live, so it must be subscribed before
	// anything is ingested; the later ones resume.
	first := se.mustOpen(t, se.admin, "", "")
	se.subscribed(t, 1)
	const writers, perWriter = 4, 600
	var wg sync.WaitGroup
	var ingested atomic.Int32
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < perWriter; {
				n := min(1+rng.IntN(20), perWriter-i)
				var batch []streamItem
				for j := range n {
					batch = append(batch, streamItem{
						device: []string{devA, devB}[(i+j)%2], key: []string{"door_was_opened", "tamper_event", "incoming_call"}[(i+j)%3],
						source: fmt.Sprintf("w%d-%d", w, i+j), ms: 1714557600000 + int64(rng.IntN(100000)),
						model: fmt.Sprintf(`{"number":%d,"owner":"writer %d"}`, i+j, w),
					})
				}
				se.ingest(t, batch...)
				ingested.Add(int32(n))
				i += n
				time.Sleep(time.Duration(1+rng.IntN(4)) * time.Millisecond)
			}
		}()
	}

	var got []string
	last := ""
	rng := rand.New(rand.NewPCG(7, 7))
	kills := 0
	for kills < 6 {
		c := first
		if kills > 0 {
			c = se.mustOpen(t, se.admin, "", last)
		}
		for _, m := range c.events(t, 50+rng.IntN(150)) {
			got = append(got, m.id)
			last = m.id
		}
		c.kill()
		kills++
	}
	if n := int(ingested.Load()); n == writers*perWriter {
		t.Errorf("ingest was over before the last kill; the test needs more ingest")
	}
	wg.Wait()
	total := writers * perWriter
	if n := int(ingested.Load()); n != total {
		t.Fatalf("ingested %d events, want %d", n, total)
	}
	c := se.mustOpen(t, se.admin, "", last)
	for _, m := range c.events(t, total-len(got)) {
		got = append(got, m.id)
	}
	c.quiet(t, 100*time.Millisecond)
	want := se.storedIDs(t)
	if len(want) != total {
		t.Fatalf("stored %d events, want %d", len(want), total)
	}
	if !slices.Equal(got, want) {
		seen := map[string]int{}
		for _, id := range got {
			seen[id]++
		}
		var missing, repeated []string
		for _, id := range want {
			if seen[id] == 0 {
				missing = append(missing, id)
			}
			if seen[id] > 1 {
				repeated = append(repeated, id)
			}
		}
		t.Fatalf("got %d events, want %d in arrival order; missing %v, repeated %v", len(got), len(want), missing, repeated)
	}
}

// TestStreamScope checks that a manager of site a never sees site b, even
// when it asks for it.
func TestStreamScope(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{})
	manager := se.token(t, `{"role":"manager","site_ids":["a"]}`)
	mine := se.mustOpen(t, manager, "", "")
	asksB := se.mustOpen(t, manager, "site_id=b", "")
	se.subscribed(t, 2)
	var items []streamItem
	for i := range 20 {
		items = append(items, streamItem{device: []string{devA, devB}[i%2], key: "tamper_event", source: fmt.Sprint("s", i), ms: 1714557600000 + int64(i)})
	}
	se.ingest(t, items...)
	for _, m := range mine.events(t, 10) {
		var ev struct {
			SiteID string `json:"site_id"`
		}
		if err := json.Unmarshal([]byte(m.data), &ev); err != nil || ev.SiteID != "a" {
			t.Errorf("manager of a got %s (%v)", m.data, err)
		}
	}
	mine.quiet(t, 100*time.Millisecond)
	asksB.quiet(t, 100*time.Millisecond)

	// Resuming replays within the scope too.
	replay := se.mustOpen(t, manager, "", doorlog.FormatEventID(1))
	for _, m := range replay.events(t, 9) {
		if !strings.Contains(m.data, `"site_id":"a"`) {
			t.Errorf("manager of a got %s on replay", m.data)
		}
	}
	replay.quiet(t, 100*time.Millisecond)
}

// TestStreamSlowClient has one client that stops reading while ingest goes
// on at full speed: ingest must not wait for it, the broker must drop it
// (so that nothing piles up for it), and when it reads again it is told so
// and resumes from the store without losing anything.
func TestStreamSlowClient(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{buffer: 64, smallBuffers: true, stream: api.StreamConfig{WriteTimeout: time.Minute}})

	// A raw client that sends its request with a small receive buffer and
	// never reads a byte.
	conn, err := net.Dial("tcp", strings.TrimPrefix(se.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /v1/events/stream HTTP/1.1\r\nHost: doorlog\r\nAuthorization: Bearer %s\r\n\r\n", se.admin)
	// A second client that pauses reading until it has been dropped.
	gate := make(chan struct{})
	paused, resp := se.openStreamGated(t, se.admin, "", "", gate)
	if paused == nil {
		t.Fatalf("GET stream: got status %d, want 200", resp.StatusCode)
	}
	se.subscribed(t, 2)

	model := `{"owner":"` + strings.Repeat("x", 400) + `"}`
	const batches, perBatch = 40, 100
	start := time.Now()
	for b := range batches {
		var items []streamItem
		for i := range perBatch {
			items = append(items, streamItem{device: devA, key: "door_was_opened", source: fmt.Sprintf("slow-%d-%d", b, i), ms: 1714557600000 + int64(b*perBatch+i), model: model})
		}
		se.ingest(t, items...)
	}
	took := time.Since(start)
	// Both handlers are still blocked writing (their deadline is a minute
	// away), yet ingest is done, and the broker dropped both queues.
	if n := se.inflight.Load(); n != 2 {
		t.Errorf("stream handlers running after ingest: got %d, want 2 (blocked on their clients)", n)
	}
	if took > 30*time.Second {
		t.Errorf("ingest took %v with stuck clients", took)
	}
	se.subscribed(t, 0)
	if n := se.broker.Overflows(); n != 2 {
		t.Errorf("Overflows: got %d, want 2", n)
	}

	// The paused client reads again: what was in flight, then the
	// overflow notice, then the end of the stream.
	close(gate)
	var got []string
	deadline := time.After(30 * time.Second)
read:
	for {
		select {
		case m, ok := <-paused.msgs:
			switch {
			case !ok:
				t.Fatalf("the paused stream ended (%v) without an overflow message", paused.err)
			case m.event == "event":
				got = append(got, m.id)
			case m.event == "overflow":
				if m.data != "{}" {
					t.Errorf("overflow data: got %q, want {}", m.data)
				}
				break read
			case m.comment != "" || m.retry != "":
			default:
				t.Errorf("unexpected message %+v", m)
			}
		case <-deadline:
			t.Fatalf("no overflow message within 30 s, after %d events", len(got))
		}
	}
	select {
	case <-paused.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end after the overflow message")
	}
	if paused.err != io.EOF {
		t.Errorf("the paused stream ended with %v, want EOF", paused.err)
	}
	want := se.storedIDs(t)
	if len(got) == 0 || len(got) >= len(want) {
		t.Fatalf("got %d events before the overflow, want some but not all %d", len(got), len(want))
	}
	if !slices.Equal(got, want[:len(got)]) {
		t.Fatalf("the events before the overflow are not the first ones in order")
	}
	// Resuming gets the rest, exactly.
	c := se.mustOpen(t, se.admin, "", got[len(got)-1])
	rest := messageIDs(c.events(t, len(want)-len(got)))
	if !slices.Equal(rest, want[len(got):]) {
		t.Fatalf("resumed: got %d events, want the %d after the last one read", len(rest), len(want)-len(got))
	}
	c.quiet(t, 100*time.Millisecond)

	// The client that never reads is given up on at the latest when its
	// write deadline passes; closing it ends its handler at once.
	conn.Close()
	waitFor(t, 10*time.Second, "the stuck handler to return", func() bool { return se.inflight.Load() == 1 })
}

// TestStreamShutdown checks that closing the broker, as the server does
// when it shuts down, ends every stream so that Shutdown need not wait.
func TestStreamShutdown(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{})
	var clients []*sseClient
	for range 3 {
		clients = append(clients, se.mustOpen(t, se.admin, "", ""))
	}
	se.subscribed(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := se.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	for _, c := range clients {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Fatal("a stream did not end on shutdown")
		}
	}
	if n := se.inflight.Load(); n != 0 {
		t.Errorf("stream handlers running after shutdown: %d", n)
	}
}

// TestStreamDoesNotHoldCommits has six streams, each watching a device of
// its own and keeping up, while six large commits of another device's
// events go by, the n-th with one event of the n-th watched device: once a
// stream has sent its event, nothing of the commit may stay in memory
// because of it. (A stream used to keep the last commit it took from alive
// until its next event, which for a quiet device may be never.) Not
// parallel: it measures the process's heap.
func TestStreamDoesNotHoldCommits(t *testing.T) {
	se := newStreamEnv(t, streamOptions{})
	var clients []*sseClient
	watched := make([]string, 6)
	for i := range watched {
		watched[i] = fmt.Sprintf("6f1c2a3e-0000-4000-8000-%012x", 0x100+i)
		se.mustDo(t, "POST", "/v1/devices", se.admin, `{"id":"`+watched[i]+`","site_id":"a","name":"Door"}`, 201)
		clients = append(clients, se.mustOpen(t, se.admin, "device_id="+watched[i], ""))
	}
	se.subscribed(t, len(watched))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	pad := strings.Repeat("x", 15<<10)
	for c, dev := range watched {
		items := []streamItem{{device: dev, key: "door_was_opened", source: fmt.Sprintf("w-%d", c), ms: 1714557600000 + int64(c)}}
		for i := range 500 {
			items = append(items, streamItem{device: devB, key: "incoming_call", source: fmt.Sprintf("b-%d-%d", c, i), ms: 1714557600000 + int64(c), model: `{"pad":"` + pad + `"}`})
		}
		se.ingest(t, items...) // about 7.5 MiB of models
		clients[c].events(t, 1)
	}
	// The client has the last event a moment before its stream lets go of
	// the commit; on a loaded machine (the whole suite under -race) the
	// heap was once read in between. A stream that keeps holding it fails
	// both checks below. (The ingest writer also kept its last request
	// alive until the next one: a quiet server held its last batch.)
	waitFor(t, 2*time.Second, "the streams to let go of the commits they sent from", func() bool { return se.broker.PinnedBytes() == 0 })
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grew := int64(ms.HeapAlloc) - int64(before); grew > 4<<20 {
		t.Errorf("the heap grew by %d MiB over 6 commits of 7.5 MiB whose one watched event each has been sent, want under 4 MiB (half a commit)", grew>>20)
	}
	if p := se.broker.PinnedBytes(); p != 0 {
		t.Errorf("the broker counts %d bytes pinned by streams that are up to date, want 0", p)
	}
}

// TestStreamEndsWithItsToken revokes the token of open streams: through
// the API, they end at once; from elsewhere (the CLI, a logout: here the
// store directly), at their next heartbeat. Nothing more is sent to them.
func TestStreamEndsWithItsToken(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{stream: api.StreamConfig{Heartbeat: 100 * time.Millisecond}})
	ended := func(c *sseClient) bool {
		select {
		case <-c.done:
			return true
		default:
			return false
		}
	}

	viaAPI := se.token(t, `{"role":"manager","site_ids":["a"]}`)
	c := se.mustOpen(t, viaAPI, "", "")
	se.subscribed(t, 1)
	id := strings.SplitN(viaAPI, "_", 3)[1]
	req, _ := http.NewRequest("DELETE", se.url+"/v1/tokens/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+se.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE /v1/tokens/%s: got %v, %v; want 204", id, resp, err)
	}
	resp.Body.Close()
	waitFor(t, 2*time.Second, "the stream of a token revoked through the API to end", func() bool { return ended(c) })

	elsewhere := se.token(t, `{"role":"manager","site_ids":["a"]}`)
	c = se.mustOpen(t, elsewhere, "", "")
	se.subscribed(t, 1)
	if err := se.store.DeleteToken(context.Background(), strings.SplitN(elsewhere, "_", 3)[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the stream of a token revoked in the store to end at a heartbeat", func() bool { return ended(c) })
	se.subscribed(t, 0)
}

// TestStreamLimits refuses streams past the limits: per token with a 429,
// in all with a 503, both with a Retry-After; a closed stream makes room.
func TestStreamLimits(t *testing.T) {
	t.Parallel()
	se := newStreamEnv(t, streamOptions{stream: api.StreamConfig{MaxStreams: 3, MaxStreamsPerToken: 2}})
	other := se.token(t, `{"role":"manager","site_ids":["a"]}`)
	first := se.mustOpen(t, se.admin, "", "")
	se.mustOpen(t, se.admin, "", "")
	refused := func(token string, status int, code string) {
		t.Helper()
		c, resp := se.openStream(t, token, "", "")
		if c != nil {
			t.Fatalf("got a stream, want %d", status)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || resp.Header.Get("Retry-After") != "5" || !strings.Contains(string(body), `"code":"`+code+`"`) {
			t.Fatalf("got %d Retry-After %q %s, want %d with a Retry-After and code %s", resp.StatusCode, resp.Header.Get("Retry-After"), body, status, code)
		}
	}
	refused(se.admin, 429, "too_many_requests")
	se.mustOpen(t, other, "", "")
	refused(other, 503, "unavailable")
	first.close()
	waitFor(t, 2*time.Second, "the closed stream's slot", func() bool {
		c, resp := se.openStream(t, other, "", "")
		if c != nil {
			return true
		}
		resp.Body.Close()
		return false
	})
}
