package app_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/app"
)

// freeAddr returns host:port with a port free on host right now.
func freeAddr(tb testing.TB, host string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		tb.Fatalf("listen on %s: %v", host, err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// panelGet sends a GET to a panel address as a client given only
// the panel's address would.
func panelGet(tb testing.TB, addr, path, token string) (int, []byte) {
	tb.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("GET http://%s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// refused reports whether nothing listens on addr.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// eventually retries check until it returns "" or twenty seconds pass, and
// fails the test with its last answer.
func eventually(tb testing.TB, what string, check func() string) {
	tb.Helper()
	var last string
	// Generous: on a loaded 2-core machine under -race, fifty collectors
	// reading a full ring each can take seconds; a condition that never
	// comes true fails all the same, only later.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if last = check(); last == "" {
			return
		}
	}
	tb.Fatalf("%s: %s", what, last)
}

// TestPanelAddresses gives devices addresses of their own in 127.0.0.0/8
// (Linux routes all of it to loopback) and drives each as a separate
// BAS-IP panel, as a client given only an IP address would: info, login,
// the log (that device's alone), clear and logout. Addresses are added,
// moved and removed through the API without a restart, one that cannot be
// bound is reported and served once it is free, and two devices cannot
// share one.
func TestPanelAddresses(t *testing.T) {
	ctx := context.Background()
	a, ts, admin := serveApp(t, app.Config{Name: "test", Version: "1.2.3", PanelRetry: 50 * time.Millisecond})
	mustCall := func(method, path, body string, want int) []byte {
		t.Helper()
		status, b := call(t, ts, method, path, admin, body)
		if status != want {
			t.Fatalf("%s %s: got %d %s, want %d", method, path, status, b, want)
		}
		return b
	}
	mustCall("POST", "/v1/sites", `{"id":"a","name":"A"}`, 201)
	mustCall("POST", "/v1/accounts", `{"username":"poller","password":"poller password","role":"admin"}`, 201)

	// Device 1 has an address from the start (before the panels start:
	// read from the store), devices 2 and 3 get theirs through the API.
	addr1, addr2 := freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3")
	dev := func(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
	mustCall("POST", "/v1/devices", `{"id":"`+dev(1)+`","site_id":"a","name":"Entrance","model":"AA-14FB","listen":"`+addr1+`"}`, 201)
	if err := a.StartPanels(ctx); err != nil {
		t.Fatal(err)
	}
	mustCall("POST", "/v1/devices", `{"id":"`+dev(2)+`","site_id":"a","name":"Garage","model":"AV-07T","listen":"`+addr2+`"}`, 201)
	mustCall("POST", "/v1/devices", `{"id":"`+dev(3)+`","site_id":"a","name":"Lobby"}`, 201)
	status, body := call(t, ts, "POST", "/v1/devices", admin, `{"id":"`+dev(4)+`","site_id":"a","name":"Twin","listen":"`+addr2+`"}`)
	if status != http.StatusConflict {
		t.Errorf("a device on another's address: got %d %s, want 409", status, body)
	}
	var batch []string
	for i, n := range []int{1, 1, 2, 3} {
		batch = append(batch, fmt.Sprintf(`{"device_id":%q,"time":%d,"key":"access_granted_by_valid_identifier","source_id":"s%d","model":{"number":%d,"type":"card","lock":1}}`, dev(n), 1714557600000+i, i, i))
	}
	mustCall("POST", "/v1/events", "["+strings.Join(batch, ",")+"]", 200)

	// Each address is its panel.
	for _, tt := range []struct {
		addr, name, id string
		events         int
	}{{addr1, "Entrance", dev(1), 2}, {addr2, "Garage", dev(2), 1}} {
		status, b := panelGet(t, tt.addr, "/api/info", "")
		var info struct {
			DeviceName   string `json:"device_name"`
			DeviceType   string `json:"device_type"`
			SerialNumber string `json:"device_serial_number"`
			APIVersion   string `json:"api_version"`
		}
		if err := json.Unmarshal(b, &info); err != nil || status != 200 || info.DeviceName != tt.name || info.SerialNumber != tt.id || info.DeviceType != "panel" || info.APIVersion != "2.9.0" {
			t.Errorf("%s /api/info: got %d %s, want %s's", tt.addr, status, b, tt.name)
		}
		sum := md5.Sum([]byte("poller password"))
		status, b = panelGet(t, tt.addr, "/api/v1/login?username=poller&password="+hex.EncodeToString(sum[:]), "")
		var login struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(b, &login); err != nil || status != 200 || login.Token == "" {
			t.Fatalf("%s login: got %d %s", tt.addr, status, b)
		}
		total := func() int {
			t.Helper()
			status, b := panelGet(t, tt.addr, "/api/v1/log/items?limit=50&filter_field=category&filter_type=equal&filter_value=access", login.Token)
			var list struct {
				ListOption struct {
					Pagination struct {
						TotalItems int `json:"total_items"`
					} `json:"pagination"`
				} `json:"list_option"`
			}
			if err := json.Unmarshal(b, &list); err != nil || status != 200 {
				t.Fatalf("%s log items: got %d %s", tt.addr, status, b)
			}
			return list.ListOption.Pagination.TotalItems
		}
		if got := total(); got != tt.events {
			t.Errorf("%s log items: got %d access events, want %s's %d", tt.addr, got, tt.name, tt.events)
		}
		if status, b := panelPost(t, tt.addr, "/api/v1/system/data/clear", login.Token, `{"clear_fields":["logs"]}`); status != 200 {
			t.Errorf("%s clear: got %d %s", tt.addr, status, b)
		}
		if got := total(); got != 0 {
			t.Errorf("%s log items after its clear: got %d, want 0", tt.addr, got)
		}
		if status, b := panelPost(t, tt.addr, "/api/v1/logout", login.Token, ""); status != 200 {
			t.Errorf("%s logout: got %d %s", tt.addr, status, b)
		}
		if status, _ := panelGet(t, tt.addr, "/api/v1/log/items", login.Token); status != 401 {
			t.Errorf("%s after logout: got %d, want 401", tt.addr, status)
		}
		// Only the panel API is there.
		if status, _ := panelGet(t, tt.addr, "/v1/events", admin); status != 404 {
			t.Errorf("%s /v1/events: got %d, want 404", tt.addr, status)
		}
	}
	// The clears were the panel addresses': the same account's root
	// listing is untouched.

	// Moving, removing, adding: no restart.
	addr1b := freeAddr(t, "127.0.0.4")
	mustCall("PATCH", "/v1/devices/"+dev(1), `{"listen":"`+addr1b+`"}`, 200)
	eventually(t, "the old address of device 1 still answers", func() string {
		if !refused(addr1) {
			return addr1 + " accepts connections"
		}
		return ""
	})
	if status, b := panelGet(t, addr1b, "/api/info", ""); status != 200 || !strings.Contains(string(b), `"Entrance"`) {
		t.Errorf("the new address of device 1: got %d %s", status, b)
	}
	mustCall("PATCH", "/v1/devices/"+dev(2), `{"listen":null,"name":"Garage gate"}`, 200)
	eventually(t, "device 2's removed address still answers", func() string {
		if !refused(addr2) {
			return addr2 + " accepts connections"
		}
		return ""
	})
	// An address in use elsewhere: reported, then served once free.
	blocker, err := net.Listen("tcp", freeAddr(t, "127.0.0.5"))
	if err != nil {
		t.Fatal(err)
	}
	addr3 := blocker.Addr().String()
	mustCall("PATCH", "/v1/devices/"+dev(3), `{"listen":"`+addr3+`"}`, 200)
	state := func() (string, string) {
		t.Helper()
		var list struct {
			Devices []struct {
				ID           string  `json:"id"`
				Listen       *string `json:"listen"`
				ListenStatus *struct {
					State string  `json:"state"`
					Error *string `json:"error"`
				} `json:"listen_status"`
			} `json:"devices"`
		}
		if err := json.Unmarshal(mustCall("GET", "/v1/devices", "", 200), &list); err != nil {
			t.Fatal(err)
		}
		for _, d := range list.Devices {
			if d.ID == dev(3) && d.ListenStatus != nil {
				e := ""
				if d.ListenStatus.Error != nil {
					e = *d.ListenStatus.Error
				}
				return d.ListenStatus.State, e
			}
		}
		return "", ""
	}
	if st, e := state(); st != "error" || !strings.Contains(e, "address already in use") {
		t.Errorf("device 3 on a taken address: got state %q error %q, want error, address already in use", st, e)
	}
	blocker.Close()
	eventually(t, "device 3's address once free", func() string {
		if st, e := state(); st != "listening" {
			return "state " + st + " " + e
		}
		return ""
	})
	if status, b := panelGet(t, addr3, "/api/info", ""); status != 200 || !strings.Contains(string(b), `"Lobby"`) {
		t.Errorf("device 3's address once free: got %d %s", status, b)
	}
	for _, path := range []string{"/v1/devices/" + dev(9), "/v1/devices/not-a-device"} {
		if status, b := call(t, ts, "PATCH", path, admin, `{"name":"X"}`); status != 404 {
			t.Errorf("PATCH %s: got %d %s, want 404", path, status, b)
		}
	}
	if status, b := call(t, ts, "PATCH", "/v1/devices/"+dev(1), admin, `{"listen":"panel.example:80"}`); status != 400 {
		t.Errorf("PATCH a host name: got %d %s, want 400", status, b)
	}
}

// panelPost sends a POST with a JSON body ("" for none) to a panel address.
func panelPost(tb testing.TB, addr, path, token, body string) (int, []byte) {
	tb.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("POST http://%s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
