package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
)

// The open alarms of a guard room: recent events whose key is an alarm,
// and who acknowledged each (doorlog.Ack). An acknowledgement is stored
// once per event, the first kept, and is itself an event in the log
// (KeyAlarmAcknowledged) for the alarm's device, appended through the
// ingest path like any device's, so that it shows in every API and the
// live stream.
//
// Who may: the tokens that read events (admins, and managers within
// their sites) list the alarms they can read and acknowledge them;
// device tokens, which only ingest, may do neither (403). An alarm
// outside the token's scope is answered as one that does not exist.

// KeyAlarmAcknowledged is the key of the event that records an
// acknowledgement (in the catalog): its model holds "username",
// "alarm_key" and "alarm_event_id".
const KeyAlarmAcknowledged = "alarm_acknowledged"

// isAlarmKey reports whether events of key are alarms, the events a guard
// acknowledges: a tampered panel, a door held open, locks released by an
// alarm, and events a panel lost before doorlog read them.
func isAlarmKey(key string) bool {
	switch key {
	case "tamper_event", "door_was_not_closed_too_long", "emergency_lock_is_opened", "collector_gap":
		return true
	}
	return false
}

// alarmKeys returns the alarm keys, in a new slice each time.
func alarmKeys() []string {
	return []string{"tamper_event", "door_was_not_closed_too_long", "emergency_lock_is_opened", "collector_gap"}
}

// Limits of GET /v1/alarms: a strip of recent alarms, not a history (GET
// /v1/events with key= is that).
const (
	defaultAlarmsWindow = 24 * time.Hour
	maxAlarmsWindow     = 7 * 24 * time.Hour
	defaultAlarmsLimit  = 50
	maxAlarmsLimit      = 200
)

// ackSourcePrefix starts the source id of an acknowledgement's event,
// followed by the alarm's event id: one acknowledgement an alarm, so a
// retried append is a duplicate and the event is stored once.
const ackSourcePrefix = "ack:"

// ackTokenID is the id of the device token the acknowledgement events are
// ingested under; it is never stored.
const ackTokenID = "alarm-ack"

// ackJSON is an acknowledgement as GET /v1/alarms shows it beside its
// alarm.
type ackJSON struct {
	Username string `json:"username"`
	// At is written as every time of the native API is: UTC, to the
	// millisecond, always three digits.
	At string `json:"at"`
}

// ackCreatedJSON is the answer to POST /v1/alarms/{event_id}/ack.
type ackCreatedJSON struct {
	EventID  string `json:"event_id"`
	Username string `json:"username"`
	At       string `json:"at"`
}

// listAlarms serves GET /v1/alarms: the alarms of the token's scope since
// since (24 hours ago by default, at most 7 days back), newest first, at
// most limit (50 by default, 200 at most), each rendered as GET /v1/events
// renders it (in locale) with its "ack" or null, and "open", how many of
// them no one acknowledged.
func (h *Handler) listAlarms(w http.ResponseWriter, r *http.Request) {
	tok, err := requireRole(r, doorlog.RoleAdmin, doorlog.RoleManager)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	now := h.cfg.Now()
	since, err := timeParam(q, "since")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if since.IsZero() {
		since = now.Add(-defaultAlarmsWindow)
	} else if since.Before(now.Add(-maxAlarmsWindow)) {
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "since: at most 7 days back (GET /v1/events?key=… lists older alarms)"))
		return
	}
	limit, err := intParam(q, "limit", defaultAlarmsLimit, 1, maxAlarmsLimit)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	locale, err := localeParam(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	query := doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: tok.Scope(), Keys: alarmKeys(), From: since},
		Order: doorlog.Desc, Limit: limit}
	res, err := h.cfg.Budget.Reads.ReservePage(r.Context(), query.Limit, 0)
	if err != nil {
		h.writeError(w, r, errReadBusy)
		return
	}
	defer res.Release()
	events, err := h.cfg.Store.ListEvents(r.Context(), query)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := res.Fit(r.Context(), events); err != nil {
		h.writeError(w, r, errReadBusy)
		return
	}
	ids := make([]string, len(events))
	for i := range events {
		ids[i] = events[i].ID
	}
	acks, err := h.cfg.Store.ListAcks(r.Context(), ids)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	byEvent := make(map[string]*doorlog.Ack, len(acks))
	for _, a := range acks {
		byEvent[a.EventID] = a
	}

	buf := make([]byte, 0, 64+len(events)*600)
	buf = append(buf, `{"alarms":[`...)
	enc := h.encoder(locale)
	open := 0
	for i := range events {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = enc.appendEvent(buf, &events[i])
		buf = append(buf[:len(buf)-1], `,"ack":`...) // into the event's object
		if a := byEvent[events[i].ID]; a != nil {
			b, _ := json.Marshal(ackJSON{Username: a.Username, At: a.At.UTC().Format(timeLayout)})
			buf = append(buf, b...)
		} else {
			buf = append(buf, "null"...)
			open++
		}
		buf = append(buf, '}')
	}
	buf = append(buf, `],"open":`...)
	buf = strconv.AppendInt(buf, int64(open), 10)
	buf = append(buf, `,"since":"`...)
	buf = appendTime(buf, since, time.UTC)
	buf = append(buf, "\"}\n"...)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

