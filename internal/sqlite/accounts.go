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

// CreateToken stores a new token. A device token must name an existing
// device (t.DeviceID is rewritten to its canonical form) and other roles
// must not name one; sites must exist. A zero CreatedAt is set to now;
// either way t.CreatedAt is left as stored, and t.ExpiresAt is truncated to
// the millisecond like every stored time.
func (db *DB) CreateToken(ctx context.Context, t *doorlog.Token) error {
	if t.ID == "" || len(t.ID) > 200 {
		return doorlog.Errorf(doorlog.EINVALID, "token id must be 1 to 200 bytes")
	}
	if len(t.SecretHash) == 0 {
		return doorlog.Errorf(doorlog.EINVALID, "token secret hash is required")
	}
	var device sql.NullInt64
	switch t.Role {
	case doorlog.RoleAdmin, doorlog.RoleManager:
		if t.DeviceID != "" {
			return doorlog.Errorf(doorlog.EINVALID, "only a device token names a device")
		}
	case doorlog.RoleDevice:
		id, err := doorlog.CanonicalDeviceID(t.DeviceID)
		if err != nil {
			return doorlog.Errorf(doorlog.EINVALID, "a device token needs the id of its device")
		}
		d, ok, err := db.device(ctx, id)
		if err != nil {
			return wrap("create token", err)
		}
		if !ok {
			return doorlog.Errorf(doorlog.EINVALID, "device %q does not exist", id)
		}
		t.DeviceID = id
		device = sql.NullInt64{Int64: d.code, Valid: true}
	default:
		return doorlog.Errorf(doorlog.EINVALID, "token role must be admin, manager or device")
	}
	sites, err := db.siteCodes(ctx, t.SiteIDs)
	if err != nil {
		return wrap("create token", err)
	}
	var expires sql.NullInt64
	if !t.ExpiresAt.IsZero() {
		expires = sql.NullInt64{Int64: millis(t.ExpiresAt), Valid: true}
	}
	var username sql.NullString
	if t.Username != "" {
		username = sql.NullString{String: t.Username, Valid: true}
	}
	created := createdAt(t.CreatedAt)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("create token", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, secret_hash, role, device, username, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.SecretHash, string(t.Role), device, username, millis(created), expires)
	if isUnique(err) {
		return doorlog.Errorf(doorlog.ECONFLICT, "token %q already exists", t.ID)
	}
	if err != nil {
		return wrap("create token", err)
	}
	code, err := res.LastInsertId()
	if err != nil {
		return wrap("create token", err)
	}
	for _, site := range sites {
		if _, err := tx.ExecContext(ctx, `INSERT INTO token_sites (token, site) VALUES (?, ?)`, code, site); err != nil {
			return wrap("create token", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap("create token", err)
	}
	t.CreatedAt = created
	if !t.ExpiresAt.IsZero() {
		t.ExpiresAt = doorlog.TruncateMillis(t.ExpiresAt)
	}
	return nil
}

// FindToken returns the token with id, or ENOTFOUND. It does not check
// expiry; that is the caller's (Token.Expired).
func (db *DB) FindToken(ctx context.Context, id string) (*doorlog.Token, error) {
	t := &doorlog.Token{ID: id}
	var code, created int64
	var role string
	var device, username sql.NullString
	var expires sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT t.code, t.secret_hash, t.role, d.id, t.username, t.created_ms, t.expires_ms
		FROM tokens t LEFT JOIN devices d ON d.code = t.device WHERE t.id = ?`, id).
		Scan(&code, &t.SecretHash, &role, &device, &username, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "token %q not found", id)
	}
	if err != nil {
		return nil, wrap("find token", err)
	}
	t.Role = doorlog.Role(role)
	t.DeviceID = device.String
	t.Username = username.String
	t.CreatedAt = fromMillis(created)
	if expires.Valid {
		t.ExpiresAt = fromMillis(expires.Int64)
	}
	t.SiteIDs, err = db.siteIDsOf(ctx, `SELECT s.id FROM token_sites x JOIN sites s ON s.code = x.site WHERE x.token = ?`, code)
	if err != nil {
		return nil, wrap("find token", err)
	}
	return t, nil
}

// DeleteToken removes the token with id (and its sites), so that a logout
// outlives a restart; ENOTFOUND when there is no such token.
func (db *DB) DeleteToken(ctx context.Context, id string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("delete token", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM token_sites WHERE token = (SELECT code FROM tokens WHERE id = ?)`, id); err != nil {
		return wrap("delete token", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE id = ?`, id)
	if err != nil {
		return wrap("delete token", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("delete token", err)
	} else if n == 0 {
		return doorlog.Errorf(doorlog.ENOTFOUND, "token %q not found", id)
	}
	return wrap("delete token", tx.Commit())
}
