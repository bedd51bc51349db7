// Package web serves doorlog's web page at /: a single page of plain HTML,
// CSS and JavaScript modules embedded in the binary (no framework, nothing
// fetched from elsewhere), with its login and logout under /web/.
//
// The page reads events through the native API (/v1/...) like any other
// client. A browser cannot attach an Authorization header to an
// EventSource or a download link, so a login here keeps its token in the
// HttpOnly cookie auth.SessionCookie, which auth's middleware accepts in
// place of the header. Cross-site request forgery is stopped three times
// over: the cookie is SameSite=Strict, login and logout refuse a foreign
// Origin, and the middleware refuses unsafe requests authenticated by the
// cookie unless they carry auth.CSRFHeader, which another site's page
// cannot send.
package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/respond"
)

// static holds the page's files; it is read once by New.
//
//go:embed static
var static embed.FS

// Authenticator logs accounts in, checks session tokens and ends them;
// *auth.Service is one. Its Login also throttles the attempt and stores it
// as an event, as for the BAS-IP and OLOID logins.
type Authenticator interface {
	Login(ctx context.Context, req auth.LoginRequest) (*auth.LoginResult, error)
	Authenticate(ctx context.Context, bearer string) (*doorlog.Token, error)
	Revoke(ctx context.Context, secret string) error
}

var _ Authenticator = (*auth.Service)(nil)

// Catalog is what the page needs of the event catalog: the keys with their
// category, priority and names, for the key filter.
type Catalog interface {
	Keys() []string
	Entry(key string) catalog.Entry
	Name(locale, key string) string
}

var _ Catalog = (*catalog.Catalog)(nil)

// Config wires a Handler.
type Config struct {
	Auth    Authenticator
	Catalog Catalog
	// Logger receives failures the visitor cannot act on; nil discards
	// them.
	Logger *slog.Logger
	// Now is the clock of cookie expiry; nil means time.Now.
	Now func() time.Time
}

// Handler serves the page, its files and its session endpoints. It is
// immutable after New and safe for concurrent use.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	files map[string]*asset
}

// asset is one embedded file, ready to serve: its bytes, gzipped bytes
// when that is smaller, and an ETag per encoding.
type asset struct {
	name        string
	contentType string
	body, gz    []byte
	etag        string
}

// New returns a Handler. It fails only when the embedded files cannot be
// read, which is a broken build.
func New(cfg Config) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), files: map[string]*asset{}}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		h.files[p] = newAsset(p, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if h.files["index.html"] == nil {
		return nil, errors.New("web: index.html is not embedded")
	}
	if cfg.Catalog != nil {
		b, err := catalogJSON(cfg.Catalog)
		if err != nil {
			return nil, err
		}
		h.files["catalog.json"] = newAsset("catalog.json", b)
	}
	h.mux.HandleFunc("GET /{$}", h.index)
	h.mux.HandleFunc("GET /web/static/{file...}", h.staticFile)
	h.mux.HandleFunc("GET /web/catalog.json", h.catalog)
	h.mux.HandleFunc("POST /web/login", h.login)
	h.mux.HandleFunc("POST /web/logout", h.logout)
	h.mux.HandleFunc("GET /web/session", h.session)
	for p, allow := range map[string]string{
		"/{$}":              "GET, HEAD",
		"/web/catalog.json": "GET, HEAD",
		"/web/login":        "POST",
		"/web/logout":       "POST",
		"/web/session":      "GET, HEAD",
	} {
		h.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed", "method_not_allowed")
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such page", doorlog.ENOTFOUND)
	})
	return h, nil
}

func newAsset(name string, body []byte) *asset {
	a := &asset{name: name, body: body, contentType: mime.TypeByExtension(path.Ext(name))}
	switch path.Ext(name) {
	case ".js":
		a.contentType = "text/javascript; charset=utf-8"
	case ".svg":
		a.contentType = "image/svg+xml"
	}
	if a.contentType == "" {
		a.contentType = "application/octet-stream"
	}
	sum := sha256.Sum256(body)
	a.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(body)
	if zw.Close() == nil && buf.Len() < len(body) {
		a.gz = buf.Bytes()
	}
	return a
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy lets the page load only its own files and talk
// only to its own server: no inline script or style, no frames of it
// elsewhere.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// index serves the page itself. It is the same whether or not the visitor
// is logged in: the page asks /web/session and shows the login form when
// there is no session, so that the filters in the URL's fragment survive
// the login.
func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "same-origin")
	h.serveAsset(w, r, h.files["index.html"])
}

