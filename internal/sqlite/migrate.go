package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles are the schema changes, named NNNN_what.sql and numbered
// from 1 without gaps. A file, once released, is never edited: a change is a
// new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must start with its number and '_'", base)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want number %d (numbers start at 1 without gaps)", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate applies the migrations the database has not seen, in one
// transaction, and records the schema version in PRAGMA user_version (which
// the transaction covers, so a failed migration leaves no trace). The
// transaction takes the write lock first, so two processes opening a new
// file at once do not both migrate it. It returns how many it applied.
func migrate(ctx context.Context, w *sql.DB) (int, error) {
	ms, err := migrations()
	if err != nil {
		return 0, err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap("migrate database", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, wrap("migrate database", err)
	}
	if version > len(ms) {
		return 0, fmt.Errorf("migrate database: schema version %d is newer than this program knows (%d); use a newer doorlog", version, len(ms))
	}
	pending := ms[version:]
	if len(pending) == 0 {
		return 0, nil
	}
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return 0, fmt.Errorf("migrate database: %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(ms))); err != nil {
		return 0, wrap("migrate database", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, wrap("migrate database", err)
	}
	return len(pending), nil
}
