// Package collector reads the logs of BAS-IP panels into doorlog: for
// every device with a pull source (doorlog.Device.Pull), a worker logs in
// as BAS-IP clients do (the MD5 of the password), reads
// /api/v1/log/items in ascending order from the last event it stored,
// page by page, and stores what it reads through the same ingest path as
// POST /v1/events.
//
// A panel keeps its log in a ring buffer that overwrites its oldest event,
// and loses it on some reboots, so a poller that falls behind loses events.
// The collector never loses one it could read and never stores one twice:
//
//   - Every event gets a stable source id made from what the panel says of
//     it (its timestamp, key and model) and its ordinal among identical
//     events of that millisecond, so reading it again is a duplicate.
//   - Reads start at the last position stored, inclusive: a restart of
//     doorlog or of the panel re-reads the boundary and stores nothing
//     twice.
//   - When the event at the position is gone and the ring's oldest event is
//     newer, the ring wrapped (or the log was lost): the gap is stored as
//     a collector_gap event with an estimate of the events lost.
//   - The panel's clock is read each time (GET /api/v1/device/time); when
//     it is more than Config.SkewTolerance off, event times are corrected
//     by the offset, and when it is behind the position (set back), the
//     whole ring is read again (duplicates are dropped).
//   - A panel that does not answer is tried again with exponential backoff
//     up to Config.MaxBackoff.
package collector

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
)

// Store is what the collector keeps in the store.
type Store interface {
	FindCollectorState(ctx context.Context, deviceID string) (*doorlog.CollectorState, error)
	SaveCollectorState(ctx context.Context, st *doorlog.CollectorState) error
}

// Ingester stores events as POST /v1/events does; *ingest.Service
// satisfies it.
type Ingester interface {
	IngestItems(ctx context.Context, tok *doorlog.Token, items []ingest.Item) (ingest.Result, error)
}

// Opener opens a sealed password; *seal.Sealer satisfies it.
type Opener interface {
	Open(sealed []byte) (string, error)
}

// Config is what a Manager needs.
type Config struct {
	Store   Store
	Ingest  Ingester
	Secrets Opener
	// Client makes the requests to panels; nil gives one with a 10 s
	// timeout.
	Client *http.Client
	// Interval is the time between two reads of a panel that answers;
	// 0 means DefaultInterval.
	Interval time.Duration
	// MaxBackoff caps the wait after failed reads, which doubles from
	// one second; 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// SkewTolerance is how far a panel's clock may be off before event
	// times are corrected; 0 means DefaultSkewTolerance.
	SkewTolerance time.Duration
	Logger        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Defaults of a Config.
const (
	DefaultInterval      = 5 * time.Second
	DefaultMaxBackoff    = 5 * time.Minute
	DefaultSkewTolerance = 2 * time.Minute
)

// Limits of a read (docs/api-basip.md, "Pull collector").
const (
	// pageLimit is the page size asked for: the largest BAS-IP allows.
	pageLimit = 50
	// maxPages bounds the pages of one read, so that one read of a panel
	// ends; the next read goes on from where it stopped.
	maxPages = 200
	// maxAnswer bounds the bytes of one answer of a panel.
	maxAnswer = 8 << 20
)

// KeyGap is the key of the event recording a gap (in the catalog).
const KeyGap = "collector_gap"

// The states of a device's collector.
const (
	StateStarting = "starting"
	StateOK       = "ok"
	StateError    = "error"
)

// Status is how a device's collector is doing.
type Status struct {
	State string
	// LastSuccess is when a read last went through.
	LastSuccess time.Time
	// LastError and LastErrorAt say what last failed; LastError is ""
	// once a read went through after it.
	LastError   string
	LastErrorAt time.Time
	// Collected and Gaps count the events stored and the gaps recorded.
	Collected, Gaps int64
	// Skew is the panel's clock minus doorlog's, as last measured.
	Skew time.Duration
	// Lag is how long ago the last successful read was.
	Lag time.Duration
	// APIVersion is the api_version the panel's /api/info answered at
	// the last login ("" before one).
	APIVersion string
}

// Manager runs one worker per device with a pull source. Its methods are
// safe for concurrent use.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	started bool
	closed  bool
	workers map[string]*worker
	pending map[string]*doorlog.Device
	wg      sync.WaitGroup

	// Totals since the start, for the metrics.
	collected, gaps, errors atomic.Int64
}

