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
	"github.com/doorlog/doorlog/internal/respond"
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

// login serves POST /login: auth.Service.Login throttles the attempt,
// checks the password (plain or its hex MD5) and stores the attempt as a
// server event. TenantName, when given, must be a site the account may
// see, or the login fails like a wrong password.
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
	lr := auth.LoginRequest{Username: req.UserName, Password: req.Password, Request: r}
	if req.TenantName != "" {
		lr.Allow = func(ctx context.Context, acct *doorlog.Account) (bool, error) {
			return h.tenantAllowed(ctx, acct, req.TenantName)
		}
	}
	res, err := h.auth.Login(r.Context(), lr)
	switch doorlog.ErrorCode(err) {
	case "":
		writeJSON(w, http.StatusOK, loginResponse{
			Data:    loginData{AccessToken: res.Secret, TokenType: "Bearer", ExpiresIn: int64(auth.LoginTTL / time.Second)},
			Message: MessageLogin,
		})
	case doorlog.EUNAUTHORIZED:
		h.writeError(w, r, errInvalidCredentials)
	case doorlog.ETOOMANY:
		respond.RetryAfter(w, err)
		h.writeError(w, r, errTooManyLogins)
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
