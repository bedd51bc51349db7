package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// TestLoginThrottled drives every login path of the real server, with its
// default policy, into a 429 through the OpenAPI-validating client: the
// document must describe the answer (status, Retry-After, body) exactly.
func TestLoginThrottled(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name        string
		method      string
		path        func(pass string) string
		contentType string
		body        func(pass string) string
		want        string
	}{
		{
			name: "BAS-IP", method: "GET",
			path: func(pass string) string {
				return "/api/v1/login?" + url.Values{"username": {"root"}, "password": {pass}}.Encode()
			},
			body: func(string) string { return "" },
			want: `{"error":"Too many login attempts"}`,
		},
		{
			name: "BAS-IP on device A", method: "GET",
			path: func(pass string) string {
				return "/devices/" + devA + "/api/v1/login?" + url.Values{"username": {"ann"}, "password": {pass}}.Encode()
			},
			body: func(string) string { return "" },
			want: `{"error":"Too many login attempts"}`,
		},
		{
			name: "OLOID", method: "POST", contentType: "application/json",
			path: func(string) string { return "/login" },
			body: func(pass string) string { return fmt.Sprintf(`{"UserName":"bob","Password":%q}`, pass) },
			want: `{"message":"Too many login attempts"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The default policy: 5 free failures, then a wait of a second
			// that doubles with each failure. However slow this machine,
			// a wrong guess soon comes within the wait.
			for i := range 12 {
				pass := fmt.Sprintf("guess %d", i)
				resp := f.send(t, t.Context(), noToken, tt.method, tt.path(pass), tt.contentType, tt.body(pass), nil)
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case resp.StatusCode == http.StatusUnauthorized && i < 11:
					continue
				case resp.StatusCode != http.StatusTooManyRequests || !sameJSON(b, []byte(tt.want)):
					t.Fatalf("guess %d: got %d %s, want 401 or 429 %s", i+1, resp.StatusCode, b, tt.want)
				case i < 6:
					t.Fatalf("guess %d: got a 429, want 5 free failures", i+1)
				}
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
					t.Errorf("Retry-After: got %q, want whole seconds", resp.Header.Get("Retry-After"))
				}
				return
			}
		})
	}
}
