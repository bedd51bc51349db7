// Package sqlite is doorlog's embedded store: one SQLite file, reached
// through the pure-Go driver modernc.org/sqlite so that the binary needs no C
// compiler.
//
// A DB holds two connection pools on the same file: one writer connection,
// so that writes never contend with each other inside the process and event
// sequence numbers follow commit order, and a few read-only connections,
// which WAL mode lets read while the writer writes. Another process (the
// doorlog CLI) may open the same file and write; busy_timeout makes each side
// wait for the other's short transactions instead of failing.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/doorlog/doorlog/internal/codec"
	"github.com/doorlog/doorlog/internal/dedup"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/rollup"
)

// BusyTimeout is how long a write waits for another connection or process
// holding the write lock before it fails with EUNAVAILABLE. Write
// transactions are short, so waiting this long means something is wrong.
const BusyTimeout = 10 * time.Second

// readers is the size of the read pool. The driver is CPU-bound pure Go, so
// more connections than a few cores' worth buy nothing.
const readers = 4

// DB is the SQLite implementation of doorlog.Store. It is safe for
// concurrent use.
type DB struct {
	w *sql.DB // the one writer connection; BEGIN IMMEDIATE
	r *sql.DB // read-only connections

	// insertBody and insertOrder are the INSERTs of a full chunk of
	// events into event_bodies and events, prepared on w once; a
	// transaction on w's connection uses them as they are (see
	// insertChunks).
	insertBody, insertOrder *sql.Stmt
	// findToken is FindToken's statement, prepared on r once: every
	// authenticated request runs it, and preparing it each time would
	// cost more than running it.
	findToken *sql.Stmt

	// Code caches: sites, devices and keys never change once written, so
	// their integer codes are remembered and only looked up on a miss
	// (which is how rows another process added are found).
	siteByID     memo[string, int64]
	siteByCode   memo[int64, string]
	deviceByID   memo[string, deviceRef]
	deviceByCode memo[int64, deviceRef]
	keyByName    memo[string, int64]
	keyByCode    memo[int64, string]
	kindByKey    memo[kindKey, int64]
	kindByCode   memo[int64, kindRef]
	// kindIdx is the last index of every kind built for filters (see
	// kinds).
	kindIdx atomic.Pointer[kindIndex]

	codec *codec.Codec

	// appendMu serialises appends; it guards lastSeq and sources, which
	// only the append holding it reads or changes.
	appendMu sync.Mutex
	lastSeq  int64
	sources  *dedup.Set

	// counts is nil until first used (see countsFor), and again after they
	// failed to update; recount then says the next load counts every
	// event rather than trust the snapshot.
	countsMu sync.Mutex
	counts   *rollup.Counts
	recount  bool
	// split is the counts' split threshold (0: rollup.DefaultSplit).
	split int64
	// recounts is how many buckets refine has counted from the events,
	// which tests read: each costs up to the split threshold's rows.
	recounts atomic.Int64

	// logger reports what the store recovers from on its own (counts
	// rebuilt); SetLogger sets it.
	logger *slog.Logger
}

var _ doorlog.Store = (*DB)(nil)