// ackAlarm serves POST /v1/alarms/{event_id}/ack: it stores the token's
// acknowledgement of the alarm and appends its KeyAlarmAcknowledged
// event, then answers 201. An event that does not exist or is outside
// the token's scope is 404, one that is no alarm 400, and an alarm
// acknowledged already 409, naming who did.
//
// The ack is stored first, so that of two guards the first wins; the event
// follows. Should its append fail (a 5xx), the ack stays, and a retried
// POST, answered 409, appends the event again: its source id makes that a
// duplicate when the first append went through, so the event is stored
// once however often the POST is retried.
func (h *Handler) ackAlarm(w http.ResponseWriter, r *http.Request) {
	tok, err := requireRole(r, doorlog.RoleAdmin, doorlog.RoleManager)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	id := r.PathValue("event_id")
	alarm, err := h.findEvent(r.Context(), tok, id)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if !isAlarmKey(alarm.Key) {
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "event %s is %s, not an alarm (tamper_event, door_was_not_closed_too_long, emergency_lock_is_opened or collector_gap)", id, alarm.Key))
		return
	}
	if alarm.DeviceID == "" {
		// Only the server's own events lack a device, and none is an alarm.
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "event %s has no device to record the acknowledgement for", id))
		return
	}
	ack := &doorlog.Ack{EventID: alarm.ID, SiteID: alarm.SiteID, DeviceID: alarm.DeviceID,
		Username: doorlog.AckUsername(tok), TokenID: tok.ID, At: h.cfg.Now()}
	if err := h.cfg.Store.CreateAck(r.Context(), ack); err != nil {
		if doorlog.ErrorCode(err) == doorlog.ECONFLICT {
			err = h.alreadyAcked(r.Context(), alarm)
		}
		h.writeError(w, r, err)
		return
	}
	if err := h.appendAckEvent(r.Context(), alarm, ack); err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ackCreatedJSON{EventID: ack.EventID, Username: ack.Username, At: ack.At.UTC().Format(timeLayout)})
}

// alreadyAcked returns the ECONFLICT of an alarm acknowledged before,
// naming who and when, once the acknowledgement's event is stored (a
// duplicate, unless the POST that stored the ack failed before it).
func (h *Handler) alreadyAcked(ctx context.Context, alarm *doorlog.Event) error {
	acks, err := h.cfg.Store.ListAcks(ctx, []string{alarm.ID})
	if err != nil {
		return err
	}
	if len(acks) == 0 {
		return doorlog.Errorf(doorlog.EINTERNAL, "ack of %s refused as a conflict, but none is stored", alarm.ID)
	}
	first := acks[0]
	if err := h.appendAckEvent(ctx, alarm, first); err != nil {
		return err
	}
	return doorlog.Errorf(doorlog.ECONFLICT, "alarm %s was already acknowledged by %s at %s", alarm.ID, first.Username,
		first.At.UTC().Format(time.RFC3339))
}

// appendAckEvent stores the KeyAlarmAcknowledged event of ack for the
// alarm's device, at the time of the ack, through the ingest path as the
// pull collector stores its gaps (under a device token of the alarm's
// device, never stored).
func (h *Handler) appendAckEvent(ctx context.Context, alarm *doorlog.Event, ack *doorlog.Ack) error {
	model, err := json.Marshal(struct {
		Username     string `json:"username"`
		AlarmKey     string `json:"alarm_key"`
		AlarmEventID string `json:"alarm_event_id"`
	}{ack.Username, alarm.Key, alarm.ID})
	if err != nil {
		return err
	}
	item := ingest.Item{DeviceID: alarm.DeviceID, Time: json.RawMessage(strconv.FormatInt(ack.At.UnixMilli(), 10)),
		Key: KeyAlarmAcknowledged, Model: model, SourceID: ackSourcePrefix + alarm.ID}
	dev := &doorlog.Token{ID: ackTokenID, Role: doorlog.RoleDevice, DeviceID: alarm.DeviceID}
	res, err := h.cfg.Ingest.IngestItems(ctx, dev, []ingest.Item{item})
	if err != nil {
		return err
	}
	if len(res.Rejected) > 0 {
		return doorlog.Errorf(doorlog.EINTERNAL, "the acknowledgement event of %s was refused: %s", alarm.ID, res.Rejected[0].Error)
	}
	return nil
}

// findEvent returns the event with id if tok may read it, and ENOTFOUND
// otherwise, whether it does not exist or is outside tok's scope, so that
// an id tells nothing of other sites. It reads the one event stored just
// after the id before it (ids are arrival numbers), without the scope, so
// that it costs one row whatever the scope; the scope is checked on it.
func (h *Handler) findEvent(ctx context.Context, tok *doorlog.Token, id string) (*doorlog.Event, error) {
	notFound := doorlog.Errorf(doorlog.ENOTFOUND, "event %q not found", id)
	seq, err := doorlog.ParseEventID(id)
	if err != nil || seq < 1 {
		return nil, notFound
	}
	before := ""
	if seq > 1 {
		before = doorlog.FormatEventID(seq - 1)
	}
	page, err := h.cfg.Store.EventsAfter(ctx, doorlog.EventFilter{Scope: doorlog.Scope{All: true}}, before, 1)
	switch {
	case doorlog.ErrorCode(err) == doorlog.EINVALID: // past the newest id
		return nil, notFound
	case err != nil:
		return nil, err
	case len(page) == 0 || page[0].ID != id || !tok.Scope().Allows(page[0].SiteID):
		return nil, notFound
	}
	return &page[0], nil
}
