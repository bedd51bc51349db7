package openapitest_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/doorlog/doorlog/internal/openapi/openapitest"
)

// recorder is a testing.TB that keeps what Errorf reports, so a test can
// check that the transport fails a test when it should.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

// canned answers every request with one status, Content-Type and body.
func canned(status int, contentType, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

const (
	token     = "Bearer dl_0123456789abcdef0123_secret"
	device    = "0b9a4c1e-5f0e-4c59-9d7e-2f1f6a0b3c11"
	goodEvent = `{"id":"000000000001A","device_id":"` + device + `","site_id":"maple","time":"2024-05-01T10:00:00.123Z","key":"door_sensor_was_opened","category":"access","priority":"low","name":"Door sensor opened","text":"Door sensor opened","model":{}}`
)

func TestTransport(t *testing.T) {
	v := openapitest.New(t)
	tests := []struct {
		name    string
		handler http.Handler
		method  string
		path    string
		auth    string
		ctype   string
		body    string
		// onPurpose marks the request with InvalidOnPurpose.
		onPurpose bool
		// wantErr lists what each reported failure must contain, in order;
		// none means the exchange matches the document.
		wantErr []string
	}{
		{
			name:    "matching answer",
			handler: canned(200, "application/json", `{"status":"ok"}`),
			method:  "GET", path: "/healthz",
		},
		{
			name:    "unknown member",
			handler: canned(200, "application/json", `{"status":"ok","uptime":3}`),
			method:  "GET", path: "/healthz",
			wantErr: []string{"uptime"},
		},
		{
			name:    "undeclared status",
			handler: canned(418, "application/json", `{"status":"ok"}`),
			method:  "GET", path: "/healthz",
			wantErr: []string{"418"},
		},
		{
			name:    "undeclared media type",
			handler: canned(200, "text/html", `<p>ok</p>`),
			method:  "GET", path: "/healthz",
			wantErr: []string{"text/html"},
		},
		{
			name:    "undescribed path",
			handler: canned(200, "application/json", `{}`),
			method:  "GET", path: "/v2/everything",
			wantErr: []string{"/v2/everything"},
		},
		{
			name:    "wrong error body of its API",
			handler: canned(401, "application/json", `{"message":"Unauthenticated."}`),
			method:  "GET", path: "/v1/sites",
			wantErr: []string{"response does not match"},
		},
		{
			name:    "refused request without a token",
			handler: canned(401, "application/json", `{"error":"missing or invalid token","code":"unauthorized"}`),
			method:  "GET", path: "/v1/sites",
		},
		{
			name:    "accepted request without a token",
			handler: canned(200, "application/json", `{"sites":[]}`),
			method:  "GET", path: "/v1/sites",
			wantErr: []string{"server accepted it"},
		},
		{
			name:    "accepted request outside an enum",
			handler: canned(200, "application/json", `{"events":[],"next_cursor":null}`),
			method:  "GET", path: "/v1/events?order=sideways", auth: token,
			wantErr: []string{"server accepted it"},
		},
		{
			name:    "refused request outside an enum",
			handler: canned(400, "application/json", `{"error":"order: want asc or desc","code":"invalid"}`),
			method:  "GET", path: "/v1/events?order=sideways", auth: token,
		},
		{
			name: "NDJSON answer line by line",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-ndjson")
				w.Header().Set("Content-Disposition", `attachment; filename="doorlog-events-20240501T100000Z.ndjson"`)
				io.WriteString(w, goodEvent+"\n"+goodEvent+"\n")
			}),
			method: "GET", path: "/v1/events/export?format=ndjson", auth: token,
		},
		{
			name: "NDJSON answer with a bad line",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-ndjson")
				w.Header().Set("Content-Disposition", `attachment; filename="doorlog-events-20240501T100000Z.ndjson"`)
				io.WriteString(w, goodEvent+"\n"+strings.Replace(goodEvent, `"low"`, `"urgent"`, 1)+"\n")
			}),
			method: "GET", path: "/v1/events/export?format=ndjson", auth: token,
			wantErr: []string{"NDJSON line 2"},
		},
		{
			name:    "NDJSON request with a bad line",
			handler: canned(200, "application/json", `{"accepted":1,"duplicates":0,"rejected":[]}`),
			method:  "POST", path: "/v1/events", auth: token, ctype: "application/x-ndjson",
			body:    `{"device_id":"` + device + `","time":1,"key":"tamper_event"}` + "\n" + `{"device_id":"` + device + `","key":"tamper_event"}` + "\n",
			wantErr: []string{"NDJSON line 2"},
		},
		{
			name:    "accepted bad item sent on purpose",
			handler: canned(200, "application/json", `{"accepted":0,"duplicates":0,"rejected":[{"index":0,"error":"time is required"}]}`),
			method:  "POST", path: "/v1/events", auth: token, ctype: "application/json",
			body:      `{"device_id":"` + device + `","key":"tamper_event"}`,
			onPurpose: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(tt.handler)
			defer ts.Close()
			rec := &recorder{TB: t}
			client := v.Client(rec)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, ts.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.onPurpose {
				req = openapitest.InvalidOnPurpose(req)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(tt.name, "answer") && len(got) == 0 {
				t.Errorf("got an empty body after validation, want the server's body")
			}
			if len(rec.errs) != len(tt.wantErr) {
				t.Fatalf("got %d failures, want %d:\n%s", len(rec.errs), len(tt.wantErr), strings.Join(rec.errs, "\n"))
			}
			for i, want := range tt.wantErr {
				if !strings.Contains(rec.errs[i], want) {
					t.Errorf("got failure %q, want one mentioning %q", rec.errs[i], want)
				}
			}
		})
	}
}

// TestTransportLeavesStreamsOpen checks that a live event stream is checked
// without being read: the test reads the first event while the server is
// still sending.
func TestTransportLeavesStreamsOpen(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(200)
		io.WriteString(w, "retry: 2000\n\nid: 000000000001A\nevent: event\ndata: "+goodEvent+"\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release)
	v := openapitest.New(t)
	rec := &recorder{TB: t}
	req, _ := http.NewRequest("GET", ts.URL+"/v1/events/stream", nil)
	req.Header.Set("Authorization", token)
	resp, err := v.Client(rec).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var data string
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = d
			break
		}
	}
	if data != goodEvent {
		t.Fatalf("got data %q, want the first event", data)
	}
	if len(rec.errs) > 0 {
		t.Errorf("got failures for a matching stream:\n%s", strings.Join(rec.errs, "\n"))
	}
	v.CheckSchema(t, "Event", []byte(data))
	if errs := v.SchemaErrors("Event", []byte(`{"id":"x"}`)); len(errs) == 0 {
		t.Errorf("got no schema errors for a bad event, want some")
	}
}
