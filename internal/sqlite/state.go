package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/doorlog/doorlog/internal/dedup"
	"github.com/doorlog/doorlog/internal/rollup"
)

// The writer's state beside the tables: the newest sequence number, the set
// of stored source ids in counter form, and the exact counts per hour and
// day (package rollup) that serve totals and offset pages. The first two
// are loaded when the store opens; the counts, which take a scan of the
// events newer than their last snapshot, on first use, so that a short-lived
// CLI process opening the file does not pay for them.

// rememberKind caches what a kind code stands for.
func (db *DB) rememberKind(code int64, ref kindRef) {
	db.kindByKey.put(ref.kindKey, code)
	db.kindByCode.put(code, ref)
}

// kind returns what the kind with code stands for, which must exist.
func (db *DB) kind(ctx context.Context, code int64) (kindRef, error) {
	if k, ok := db.kindByCode.get(code); ok {
		return k, nil
	}
	var ref kindRef
	err := db.r.QueryRowContext(ctx, `SELECT k.key, e.key, k.category, k.priority FROM event_kinds k JOIN event_keys e ON e.code = k.key WHERE k.code = ?`, code).
		Scan(&ref.keyCode, &ref.key, &ref.category, &ref.priority)
	if err != nil {
		return ref, fmt.Errorf("kind code %d: %w", code, err)
	}
	db.rememberKind(code, ref)
	return ref, nil
}

// kindIndex is every kind as of when it was built, indexed for filters. It
// is never changed once built, so queries share it until a kind is added.
type kindIndex struct {
	refs  map[int64]kindRef
	byKey map[string][]int64
}

func newKindIndex(refs map[int64]kindRef) *kindIndex {
	idx := &kindIndex{refs: refs, byKey: make(map[string][]int64, len(refs))}
	for code, ref := range refs {
		idx.byKey[ref.key] = append(idx.byKey[ref.key], code)
	}
	return idx
}

