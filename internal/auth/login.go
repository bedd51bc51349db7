package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// MaxPasswordBytes is the longest password doorlog takes, to set or to
// log in with. A longer one is refused before anything is hashed and
// counts as a failed login. It is the limit HashPassword has always had,
// so no stored account has a longer password and none is locked out by
// it.
const MaxPasswordBytes = 1024

// maxUsernameKey is the longest username kept as its own throttle key; a
// longer one (no account can have it: usernames are at most 64 bytes) is
// kept as its hash, so that the throttle's memory does not depend on what
// a client sends.
const maxUsernameKey = 64

// LoginOptions are the settings of the login flow a server is run with.
// The zero value means the defaults.
type LoginOptions struct {
	// Throttle counts failed logins; nil means a MemoryThrottle with
	// Policy.
	Throttle Throttle
	// Policy is the policy of the MemoryThrottle made when Throttle is
	// nil; nil means DefaultThrottlePolicy().
	Policy *ThrottlePolicy
	// TrustedProxies are the proxies whose X-Forwarded-For header names
	// the client (see ClientAddr). None by default: behind a proxy that is
	// not listed, every client has the proxy's address, and the address's
	// throttle then refuses everyone at once.
	TrustedProxies []netip.Prefix
	// FailedEventsPerMinute is how many failed logins of one client
	// address are stored one by one per minute (the rest are counted in a
	// summary event); zero means DefaultFailedEventsPerMinute, less than
	// zero no cap.
	FailedEventsPerMinute int
}

// Config is what NewService builds a Service from.
type Config struct {
	Store Store
	// Now is the clock of tokens, throttling and login events.
	Now func() time.Time
	// Appender stores every login attempt as an event (the ingest writer
	// in the server); nil stores none.
	Appender Appender
	// Classify gives a key's category and priority (the catalog's), for
	// the login events.
	Classify func(key string) (doorlog.Category, doorlog.Priority)
	// Logger receives the failures to store a login event or to reach
	// the throttle; nil discards them.
	Logger *slog.Logger
	Login  LoginOptions
}

// NewService returns a Service over cfg.Store whose logins are throttled
// and recorded as cfg says. New is NewService with only a store and a
// clock: it throttles logins with the default policy and stores no event.
func NewService(cfg Config) *Service {
	s := New(cfg.Store, cfg.Now)
	s.logins.once.Do(func() { s.logins.init(cfg) })
	return s
}

// loginFlow is the state of Service.Login: the throttle, the recorder of
// attempts and the password check.
type loginFlow struct {
	once     sync.Once
	throttle Throttle
	rec      *loginRecorder
	trusted  []netip.Prefix
	logger   *slog.Logger
	// check is CheckPassword; tests count its calls.
	check func(hash, given string) bool
}

func (f *loginFlow) init(cfg Config) {
	o := cfg.Login
	f.throttle = o.Throttle
	if f.throttle == nil {
		p := DefaultThrottlePolicy()
		if o.Policy != nil {
			p = *o.Policy
		}
		f.throttle = NewMemoryThrottle(p)
	}
	f.logger = cfg.Logger
	if f.logger == nil {
		f.logger = slog.New(slog.DiscardHandler)
	}
	perMinute := o.FailedEventsPerMinute
	if perMinute == 0 {
		perMinute = DefaultFailedEventsPerMinute
	}
	f.rec = newLoginRecorder(cfg.Appender, cfg.Classify, f.logger, perMinute)
	f.trusted = o.TrustedProxies
	f.check = CheckPassword
}

// flow returns the login flow, set up with the defaults for a Service
// made by New.
func (s *Service) flow() *loginFlow {
	s.logins.once.Do(func() { s.logins.init(Config{Store: s.store, Now: s.now}) })
	return &s.logins
}

// LoginRequest is one login attempt, as an API parsed it.
type LoginRequest struct {
	Username string
	// Password is the password or its hex MD5 (any case).
	Password string
	// Request is the HTTP request the attempt came in; its client address
	// is throttled (see ClientAddr). Nil counts as an unknown address.
	Request *http.Request
	// Device is the device the attempt was made through (BAS-IP's
	// per-device login): the attempt is stored as its event. Nil stores
	// it as the server's own.
	Device *doorlog.Device
	// Allow, when set, is asked once the password is right; false fails
	// the login as a wrong password does (OLOID's TenantName), and an
	// error fails it as a broken store does.
	Allow func(ctx context.Context, acct *doorlog.Account) (bool, error)
}

// LoginResult is a successful login.
type LoginResult struct {
	Account *doorlog.Account
	// Secret is the new token's secret, shown once.
	Secret string
	// Token is the new token as stored (no secret), for its expiry.
	Token *doorlog.Token
}

