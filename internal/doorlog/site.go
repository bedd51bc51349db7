package doorlog

import (
	"regexp"
	"time"

	"github.com/google/uuid"
)

// Site is a building or customer: the unit of tenancy.
type Site struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

var siteIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks a site before it is stored.
func (s *Site) Validate() error {
	if !siteIDPattern.MatchString(s.ID) {
		return Errorf(EINVALID, "site id must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if s.Name == "" || len(s.Name) > 200 {
		return Errorf(EINVALID, "site name must be 1 to 200 bytes")
	}
	return nil
}

// Device is an intercom panel, door or lift controller.
type Device struct {
	// ID is a UUID in canonical lower-case form.
	ID        string
	SiteID    string
	Name      string
	Model     string
	CreatedAt time.Time
}

// Validate checks a device before it is stored, and puts its id in
// canonical form.
func (d *Device) Validate() error {
	id, err := CanonicalDeviceID(d.ID)
	if err != nil {
		return err
	}
	d.ID = id
	if !siteIDPattern.MatchString(d.SiteID) {
		return Errorf(EINVALID, "device site_id is required")
	}
	if d.Name == "" || len(d.Name) > 200 {
		return Errorf(EINVALID, "device name must be 1 to 200 bytes")
	}
	if len(d.Model) > 200 {
		return Errorf(EINVALID, "device model must be at most 200 bytes")
	}
	return nil
}

// CanonicalDeviceID parses a device UUID in any of its usual spellings and
// returns the canonical lower-case form.
func CanonicalDeviceID(s string) (string, error) {
	if len(s) != 36 {
		return "", Errorf(EINVALID, "device id %q is not a UUID", s)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", Errorf(EINVALID, "device id %q is not a UUID", s)
	}
	return u.String(), nil
}

// DeviceFilter selects devices.
type DeviceFilter struct {
	Scope   Scope
	SiteIDs []string
}
