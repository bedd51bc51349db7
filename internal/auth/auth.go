// Package auth issues and checks doorlog's credentials: account passwords
// (kept as bcrypt hashes) and bearer tokens (kept as SHA-256 hashes of their
// secret part, compared in constant time).
package auth

import (
	"bytes"
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
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// LoginTTL is how long a token issued by a login works. Tokens made from the
// CLI or by an admin through the API expire after DefaultExpiry unless
// asked otherwise.
const LoginTTL = 24 * time.Hour

// Store is what auth needs of the store.
type Store interface {
	FindAccount(ctx context.Context, username string) (*doorlog.Account, error)
	CreateToken(ctx context.Context, t *doorlog.Token) error
	FindToken(ctx context.Context, id string) (*doorlog.Token, error)
	DeleteToken(ctx context.Context, id string) error
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
}

// New returns a Service reading accounts and tokens from store, with now as
// its clock.
func New(store Store, now func() time.Time) *Service {
	h, _ := HashPassword("doorlog-dummy-password")
	return &Service{store: store, now: now, dummyHash: h}
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
	// The token is read from the store on every request, never cached: a
	// token revoked by anyone (the API, the CLI in another process, a
	// logout) fails from the very next request on. The lookup is one
	// prepared statement, about as cheap as checking a cache's validity
	// in the store would be (docs/operations.md, "Tokens").
	tok, err := s.store.FindToken(ctx, id)
	if err != nil {
		if doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
			return nil, ErrToken
		}
		return nil, err
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], tok.SecretHash) != 1 || tok.Expired(s.now()) {
		return nil, ErrToken
	}
	return tok, nil
}

// Valid reports, as ErrToken, that a token authenticated earlier has since
// been revoked or has expired: a request that outlives its token's check
// (a live stream, an export) asks again as it goes.
func (s *Service) Valid(ctx context.Context, tok *doorlog.Token) error {
	cur, err := s.store.FindToken(ctx, tok.ID)
	if err != nil {
		if doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
			return ErrToken
		}
		return err
	}
	if !bytes.Equal(cur.SecretHash, tok.SecretHash) || cur.Expired(s.now()) {
		return ErrToken
	}
	return nil
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

// Revoke ends the token whose secret is given, as a logout does: it is
// deleted from the store, so that it fails from the next request on, in
// this process and in any other sharing the store, and stays ended after
// a restart. Only the holder of a valid secret can revoke it this way (a
// wrong or unknown secret is ErrToken).
func (s *Service) Revoke(ctx context.Context, secret string) error {
	tok, err := s.Authenticate(ctx, secret)
	if err != nil {
		return err
	}
	// ENOTFOUND: revoked by someone else meanwhile, which is as good.
	if err := s.store.DeleteToken(ctx, tok.ID); err != nil && doorlog.ErrorCode(err) != doorlog.ENOTFOUND {
		return err
	}
	return nil
}
