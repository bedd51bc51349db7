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

// StorePath returns the SQLite file named by dbURL or, when that is empty,
// the one in the data directory.
func StorePath(dataDir, dbURL string) (string, error) {
	if dbURL == "" {
		return filepath.Join(dataDir, DBFileName), nil
	}
	switch {
	case strings.HasPrefix(dbURL, "sqlite:"):
		return strings.TrimPrefix(strings.TrimPrefix(dbURL, "sqlite:"), "//"), nil
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		return "", fmt.Errorf("store URL %s: this build has only the embedded SQLite store; use --data DIR or --db sqlite:PATH", redactURL(dbURL))
	default:
		return "", fmt.Errorf("store URL %s: want sqlite:PATH", redactURL(dbURL))
	}
}

// LockSuffix names the lock file the server holds beside its store file
// (see package lockfile): doorlog.db.lock beside doorlog.db.
const LockSuffix = ".lock"

// SecretKeySuffix is added to the store's path to name the file of the key
// that seals the panels' passwords (package seal), when DOORLOG_SECRET_KEY
// does not give it.
const SecretKeySuffix = ".secret-key"

// SecretKeyPath returns the path of the secret key file beside the store.
func SecretKeyPath(dataDir, dbURL string) (string, error) {
	path, err := StorePath(dataDir, dbURL)
	if err != nil {
		return "", err
	}
	return path + SecretKeySuffix, nil
}

// OpenStore opens the store named by dbURL or, when that is empty, the
// embedded SQLite store in the data directory.
func OpenStore(ctx context.Context, dataDir, dbURL string) (*sqlite.DB, error) {
	path, err := StorePath(dataDir, dbURL)
	if err != nil {
		return nil, err
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
