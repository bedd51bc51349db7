package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/cursor"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// Who may see and revoke which tokens, through GET /v1/tokens and
// DELETE /v1/tokens/{id}, follows who may create them (POST /v1/tokens and
// checkGrant):
//
//   - an admin of every site: every token;
//   - an admin of some sites: the tokens confined to those sites (admin
//     and manager tokens naming only those sites, device tokens of their
//     devices; see doorlog.Scope.Confines), its own among them;
//   - a manager or a device: its own token only.
//
// A token outside the caller's reach is answered like one that does not
// exist (404), so that nobody learns which tokens exist beyond their own.

// tokenInfoJSON is a token as GET /v1/tokens lists it: never its secret,
// nor the secret's hash.
type tokenInfoJSON struct {
	ID       string   `json:"id"`
	Role     string   `json:"role"`
	SiteIDs  []string `json:"site_ids"`
	DeviceID string   `json:"device_id,omitempty"`
	// Username is the account a login issued the token to.
	Username  string     `json:"username,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	Expired   bool       `json:"expired"`
	// Current marks the token that made the request.
	Current bool `json:"current"`
}

// tokenListCursor is what a GET /v1/tokens cursor carries: the last token
// served. Kind keeps an event list's cursor from being taken for one.
type tokenListCursor struct {
	Kind      string `json:"k"`
	CreatedMS int64  `json:"c"`
	ID        string `json:"i"`
}

const tokenCursorKind = "tokens"

// listTokens serves GET /v1/tokens: the tokens within the caller's reach,
// newest first, one page at a time. Expired tokens (kept until the server
// purges them, auth.ExpiredTokenRetention after they expire) are listed
// only with expired=true.
func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request) {
	caller := auth.FromContext(r.Context())
	q := r.URL.Query()
	f := doorlog.TokenFilter{Scope: caller.Scope()}
	if caller.Role != doorlog.RoleAdmin {
		f = doorlog.TokenFilter{Scope: doorlog.Scope{All: true}, ID: caller.ID}
	}
	now := h.cfg.Now()
	expired, err := singleParam(q, "expired")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	switch expired {
	case "", "false":
		f.ActiveAt = now
	case "true":
	default:
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "expired: want true or false, got %.64q", expired))
		return
	}
	limit := defaultListLimit
	v, err := singleParam(q, "limit")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "limit: want an integer from 1 to %d, got %.64q", maxListLimit, v))
			return
		}
		limit = n
	}
	token, err := singleParam(q, "cursor")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if token != "" {
		codec, err := h.cursorCodec(r.Context())
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		var c tokenListCursor
		if err := codec.Decode(token, &c); err != nil || c.Kind != tokenCursorKind {
			h.writeError(w, r, cursor.ErrInvalid)
			return
		}
		f.After = &doorlog.TokenCursor{CreatedAt: time.UnixMilli(c.CreatedMS).UTC(), ID: c.ID}
	}
	f.Limit = limit + 1
	tokens, err := h.cfg.Store.ListTokens(r.Context(), f)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var next *string
	if len(tokens) > limit {
		tokens = tokens[:limit]
		last := tokens[len(tokens)-1]
		codec, err := h.cursorCodec(r.Context())
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		s, err := codec.Encode(tokenListCursor{Kind: tokenCursorKind, CreatedMS: last.CreatedAt.UnixMilli(), ID: last.ID})
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		next = &s
	}
	out := make([]tokenInfoJSON, 0, len(tokens))
	for _, t := range tokens {
		info := tokenInfoJSON{
			ID: t.ID, Role: string(t.Role), SiteIDs: nonNil(t.SiteIDs), DeviceID: t.DeviceID, Username: t.Username,
			CreatedAt: t.CreatedAt.UTC(), Expired: t.Expired(now), Current: t.ID == caller.ID,
		}
		if !t.ExpiresAt.IsZero() {
			exp := t.ExpiresAt.UTC()
			info.ExpiresAt = &exp
		}
		out = append(out, info)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out, "next_cursor": next})
}

// errNoToken answers a token that does not exist or is beyond the caller's
// reach, alike.
var errNoToken = doorlog.Errorf(doorlog.ENOTFOUND, "token not found")

// revokeToken serves DELETE /v1/tokens/{id}: it deletes the token from
// the store, so that it fails from its very next request on, on every API
// and in every process sharing the store (tokens are read from the store
// on each request, never cached). Any caller may revoke its own token.
func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	caller := auth.FromContext(r.Context())
	id := r.PathValue("id")
	if id != caller.ID {
		if err := h.checkRevoke(r, caller, id); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	if err := h.cfg.Store.DeleteToken(r.Context(), id); err != nil {
		if doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
			err = errNoToken // revoked by someone else meanwhile
		}
		h.writeError(w, r, err)
		return
	}
	// Its live streams end now, not at their next heartbeat.
	h.streams.end(id)
	w.WriteHeader(http.StatusNoContent)
}

// checkRevoke verifies that caller may revoke the token with id, another
// than its own: only an admin may, within its scope.
func (h *Handler) checkRevoke(r *http.Request, caller *doorlog.Token, id string) error {
	if caller.Role != doorlog.RoleAdmin || id == "" || len(id) > 200 {
		return errNoToken
	}
	scope := caller.Scope()
	target, err := h.cfg.Store.FindToken(r.Context(), id)
	if err != nil {
		if doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
			return errNoToken
		}
		return err
	}
	if scope.All {
		return nil
	}
	var deviceSite string
	if target.Role == doorlog.RoleDevice {
		dev, err := h.cfg.Store.FindDevice(r.Context(), target.DeviceID)
		switch {
		case err == nil:
			deviceSite = dev.SiteID
		case doorlog.ErrorCode(err) != doorlog.ENOTFOUND:
			return err
		}
	}
	if !scope.Confines(target, deviceSite) {
		return errNoToken
	}
	return nil
}
