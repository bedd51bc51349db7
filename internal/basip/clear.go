package basip

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// MaxClearBody is the largest body POST /api/v1/system/data/clear reads:
// pollers send a few dozen bytes.
const MaxClearBody = 64 << 10

// okResponse is the 200 answer of logout and clear. BAS-IP clients check
// the status alone; the body is a small JSON object rather than nothing,
// since some clients parse every answer as JSON and take an empty object
// for a failure.
type okResponse struct {
	Result string `json:"result"`
}

var okAnswer = okResponse{Result: "ok"}

// logoutHandler serves POST /api/v1/logout, or its per-device twin: the
// bearer token ends (auth.Service.Revoke), as a logout ends a panel's
// session. A missing, unknown or already ended token is 401 Log In.
func (h *Handler) logoutHandler(perDevice bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if perDevice {
			if _, found := h.device(w, r); !found {
				return
			}
		}
		bearer := auth.BearerToken(r)
		if bearer == "" {
			writeError(w, http.StatusUnauthorized, ErrLogIn)
			return
		}
		switch err := h.auth.Revoke(r.Context(), bearer); doorlog.ErrorCode(err) {
		case "":
			h.writeJSON(w, r, http.StatusOK, okAnswer)
		case doorlog.EUNAUTHORIZED:
			writeError(w, http.StatusUnauthorized, ErrLogIn)
		default:
			h.internalError(w, r, "logout", err)
		}
	})
}

// clearRequest is the body of a clear: API 2.x pollers send
// {"clear_fields": ["logs"]}, 1.x ones {"data_types": ["logs"]}.
type clearRequest struct {
	ClearFields []string `json:"clear_fields"`
	DataTypes   []string `json:"data_types"`
}

// dataLogs is the data type a clear names to clear the log.
const dataLogs = "logs"

// clearHandler serves POST /api/v1/system/data/clear, or its per-device
// twin. A panel deletes its log; doorlog deletes nothing, and records a
// watermark for the token's account (or the token, when it has none) on
// this path, so that the account's BAS-IP listings here show only what is
// stored after the clear, as the panel's would. Every other reader, API
// and the web page still see every event. A clear that does not name the
// log (doorlog keeps no other data a panel clears) changes nothing and
// answers 200 too. Checks run in this order: token (401), role (403),
// device (404), body (413, 400).
func (h *Handler) clearHandler(perDevice bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, found := h.admin(w, r)
		if !found {
			return
		}
		deviceID := ""
		if perDevice {
			dev, found := h.scopedDevice(w, r, tok)
			if !found {
				return
			}
			deviceID = dev.ID
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxClearBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, ErrBodyTooLarge)
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, ErrWrongBody)
			return
		}
		var req clearRequest
		if err := json.Unmarshal(b, &req); err != nil {
			writeError(w, http.StatusBadRequest, ErrWrongBody)
			return
		}
		if slices.Contains(req.ClearFields, dataLogs) || slices.Contains(req.DataTypes, dataLogs) {
			if _, err := h.store.SetWatermark(r.Context(), doorlog.WatermarkKeyOf(tok, deviceID), h.now()); err != nil {
				h.internalError(w, r, "set watermark", err)
				return
			}
		}
		h.writeJSON(w, r, http.StatusOK, okAnswer)
	})
}