// kinds returns every kind: the index built last, unless the table has
// kinds it lacks (added since, by this process or another). Building it
// copies every kind, which a store of thousands of keys should not pay on
// every filtered query.
func (db *DB) kinds(ctx context.Context) (*kindIndex, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM event_kinds`).Scan(&n); err != nil {
		return nil, err
	}
	if idx := db.kindIdx.Load(); idx != nil && len(idx.refs) == int(n) {
		return idx, nil
	}
	all := db.kindByCode.all()
	if len(all) != int(n) {
		var err error
		if all, err = db.allKinds(ctx); err != nil {
			return nil, err
		}
		for code, ref := range all {
			db.rememberKind(code, ref)
		}
	}
	idx := newKindIndex(all)
	db.kindIdx.Store(idx)
	return idx, nil
}

// allKinds returns every kind code with what it stands for, from the
// table, so that filters see kinds another process added too.
func (db *DB) allKinds(ctx context.Context) (map[int64]kindRef, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT k.code, k.key, e.key, k.category, k.priority FROM event_kinds k JOIN event_keys e ON e.code = k.key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]kindRef{}
	for rows.Next() {
		var code int64
		var ref kindRef
		if err := rows.Scan(&code, &ref.keyCode, &ref.key, &ref.category, &ref.priority); err != nil {
			return nil, err
		}
		out[code] = ref
	}
	return out, rows.Err()
}

// loadState preloads the code caches, finishes deriving device runs and
// source rows for events that lack them (after the migration to this
// layout), and loads the source id set.
func (db *DB) loadState(ctx context.Context) error {
	kinds, err := db.allKinds(ctx)
	if err != nil {
		return err
	}
	for code, ref := range kinds {
		db.rememberKind(code, ref)
		db.rememberKey(ref.keyCode, ref.key)
	}
	if err := db.loadDevices(ctx); err != nil {
		return err
	}
	if err := db.loadSources(ctx, db.w); err != nil {
		return err
	}
	var seq, derived int64
	if err := db.w.QueryRowContext(ctx, `SELECT (SELECT value FROM store_state WHERE name = 'seq'), (SELECT value FROM store_state WHERE name = 'derived')`).Scan(&seq, &derived); err != nil {
		return err
	}
	if derived < seq {
		if err := db.derive(ctx, derived, seq); err != nil {
			return fmt.Errorf("build device runs: %w", err)
		}
	}
	db.lastSeq = seq
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// loadSources replaces the source id set with the stored ranges.
func (db *DB) loadSources(ctx context.Context, q querier) error {
	rows, err := q.QueryContext(ctx, `SELECT device, prefix, lo, hi FROM source_ranges`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var rs []dedup.Range
	for rows.Next() {
		var r dedup.Range
		if err := rows.Scan(&r.Device, &r.Prefix, &r.Lo, &r.Hi); err != nil {
			return err
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s := dedup.New()
	s.Load(rs)
	db.sources = s
	return nil
}

// deriveChunk is how many events one derive transaction covers.
const deriveChunk = 100_000

// derive writes the device runs and source rows of the events with seq in
// (from, to], which the migration to this layout copied without them.
func (db *DB) derive(ctx context.Context, from, to int64) error {
	for from < to {
		upto := min(from+deriveChunk, to)
		if err := db.deriveTx(ctx, from, upto); err != nil {
			return err
		}
		from = upto
	}
	return nil
}

func (db *DB) deriveTx(ctx context.Context, from, to int64) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q, err := tx.QueryContext(ctx, `SELECT time_ms, seq, coalesce(device, 0), kind, coalesce(source_id, '') FROM event_bodies WHERE seq > ? AND seq <= ? ORDER BY seq`, from, to)
	if err != nil {
		return err
	}
	var rows []eventRow
	for q.Next() {
		var r eventRow
		if err := q.Scan(&r.timeMS, &r.seq, &r.device, &r.kind, &r.sourceID); err != nil {
			q.Close()
			return err
		}
		rows = append(rows, r)
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	kept := make([]int, len(rows))
	sources := db.sources.Begin()
	for i := range rows {
		kept[i] = i
		r := &rows[i]
		if r.sourceID == "" {
			continue
		}
		if prefix, n, ok := dedup.Split(r.sourceID); ok {
			sources.Add(r.device, prefix, n)
		} else if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO event_sources (device, source_id) VALUES (?, ?)`, r.device, r.sourceID); err != nil {
			return err
		}
	}
	if err := writeRuns(ctx, tx, rows, kept); err != nil {
		return err
	}
	if err := writeRanges(ctx, tx, sources); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE store_state SET value = ? WHERE name = 'derived'`, to); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	sources.Commit()
	return nil
}

// catchUp brings the writer's memory up to date inside an append's
// transaction, when another process appended to the file since this one
// last did: it folds their events into the counts and reloads the source
// id set. One process per data directory is the normal case, where this
// is one read.
func (db *DB) catchUp(ctx context.Context, tx *sql.Tx) error {
	var seq int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM store_state WHERE name = 'seq'`).Scan(&seq); err != nil {
		return err
	}
	if seq == db.lastSeq {
		return nil
	}
	if err := db.loadSources(ctx, tx); err != nil {
		return err
	}
	if c := db.loadedCounts(); c != nil {
		if err := db.fold(ctx, tx, c, c.Seq()); errors.Is(err, rollup.ErrInvalid) {
			// The counts cannot take the other process's events: they
			// are rebuilt on their next use, and this append goes on.
			db.dropCounts(c, err)
		} else if err != nil {
			return err
		}
	}
	db.lastSeq = seq
	return nil
}

// dropCounts discards counts c that failed to update, logging why, so that
// their next use counts every event again instead of answering from wrong
// counts, or failing, for good. The snapshot is not trusted then: it may
// hold what made them fail.
func (db *DB) dropCounts(c *rollup.Counts, err error) {
	db.logger.Error("sqlite: the event counts could not be updated; they will be rebuilt from the events on their next use", "err", err)
	db.countsMu.Lock()
	defer db.countsMu.Unlock()
	if db.counts == c {
		db.counts = nil
		db.recount = true
	}
}

