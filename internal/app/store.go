package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/doorlog/doorlog/internal/sqlite"
)

// DBFileName is the SQLite file inside the data directory.
const DBFileName = "doorlog.db"

// OpenStore opens the store named by dbURL or, when that is empty, the
// embedded SQLite store in the data directory.
func OpenStore(ctx context.Context, dataDir, dbURL string) (*sqlite.DB, error) {
	path := filepath.Join(dataDir, DBFileName)
	if dbURL != "" {
		switch {
		case strings.HasPrefix(dbURL, "sqlite:"):
			path = strings.TrimPrefix(strings.TrimPrefix(dbURL, "sqlite:"), "//")
		case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
			return nil, fmt.Errorf("store URL %s: this build has only the embedded SQLite store; use --data DIR or --db sqlite:PATH", redactURL(dbURL))
		default:
			return nil, fmt.Errorf("store URL %s: want sqlite:PATH", redactURL(dbURL))
		}
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

// redactURL drops a password from a database URL before it is printed.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}
