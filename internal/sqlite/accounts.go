package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sort"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// siteCodes resolves a list of site ids to their codes, dropping repeats.
// A site that does not exist is EINVALID: a credential limited to a site
// nobody created is a typo, not a wish.
func (db *DB) siteCodes(ctx context.Context, ids []string) ([]int64, error) {
	seen := make(map[string]bool, len(ids))
	codes := make([]int64, 0, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		code, ok, err := db.siteCode(ctx, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, doorlog.Errorf(doorlog.EINVALID, "site %q does not exist", id)
		}
		codes = append(codes, code)
	}
	return codes, nil
}

// siteIDsOf reads the site ids of an account or token from its join table,
// sorted: the store keeps a set, not the order it was given.
func (db *DB) siteIDsOf(ctx context.Context, query string, code int64) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, query, code)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Strings(ids)
	return ids, nil
}

// CreateAccount stores a new account. Its role must be admin or manager and
// its sites must exist. A zero CreatedAt is set to now; either way
// a.CreatedAt is left as stored.
func (db *DB) CreateAccount(ctx context.Context, a *doorlog.Account) error {
	if a.Username == "" || len(a.Username) > 200 {
		return doorlog.Errorf(doorlog.EINVALID, "username must be 1 to 200 bytes")
	}
	if a.Role != doorlog.RoleAdmin && a.Role != doorlog.RoleManager {
		return doorlog.Errorf(doorlog.EINVALID, "account role must be admin or manager")
	}
	sites, err := db.siteCodes(ctx, a.SiteIDs)
	if err != nil {
		return wrap("create account", err)
	}
	created := createdAt(a.CreatedAt)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("create account", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO accounts (username, password_hash, role, created_ms) VALUES (?, ?, ?, ?)`,
		a.Username, a.PasswordHash, string(a.Role), millis(created))
	if isUnique(err) {
		return doorlog.Errorf(doorlog.ECONFLICT, "account %q already exists", a.Username)
	}
	if err != nil {
		return wrap("create account", err)
	}
	code, err := res.LastInsertId()
	if err != nil {
		return wrap("create account", err)
	}
	for _, site := range sites {
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_sites (account, site) VALUES (?, ?)`, code, site); err != nil {
			return wrap("create account", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap("create account", err)
	}
	a.CreatedAt = created
	return nil
}

// FindAccount returns the account with username, or ENOTFOUND.
func (db *DB) FindAccount(ctx context.Context, username string) (*doorlog.Account, error) {
	a := &doorlog.Account{Username: username}
	var code, created int64
	var role string
	err := db.r.QueryRowContext(ctx, `SELECT code, password_hash, role, created_ms FROM accounts WHERE username = ?`, username).
		Scan(&code, &a.PasswordHash, &role, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "account %q not found", username)
	}
	if err != nil {
		return nil, wrap("find account", err)
	}
	a.Role = doorlog.Role(role)
	a.CreatedAt = fromMillis(created)
	a.SiteIDs, err = db.siteIDsOf(ctx, `SELECT s.id FROM account_sites x JOIN sites s ON s.code = x.site WHERE x.account = ?`, code)
	if err != nil {
		return nil, wrap("find account", err)
	}
	return a, nil
}
