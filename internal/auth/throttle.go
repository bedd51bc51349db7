package auth

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// ThrottleKind tells what a ThrottleKey counts failed logins against.
type ThrottleKind uint8

// The kinds of throttle keys.
const (
	// ThrottleAccount counts the failures of one username, from anywhere:
	// it stops the guessing of one account's password from many addresses.
	ThrottleAccount ThrottleKind = iota + 1
	// ThrottleAddress counts the failures of one client address (an IPv4
	// address, or an IPv6 address's /64), whatever the username: it stops
	// one client from guessing across many accounts.
	ThrottleAddress
)

// ThrottleKey is one thing failed logins are counted against.
type ThrottleKey struct {
	Kind ThrottleKind
	// ID is the username (a long one as "sha256:<hex>", see accountKey)
	// or the address key ("203.0.113.7", "2001:db8:1:2::/64").
	ID string
}

// Throttle keeps the count of recent failed logins per key and says when
// the next attempt may be made. It is an interface so that several nodes
// can share one throttle kept in a shared store (PostgreSQL); the login
// flow (Service.Login) is its only caller, and MemoryThrottle is the
// implementation of one process.
//
// Every method takes the time from the caller, so that the service's
// clock rules and tests never sleep.
type Throttle interface {
	// Attempt is asked before a password is checked. When any key is
	// delayed or locked out at now, it returns how long until every key
	// is free and counts nothing. Otherwise it counts a failure against
	// every key at once and returns 0: counting before the check, not
	// after, means a burst of concurrent guesses cannot all pass before
	// the first one's failure is counted. A login that does not fail
	// takes its failure back with Release or Reset.
	Attempt(ctx context.Context, keys []ThrottleKey, now time.Time) (time.Duration, error)
	// Release takes back the one failure Attempt counted against key, for
	// an attempt that did not fail (or could not be checked).
	Release(ctx context.Context, key ThrottleKey, now time.Time) error
	// Reset forgets every failure of key.
	Reset(ctx context.Context, key ThrottleKey, now time.Time) error
}

// KeyPolicy is how one kind of key is throttled. A key's count of recent
// failures goes up by one per failure and drains by one per Forget. While
// the count is at most Free nothing is delayed; each failure past Free
// refuses the next attempt for BaseDelay, doubling per failure up to
// MaxDelay; the failure that brings the count to Limit locks the key out
// for Lockout. An attempt refused while the key is delayed or locked is
// not counted, so a client that keeps trying does not lock itself out for
// longer.
type KeyPolicy struct {
	// Limit is the count of recent failures at which the key is locked
	// out. Zero or less turns throttling of this kind of key off.
	Limit int
	// Free is the count of recent failures that delay nothing.
	Free int
	// BaseDelay is the delay after the first failure past Free; it
	// doubles with each further failure, up to MaxDelay.
	BaseDelay, MaxDelay time.Duration
	// Lockout is how long the key is refused once the count reaches
	// Limit.
	Lockout time.Duration
	// Forget is how long it takes for one failure to be forgotten.
	Forget time.Duration
}

// ThrottlePolicy is the policy of both kinds of keys and the bound of an
// in-memory throttle.
type ThrottlePolicy struct {
	Account KeyPolicy
	Address KeyPolicy
	// MaxEntries bounds the keys a MemoryThrottle keeps; see
	// MemoryThrottle.
	MaxEntries int
}

// The defaults of DefaultThrottlePolicy, exported for the serve command's
// flags and the documentation (docs/operations.md, "Login throttling").
const (
	DefaultAccountLimit    = 10
	DefaultAddressLimit    = 40
	DefaultLockout         = 15 * time.Minute
	DefaultThrottleEntries = 20_000
)

// DefaultThrottlePolicy is the policy a server runs with unless told
// otherwise.
//
// An account allows 5 failures freely, then waits of 1, 2, 4 and 8
// seconds, and the 10th failure locks it for 15 minutes. One failure is
// forgotten per 15 minutes, so right after a lockout ends one more wrong
// password locks it again: a guesser gets about 4 tries an hour, while a
// person who mistyped logs in with the right password at once (a success
// forgets the account's failures).
//
// An address allows 20 failures freely (an office or a poller behind one
// NAT address shares it), then waits doubling from 1 second to 30 seconds,
// and locks for 15 minutes at 40. It forgets one failure per minute, so a
// misconfigured client retrying once a minute never locks its neighbours
// out.
func DefaultThrottlePolicy() ThrottlePolicy {
	return ThrottlePolicy{
		Account: KeyPolicy{
			Limit: DefaultAccountLimit, Free: DefaultAccountLimit / 2,
			BaseDelay: time.Second, MaxDelay: 30 * time.Second,
			Lockout: DefaultLockout, Forget: DefaultLockout,
		},
		Address: KeyPolicy{
			Limit: DefaultAddressLimit, Free: DefaultAddressLimit / 2,
			BaseDelay: time.Second, MaxDelay: 30 * time.Second,
			Lockout: DefaultLockout, Forget: time.Minute,
		},
		MaxEntries: DefaultThrottleEntries,
	}
}

// of returns the policy of kind.
func (p *ThrottlePolicy) of(kind ThrottleKind) *KeyPolicy {
	if kind == ThrottleAccount {
		return &p.Account
	}
	return &p.Address
}

