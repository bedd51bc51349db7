package app_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
)

// TestWatermarks clears a poller's BAS-IP log over the real server, then
// an admin of every site finds the watermark under /v1/watermarks and
// resets it, after which the poller sees every event again; nobody else
// may see or reset watermarks.
func TestWatermarks(t *testing.T) {
	ts, admin := startGate(t)
	status, body := call(t, ts, "POST", "/v1/accounts", admin, `{"username":"poller","password":"poller password","role":"admin"}`)
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("create account: got %d %s", status, body)
	}
	status, body = call(t, ts, "POST", "/v1/tokens", admin, `{"role":"manager","site_ids":["a"]}`)
	var mgr struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &mgr); err != nil || mgr.Token == "" {
		t.Fatalf("create manager token: got %d %s", status, body)
	}
	status, body = call(t, ts, "POST", "/v1/events", admin,
		`[{"device_id":"`+gateDevice+`","time":1714557600000,"key":"door_was_opened","source_id":"e1"},`+
			`{"device_id":"`+gateDevice+`","time":1714557601000,"key":"door_was_closed","source_id":"e2"}]`)
	if status != http.StatusOK {
		t.Fatalf("ingest: got %d %s", status, body)
	}
	sum := md5.Sum([]byte("poller password"))
	status, body = call(t, ts, "GET", "/api/v1/login?username=poller&password="+hex.EncodeToString(sum[:]), "", "")
	var login struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &login); err != nil || login.Token == "" {
		t.Fatalf("BAS-IP login: got %d %s", status, body)
	}
	items := "/devices/" + gateDevice + "/api/v1/log/items"
	total := func() int {
		t.Helper()
		status, body := call(t, ts, "GET", items, login.Token, "")
		var b struct {
			ListOption struct {
				Pagination struct {
					TotalItems int `json:"total_items"`
				} `json:"pagination"`
			} `json:"list_option"`
		}
		if err := json.Unmarshal(body, &b); err != nil || status != http.StatusOK {
			t.Fatalf("BAS-IP list: got %d %s", status, body)
		}
		return b.ListOption.Pagination.TotalItems
	}
	if got := total(); got != 2 {
		t.Fatalf("before the clear: got %d events, want 2", got)
	}
	if status, body := call(t, ts, "POST", "/devices/"+gateDevice+"/api/v1/system/data/clear", login.Token, `{"clear_fields":["logs"]}`); status != http.StatusOK {
		t.Fatalf("clear: got %d %s", status, body)
	}
	if got := total(); got != 0 {
		t.Fatalf("after the clear: got %d events, want 0", got)
	}

	for _, tok := range []string{mgr.Token, login.Token + "x", ""} {
		if status, _ := call(t, ts, "GET", "/v1/watermarks", tok, ""); status != http.StatusForbidden && status != http.StatusUnauthorized {
			t.Errorf("GET /v1/watermarks by a non-admin: got %d, want 403 or 401", status)
		}
	}
	status, body = call(t, ts, "GET", "/v1/watermarks", admin, "")
	var list struct {
		Watermarks []struct {
			ID       string  `json:"id"`
			Username *string `json:"username"`
			TokenID  *string `json:"token_id"`
			DeviceID *string `json:"device_id"`
			After    *string `json:"after"`
		} `json:"watermarks"`
	}
	if err := json.Unmarshal(body, &list); err != nil || status != http.StatusOK {
		t.Fatalf("GET /v1/watermarks: got %d %s", status, body)
	}
	if len(list.Watermarks) != 1 {
		t.Fatalf("GET /v1/watermarks: got %s, want one watermark", body)
	}
	wm := list.Watermarks[0]
	if wm.Username == nil || *wm.Username != "poller" || wm.TokenID != nil || wm.DeviceID == nil || *wm.DeviceID != gateDevice || wm.After == nil {
		t.Errorf("the watermark: got %s, want poller's on %s, after the second event", body, gateDevice)
	}
	if status, body := call(t, ts, "DELETE", "/v1/watermarks/"+wm.ID, mgr.Token, ""); status != http.StatusForbidden {
		t.Errorf("DELETE by a manager: got %d %s, want 403", status, body)
	}
	if status, body := call(t, ts, "DELETE", "/v1/watermarks/"+wm.ID, admin, ""); status != http.StatusNoContent {
		t.Fatalf("DELETE /v1/watermarks/%s: got %d %s, want 204", wm.ID, status, body)
	}
	if status, body := call(t, ts, "DELETE", "/v1/watermarks/"+wm.ID, admin, ""); status != http.StatusNotFound {
		t.Errorf("DELETE twice: got %d %s, want 404", status, body)
	}
	if got := total(); got != 2 {
		t.Errorf("after the reset: got %d events, want 2", got)
	}
}
