package api

import (
	"net/http"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// watermarkJSON is a watermark in the native API: where a BAS-IP reader
// cleared its log (docs/api-basip.md, "Clear and watermarks").
type watermarkJSON struct {
	ID string `json:"id"`
	// Username is the account that cleared, null for a token made without
	// one; TokenID is then that token's id.
	Username *string `json:"username"`
	TokenID  *string `json:"token_id"`
	// DeviceID is the device whose path was cleared, null for the root.
	DeviceID *string `json:"device_id"`
	// After is the newest event id stored at the clear, null when none was.
	After     *string   `json:"after"`
	ClearedAt time.Time `json:"cleared_at"`
}

func toWatermarkJSON(w *doorlog.Watermark) watermarkJSON {
	orNull := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return watermarkJSON{ID: w.ID, Username: orNull(w.Username), TokenID: orNull(w.TokenID),
		DeviceID: orNull(w.DeviceID), After: orNull(w.After), ClearedAt: w.ClearedAt.UTC()}
}

// errWatermarksAdmin refuses the watermarks to anyone but an admin of
// every site: a watermark names accounts and devices of any site.
var errWatermarksAdmin = doorlog.Errorf(doorlog.EFORBIDDEN, "only an admin of every site may see and reset watermarks")

// requireAllAdmin returns nil for an admin token of every site.
func requireAllAdmin(r *http.Request) error {
	tok, err := requireRole(r, doorlog.RoleAdmin)
	if err != nil {
		return err
	}
	if !tok.Scope().All {
		return errWatermarksAdmin
	}
	return nil
}

// listWatermarks serves GET /v1/watermarks: every watermark, the most
// recent clear first.
func (h *Handler) listWatermarks(w http.ResponseWriter, r *http.Request) {
	if err := requireAllAdmin(r); err != nil {
		h.writeError(w, r, err)
		return
	}
	marks, err := h.cfg.Store.ListWatermarks(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := make([]watermarkJSON, 0, len(marks))
	for _, m := range marks {
		out = append(out, toWatermarkJSON(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"watermarks": out})
}

// deleteWatermark serves DELETE /v1/watermarks/{id}: the reader sees every
// event again on its next BAS-IP listing.
func (h *Handler) deleteWatermark(w http.ResponseWriter, r *http.Request) {
	if err := requireAllAdmin(r); err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.cfg.Store.DeleteWatermark(r.Context(), r.PathValue("id")); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