// Open opens the store at path, creating the file and its directory when
// missing and bringing the schema up to date, so that a fresh install needs
// no setup step.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		// The driver reads everything after '?' as its parameters.
		return nil, doorlog.Errorf(doorlog.EINVALID, "database path must be non-empty and must not contain '?'")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := checkWriter(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	if _, err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	insertBody, err := w.PrepareContext(ctx, insertSQL("INSERT INTO event_bodies", bodyColumns, insertChunk))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	insertOrder, err := w.PrepareContext(ctx, insertSQL("INSERT INTO events", orderColumns, insertChunk))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	cd, err := codec.New()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	findToken, err := r.PrepareContext(ctx, findTokenSQL)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := &DB{w: w, r: r, insertBody: insertBody, insertOrder: insertOrder, findToken: findToken, codec: cd, logger: slog.New(slog.DiscardHandler)}
	if err := db.loadState(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// SetLogger makes the store log what it recovers from by itself, such as
// counts it rebuilds from the events. Call it before the store is in use;
// without it, nothing is logged.
func (db *DB) SetLogger(l *slog.Logger) {
	db.logger = l
}

// SetSplit sets how many events a bucket of the counts holds before it is
// split into finer counts (rollup.DefaultSplit unless set). Tests set a
// small one so that their few events exercise the finer counts. Call it
// before the store is in use.
func (db *DB) SetSplit(n int64) {
	db.split = n
}

// dsn returns the driver's data source name. Pragmas go in _pragma
// parameters so that the driver applies them to every connection a pool
// opens, not only the first.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	// FULL: in WAL mode, NORMAL may lose the last commits on power loss;
	// an acknowledged event must survive that.
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// A multi-row INSERT keeps a statement journal so that it can be
		// undone alone; in memory it costs copies, on disk (SQLite spills
		// it to a temporary file past 64 KiB) a write syscall per page.
		q.Add("_pragma", "temp_store(MEMORY)")
		// 16 MiB of page cache instead of 2: an append writes at the
		// right edge of the events table and of event_bodies, but also
		// into 500-odd places of device_runs (one per device), whose
		// pages should stay in memory between commits. More buys nothing
		// measurable and counts against the server's memory target.
		q.Add("_pragma", "cache_size(-16384)")
		// Checkpoint after 64 MiB of WAL instead of 4: one group commit of
		// 20,000 events writes several MiB, so the default checkpointed
		// (copying pages and syncing the database file) on the committing
		// request's time after nearly every commit. Fewer checkpoints
		// also write each hot page (the index's right edges) once for
		// many commits.
		q.Add("_pragma", "wal_autocheckpoint(16384)")
		// Take the write lock at BEGIN, so that a transaction that reads
		// before it writes waits under busy_timeout instead of failing
		// when another process committed in between.
		q.Add("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// checkWriter verifies that the pragmas took: WAL mode can be refused (on
// some network file systems), and without it readers would block writers.
func checkWriter(ctx context.Context, w *sql.DB) error {
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open database: journal_mode is %q, want wal", mode)
	}
	return nil
}

// Close closes both pools. It lets SQLite update its planner statistics
// first, as SQLite recommends for long-lived connections.
func (db *DB) Close() error {
	// A failed snapshot only costs the next start a longer count.
	_ = db.saveCounts(context.Background())
	_, _ = db.w.Exec("PRAGMA optimize")
	return errors.Join(db.insertBody.Close(), db.insertOrder.Close(), db.findToken.Close(), db.r.Close(), db.w.Close())
}

// errCode returns the SQLite extended result code in err's chain, or 0.
func errCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isUnique(err error) bool {
	c := errCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// wrap gives err the context of op and a domain code when SQLite's result
// code says what kind of failure it is. Messages name only op, never SQL.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var de *doorlog.Error
	if errors.As(err, &de) {
		return err
	}
	cause := fmt.Errorf("%s: %w", op, err)
	switch errCode(err) & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return &doorlog.Error{Code: doorlog.EUNAVAILABLE, Message: "the database is busy; try again", Err: cause}
	case sqlite3.SQLITE_FULL:
		return &doorlog.Error{Code: doorlog.EUNAVAILABLE, Message: "the disk is full", Err: cause}
	case sqlite3.SQLITE_CONSTRAINT:
		if isUnique(err) {
			return &doorlog.Error{Code: doorlog.ECONFLICT, Message: op + ": already exists", Err: cause}
		}
		return &doorlog.Error{Code: doorlog.EINVALID, Message: op + ": refused by the store", Err: cause}
	}
	return cause
}

// millis returns t as Unix milliseconds, the precision the store keeps.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis is the inverse of millis, in UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// createdAt is t at the store's precision, or now when t is zero.
func createdAt(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return doorlog.TruncateMillis(t)
}

// visibleSites combines a scope with a filter's site list. It returns all
// when every site (and the server's own events) is visible, else the site
// ids to restrict to, which may be empty: then nothing is visible.
func visibleSites(scope doorlog.Scope, filter []string) (ids []string, all bool) {
	if scope.All {
		if len(filter) == 0 {
			return nil, true
		}
		return filter, false
	}
	if len(filter) == 0 {
		return scope.SiteIDs, false
	}
	for _, id := range filter {
		if scope.Allows(id) {
			ids = append(ids, id)
		}
	}
	return ids, false
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
