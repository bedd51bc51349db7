package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// eventRow is an event resolved to the codes the events table stores.
type eventRow struct {
	timeMS   int64
	device   sql.NullInt64
	site     sql.NullInt64
	key      string
	keyCode  int64
	category int64
	priority int64
	sourceID sql.NullString
	model    []byte
}

var emptyModel = []byte("{}")

// resolve checks event i of an append and turns it into a row. An empty
// SiteID is taken from the device; a SiteID that is not the device's is
// refused, as is a SiteID on a server event.
func (db *DB) resolve(ctx context.Context, i int, e *doorlog.Event) (eventRow, error) {
	row := eventRow{timeMS: millis(e.Time), key: e.Key, model: e.Model}
	if e.Key == "" {
		return row, doorlog.Errorf(doorlog.EINVALID, "event %d: key is required", i)
	}
	var ok bool
	if row.category, ok = categoryCodes[e.Category]; !ok {
		return row, doorlog.Errorf(doorlog.EINVALID, "event %d: unknown category %q", i, e.Category)
	}
	if row.priority, ok = priorityCodes[e.Priority]; !ok {
		return row, doorlog.Errorf(doorlog.EINVALID, "event %d: unknown priority %q", i, e.Priority)
	}
	if len(row.model) == 0 {
		row.model = emptyModel
	} else if !json.Valid(row.model) || !bytes.HasPrefix(bytes.TrimLeft(row.model, " \t\r\n"), []byte("{")) {
		return row, doorlog.Errorf(doorlog.EINVALID, "event %d: model must be a JSON object", i)
	}
	if e.SourceID != "" {
		row.sourceID = sql.NullString{String: e.SourceID, Valid: true}
	}
	if e.DeviceID == "" {
		if e.SiteID != "" {
			return row, doorlog.Errorf(doorlog.EINVALID, "event %d: an event without a device has no site", i)
		}
		return row, nil
	}
	id, err := doorlog.CanonicalDeviceID(e.DeviceID)
	if err != nil {
		return row, doorlog.Errorf(doorlog.EINVALID, "event %d: device id %q is not a UUID", i, e.DeviceID)
	}
	d, ok, err := db.device(ctx, id)
	if err != nil {
		return row, err
	}
	if !ok {
		return row, doorlog.Errorf(doorlog.EINVALID, "event %d: device %q does not exist", i, id)
	}
	if e.SiteID != "" && e.SiteID != d.siteID {
		return row, doorlog.Errorf(doorlog.EINVALID, "event %d: device %q belongs to site %q, not %q", i, id, d.siteID, e.SiteID)
	}
	row.device = sql.NullInt64{Int64: d.code, Valid: true}
	row.site = sql.NullInt64{Int64: d.siteCode, Valid: true}
	return row, nil
}

// insertChunk is how many rows one INSERT statement carries. One statement
// per row costs a statement start and end each time (cursors on the table
// and its five indexes, the AUTOINCREMENT bookkeeping in sqlite_sequence, a
// trip through database/sql and the driver); a few hundred rows share that
// cost while staying far below SQLite's limit of 32766 parameters.
const insertChunk = 200

// eventParams is the number of parameters of one row of insertEvents.
const eventParams = 8