func (h *Handler) staticFile(w http.ResponseWriter, r *http.Request) {
	a := h.files[r.PathValue("file")]
	if a == nil || a.name == "index.html" || a.name == "catalog.json" {
		writeError(w, http.StatusNotFound, "no such file", doorlog.ENOTFOUND)
		return
	}
	h.serveAsset(w, r, a)
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request) {
	a := h.files["catalog.json"]
	if a == nil {
		writeError(w, http.StatusNotFound, "no catalog", doorlog.ENOTFOUND)
		return
	}
	h.serveAsset(w, r, a)
}

// serveAsset writes a, gzipped when the client takes it. Files are
// revalidated on every load (no-cache with an ETag), so a new binary's
// page is never mixed with an old one's modules, while an unchanged file
// costs a 304.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Add("Vary", "Accept-Encoding")
	body, etag := a.body, a.etag
	if a.gz != nil && acceptsGzip(r) {
		body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// catalogJSON is the page's view of the catalog: the locales and, per key,
// its category, priority and name in every locale.
func catalogJSON(c Catalog) ([]byte, error) {
	type key struct {
		Key      string            `json:"key"`
		Category doorlog.Category  `json:"category"`
		Priority doorlog.Priority  `json:"priority"`
		Names    map[string]string `json:"names"`
	}
	out := struct {
		Locales []string `json:"locales"`
		Keys    []key    `json:"keys"`
	}{Locales: catalog.Locales()}
	for _, k := range c.Keys() {
		e := c.Entry(k)
		names := map[string]string{}
		for _, loc := range out.Locales {
			names[loc] = c.Name(loc, k)
		}
		out.Keys = append(out.Keys, key{Key: k, Category: e.Category, Priority: e.Priority, Names: names})
	}
	return json.Marshal(out)
}

// sessionJSON describes the logged-in visitor to the page.
type sessionJSON struct {
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	SiteIDs   []string  `json:"site_ids"`
	ExpiresAt time.Time `json:"expires_at"`
}

func toSessionJSON(tok *doorlog.Token) sessionJSON {
	s := sessionJSON{Username: tok.Username, Role: string(tok.Role), SiteIDs: tok.SiteIDs, ExpiresAt: tok.ExpiresAt.UTC()}
	if s.SiteIDs == nil {
		s.SiteIDs = []string{}
	}
	return s
}

// maxLoginBody bounds a login request's body.
const maxLoginBody = 16 << 10

// errCrossOrigin refuses a login or logout sent from another site's page.
var errCrossOrigin = doorlog.Errorf(doorlog.EFORBIDDEN, "cross-origin request refused")

// login serves POST /web/login: a form (username, password) or the same
// as a JSON object. On success it sets the session cookie with a login
// token (auth.LoginTTL) and answers the session; on failure a 401 that
// does not tell a wrong username from a wrong password, or a 429 with
// Retry-After and a message the page shows when the username or the
// address is throttled. auth.Service.Login stores every attempt as a
// server event, as for the BAS-IP and OLOID logins.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := checkOrigin(r); err != nil {
		h.writeErr(w, r, err)
		return
	}
	username, password, err := readCredentials(w, r)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	res, err := h.cfg.Auth.Login(r.Context(), auth.LoginRequest{Username: username, Password: password, Request: r})
	switch doorlog.ErrorCode(err) {
	case "":
	case doorlog.EUNAUTHORIZED:
		h.writeErr(w, r, auth.ErrLogin)
		return
	case doorlog.ETOOMANY:
		respond.RetryAfter(w, err)
		writeError(w, http.StatusTooManyRequests, tooManyMessage(doorlog.RetryAfter(err)), doorlog.ETOOMANY)
		return
	default:
		h.writeErr(w, r, err)
		return
	}
	http.SetCookie(w, h.sessionCookie(r, res.Secret, res.Token.ExpiresAt))
	writeJSON(w, http.StatusOK, toSessionJSON(res.Token))
}

