package auth

import (
	"strconv"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// Default lifetimes of the tokens made by `doorlog token create` and
// POST /v1/tokens when no expiry is given. A person's token (admin,
// manager) lasts a quarter, so that a forgotten one does not work for
// ever; a device's lasts a year, because a panel whose token expires stops
// delivering its events until someone notices and gives it a new one.
// "never" must be asked for explicitly.
const (
	DefaultPersonExpiry = 90 * 24 * time.Hour
	DefaultDeviceExpiry = 365 * 24 * time.Hour
)

// MaxExpiry is the longest lifetime that may be given; past it, "never"
// says what is meant.
const MaxExpiry = 100 * 365 * 24 * time.Hour

// ExpiredTokenRetention is how long an expired token is kept before the
// server purges it from the store: long enough that an admin can still see
// (GET /v1/tokens?expired=true, doorlog token list --expired) which token
// of a silent device expired, short enough that the login tokens of every
// day (LoginTTL each) do not pile up.
const ExpiredTokenRetention = 7 * 24 * time.Hour

// DefaultExpiry is the lifetime a token of role gets when none is asked
// for.
func DefaultExpiry(role doorlog.Role) time.Duration {
	if role == doorlog.RoleDevice {
		return DefaultDeviceExpiry
	}
	return DefaultPersonExpiry
}

// ParseExpiry reads a token lifetime as the CLI's --expires and the API's
// expires_in take it: a positive Go duration ("720h", "1h30m"), a whole
// number of days ("90d"), or "never". It returns the lifetime, 0 for
// never. Anything else, and anything longer than MaxExpiry, is EINVALID.
func ParseExpiry(s string) (time.Duration, error) {
	if s == "never" {
		return 0, nil
	}
	bad := doorlog.Errorf(doorlog.EINVALID, "expiry must be a positive duration such as \"720h\" or \"90d\" (at most 100 years), or \"never\"; got %.64q", s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n <= 0 || n > int64(MaxExpiry/(24*time.Hour)) {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 || d > MaxExpiry {
		return 0, bad
	}
	return d, nil
}