// insertEvents returns the INSERT statement of n rows.
func insertEvents(n int) string {
	var b strings.Builder
	b.Grow(100 + n*len("(?, ?, ?, ?, ?, ?, ?, ?), "))
	// OR IGNORE rather than ON CONFLICT DO NOTHING: with no constraint
	// left that aborts the statement (foreign keys are off for appends,
	// see AppendEvents, and resolve has checked what the CHECK and NOT
	// NULL constraints check), SQLite keeps no statement journal, which
	// otherwise copies every page the statement changes.
	b.WriteString("INSERT OR IGNORE INTO events (time_ms, device, site, key, category, priority, source_id, model) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return b.String()
}

// insertChunkSQL is the statement of a full chunk, built once.
var insertChunkSQL = insertEvents(insertChunk)

// AppendEvents stores the events in one transaction that is on disk
// (synchronous=FULL) when it returns nil; on an error nothing of the call is
// stored. Duplicates of a stored (DeviceID, SourceID), or of one earlier in
// the call, are reported and skipped: the unique index refuses them and the
// insert does nothing.
func (db *DB) AppendEvents(ctx context.Context, events []doorlog.Event) ([]doorlog.AppendResult, error) {
	if len(events) == 0 {
		return []doorlog.AppendResult{}, nil
	}
	rows := make([]eventRow, len(events))
	for i := range events {
		row, err := db.resolve(ctx, i, &events[i])
		if err != nil {
			return nil, wrap("append events", err)
		}
		rows[i] = row
	}

	conn, err := db.appendConn(ctx)
	if err != nil {
		return nil, wrap("append events", err)
	}
	defer conn.release()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap("append events", err)
	}
	defer tx.Rollback()

	// Keys seen for the first time are added in this transaction, and only
	// remembered once it commits.
	newKeys := map[string]int64{}
	for i := range rows {
		r := &rows[i]
		if code, ok := db.keyByName.get(r.key); ok {
			r.keyCode = code
			continue
		}
		if code, ok := newKeys[r.key]; ok {
			r.keyCode = code
			continue
		}
		code, err := keyCodeTx(ctx, tx, r.key)
		if err != nil {
			return nil, wrap("append events", err)
		}
		newKeys[r.key] = code
		r.keyCode = code
	}

	// The newest seq before this call's rows: the transaction holds the
	// write lock, so every row above it is one this call inserted.
	var newest int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&newest); err != nil {
		return nil, wrap("append events", err)
	}
	results := make([]doorlog.AppendResult, len(rows))
	var full *sql.Stmt
	args := make([]any, 0, min(len(rows), insertChunk)*eventParams)
	for off := 0; off < len(rows); off += insertChunk {
		chunk := rows[off:min(off+insertChunk, len(rows))]
		var stmt *sql.Stmt
		if len(chunk) == insertChunk {
			if full == nil {
				// Prepared once by Open: parsing a statement of 1,600
				// parameters takes as long as inserting dozens of rows.
				full = tx.StmtContext(ctx, db.insert)
				defer full.Close()
			}
			stmt = full
		} else {
			// The one short chunk of a call is prepared for itself.
			if stmt, err = tx.PrepareContext(ctx, insertEvents(len(chunk))); err != nil {
				return nil, wrap("append events", err)
			}
			defer stmt.Close()
		}
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r.timeMS, r.device, r.site, r.keyCode, r.category, r.priority, r.sourceID, r.model)
		}
		res, err := stmt.ExecContext(ctx, args...)
		if err != nil {
			return nil, wrap("append events", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, wrap("append events", err)
		}
		if n == int64(len(chunk)) {
			// No row was skipped, so the rows took consecutive sequence
			// numbers in VALUES order, ending with the last insert id.
			last, err := res.LastInsertId()
			if err != nil {
				return nil, wrap("append events", err)
			}
			for i := range chunk {
				results[off+i].ID = doorlog.FormatEventID(last - n + 1 + int64(i))
			}
			newest = last
			continue
		}
		if newest, err = matchInserted(ctx, tx, chunk, results[off:off+len(chunk)], newest, n); err != nil {
			return nil, wrap("append events", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap("append events", err)
	}
	for key, code := range newKeys {
		db.rememberKey(code, key)
	}
	return results, nil
}

// appendConn is the writer connection with foreign key checks off, for one
// append. The checks cost three lookups per event and make SQLite keep a
// statement journal for a multi-row INSERT; an append needs neither, since
// resolve takes every device and site code from the store, key codes come
// from the same transaction, and nothing deletes devices, sites or keys.
// foreign_keys cannot change inside a transaction, so it is switched around
// the append's one and switched back on by release.
type appendConn struct {
	*sql.Conn
}

func (db *DB) appendConn(ctx context.Context) (appendConn, error) {
	c, err := db.w.Conn(ctx)
	if err != nil {
		return appendConn{}, err
	}
	if _, err := c.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		c.Close()
		return appendConn{}, err
	}
	return appendConn{c}, nil
}