// loadedCounts returns the counts when they are loaded, else nil.
func (db *DB) loadedCounts() *rollup.Counts {
	db.countsMu.Lock()
	defer db.countsMu.Unlock()
	return db.counts
}

// countsFor returns the counts, up to date with every committed event. It
// loads them on first use (the last snapshot, then every event after it),
// and folds in events another process appended since. Both happen under
// appendMu, so that no append of this process commits between a scan and
// the Apply that follows it; an append of this process that committed but
// has not applied its counts yet is waited for the same way.
func (db *DB) countsFor(ctx context.Context) (*rollup.Counts, error) {
	var seq int64
	if err := db.r.QueryRowContext(ctx, `SELECT value FROM store_state WHERE name = 'seq'`).Scan(&seq); err != nil {
		return nil, wrap("load counts", err)
	}
	if c := db.loadedCounts(); c != nil && c.Seq() >= seq {
		return c, nil
	}
	db.appendMu.Lock()
	defer db.appendMu.Unlock()
	// Again under the lock: appends may have committed since.
	if err := db.r.QueryRowContext(ctx, `SELECT value FROM store_state WHERE name = 'seq'`).Scan(&seq); err != nil {
		return nil, wrap("load counts", err)
	}
	db.countsMu.Lock()
	c, recount := db.counts, db.recount
	db.countsMu.Unlock()
	fresh := c == nil
	if fresh {
		var err error
		if c, err = db.loadSnapshot(ctx, seq, recount); err != nil {
			return nil, wrap("load counts", err)
		}
	}
	if c.Seq() < seq {
		fromZero := fresh && c.Seq() == 0
		var err error
		if fromZero {
			err = db.foldAll(ctx, db.r, c, false)
		} else {
			err = db.fold(ctx, db.r, c, c.Seq())
		}
		if errors.Is(err, rollup.ErrInvalid) && !fromZero {
			// Counts from the snapshot, or kept in memory, that cannot
			// take the events after them are wrong: count every event.
			db.logger.Error("sqlite: the event counts could not be updated; rebuilding them from the events", "err", err)
			c = db.newCounts()
			err = db.foldAll(ctx, db.r, c, false)
		}
		if err != nil {
			return nil, wrap("load counts", err)
		}
	}
	db.refine(ctx, c)
	db.countsMu.Lock()
	db.counts, db.recount = c, false
	db.countsMu.Unlock()
	return c, nil
}

// newCounts returns empty counts with the store's split threshold.
func (db *DB) newCounts() *rollup.Counts {
	c := rollup.New()
	if db.split > 0 {
		c.SetSplit(db.split)
	}
	return c
}

// refine makes the finer counts of the buckets the counts list as pending
// (rollup.Counts.Pending), counting each from the events: at most the split
// threshold plus a batch of them. Without it, a window's edge inside a
// dense hour would be read event by event. It runs where appends are
// serialised (appendMu held), so that the counts' version is the store's
// newest commit. A failure only leaves the bucket whole, which is exact
// but slower to read, so it is logged, not returned.
func (db *DB) refine(ctx context.Context, c *rollup.Counts) {
	ctx = context.WithoutCancel(ctx)
	for _, sp := range c.Pending() {
		db.recounts.Add(1)
		seq := c.Seq()
		deltas, err := db.spanDeltas(ctx, sp, seq)
		if err == nil {
			err = c.Refine(sp, seq, deltas)
		}
		if err != nil && !errors.Is(err, rollup.ErrStale) {
			db.logger.Warn("sqlite: the finer counts of a dense time bucket could not be made; its events are read instead",
				"from_ms", sp.FromMS, "to_ms", sp.ToMS, "err", err)
		}
	}
}

