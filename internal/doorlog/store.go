package doorlog

import (
	"context"
	"time"
)

// Store keeps everything doorlog knows. Every backend (SQLite, PostgreSQL)
// implements it and passes the shared suite in package storetest.
//
// Missing rows are ENOTFOUND errors, never a nil result with a nil error;
// creating something that exists is ECONFLICT; input the store refuses is
// EINVALID.
type Store interface {
	CreateSite(ctx context.Context, s *Site) error
	FindSite(ctx context.Context, id string) (*Site, error)
	ListSites(ctx context.Context, scope Scope) ([]*Site, error)

	// CreateDevice fails with EINVALID when the device's site does not exist.
	CreateDevice(ctx context.Context, d *Device) error
	FindDevice(ctx context.Context, id string) (*Device, error)
	// FindCollectorState returns the collector's state for a device;
	// ENOTFOUND when it never stored one.
	FindCollectorState(ctx context.Context, deviceID string) (*CollectorState, error)
	// SaveCollectorState stores it (replacing the device's earlier one).
	SaveCollectorState(ctx context.Context, st *CollectorState) error

	// UpdateDevice replaces the name, model, listen address and pull
	// source of the device d.ID names (ENOTFOUND when there is none); its
	// site and creation time cannot change (a different SiteID is EINVALID). d is
	// written back as stored. A listen address another device has is
	// ECONFLICT, as it is on CreateDevice.
	UpdateDevice(ctx context.Context, d *Device) error
	ListDevices(ctx context.Context, f DeviceFilter) ([]*Device, error)

	CreateAccount(ctx context.Context, a *Account) error
	FindAccount(ctx context.Context, username string) (*Account, error)

	CreateToken(ctx context.Context, t *Token) error
	// FindToken returns the token with id, expired or not. It reads the
	// store every time: a token deleted by any process, this one or
	// another sharing the store, is ENOTFOUND from the next call on.
	FindToken(ctx context.Context, id string) (*Token, error)
	// ListTokens returns the tokens f selects, the newest first: ordered
	// by CreatedAt, then ID, both descending.
	ListTokens(ctx context.Context, f TokenFilter) ([]*Token, error)
	// DeleteToken removes the token with id, which revokes it; ENOTFOUND
	// when there is no such token.
	DeleteToken(ctx context.Context, id string) error
	// DeleteExpiredTokens removes every token expired at the time given
	// (see Token.Expired) and returns how many it removed. Tokens that
	// never expire are kept.
	DeleteExpiredTokens(ctx context.Context, at time.Time) (int64, error)

	// SetWatermark records a clear of k's log now (at w.ClearedAt, or
	// the store's clock when zero): it creates or replaces k's watermark
	// with After set to the newest event id stored, and returns it.
	// DeviceID must name an existing device or be "" (EINVALID).
	SetWatermark(ctx context.Context, k WatermarkKey, at time.Time) (*Watermark, error)
	// FindWatermark returns k's watermark; ENOTFOUND when k never cleared
	// (or its watermark was deleted).
	FindWatermark(ctx context.Context, k WatermarkKey) (*Watermark, error)
	// ListWatermarks returns every watermark, the most recent clear
	// first (by ClearedAt, then ID, both descending).
	ListWatermarks(ctx context.Context) ([]*Watermark, error)
	// DeleteWatermark removes the watermark with id, so that its reader
	// sees every event again; ENOTFOUND when there is none.
	DeleteWatermark(ctx context.Context, id string) error

	// AppendEvents stores the events in one durable transaction: when it
	// returns nil, every non-duplicate event is on disk. It returns one
	// result per event, in order. Events whose (DeviceID, SourceID) is
	// already stored, or repeated earlier in the same call, are duplicates.
	// Each event's DeviceID must name an existing device, or be empty for a
	// server event (whose SiteID must be empty too). An empty SiteID is
	// filled from the device; one that is not the device's is EINVALID.
	AppendEvents(ctx context.Context, events []Event) ([]AppendResult, error)
	// ListEvents returns one page ordered by (time, id) in q.Order.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
	// CountEvents returns the exact number of events matching f.
	CountEvents(ctx context.Context, f EventFilter) (int64, error)
	// EventKeys returns every distinct key ever stored, sorted.
	EventKeys(ctx context.Context) ([]string, error)
	// EventsAfter returns up to limit events matching f in arrival order
	// (by id), strictly after the event with id after ("" is before the
	// first). Live streams resume from a Last-Event-ID with it: ids follow
	// commit order, so nothing committed later can sort before them.
	EventsAfter(ctx context.Context, f EventFilter, after string, limit int) ([]Event, error)

	// The aggregations below serve charts and the devices view from the
	// store's counts, so that their cost follows the size of the answer
	// and the edges of the window, not the number of events in it. They
	// refuse the filters on the model (see EventFilter.HasModelFilter)
	// with EINVALID, since those would need every event read.

	// CountByHour returns the number of events matching f in each UTC
	// hour of its window, by category: one HourCount for every hour from
	// the one holding f.From to the one holding f.To, in order, zeros
	// included, so that a chart needs no gap filling. Both ends are
	// counted exactly, partial hours included. f.From and f.To are
	// required and may span at most MaxCountHours hours (EINVALID
	// otherwise); a window with From after To has no hours.
	CountByHour(ctx context.Context, f EventFilter) ([]HourCount, error)
	// CountByDevice returns the number of events matching f per device
	// id, for the devices that have any; the server's own events, which
	// have no device, are left out. It is what a "denials by device" chart
	// and a device's "today" figures need: one call instead of one count
	// per device.
	CountByDevice(ctx context.Context, f EventFilter) (map[string]int64, error)
	// LastEventTimes returns, for each device f selects that has events,
	// the time of its newest event (by event time, not by arrival), so
	// that a devices view can tell which devices went silent.
	LastEventTimes(ctx context.Context, f DeviceFilter) (map[string]time.Time, error)

	// CreateAck stores a's acknowledgement of the event a.EventID, whose
	// SiteID and DeviceID the caller copies from the event (the store
	// does not read the event: the API checked it exists and is an
	// alarm). A zero At is set to now; At is written back at millisecond
	// precision. The first ack of an event is kept: a second is ECONFLICT.
	// An EventID that does not parse, or an ack with neither Username nor
	// TokenID, is EINVALID.
	CreateAck(ctx context.Context, a *Ack) error
	// ListAcks returns the acks of those of eventIDs that have one,
	// ordered by event id; ids without an ack (unknown ones included)
	// are left out, and no ids give an empty result. More than
	// MaxAckIDs ids, or one that does not parse, is EINVALID.
	ListAcks(ctx context.Context, eventIDs []string) ([]*Ack, error)

	// ServerKey returns the 32-byte random secret stored under name,
	// creating it on first use. Cursors are signed with it, so they stay
	// valid across restarts and cannot be forged.
	ServerKey(ctx context.Context, name string) ([]byte, error)

	// Ping reports whether the store answers, for readiness checks.
	Ping(ctx context.Context) error
	Close() error
}