// release turns foreign key checks back on and returns the connection to
// the pool; a connection on which that fails is closed for good, so that
// no other write runs without the checks.
func (c appendConn) release() {
	_, err := c.ExecContext(context.Background(), `PRAGMA foreign_keys = ON`)
	if err != nil {
		_ = c.Raw(func(any) error { return driver.ErrBadConn })
	}
	c.Close()
}

// matchInserted finds out which rows of a chunk were inserted and which
// were skipped as duplicates, after an insert that stored n of them: it
// reads back the rows above newest (exactly those the chunk inserted, in
// VALUES order) and walks the chunk alongside. A row the walk does not meet
// next was skipped: its (device, source_id) was already stored before it, so
// no later row of the chunk can have that pair either, and the greedy match
// is exact. It returns the new newest seq.
func matchInserted(ctx context.Context, tx *sql.Tx, chunk []eventRow, results []doorlog.AppendResult, newest, n int64) (int64, error) {
	type stored struct {
		seq      int64
		device   sql.NullInt64
		sourceID sql.NullString
	}
	got := make([]stored, 0, n)
	q, err := tx.QueryContext(ctx, `SELECT seq, device, source_id FROM events WHERE seq > ? ORDER BY seq`, newest)
	if err != nil {
		return 0, err
	}
	for q.Next() {
		var s stored
		if err := q.Scan(&s.seq, &s.device, &s.sourceID); err != nil {
			q.Close()
			return 0, err
		}
		got = append(got, s)
	}
	err = q.Err()
	q.Close()
	if err != nil {
		return 0, err
	}
	if int64(len(got)) != n {
		return 0, fmt.Errorf("insert stored %d rows, found %d", n, len(got))
	}
	j := 0
	for i, r := range chunk {
		if j < len(got) && got[j].device == r.device && got[j].sourceID == r.sourceID {
			results[i].ID = doorlog.FormatEventID(got[j].seq)
			newest = got[j].seq
			j++
			continue
		}
		if !r.sourceID.Valid {
			// Rows without a source id are never duplicates.
			return 0, fmt.Errorf("insert skipped an event without a source id")
		}
		results[i].Duplicate = true
	}
	if j != len(got) {
		return 0, fmt.Errorf("insert stored %d rows, matched %d", len(got), j)
	}
	return newest, nil
}

