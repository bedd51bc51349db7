// Package auth issues and checks doorlog's credentials: account passwords
// (kept as bcrypt hashes) and bearer tokens (kept as SHA-256 hashes of their
// secret part, compared in constant time).
package auth

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// LoginTTL is how long a token issued by a login works. Tokens made from the
// CLI or by an admin through the API do not expire unless asked to.
const LoginTTL = 24 * time.Hour

// Store is what auth needs of the store.
type Store interface {
	FindAccount(ctx context.Context, username string) (*doorlog.Account, error)
	CreateToken(ctx context.Context, t *doorlog.Token) error
	FindToken(ctx context.Context, id string) (*doorlog.Token, error)
}

// Service checks passwords and tokens against the store.
type Service struct {
	store Store
	now   func() time.Time
	// logins throttles and records logins; see login.go.
	logins loginFlow
	// dummyHash is compared against when a username does not exist, so a
	// failed login takes as long whether or not the account exists.
	dummyHash string
	// tokens keeps recently found tokens by id; see tokenCacheTTL.
	tokens tokenCache
	// revoked holds the tokens ended by Revoke while this process runs;
	// see Revoke.
	revoked revokedSet
}

// New returns a Service reading accounts and tokens from store, with now as
// its clock.
func New(store Store, now func() time.Time) *Service {
	h, _ := HashPassword("doorlog-dummy-password")
	return &Service{store: store, now: now, dummyHash: h, tokens: tokenCache{m: map[string]cachedToken{}}, revoked: revokedSet{m: map[string]time.Time{}}}
}

// tokenCacheTTL is how long a token found in the store is kept, so that a
// client making request after request (a pager, an export, an integration
// polling) costs one store lookup per token and period rather than one per
// request. Only the lookup is saved: the secret is still hashed and
// compared, and the expiry checked, on every request. A token deleted from
// the store by another process therefore stops working within this time.
const tokenCacheTTL = 2 * time.Second

// maxCachedTokens bounds the cache. When it is full it is emptied, which
// is simple and, at this size, rare.
const maxCachedTokens = 1024

// tokenCache maps a token id to the stored token and when it was read.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	tok *doorlog.Token
	// read is when the token was read from the store, by the monotonic
	// clock: the cache's age does not follow the service's clock, which
	// tests and replays may set.
	read time.Time
}

// get returns the token with id when it was read less than tokenCacheTTL
// ago.
func (c *tokenCache) get(id string) *doorlog.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok {
		return nil
	}
	if time.Since(e.read) >= tokenCacheTTL {
		delete(c.m, id)
		return nil
	}
	return e.tok
}

