package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/stream"
)

// Subscriber hands out live subscriptions to committed events;
// *stream.Broker is one.
type Subscriber interface {
	Subscribe(f doorlog.EventFilter) *stream.Subscription
}

var _ Subscriber = (*stream.Broker)(nil)

// EventReplayer reads the events a resuming stream missed, in arrival
// order; the store is one.
type EventReplayer interface {
	EventsAfter(ctx context.Context, f doorlog.EventFilter, after string, limit int) ([]doorlog.Event, error)
}

// StreamConfig wires the live stream, GET /v1/events/stream. Without a
// Broker the endpoint answers 503.
type StreamConfig struct {
	// Broker hands out the subscriptions; the writer publishes every
	// commit to it.
	Broker Subscriber
	// Store replays what a client resuming with Last-Event-ID missed.
	Store EventReplayer
	// Heartbeat is how often a comment is sent, so that proxies keep the
	// connection open and a vanished client is noticed. Default 15 s.
	Heartbeat time.Duration
	// WriteTimeout is the longest one write to the client may take before
	// the stream is given up. Default 10 s.
	WriteTimeout time.Duration
	// ReplayPage is how many events are read from the store at a time when
	// resuming. Default 100.
	ReplayPage int
	// MaxStreams and MaxStreamsPerToken bound the streams open at once,
	// in all and per token; defaults DefaultMaxStreams and
	// DefaultMaxStreamsPerToken.
	MaxStreams, MaxStreamsPerToken int
}

// The stream's defaults, and the reconnection delay it advises clients.
const (
	defaultHeartbeat    = 15 * time.Second
	defaultWriteTimeout = 10 * time.Second
	defaultReplayPage   = 100
	streamRetry         = "retry: 2000\n\n"
	// streamChunk is how much encoded text is gathered before a write:
	// small, since every open stream holds one while its client reads it.
	streamChunk = 16 << 10
)

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Heartbeat <= 0 {
		c.Heartbeat = defaultHeartbeat
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.ReplayPage <= 0 {
		c.ReplayPage = defaultReplayPage
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.MaxStreamsPerToken <= 0 {
		c.MaxStreamsPerToken = DefaultMaxStreamsPerToken
	}
	return c
}

// streamEvents serves GET /v1/events/stream: the events matching the same
// filters as GET /v1/events, as Server-Sent Events, from now on or, with a
// Last-Event-ID (header, or last_event_id parameter), from just after that
// event.
//
// To resume without a gap or a repeat, it subscribes first, so that live
// events are kept from then on, then replays the store after the client's
// last id page by page until a page comes back short, and only then
// forwards the kept live events, skipping those the replay already sent.
// Ids follow commit order and sort as strings, so "already sent" is "not
// after the last id sent".
func (h *Handler) streamEvents(w http.ResponseWriter, r *http.Request) {
	tok := auth.FromContext(r.Context())
	f, err := h.parseEventFilter(r, tok)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	locale, err := localeParam(r.URL.Query())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// The parameter is for clients that cannot set headers; a browser's
	// EventSource sends the header when it reconnects, and it wins.
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		if last, err = singleParam(r.URL.Query(), "last_event_id"); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	if last != "" {
		if _, err := doorlog.ParseEventID(last); err != nil {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "Last-Event-ID %q is not an event id", last))
			return
		}
	}
	cfg := h.cfg.Stream.withDefaults()
	if cfg.Broker == nil || last != "" && cfg.Store == nil {
		h.writeError(w, r, doorlog.Errorf(doorlog.EUNAVAILABLE, "the live stream is not available"))
		return
	}

	// The stream is registered under its token, which bounds the streams
	// open and lets a revocation through this API end it at once.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	entry, err := h.streams.open(tok.ID, cancel, cfg.MaxStreams, cfg.MaxStreamsPerToken)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer h.streams.close(tok.ID, entry)

	// A replay holds a page of the store at a time: reserved in the read
	// pool until the replay is over, so that many resuming clients cannot
	// hold more than the pool between them. The live part holds nothing
	// of it: its events are the broker's, bounded there.
	var replay *budget.Reservation
	if last != "" {
		if replay, err = h.cfg.Budget.Reads.ReservePage(r.Context(), cfg.ReplayPage, 0); err != nil {
			h.writeError(w, r, errReadBusy)
			return
		}
		defer replay.Release()
	}
	sub := cfg.Broker.Subscribe(f)
	defer func() { sub.Close() }()
	// The first page of the replay is read before the response starts, so
	// that a refused id (one this store never issued) is still a 400.
	var page []doorlog.Event
	if last != "" {
		if page, err = cfg.Store.EventsAfter(r.Context(), f, last, cfg.ReplayPage); err != nil {
			h.writeError(w, r, err)
			return
		}
		if err := replay.Fit(r.Context(), page); err != nil {
			h.writeError(w, r, errReadBusy)
			return
		}
	}

	s := &sse{w: w, rc: http.NewResponseController(w), timeout: cfg.WriteTimeout, enc: h.encoder(locale)}
	defer s.rc.SetWriteDeadline(time.Time{}) // the connection may serve another request
	// A stream outlives the server's read timeout, which bounds reading a
	// request; a read deadline that passes while the stream runs would
	// cancel its context. Writes stay bounded by their own deadlines.
	_ = s.rc.SetReadDeadline(time.Time{})
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	w.WriteHeader(http.StatusOK)
	s.add(streamRetry)

	if last != "" {
		for {
			for i := range page {
				if err := s.event(&page[i]); err != nil {
					return
				}
			}
			if len(page) > 0 {
				last = page[len(page)-1].ID
			}
			if err := s.flush(); err != nil {
				return
			}
			if len(page) < cfg.ReplayPage {
				break
			}
			// Live events kept during a long replay may overflow the
			// buffer. They are not needed yet: a fresh subscription taken
			// before the next page keeps the replay gapless.
			switch sub.Err() {
			case nil:
			case stream.ErrOverflow:
				sub.Close()
				sub = cfg.Broker.Subscribe(f)
			default:
				return // shutting down
			}
			if page, err = cfg.Store.EventsAfter(r.Context(), f, last, cfg.ReplayPage); err != nil {
				if r.Context().Err() == nil {
					h.cfg.Logger.Warn("live stream replay failed", "err", err)
				}
				return
			}
			if err := replay.Fit(r.Context(), page); err != nil {
				// No room for the page: the client reconnects with its
				// Last-Event-ID and goes on from there.
				return
			}
		}
	} else if err := s.flush(); err != nil {
		return
	}

	replay.Release()

	heartbeat := time.NewTicker(cfg.Heartbeat)
	defer heartbeat.Stop()
	// Live events are rendered once per locale for every stream that
	// sends them: with many streams open, each event is encoded once,
	// not once per stream.
	renderKey := "sse " + locale
	render := func(e *doorlog.Event) []byte { return s.message(nil, e) }
	var items []stream.Item
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			// A token revoked elsewhere (the CLI, a logout) or expired
			// ends its stream here.
			if err := h.cfg.Auth.Valid(ctx, tok); err != nil {
				return
			}
			s.add(": ping\n\n")
		case <-sub.Ready():
			items, err = sub.TakeItems(items)
			if errors.Is(err, stream.ErrOverflow) {
				// The client fell too far behind. It reconnects with its
				// Last-Event-ID and catches up from the store.
				h.cfg.Logger.Info("live stream client fell behind, disconnected", "remote", r.RemoteAddr)
				s.add("event: overflow\ndata: {}\n\n")
				_ = s.flush()
				return
			}
			if err != nil {
				return // the broker closed: the server is shutting down
			}
			for _, it := range items {
				if e := it.Event(); e.ID > last {
					if err := s.raw(it.Rendered(renderKey, render)); err != nil {
						return
					}
					last = e.ID
				}
			}
			// Everything is in the buffer now: the commits may go.
			clear(items)
			items = items[:0]
			sub.Done()
		}
		if err := s.flush(); err != nil {
			return
		}
	}
}

