package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// SetWatermark records a clear of k's log at at (now when zero), after the
// newest event stored, in one statement so that no commit falls between
// reading the newest seq and writing it.
func (db *DB) SetWatermark(ctx context.Context, k doorlog.WatermarkKey, at time.Time) (*doorlog.Watermark, error) {
	if (k.Username == "") == (k.TokenID == "") {
		return nil, doorlog.Errorf(doorlog.EINVALID, "a watermark belongs to an account or to a token, one of them")
	}
	if k.DeviceID != "" {
		id, err := doorlog.CanonicalDeviceID(k.DeviceID)
		if err != nil {
			return nil, doorlog.Errorf(doorlog.EINVALID, "device %q does not exist", k.DeviceID)
		}
		if _, ok, err := db.device(ctx, id); err != nil {
			return nil, wrap("set watermark", err)
		} else if !ok {
			return nil, doorlog.Errorf(doorlog.EINVALID, "device %q does not exist", id)
		}
		k.DeviceID = id
	}
	at = createdAt(at)
	_, err := db.w.ExecContext(ctx, `INSERT INTO watermarks (username, token_id, device, after_seq, cleared_ms)
		VALUES (?, ?, ?, (SELECT value FROM store_state WHERE name = 'seq'), ?)
		ON CONFLICT (username, token_id, device) DO UPDATE SET after_seq = excluded.after_seq, cleared_ms = excluded.cleared_ms`,
		k.Username, k.TokenID, k.DeviceID, millis(at))
	if err != nil {
		return nil, wrap("set watermark", err)
	}
	return db.FindWatermark(ctx, k)
}

// watermarkColumns are the columns scanWatermark reads.
const watermarkColumns = `SELECT code, username, token_id, device, after_seq, cleared_ms FROM watermarks`

// FindWatermark returns k's watermark.
func (db *DB) FindWatermark(ctx context.Context, k doorlog.WatermarkKey) (*doorlog.Watermark, error) {
	if k.DeviceID != "" {
		if id, err := doorlog.CanonicalDeviceID(k.DeviceID); err == nil {
			k.DeviceID = id
		}
	}
	w, err := scanWatermark(db.r.QueryRowContext(ctx, watermarkColumns+` WHERE username = ? AND token_id = ? AND device = ?`,
		k.Username, k.TokenID, k.DeviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "no watermark")
	}
	return w, wrap("find watermark", err)
}

// ListWatermarks returns every watermark, the most recent clear first.
func (db *DB) ListWatermarks(ctx context.Context) ([]*doorlog.Watermark, error) {
	rows, err := db.r.QueryContext(ctx, watermarkColumns+` ORDER BY cleared_ms DESC, code DESC`)
	if err != nil {
		return nil, wrap("list watermarks", err)
	}
	defer rows.Close()
	out := []*doorlog.Watermark{}
	for rows.Next() {
		w, err := scanWatermark(rows)
		if err != nil {
			return nil, wrap("list watermarks", err)
		}
		out = append(out, w)
	}
	return out, wrap("list watermarks", rows.Err())
}

// DeleteWatermark removes the watermark with id.
func (db *DB) DeleteWatermark(ctx context.Context, id string) error {
	code, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return doorlog.Errorf(doorlog.ENOTFOUND, "watermark %q not found", id)
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM watermarks WHERE code = ?`, code)
	if err != nil {
		return wrap("delete watermark", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("delete watermark", err)
	} else if n == 0 {
		return doorlog.Errorf(doorlog.ENOTFOUND, "watermark %q not found", id)
	}
	return nil
}

func scanWatermark(row interface{ Scan(...any) error }) (*doorlog.Watermark, error) {
	var w doorlog.Watermark
	var code, seq, cleared int64
	if err := row.Scan(&code, &w.Username, &w.TokenID, &w.DeviceID, &seq, &cleared); err != nil {
		return nil, err
	}
	w.ID = strconv.FormatInt(code, 10)
	if seq > 0 {
		w.After = doorlog.FormatEventID(seq)
	}
	w.ClearedAt = fromMillis(cleared)
	return &w, nil
}
