package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
)

// loginFlags are serve's flags of login throttling (docs/operations.md,
// "Login throttling"). Each has a DOORLOG_* environment variable, read
// when the flag is not given.
type loginFlags struct {
	trustedProxies string
	accountLimit   int
	addressLimit   int
	lockout        time.Duration
	eventsPerMin   int
}

func (l *loginFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.trustedProxies, "trusted-proxies", "", "reverse proxies whose X-Forwarded-For names the client, as addresses or CIDR networks separated by commas (env DOORLOG_TRUSTED_PROXIES); none by default")
	fs.IntVar(&l.accountLimit, "login-account-limit", auth.DefaultAccountLimit, "failed logins of one username after which it is locked out; half of them are free, the rest wait 1 s doubling; 0 turns the account throttle off (env DOORLOG_LOGIN_ACCOUNT_LIMIT)")
	fs.IntVar(&l.addressLimit, "login-address-limit", auth.DefaultAddressLimit, "failed logins of one client address (IPv6: its /64) after which it is locked out; half of them are free; 0 turns the address throttle off (env DOORLOG_LOGIN_ADDRESS_LIMIT)")
	fs.DurationVar(&l.lockout, "login-lockout", auth.DefaultLockout, "how long a username or an address is locked out (env DOORLOG_LOGIN_LOCKOUT)")
	fs.IntVar(&l.eventsPerMin, "login-events-per-minute", auth.DefaultFailedEventsPerMinute, "failed logins of one address stored one by one per minute; the rest are counted in one summary event; -1 stores all (env DOORLOG_LOGIN_EVENTS_PER_MINUTE)")
}

// applyEnv sets each of these flags that was not given on the command
// line from its environment variable, when that is set.
func (l *loginFlags) applyEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, env := range map[string]string{
		"trusted-proxies":         "DOORLOG_TRUSTED_PROXIES",
		"login-account-limit":     "DOORLOG_LOGIN_ACCOUNT_LIMIT",
		"login-address-limit":     "DOORLOG_LOGIN_ADDRESS_LIMIT",
		"login-lockout":           "DOORLOG_LOGIN_LOCKOUT",
		"login-events-per-minute": "DOORLOG_LOGIN_EVENTS_PER_MINUTE",
	} {
		v, ok := os.LookupEnv(env)
		if !ok || given[name] {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("%s=%q: %w", env, v, err)
		}
	}
	return nil
}

// options turns the flags into the login options of the server.
func (l *loginFlags) options() (auth.LoginOptions, error) {
	proxies, err := auth.ParseTrustedProxies(l.trustedProxies)
	if err != nil {
		return auth.LoginOptions{}, fmt.Errorf("--trusted-proxies: %w", err)
	}
	switch {
	case l.accountLimit < 0:
		return auth.LoginOptions{}, fmt.Errorf("--login-account-limit %d: want 0 (off) or more", l.accountLimit)
	case l.addressLimit < 0:
		return auth.LoginOptions{}, fmt.Errorf("--login-address-limit %d: want 0 (off) or more", l.addressLimit)
	case l.lockout < time.Second:
		return auth.LoginOptions{}, fmt.Errorf("--login-lockout %v: want at least 1s", l.lockout)
	case l.eventsPerMin == 0 || l.eventsPerMin < -1:
		return auth.LoginOptions{}, fmt.Errorf("--login-events-per-minute %d: want 1 or more, or -1 (no cap)", l.eventsPerMin)
	}
	p := auth.DefaultThrottlePolicy()
	p.Account.Limit, p.Account.Free = l.accountLimit, l.accountLimit/2
	p.Address.Limit, p.Address.Free = l.addressLimit, l.addressLimit/2
	p.Account.Lockout, p.Address.Lockout = l.lockout, l.lockout
	// After an account's lockout one more failure locks it again: it
	// forgets one failure per lockout.
	p.Account.Forget = l.lockout
	return auth.LoginOptions{Policy: &p, TrustedProxies: proxies, FailedEventsPerMinute: l.eventsPerMin}, nil
}
