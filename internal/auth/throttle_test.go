package auth_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
)

func TestKeyPolicyStages(t *testing.T) {
	ctx := context.Background()
	p := auth.DefaultThrottlePolicy()
	th := auth.NewMemoryThrottle(p)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	acct := []auth.ThrottleKey{{Kind: auth.ThrottleAccount, ID: "root"}}
	// Every failure is made as soon as it is allowed: the waits the
	// default policy promises (docs/operations.md).
	var waits []time.Duration
	for range 12 {
		wait, err := th.Attempt(ctx, acct, now)
		if err != nil {
			t.Fatal(err)
		}
		if wait > 0 {
			waits = append(waits, wait)
			now = now.Add(wait)
			if wait, _ = th.Attempt(ctx, acct, now); wait != 0 {
				t.Fatalf("after the wait: got another %v", wait)
			}
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Minute, 15 * time.Minute}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("account waits: got %v, want %v", waits, want)
	}

	// An address: 20 free, then 1 s doubling to 30 s; a minute per
	// failure drains meanwhile, so at 30 s each failure adds half of one,
	// and the lockout comes after some 20 minutes of trying.
	addr := []auth.ThrottleKey{{Kind: auth.ThrottleAddress, ID: "192.0.2.1"}}
	start := now
	waits = nil
	for range 200 {
		wait, _ := th.Attempt(ctx, addr, now)
		if wait == 0 {
			continue
		}
		waits = append(waits, wait)
		if wait == 15*time.Minute {
			break
		}
		now = now.Add(wait)
	}
	t.Logf("address: %d waits, locked after %v: %v", len(waits), now.Sub(start), waits)
	if len(waits) < 8 || fmt.Sprint(waits[:6]) != "[1s 2s 4s 8s 16s 30s]" || waits[len(waits)-1] != 15*time.Minute {
		t.Errorf("address waits: got %v, want 1s, 2s, 4s, 8s, 16s, 30s, …, 15m0s", waits)
	}
	if took := now.Sub(start); took < 10*time.Minute || took > 30*time.Minute {
		t.Errorf("address: locked after %v of trying, want 10 to 30 minutes", took)
	}
}

func TestThrottleRelease(t *testing.T) {
	ctx := context.Background()
	p := auth.ThrottlePolicy{Account: auth.KeyPolicy{Limit: 3, Free: 1, BaseDelay: time.Second, MaxDelay: time.Minute, Lockout: time.Hour}}
	th := auth.NewMemoryThrottle(p)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	k := auth.ThrottleKey{Kind: auth.ThrottleAccount, ID: "a"}
	keys := []auth.ThrottleKey{k}
	th.Attempt(ctx, keys, now) // 1: free
	now = now.Add(time.Hour)
	th.Attempt(ctx, keys, now) // 2: 1 s
	now = now.Add(time.Second)
	// 3 would lock for an hour; the attempt succeeds, so its failure and
	// its lockout are taken back.
	if w, _ := th.Attempt(ctx, keys, now); w != 0 {
		t.Fatalf("got a wait of %v, want none", w)
	}
	if w, _ := th.Attempt(ctx, keys, now); w != time.Hour {
		t.Fatalf("before the release: got %v, want the hour's lockout", w)
	}
	th.Release(ctx, k, now)
	if w, _ := th.Attempt(ctx, keys, now); w != 0 {
		t.Fatalf("after the release: got a wait of %v, want none", w)
	}
	th.Reset(ctx, k, now)
	if th.Len() != 0 {
		t.Errorf("after a reset: got %d keys, want 0", th.Len())
	}
	// Off: a policy with no limit counts nothing.
	th.Attempt(ctx, []auth.ThrottleKey{{Kind: auth.ThrottleAddress, ID: "x"}}, now)
	if th.Len() != 0 {
		t.Errorf("with the address policy off: got %d keys, want 0", th.Len())
	}
}

// TestThrottleBounded checks that a MemoryThrottle keeps at most
// MaxEntries keys whatever is thrown at it, and that a flood of new keys
// evicts them and not a lockout.
func TestThrottleBounded(t *testing.T) {
	ctx := context.Background()
	p := auth.DefaultThrottlePolicy()
	p.MaxEntries = 64
	th := auth.NewMemoryThrottle(p)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	victim := []auth.ThrottleKey{{Kind: auth.ThrottleAccount, ID: "admin"}}
	for range 20 {
		w, _ := th.Attempt(ctx, victim, now)
		if w >= time.Minute {
			break
		}
		now = now.Add(w)
	}
	for i := range 10_000 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i), 0, 0, 1})
		th.Attempt(ctx, []auth.ThrottleKey{{Kind: auth.ThrottleAddress, ID: a.String()}}, now)
		if n := th.Len(); n > p.MaxEntries {
			t.Fatalf("after %d keys: got %d kept, want at most %d", i+1, n, p.MaxEntries)
		}
	}
	if w, _ := th.Attempt(ctx, victim, now); w < 14*time.Minute {
		t.Errorf("the locked account after the flood: got a wait of %v, want its lockout", w)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "[]"},
		{"10.0.0.0/8", "[10.0.0.0/8]"},
		{"10.1.2.3/8, 192.0.2.7 fd00::/8", "[10.0.0.0/8 192.0.2.7/32 fd00::/8]"},
		{"::ffff:192.0.2.7", "[192.0.2.7/32]"},
		{"2001:db8::1", "[2001:db8::1/128]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := auth.ParseTrustedProxies(tt.in)
			if err != nil || fmt.Sprint(got) != tt.want {
				t.Fatalf("got %v, %v, want %s", got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "nope", "10.0.0.1:80", "fe80::1%eth0"} {
		if _, err := auth.ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q: got no error, want one", bad)
		}
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := auth.ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote string
		xff          []string
		trusted      bool
		want         string
	}{
		{"direct", "192.0.2.1:5000", nil, true, "192.0.2.1"},
		{"direct with a forged header", "192.0.2.1:5000", []string{"198.51.100.1"}, true, "192.0.2.1"},
		{"no proxy trusted", "10.0.0.1:5000", []string{"198.51.100.1"}, false, "10.0.0.1"},
		{"behind a proxy", "10.0.0.1:5000", []string{"198.51.100.1"}, true, "198.51.100.1"},
		{"a client's forged entry is skipped", "10.0.0.1:5000", []string{"203.0.113.66, 198.51.100.1"}, true, "198.51.100.1"},
		{"two proxies", "10.0.0.1:5000", []string{"198.51.100.1, 10.9.9.9"}, true, "198.51.100.1"},
		{"two headers", "10.0.0.1:5000", []string{"203.0.113.66", "198.51.100.1, 10.9.9.9"}, true, "198.51.100.1"},
		{"only proxies", "10.0.0.1:5000", []string{"10.2.2.2"}, true, "10.2.2.2"},
		{"no header", "10.0.0.1:5000", nil, true, "10.0.0.1"},
		{"a garbled entry stops the walk", "10.0.0.1:5000", []string{"198.51.100.1, garbage, 10.3.3.3"}, true, "10.3.3.3"},
		{"ports and brackets", "10.0.0.1:5000", []string{"[2001:db8::7]:443"}, true, "2001:db8::7"},
		{"IPv6 proxy", "[2001:db8:ffff::1]:5000", []string{"192.0.2.200:1234"}, true, "192.0.2.200"},
		{"mapped IPv4", "[::ffff:192.0.2.9]:5000", nil, true, "192.0.2.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			var tr []netip.Prefix
			if tt.trusted {
				tr = trusted
			}
			if got := auth.ClientAddr(r, tr); got.String() != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