// keyCodeTx returns the code of key, adding it inside tx when new. The
// transaction holds the write lock, so no other writer can add it between
// the two statements.
func keyCodeTx(ctx context.Context, tx *sql.Tx, key string) (int64, error) {
	var code int64
	err := tx.QueryRowContext(ctx, `SELECT code FROM event_keys WHERE key = ?`, key).Scan(&code)
	if err == nil {
		return code, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO event_keys (key) VALUES (?)`, key)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// where is the WHERE clause of an event listing or count under
// construction.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) in(col string, codes []int64) {
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

// filterWhere translates f to a WHERE clause over codes. ok is false when
// the filter can match nothing (an empty scope, or every value it names
// unknown), so the query need not run.
func (db *DB) filterWhere(ctx context.Context, f doorlog.EventFilter) (w where, ok bool, err error) {
	siteIDs, all := visibleSites(f.Scope, f.SiteIDs)
	if !all {
		var codes []int64
		for _, id := range siteIDs {
			code, ok, err := db.siteCode(ctx, id)
			if err != nil {
				return w, false, err
			}
			if ok {
				codes = append(codes, code)
			}
		}
		if len(codes) == 0 {
			return w, false, nil
		}
		w.in("site", codes)
	}
	if len(f.DeviceIDs) > 0 {
		var codes []int64
		for _, id := range f.DeviceIDs {
			canon, err := doorlog.CanonicalDeviceID(id)
			if err != nil {
				continue // not a UUID: matches no device
			}
			d, ok, err := db.device(ctx, canon)
			if err != nil {
				return w, false, err
			}
			if ok {
				codes = append(codes, d.code)
			}
		}
		if len(codes) == 0 {
			return w, false, nil
		}
		w.in("device", codes)
	}
	if len(f.Categories) > 0 {
		codes := fixedCodes(f.Categories, categoryCodes)
		if len(codes) == 0 {
			return w, false, nil
		}
		w.in("category", codes)
	}
	if len(f.Priorities) > 0 {
		codes := fixedCodes(f.Priorities, priorityCodes)
		if len(codes) == 0 {
			return w, false, nil
		}
		w.in("priority", codes)
	}
	if len(f.Keys) > 0 {
		var codes []int64
		for _, k := range f.Keys {
			code, ok, err := db.keyCode(ctx, k)
			if err != nil {
				return w, false, err
			}
			if ok {
				codes = append(codes, code)
			}
		}
		if len(codes) == 0 {
			return w, false, nil
		}
		w.in("key", codes)
	}
	if len(f.IdentifierNumbers) > 0 {
		w.identifierNumbers(f.IdentifierNumbers)
	}
	if len(f.IdentifierTypes) > 0 {
		w.identifierTypes(f.IdentifierTypes)
	}
	if f.Text != "" {
		var codes []int64
		for _, k := range f.TextKeys {
			code, ok, err := db.keyCode(ctx, k)
			if err != nil {
				return w, false, err
			}
			if ok {
				codes = append(codes, code)
			}
		}
		w.text(f.Text, codes)
	}
	if !f.From.IsZero() {
		// Inclusive: the first whole millisecond at or after From.
		ms := millis(f.From)
		if f.From.After(time.UnixMilli(ms)) {
			ms++
		}
		w.add("time_ms >= ?", ms)
	}
	if !f.To.IsZero() {
		w.add("time_ms <= ?", millis(f.To))
	}
	return w, true, nil
}

// modelText is the stored model as text. The model column is a BLOB, and
// SQLite's JSON functions take a BLOB for its binary JSONB format first
// (falling back to text only when it is not valid JSONB); the cast makes
// them read the JSON text that was stored, always.
const modelText = `CAST(model AS TEXT)`

// validModel guards the JSON functions: json_extract fails the whole query
// on a model that is not JSON, and CASE evaluates its THEN branch only for
// rows that pass. Ingest stores only JSON objects, but a model written by
// an older or another program must not break every listing.
func validModel(cond string) string {
	return `(CASE WHEN json_valid(` + modelText + `) THEN ` + cond + ` ELSE 0 END)`
}

// identifierNumbers keeps events whose model has one of numbers as its
// identifier number: the top-level "number", "identifier_number", "card"
// or "qr" field. A string counts as its text and a number as its JSON
// literal, so 12345 and "12345" are the same; json_extract alone would turn
// a number past int64 into a float's text, and true into 1. Anything else
// is no number.
func (w *where) identifierNumbers(numbers []string) {
	list := placeholders(len(numbers))
	var ors []string
	var args []any
	for _, path := range []string{"$.number", "$.identifier_number", "$.card", "$.qr"} {
		p := modelText + `, '` + path + `'`
		ors = append(ors, `(CASE json_type(`+p+`) WHEN 'text' THEN json_extract(`+p+`)`+
			` WHEN 'integer' THEN `+modelText+` -> '`+path+`' WHEN 'real' THEN `+modelText+` -> '`+path+`' END) IN (`+list+`)`)
		for _, n := range numbers {
			args = append(args, n)
		}
	}
	w.add(validModel("("+strings.Join(ors, " OR ")+")"), args...)
}

// identifierTypes keeps events whose model names one of types as its
// identifier type: a top-level "type" or "identifier_type" string, or a
// non-null "card" or "qr" field, which are identifiers of those types.
func (w *where) identifierTypes(types []string) {
	list := placeholders(len(types))
	var ors []string
	var args []any
	for _, path := range []string{"$.type", "$.identifier_type"} {
		p := modelText + `, '` + path + `'`
		ors = append(ors, `(CASE json_type(`+p+`) WHEN 'text' THEN json_extract(`+p+`) END) IN (`+list+`)`)
		for _, t := range types {
			args = append(args, t)
		}
	}
	for _, field := range []string{"card", "qr"} {
		if slices.Contains(types, field) {
			ors = append(ors, `json_extract(`+modelText+`, '$.`+field+`') IS NOT NULL`)
		}
	}
	w.add(validModel("("+strings.Join(ors, " OR ")+")"), args...)
}

// text keeps events whose model contains text, ignoring ASCII case (what
// SQLite's lower does), or whose key has one of keyCodes. instr has no
// wildcards, so text needs no escaping, unlike LIKE.
func (w *where) text(text string, keyCodes []int64) {
	cond := `instr(lower(` + modelText + `), lower(?)) > 0`
	args := []any{text}
	if len(keyCodes) > 0 {
		cond += ` OR key IN (` + placeholders(len(keyCodes)) + `)`
		for _, c := range keyCodes {
			args = append(args, c)
		}
	}
	w.add("("+cond+")", args...)
}

// fixedCodes maps values of a fixed set (categories, priorities) to their
// codes, leaving out values the set does not have.
func fixedCodes[T comparable](values []T, codes map[T]int64) []int64 {
	var out []int64
	for _, v := range values {
		if code, ok := codes[v]; ok {
			out = append(out, code)
		}
	}
	return out
}

// ListEvents returns one page of events ordered by (time, id). A Limit of 0
// means no limit.
func (db *DB) ListEvents(ctx context.Context, q doorlog.EventQuery) ([]doorlog.Event, error) {
	if q.Limit < 0 || q.Offset < 0 {
		return nil, doorlog.Errorf(doorlog.EINVALID, "limit and offset must not be negative")
	}
	w, ok, err := db.filterWhere(ctx, q.Filter)
	if err != nil {
		return nil, wrap("list events", err)
	}
	if !ok {
		return []doorlog.Event{}, nil
	}
	dir, cmp := "ASC", ">"
	if q.Order == doorlog.Desc {
		dir, cmp = "DESC", "<"
	}
	if q.After != nil {
		seq, err := doorlog.ParseEventID(q.After.ID)
		if err != nil {
			return nil, doorlog.Errorf(doorlog.EINVALID, "invalid cursor")
		}
		// A row value comparison, which SQLite turns into a range on the
		// (time_ms, rowid) index.
		w.add("(time_ms, seq) "+cmp+" (?, ?)", millis(q.After.Time), seq)
	}
	limit := int64(q.Limit)
	if limit == 0 {
		limit = -1 // SQLite: no limit
	}
	query := eventColumns + w.String() + ` ORDER BY time_ms ` + dir + `, seq ` + dir + ` LIMIT ? OFFSET ?`
	return db.queryEvents(ctx, "list events", query, append(w.args, limit, q.Offset), q.Limit)
}

// EventsAfter returns up to limit events matching f in arrival order, after
// the event with id after ("" for the first). The seq primary key is the
// arrival order, so this is a range scan of the table itself. An id that
// does not parse, or that is past the newest id ever assigned, is EINVALID.
func (db *DB) EventsAfter(ctx context.Context, f doorlog.EventFilter, after string, limit int) ([]doorlog.Event, error) {
	if limit < 0 {
		return nil, doorlog.Errorf(doorlog.EINVALID, "limit must not be negative")
	}
	w, ok, err := db.filterWhere(ctx, f)
	if err != nil {
		return nil, wrap("events after", err)
	}
	if !ok {
		return []doorlog.Event{}, nil
	}
	if after != "" {
		seq, err := doorlog.ParseEventID(after)
		if err != nil {
			return nil, err
		}
		// An id this store never handed out is refused rather than
		// waited on: it comes from another server or a rebuilt store,
		// and resuming after it would skip every event until the
		// sequence caught up. sqlite_sequence keeps the newest seq ever
		// assigned even when those events are gone.
		var newest int64
		err = db.r.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)`).Scan(&newest)
		if err != nil {
			return nil, wrap("events after", err)
		}
		if seq > newest {
			return nil, doorlog.Errorf(doorlog.EINVALID, "unknown event id %q", after)
		}
		w.add("seq > ?", seq)
	}
	lim := int64(limit)
	if lim == 0 {
		lim = -1
	}
	query := eventColumns + w.String() + ` ORDER BY seq LIMIT ?`
	return db.queryEvents(ctx, "events after", query, append(w.args, lim), limit)
}

