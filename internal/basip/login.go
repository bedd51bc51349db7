package basip

import (
	"net/http"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/respond"
)

// The keys of the events a login through this API stores.
const (
	KeyLoginSucceeded = auth.KeyLoginSucceeded
	KeyLoginFailed    = auth.KeyLoginFailed
)

// loginResponse is the 200 answer of GET /api/v1/login.
type loginResponse struct {
	AccountType doorlog.Role `json:"account_type"`
	Token       string       `json:"token"`
}

// loginHandler serves GET /api/v1/login?username=U&password=P, or its
// per-device twin, where the attempt is stored as that device's event. P is
// the hex MD5 of the password or the password itself. auth.Service.Login
// throttles, checks and records the attempt; this maps the outcome to
// BAS-IP's answers.
func (h *Handler) loginHandler(perDevice bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The answer carries a secret: no cache may keep it.
		w.Header().Set("Cache-Control", "no-store")
		var dev *doorlog.Device
		if perDevice {
			var ok bool
			if dev, ok = h.device(w, r); !ok {
				return
			}
		}
		q := r.URL.Query()
		username, password := q.Get("username"), q.Get("password")
		if username == "" {
			writeError(w, http.StatusUnauthorized, ErrLogIn)
			return
		}
		res, err := h.auth.Login(r.Context(), auth.LoginRequest{Username: username, Password: password, Request: r, Device: dev})
		switch doorlog.ErrorCode(err) {
		case "":
			h.writeJSON(w, r, http.StatusOK, loginResponse{AccountType: res.Account.Role, Token: res.Secret})
		case doorlog.EUNAUTHORIZED:
			writeError(w, http.StatusUnauthorized, ErrLogIn)
		case doorlog.ETOOMANY:
			respond.RetryAfter(w, err)
			writeError(w, http.StatusTooManyRequests, ErrTooManyLogins)
		default:
			h.internalError(w, r, "login", err)
		}
	})
}

// infoResponse is the answer of GET /api/info: every field a BAS-IP panel
// answers, all of them always present, since some clients map the answer
// onto a type whose fields are required.
type infoResponse struct {
	DeviceModel        string `json:"device_model"`
	DeviceName         string `json:"device_name"`
	DeviceType         string `json:"device_type"`
	DeviceSerialNumber string `json:"device_serial_number"`
	FirmwareVersion    string `json:"firmware_version"`
	FrontendVersion    string `json:"frontend_version"`
	FrameworkVersion   string `json:"framework_version"`
	APIVersion         string `json:"api_version"`
	HybridEnable       bool   `json:"hybrid_enable"`
	HybridVersion      string `json:"hybrid_version"`
	Commit             string `json:"commit"`
}

// infoHandler serves GET /api/info, without auth: the server's own
// description at the root, a device's under /devices/{device_id}/ (its
// model and name, its id as its serial number). Versions are doorlog's;
// nothing of the toolchain it was built with is told.
func (h *Handler) infoHandler(perDevice bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp := infoResponse{
			DeviceModel:      h.info.DeviceModel,
			DeviceName:       h.info.DeviceName,
			DeviceType:       TypeServer,
			FirmwareVersion:  h.info.Version,
			FrontendVersion:  h.info.Version,
			FrameworkVersion: h.info.Version,
			APIVersion:       APIVersion,
			HybridVersion:    h.info.Version,
			Commit:           h.info.Commit,
		}
		if perDevice {
			dev, ok := h.device(w, r)
			if !ok {
				return
			}
			resp.DeviceModel, resp.DeviceName, resp.DeviceType, resp.DeviceSerialNumber = dev.Model, dev.Name, TypePanel, dev.ID
		}
		h.writeJSON(w, r, http.StatusOK, resp)
	})
}