// spanDeltas counts the events of a span with seq <= maxSeq by time,
// device and kind, as deltas for Refine.
func (db *DB) spanDeltas(ctx context.Context, sp rollup.Span, maxSeq int64) ([]rollup.Delta, error) {
	type row struct{ t, device, kind, n int64 }
	rs, err := db.r.QueryContext(ctx, `SELECT time_ms, coalesce(device, 0), kind, count(*) FROM events
		WHERE time_ms BETWEEN ? AND ? AND seq <= ? GROUP BY time_ms, device, kind`, sp.FromMS, sp.ToMS, maxSeq)
	if err != nil {
		return nil, err
	}
	var got []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.t, &r.device, &r.kind, &r.n); err != nil {
			rs.Close()
			return nil, err
		}
		got = append(got, r)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	deltas := make([]rollup.Delta, len(got))
	for i, r := range got {
		var site int64
		if r.device != 0 {
			d, err := db.deviceOfCode(ctx, r.device)
			if err != nil {
				return nil, err
			}
			site = d.siteCode
		}
		if deltas[i], err = countDelta(r.t, site, r.device, r.kind, r.n); err != nil {
			return nil, err
		}
	}
	return deltas, nil
}

// countDelta is the counts' delta of n events of a time and codes, refused
// (rollup.ErrInvalid) for codes the counts cannot hold.
func countDelta(timeMS, site, device, kind, n int64) (rollup.Delta, error) {
	if kind < 0 || kind > math.MaxUint32 || device > math.MaxUint32 || site > math.MaxUint32 {
		return rollup.Delta{}, fmt.Errorf("%w: codes past 2^32 (kind %d, device %d, site %d)", rollup.ErrInvalid, kind, device, site)
	}
	return rollup.Delta{TimeMS: timeMS, Site: uint32(site), Device: uint32(device), Kind: uint32(kind), N: n}, nil
}

// loadSnapshot returns the counts of the stored snapshot, or empty counts
// when there is none, when it cannot be read or is of events this file does
// not have (a copied file), or when recount says not to trust it: the
// caller then counts the events after what it returns. Why a snapshot is
// not used is logged; an unusable snapshot is never an error.
func (db *DB) loadSnapshot(ctx context.Context, seq int64, recount bool) (*rollup.Counts, error) {
	c := db.newCounts()
	if recount {
		return c, nil
	}
	var snap []byte
	err := db.r.QueryRowContext(ctx, `SELECT value FROM store_state WHERE name = 'rollup'`).Scan(&snap)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(snap) == 0 {
		return c, nil
	}
	if err := c.UnmarshalBinary(snap); err != nil {
		db.logger.Warn("sqlite: the snapshot of the event counts cannot be read; counting the events", "err", err)
		return db.newCounts(), nil
	}
	if c.Seq() > seq {
		db.logger.Warn("sqlite: the snapshot of the event counts is newer than the events; counting the events", "snapshot_seq", c.Seq(), "seq", seq)
		return db.newCounts(), nil
	}
	return c, nil
}

// foldChunk is how many events fold applies at once, and foldHourMax the
// most foldAll holds to apply an hour in one piece.
const (
	foldChunk   = 50_000
	foldHourMax = 1_000_000
)

// fold adds every event with seq > after to c, in seq order.
func (db *DB) fold(ctx context.Context, q querier, c *rollup.Counts, after int64) error {
	return db.foldFrom(ctx, q, c, after, false)
}

