package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/rollup"
)

// How events are read. The events table is narrow (time_ms, seq, device,
// kind) and clustered on (time_ms, seq), so a listing without a device
// filter is a range scan of it, and reads the bodies (event_bodies, by seq)
// of its page's rows only. A listing of some devices reads their device
// runs (per device and day, the (time, seq, kind) of each event) and then
// only the bodies of its page. An
// offset is not skipped row by row: the exact counts per hour and day
// (package rollup) are walked to the bucket the offset falls in, and only
// the rest is skipped inside that bucket. Totals are sums of those counts,
// plus a count of the partial buckets at the edges of a time window. Counts
// and rows are read at the same version: scans that use the counts skip
// rows newer than the counts' seq.
//
// Filters on the model (identifiers, free text) are not in the table's
// columns (the model is stored compressed): they are applied in Go with
// doorlog.EventFilter.Match to the rows the column filters select.

// where is the WHERE clause of an event query under construction.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// maxInlineCodes is the most codes an IN list carries as parameters. A
// longer list (a category that holds thousands of kinds, a site of
// thousands of devices) goes as one JSON array parameter instead: SQLite
// refuses a statement of more than 32,766 parameters, and a statement of
// thousands takes longer to prepare than the array to parse.
const maxInlineCodes = 500

func (w *where) in(col string, codes []int64) {
	if len(codes) > maxInlineCodes {
		arr := make([]byte, 0, 8*len(codes))
		arr = append(arr, '[')
		for i, c := range codes {
			if i > 0 {
				arr = append(arr, ',')
			}
			arr = strconv.AppendInt(arr, c, 10)
		}
		w.add(col+" IN (SELECT value FROM json_each(?))", string(append(arr, ']')))
		return
	}
	args := make([]any, len(codes))
	for i, c := range codes {
		args[i] = c
	}
	w.add(col+" IN ("+placeholders(len(codes))+")", args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// plan is an event filter in codes.
type plan struct {
	// byDevice: the filter names devices, which are read by their runs;
	// devices lists them (after the scope).
	byDevice bool
	// scoped: only the events of devices are visible (no server events);
	// sites are their sites, for the counts.
	scoped  bool
	devices []int64
	sites   []int64
	// kinds, when not nil, are the only kinds selected.
	kinds []int64
	// from and to bound time_ms, both inclusive.
	from, to int64
	// match, when not nil, is the part of the filter on the model, applied
	// in Go.
	match *doorlog.EventFilter
	// afterSeq, when positive, keeps the events stored after it
	// (EventFilter.StoredAfter): they are read from event_bodies by seq and
	// counted row by row, never by the counts, which do not know seqs.
	afterSeq int64
}

// scanned reports whether the plan's events are found by reading rows
// (a model filter, or stored after a seq) rather than through the counts.
func (p *plan) scanned() bool { return p.match != nil || p.afterSeq > 0 }

// window is the plan's time window narrowed to what can follow the
// position after (if any) in the listing order: from is greater than to
// when nothing can.
func (p *plan) window(after *position, desc bool) (from, to int64) {
	from, to = p.from, p.to
	if after != nil {
		if desc {
			to = min(to, after.timeMS)
		} else {
			from = max(from, after.timeMS)
		}
	}
	return from, to
}

// table is the table a scan of the plan's rows reads: the events stored
// after a seq are few next to the table, and found in event_bodies, whose
// key is the seq, whatever their times; the others by time in events.
func (p *plan) table() string {
	if p.afterSeq > 0 {
		return "event_bodies"
	}
	return "events"
}

// plan turns f into codes. ok is false when f can match nothing (an empty
// scope, or every value it names unknown), so no query need run.
func (db *DB) plan(ctx context.Context, f doorlog.EventFilter) (p plan, ok bool, err error) {
	p.from, p.to = math.MinInt64, math.MaxInt64
	siteIDs, all := visibleSites(f.Scope, f.SiteIDs)
	if !all {
		for _, id := range siteIDs {
			code, ok, err := db.siteCode(ctx, id)
			if err != nil {
				return p, false, err
			}
			if ok && !slices.Contains(p.sites, code) {
				p.sites = append(p.sites, code)
			}
		}
		if len(p.sites) == 0 {
			return p, false, nil
		}
		p.scoped = true
	}
	if len(f.DeviceIDs) > 0 {
		for _, id := range f.DeviceIDs {
			canon, err := doorlog.CanonicalDeviceID(id)
			if err != nil {
				continue // not a UUID: matches no device
			}
			d, ok, err := db.device(ctx, canon)
			if err != nil {
				return p, false, err
			}
			if ok && (!p.scoped || slices.Contains(p.sites, d.siteCode)) && !slices.Contains(p.devices, d.code) {
				p.devices = append(p.devices, d.code)
			}
		}
		if len(p.devices) == 0 {
			return p, false, nil
		}
		p.byDevice, p.scoped = true, true
	} else if p.scoped {
		if p.devices, err = db.devicesOfSites(ctx, p.sites); err != nil {
			return p, false, err
		}
		if len(p.devices) == 0 {
			return p, false, nil
		}
	}
	if len(f.Categories) > 0 || len(f.Priorities) > 0 || len(f.Keys) > 0 {
		cats := fixedCodes(f.Categories, categoryCodes)
		pris := fixedCodes(f.Priorities, priorityCodes)
		p.kinds = []int64{}
		kinds, err := db.kinds(ctx)
		if err != nil {
			return p, false, err
		}
		add := func(code int64) {
			k := kinds.refs[code]
			if (len(f.Categories) == 0 || slices.Contains(cats, k.category)) &&
				(len(f.Priorities) == 0 || slices.Contains(pris, k.priority)) {
				p.kinds = append(p.kinds, code)
			}
		}
		if len(f.Keys) > 0 {
			for _, key := range f.Keys {
				for _, code := range kinds.byKey[key] {
					add(code)
				}
			}
		} else {
			for code := range kinds.refs {
				add(code)
			}
		}
		if len(p.kinds) == 0 {
			return p, false, nil
		}
		slices.Sort(p.kinds)
		p.kinds = slices.Compact(p.kinds)
	}
	if !f.From.IsZero() {
		// Inclusive: the first whole millisecond at or after From.
		p.from = millis(f.From)
		if f.From.After(time.UnixMilli(p.from)) {
			p.from++
		}
	}
	if !f.To.IsZero() {
		p.to = millis(f.To)
	}
	if p.from > p.to {
		return p, false, nil
	}
	if f.StoredAfter != "" {
		seq, err := doorlog.ParseEventID(f.StoredAfter)
		if err != nil {
			return p, false, err
		}
		p.afterSeq = max(seq, 0)
	}
	if f.Text != "" || len(f.IdentifierNumbers) > 0 || len(f.IdentifierTypes) > 0 {
		p.match = &doorlog.EventFilter{
			Scope:             doorlog.Scope{All: true},
			IdentifierNumbers: f.IdentifierNumbers,
			IdentifierTypes:   f.IdentifierTypes,
			Text:              f.Text,
			TextKeys:          f.TextKeys,
		}
	}
	return p, true, nil
}

// devicesOfSites returns the codes of the devices of the sites.
func (db *DB) devicesOfSites(ctx context.Context, sites []int64) ([]int64, error) {
	var w where
	w.in("site", sites)
	rows, err := db.r.QueryContext(ctx, `SELECT code FROM devices`+w.String()+` ORDER BY code`, w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var codes []int64
	for rows.Next() {
		var c int64
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		codes = append(codes, c)
	}
	return codes, rows.Err()
}

// selection is the plan as a selection of the counts.
func (p *plan) selection() rollup.Selection {
	var sel rollup.Selection
	if p.byDevice {
		sel.Devices = uint32s(p.devices)
	} else if p.scoped {
		sel.Sites = uint32s(p.sites)
	}
	if p.kinds != nil {
		sel.Kinds = uint32s(p.kinds)
	}
	return sel
}

func uint32s(codes []int64) []uint32 {
	out := make([]uint32, len(codes))
	for i, c := range codes {
		out[i] = uint32(c)
	}
	return out
}

// where returns the column conditions of the plan for a scan of the table
// between from and to (inclusive), of rows with seq <= maxSeq.
func (p *plan) where(from, to, maxSeq int64) where {
	var w where
	if from != math.MinInt64 || to != math.MaxInt64 {
		w.add("time_ms BETWEEN ? AND ?", from, to)
	}
	if p.scoped {
		w.in("device", p.devices)
	}
	if p.kinds != nil {
		w.in("kind", p.kinds)
	}
	if maxSeq != math.MaxInt64 {
		w.add("seq <= ?", maxSeq)
	}
	if p.afterSeq > 0 {
		w.add("seq > ?", p.afterSeq)
	}
	return w
}

// position is a place in the (time, seq) order.
type position struct{ timeMS, seq int64 }

func cursorPosition(c *doorlog.EventCursor) (*position, error) {
	if c == nil {
		return nil, nil
	}
	seq, err := doorlog.ParseEventID(c.ID)
	if err != nil {
		return nil, doorlog.Errorf(doorlog.EINVALID, "invalid cursor")
	}
	return &position{millis(c.Time), seq}, nil
}

// ListEvents returns one page of events ordered by (time, id). A Limit of 0
// means no limit.
func (db *DB) ListEvents(ctx context.Context, q doorlog.EventQuery) ([]doorlog.Event, error) {
	if q.Limit < 0 || q.Offset < 0 || q.MaxBytes < 0 {
		return nil, doorlog.Errorf(doorlog.EINVALID, "limit, offset and max bytes must not be negative")
	}
	p, ok, err := db.plan(ctx, q.Filter)
	if err != nil {
		return nil, wrap("list events", err)
	}
	if !ok {
		return []doorlog.Event{}, nil
	}
	after, err := cursorPosition(q.After)
	if err != nil {
		return nil, err
	}
	desc := q.Order == doorlog.Desc
	var events []doorlog.Event
	switch {
	case p.scanned():
		events, _, err = db.scanMatch(ctx, &p, desc, after, q.Offset, q.Limit, q.MaxBytes, false)
	case p.byDevice:
		events, err = db.listDevices(ctx, &p, desc, after, q.Offset, q.Limit, q.MaxBytes)
	case q.Offset > 0 && after == nil:
		events, err = db.seekTable(ctx, &p, desc, q.Offset, q.Limit, q.MaxBytes)
	case q.Offset == 0 && q.Limit > 0 && (p.kinds != nil || p.scoped):
		events, err = db.guidedScan(ctx, &p, desc, after, q.Limit, q.MaxBytes)
	default:
		events, err = db.scanTable(ctx, &p, desc, after, p.from, p.to, q.Offset, q.Limit, q.MaxBytes, math.MaxInt64)
	}
	if err != nil {
		return nil, wrap("list events", err)
	}
	return events, nil
}

// CountEvents returns the exact number of events matching f.
func (db *DB) CountEvents(ctx context.Context, f doorlog.EventFilter) (int64, error) {
	p, ok, err := db.plan(ctx, f)
	if err != nil {
		return 0, wrap("count events", err)
	}
	if !ok {
		return 0, nil
	}
	if p.match != nil {
		_, n, err := db.scanMatch(ctx, &p, false, nil, 0, 0, 0, true)
		return int64(n), wrap("count events", err)
	}
	if p.afterSeq > 0 {
		w := p.where(p.from, p.to, math.MaxInt64)
		var n int64
		err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM `+p.table()+w.String(), w.args...).Scan(&n)
		return n, wrap("count events", err)
	}
	c, err := db.countsFor(ctx)
	if err != nil {
		return 0, err
	}
	buckets, maxSeq := c.Buckets(p.selection(), p.from, p.to)
	var total int64
	for _, b := range buckets {
		n, err := db.bucketCount(ctx, &p, b, maxSeq)
		if err != nil {
			return 0, wrap("count events", err)
		}
		total += n
	}
	return total, nil
}

// bucketCount is the number of selected events in b: its count when exact,
// else counted in the table or the device runs.
func (db *DB) bucketCount(ctx context.Context, p *plan, b rollup.Bucket, maxSeq int64) (int64, error) {
	if b.Exact {
		return b.N, nil
	}
	lo, hi := max(b.FromMS, p.from), min(b.ToMS, p.to)
	if lo > hi {
		return 0, nil
	}
	if p.byDevice {
		entries, err := db.runEntries(ctx, p, lo, hi, maxSeq, nil, false)
		return int64(len(entries)), err
	}
	w := p.where(lo, hi, maxSeq)
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM events`+w.String(), w.args...).Scan(&n)
	return n, err
}

// seekTable is a page at an offset without a device filter: the counts
// find the bucket the offset falls in (a day, then its hour, then finer
// buckets where the hour is dense), and the table is scanned from there.
func (db *DB) seekTable(ctx context.Context, p *plan, desc bool, offset, limit, maxBytes int) ([]doorlog.Event, error) {
	c, err := db.countsFor(ctx)
	if err != nil {
		return nil, err
	}
	sel := p.selection()
	for {
		buckets, maxSeq := c.Buckets(sel, p.from, p.to)
		b, skip, found, err := db.findBucket(ctx, p, buckets, maxSeq, desc, int64(offset))
		if err != nil {
			return nil, err
		}
		if !found {
			return []doorlog.Event{}, nil
		}
		// Narrow an exact bucket (a day, an hour or finer) down to the
		// finest the counts hold, so that the scan skips as little as
		// possible.
		moved := false
		for b.Exact {
			kids, ok := c.Children(sel, b, maxSeq)
			if !ok {
				moved = true
				break
			}
			if kids == nil {
				break
			}
			if b, skip, found, err = db.findBucket(ctx, p, kids, maxSeq, desc, skip); err != nil {
				return nil, err
			} else if !found {
				return nil, fmt.Errorf("the finer buckets of %d..%d hold fewer events than it", b.FromMS, b.ToMS)
			}
		}
		if moved {
			continue // the counts moved on; start again at the new version
		}
		if desc {
			return db.scanTable(ctx, p, desc, nil, p.from, min(b.ToMS, p.to), int(skip), limit, maxBytes, maxSeq)
		}
		return db.scanTable(ctx, p, desc, nil, max(b.FromMS, p.from), p.to, int(skip), limit, maxBytes, maxSeq)
	}
}

// findBucket walks buckets (ascending; in reverse when desc) to the one the
// offset falls in, and returns it with the rest of the offset inside it.
func (db *DB) findBucket(ctx context.Context, p *plan, buckets []rollup.Bucket, maxSeq int64, desc bool, skip int64) (rollup.Bucket, int64, bool, error) {
	for i := range buckets {
		b := buckets[i]
		if desc {
			b = buckets[len(buckets)-1-i]
		}
		n, err := db.bucketCount(ctx, p, b, maxSeq)
		if err != nil {
			return b, 0, false, err
		}
		if skip >= n {
			skip -= n
			continue
		}
		return b, skip, true, nil
	}
	return rollup.Bucket{}, 0, false, nil
}

// maxGuidedTries is how many times guidedScan starts again when the counts
// move on under it before it reads the window row by row instead.
const maxGuidedTries = 3

// guidedScan is the page of a selective plan (a kind or site filter) from
// the start of its window, or from a cursor: it reads only the finest
// buckets of the counts that hold selected events, in order, until the page
// is full, so that a selection that is rare in dense data (critical alarms
// among millions of grants) does not read every row between its matches.
// Contiguous buckets are read by one query, and once the buckets read hold
// a page of selected events no more are added to it. Every query reads the
// rows with seq at most the counts' version, so the page is one consistent
// view of the store, as a single scan's is.
func (db *DB) guidedScan(ctx context.Context, p *plan, desc bool, after *position, limit, maxBytes int) ([]doorlog.Event, error) {
	c, err := db.countsFor(ctx)
	if err != nil {
		return nil, err
	}
	from, to := p.window(after, desc)
	if from > to {
		return []doorlog.Event{}, nil
	}
	sel := p.selection()
	for range maxGuidedTries {
		g := guided{db: db, c: c, p: p, sel: sel, desc: desc, after: after, from: from, to: to, limit: limit, maxBytes: maxBytes}
		var buckets []rollup.Bucket
		buckets, g.seq = c.Buckets(sel, from, to)
		if err := g.visitAll(ctx, buckets); err != nil {
			return nil, err
		}
		if !g.moved {
			if err := g.flush(ctx); err != nil {
				return nil, err
			}
			if g.out == nil {
				g.out = []doorlog.Event{}
			}
			return g.out, nil
		}
	}
	return db.scanTable(ctx, p, desc, after, p.from, p.to, 0, limit, maxBytes, math.MaxInt64)
}

// guided is the state of one guidedScan at one version of the counts.
type guided struct {
	db              *DB
	c               *rollup.Counts
	p               *plan
	sel             rollup.Selection
	desc            bool
	after           *position
	from, to        int64
	limit, maxBytes int
	seq             int64
	// span is the contiguous range of buckets gathered but not read yet,
	// and n the selected events its exact buckets hold.
	span  *[2]int64
	n     int64
	out   []doorlog.Event
	bytes int
	done  bool
	moved bool
}

// visitAll visits buckets in the page's order.
func (g *guided) visitAll(ctx context.Context, buckets []rollup.Bucket) error {
	for i := range buckets {
		b := buckets[i]
		if g.desc {
			b = buckets[len(buckets)-1-i]
		}
		if err := g.visit(ctx, b); err != nil || g.done || g.moved {
			return err
		}
	}
	return nil
}

// visit narrows an exact bucket to its finest buckets, and gathers a
// finest or non-exact one into the span to read.
func (g *guided) visit(ctx context.Context, b rollup.Bucket) error {
	if b.Exact {
		kids, ok := g.c.Children(g.sel, b, g.seq)
		if !ok {
			g.moved = true
			return nil
		}
		if kids != nil {
			return g.visitAll(ctx, kids)
		}
	}
	lo, hi := max(b.FromMS, g.from), min(b.ToMS, g.to)
	if lo > hi {
		return nil
	}
	switch {
	case g.span == nil:
		g.span = &[2]int64{lo, hi}
	case !g.desc && g.span[1] != math.MaxInt64 && g.span[1]+1 == lo:
		g.span[1] = hi
	case g.desc && g.span[0] != math.MinInt64 && g.span[0]-1 == hi:
		g.span[0] = lo
	default:
		// A gap of buckets without selected events: read what was
		// gathered, and start again here.
		if err := g.flush(ctx); err != nil || g.done {
			return err
		}
		g.span = &[2]int64{lo, hi}
	}
	if !b.Exact {
		// Its count is unknown: read it now.
		return g.flush(ctx)
	}
	if g.n += b.N; g.n >= int64(g.limit-len(g.out)) {
		return g.flush(ctx)
	}
	return nil
}

// flush reads the gathered span.
func (g *guided) flush(ctx context.Context) error {
	if g.span == nil {
		return nil
	}
	lo, hi := g.span[0], g.span[1]
	g.span, g.n = nil, 0
	maxBytes := 0
	if g.maxBytes > 0 {
		maxBytes = g.maxBytes - g.bytes
	}
	events, err := g.db.scanTable(ctx, g.p, g.desc, g.after, lo, hi, 0, g.limit-len(g.out), maxBytes, g.seq)
	if err != nil {
		return err
	}
	for _, e := range events {
		g.bytes += len(e.Model)
	}
	g.out = append(g.out, events...)
	g.done = len(g.out) >= g.limit || g.maxBytes > 0 && g.bytes >= g.maxBytes
	return nil
}

// hourMS is the length of an hour in milliseconds, the unit of the
// hourly statistics.
const hourMS = 3_600_000

// eventColumns selects every column an Event is made from, in the order
// rawEvent.scan reads them, from event_bodies: a query of it selects rows
// by seq.
const eventColumns = `SELECT time_ms, seq, device, kind, source_id, model FROM event_bodies`

// readPage reads the rows of p's table (events, or event_bodies for a plan
// whose rows were stored after a seq) that match w, in the listing order
// dir, with tail (LIMIT, OFFSET) after the ORDER BY, bounded by maxBytes as
// queryRaw is. From events, the rows are chosen, and an offset skipped, on
// the narrow table alone; then only the chosen rows' bodies are read, by
// seq, and no more of them than maxBytes allows (fetchRaw).
func (db *DB) readPage(ctx context.Context, p *plan, w *where, dir, tail string, args []any, sizeHint, maxBytes int) ([]rawEvent, error) {
	if p.table() == "event_bodies" {
		return db.queryRaw(ctx, eventColumns+w.String()+` ORDER BY time_ms `+dir+`, seq `+dir+tail, args, sizeHint, maxBytes)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT time_ms, seq FROM events`+w.String()+` ORDER BY time_ms `+dir+`, seq `+dir+tail, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var entries []runEntry
	if sizeHint > 0 {
		entries = make([]runEntry, 0, sizeHint)
	}
	for rows.Next() {
		var e runEntry
		if err := rows.Scan(&e.timeMS, &e.seq); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Closed before fetchRaw: it queries the same pool.
	rows.Close()
	return db.fetchRaw(ctx, entries, maxBytes)
}

// rawEvent is a row of eventColumns, with the model already decoded.
type rawEvent struct {
	timeMS, seq, kind int64
	device            sql.NullInt64
	sourceID          sql.NullString
	model             []byte
}

// scanRaw reads a row into r, decoding the stored model into the end of
// arena, which it returns: the models of a page share one buffer instead of
// two allocations each (the driver's copy and the decoded JSON). A model
// that does not decode (a row this store did not write, a damaged page)
// must not make every listing that meets it fail: its bytes are kept as
// they are, and filters on the model treat them as they treat any model
// that is not a JSON object.
//
// A row whose seq keep (when not nil) refuses is not decoded, and kept is
// false.
func (db *DB) scanRaw(rows *sql.Rows, r *rawEvent, arena []byte, keep func(seq int64) bool) (_ []byte, kept bool, err error) {
	var stored sql.RawBytes
	if err := rows.Scan(&r.timeMS, &r.seq, &r.device, &r.kind, &r.sourceID, &stored); err != nil {
		return arena, false, err
	}
	if keep != nil && !keep(r.seq) {
		return arena, false, nil
	}
	start := len(arena)
	out, err := db.codec.Decode(arena, stored)
	if err != nil {
		out = append(arena, stored...)
	}
	r.model = out[start:len(out):len(out)]
	return out, true, nil
}

// scanTable returns the events selected by p between from and to with seq
// <= maxSeq, in order, after the position after (if any), skipping offset
// and returning at most limit (0: all) and, when maxBytes is positive, up to
// the event whose model brings the page to maxBytes.
func (db *DB) scanTable(ctx context.Context, p *plan, desc bool, after *position, from, to int64, offset, limit, maxBytes int, maxSeq int64) ([]doorlog.Event, error) {
	w := p.where(from, to, maxSeq)
	dir, cmp := "ASC", ">"
	if desc {
		dir, cmp = "DESC", "<"
	}
	if after != nil {
		// A row value comparison, which SQLite turns into a range of the
		// (time_ms, seq) primary key.
		w.add("(time_ms, seq) "+cmp+" (?, ?)", after.timeMS, after.seq)
	}
	lim := int64(limit)
	if lim == 0 {
		lim = -1 // SQLite: no limit
	}
	raws, err := db.readPage(ctx, p, &w, dir, ` LIMIT ? OFFSET ?`, append(w.args, lim, offset), limit, maxBytes)
	if err != nil {
		return nil, err
	}
	return db.events(ctx, raws)
}

// queryRaw runs a query of eventColumns. When maxBytes is positive it stops
// reading rows after the one whose model brings the models read to
// maxBytes, so that a page of large models holds what the caller allows
// and no more.
func (db *DB) queryRaw(ctx context.Context, query string, args []any, sizeHint, maxBytes int) ([]rawEvent, error) {
	return db.queryRawKeep(ctx, query, args, sizeHint, maxBytes, nil)
}

// queryRawKeep is queryRaw that keeps only the rows whose seq keep accepts
// (all when keep is nil), without decoding the others' models.
func (db *DB) queryRawKeep(ctx context.Context, query string, args []any, sizeHint, maxBytes int, keep func(seq int64) bool) ([]rawEvent, error) {
	var raws []rawEvent
	if sizeHint > 0 {
		raws = make([]rawEvent, 0, sizeHint)
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var arena []byte
	bytes := 0
	for rows.Next() {
		if arena == nil {
			n := max(sizeHint, 16) * 256
			if maxBytes > 0 {
				n = min(n, maxBytes)
			}
			arena = make([]byte, 0, n)
		}
		var r rawEvent
		var kept bool
		if arena, kept, err = db.scanRaw(rows, &r, arena, keep); err != nil {
			return nil, err
		}
		if !kept {
			continue
		}
		raws = append(raws, r)
		if bytes += len(r.model); maxBytes > 0 && bytes >= maxBytes {
			break
		}
	}
	return raws, rows.Err()
}

// events turns rows into events. It runs after the rows are closed: a
// cache miss queries the read pool, which must not wait on the connection
// a scan holds.
func (db *DB) events(ctx context.Context, raws []rawEvent) ([]doorlog.Event, error) {
	events := make([]doorlog.Event, len(raws))
	for i := range raws {
		if err := db.event(ctx, &raws[i], &events[i]); err != nil {
			return nil, err
		}
	}
	return events, nil
}

func (db *DB) event(ctx context.Context, r *rawEvent, e *doorlog.Event) error {
	e.ID = doorlog.FormatEventID(r.seq)
	e.Time = fromMillis(r.timeMS)
	e.SourceID = r.sourceID.String
	e.Model = r.model
	k, err := db.kind(ctx, r.kind)
	if err != nil {
		return err
	}
	if k.category < 1 || k.category >= int64(len(categoryByCode)) || k.priority < 1 || k.priority >= int64(len(priorityByCode)) {
		return fmt.Errorf("event %s has category %d, priority %d", e.ID, k.category, k.priority)
	}
	e.Key = k.key
	e.Category = categoryByCode[k.category]
	e.Priority = priorityByCode[k.priority]
	if r.device.Valid {
		if d, ok := db.deviceByCode.get(r.device.Int64); ok {
			e.DeviceID, e.SiteID = d.id, d.siteID
		} else {
			if e.DeviceID, err = db.deviceID(ctx, r.device.Int64); err != nil {
				return err
			}
			d, _ := db.deviceByCode.get(r.device.Int64)
			e.SiteID = d.siteID
		}
	}
	return nil
}

// matchBatch is how many rows a filter on the model reads at a time.
const matchBatch = 1000

// scanMatch is a listing (or, with countOnly, a count) of a plan whose rows
// are read (plan.scanned): rows selected by the columns are read in
// batches, in order, and kept when p.match, if any, matches them.
func (db *DB) scanMatch(ctx context.Context, p *plan, desc bool, after *position, offset, limit, maxBytes int, countOnly bool) ([]doorlog.Event, int, error) {
	out := []doorlog.Event{}
	n, bytes := 0, 0
	skip := offset
	for {
		raws, err := db.rawPage(ctx, p, desc, after, matchBatch)
		if err != nil {
			return nil, 0, err
		}
		for i := range raws {
			var e doorlog.Event
			if err := db.event(ctx, &raws[i], &e); err != nil {
				return nil, 0, err
			}
			if p.match != nil && !p.match.Match(e) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			n++
			if !countOnly {
				out = append(out, e)
				bytes += len(e.Model)
				if limit > 0 && len(out) == limit || maxBytes > 0 && bytes >= maxBytes {
					return out, n, nil
				}
			}
		}
		if len(raws) < matchBatch {
			return out, n, nil
		}
		last := raws[len(raws)-1]
		after = &position{last.timeMS, last.seq}
	}
}

// rawPage reads up to limit rows selected by the columns of p, in order,
// after a position.
func (db *DB) rawPage(ctx context.Context, p *plan, desc bool, after *position, limit int) ([]rawEvent, error) {
	w := p.where(p.from, p.to, math.MaxInt64)
	dir, cmp := "ASC", ">"
	if desc {
		dir, cmp = "DESC", "<"
	}
	if after != nil {
		w.add("(time_ms, seq) "+cmp+" (?, ?)", after.timeMS, after.seq)
	}
	return db.readPage(ctx, p, &w, dir, ` LIMIT ?`, append(w.args, limit), limit, 0)
}

// listDevices is a page of a device listing: the counts skip whole days,
// the device runs of a day give the (time, seq) of its events, and only the
// page's rows are read from the table.
func (db *DB) listDevices(ctx context.Context, p *plan, desc bool, after *position, offset, limit, maxBytes int) ([]doorlog.Event, error) {
	c, err := db.countsFor(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi := p.window(after, desc)
	if lo > hi {
		return []doorlog.Event{}, nil
	}
	buckets, maxSeq := c.Buckets(p.selection(), lo, hi)
	if desc {
		slices.Reverse(buckets)
	}
	skip := int64(offset)
	var page []runEntry
	for _, b := range buckets {
		if after == nil && b.Exact && skip >= b.N {
			skip -= b.N
			continue
		}
		entries, err := db.runEntries(ctx, p, max(b.FromMS, lo), min(b.ToMS, hi), maxSeq, after, desc)
		if err != nil {
			return nil, err
		}
		if skip >= int64(len(entries)) {
			skip -= int64(len(entries))
			continue
		}
		entries = entries[skip:]
		skip = 0
		if limit > 0 && len(page)+len(entries) > limit {
			entries = entries[:limit-len(page)]
		}
		page = append(page, entries...)
		if limit > 0 && len(page) == limit {
			break
		}
	}
	return db.fetch(ctx, page, maxBytes)
}

// runEntries returns the entries of p's devices between from and to with
// seq <= maxSeq, of p's kinds, strictly after the position after (if any),
// in order.
func (db *DB) runEntries(ctx context.Context, p *plan, from, to, maxSeq int64, after *position, desc bool) ([]runEntry, error) {
	var w where
	w.in("device", p.devices)
	w.add("day BETWEEN ? AND ?", floorDiv(from, dayMS), floorDiv(to, dayMS))
	rows, err := db.r.QueryContext(ctx, `SELECT data FROM device_runs`+w.String(), w.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []runEntry
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		n := len(all)
		if all, err = decodeRun(all, data); err != nil {
			return nil, err
		}
		kept := all[:n]
		for _, e := range all[n:] {
			if e.timeMS < from || e.timeMS > to || e.seq > maxSeq {
				continue
			}
			if p.kinds != nil {
				if _, ok := slices.BinarySearch(p.kinds, e.kind); !ok {
					continue
				}
			}
			if after != nil {
				pos := runEntry{timeMS: after.timeMS, seq: after.seq}
				if desc && !e.less(pos) || !desc && !pos.less(e) {
					continue
				}
			}
			kept = append(kept, e)
		}
		all = kept
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(all, compareEntries)
	if desc {
		slices.Reverse(all)
	}
	return all, nil
}

// rangeSpread is how much wider than a fetch chunk the span of its seqs may
// be for fetchRaw to read the span rather than seek each row: reading a row
// it does not keep costs less than a seek.
const rangeSpread = 4

// fetchSpanChunk is the most rows fetchRaw reads as one span of seqs.
const fetchSpanChunk = 2000

// fetchChunk is how many rows one fetch query reads by primary key, and
// fetchFirstChunk how many, at least, the first query of a page bounded by
// bytes reads, before the size of its models is known.
const (
	fetchChunk      = 250
	fetchFirstChunk = 32
)

// fetch reads the events at the entries' positions, in the entries' order
// (fetchRaw).
func (db *DB) fetch(ctx context.Context, entries []runEntry, maxBytes int) ([]doorlog.Event, error) {
	raws, err := db.fetchRaw(ctx, entries, maxBytes)
	if err != nil {
		return nil, err
	}
	return db.events(ctx, raws)
}

// fetchRaw reads the rows of the entries' events from event_bodies, by
// seq, in the entries' order.
// When maxBytes is positive it stops after the event whose model brings the
// page to maxBytes: it reads a few rows first, then chunks sized by the
// models seen so far, so that it reads little past that point.
func (db *DB) fetchRaw(ctx context.Context, entries []runEntry, maxBytes int) ([]rawEvent, error) {
	bySeq := make(map[int64]rawEvent, len(entries))
	bytes, step := 0, fetchSpanChunk
	if maxBytes > 0 {
		// As many rows as cannot pass maxBytes even if every model is
		// of the largest size ingest takes: a page of a few dozen rows is
		// then one query.
		step = min(fetchChunk, max(fetchFirstChunk, maxBytes/doorlog.MaxModelBytes))
	}
	for off := 0; off < len(entries); off += step {
		if maxBytes > 0 && off > 0 {
			if bytes >= maxBytes {
				entries = entries[:off]
				break
			}
			avg := max(bytes/off, 1)
			step = max(1, (maxBytes-bytes)/avg+1)
		}
		// A chunk read as a span of seqs may be as long as the page; one
		// read by seeks carries at most fetchChunk parameters.
		chunk := entries[off:min(off+min(step, fetchSpanChunk), len(entries))]
		lo, hi := chunk[0].seq, chunk[0].seq
		for _, e := range chunk {
			lo, hi = min(lo, e.seq), max(hi, e.seq)
		}
		span := hi-lo < int64(rangeSpread*len(chunk))
		if !span && len(chunk) > fetchChunk {
			chunk = chunk[:fetchChunk]
		}
		step = len(chunk)
		var raws []rawEvent
		var err error
		if span {
			// Seqs close together (events that arrived in about their
			// time order, as a live feed's do): one walk of the bodies'
			// key from the first to the last, keeping the chunk's rows,
			// costs far less than a seek per row.
			want := make(map[int64]bool, len(chunk))
			for _, e := range chunk {
				want[e.seq] = true
			}
			raws, err = db.queryRawKeep(ctx, eventColumns+` WHERE seq BETWEEN ? AND ?`, []any{lo, hi}, len(chunk), 0, func(seq int64) bool { return want[seq] })
		} else {
			args := make([]any, 0, len(chunk))
			for _, e := range chunk {
				args = append(args, e.seq)
			}
			raws, err = db.queryRaw(ctx, eventColumns+` WHERE seq IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+`)`, args, len(chunk), 0)
		}
		if err != nil {
			return nil, err
		}
		for _, r := range raws {
			bySeq[r.seq] = r
			bytes += len(r.model)
		}
	}
	raws := make([]rawEvent, 0, len(entries))
	bytes = 0
	for _, e := range entries {
		r, ok := bySeq[e.seq]
		if !ok {
			return nil, fmt.Errorf("event %s is listed but has no body", doorlog.FormatEventID(e.seq))
		}
		raws = append(raws, r)
		if bytes += len(r.model); maxBytes > 0 && bytes >= maxBytes {
			break
		}
	}
	return raws, nil
}

// EventsAfter returns up to limit events matching f in arrival order, after
// the event with id after ("" for the first): a range of event_bodies. An
// id that does not parse, or that is past the newest id ever assigned, is
// EINVALID.
func (db *DB) EventsAfter(ctx context.Context, f doorlog.EventFilter, after string, limit int) ([]doorlog.Event, error) {
	if limit < 0 {
		return nil, doorlog.Errorf(doorlog.EINVALID, "limit must not be negative")
	}
	p, ok, err := db.plan(ctx, f)
	if err != nil {
		return nil, wrap("events after", err)
	}
	if !ok {
		return []doorlog.Event{}, nil
	}
	var seq int64
	if after != "" {
		if seq, err = doorlog.ParseEventID(after); err != nil {
			return nil, err
		}
		// An id this store never handed out is refused rather than
		// waited on: it comes from another server or a rebuilt store,
		// and resuming after it would skip every event until the
		// sequence caught up.
		var newest int64
		if err := db.r.QueryRowContext(ctx, `SELECT value FROM store_state WHERE name = 'seq'`).Scan(&newest); err != nil {
			return nil, wrap("events after", err)
		}
		if seq > newest {
			return nil, doorlog.Errorf(doorlog.EINVALID, "unknown event id %q", after)
		}
	}
	out := []doorlog.Event{}
	for {
		w := p.where(p.from, p.to, math.MaxInt64)
		w.add("seq > ?", seq)
		batch := matchBatch
		if p.match == nil && limit > 0 {
			batch = limit - len(out)
		}
		raws, err := db.queryRaw(ctx, eventColumns+w.String()+` ORDER BY seq LIMIT ?`, append(w.args, batch), batch, 0)
		if err != nil {
			return nil, wrap("events after", err)
		}
		for i := range raws {
			var e doorlog.Event
			if err := db.event(ctx, &raws[i], &e); err != nil {
				return nil, wrap("events after", err)
			}
			if p.match != nil && !p.match.Match(e) {
				continue
			}
			out = append(out, e)
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if len(raws) < batch {
			return out, nil
		}
		seq = raws[len(raws)-1].seq
	}
}
