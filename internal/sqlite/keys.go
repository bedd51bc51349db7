package sqlite

import (
	"context"
	"crypto/rand"
	"fmt"
)

// ServerKey returns the secret stored under name, creating a random one on
// first use. INSERT OR IGNORE makes two processes racing on first use agree
// on one key.
func (db *DB) ServerKey(ctx context.Context, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	var key []byte
	err := db.r.QueryRowContext(ctx, `SELECT key FROM server_keys WHERE name = ?`, name).Scan(&key)
	if err == nil {
		return key, nil
	}
	if _, err := db.w.ExecContext(ctx, `INSERT OR IGNORE INTO server_keys (name, key) VALUES (?, ?)`, name, fresh); err != nil {
		return nil, wrap("server key", err)
	}
	if err := db.w.QueryRowContext(ctx, `SELECT key FROM server_keys WHERE name = ?`, name).Scan(&key); err != nil {
		return nil, wrap("server key", err)
	}
	return key, nil
}
