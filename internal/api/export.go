package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	// The export converts times to any IANA zone; the embedded database
	// makes that work on hosts without /usr/share/zoneinfo (containers).
	_ "time/tzdata"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// exportPage is how many events the export reads per store query: enough
// that the per-query cost vanishes, few enough that memory stays small.
const exportPage = 2000

// exportWriteTimeout is the longest the client may take to accept one
// chunk (exportChunk) of an export; one that stops reading is dropped
// instead of holding a goroutine for ever.
const exportWriteTimeout = time.Minute

// exportEvents serves GET /v1/events/export?format=csv|ndjson: every event
// the filter selects, oldest first by default, streamed page by page
// through keyset paging, so memory stays constant however long the window.
//
// Errors found before the first byte (parameters, the first page) are JSON
// errors. Once streaming has started the status is sent and an error can
// only end the response: it is logged and the connection is aborted, so
// that the client sees a truncated transfer rather than a short file that
// looks complete.
func (h *Handler) exportEvents(w http.ResponseWriter, r *http.Request) {
	tok := auth.FromContext(r.Context())
	f, err := h.parseEventFilter(r, tok)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	format, err := singleParam(q, "format")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var contentType, ext string
	switch format {
	case "csv":
		contentType, ext = "text/csv; charset=utf-8", "csv"
	case "ndjson":
		contentType, ext = "application/x-ndjson", "ndjson"
	default:
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "format: want csv or ndjson, got %q", format))
		return
	}
	order, err := orderParam(q, doorlog.Asc)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	locale, err := localeParam(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	loc, err := tzParam(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}

	query := doorlog.EventQuery{Filter: f, Order: order, Limit: exportPage}
	page, err := h.cfg.Store.ListEvents(r.Context(), query)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Content-Disposition", `attachment; filename="doorlog-events-`+h.cfg.Now().UTC().Format("20060102T150405Z")+`.`+ext+`"`)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	enc := h.encoder(locale)
	var buf []byte
	if format == "csv" {
		buf = append(buf, csvHeader...)
	}
	pages := h.prefetch(r.Context(), query, page)
	defer pages.stop()
	// The connection may serve another request after this one.
	defer rc.SetWriteDeadline(time.Time{})
	for {
		for i := range page {
			if format == "csv" {
				buf = enc.appendCSV(buf, &page[i], loc)
			} else {
				buf = enc.appendEvent(buf, &page[i])
				buf = append(buf, '\n')
			}
			if len(buf) >= exportChunk {
				h.writeExport(r, w, rc, buf)
				buf = buf[:0]
			}
		}
		h.writeExport(r, w, rc, buf)
		buf = buf[:0]
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			h.abortExport(r, err)
		}
		var ok bool
		if page, ok, err = pages.next(); err != nil {
			h.abortExport(r, err)
		}
		if !ok {
			return
		}
	}
}

// exportChunk is how much of an export is gathered before it is written to
// the connection: large enough that a write costs little per event.
const exportChunk = 64 << 10

// writeExport writes b to the client of an export, within
// exportWriteTimeout, or aborts the export.
func (h *Handler) writeExport(r *http.Request, w http.ResponseWriter, rc *http.ResponseController, b []byte) {
	if len(b) == 0 {
		return
	}
	if err := rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		h.abortExport(r, err)
	}
	if _, err := w.Write(b); err != nil {
		h.abortExport(r, err)
	}
}

// pageResult is one page read ahead by a prefetcher, or the error that
// ended it.
type pageResult struct {
	events []doorlog.Event
	err    error
}

// prefetcher reads the pages of an export after the first while the
// handler writes the one before, so that the store's time and the
// encoder's overlap instead of adding up (they run on different cores). It
// holds at most one page ahead besides the one it is reading, so the
// export's memory stays the same for any number of events.
type prefetcher struct {
	pages  chan pageResult
	cancel context.CancelFunc
}

// prefetch starts reading the pages that follow first, the page query
// returned. When first is short, it is the last page and nothing is read.
func (h *Handler) prefetch(ctx context.Context, query doorlog.EventQuery, first []doorlog.Event) *prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetcher{pages: make(chan pageResult, 1), cancel: cancel}
	if len(first) < query.Limit {
		close(p.pages)
		return p
	}
	last := first[len(first)-1]
	go func() {
		defer close(p.pages)
		for {
			query.After = &doorlog.EventCursor{Time: last.Time, ID: last.ID}
			page, err := h.cfg.Store.ListEvents(ctx, query)
			select {
			case p.pages <- pageResult{events: page, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(page) < query.Limit {
				return
			}
			last = page[len(page)-1]
		}
	}()
	return p
}

// next returns the next page; ok is false after the last one.
func (p *prefetcher) next() (events []doorlog.Event, ok bool, err error) {
	res, ok := <-p.pages
	if !ok {
		return nil, false, nil
	}
	if res.err != nil {
		return nil, false, res.err
	}
	// An empty page after a full one means there is no more.
	return res.events, len(res.events) > 0, nil
}

// stop ends the reading and waits for it, so that no store query outlives
// the request.
func (p *prefetcher) stop() {
	p.cancel()
	for range p.pages {
	}
}

// abortExport ends an export that has started streaming. A client that went
// away is no error worth a log line; anything else is.
func (h *Handler) abortExport(r *http.Request, err error) {
	if r.Context().Err() == nil {
		h.cfg.Logger.Error("event export failed while streaming", "path", r.URL.Path, "err", err)
	}
	panic(http.ErrAbortHandler)
}
