package doorlog

import (
	"net/netip"
	"net/url"
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
	ID     string
	SiteID string
	Name   string
	Model  string
	// Listen is the address (IP:port, canonical: 127.0.0.2:80, [::1]:80)
	// on which the server also serves this device's panel API alone, for
	// clients that can be given only a panel's address; "" for none.
	Listen string
	// Pull, when set, is the BAS-IP panel the server reads this device's
	// log from (package collector).
	Pull      *PullSource
	CreatedAt time.Time
}

// PullSource is a BAS-IP panel a device's events are read from: its base
// URL and an admin's credentials. The password is kept sealed (package
// seal): the store never holds it in clear, and no API answers it.
type PullSource struct {
	URL      string
	Username string
	// SealedPassword is the password, encrypted with the server's key.
	SealedPassword []byte
}

// Validate checks a pull source's URL and username.
func (p *PullSource) Validate() error {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(p.URL) > 2000 {
		return Errorf(EINVALID, "pull url %q must be an http or https URL of a panel, such as http://192.0.2.10 (no credentials, query or fragment in it)", p.URL)
	}
	if p.Username == "" || len(p.Username) > 200 {
		return Errorf(EINVALID, "pull username must be 1 to 200 bytes")
	}
	if len(p.SealedPassword) == 0 {
		return Errorf(EINVALID, "pull password is required")
	}
	return nil
}

// CollectorState is where the pull collector stands with one device: what
// it has read, and how its last attempts went. The store keeps it so
// that a restart goes on from the same place.
type CollectorState struct {
	DeviceID string
	// Position is the panel's timestamp (its own clock, in ms) of the
	// newest event read; the next read starts there, inclusive.
	Position int64
	// Collected and Gaps count the events stored and the gaps recorded.
	Collected, Gaps int64
	// LastSuccess is when a read last went through; LastError and
	// LastErrorAt say what last failed, and when ("" once a read
	// succeeds again).
	LastSuccess time.Time
	LastError   string
	LastErrorAt time.Time
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
	listen, err := CanonicalListen(d.Listen)
	if err != nil {
		return err
	}
	d.Listen = listen
	if d.Pull != nil {
		return d.Pull.Validate()
	}
	return nil
}

// CanonicalListen checks a device's listen address and returns its
// canonical form: an IP address (v4, or v6 in brackets) and a port from 1
// to 65535. Names are refused: what a name resolves to changes, and a
// panel's address must not. "" (no address) stays "".
func CanonicalListen(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return "", Errorf(EINVALID, "listen %q must be an IP address and a port, such as 192.0.2.10:80 or [2001:db8::10]:80", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
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