// drop forgets the token with id.
func (c *tokenCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// put keeps tok, just read from the store.
func (c *tokenCache) put(tok *doorlog.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedTokens {
		clear(c.m)
	}
	c.m[tok.ID] = cachedToken{tok: tok, read: time.Now()}
}

// HashPassword returns the hash to store for a password. BAS-IP clients send
// the hex MD5 of the password instead of the password, so doorlog hashes that
// MD5 with bcrypt: one stored hash then checks both spellings, and the MD5
// pre-hash costs nothing in strength because bcrypt is what makes guessing
// slow.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", doorlog.Errorf(doorlog.EINVALID, "password must not be empty")
	}
	if len(password) > MaxPasswordBytes {
		return "", doorlog.Errorf(doorlog.EINVALID, "password must be at most %d bytes", MaxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(md5Hex(password)), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether given matches the stored hash, given either
// as the password itself or as its hex MD5 (any case). A password over
// MaxPasswordBytes never matches.
func CheckPassword(hash, given string) bool {
	if len(given) > MaxPasswordBytes {
		return false
	}
	if isMD5Hex(given) && bcrypt.CompareHashAndPassword([]byte(hash), []byte(strings.ToLower(given))) == nil {
		return true
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(md5Hex(given))) == nil
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func isMD5Hex(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// ErrLogin is returned for every failed login, whatever the reason, so a
// caller cannot tell a wrong username from a wrong password.
var ErrLogin = doorlog.Errorf(doorlog.EUNAUTHORIZED, "wrong username or password")

// Token secrets look like "dl_<id>_<secret>": the id finds the stored row,
// the secret is checked against its hash.
const tokenPrefix = "dl_"

// IssueToken stores a new token like tmpl (role, sites, device, expiry) and
// returns its secret, which is shown once and never stored.
func (s *Service) IssueToken(ctx context.Context, tmpl doorlog.Token) (string, *doorlog.Token, error) {
	idBytes := make([]byte, 10)
	secretBytes := make([]byte, 32)
	if _, err := rand.Read(idBytes); err != nil {
		return "", nil, err
	}
	if _, err := rand.Read(secretBytes); err != nil {
		return "", nil, err
	}
	tok := tmpl
	tok.ID = hex.EncodeToString(idBytes)
	secret := base64.RawURLEncoding.EncodeToString(secretBytes)
	sum := sha256.Sum256([]byte(secret))
	tok.SecretHash = sum[:]
	tok.CreatedAt = s.now().UTC()
	if err := s.store.CreateToken(ctx, &tok); err != nil {
		return "", nil, err
	}
	return tokenPrefix + tok.ID + "_" + secret, &tok, nil
}

// ErrToken is returned for a missing, malformed, unknown, wrong or expired
// token alike.
var ErrToken = doorlog.Errorf(doorlog.EUNAUTHORIZED, "missing or invalid token")

// Authenticate returns the stored token a bearer secret belongs to.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*doorlog.Token, error) {
	rest, ok := strings.CutPrefix(bearer, tokenPrefix)
	if !ok {
		return nil, ErrToken
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 20 || secret == "" || len(secret) > 100 {
		return nil, ErrToken
	}
	tok := s.tokens.get(id)
	if tok == nil {
		var err error
		if tok, err = s.store.FindToken(ctx, id); err != nil {
			if doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
				return nil, ErrToken
			}
			return nil, err
		}
		s.tokens.put(tok)
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], tok.SecretHash) != 1 || tok.Expired(s.now()) || s.revoked.has(tok.ID) {
		return nil, ErrToken
	}
	// Each caller gets its own copy: the cached token is shared.
	own := *tok
	own.SiteIDs = slices.Clone(tok.SiteIDs)
	own.SecretHash = slices.Clone(tok.SecretHash)
	return &own, nil
}

// BearerToken returns the token of an "Authorization: Bearer ..." header, or
// "" when there is none.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

type ctxKey struct{}

// NewContext returns ctx carrying the caller's token.
func NewContext(ctx context.Context, t *doorlog.Token) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// FromContext returns the caller's token, or nil when the request was not
// authenticated.
func FromContext(ctx context.Context) *doorlog.Token {
	t, _ := ctx.Value(ctxKey{}).(*doorlog.Token)
	return t
}

// The browser session: the web page keeps a login token in this cookie
// instead of an Authorization header, which a page cannot attach to an
// EventSource or a download link.
const (
	// SessionCookie is the name of the cookie that holds a login token.
	SessionCookie = "doorlog_session"
	// CSRFHeader must be sent, with the value "1", on every unsafe request
	// authenticated by SessionCookie. A page on another site cannot add a
	// custom header to a cross-site request without a CORS preflight,
	// which doorlog never allows, so the header proves the request came
	// from doorlog's own page.
	CSRFHeader = "X-Doorlog-CSRF"
)

// SessionToken returns the token of the session cookie, or "" when there
// is none.
func SessionToken(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// ErrCSRF refuses an unsafe request that was authenticated by the session
// cookie but does not carry CSRFHeader: it may have been sent by another
// site's page.
var ErrCSRF = doorlog.Errorf(doorlog.EFORBIDDEN, "a request authenticated by the session cookie must send the header "+CSRFHeader+": 1")

// SafeMethod reports whether method only reads (GET, HEAD, OPTIONS), so
// that a cross-site request with it cannot change anything.
func SafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// Middleware authenticates every request by its bearer token or, when it
// has no Authorization header at all, by the web page's session cookie (a
// header always wins, so an integration's token is never mixed up with a
// browser's session), and stores
// the token in the request's context. A request authenticated by the
// cookie with an unsafe method must carry CSRFHeader (see ErrCSRF). Requests
// without a valid credential are answered by deny, which writes the error
// in the shape of the API being served.
func (s *Service) Middleware(deny func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			secret := BearerToken(r)
			if r.Header.Get("Authorization") == "" {
				if secret = SessionToken(r); secret != "" && !SafeMethod(r.Method) && r.Header.Get(CSRFHeader) != "1" {
					deny(w, r, ErrCSRF)
					return
				}
			}
			tok, err := s.Authenticate(r.Context(), secret)
			if err != nil {
				if !errors.Is(err, ErrToken) && doorlog.ErrorCode(err) != doorlog.EUNAUTHORIZED {
					deny(w, r, err)
					return
				}
				deny(w, r, ErrToken)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), tok)))
		})
	}
}

// TokenDeleter is a store that can delete a token. Revoke uses it when the
// store has it, so that a revoked token stays revoked across restarts and
// for other processes.
type TokenDeleter interface {
	DeleteToken(ctx context.Context, id string) error
}

// Revoke ends the token whose secret is given, as a logout does. Only the
// holder of a valid secret can revoke it (a wrong or unknown secret is
// ErrToken). The token is deleted from the store when the store can
// delete tokens; it is also refused by this Service from now until it
// expires (or the process ends), so a logout works on a store that keeps
// every token.
func (s *Service) Revoke(ctx context.Context, secret string) error {
	tok, err := s.Authenticate(ctx, secret)
	if err != nil {
		return err
	}
	s.revoked.add(tok.ID, tok.ExpiresAt, s.now())
	s.tokens.drop(tok.ID)
	if d, ok := s.store.(TokenDeleter); ok {
		if err := d.DeleteToken(ctx, tok.ID); err != nil && doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
			return err
		}
	}
	return nil
}

// revokedSet holds the ids of revoked tokens with their expiry, after which
// the token fails anyway and its entry may go.
type revokedSet struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// pruneRevokedAt is the size past which adding to a revokedSet first drops
// the entries of tokens that have expired since.
const pruneRevokedAt = 1024

func (r *revokedSet) add(id string, expires, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= pruneRevokedAt {
		for k, exp := range r.m {
			if !exp.IsZero() && !now.Before(exp) {
				delete(r.m, k)
			}
		}
	}
	r.m[id] = expires
}

func (r *revokedSet) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[id]
	return ok
}
