package doorlog

import "time"

// Role is what a credential may do.
type Role string

// The three roles.
const (
	// RoleAdmin may do everything within its scope (all sites when it lists
	// none).
	RoleAdmin Role = "admin"
	// RoleManager may read the events of its sites.
	RoleManager Role = "manager"
	// RoleDevice may only ingest events for its own device.
	RoleDevice Role = "device"
)

// Account is a person who logs in with a username and password.
type Account struct {
	Username string
	// PasswordHash is the slow salted hash of the password (see package
	// auth); the password itself is never stored.
	PasswordHash string
	// Role is RoleAdmin or RoleManager.
	Role      Role
	SiteIDs   []string
	CreatedAt time.Time
}

// Token is a bearer credential. Only a hash of its secret is stored.
type Token struct {
	// ID is the public part of the token, used to find it.
	ID string
	// SecretHash is the hash of the secret part (see package auth).
	SecretHash []byte
	Role       Role
	// SiteIDs limits an admin or manager token; for an admin, none means
	// every site.
	SiteIDs []string
	// DeviceID is the device a RoleDevice token ingests for.
	DeviceID string
	// Username is the account the token was issued to by a login, if any.
	Username  string
	CreatedAt time.Time
	// ExpiresAt is when the token stops working; the zero time is never.
	ExpiresAt time.Time
}

// Scope returns what the token may read.
func (t *Token) Scope() Scope {
	switch t.Role {
	case RoleAdmin:
		if len(t.SiteIDs) == 0 {
			return Scope{All: true}
		}
		return Scope{SiteIDs: t.SiteIDs}
	case RoleManager:
		return Scope{SiteIDs: t.SiteIDs}
	default:
		return Scope{}
	}
}

// Expired reports whether the token no longer works at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// Confines reports whether token t lies wholly inside the scope, which is
// what lets an admin of those sites list and revoke it: every token for
// Scope.All; otherwise an admin or manager token that names at least one
// site, all of them in the scope (an admin token of every site names none,
// so it is confined to no restricted scope), or a device token whose
// device is in one of the scope's sites. deviceSiteID is the site of t's
// device, for a device token ("" when it is not known).
func (s Scope) Confines(t *Token, deviceSiteID string) bool {
	if s.All {
		return true
	}
	if t.Role == RoleDevice {
		return s.Allows(deviceSiteID)
	}
	if len(t.SiteIDs) == 0 {
		return false
	}
	for _, id := range t.SiteIDs {
		if !s.Allows(id) {
			return false
		}
	}
	return true
}

// TokenCursor is a position in a token listing: the last token seen.
type TokenCursor struct {
	CreatedAt time.Time
	ID        string
}

// TokenFilter selects tokens for Store.ListTokens. Every non-zero field
// narrows the selection; the Scope is always applied.
type TokenFilter struct {
	// Scope keeps the tokens it confines (see Scope.Confines).
	Scope Scope
	// ID, when set, keeps only the token with that id.
	ID string
	// ActiveAt, when not zero, leaves out the tokens expired at that time
	// (see Token.Expired).
	ActiveAt time.Time
	// After, when set, starts the list just past this position (keyset
	// paging).
	After *TokenCursor
	// Limit is the most tokens returned; 0 means no limit, negative is
	// EINVALID.
	Limit int
}

// Watermark is where a BAS-IP reader cleared its log (POST
// /api/v1/system/data/clear): doorlog deletes nothing for it, and that
// reader's BAS-IP listings show only the events stored after After, as the
// panel would after deleting its log. Every other reader, API and the web
// page still see everything.
type Watermark struct {
	// ID names the watermark in the management API; the store assigns it.
	ID string
	WatermarkKey
	// After is the id of the newest event stored when the clear was made
	// ("" when the store held none); the store sets it.
	After string
	// ClearedAt is when the clear was made.
	ClearedAt time.Time
}

// WatermarkKey is whose log a watermark clears: one account (or, for a
// token made without one, that token) on one device's panel address or
// per-device path, or on the root listing (DeviceID "").
type WatermarkKey struct {
	// Username is the account that cleared; "" for a token made without
	// an account (by the CLI or the management API).
	Username string
	// TokenID is the token that cleared, set only when Username is "".
	TokenID string
	// DeviceID is the device whose log was cleared; "" for the root.
	DeviceID string
}

// WatermarkKeyOf returns the key of a clear made with t on the log of
// deviceID ("" for the root): the token's account, or the token itself
// when it has none.
func WatermarkKeyOf(t *Token, deviceID string) WatermarkKey {
	if t.Username != "" {
		return WatermarkKey{Username: t.Username, DeviceID: deviceID}
	}
	return WatermarkKey{TokenID: t.ID, DeviceID: deviceID}
}