// tooManyMessage is what the page shows when a login is throttled for
// secs seconds.
func tooManyMessage(d time.Duration) string {
	secs := max(1, int(math.Ceil(d.Seconds())))
	wait := fmt.Sprintf("%d seconds", secs)
	switch {
	case secs == 1:
		wait = "1 second"
	case secs > 90:
		wait = fmt.Sprintf("%d minutes", (secs+59)/60)
	}
	return "Too many failed login attempts. Try again in " + wait + "."
}

// readCredentials reads the username and password of a login from a JSON
// object or a form in the body (never from the query string, which ends
// up in browser histories and proxy logs).
func readCredentials(w http.ResponseWriter, r *http.Request) (username, password string, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var in struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return "", "", doorlog.Errorf(doorlog.EINVALID, "request body is too large")
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return "", "", doorlog.Errorf(doorlog.EINVALID, "request body is not a JSON object with a username and a password")
		}
		username, password = in.Username, in.Password
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(maxLoginBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return "", "", doorlog.Errorf(doorlog.EINVALID, "request body is not a valid form")
		}
		username, password = r.PostForm.Get("username"), r.PostForm.Get("password")
	default:
		return "", "", doorlog.Errorf(doorlog.EINVALID, "send the username and password as a form or a JSON object")
	}
	if username == "" || password == "" {
		return "", "", doorlog.Errorf(doorlog.EINVALID, "username and password are required")
	}
	return username, password, nil
}

// logout serves POST /web/logout: it ends the session's token and deletes
// the cookie. It answers 204 whether or not there was a session, so a
// stale page can always log out.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := checkOrigin(r); err != nil {
		h.writeErr(w, r, err)
		return
	}
	if secret := auth.SessionToken(r); secret != "" {
		if err := h.cfg.Auth.Revoke(r.Context(), secret); err != nil && doorlog.ErrorCode(err) != doorlog.EUNAUTHORIZED {
			h.cfg.Logger.ErrorContext(r.Context(), "web: revoke session token", "err", err)
		}
	}
	http.SetCookie(w, h.clearCookie(r))
	w.WriteHeader(http.StatusNoContent)
}

// session serves GET /web/session: who the session cookie logs in, or a
// 401 (and the cookie deleted) when it logs in nobody.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	secret := auth.SessionToken(r)
	if secret == "" {
		h.writeErr(w, r, auth.ErrToken)
		return
	}
	tok, err := h.cfg.Auth.Authenticate(r.Context(), secret)
	if err != nil {
		if doorlog.ErrorCode(err) == doorlog.EUNAUTHORIZED {
			http.SetCookie(w, h.clearCookie(r))
		}
		h.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toSessionJSON(tok))
}

// sessionCookie is the cookie that carries a login token: unreadable by
// scripts, never sent with a cross-site request, and only over TLS when
// the page was loaded over TLS.
func (h *Handler) sessionCookie(r *http.Request, secret string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     auth.SessionCookie,
		Value:    secret,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil,
	}
	if !expires.IsZero() {
		c.Expires = expires.UTC()
		c.MaxAge = max(1, int(expires.Sub(h.cfg.Now()).Seconds()))
	}
	return c
}

// clearCookie deletes the session cookie.
func (h *Handler) clearCookie(r *http.Request) *http.Cookie {
	c := h.sessionCookie(r, "", time.Time{})
	c.MaxAge = -1
	return c
}

// checkOrigin refuses a request whose Origin header (sent by browsers with
// every POST) names another site than the one it was sent to. Requests
// without one (curl, scripts) are let through: they carry no ambient
// browser credentials to abuse.
func checkOrigin(r *http.Request) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errCrossOrigin
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return errCrossOrigin
	}
	return nil
}

// errorBody is the shape of every error of the page's endpoints, the same
// as the native API's, so the page reads both alike.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func (h *Handler) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	code := doorlog.ErrorCode(err)
	status := respond.Status(code)
	if status == http.StatusInternalServerError {
		code = doorlog.EINTERNAL
		h.cfg.Logger.ErrorContext(r.Context(), "web request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	respond.RetryAfter(w, err)
	writeError(w, status, doorlog.ErrorMessage(err), code)
}

func writeError(w http.ResponseWriter, status int, message, code string) {
	writeJSON(w, status, errorBody{Error: message, Code: code})
}

// writeJSON answers v, a value of the page's own wire types, which always
// encode.
func writeJSON(w http.ResponseWriter, status int, v any) {
	_ = respond.JSON(w, status, v)
}
