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
