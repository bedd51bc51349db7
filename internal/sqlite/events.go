package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/doorlog/doorlog/internal/dedup"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/rollup"
)

// eventRow is an event resolved to the codes the events table stores.
type eventRow struct {
	timeMS   int64
	device   int64 // 0: a server event (NULL in the table)
	site     int64 // 0 with device 0
	key      string
	category int64
	priority int64
	kind     int64
	seq      int64
	sourceID string
	model    []byte
}

var emptyModel = []byte("{}")

// resolve checks event i of an append and turns it into a row. An empty
// SiteID is taken from the device; a SiteID that is not the device's is
// refused, as is a SiteID on a server event.
func (db *DB) resolve(ctx context.Context, i int, e *doorlog.Event) (eventRow, error) {
	row := eventRow{timeMS: millis(e.Time), key: e.Key, model: e.Model, sourceID: e.SourceID}
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
	row.device = d.code
	row.site = d.siteCode
	return row, nil
}

// insertChunk is how many rows one INSERT statement carries. One statement
// per row costs a statement start and end each time; a few hundred rows
// share that cost while staying far below SQLite's limit of 32766
// parameters.
const insertChunk = 200

// bodyColumns and orderColumns are the columns an append writes to
// event_bodies (every column, in seq order) and to events (what paging,
// counting and filtering read, in (time_ms, seq) order).
var (
	bodyColumns  = []string{"seq", "time_ms", "device", "kind", "source_id", "model"}
	orderColumns = []string{"time_ms", "seq", "device", "kind"}
)

