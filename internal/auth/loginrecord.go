package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// DefaultFailedEventsPerMinute is how many failed logins of one client
// address are recorded one by one per minute unless configured otherwise.
const DefaultFailedEventsPerMinute = 10

// maxEventSources bounds the client addresses whose current minute the
// recorder keeps; past it, the attempts of new addresses share one
// window (see loginRecorder).
const maxEventSources = 10_000

// sharedEventsFactor sets the server-wide share of failed-login events
// stored one by one per minute: this many times the per-address cap (600 a
// minute by default). A client with many addresses (an IPv6 /48 holds
// 65,536 /64s) would otherwise have each one's share, and its summary.
const sharedEventsFactor = 60

// Appender stores events durably; *ingest.Writer (group commit, what the
// server uses) and the store itself are ones.
type Appender interface {
	AppendEvents(ctx context.Context, events []doorlog.Event) ([]doorlog.AppendResult, error)
}

// loginRecorder stores login attempts as events. Successes are stored one
// by one. Failures are stored one by one up to perMinute per client
// address and clock minute; the rest, and every attempt the throttle
// refused (which checked no password), are counted, and the count is
// stored as one summary event (SummaryEvent) when the address's minute is
// over: at its next attempt, or at the next flush (Service.FlushLoginSummaries,
// which the server runs every few seconds and once more when it stops).
// So a process that is killed loses at most the counts of the minute
// that had not been flushed yet; a failed write is logged with its count.
//
// It keeps at most maxEventSources addresses. When full, the windows of
// minutes that are over are written and dropped; if every address is in
// the current minute, the attempts of further addresses are capped and
// counted together in one more window, whose summary has no client.
type loginRecorder struct {
	appender Appender
	classify func(key string) (doorlog.Category, doorlog.Priority)
	logger   *slog.Logger
	// perMinute is the cap; less than zero means none.
	perMinute  int
	maxSources int

	mu       sync.Mutex
	sources  map[string]*sourceWindow
	overflow sourceWindow
	// minute and written are the server-wide share's current minute and
	// the failures stored one by one in it; past the share, attempts are
	// counted in the overflow window.
	minute  time.Time
	written int
}

// shareSpent reports whether the server-wide share of the minute of now is
// spent; r.mu is held.
func (r *loginRecorder) shareSpent(now time.Time) bool {
	if m := now.Truncate(time.Minute); m.After(r.minute) {
		r.minute, r.written = m, 0
	}
	return r.written >= r.perMinute*sharedEventsFactor
}

// overflowWindow returns the overflow window for the minute of now, and
// its summary when its minute ended; r.mu is held.
func (r *loginRecorder) overflowWindow(now time.Time, due []doorlog.Event) (*sourceWindow, []doorlog.Event) {
	w := &r.overflow
	if minute := now.Truncate(time.Minute); minute.After(w.minute) {
		due = w.takeSummary("", due)
		*w = sourceWindow{minute: minute}
	}
	return w, due
}

// sourceWindow is one client address's current minute.
type sourceWindow struct {
	minute  time.Time
	written int
	// suppressed counts the attempts not stored one by one; last is the
	// time of the latest.
	suppressed int64
	last       time.Time
	// dev is the device the suppressed attempts were made through, while
	// they were all made through the same one (nil for the server's own
	// paths); mixed is set once they differ, and the summary is then the
	// server's.
	dev   *doorlog.Device
	mixed bool
}

func (w *sourceWindow) suppress(dev *doorlog.Device, now time.Time) {
	if w.suppressed == 0 {
		w.dev, w.mixed = dev, false
	} else if deviceID(w.dev) != deviceID(dev) {
		w.mixed = true
	}
	w.suppressed++
	w.last = now
}

// takeSummary returns the window's summary event, if it has suppressed
// attempts, and clears them.
func (w *sourceWindow) takeSummary(client string, out []doorlog.Event) []doorlog.Event {
	if w.suppressed == 0 {
		return out
	}
	dev := w.dev
	if w.mixed {
		dev = nil
	}
	out = append(out, SummaryEvent(w.last, w.suppressed, client, dev))
	w.suppressed, w.dev, w.mixed = 0, nil, false
	return out
}

// ended reports whether the window's minute is over at now.
func (w *sourceWindow) ended(now time.Time) bool {
	return !w.minute.Add(time.Minute).After(now)
}

func deviceID(d *doorlog.Device) string {
	if d == nil {
		return ""
	}
	return d.ID
}

func newLoginRecorder(a Appender, classify func(string) (doorlog.Category, doorlog.Priority), logger *slog.Logger, perMinute int) *loginRecorder {
	return &loginRecorder{appender: a, classify: classify, logger: logger, perMinute: perMinute, maxSources: maxEventSources, sources: map[string]*sourceWindow{}}
}

