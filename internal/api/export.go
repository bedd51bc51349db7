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
	"github.com/doorlog/doorlog/internal/budget"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// exportPage is how many events the export reads per store query: enough
// that the per-query cost vanishes, few enough that memory stays small;
// exportPageBytes bounds a page by the size of its models too, so that an
// export of the largest models holds no more than one of small ones.
const (
	exportPage      = 2000
	exportPageBytes = 1 << 20
	// exportPagesHeld is the most pages an export holds at once: the one
	// being written, one read ahead, and one being read.
	exportPagesHeld = 3
)

// csvFormat reads the CSV export's own parameters, separator (comma, the
// default, or semicolon) and bom (true puts a UTF-8 byte order mark first,
// for spreadsheets that guess the encoding otherwise), and the names of
// the sites and devices the token sees, to write beside their ids.
func (h *Handler) csvFormat(r *http.Request, tok *doorlog.Token) (*csvFormat, bool, error) {
	q := r.URL.Query()
	f := &csvFormat{sep: ',', siteNames: map[string]string{}, deviceNames: map[string]string{}}
	sep, err := singleParam(q, "separator")
	if err != nil {
		return nil, false, err
	}
	switch sep {
	case "", "comma":
	case "semicolon":
		f.sep = ';'
	default:
		return nil, false, doorlog.Errorf(doorlog.EINVALID, "separator: want comma or semicolon, got %q", sep)
	}
	bom, err := singleParam(q, "bom")
	if err != nil {
		return nil, false, err
	}
	if bom != "" && bom != "true" && bom != "false" {
		return nil, false, doorlog.Errorf(doorlog.EINVALID, "bom: want true or false, got %q", bom)
	}
	sites, err := h.cfg.Store.ListSites(r.Context(), tok.Scope())
	if err != nil {
		return nil, false, err
	}
	for _, s := range sites {
		f.siteNames[s.ID] = s.Name
	}
	devices, err := h.cfg.Store.ListDevices(r.Context(), doorlog.DeviceFilter{Scope: tok.Scope()})
	if err != nil {
		return nil, false, err
	}
	for _, d := range devices {
		f.deviceNames[d.ID] = d.Name
	}
	return f, bom == "true", nil
}

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
	var csv *csvFormat
	var bom bool
	if format == "csv" {
		if csv, bom, err = h.csvFormat(r, tok); err != nil {
			h.writeError(w, r, err)
			return
		}
	}

	// The export holds its pages for as long as it runs, so it reserves
	// them all at once, for the whole export.
	res, err := h.cfg.Budget.Reads.Reserve(r.Context(), exportPagesHeld*(exportPageBytes+doorlog.MaxModelBytes+exportPage*budget.EventOverhead)+exportChunk)
	if err != nil {
		h.writeError(w, r, errReadBusy)
		return
	}
	defer res.Release()
	query := doorlog.EventQuery{Filter: f, Order: order, Limit: exportPage, MaxBytes: exportPageBytes}
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
	// An export may run longer than the server's read timeout, whose
	// deadline would cancel its context; its writes have deadlines of
	// their own.
	_ = rc.SetReadDeadline(time.Time{})
	enc := h.encoder(locale)
	var buf []byte
	if format == "csv" {
		if bom {
			buf = append(buf, "\xef\xbb\xbf"...)
		}
		buf = csv.appendHeader(buf)
	}
	pages := h.prefetch(r.Context(), query, page)
	defer pages.stop()
	// The connection may serve another request after this one.
	defer rc.SetWriteDeadline(time.Time{})
	for {
		for i := range page {
			if format == "csv" {
				buf = enc.appendCSV(buf, &page[i], loc, csv)
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
		// A token revoked or expired while its export runs ends it, at
		// the next page: the download fails rather than going on.
		if err := h.cfg.Auth.Valid(r.Context(), tok); err != nil {
			if doorlog.ErrorCode(err) == doorlog.EUNAUTHORIZED {
				h.cfg.Logger.Info("export ended: its token was revoked or expired", "path", r.URL.Path)
				panic(http.ErrAbortHandler)
			}
			h.abortExport(r, err)
		}
	}
}

// exportChunk is how much of an export is gathered before it is written to
// the connection: large enough that a write costs little per event.
const exportChunk = 64 << 10

// writeExport writes b to the client of an export, within
// the write timeout, or aborts the export: a client that stops reading is
// dropped, and the pages it held freed, instead of holding them for ever.
func (h *Handler) writeExport(r *http.Request, w http.ResponseWriter, rc *http.ResponseController, b []byte) {
	if len(b) == 0 {
		return
	}
	if err := rc.SetWriteDeadline(time.Now().Add(h.writeTimeout())); err != nil && !errors.Is(err, http.ErrNotSupported) {
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
	if !fullPage(query, first) {
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
			if err != nil || !fullPage(query, page) {
				return
			}
			last = page[len(page)-1]
		}
	}()
	return p
}

// fullPage reports whether page ended at one of query's bounds (its limit,
// or its bytes), so that more may follow it.
func fullPage(query doorlog.EventQuery, page []doorlog.Event) bool {
	return len(page) >= query.Limit || len(page) > 0 && doorlog.PageBytes(page) >= query.MaxBytes
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