// insertSQL returns the statement into (such as "INSERT INTO events") of n
// rows of cols.
func insertSQL(into string, cols []string, n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var b strings.Builder
	b.Grow(100 + n*(len(row)+2))
	b.WriteString(into + " (" + strings.Join(cols, ", ") + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// AppendEvents stores the events in one transaction that is on disk
// (synchronous=FULL) when it returns nil; on an error nothing of the call is
// stored. Duplicates of a stored (DeviceID, SourceID), or of one earlier in
// the call, are reported and skipped.
//
// Appends are serialised by appendMu: the sequence numbers, the source id
// set and the counts are the writer's, and are only changed in memory once
// the transaction has committed.
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

	db.appendMu.Lock()
	defer db.appendMu.Unlock()
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
	if err := db.catchUp(ctx, tx); err != nil {
		return nil, wrap("append events", err)
	}

	kinds := newKindTx(db)
	defer kinds.close()
	for i := range rows {
		r := &rows[i]
		if r.kind, err = kinds.code(ctx, tx, r.key, r.category, r.priority); err != nil {
			return nil, wrap("append events", err)
		}
		// The counts number sites, devices and kinds in 32 bits; a store
		// would need four billion of one to get here, but the counts are
		// updated after the commit, where a refusal would be too late.
		if r.kind > math.MaxUint32 || r.device > math.MaxUint32 || r.site > math.MaxUint32 {
			return nil, doorlog.Errorf(doorlog.EINTERNAL, "append events: event %d: codes past 2^32 (kind %d, device %d, site %d)", i, r.kind, r.device, r.site)
		}
	}

	results := make([]doorlog.AppendResult, len(rows))
	sources := db.sources.Begin()
	var otherSources *sql.Stmt
	seq := db.lastSeq
	kept := make([]int, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		if r.sourceID != "" {
			if prefix, n, ok := dedup.Split(r.sourceID); ok {
				if sources.Has(r.device, prefix, n) {
					results[i].Duplicate = true
					continue
				}
				sources.Add(r.device, prefix, n)
			} else {
				// Not in counter form: a row in a unique table, which
				// refuses the pair when it is stored (or was added
				// earlier in this call).
				if otherSources == nil {
					if otherSources, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO event_sources (device, source_id) VALUES (?, ?)`); err != nil {
						return nil, wrap("append events", err)
					}
					defer otherSources.Close()
				}
				res, err := otherSources.ExecContext(ctx, r.device, r.sourceID)
				if err != nil {
					return nil, wrap("append events", err)
				}
				if n, err := res.RowsAffected(); err != nil {
					return nil, wrap("append events", err)
				} else if n == 0 {
					results[i].Duplicate = true
					continue
				}
			}
		}
		seq++
		r.seq = seq
		results[i].ID = doorlog.FormatEventID(seq)
		kept = append(kept, i)
	}

	// Insert in the table's key order: a batch out of time order (a
	// backfill, a late device) then walks the B-tree's leaves once, front
	// to back, instead of jumping between them and evicting dirty pages
	// from the cache mid-transaction.
	byKey := slices.Clone(kept)
	slices.SortFunc(byKey, func(a, b int) int {
		return cmp.Or(cmp.Compare(rows[a].timeMS, rows[b].timeMS), cmp.Compare(rows[a].seq, rows[b].seq))
	})
	if err := db.insertRows(ctx, tx, rows, kept, byKey); err != nil {
		return nil, wrap("append events", err)
	}
	if err := writeRuns(ctx, tx, rows, kept); err != nil {
		return nil, wrap("append events", err)
	}
	if err := writeRanges(ctx, tx, sources); err != nil {
		return nil, wrap("append events", err)
	}
	if seq != db.lastSeq {
		if _, err := tx.ExecContext(ctx, `UPDATE store_state SET value = ? WHERE name IN ('seq', 'derived')`, seq); err != nil {
			return nil, wrap("append events", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap("append events", err)
	}

	// Committed: now the memory follows, and nothing may fail the call any
	// more. Kinds first, so that a reader that sees the new counts can name
	// every kind in them.
	kinds.commit()
	sources.Commit()
	// Counts not loaded yet will read these events when they load.
	if c := db.loadedCounts(); c != nil {
		deltas := make([]rollup.Delta, len(kept))
		for j, i := range kept {
			r := &rows[i]
			deltas[j] = rollup.Delta{TimeMS: r.timeMS, Site: uint32(r.site), Device: uint32(r.device), Kind: uint32(r.kind), N: 1}
		}
		if err := c.Apply(seq, deltas); err != nil {
			db.dropCounts(c, fmt.Errorf("append of events up to seq %d: %w", seq, err))
		} else {
			db.refine(ctx, c)
		}
	}
	db.lastSeq = seq
	return results, nil
}

// insertRows writes the kept rows: their bodies in seq order (kept), an
// append whatever their times, and their place in the time order in
// (time_ms, seq) order (byKey), so that a batch out of time order walks
// the narrow table's leaves once, front to back.
func (db *DB) insertRows(ctx context.Context, tx *sql.Tx, rows []eventRow, kept, byKey []int) error {
	// One buffer for the stored models of a chunk; the driver copies
	// arguments before Exec returns.
	var buf []byte
	var ends []int
	body := func(args []any, chunk []int) []any {
		buf, ends = buf[:0], ends[:0]
		for _, i := range chunk {
			buf = db.codec.Encode(buf, rows[i].model)
			ends = append(ends, len(buf))
		}
		start := 0
		for j, i := range chunk {
			r := &rows[i]
			args = append(args, r.seq, r.timeMS, nullable(r.device), r.kind, nullableText(r.sourceID), buf[start:ends[j]:ends[j]])
			start = ends[j]
		}
		return args
	}
	// Rows never conflict: seq is new and unique, so (time_ms, seq) is
	// too.
	if err := insertChunks(ctx, tx, db.insertBody, "INSERT INTO event_bodies", bodyColumns, kept, body); err != nil {
		return err
	}
	order := func(args []any, chunk []int) []any {
		for _, i := range chunk {
			r := &rows[i]
			args = append(args, r.timeMS, r.seq, nullable(r.device), r.kind)
		}
		return args
	}
	return insertChunks(ctx, tx, db.insertOrder, "INSERT INTO events", orderColumns, byKey, order)
}

// insertChunks runs the statement into (insertSQL) for the rows at idx,
// insertChunk at a time: one statement per row would cost a statement
// start and end each time. Full chunks go through full, the statement of
// insertChunk rows (prepared by Open for the events' tables, since parsing a
// statement of 1,200 parameters takes as long as inserting dozens of rows;
// prepared here once when nil), the rest through a statement of its size.
// args appends a chunk's parameters, in the order of cols.
func insertChunks(ctx context.Context, tx *sql.Tx, full *sql.Stmt, into string, cols []string, idx []int, args func([]any, []int) []any) error {
	var inTx *sql.Stmt
	buf := make([]any, 0, min(len(idx), insertChunk)*len(cols))
	for off := 0; off < len(idx); off += insertChunk {
		chunk := idx[off:min(off+insertChunk, len(idx))]
		var stmt *sql.Stmt
		if len(chunk) == insertChunk {
			if inTx == nil {
				if full != nil {
					inTx = tx.StmtContext(ctx, full)
				} else {
					var err error
					if inTx, err = tx.PrepareContext(ctx, insertSQL(into, cols, insertChunk)); err != nil {
						return err
					}
				}
				defer inTx.Close()
			}
			stmt = inTx
		} else {
			var err error
			if stmt, err = tx.PrepareContext(ctx, insertSQL(into, cols, len(chunk))); err != nil {
				return err
			}
			defer stmt.Close()
		}
		if _, err := stmt.ExecContext(ctx, args(buf[:0], chunk)...); err != nil {
			return err
		}
	}
	return nil
}

// nullable is a code as a column value: 0 (no device: a server event) is
// NULL.
func nullable(code int64) any {
	if code == 0 {
		return nil
	}
	return code
}

// nullableText is a text as a column value: "" is NULL.
func nullableText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeRuns writes one device run per (device, day) of the kept rows.
func writeRuns(ctx context.Context, tx *sql.Tx, rows []eventRow, kept []int) error {
	type runKey struct{ device, day int64 }
	runs := map[runKey][]runEntry{}
	var order []runKey
	for _, i := range kept {
		r := &rows[i]
		if r.device == 0 {
			continue
		}
		k := runKey{r.device, floorDiv(r.timeMS, dayMS)}
		if _, ok := runs[k]; !ok {
			order = append(order, k)
		}
		runs[k] = append(runs[k], runEntry{timeMS: r.timeMS, seq: r.seq, kind: r.kind})
	}
	if len(order) == 0 {
		return nil
	}
	// In the table's key order, for the reason insertRows' rows are.
	slices.SortFunc(order, func(a, b runKey) int {
		return cmp.Or(cmp.Compare(a.device, b.device), cmp.Compare(a.day, b.day))
	})
	// One buffer for the encoded runs of a chunk, as in insertRows.
	var buf []byte
	var ends []int
	add := func(args []any, chunk []int) []any {
		buf, ends = buf[:0], ends[:0]
		for _, i := range chunk {
			buf = encodeRun(buf, runs[order[i]])
			ends = append(ends, len(buf))
		}
		start := 0
		for j, i := range chunk {
			k, entries := order[i], runs[order[i]]
			first := entries[0].seq
			for _, e := range entries {
				first = min(first, e.seq)
			}
			args = append(args, k.device, k.day, first, len(entries), buf[start:ends[j]:ends[j]])
			start = ends[j]
		}
		return args
	}
	return insertChunks(ctx, tx, nil, "INSERT INTO device_runs", runColumns, indexes(len(order)), add)
}

// runColumns are the columns writeRuns writes.
var runColumns = []string{"device", "day", "first_seq", "n", "data"}

// indexes returns 0, 1, …, n-1.
func indexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// writeRanges writes what a source id transaction changed.
func writeRanges(ctx context.Context, tx *sql.Tx, t *dedup.Txn) error {
	deleted, upserted := t.Changes()
	// In the table's key order, for the reason insertRows' rows are, and
	// many at a time, as insertChunks does: a batch out of order (source
	// counters arriving shuffled) changes an interval per event.
	byKey := func(a, b dedup.Range) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Prefix, b.Prefix), cmp.Compare(a.Lo, b.Lo))
	}
	slices.SortFunc(deleted, byKey)
	slices.SortFunc(upserted, byKey)
	for off := 0; off < len(deleted); off += insertChunk {
		chunk := deleted[off:min(off+insertChunk, len(deleted))]
		args := make([]any, 0, 3*len(chunk))
		for _, r := range chunk {
			args = append(args, r.Device, r.Prefix, r.Lo)
		}
		q := `DELETE FROM source_ranges WHERE (device, prefix, lo) IN (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ") + `)`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	add := func(args []any, chunk []int) []any {
		for _, i := range chunk {
			r := &upserted[i]
			args = append(args, r.Device, r.Prefix, r.Lo, r.Hi)
		}
		return args
	}
	return insertChunks(ctx, tx, nil, "INSERT OR REPLACE INTO source_ranges", rangeColumns, indexes(len(upserted)), add)
}

// rangeColumns are the columns writeRanges writes.
var rangeColumns = []string{"device", "prefix", "lo", "hi"}

// appendConn is the writer connection with foreign key checks off, for one
// append. The checks cost lookups per event and make SQLite keep a
// statement journal for a multi-row INSERT; an append needs neither, since
// resolve takes every device and site code from the store, key and kind
// codes come from the same transaction, and nothing deletes devices, sites
// or keys. foreign_keys cannot change inside a transaction, so it is
// switched around the append's one and switched back on by release.
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

// kindKey names a kind by what it stands for.
type kindKey struct {
	key      string
	category int64
	priority int64
}

// kindRef is what a kind code stands for.
type kindRef struct {
	kindKey
	keyCode int64
}

// kindTx finds or adds the kind codes of one append. Kinds and keys it adds
// are remembered only when the transaction commits.
type kindTx struct {
	db       *DB
	newKeys  map[string]int64
	newKinds map[kindKey]kindRef
	codes    map[kindKey]int64
	// stmts are the statements that find and add keys and kinds, prepared
	// on the first new kind of the append: a batch of thousands of new keys
	// would otherwise parse four statements for each.
	stmts []*sql.Stmt
}

// The statements of kindTx, in the order of kindTx.stmts.
var kindSQL = []string{
	`SELECT code FROM event_keys WHERE key = ?`,
	`INSERT INTO event_keys (key) VALUES (?)`,
	`SELECT code FROM event_kinds WHERE key = ? AND category = ? AND priority = ?`,
	`INSERT INTO event_kinds (key, category, priority) VALUES (?, ?, ?)`,
}

const (
	selectKey = iota
	insertKey
	selectKind
	insertKind
)

func newKindTx(db *DB) *kindTx { return &kindTx{db: db} }

// prepare prepares the statements inside tx, once.
func (k *kindTx) prepare(ctx context.Context, tx *sql.Tx) error {
	if k.stmts != nil {
		return nil
	}
	for _, q := range kindSQL {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			k.close()
			return err
		}
		k.stmts = append(k.stmts, st)
	}
	return nil
}

// close closes the prepared statements.
func (k *kindTx) close() {
	for _, st := range k.stmts {
		st.Close()
	}
	k.stmts = nil
}

func (k *kindTx) code(ctx context.Context, tx *sql.Tx, key string, category, priority int64) (int64, error) {
	kk := kindKey{key: key, category: category, priority: priority}
	if code, ok := k.db.kindByKey.get(kk); ok {
		return code, nil
	}
	if code, ok := k.codes[kk]; ok {
		return code, nil
	}
	if err := k.prepare(ctx, tx); err != nil {
		return 0, err
	}
	keyCode, ok := k.db.keyByName.get(key)
	if !ok {
		if keyCode, ok = k.newKeys[key]; !ok {
			var err error
			if keyCode, err = k.keyCode(ctx, key); err != nil {
				return 0, err
			}
			if k.newKeys == nil {
				k.newKeys = map[string]int64{}
			}
			k.newKeys[key] = keyCode
		}
	}
	var code int64
	err := k.stmts[selectKind].QueryRowContext(ctx, keyCode, category, priority).Scan(&code)
	if errors.Is(err, sql.ErrNoRows) {
		res, err := k.stmts[insertKind].ExecContext(ctx, keyCode, category, priority)
		if err != nil {
			return 0, err
		}
		if code, err = res.LastInsertId(); err != nil {
			return 0, err
		}
	} else if err != nil {
		return 0, err
	}
	if k.codes == nil {
		k.codes = map[kindKey]int64{}
		k.newKinds = map[kindKey]kindRef{}
	}
	k.codes[kk] = code
	k.newKinds[kk] = kindRef{kindKey: kk, keyCode: keyCode}
	return code, nil
}

func (k *kindTx) commit() {
	for key, code := range k.newKeys {
		k.db.rememberKey(code, key)
	}
	for kk, ref := range k.newKinds {
		k.db.rememberKind(k.codes[kk], ref)
	}
}

// keyCode returns the code of key, adding it inside the transaction when
// new. The transaction holds the write lock, so no other writer can add it
// between the two statements.
func (k *kindTx) keyCode(ctx context.Context, key string) (int64, error) {
	var code int64
	err := k.stmts[selectKey].QueryRowContext(ctx, key).Scan(&code)
	if err == nil {
		return code, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	res, err := k.stmts[insertKey].ExecContext(ctx, key)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
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
