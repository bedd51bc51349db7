package sqlite

import (
	"context"
	"strings"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// CreateAck stores the first acknowledgement of a.EventID; the primary
// key refuses a second one.
func (db *DB) CreateAck(ctx context.Context, a *doorlog.Ack) error {
	if _, err := doorlog.ParseEventID(a.EventID); err != nil {
		return err
	}
	if a.Username == "" && a.TokenID == "" {
		return doorlog.Errorf(doorlog.EINVALID, "an ack needs a username or a token id")
	}
	a.At = createdAt(a.At)
	_, err := db.w.ExecContext(ctx, `INSERT INTO acks (event_id, site_id, device_id, username, token_id, at_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		a.EventID, a.SiteID, a.DeviceID, a.Username, a.TokenID, millis(a.At))
	if isUnique(err) {
		return doorlog.Errorf(doorlog.ECONFLICT, "event %s is already acknowledged", a.EventID)
	}
	return wrap("create ack", err)
}

// ListAcks returns the acks of eventIDs, by event id, in one statement.
func (db *DB) ListAcks(ctx context.Context, eventIDs []string) ([]*doorlog.Ack, error) {
	if len(eventIDs) > doorlog.MaxAckIDs {
		return nil, doorlog.Errorf(doorlog.EINVALID, "at most %d event ids at once, got %d", doorlog.MaxAckIDs, len(eventIDs))
	}
	out := []*doorlog.Ack{}
	if len(eventIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(eventIDs))
	for i, id := range eventIDs {
		if _, err := doorlog.ParseEventID(id); err != nil {
			return nil, err
		}
		args[i] = id
	}
	rows, err := db.r.QueryContext(ctx, `SELECT event_id, site_id, device_id, username, token_id, at_ms FROM acks
		WHERE event_id IN (?`+strings.Repeat(", ?", len(args)-1)+`) ORDER BY event_id`, args...)
	if err != nil {
		return nil, wrap("list acks", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a doorlog.Ack
		var at int64
		if err := rows.Scan(&a.EventID, &a.SiteID, &a.DeviceID, &a.Username, &a.TokenID, &at); err != nil {
			return nil, wrap("list acks", err)
		}
		a.At = fromMillis(at)
		out = append(out, &a)
	}
	return out, wrap("list acks", rows.Err())
}
