package api

import (
	"bufio"
	"encoding/csv"
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

// exportWriteTimeout is the longest the client may take to accept one page
// of an export; one that stops reading is dropped instead of holding a
// goroutine for ever.
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
	tzName, err := singleParam(q, "tz")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	loc := time.UTC
	if tzName != "" {
		// "Local" would be the server's own zone, which is no IANA name
		// and means nothing to the client.
		if loc, err = time.LoadLocation(tzName); err != nil || tzName == "Local" {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "tz: unknown time zone %q (want an IANA name such as Europe/Kyiv)", tzName))
			return
		}
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

	out := bufio.NewWriterSize(w, 64<<10)
	rc := http.NewResponseController(w)
	var write func(events []doorlog.Event) error
	if format == "csv" {
		cw := csv.NewWriter(out)
		cw.UseCRLF = true // RFC 4180
		header := []string{"id", "time", "site_id", "device_id", "key", "category", "priority", "name", "text", "source_id", "model"}
		if err := cw.Write(header); err != nil {
			h.abortExport(r, err)
		}
		record := make([]string, len(header))
		var scratch []byte
		write = func(events []doorlog.Event) error {
			for i := range events {
				e := &events[i]
				scratch = appendTime(scratch[:0], e.Time, loc)
				record[0] = e.ID
				record[1] = string(scratch)
				record[2] = e.SiteID
				record[3] = e.DeviceID
				record[4] = e.Key
				record[5] = string(e.Category)
				record[6] = string(e.Priority)
				record[7] = h.cfg.Catalog.Name(locale, e.Key)
				record[8] = h.cfg.Catalog.Text(locale, e.Key, e.Model)
				record[9] = e.SourceID
				record[10] = string(appendModel(scratch[:0], e.Model))
				if err := cw.Write(record); err != nil {
					return err
				}
			}
			cw.Flush()
			return cw.Error()
		}
	} else {
		var line []byte
		write = func(events []doorlog.Event) error {
			for i := range events {
				line = h.appendEvent(line[:0], &events[i], locale)
				line = append(line, '\n')
				if _, err := out.Write(line); err != nil {
					return err
				}
			}
			return nil
		}
	}

	// The connection may serve another request after this one.
	defer rc.SetWriteDeadline(time.Time{})
	for {
		if err := rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			h.abortExport(r, err)
		}
		if err := write(page); err != nil {
			h.abortExport(r, err)
		}
		if err := out.Flush(); err != nil {
			h.abortExport(r, err)
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			h.abortExport(r, err)
		}
		if len(page) < exportPage {
			return
		}
		last := page[len(page)-1]
		query.After = &doorlog.EventCursor{Time: last.Time, ID: last.ID}
		if page, err = h.cfg.Store.ListEvents(r.Context(), query); err != nil {
			h.abortExport(r, err)
		}
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