// sse writes Server-Sent Events to one client, each write bounded by a
// deadline so that a client that stops reading cannot hold the handler.
type sse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	// enc renders events in the stream's locale with the native API's
	// encoder.
	enc *encoder
	buf []byte
}

// event adds one event message to the buffer, and writes the buffer out
// once it holds streamChunk bytes. The encoder writes JSON on one line, as
// a data field needs.
func (s *sse) event(e *doorlog.Event) error {
	s.buf = s.message(s.buf, e)
	if len(s.buf) >= streamChunk {
		return s.write()
	}
	return nil
}

// message appends the event's message to dst.
func (s *sse) message(dst []byte, e *doorlog.Event) []byte {
	dst = append(dst, "id: "...)
	dst = append(dst, e.ID...)
	dst = append(dst, "\nevent: event\ndata: "...)
	dst = s.enc.appendEvent(dst, e)
	return append(dst, "\n\n"...)
}

// raw adds a rendered message to the buffer, as event does.
func (s *sse) raw(msg []byte) error {
	s.buf = append(s.buf, msg...)
	if len(s.buf) >= streamChunk {
		return s.write()
	}
	return nil
}

// add adds raw text (a comment, a field) to the buffer.
func (s *sse) add(text string) { s.buf = append(s.buf, text...) }

// write sends what the buffer holds.
func (s *sse) write() error {
	if len(s.buf) == 0 {
		return nil
	}
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	_, err := s.w.Write(s.buf)
	s.buf = s.buf[:0]
	return err
}

// flush sends what the buffer holds and pushes it out of the server's own
// buffers to the client.
func (s *sse) flush() error {
	if err := s.write(); err != nil {
		return err
	}
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return s.rc.Flush()
}
