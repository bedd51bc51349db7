package sqlite

import "context"

// SizeBytes returns the size of the database's pages, which is what the
// events and indexes occupy (the WAL is transient and left out).
func (db *DB) SizeBytes(ctx context.Context) (int64, error) {
	var pages, pageSize int64
	if err := db.r.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, wrap("store size", err)
	}
	if err := db.r.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return 0, wrap("store size", err)
	}
	return pages * pageSize, nil
}
