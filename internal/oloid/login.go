package oloid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// The keys of the events a login through this API stores: the same as
// BAS-IP's, since it is the same thing that happened.
const (
	KeyLoginSucceeded = auth.KeyLoginSucceeded
	KeyLoginFailed    = auth.KeyLoginFailed
)

// loginRequest is the body of POST /login. Names match case-insensitively
// (encoding/json), so "userName" works too.
type loginRequest struct {
	UserName   string `json:"UserName"`
	Password   string `json:"Password"`
	TenantName string `json:"TenantName"`
}

// loginResponse is the 200 answer of POST /login.
type loginResponse struct {
	Data    loginData `json:"data"`
	Message string    `json:"message"`
}

type loginData struct {
	AccessToken string `json:"accessToken"`
	TokenType   string `json:"tokenType"`
	// ExpiresIn is the token's lifetime in seconds.
	ExpiresIn int64 `json:"expiresIn"`
}

// parseLogin checks a login body: JSON, an object, strings. An empty body
// is {}.
func parseLogin(body []byte) (loginRequest, error) {
	var req loginRequest
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return req, nil
	}
	if err := json.Unmarshal(body, &req); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			if typ.Field == "" {
				return req, invalid(msgNotObject)
			}
			return req, invalid(typ.Field + " must be a string")
		}
		return req, invalid(msgBadJSON)
	}
	if body[0] != '{' {
		return req, invalid(msgNotObject)
	}
	return req, nil
}

// login serves POST /login: the password is checked by auth.Service.Login
// (plain or its hex MD5). TenantName, when given, must be a site the
// account may see, or the login fails like a wrong password. Every attempt
// with a UserName is stored as a server event.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	// The answer carries a secret: no cache may keep it.
	w.Header().Set("Cache-Control", "no-store")
	body, err := readBody(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	req, err := parseLogin(body)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if req.UserName == "" {
		h.writeError(w, r, errInvalidCredentials)
		return
	}
	acct, token, err := h.auth.Login(r.Context(), req.UserName, req.Password)
	if err == nil && req.TenantName != "" {
		var allowed bool
		if allowed, err = h.tenantAllowed(r.Context(), acct, req.TenantName); err == nil && !allowed {
			// The token just issued is never shown; it expires unused.
			err = errInvalidCredentials
		}
	}
	switch {
	case err == nil:
		h.storeLogin(r, true, acct)
		h.writeJSON(w, r, http.StatusOK, loginResponse{
			Data:    loginData{AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(auth.LoginTTL / time.Second)},
			Message: MessageLogin,
		})
	case doorlog.ErrorCode(err) == doorlog.EUNAUTHORIZED:
		h.storeLogin(r, false, acct)
		h.writeError(w, r, errInvalidCredentials)
	default:
		// The store failed: whether the attempt was right is unknown, so
		// nothing is stored.
		h.writeError(w, r, err)
	}
}

// tenantAllowed reports whether acct may see site tenant: one of its sites,
// or for an admin of every site any site that exists.
func (h *Handler) tenantAllowed(ctx context.Context, acct *doorlog.Account, tenant string) (bool, error) {
	if acct.Role == doorlog.RoleAdmin && len(acct.SiteIDs) == 0 {
		_, err := h.store.FindSite(ctx, tenant)
		switch doorlog.ErrorCode(err) {
		case "":
			return true, nil
		case doorlog.ENOTFOUND, doorlog.EINVALID:
			return false, nil
		default:
			return false, err
		}
	}
	return slices.Contains(acct.SiteIDs, tenant), nil
}

// storeLogin stores a login attempt as a server event. A failure is logged
// and does not change the answer.
func (h *Handler) storeLogin(r *http.Request, ok bool, acct *doorlog.Account) {
	ev := auth.LoginEvent(h.now(), ok, acct, nil)
	entry := h.catalog.Entry(ev.Key)
	ev.Category, ev.Priority = entry.Category, entry.Priority
	if h.appender == nil {
		h.logger.ErrorContext(r.Context(), "oloid: no appender, login event not stored", "key", ev.Key)
		return
	}
	if _, err := h.appender.AppendEvents(r.Context(), []doorlog.Event{ev}); err != nil {
		h.logger.ErrorContext(r.Context(), "oloid: store login event", "key", ev.Key, "err", err)
	}
}