// eventColumns selects every column an Event is made from, in the order
// queryEvents scans them.
const eventColumns = `SELECT seq, time_ms, device, site, key, category, priority, source_id, model FROM events`

// queryEvents runs a query selecting eventColumns and turns the rows into
// events. sizeHint, when positive, is the expected number of rows.
func (db *DB) queryEvents(ctx context.Context, op, query string, args []any, sizeHint int) ([]doorlog.Event, error) {
	type raw struct {
		seq, timeMS, key, category, priority int64
		device, site                         sql.NullInt64
		sourceID                             sql.NullString
		model                                []byte
	}
	var raws []raw
	if sizeHint > 0 {
		raws = make([]raw, 0, sizeHint)
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	for rows.Next() {
		var r raw
		if err := rows.Scan(&r.seq, &r.timeMS, &r.device, &r.site, &r.key, &r.category, &r.priority, &r.sourceID, &r.model); err != nil {
			rows.Close()
			return nil, wrap(op, err)
		}
		raws = append(raws, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, wrap(op, err)
	}

	// Codes are resolved after the rows are closed: a cache miss queries
	// the read pool, which must not wait on the connection this holds.
	events := make([]doorlog.Event, len(raws))
	for i, r := range raws {
		e := &events[i]
		e.ID = doorlog.FormatEventID(r.seq)
		e.Time = fromMillis(r.timeMS)
		e.SourceID = r.sourceID.String
		e.Model = r.model
		if r.category < 1 || r.category >= int64(len(categoryByCode)) || r.priority < 1 || r.priority >= int64(len(priorityByCode)) {
			return nil, fmt.Errorf("%s: event %s has category %d, priority %d", op, e.ID, r.category, r.priority)
		}
		e.Category = categoryByCode[r.category]
		e.Priority = priorityByCode[r.priority]
		if e.Key, err = db.keyName(ctx, r.key); err != nil {
			return nil, wrap(op, err)
		}
		if r.device.Valid {
			if e.DeviceID, err = db.deviceID(ctx, r.device.Int64); err != nil {
				return nil, wrap(op, err)
			}
		}
		if r.site.Valid {
			if e.SiteID, err = db.siteID(ctx, r.site.Int64); err != nil {
				return nil, wrap(op, err)
			}
		}
	}
	return events, nil
}

// CountEvents returns the number of events matching f.
func (db *DB) CountEvents(ctx context.Context, f doorlog.EventFilter) (int64, error) {
	w, ok, err := db.filterWhere(ctx, f)
	if err != nil {
		return 0, wrap("count events", err)
	}
	if !ok {
		return 0, nil
	}
	var n int64
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM events`+w.String(), w.args...).Scan(&n); err != nil {
		return 0, wrap("count events", err)
	}
	return n, nil
}

// EventKeys returns every key ever stored, sorted (bytewise).
func (db *DB) EventKeys(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT key FROM event_keys ORDER BY key`)
	if err != nil {
		return nil, wrap("event keys", err)
	}
	defer rows.Close()
	keys := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, wrap("event keys", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("event keys", err)
	}
	return keys, nil
}
