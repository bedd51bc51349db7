package doorlog

import "time"

// Ack is a person's acknowledgement of an alarm event: the guard who saw
// it and took it in hand. It is stored apart from the event, because
// events are immutable, and at most once per event: the first
// acknowledgement is the one everybody's alarm strip shows, so a second
// guard acknowledging the same alarm meanwhile learns who was first
// instead of overwriting it.
type Ack struct {
	// EventID is the acknowledged event's id; it is the ack's identity.
	EventID string
	// SiteID and DeviceID are the event's, kept so that the ack can be
	// scoped and shown without reading the event again.
	SiteID   string
	DeviceID string
	// Username is who acknowledged: the token's account, or "token
	// <id prefix>" for a token made without one (see AckUsername).
	Username string
	// TokenID is the token that acknowledged, for auditing.
	TokenID string
	// At is when it was acknowledged; the store sets a zero At to now and
	// keeps it to the millisecond.
	At time.Time
}

// MaxAckIDs is the most event ids one Store.ListAcks call may ask about:
// a page of alarms is far fewer, and a bound keeps one statement's
// parameters within what every backend takes.
const MaxAckIDs = 1000

// AckUsername returns the name an ack made with t records: the token's
// account, or for a token made without one (by the CLI or the
// management API) "token " and the first 8 characters of its id, which
// tells the tokens apart in a list of tokens without being a secret.
func AckUsername(t *Token) string {
	if t.Username != "" {
		return t.Username
	}
	id := t.ID
	if len(id) > 8 {
		id = id[:8]
	}
	return "token " + id
}