// throttled refuses a login made while its username or client address is
// delayed or locked out after failed logins (no password was checked): an
// ETOOMANY whose RetryAfter (doorlog.RetryAfter) is how long until an
// attempt is taken again.
func throttled(wait time.Duration) error {
	return doorlog.Errorf(doorlog.ETOOMANY, "too many failed login attempts").Retry(wait)
}

// Login checks a username and password and issues a token for the account
// that expires after LoginTTL. It is the one login of every API (BAS-IP,
// per-device BAS-IP, OLOID, the web page), which only parse their request
// and answer the outcome in their own shape:
//
//   - an ETOOMANY error with a RetryAfter (doorlog.RetryAfter) when the
//     username or the client address is delayed or locked out (see
//     ThrottlePolicy); nothing is checked;
//   - ErrLogin for a wrong password, an unknown user, a password over
//     MaxPasswordBytes (refused before any hashing) or a refusal by
//     req.Allow;
//   - another error when the store failed, in which case the attempt
//     counts for nothing and is not recorded.
//
// Every attempt is recorded as an event (see loginRecorder). A success
// forgets the username's failures, not the address's: an attacker who
// holds one valid account could otherwise clear its address's count
// between guesses at other accounts.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	f := s.flow()
	now := s.now()
	var addr netip.Addr
	if req.Request != nil {
		addr = ClientAddr(req.Request, f.trusted)
	}
	client := addressKey(addr)
	account := ThrottleKey{Kind: ThrottleAccount, ID: accountKey(req.Username)}
	address := ThrottleKey{Kind: ThrottleAddress, ID: client}
	wait, err := f.throttle.Attempt(ctx, []ThrottleKey{account, address}, now)
	if err != nil {
		return nil, fmt.Errorf("login throttle: %w", err)
	}
	if wait > 0 {
		f.rec.refused(ctx, client, req.Device, now)
		return nil, throttled(wait)
	}
	res, acct, err := s.checkLogin(ctx, f, req, now)
	switch {
	case err == nil:
		f.settle(ctx, func() error { return f.throttle.Reset(ctx, account, now) })
		f.settle(ctx, func() error { return f.throttle.Release(ctx, address, now) })
		f.rec.succeeded(ctx, acct, req.Device, now)
	case errors.Is(err, ErrLogin):
		f.rec.failed(ctx, client, acct, req.Device, now)
	default:
		f.settle(ctx, func() error { return f.throttle.Release(ctx, account, now) })
		f.settle(ctx, func() error { return f.throttle.Release(ctx, address, now) })
	}
	return res, err
}

// settle runs a throttle update whose failure only costs a client one
// counted failure too many, so it is logged and not answered.
func (f *loginFlow) settle(ctx context.Context, update func() error) {
	if err := update(); err != nil {
		f.logger.ErrorContext(ctx, "auth: update login throttle", "err", err)
	}
}

// checkLogin checks the attempt's password and issues the token. acct is
// the account the username names, when the check got that far, for the
// event.
func (s *Service) checkLogin(ctx context.Context, f *loginFlow, req LoginRequest, now time.Time) (res *LoginResult, acct *doorlog.Account, err error) {
	if len(req.Password) > MaxPasswordBytes {
		return nil, nil, ErrLogin
	}
	acct, err = s.store.FindAccount(ctx, req.Username)
	if err != nil {
		if doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
			return nil, nil, err
		}
		// As long as a wrong password takes, so that the answer's time
		// does not tell whether the account exists.
		f.check(s.dummyHash, req.Password)
		return nil, nil, ErrLogin
	}
	if !f.check(acct.PasswordHash, req.Password) {
		return nil, acct, ErrLogin
	}
	if req.Allow != nil {
		ok, err := req.Allow(ctx, acct)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, acct, ErrLogin
		}
	}
	secret, tok, err := s.IssueToken(ctx, doorlog.Token{
		Role:      acct.Role,
		SiteIDs:   acct.SiteIDs,
		Username:  acct.Username,
		ExpiresAt: now.Add(LoginTTL),
	})
	if err != nil {
		return nil, nil, err
	}
	return &LoginResult{Account: acct, Secret: secret, Token: tok}, acct, nil
}

// FlushLoginSummaries stores the summary events of the client minutes
// that are over (see loginRecorder); with final set, of every minute,
// for a server that stops. The server calls it every few seconds.
func (s *Service) FlushLoginSummaries(ctx context.Context, final bool) {
	s.flow().rec.flush(ctx, s.now(), final)
}

// accountKey is the throttle key of a username.
func accountKey(username string) string {
	if len(username) <= maxUsernameKey {
		return username
	}
	sum := sha256.Sum256([]byte(username))
	return "sha256:" + hex.EncodeToString(sum[:16])
}
