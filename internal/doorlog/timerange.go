package doorlog

import "time"

// The times an event may have, in milliseconds since the Unix epoch: from
// the epoch itself (1970-01-01T00:00:00.000Z) to the last millisecond of
// year 9999 (9999-12-31T23:59:59.999Z). Ingest refuses an item whose time,
// after its RFC 3339 offset is applied, falls outside; the native API
// refuses a from or to outside. The epoch is the earliest a device clock
// that was never set reports, and year 9999 the last RFC 3339 can write, so
// every stored time reads back the same through every API.
const (
	MinEventMillis int64 = 0
	MaxEventMillis int64 = 253402300799999
)

// EventTimeRange is the range as text, for error messages.
const EventTimeRange = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"

// ValidEventTime reports whether t, at millisecond precision, is within
// MinEventMillis and MaxEventMillis.
func ValidEventTime(t time.Time) bool {
	ms := t.UnixMilli()
	return MinEventMillis <= ms && ms <= MaxEventMillis
}