// succeeded stores a successful login.
func (r *loginRecorder) succeeded(ctx context.Context, acct *doorlog.Account, dev *doorlog.Device, now time.Time) {
	r.append(ctx, []doorlog.Event{LoginEvent(now, true, acct, dev)})
}

// failed stores a failed login of client, or counts it when the client
// has had its share this minute.
func (r *loginRecorder) failed(ctx context.Context, client string, acct *doorlog.Account, dev *doorlog.Device, now time.Time) {
	if r.appender == nil {
		return
	}
	ev := LoginEvent(now, false, acct, dev)
	if r.perMinute < 0 {
		r.append(ctx, []doorlog.Event{ev})
		return
	}
	r.mu.Lock()
	var w *sourceWindow
	var events []doorlog.Event
	if r.shareSpent(now) {
		w, events = r.overflowWindow(now, nil)
		w.suppress(dev, now)
	} else if w, events = r.window(client, now); w.written < r.perMinute {
		w.written++
		r.written++
		events = append(events, ev)
	} else {
		w.suppress(dev, now)
	}
	r.mu.Unlock()
	r.append(ctx, events)
}

// refused counts an attempt the throttle refused.
func (r *loginRecorder) refused(ctx context.Context, client string, dev *doorlog.Device, now time.Time) {
	if r.appender == nil {
		return
	}
	r.mu.Lock()
	var w *sourceWindow
	var events []doorlog.Event
	if r.shareSpent(now) {
		w, events = r.overflowWindow(now, nil)
	} else {
		w, events = r.window(client, now)
	}
	w.suppress(dev, now)
	r.mu.Unlock()
	r.append(ctx, events)
}

// window returns client's window for the minute of now, and the summaries
// of windows that ended and must be written; r.mu is held.
func (r *loginRecorder) window(client string, now time.Time) (*sourceWindow, []doorlog.Event) {
	minute := now.Truncate(time.Minute)
	var due []doorlog.Event
	w := r.sources[client]
	if w == nil && len(r.sources) >= r.maxSources {
		due = r.sweep(now, false, due)
	}
	if w == nil && len(r.sources) >= r.maxSources {
		w, client = &r.overflow, ""
	}
	if w == nil {
		w = &sourceWindow{minute: minute}
		r.sources[client] = w
		return w, due
	}
	// A clock set back stays in the window it is in.
	if minute.After(w.minute) {
		due = w.takeSummary(client, due)
		*w = sourceWindow{minute: minute}
	}
	return w, due
}

// sweep takes the summaries of the windows whose minute ended by now (of
// every window when all is set) into out, and drops the ended windows;
// r.mu is held.
func (r *loginRecorder) sweep(now time.Time, all bool, out []doorlog.Event) []doorlog.Event {
	for client, w := range r.sources {
		ended := w.ended(now)
		if ended || all {
			out = w.takeSummary(client, out)
		}
		if ended {
			delete(r.sources, client)
		}
	}
	if r.overflow.ended(now) || all {
		out = r.overflow.takeSummary("", out)
	}
	return out
}

// flush writes the summaries of the minutes that are over by now, or of
// every minute when all is set (when the server stops).
func (r *loginRecorder) flush(ctx context.Context, now time.Time, all bool) {
	if r.appender == nil || r.perMinute < 0 {
		return
	}
	r.mu.Lock()
	events := r.sweep(now, all, nil)
	r.mu.Unlock()
	r.append(ctx, events)
}

// append stores events, classified by the catalog. The request's
// cancellation does not stop it: a client that hangs up must not erase
// its attempts (nor a summary's count). A failure is logged, with the
// count of any summary in it, and does not change the login's answer.
func (r *loginRecorder) append(ctx context.Context, events []doorlog.Event) {
	if len(events) == 0 || r.appender == nil {
		return
	}
	for i := range events {
		if r.classify != nil {
			events[i].Category, events[i].Priority = r.classify(events[i].Key)
		}
	}
	if _, err := r.appender.AppendEvents(context.WithoutCancel(ctx), events); err != nil {
		var summarized int64
		for _, ev := range events {
			summarized += summaryCount(ev)
		}
		r.logger.ErrorContext(ctx, "auth: store login event", "key", events[0].Key, "device_id", events[0].DeviceID,
			"events", len(events), "summarized_attempts", summarized, "err", err)
	}
}

// summaryCount is the count of a summary event, 0 for any other event.
func summaryCount(ev doorlog.Event) int64 {
	var m loginModel
	_ = json.Unmarshal(ev.Model, &m) // the model is ours; a failure means no count
	return m.Count
}