// off reports whether the policy throttles nothing.
func (p *KeyPolicy) off() bool { return p.Limit <= 0 }

// block is how long a key is refused after a failure brought its count of
// recent failures to n.
func (p *KeyPolicy) block(n int) time.Duration {
	switch {
	case n >= p.Limit:
		return p.Lockout
	case n <= p.Free:
		return 0
	}
	d := p.MaxDelay
	if shift := n - p.Free - 1; shift < 32 && p.BaseDelay<<shift < p.MaxDelay && p.BaseDelay<<shift > 0 {
		d = p.BaseDelay << shift
	}
	return d
}

// throttleEntry is the state of one key.
type throttleEntry struct {
	// score is the count of recent failures as of at; it drains by one
	// per KeyPolicy.Forget.
	score float64
	at    time.Time
	// until is when the key may be tried again; before is what it was
	// before the last Attempt, for Release.
	until, before time.Time
}

// scoreAt is the entry's count of recent failures at now.
func (e *throttleEntry) scoreAt(p *KeyPolicy, now time.Time) float64 {
	elapsed := now.Sub(e.at)
	if elapsed <= 0 || p.Forget <= 0 {
		return e.score
	}
	return max(0, e.score-float64(elapsed)/float64(p.Forget))
}

// count is a score as a whole count of failures: a part of a failure not
// yet forgotten still counts.
func count(score float64) int {
	return int(math.Ceil(score - 1e-9))
}

// MemoryThrottle is the Throttle of one process: a map of keys behind a
// mutex. It holds at most MaxEntries keys (about 300 bytes each: 6 MB at
// the default). When full, the keys that hold nothing any more (failures
// forgotten, no wait) go first; when that is not enough, the eighth of
// the keys with the fewest recent failures, unlocked ones before locked
// ones, so that an attacker who makes up addresses or usernames to fill
// the table evicts its own one-failure keys and not a lockout.
type MemoryThrottle struct {
	policy ThrottlePolicy

	mu sync.Mutex
	m  map[ThrottleKey]*throttleEntry
}

var _ Throttle = (*MemoryThrottle)(nil)

// NewMemoryThrottle returns an empty MemoryThrottle with policy; a
// MaxEntries of zero or less means DefaultThrottleEntries.
func NewMemoryThrottle(policy ThrottlePolicy) *MemoryThrottle {
	if policy.MaxEntries <= 0 {
		policy.MaxEntries = DefaultThrottleEntries
	}
	return &MemoryThrottle{policy: policy, m: map[ThrottleKey]*throttleEntry{}}
}

// Attempt implements Throttle.
func (t *MemoryThrottle) Attempt(_ context.Context, keys []ThrottleKey, now time.Time) (time.Duration, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if t.policy.of(k.Kind).off() {
			continue
		}
		if e := t.m[k]; e != nil && now.Before(e.until) {
			wait = max(wait, e.until.Sub(now))
		}
	}
	if wait > 0 {
		return wait, nil
	}
	for _, k := range keys {
		p := t.policy.of(k.Kind)
		if p.off() {
			continue
		}
		e := t.m[k]
		if e == nil {
			t.makeRoom(now)
			e = &throttleEntry{}
			t.m[k] = e
		}
		e.score = e.scoreAt(p, now) + 1
		e.at = now
		e.before = e.until
		if d := p.block(count(e.score)); d > 0 {
			e.until = now.Add(d)
		}
	}
	return 0, nil
}

// Release implements Throttle: the count goes down by one and the wait
// goes back to what it was before the last Attempt (with overlapping
// attempts of one key, the one before the last one's may stay; it is at
// most one step of the policy).
func (t *MemoryThrottle) Release(_ context.Context, k ThrottleKey, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[k]
	if e == nil {
		return nil
	}
	p := t.policy.of(k.Kind)
	e.score = e.scoreAt(p, now) - 1
	e.at = now
	if e.score <= 0 && !now.Before(e.before) {
		delete(t.m, k)
		return nil
	}
	e.score = max(0, e.score)
	e.until = e.before
	return nil
}

// Reset implements Throttle.
func (t *MemoryThrottle) Reset(_ context.Context, k ThrottleKey, _ time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, k)
	return nil
}

// Len returns the number of keys kept, for tests and metrics.
func (t *MemoryThrottle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// makeRoom makes room for one more key when the map is full; t.mu is held.
func (t *MemoryThrottle) makeRoom(now time.Time) {
	if len(t.m) < t.policy.MaxEntries {
		return
	}
	type ranked struct {
		k      ThrottleKey
		locked bool
		score  float64
	}
	all := make([]ranked, 0, len(t.m))
	for k, e := range t.m {
		score := e.scoreAt(t.policy.of(k.Kind), now)
		locked := now.Before(e.until)
		if score <= 0 && !locked {
			delete(t.m, k)
			continue
		}
		all = append(all, ranked{k, locked, score})
	}
	target := t.policy.MaxEntries - max(1, t.policy.MaxEntries/8)
	if len(t.m) <= target {
		return
	}
	slices.SortFunc(all, func(a, b ranked) int {
		if a.locked != b.locked {
			if a.locked {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.score, b.score)
	})
	for _, r := range all[:len(t.m)-target] {
		delete(t.m, r.k)
	}
}
