package doorlog

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Category is the coarse class of an event, from the catalog.
type Category string

// The four categories, in the order BAS-IP lists them.
const (
	CategoryAccess    Category = "access"
	CategoryEmergency Category = "emergency"
	CategorySystem    Category = "system"
	CategoryInfo      Category = "info"
)

// Categories lists every category in BAS-IP's order.
var Categories = []Category{CategoryAccess, CategoryEmergency, CategorySystem, CategoryInfo}

// Priority is how urgent an event is, from the catalog.
type Priority string

// The four priorities, in the order BAS-IP lists them.
const (
	PriorityCritical Priority = "critical"
	PriorityHigh     Priority = "high"
	PriorityLow      Priority = "low"
	PriorityMedium   Priority = "medium"
)

// Priorities lists every priority in BAS-IP's order.
var Priorities = []Priority{PriorityCritical, PriorityHigh, PriorityLow, PriorityMedium}

// Event is one thing that happened on a device, or on the server itself (its
// own logins, with DeviceID and SiteID empty). Events are immutable once
// stored; names and texts are rendered from the catalog on read.
type Event struct {
	// ID is assigned by the store: unique, and sortable by arrival (see
	// FormatEventID). It breaks ties between equal times.
	ID       string
	DeviceID string
	SiteID   string
	// Time is when the event happened on the device, in UTC, to the
	// millisecond.
	Time     time.Time
	Key      string
	Category Category
	Priority Priority
	// Model is the event's own data as a compact JSON object.
	Model json.RawMessage
	// SourceID is the sender's own id for the event; (DeviceID, SourceID)
	// is unique when SourceID is set, which makes ingest idempotent.
	SourceID string
}

// AppendResult tells what the store did with one appended event.
type AppendResult struct {
	// ID is the stored event's id; for a duplicate it is empty.
	ID string
	// Duplicate is true when an event with the same (DeviceID, SourceID)
	// was already stored, so nothing was written.
	Duplicate bool
}

// Order is the direction of a listing by (time, id).
type Order int

// The two orders of a listing.
const (
	Asc Order = iota
	Desc
)

// Scope is what a reader may see. Its zero value sees nothing, so a
// forgotten scope fails closed.
type Scope struct {
	// All sees every site and the server's own events.
	All bool
	// SiteIDs, when All is false, are the only sites visible.
	SiteIDs []string
}

// Allows reports whether a site is visible in the scope.
func (s Scope) Allows(siteID string) bool {
	if s.All {
		return true
	}
	if siteID == "" {
		return false
	}
	for _, id := range s.SiteIDs {
		if id == siteID {
			return true
		}
	}
	return false
}

// EventFilter selects events. Every non-empty field narrows the selection;
// the Scope is always applied.
type EventFilter struct {
	Scope      Scope
	SiteIDs    []string
	DeviceIDs  []string
	Categories []Category
	Priorities []Priority
	Keys       []string
	// From and To bound Time, both inclusive; the zero time leaves that end
	// open.
	From, To time.Time
	// IdentifierNumbers and IdentifierTypes match the identifier in the
	// model: "number"/"type", "identifier_number"/"identifier_type", or
	// the "card" and "qr" fields (whose type is card and qr). Numbers
	// match as text, so 12345 and "12345" are the same.
	IdentifierNumbers []string
	IdentifierTypes   []string
	// Text, when set, keeps events whose model JSON contains it (case
	// insensitive for ASCII) or whose key is one of TextKeys. Rendered
	// texts are not stored, so the caller puts in TextKeys the keys whose
	// name in any locale contains the text (the catalog knows them).
	Text     string
	TextKeys []string
	// StoredAfter, when set, keeps the events stored after the event with
	// this id (in arrival order, as EventsAfter reads them): what a BAS-IP
	// reader sees behind its Watermark. The store lists and counts them by
	// reading the events stored since, so it is meant for a recent id;
	// the aggregations refuse it with EINVALID.
	StoredAfter string
}

// EventCursor is a position in a (time, id) listing: the last event seen.
type EventCursor struct {
	Time time.Time
	ID   string
}

// EventQuery is one page of a filtered listing ordered by (time, id).
type EventQuery struct {
	Filter EventFilter
	Order  Order
	// After, when set, starts the page just past this position in Order
	// (keyset paging); Offset then still applies after it.
	After *EventCursor
	// Offset skips that many events; negative is EINVALID.
	Offset int
	// Limit is the most events returned; 0 means no limit, negative is
	// EINVALID.
	Limit int
	// MaxBytes, when positive, also ends the page by size: it ends with the
	// first event whose model brings the sum of the page's model sizes to
	// MaxBytes or more, so a page holds at least one event and at most
	// MaxBytes plus one model. It bounds a page's memory however large the
	// models are; a caller knows a page may have been cut short by it when
	// its models add up to MaxBytes or more (see PageBytes). Negative is
	// EINVALID.
	MaxBytes int
}

// MaxModelBytes is the largest model, in bytes of compact JSON, that the
// server accepts, and so the largest it stores and reads back: the bound
// from which the memory of a page of events is reckoned.
const MaxModelBytes = 16 << 10

// PageBytes returns the sum of the sizes of the events' models, the measure
// EventQuery.MaxBytes bounds.
func PageBytes(events []Event) int {
	n := 0
	for i := range events {
		n += len(events[i].Model)
	}
	return n
}

// Event IDs are the store's arrival sequence written in 13 characters of
// Crockford base32, so that they sort as strings the way they sort as
// numbers and do not look like something to do arithmetic on.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// EventIDLen is the length of every event id.
const EventIDLen = 13

// FormatEventID writes an arrival sequence number as an event id.
func FormatEventID(seq int64) string {
	var b [EventIDLen]byte
	u := uint64(seq)
	for i := EventIDLen - 1; i >= 0; i-- {
		b[i] = crockford[u&31]
		u >>= 5
	}
	return string(b[:])
}

// ParseEventID reads an event id back into its arrival sequence number.
func ParseEventID(id string) (int64, error) {
	if len(id) != EventIDLen {
		return 0, Errorf(EINVALID, "invalid event id %q", id)
	}
	var u uint64
	for i := 0; i < len(id); i++ {
		c := strings.IndexByte(crockford, id[i])
		if c < 0 || (i == 0 && c > 7) {
			return 0, Errorf(EINVALID, "invalid event id %q", id)
		}
		u = u<<5 | uint64(c)
	}
	return int64(u), nil
}

// TruncateMillis returns t in UTC at millisecond precision, the precision the
// store keeps.
func TruncateMillis(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// String is for logs and test failures.
func (e Event) String() string {
	return fmt.Sprintf("event %s %s device=%s key=%s source=%s", e.ID, e.Time.Format(time.RFC3339Nano), e.DeviceID, e.Key, e.SourceID)
}