// New returns a Manager that reads nothing until Start.
func New(cfg Config) *Manager {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.SkewTolerance <= 0 {
		cfg.SkewTolerance = DefaultSkewTolerance
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{cfg: cfg, workers: map[string]*worker{}, pending: map[string]*doorlog.Device{}}
}

// Start runs the workers of devices (those with a pull source) and of the
// devices Set from now on.
func (m *Manager) Start(devices []*doorlog.Device) {
	m.mu.Lock()
	m.started = true
	pending := m.pending
	m.pending = nil
	m.mu.Unlock()
	for _, d := range pending {
		m.Set(d)
	}
	for _, d := range devices {
		m.Set(d)
	}
}

// Set makes d's worker follow its pull source: started, restarted with a
// changed source, or stopped when it has none.
func (m *Manager) Set(d *doorlog.Device) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if !m.started {
		m.pending[d.ID] = d
		return
	}
	w := m.workers[d.ID]
	if w != nil && d.Pull != nil && samePull(w.pull, *d.Pull) {
		return
	}
	if w != nil {
		w.stop()
		delete(m.workers, d.ID)
	}
	if d.Pull == nil {
		return
	}
	w = m.newWorker(d.ID, *d.Pull)
	m.workers[d.ID] = w
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		w.run()
	}()
}

func samePull(a, b doorlog.PullSource) bool {
	return a.URL == b.URL && a.Username == b.Username && bytes.Equal(a.SealedPassword, b.SealedPassword)
}

// Status returns how the collector of a device is doing; false when the
// device has none.
func (m *Manager) Status(deviceID string) (Status, bool) {
	m.mu.Lock()
	w := m.workers[deviceID]
	m.mu.Unlock()
	if w == nil {
		return Status{}, false
	}
	return w.status(), true
}

// Statuses returns the status of every worker, by device.
func (m *Manager) Statuses() map[string]Status {
	m.mu.Lock()
	workers := make([]*worker, 0, len(m.workers))
	for _, w := range m.workers {
		workers = append(workers, w)
	}
	m.mu.Unlock()
	out := make(map[string]Status, len(workers))
	for _, w := range workers {
		out[w.device] = w.status()
	}
	return out
}

// Totals returns the events collected, gaps recorded and failed reads
// since the start, over every device.
func (m *Manager) Totals() (collected, gaps, errors int64) {
	return m.collected.Load(), m.gaps.Load(), m.errors.Load()
}

// Close stops every worker and waits for them.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	for _, w := range m.workers {
		w.stop()
	}
	m.workers = map[string]*worker{}
	m.mu.Unlock()
	m.wg.Wait()
}

// worker reads one device's panel.
type worker struct {
	m      *Manager
	device string
	pull   doorlog.PullSource
	ctx    context.Context
	cancel context.CancelFunc
	tok    *doorlog.Token

	mu sync.Mutex
	st doorlog.CollectorState
	// state is StateStarting until the first read ends.
	state string
	skew  time.Duration

	// session is the panel's token, "" before a login.
	session string
	// apiVersion is what the panel's /api/info says (under mu).
	apiVersion string
}

func (m *Manager) newWorker(device string, pull doorlog.PullSource) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	return &worker{m: m, device: device, pull: pull, ctx: ctx, cancel: cancel, state: StateStarting,
		st:  doorlog.CollectorState{DeviceID: device},
		tok: &doorlog.Token{ID: "collector", Role: doorlog.RoleDevice, DeviceID: device}}
}

func (w *worker) stop() { w.cancel() }