// foldAll counts every event into empty counts c that no reader sees yet
// (its chunks are applied at version 0), reading them in time
// order from the events table and applying an hour's events in one Apply
// (so a chunk holds foldChunk events or more, up to an hour's end), then
// setting the version to the newest seq read.
//
// Counted in seq order, as fold counts the events after a snapshot, a
// dense hour that two chunks share was not empty before the second, so its
// finer counts could only come from recounting it afterwards (refine). A
// store of dense hours (100M events over 90 days: 46,000 an hour) then
// read every event twice, the second time one hour at a time with the
// writer waiting: minutes, measured (docs/performance.md, "100M events").
// In time order each hour is split as its events are applied. Only an hour
// of more than foldHourMax events is cut, and left to refine.
func (db *DB) foldAll(ctx context.Context, q querier, c *rollup.Counts, refreshed bool) error {
	rows, err := q.QueryContext(ctx, `SELECT time_ms, seq, coalesce(device, 0), kind FROM events ORDER BY time_ms, seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	deltas := make([]rollup.Delta, 0, foldChunk)
	var newest, hour int64
	for rows.Next() {
		d, seq, known, err := db.countRow(rows, refreshed)
		if err != nil {
			return err
		}
		if !known {
			// A device another process added: its codes are read
			// first, and the count starts again.
			rows.Close()
			if err := db.loadDevices(ctx); err != nil {
				return err
			}
			return db.foldAll(ctx, db.r, c, true)
		}
		t := d.TimeMS
		if h := floorDiv(t, hourMS); h != hour && len(deltas) >= foldChunk || len(deltas) >= foldHourMax {
			// Version 0 until the end: the counts are the caller's
			// alone until fold returns.
			if err := c.Apply(0, deltas); err != nil {
				return err
			}
			deltas = deltas[:0]
		}
		hour = floorDiv(t, hourMS)
		deltas = append(deltas, d)
		newest = max(newest, seq)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return c.Apply(newest, deltas)
}

func (db *DB) foldFrom(ctx context.Context, q querier, c *rollup.Counts, after int64, refreshed bool) error {
	rows, err := q.QueryContext(ctx, `SELECT time_ms, seq, coalesce(device, 0), kind FROM event_bodies WHERE seq > ? ORDER BY seq`, after)
	if err != nil {
		return err
	}
	defer rows.Close()
	deltas := make([]rollup.Delta, 0, foldChunk)
	var last int64
	for rows.Next() {
		d, seq, known, err := db.countRow(rows, refreshed)
		if err != nil {
			return err
		}
		if !known {
			// A device another process added: its codes are read
			// after the scan.
			return db.foldSlow(ctx, c, after)
		}
		deltas = append(deltas, d)
		last = seq
		if len(deltas) == foldChunk {
			if err := c.Apply(last, deltas); err != nil {
				return err
			}
			after = last
			deltas = deltas[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(deltas) > 0 {
		return c.Apply(last, deltas)
	}
	return nil
}

// countRow reads a row of (time_ms, seq, device, kind) as a count delta of
// one event. known is false when the device is not in the code cache (added
// by another process) and the cache was not just refreshed: the caller
// reads the devices in and starts again.
func (db *DB) countRow(rows *sql.Rows, refreshed bool) (d rollup.Delta, seq int64, known bool, err error) {
	var t, device, kind int64
	if err := rows.Scan(&t, &seq, &device, &kind); err != nil {
		return d, 0, false, err
	}
	var site int64
	if device != 0 {
		ref, ok := db.deviceByCode.get(device)
		if !ok && !refreshed {
			return d, seq, false, nil
		}
		site = ref.siteCode
	}
	if d, err = countDelta(t, site, device, kind, 1); err != nil {
		return d, seq, false, fmt.Errorf("event %d: %w", seq, err)
	}
	return d, seq, true, nil
}

// foldSlow is fold after refreshing the device cache from the table.
func (db *DB) foldSlow(ctx context.Context, c *rollup.Counts, after int64) error {
	if err := db.loadDevices(ctx); err != nil {
		return err
	}
	return db.foldFrom(ctx, db.r, c, after, true)
}

// loadDevices caches every device and site code.
func (db *DB) loadDevices(ctx context.Context) error {
	rows, err := db.r.QueryContext(ctx, selectDeviceRef)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d deviceRef
		if err := rows.Scan(&d.code, &d.id, &d.siteCode, &d.siteID); err != nil {
			return err
		}
		db.rememberDevice(d)
		db.rememberSite(d.siteCode, d.siteID)
	}
	return rows.Err()
}

// saveCounts writes a snapshot of the counts, so that the next start reads
// it instead of counting every event again.
func (db *DB) saveCounts(ctx context.Context) error {
	c := db.loadedCounts()
	if c == nil {
		return nil
	}
	b, err := c.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = db.w.ExecContext(ctx, `INSERT OR REPLACE INTO store_state (name, value) VALUES ('rollup', ?)`, b)
	return err
}
