package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

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

// selectTokens reads whole tokens, their sites included as a JSON array, in
// one statement: every authenticated request looks its token up, so one
// statement instead of two matters.
const selectTokens = `SELECT t.id, t.secret_hash, t.role, d.id, t.username, t.created_ms, t.expires_ms,
	(SELECT json_group_array(s.id) FROM token_sites x JOIN sites s ON s.code = x.site WHERE x.token = t.code)
	FROM tokens t LEFT JOIN devices d ON d.code = t.device`

// findTokenSQL is the statement of FindToken, prepared once on the read
// pool (see DB.findToken).
const findTokenSQL = selectTokens + ` WHERE t.id = ?`

// scanToken reads one row of selectTokens.
func scanToken(row interface{ Scan(...any) error }) (*doorlog.Token, error) {
	t := &doorlog.Token{}
	var created int64
	var role, sites string
	var device, username sql.NullString
	var expires sql.NullInt64
	if err := row.Scan(&t.ID, &t.SecretHash, &role, &device, &username, &created, &expires, &sites); err != nil {
		return nil, err
	}
	t.Role = doorlog.Role(role)
	t.DeviceID = device.String
	t.Username = username.String
	t.CreatedAt = fromMillis(created)
	if expires.Valid {
		t.ExpiresAt = fromMillis(expires.Int64)
	}
	if err := json.Unmarshal([]byte(sites), &t.SiteIDs); err != nil {
		return nil, fmt.Errorf("token sites: %w", err)
	}
	if len(t.SiteIDs) == 0 {
		t.SiteIDs = nil
	}
	sort.Strings(t.SiteIDs)
	return t, nil
}

// FindToken returns the token with id, or ENOTFOUND. It does not check
// expiry; that is the caller's (Token.Expired). It is one prepared
// statement on the read pool, cheap enough (about 20 µs) to run on every
// request, so that nothing needs caching tokens and a deletion by any
// process takes effect at once.
func (db *DB) FindToken(ctx context.Context, id string) (*doorlog.Token, error) {
	t, err := scanToken(db.findToken.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "token %q not found", id)
	}
	if err != nil {
		return nil, wrap("find token", err)
	}
	return t, nil
}

// ListTokens returns the tokens f selects, newest first.
func (db *DB) ListTokens(ctx context.Context, f doorlog.TokenFilter) ([]*doorlog.Token, error) {
	if f.Limit < 0 {
		return nil, doorlog.Errorf(doorlog.EINVALID, "limit must not be negative")
	}
	var where []string
	var args []any
	if !f.Scope.All {
		codes := make([]any, 0, len(f.Scope.SiteIDs))
		for _, id := range f.Scope.SiteIDs {
			code, ok, err := db.siteCode(ctx, id)
			if err != nil {
				return nil, wrap("list tokens", err)
			}
			if ok {
				codes = append(codes, code)
			}
		}
		if len(codes) == 0 {
			return nil, nil
		}
		in := placeholders(len(codes))
		// A device token by its device's site; any other by its sites,
		// of which it must have one and none outside the scope.
		where = append(where, `(t.device IS NOT NULL AND d.site IN (`+in+`)) OR
			(t.device IS NULL AND EXISTS (SELECT 1 FROM token_sites x WHERE x.token = t.code)
				AND NOT EXISTS (SELECT 1 FROM token_sites x WHERE x.token = t.code AND x.site NOT IN (`+in+`)))`)
		args = append(args, codes...)
		args = append(args, codes...)
	}
	if f.ID != "" {
		where = append(where, `t.id = ?`)
		args = append(args, f.ID)
	}
	if !f.ActiveAt.IsZero() {
		// Token.Expired at a time with sub-millisecond digits agrees with
		// this comparison of whole milliseconds, since expiries are stored
		// in whole milliseconds.
		where = append(where, `(t.expires_ms IS NULL OR t.expires_ms > ?)`)
		args = append(args, millis(f.ActiveAt))
	}
	if f.After != nil {
		ms := millis(f.After.CreatedAt)
		where = append(where, `(t.created_ms < ? OR (t.created_ms = ? AND t.id < ?))`)
		args = append(args, ms, ms, f.After.ID)
	}
	q := selectTokens
	if len(where) > 0 {
		q += ` WHERE (` + strings.Join(where, `) AND (`) + `)`
	}
	q += ` ORDER BY t.created_ms DESC, t.id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("list tokens", err)
	}
	defer rows.Close()
	var out []*doorlog.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap("list tokens", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list tokens", err)
	}
	return out, nil
}

// DeleteToken removes the token with id (and its sites), which revokes it
// for every process sharing the store from its next request on; ENOTFOUND
// when there is no such token.
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

// DeleteExpiredTokens removes the tokens expired at at, with their sites.
func (db *DB) DeleteExpiredTokens(ctx context.Context, at time.Time) (int64, error) {
	ms := millis(at)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap("delete expired tokens", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM token_sites WHERE token IN (SELECT code FROM tokens WHERE expires_ms <= ?)`, ms); err != nil {
		return 0, wrap("delete expired tokens", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE expires_ms <= ?`, ms)
	if err != nil {
		return 0, wrap("delete expired tokens", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("delete expired tokens", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, wrap("delete expired tokens", err)
	}
	return n, nil
}