func (w *worker) status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Status{State: w.state, LastSuccess: w.st.LastSuccess, LastError: w.st.LastError, LastErrorAt: w.st.LastErrorAt,
		Collected: w.st.Collected, Gaps: w.st.Gaps, Skew: w.skew, APIVersion: w.apiVersion}
	if !w.st.LastSuccess.IsZero() {
		s.Lag = w.m.cfg.Now().Sub(w.st.LastSuccess)
	}
	return s
}

func (w *worker) log() *slog.Logger {
	return w.m.cfg.Logger.With("device", w.device, "panel", w.pull.URL)
}

// run reads the panel until the worker is stopped: every Interval while it
// answers, after a doubling wait while it does not.
func (w *worker) run() {
	if st, err := w.m.cfg.Store.FindCollectorState(w.ctx, w.device); err == nil {
		w.mu.Lock()
		w.st = *st
		w.mu.Unlock()
	} else if doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
		w.log().Warn("collector: its state cannot be read; starting from the panel's whole log", "err", err)
	}
	backoff := time.Duration(0)
	for {
		err := w.read()
		if w.ctx.Err() != nil {
			return
		}
		wait := w.m.cfg.Interval
		if err != nil {
			w.m.errors.Add(1)
			backoff = min(max(2*backoff, time.Second), w.m.cfg.MaxBackoff)
			wait = backoff
			w.fail(err)
		} else {
			backoff = 0
		}
		select {
		case <-w.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// fail records a failed read.
func (w *worker) fail(err error) {
	w.mu.Lock()
	first := w.st.LastError == ""
	w.state = StateError
	w.st.LastError, w.st.LastErrorAt = err.Error(), w.m.cfg.Now()
	st := w.st
	w.mu.Unlock()
	if first {
		w.log().Warn("collector: the panel cannot be read; trying again", "err", err)
	}
	w.save(st)
}

func (w *worker) save(st doorlog.CollectorState) {
	if err := w.m.cfg.Store.SaveCollectorState(w.ctx, &st); err != nil && w.ctx.Err() == nil {
		w.log().Warn("collector: its state cannot be stored", "err", err)
	}
}

// panelItem is one event of a panel's log page, as the collector reads it.
type panelItem struct {
	Timestamp int64 `json:"timestamp"`
	Name      struct {
		Key string `json:"key"`
	} `json:"name"`
	Info struct {
		Model json.RawMessage `json:"model"`
	} `json:"info"`
}

// panelPage is a page of a panel's log.
type panelPage struct {
	ListOption struct {
		Pagination struct {
			TotalItems int64 `json:"total_items"`
		} `json:"pagination"`
	} `json:"list_option"`
	ListItems []panelItem `json:"list_items"`
}

// errStatus is a panel's answer with a status the collector does not go
// on from.
type errStatus struct {
	path   string
	status int
	body   string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("panel answered %d to %s: %s", e.status, e.path, e.body)
}

// get asks the panel for path and decodes its JSON answer into v, logging
// in first, and again once when the session has ended (a reboot ends
// them).
func (w *worker) get(path string, v any) error {
	for attempt := 0; ; attempt++ {
		if w.session == "" {
			if err := w.login(); err != nil {
				return err
			}
		}
		err := w.call(path, w.session, v)
		var st *errStatus
		if errors.As(err, &st) && st.status == http.StatusUnauthorized && attempt == 0 {
			w.session = ""
			continue
		}
		return err
	}
}

// call makes one GET to the panel.
func (w *worker) call(path, token string, v any) error {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodGet, strings.TrimRight(w.pull.URL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := w.m.cfg.Client.Do(req)
	if err != nil {
		// Not the URL: a login's query holds the password's hash, and
		// the error is logged and shown to admins.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s %s: %w", ue.Op, pathOnly(path), ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return err
	}
	if len(body) > maxAnswer {
		return fmt.Errorf("panel's answer to %s is larger than %d bytes", pathOnly(path), maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return &errStatus{path: pathOnly(path), status: resp.StatusCode, body: string(body[:min(len(body), 200)])}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("panel's answer to %s is not the JSON expected: %w", pathOnly(path), err)
	}
	return nil
}

// pathOnly drops the query (a login's holds the password's hash).
func pathOnly(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}

// login opens a session as BAS-IP clients do: the MD5 of the password.
func (w *worker) login() error {
	password, err := w.m.cfg.Secrets.Open(w.pull.SealedPassword)
	if err != nil {
		return fmt.Errorf("the pull password cannot be opened: %w", err)
	}
	sum := md5.Sum([]byte(password))
	var l struct {
		Token string `json:"token"`
	}
	q := url.Values{"username": {w.pull.Username}, "password": {hex.EncodeToString(sum[:])}}
	if err := w.call("/api/v1/login?"+q.Encode(), "", &l); err != nil {
		var st *errStatus
		if errors.As(err, &st) && st.status == http.StatusUnauthorized {
			return fmt.Errorf("the panel refused the pull username or password")
		}
		return err
	}
	if l.Token == "" {
		return fmt.Errorf("the panel's login answered no token")
	}
	w.session = l.Token
	// The panel's API generation, as clients read it. The log is read the
	// same way in 1.x and 2.x (no filter, whose syntax is what differs),
	// so it is only reported; a panel without /api/info is read all the
	// same.
	var info struct {
		APIVersion string `json:"api_version"`
	}
	if err := w.call("/api/info", "", &info); err == nil {
		w.mu.Lock()
		w.apiVersion = info.APIVersion
		w.mu.Unlock()
	}
	return nil
}

// panelMillis reads a panel timestamp as milliseconds: some panels answer
// seconds (below 10^11, as from and to are read).
func panelMillis(ts int64) int64 {
	if ts < 100_000_000_000 {
		return ts * 1000
	}
	return ts
}

// read reads what the panel logged since the position, and stores it.
func (w *worker) read() error {
	w.mu.Lock()
	st := w.st
	w.mu.Unlock()

	// The panel's clock, against ours.
	offset, panelNow, err := w.clock()
	if err != nil {
		return err
	}
	w.mu.Lock()
	prevSkew := w.skew
	w.skew = offset
	w.mu.Unlock()
	tolerance := w.m.cfg.SkewTolerance
	off := func(d time.Duration) bool { return d > tolerance || d < -tolerance }
	correct := off(offset)
	if correct && !off(prevSkew) {
		w.log().Warn("collector: the panel's clock is off; its event times are corrected", "offset", offset)
	}

	from := st.Position
	if from > 0 && !panelNow.IsZero() && panelNow.Add(time.Second).UnixMilli() < panelMillis(from) {
		// The panel's clock is before the last event read: it was set
		// back. Its new events sort before the position, so the whole
		// ring is read again; what was stored is a duplicate.
		w.log().Warn("collector: the panel's clock is before the last event read; reading its whole log again",
			"panel_time", panelNow.UTC(), "position", panelMillis(from))
		from = 0
	}
	newPos := st.Position
	if from == 0 {
		newPos = 0
	}
	page := 1
	// seen counts the identical events of each millisecond in the listing
	// since its start at from (their ordinals): pages of one from go on
	// counting, a new from lists its millisecond again from the start.
	seen := map[string]int{}
	// prev is the page before this one when a millisecond is listed by
	// page number (see below); nil otherwise.
	var prev []panelItem
	for pages := 0; pages < maxPages; pages++ {
		var pg panelPage
		if err := w.get(listQuery(from, page), &pg); err != nil {
			return err
		}
		items := pg.ListItems
		if page > 1 {
			// Listed by page number, the listing may move under the
			// reader: a full ring drops its oldest event whenever the
			// panel logs one (it logs the reader's own login), and every
			// page after it moves up by one, so one event would be
			// skipped. The page before is read again; if it changed, the
			// millisecond is listed again from its first page (what was
			// stored comes again as duplicates).
			var again panelPage
			pages++
			if err := w.get(listQuery(from, page-1), &again); err != nil {
				return err
			}
			if !sameItems(again.ListItems, prev) {
				page, prev = 1, nil
				seen = map[string]int{}
				continue
			}
		}
		// The clock again: a page read while the panel's clock was being
		// set would be corrected by the wrong offset. Then nothing of
		// it is stored, and the next read goes on from the position. An
		// empty page (the idle panel's usual answer) has nothing to
		// correct: no request for it.
		if !panelNow.IsZero() && len(items) > 0 {
			after, _, err := w.clock()
			if err != nil {
				return err
			}
			if d := after - offset; off(d) {
				w.log().Info("collector: the panel's clock changed during a read; reading again", "offset", offset, "now", after)
				return nil
			}
		}
		if pages == 0 && from > 0 && len(items) > 0 && items[0].Timestamp > from {
			if err := w.checkGap(from, items[0].Timestamp, offset, correct); err != nil {
				return err
			}
		}
		if err := w.store(items, seen, offset, correct); err != nil {
			return err
		}
		for _, it := range items {
			newPos = max(newPos, it.Timestamp)
		}
		w.mu.Lock()
		w.st.Position = newPos
		saved := w.st
		w.mu.Unlock()
		w.save(saved)
		if len(items) < pageLimit {
			break
		}
		// Keyset paging: the next page starts at the newest timestamp
		// read (its events come again, as duplicates), unless the whole
		// page was one millisecond: then the page number moves on.
		if last := items[len(items)-1].Timestamp; last > from {
			from, page, prev = last, 1, nil
			seen = map[string]int{}
		} else {
			page, prev = page+1, items
		}
	}
	w.mu.Lock()
	w.state = StateOK
	w.st.LastSuccess, w.st.LastError = w.m.cfg.Now(), ""
	saved := w.st
	w.mu.Unlock()
	w.save(saved)
	return nil
}

// listQuery is the log's page in time order from from (inclusive; 0 for
// the whole log).
func listQuery(from int64, page int) string {
	q := url.Values{"sort_type": {"asc"}, "limit": {strconv.Itoa(pageLimit)}, "page_number": {strconv.Itoa(page)}}
	if from > 0 {
		q.Set("from", strconv.FormatInt(from, 10))
	}
	return "/api/v1/log/items?" + q.Encode()
}

// sameItems reports whether two listings of a page hold the same events
// in the same order.
func sameItems(a, b []panelItem) bool {
	return slices.EqualFunc(a, b, func(x, y panelItem) bool {
		return x.Timestamp == y.Timestamp && x.Name.Key == y.Name.Key && bytes.Equal(x.Info.Model, y.Info.Model)
	})
}

// clock returns the panel's clock minus ours (to the second) and the
// panel's time, read from GET /api/v1/device/time; zero for a panel that
// does not have it (its times are taken as they are).
func (w *worker) clock() (time.Duration, time.Time, error) {
	var tm struct {
		TimeUnix int64 `json:"time_unix"`
	}
	before := w.m.cfg.Now()
	err := w.get("/api/v1/device/time", &tm)
	var es *errStatus
	switch {
	case err == nil && tm.TimeUnix > 0:
		mid := before.Add(w.m.cfg.Now().Sub(before) / 2)
		at := time.Unix(tm.TimeUnix, 0)
		return at.Sub(mid).Round(time.Second), at, nil
	case err == nil, errors.As(err, &es) && es.status == http.StatusNotFound:
		return 0, time.Time{}, nil
	default:
		return 0, time.Time{}, err
	}
}

// checkGap is called when the first event after the position is newer
// than it: the event at the position is gone. When the panel's oldest
// event is newer than the position too, the ring lost events doorlog never
// read: a collector_gap event records it, just before the oldest event,
// with an estimate of the events lost from the log's density.
func (w *worker) checkGap(position, first int64, offset time.Duration, correct bool) error {
	var oldest, newest panelPage
	if err := w.get("/api/v1/log/items?sort_type=asc&limit=10&page_number=1", &oldest); err != nil {
		return err
	}
	if len(oldest.ListItems) == 0 || oldest.ListItems[0].Timestamp <= position {
		return nil // the ring still reaches the position: nothing lost
	}
	if err := w.get("/api/v1/log/items?sort_type=desc&limit=10&page_number=1", &newest); err != nil {
		return err
	}
	before := oldest.ListItems[0].Timestamp
	missing := int64(1)
	if len(newest.ListItems) > 0 {
		span := panelMillis(newest.ListItems[0].Timestamp) - panelMillis(before)
		if total := oldest.ListOption.Pagination.TotalItems; span > 0 && total > 1 {
			density := float64(total-1) / float64(span)
			missing = max(1, int64(math.Round(density*float64(panelMillis(before)-panelMillis(position)))))
		}
	}
	model, _ := json.Marshal(map[string]int64{"estimated_missing": missing, "after": panelMillis(position), "before": panelMillis(before)})
	at := panelMillis(before) - 1
	if correct {
		at -= offset.Milliseconds()
	}
	item := ingest.Item{DeviceID: w.device, Time: json.RawMessage(strconv.FormatInt(at, 10)), Key: KeyGap, Model: model,
		SourceID: fmt.Sprintf("gap:%d:%d", panelMillis(position), panelMillis(before))}
	res, err := w.m.cfg.Ingest.IngestItems(w.ctx, w.tok, []ingest.Item{item})
	if err != nil {
		return err
	}
	if res.Accepted == 1 {
		w.m.gaps.Add(1)
		w.mu.Lock()
		w.st.Gaps++
		w.mu.Unlock()
		w.log().Warn("collector: the panel's log lost events before they were read", "estimated_missing", missing,
			"after", time.UnixMilli(panelMillis(position)).UTC(), "before", time.UnixMilli(panelMillis(before)).UTC())
	}
	return nil
}

// store ingests a page of the panel's events. An event's source id is made
// of its timestamp, a hash of its key and model, and its ordinal among the
// identical events of that millisecond in the listing (seen counts them):
// reading it again, on this page or the next, gives the same id. Times are
// corrected by the offset when the panel's clock is off.
func (w *worker) store(items []panelItem, seen map[string]int, offset time.Duration, correct bool) error {
	if len(items) == 0 {
		return nil
	}
	batch := make([]ingest.Item, 0, len(items))
	for _, it := range items {
		model := it.Info.Model
		if len(model) == 0 || string(model) == "null" {
			model = json.RawMessage(`{}`)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, model); err == nil {
			model = compact.Bytes()
		}
		h := sha256.New()
		h.Write([]byte(it.Name.Key))
		h.Write([]byte{0})
		h.Write(model)
		sum := hex.EncodeToString(h.Sum(nil)[:8])
		id := strconv.FormatInt(it.Timestamp, 10) + ":" + sum
		ordinal := seen[id]
		seen[id]++
		at := panelMillis(it.Timestamp)
		if correct {
			at -= offset.Milliseconds()
		}
		batch = append(batch, ingest.Item{DeviceID: w.device, Time: json.RawMessage(strconv.FormatInt(at, 10)), Key: it.Name.Key,
			Model: model, SourceID: fmt.Sprintf("bas:%s:%d", id, ordinal)})
	}
	res, err := w.m.cfg.Ingest.IngestItems(w.ctx, w.tok, batch)
	if err != nil {
		return err
	}
	for _, r := range res.Rejected {
		w.log().Warn("collector: a panel event was refused", "key", batch[r.Index].Key, "err", r.Error)
	}
	w.m.collected.Add(int64(res.Accepted))
	w.mu.Lock()
	w.st.Collected += int64(res.Accepted)
	w.mu.Unlock()
	return nil
}
