package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/doorlog/doorlog/internal/auth"
)

// parseLogin parses args with serve's login flags and returns the options.
func parseLogin(t *testing.T, args ...string) (auth.LoginOptions, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var l loginFlags
	l.register(fs)
	if err := fs.Parse(args); err != nil {
		return auth.LoginOptions{}, err
	}
	if err := l.applyEnv(fs); err != nil {
		return auth.LoginOptions{}, err
	}
	return l.options()
}

func TestLoginFlags(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		o, err := parseLogin(t)
		if err != nil {
			t.Fatal(err)
		}
		if want := auth.DefaultThrottlePolicy(); *o.Policy != want || len(o.TrustedProxies) != 0 || o.FailedEventsPerMinute != auth.DefaultFailedEventsPerMinute {
			t.Errorf("got %+v %+v, want the default policy, no proxy, %d events a minute", o, *o.Policy, auth.DefaultFailedEventsPerMinute)
		}
	})
	t.Run("environment, and flags over it", func(t *testing.T) {
		t.Setenv("DOORLOG_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
		t.Setenv("DOORLOG_LOGIN_ACCOUNT_LIMIT", "6")
		t.Setenv("DOORLOG_LOGIN_ADDRESS_LIMIT", "100")
		t.Setenv("DOORLOG_LOGIN_LOCKOUT", "5m")
		t.Setenv("DOORLOG_LOGIN_EVENTS_PER_MINUTE", "30")
		o, err := parseLogin(t, "--login-lockout", "30m")
		if err != nil {
			t.Fatal(err)
		}
		p := o.Policy
		got := fmt.Sprint(o.TrustedProxies, p.Account.Limit, p.Account.Free, p.Address.Limit, p.Address.Free, p.Account.Lockout, p.Address.Lockout, p.Account.Forget, o.FailedEventsPerMinute)
		if want := "[10.0.0.0/8 192.0.2.7/32] 6 3 100 50 30m0s 30m0s 30m0s 30"; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	})
	t.Run("off", func(t *testing.T) {
		o, err := parseLogin(t, "--login-account-limit", "0", "--login-address-limit", "0", "--login-events-per-minute", "-1")
		if err != nil {
			t.Fatal(err)
		}
		if o.Policy.Account.Limit != 0 || o.Policy.Address.Limit != 0 || o.FailedEventsPerMinute != -1 {
			t.Errorf("got %+v", o)
		}
	})
	for _, tt := range []struct {
		env, value, want string
	}{
		{"DOORLOG_TRUSTED_PROXIES", "10.0.0.0/40", "--trusted-proxies"},
		{"DOORLOG_LOGIN_ACCOUNT_LIMIT", "ten", "DOORLOG_LOGIN_ACCOUNT_LIMIT"},
		{"DOORLOG_LOGIN_ACCOUNT_LIMIT", "-1", "--login-account-limit"},
		{"DOORLOG_LOGIN_LOCKOUT", "0s", "--login-lockout"},
		{"DOORLOG_LOGIN_EVENTS_PER_MINUTE", "0", "--login-events-per-minute"},
	} {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			if _, err := parseLogin(t); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
