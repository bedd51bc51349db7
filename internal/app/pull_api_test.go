package app_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestPullSourceAPI sets, changes and removes a device's pull source
// through the API: the password is sealed in the store, never answered,
// kept when a change leaves it out; bad sources are 400s.
func TestPullSourceAPI(t *testing.T) {
	a, ts, admin := startGateApp(t)
	const secret = "S3cret-panel-pass"
	dev := "/v1/devices/" + gateDevice
	status, body := call(t, ts, "PATCH", dev, admin, `{"pull":{"url":"http://192.0.2.10","username":"admin","password":"`+secret+`"}}`)
	if status != 200 || !strings.Contains(string(body), `"pull":{"url":"http://192.0.2.10","username":"admin"}`) {
		t.Fatalf("set a pull source: got %d %s", status, body)
	}
	for _, path := range []string{"/v1/devices", dev} {
		method := "GET"
		b := ""
		if path == dev {
			method, b = "PATCH", `{"name":"Gate"}`
		}
		_, body := call(t, ts, method, path, admin, b)
		if strings.Contains(string(body), secret) || strings.Contains(string(body), "password") {
			t.Errorf("%s %s answers the password: %s", method, path, body)
		}
	}
	// The store holds it sealed, not in clear.
	d, err := a.Store.FindDevice(context.Background(), gateDevice)
	if err != nil || d.Pull == nil {
		t.Fatalf("stored device: %+v %v", d, err)
	}
	if bytes.Contains(d.Pull.SealedPassword, []byte(secret)) {
		t.Error("the store holds the pull password in clear")
	}
	if got, err := a.Secrets.Open(d.Pull.SealedPassword); err != nil || got != secret {
		t.Errorf("the sealed password opens to %q, %v", got, err)
	}
	sealed := d.Pull.SealedPassword
	// A change without a password keeps it.
	if status, body := call(t, ts, "PATCH", dev, admin, `{"pull":{"url":"https://192.0.2.11:8443","username":"poller"}}`); status != 200 {
		t.Fatalf("change the pull source: got %d %s", status, body)
	}
	d, _ = a.Store.FindDevice(context.Background(), gateDevice)
	if d.Pull.URL != "https://192.0.2.11:8443" || !bytes.Equal(d.Pull.SealedPassword, sealed) {
		t.Errorf("after a change without a password: got %+v, want the same sealed password", d.Pull)
	}
	for _, bad := range []string{
		`{"pull":{"url":"ftp://192.0.2.10","username":"admin"}}`,
		`{"pull":{"url":"http://admin:pw@192.0.2.10","username":"admin"}}`,
		`{"pull":{"url":"http://192.0.2.10","username":""}}`,
		`{"pull":{"url":"http://192.0.2.10","username":"admin","password":""}}`,
		`{"pull":{"url":"http://192.0.2.10","username":"admin","pasword":"x"}}`,
		`{"pull":"http://192.0.2.10"}`,
	} {
		if status, body := call(t, ts, "PATCH", dev, admin, bad); status != 400 {
			t.Errorf("PATCH %s: got %d %s, want 400", bad, status, body)
		}
	}
	if status, body := call(t, ts, "POST", "/v1/devices", admin, `{"id":"0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c12","site_id":"a","name":"New","pull":{"url":"http://192.0.2.12","username":"admin"}}`); status != 400 {
		t.Errorf("a new pull source without a password: got %d %s, want 400", status, body)
	}
	if status, body := call(t, ts, "PATCH", dev, admin, `{"pull":null}`); status != 200 || !strings.Contains(string(body), `"pull":null`) {
		t.Errorf("remove the pull source: got %d %s", status, body)
	}
}
