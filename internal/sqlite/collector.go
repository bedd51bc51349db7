package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// FindCollectorState returns the collector's state for a device.
func (db *DB) FindCollectorState(ctx context.Context, deviceID string) (*doorlog.CollectorState, error) {
	st := doorlog.CollectorState{DeviceID: deviceID}
	var success, errAt sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT position_ms, collected, gaps, success_ms, error, error_ms FROM collector_state WHERE device = ?`, deviceID).
		Scan(&st.Position, &st.Collected, &st.Gaps, &success, &st.LastError, &errAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, doorlog.Errorf(doorlog.ENOTFOUND, "no collector state for device %q", deviceID)
	}
	if err != nil {
		return nil, wrap("find collector state", err)
	}
	if success.Valid {
		st.LastSuccess = fromMillis(success.Int64)
	}
	if errAt.Valid {
		st.LastErrorAt = fromMillis(errAt.Int64)
	}
	return &st, nil
}

// SaveCollectorState stores the collector's state for its device.
func (db *DB) SaveCollectorState(ctx context.Context, st *doorlog.CollectorState) error {
	if st.DeviceID == "" {
		return doorlog.Errorf(doorlog.EINVALID, "collector state needs a device")
	}
	optional := func(ms int64, zero bool) sql.NullInt64 { return sql.NullInt64{Int64: ms, Valid: !zero} }
	_, err := db.w.ExecContext(ctx, `INSERT INTO collector_state (device, position_ms, collected, gaps, success_ms, error, error_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device) DO UPDATE SET position_ms = excluded.position_ms, collected = excluded.collected, gaps = excluded.gaps,
			success_ms = excluded.success_ms, error = excluded.error, error_ms = excluded.error_ms`,
		st.DeviceID, st.Position, st.Collected, st.Gaps,
		optional(millis(st.LastSuccess), st.LastSuccess.IsZero()), st.LastError, optional(millis(st.LastErrorAt), st.LastErrorAt.IsZero()))
	return wrap("save collector state", err)
}
