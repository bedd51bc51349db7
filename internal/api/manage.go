package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/collector"
	"github.com/doorlog/doorlog/internal/doorlog"
)

// Wire types of the management endpoints.
type (
	siteJSON struct {
		ID        string    `json:"id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
	}
	deviceJSON struct {
		ID     string `json:"id"`
		SiteID string `json:"site_id"`
		Name   string `json:"name"`
		Model  string `json:"model"`
		// Listen is the device's own panel address, null for none;
		// ListenStatus what serving it is doing, null without one.
		Listen       *string           `json:"listen"`
		ListenStatus *listenStatusJSON `json:"listen_status"`
		// Pull is the panel the device's log is read from, without its
		// password; Collector how reading it goes. Both null without one.
		Pull      *pullJSON      `json:"pull"`
		Collector *collectorJSON `json:"collector"`
		CreatedAt time.Time      `json:"created_at"`
	}
	pullJSON struct {
		URL      string `json:"url"`
		Username string `json:"username"`
	}
	collectorJSON struct {
		State       string     `json:"state"`
		LastSuccess *time.Time `json:"last_success"`
		LastError   *string    `json:"last_error"`
		LastErrorAt *time.Time `json:"last_error_at"`
		LagSeconds  *float64   `json:"lag_seconds"`
		SkewSeconds float64    `json:"clock_skew_seconds"`
		Collected   int64      `json:"events_collected"`
		Gaps        int64      `json:"gaps"`
		APIVersion  *string    `json:"panel_api_version"`
	}
	// pullInput is a pull source as the API takes it: the password in
	// clear, sealed before it is stored, never answered.
	pullInput struct {
		URL      string  `json:"url"`
		Username string  `json:"username"`
		Password *string `json:"password"`
	}
	listenStatusJSON struct {
		State string    `json:"state"`
		Error *string   `json:"error"`
		Since time.Time `json:"since"`
	}
	accountJSON struct {
		Username  string    `json:"username"`
		Role      string    `json:"role"`
		SiteIDs   []string  `json:"site_ids"`
		CreatedAt time.Time `json:"created_at"`
	}
	tokenJSON struct {
		Token     string     `json:"token"`
		ID        string     `json:"id"`
		Role      string     `json:"role"`
		SiteIDs   []string   `json:"site_ids"`
		DeviceID  string     `json:"device_id,omitempty"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
)

func toSiteJSON(s *doorlog.Site) siteJSON {
	return siteJSON{ID: s.ID, Name: s.Name, CreatedAt: s.CreatedAt.UTC()}
}

func (h *Handler) toDeviceJSON(d *doorlog.Device) deviceJSON {
	out := deviceJSON{ID: d.ID, SiteID: d.SiteID, Name: d.Name, Model: d.Model, CreatedAt: d.CreatedAt.UTC()}
	if d.Listen != "" {
		listen := d.Listen
		out.Listen = &listen
		if h.cfg.Panels != nil {
			if st, ok := h.cfg.Panels.Status(d.ID); ok {
				out.ListenStatus = &listenStatusJSON{State: st.State, Since: st.Since.UTC()}
				if st.Error != "" {
					out.ListenStatus.Error = &st.Error
				}
			}
		}
	}
	if d.Pull != nil {
		out.Pull = &pullJSON{URL: d.Pull.URL, Username: d.Pull.Username}
		if h.cfg.Collectors != nil {
			if st, ok := h.cfg.Collectors.Status(d.ID); ok {
				out.Collector = toCollectorJSON(st)
			}
		}
	}
	return out
}

func toCollectorJSON(st collector.Status) *collectorJSON {
	c := &collectorJSON{State: st.State, SkewSeconds: st.Skew.Seconds(), Collected: st.Collected, Gaps: st.Gaps}
	if st.APIVersion != "" {
		v := st.APIVersion
		c.APIVersion = &v
	}
	if !st.LastSuccess.IsZero() {
		t := st.LastSuccess.UTC()
		lag := st.Lag.Seconds()
		c.LastSuccess, c.LagSeconds = &t, &lag
	}
	if st.LastError != "" {
		e, t := st.LastError, st.LastErrorAt.UTC()
		c.LastError, c.LastErrorAt = &e, &t
	}
	return c
}

// maxPullPassword bounds a panel's password, as an account's is bounded.
const maxPullPassword = 1024

// pullSource turns a pull source as sent into the one to store, keeping
// the password of old (the device's current source) when none is sent.
func (h *Handler) pullSource(in *pullInput, old *doorlog.PullSource) (*doorlog.PullSource, error) {
	p := &doorlog.PullSource{URL: in.URL, Username: in.Username}
	switch {
	case in.Password != nil && (*in.Password == "" || len(*in.Password) > maxPullPassword):
		return nil, doorlog.Errorf(doorlog.EINVALID, "pull password must be 1 to %d bytes", maxPullPassword)
	case in.Password != nil && h.cfg.Secrets == nil:
		return nil, doorlog.Errorf(doorlog.EINVALID, "this server keeps no pull sources")
	case in.Password != nil:
		p.SealedPassword = h.cfg.Secrets.Seal(*in.Password)
	case old != nil:
		p.SealedPassword = old.SealedPassword
	default:
		return nil, doorlog.Errorf(doorlog.EINVALID, "pull password is required")
	}
	return p, p.Validate()
}

// requireRole answers 403 unless the caller has one of the roles.
func requireRole(r *http.Request, roles ...doorlog.Role) (*doorlog.Token, error) {
	tok := auth.FromContext(r.Context())
	if tok != nil {
		for _, role := range roles {
			if tok.Role == role {
				return tok, nil
			}
		}
	}
	return nil, doorlog.Errorf(doorlog.EFORBIDDEN, "this token may not do that")
}

func (h *Handler) listSites(w http.ResponseWriter, r *http.Request) {
	tok, err := requireRole(r, doorlog.RoleAdmin, doorlog.RoleManager)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	sites, err := h.cfg.Store.ListSites(r.Context(), tok.Scope())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := make([]siteJSON, 0, len(sites))
	for _, s := range sites {
		out = append(out, toSiteJSON(s))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sites": out})
}

func (h *Handler) createSite(w http.ResponseWriter, r *http.Request) {
	tok, err := requireRole(r, doorlog.RoleAdmin)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if !tok.Scope().All {
		h.writeError(w, r, doorlog.Errorf(doorlog.EFORBIDDEN, "only an admin of every site may create sites"))
		return
	}
	var in struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	site := &doorlog.Site{ID: in.ID, Name: in.Name, CreatedAt: h.cfg.Now().UTC()}
	if err := site.Validate(); err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.cfg.Store.CreateSite(r.Context(), site); err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toSiteJSON(site))
}

func (h *Handler) listDevices(w http.ResponseWriter, r *http.Request) {
	tok, err := requireRole(r, doorlog.RoleAdmin, doorlog.RoleManager)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	siteIDs, err := listParam(r.URL.Query(), "site_id")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	f := doorlog.DeviceFilter{Scope: tok.Scope(), SiteIDs: siteIDs}
	devices, err := h.cfg.Store.ListDevices(r.Context(), f)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := make([]deviceJSON, 0, len(devices))
	for _, d := range devices {
		out = append(out, h.toDeviceJSON(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
}

func (h *Handler) createDevice(w http.ResponseWriter, r *http.Request) {
	tok, err := requireRole(r, doorlog.RoleAdmin)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var in struct {
		ID     string     `json:"id"`
		SiteID string     `json:"site_id"`
		Name   string     `json:"name"`
		Model  string     `json:"model"`
		Listen string     `json:"listen"`
		Pull   *pullInput `json:"pull"`
	}
	if err := decode(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	dev := &doorlog.Device{ID: in.ID, SiteID: in.SiteID, Name: in.Name, Model: in.Model, Listen: in.Listen, CreatedAt: h.cfg.Now().UTC()}
	if in.Pull != nil {
		if dev.Pull, err = h.pullSource(in.Pull, nil); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	if err := dev.Validate(); err != nil {
		h.writeError(w, r, err)
		return
	}
	// A site outside the caller's scope reads as unknown, as the store
	// answers for a site that does not exist.
	if !tok.Scope().Allows(dev.SiteID) {
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "unknown site %q", dev.SiteID))
		return
	}
	if err := h.cfg.Store.CreateDevice(r.Context(), dev); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.deviceChanged(dev)
	writeJSON(w, http.StatusCreated, h.toDeviceJSON(dev))
}

// deviceChanged tells the panel addresses and the collectors of a device
// stored anew.
func (h *Handler) deviceChanged(d *doorlog.Device) {
	if h.cfg.Panels != nil {
		h.cfg.Panels.Set(d.ID, d.Listen)
	}
	if h.cfg.Collectors != nil {
		h.cfg.Collectors.Set(d)
	}
}

// strictJSON decodes a part of a body already read, refusing unknown
// fields as decode does.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// errNoDevice is the 404 of a device that does not exist or is outside the
// caller's sites: the two are not told apart.
var errNoDevice = doorlog.Errorf(doorlog.ENOTFOUND, "device not found")

// updateDevice serves PATCH /v1/devices/{id}: the fields sent replace the
// device's (name, model, listen), the others stay; "listen": null or ""
// removes the address. A change of listen address takes effect at once,
// without a restart. An admin of the device's site only.
func (h *Handler) updateDevice(w http.ResponseWriter, r *http.Request) {
	tok, err := requireRole(r, doorlog.RoleAdmin)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	dev, err := h.cfg.Store.FindDevice(r.Context(), r.PathValue("id"))
	if doorlog.ErrorCode(err) == doorlog.ENOTFOUND || err == nil && !tok.Scope().Allows(dev.SiteID) {
		h.writeError(w, r, errNoDevice)
		return
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var in struct {
		Name   *string         `json:"name"`
		Model  *string         `json:"model"`
		Listen json.RawMessage `json:"listen"`
		Pull   json.RawMessage `json:"pull"`
	}
	if err := decode(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	if in.Name != nil {
		dev.Name = *in.Name
	}
	if in.Model != nil {
		dev.Model = *in.Model
	}
	if in.Listen != nil {
		var listen *string
		if err := json.Unmarshal(in.Listen, &listen); err != nil {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "field \"listen\" must be a string or null"))
			return
		}
		dev.Listen = ""
		if listen != nil {
			dev.Listen = *listen
		}
	}
	if in.Pull != nil {
		var pull *pullInput
		if err := strictJSON(in.Pull, &pull); err != nil {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "field \"pull\" must be an object with url, username and password, or null"))
			return
		}
		if pull == nil {
			dev.Pull = nil
		} else if dev.Pull, err = h.pullSource(pull, dev.Pull); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	if err := h.cfg.Store.UpdateDevice(r.Context(), dev); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.deviceChanged(dev)
	writeJSON(w, http.StatusOK, h.toDeviceJSON(dev))
}

// checkGrant verifies that a caller may hand out role over siteIDs: only
// within its own scope, and an unrestricted admin only by one.
func (h *Handler) checkGrant(r *http.Request, caller *doorlog.Token, role doorlog.Role, siteIDs []string) error {
	scope := caller.Scope()
	switch role {
	case doorlog.RoleAdmin:
		if len(siteIDs) == 0 && !scope.All {
			return doorlog.Errorf(doorlog.EFORBIDDEN, "only an admin of every site may grant access to every site")
		}
	case doorlog.RoleManager:
		if len(siteIDs) == 0 {
			return doorlog.Errorf(doorlog.EINVALID, "a manager needs at least one site in site_ids")
		}
	default:
		return doorlog.Errorf(doorlog.EINVALID, "role must be \"admin\" or \"manager\"")
	}
	seen := map[string]bool{}
	for _, id := range siteIDs {
		if seen[id] {
			return doorlog.Errorf(doorlog.EINVALID, "site %q is listed twice", id)
		}
		seen[id] = true
		if !scope.Allows(id) {
			return doorlog.Errorf(doorlog.EINVALID, "unknown site %q", id)
		}
		if _, err := h.cfg.Store.FindSite(r.Context(), id); err != nil {
			if doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
				return doorlog.Errorf(doorlog.EINVALID, "unknown site %q", id)
			}
			return err
		}
	}
	return nil
}

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

func (h *Handler) createAccount(w http.ResponseWriter, r *http.Request) {
	tok, err := requireRole(r, doorlog.RoleAdmin)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var in struct {
		Username string   `json:"username"`
		Password string   `json:"password"`
		Role     string   `json:"role"`
		SiteIDs  []string `json:"site_ids"`
	}
	if err := decode(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	if !usernamePattern.MatchString(in.Username) {
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "username must be 1 to 64 letters, digits, '.', '_', '@', '+' or '-'"))
		return
	}
	if len(in.Password) < 8 {
		h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "password must be at least 8 characters"))
		return
	}
	role := doorlog.Role(in.Role)
	if err := h.checkGrant(r, tok, role, in.SiteIDs); err != nil {
		h.writeError(w, r, err)
		return
	}
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	acct := &doorlog.Account{Username: in.Username, PasswordHash: hash, Role: role, SiteIDs: nonNil(in.SiteIDs), CreatedAt: h.cfg.Now().UTC()}
	if err := h.cfg.Store.CreateAccount(r.Context(), acct); err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, accountJSON{Username: acct.Username, Role: string(acct.Role), SiteIDs: acct.SiteIDs, CreatedAt: acct.CreatedAt})
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	tok, err := requireRole(r, doorlog.RoleAdmin)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var in struct {
		Role      string   `json:"role"`
		SiteIDs   []string `json:"site_ids"`
		DeviceID  string   `json:"device_id"`
		ExpiresIn string   `json:"expires_in"`
	}
	if err := decode(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	tmpl := doorlog.Token{Role: doorlog.Role(in.Role), SiteIDs: nonNil(in.SiteIDs)}
	// Without expires_in a token gets the same default lifetime as one
	// made by the CLI; "never" must be asked for.
	lifetime := auth.DefaultExpiry(tmpl.Role)
	if in.ExpiresIn != "" {
		if lifetime, err = auth.ParseExpiry(in.ExpiresIn); err != nil {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "expires_in must be a positive duration such as \"720h\" or \"90d\" (at most 100 years), or \"never\""))
			return
		}
	}
	if lifetime > 0 {
		tmpl.ExpiresAt = h.cfg.Now().Add(lifetime).UTC()
	}
	if tmpl.Role == doorlog.RoleDevice {
		if len(in.SiteIDs) > 0 {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "a device token takes device_id, not site_ids"))
			return
		}
		id, err := doorlog.CanonicalDeviceID(in.DeviceID)
		if err != nil {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "a device token needs the device_id of an existing device"))
			return
		}
		dev, err := h.cfg.Store.FindDevice(r.Context(), id)
		if err != nil || !tok.Scope().Allows(dev.SiteID) {
			if err == nil || doorlog.ErrorCode(err) == doorlog.ENOTFOUND {
				err = doorlog.Errorf(doorlog.EINVALID, "unknown device %s", id)
			}
			h.writeError(w, r, err)
			return
		}
		tmpl.DeviceID = dev.ID
	} else {
		if in.DeviceID != "" {
			h.writeError(w, r, doorlog.Errorf(doorlog.EINVALID, "device_id is only for a device token"))
			return
		}
		if err := h.checkGrant(r, tok, tmpl.Role, in.SiteIDs); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	secret, created, err := h.cfg.Auth.IssueToken(r.Context(), tmpl)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := tokenJSON{Token: secret, ID: created.ID, Role: string(created.Role), SiteIDs: created.SiteIDs, DeviceID: created.DeviceID}
	if !created.ExpiresAt.IsZero() {
		t := created.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	writeJSON(w, http.StatusCreated, out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
