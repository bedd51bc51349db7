package oloid_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/auth"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/ingest"
	"github.com/doorlog/doorlog/internal/oloid"
)

// caller picks the credential of a request.
type caller int

const (
	anonymous caller = iota
	admin
	siteAdmin
	manager
	deviceToken
	badToken
)

func (e *env) token(c caller) string {
	switch c {
	case admin:
		return e.admin
	case siteAdmin:
		return e.siteAdmin
	case manager:
		return e.manager
	case deviceToken:
		return e.device
	case badToken:
		return "dl_0123456789abcdef0123_not-the-secret"
	}
	return ""
}

// exampleRequest is seed 002's example request.
var exampleRequest = fmt.Sprintf(`{"start": %d, "end": %d, "limit": 50}`, dayStart, dayEnd)

// TestGolden compares whole responses with testdata/*.json.
func TestGolden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	tests := []struct {
		golden string
		path   string
		as     caller
		body   string
		status int
	}{
		{"filter_example", "/filterActivity", admin, exampleRequest, 200},
		{"filter_all", "/filterActivity", admin, ``, 200},
		{"filter_manager", "/filterActivity", manager, exampleRequest, 200},
		{"filter_empty_window", "/filterActivity", admin, `{"start": 1, "end": 2}`, 200},

		{"error_unauthorized", "/filterActivity", anonymous, exampleRequest, 401},
		{"error_unauthorized", "/filterActivity", badToken, exampleRequest, 401},
		{"error_forbidden", "/filterActivity", deviceToken, exampleRequest, 403},
		{"error_bad_json", "/filterActivity", admin, `{"limit": 5,}`, 400},
		{"error_bad_json", "/filterActivity", admin, `{"limit": 5} {}`, 400},
		{"error_not_object", "/filterActivity", admin, `[1, 2]`, 400},
		{"error_not_object", "/filterActivity", admin, `null`, 400},
		{"error_next_token_type", "/filterActivity", admin, `{"nextToken": 5}`, 400},
		{"error_start_type", "/filterActivity", admin, `{"start": "1662364800000"}`, 400},
		{"error_start_type", "/filterActivity", admin, `{"start": 1662364800000.5}`, 400},
		{"error_end_type", "/filterActivity", admin, `{"end": true}`, 400},
		{"error_end_type", "/filterActivity", admin, `{"end": 1e400}`, 400},
		{"error_limit", "/filterActivity", admin, `{"limit": 0}`, 400},
		{"error_limit", "/filterActivity", admin, `{"limit": 1001}`, 400},
		{"error_limit", "/filterActivity", admin, `{"limit": -5}`, 400},
		{"error_limit", "/filterActivity", admin, `{"limit": "50"}`, 400},
		{"error_limit", "/filterActivity", admin, `{"limit": 2.5}`, 400},
		{"error_range", "/filterActivity", admin, fmt.Sprintf(`{"start": %d, "end": %d}`, dayEnd, dayStart), 400},
		{"error_next_token", "/filterActivity", admin, `{"nextToken": "not-a-token"}`, 400},

		{"login_failure", "/login", anonymous, `{"UserName": "admin", "Password": "wrong"}`, 401},
		{"error_bad_json", "/login", anonymous, `{"UserName": "admin",`, 400},
		{"error_login_type", "/login", anonymous, `{"UserName": 42, "Password": "x"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.golden+"/"+tt.body, func(t *testing.T) {
			r := e.post(t, tt.path, e.token(tt.as), tt.body)
			wantJSON(t, r, tt.status)
			checkGolden(t, tt.golden, r.body)
		})
	}
}

// TestGoldenPaging walks seed 002's example day five at a time: the first
// page, the second through its nextToken, and the rest through the next
// with a larger limit; together they are the example's one page.
func TestGoldenPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)

	r1, p1 := e.filter(t, e.admin, fmt.Sprintf(`{"start": %d, "end": %d, "limit": 5}`, dayStart, dayEnd))
	if len(p1.Data.Activities) != 5 || p1.Data.NextToken == nil || *p1.Data.NextToken == "" {
		t.Fatalf("first page: got %d activities and nextToken %v, want 5 and a token", len(p1.Data.Activities), p1.Data.NextToken)
	}
	checkGolden(t, "filter_page1", withoutToken(t, r1.body))

	// No limit: the first request's 5 carries over.
	r2, p2 := e.filter(t, e.admin, fmt.Sprintf(`{"nextToken": %q}`, *p1.Data.NextToken))
	if len(p2.Data.Activities) != 5 || p2.Data.NextToken == nil {
		t.Fatalf("second page: got %d activities and nextToken %v, want 5 and a token", len(p2.Data.Activities), p2.Data.NextToken)
	}
	checkGolden(t, "filter_page2", withoutToken(t, r2.body))

	r3, p3 := e.filter(t, e.admin, fmt.Sprintf(`{"nextToken": %q, "limit": 1000}`, *p2.Data.NextToken))
	if p3.Data.NextToken != nil {
		t.Errorf("last page: got nextToken %q, want null", *p3.Data.NextToken)
	}
	if !bytes.Contains(r3.body, []byte(`"nextToken":null`)) {
		t.Errorf("last page: got %s, want \"nextToken\":null", r3.body)
	}
	checkGolden(t, "filter_last", r3.body)

	_, all := e.filter(t, e.admin, exampleRequest)
	var walked []activity
	for _, p := range []page{p1, p2, p3} {
		walked = append(walked, p.Data.Activities...)
	}
	if got, want := ids(walked), ids(all.Data.Activities); !slices.Equal(got, want) {
		t.Errorf("pages: got %v, want the example's %v", got, want)
	}
	if len(all.Data.Activities) != 37 || all.Data.NextToken != nil {
		t.Errorf("example: got %d activities and nextToken %v, want the 37 of the day and null", len(all.Data.Activities), all.Data.NextToken)
	}

	tok := *p1.Data.NextToken
	t.Run("the same window again", func(t *testing.T) {
		for _, body := range []string{
			fmt.Sprintf(`{"nextToken": %q, "start": %d, "end": %d}`, tok, dayStart, dayEnd),
			fmt.Sprintf(`{"nextToken": %q, "start": %d, "end": null}`, tok, dayStart),
			fmt.Sprintf(`{"nextToken": %q, "end": %d, "limit": 5}`, tok, dayEnd),
		} {
			r, _ := e.filter(t, e.admin, body)
			checkGolden(t, "filter_page2", withoutToken(t, r.body))
		}
	})
	t.Run("another window", func(t *testing.T) {
		tests := []struct {
			golden string
			body   string
		}{
			{"error_start_mismatch", fmt.Sprintf(`{"nextToken": %q, "start": %d}`, tok, dayStart+1)},
			{"error_end_mismatch", fmt.Sprintf(`{"nextToken": %q, "start": %d, "end": %d}`, tok, dayStart, dayEnd-1)},
		}
		for _, tt := range tests {
			r := e.post(t, "/filterActivity", e.admin, tt.body)
			wantJSON(t, r, http.StatusBadRequest)
			checkGolden(t, tt.golden, r.body)
		}
	})
	t.Run("a token without window gets none", func(t *testing.T) {
		_, p := e.filter(t, e.admin, `{"limit": 2}`)
		r := e.post(t, "/filterActivity", e.admin, fmt.Sprintf(`{"nextToken": %q, "start": %d}`, *p.Data.NextToken, dayStart))
		wantJSON(t, r, http.StatusBadRequest)
		checkGolden(t, "error_start_mismatch", r.body)
	})
}

// ids lists the activities' ids.
func ids(as []activity) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

// TestEmptyBody checks an empty body, null members, an empty nextToken and
// unknown members all mean {}.
func TestEmptyBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	for _, body := range []string{
		``,
		` `,
		`{}`,
		`{"nextToken": null, "start": null, "end": null, "limit": null}`,
		`{"nextToken": ""}`,
		`{"filters": {"activityType": "LOGIN"}, "sort": "asc"}`,
	} {
		t.Run(body, func(t *testing.T) {
			r, _ := e.filter(t, e.admin, body)
			checkGolden(t, "filter_all", r.body)
		})
	}
}

// TestOrder checks activities come newest first by (time, id), ids
// breaking the ties of one millisecond.
func TestOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stored := e.appendFixture(t)
	want := slices.Clone(stored)
	slices.SortFunc(want, func(a, b doorlog.Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	_, p := e.filter(t, e.admin, `{"limit": 1000}`)
	if len(p.Data.Activities) != len(want) {
		t.Fatalf("got %d activities, want %d", len(p.Data.Activities), len(want))
	}
	for i, a := range p.Data.Activities {
		if a.ID != want[i].ID || a.Timestamp != want[i].Time.UnixMilli() {
			t.Errorf("activity %d: got %s at %d, want %s at %d", i, a.ID, a.Timestamp, want[i].ID, want[i].Time.UnixMilli())
		}
	}
}

// TestTimeWindow checks that start and end are milliseconds, both
// inclusive, and that far-out and float-spelt values work.
func TestTimeWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	sameMS := at(hms(0, 5, 0, 120))
	tests := []struct {
		name string
		body string
		want int
	}{
		{"one millisecond, both ends inclusive", fmt.Sprintf(`{"start": %d, "end": %d}`, sameMS, sameMS), 4},
		{"a millisecond too late", fmt.Sprintf(`{"start": %d, "end": %d}`, sameMS+1, at(hms(0, 5, 9, 799))), 0},
		{"start only", fmt.Sprintf(`{"start": %d}`, at(hms(18, 0, 0, 0))), 4},
		{"end only", fmt.Sprintf(`{"end": %d}`, dayStart), 3},
		{"the day", fmt.Sprintf(`{"start": %d, "end": %d}`, dayStart, dayEnd), 37},
		{"the day in float spelling", `{"start": 1662364800000.0, "end": 1.6624512e12, "limit": 50.0}`, 37},
		{"far future end", fmt.Sprintf(`{"start": %d, "end": 9223372036854775807}`, at(hms(18, 0, 0, 0))), 4},
		{"far past start", fmt.Sprintf(`{"start": -9223372036854775808, "end": %d}`, dayStart-1), 2},
		{"before year 1", `{"start": -9223372036854775808, "end": -9223372036854775000}`, 0},
		{"at year 1", `{"end": -62135596800000}`, 0},
		{"after year 9999", `{"start": 9223372036854775000}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p := e.filter(t, e.admin, tt.body)
			if got := len(p.Data.Activities); got != tt.want {
				t.Errorf("activities: got %d, want %d", got, tt.want)
			}
		})
	}
}

// TestLimit checks the default page of 50, the largest of 1000 and the
// smallest of 1.
func TestLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var events []doorlog.Event
	for i := range 1200 {
		events = append(events, e.event(devGarage, t0.Add(time.Duration(i)*time.Second), "door_was_opened", `{"lock":1}`))
	}
	e.append(t, events)
	tests := []struct {
		body string
		want int
	}{
		{`{}`, oloid.DefaultLimit},
		{`{"limit": 1}`, 1},
		{`{"limit": 1000}`, oloid.MaxLimit},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			_, p := e.filter(t, e.admin, tt.body)
			if got := len(p.Data.Activities); got != tt.want {
				t.Errorf("activities: got %d, want %d", got, tt.want)
			}
			if p.Data.NextToken == nil {
				t.Errorf("nextToken: got null, want a token")
			}
		})
	}
	t.Run("exactly the rest", func(t *testing.T) {
		_, p := e.filter(t, e.admin, `{"limit": 1000}`)
		_, p = e.filter(t, e.admin, fmt.Sprintf(`{"nextToken": %q, "limit": 200}`, *p.Data.NextToken))
		if len(p.Data.Activities) != 200 || p.Data.NextToken != nil {
			t.Errorf("got %d activities and nextToken %v, want 200 and null", len(p.Data.Activities), p.Data.NextToken)
		}
	})
}

// TestDetails checks the details of each kind of model byte for byte: the
// model's members first in their order, then OLOID's, which win a clash.
func TestDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		device string
		key    string
		model  string
		want   string
	}{
		{"card grant", devEntrance, "access_granted_by_valid_identifier",
			`{"number":12345,"type":"card","owner":"Anna Kowalska","apartment_address":"Flat 12","lock":1}`,
			`{"number":12345,"type":"card","owner":"Anna Kowalska","apartment_address":"Flat 12","lock":1,"userId":"12345","userName":"Anna Kowalska","endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"big identifier number stays exact", devEntrance, "access_denied_by_not_valid_identifier",
			`{"number":123456789012345678901234567890,"type":"card"}`,
			`{"number":123456789012345678901234567890,"type":"card","userId":"123456789012345678901234567890","endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"call number is no user", devEntrance, "incoming_call",
			`{"number":"12","answered":true}`,
			`{"number":"12","answered":true,"endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"identifier_number", devGarage, "access_denied_unknown_identifier",
			`{"identifier_number":"A123BC","identifier_type":"license_plate"}`,
			`{"identifier_number":"A123BC","identifier_type":"license_plate","userId":"A123BC","endpointId":"` + devGarage + `","endpointName":"Garage gate"}`},
		{"user_name", devGarage, "custom_event",
			`{"user_name":"Ann","identifier_number":17}`,
			`{"user_name":"Ann","identifier_number":17,"userId":"17","userName":"Ann","endpointId":"` + devGarage + `","endpointName":"Garage gate"}`},
		{"lift user", devGarage, "lift_call_success",
			`{"info":{"user":{"link_id":null,"name":"Anna Kowalska"},"destination":{"id":7,"short_name":"7F"}}}`,
			`{"info":{"user":{"link_id":null,"name":"Anna Kowalska"},"destination":{"id":7,"short_name":"7F"}},"userName":"Anna Kowalska","endpointId":"` + devGarage + `","endpointName":"Garage gate"}`},
		{"first used identifier with a name", devEntrance, "multi_access_granted",
			`{"lock_number":1,"used_identifiers_list":[{"identifier_number":"0012345","auth_type":"card"},{"identifier_number":"17","auth_type":"face_id","user_name":"John Doe"}]}`,
			`{"lock_number":1,"used_identifiers_list":[{"identifier_number":"0012345","auth_type":"card"},{"identifier_number":"17","auth_type":"face_id","user_name":"John Doe"}],"userId":"17","userName":"John Doe","endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"used identifiers without names", devEntrance, "multi_access_denied",
			`{"used_identifiers_list":[{"identifier_number":"0012345"},{"identifier_number":"17"}],"reject_reasons":[]}`,
			`{"used_identifiers_list":[{"identifier_number":"0012345"},{"identifier_number":"17"}],"reject_reasons":[],"userId":"0012345","endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"ip address, HTML and numbers as sent", devEntrance, "remote_unlock_request",
			`{"ip_address":"192.168.1.100","session":12345678901234567890,"score":0.93,"exp":1E+2,"note":"<b>open</b> & close"}`,
			`{"ip_address":"192.168.1.100","session":12345678901234567890,"score":0.93,"exp":1E+2,"note":"<b>open</b> & close","endpointId":"` + devEntrance + `","endpointName":"Main Entrance","ipAddress":"192.168.1.100"}`},
		{"OLOID names in the model lose to OLOID's", devEntrance, "access_granted_by_remote_server_api_call",
			`{"userName":"spoofed","number":"0099","type":"card","owner":"Jane Smith","endpointId":"spoofed","endpointName":"spoofed","ipAddress":"10.0.0.1","userId":7}`,
			`{"number":"0099","type":"card","owner":"Jane Smith","ipAddress":"10.0.0.1","userId":"0099","userName":"Jane Smith","endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"an unknown OLOID name in the model stays", devEntrance, "custom_event",
			`{"userName":"From the device"}`,
			`{"userName":"From the device","endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"empty and non-string names are unknown", devEntrance, "custom_event",
			`{"owner":"","user_name":5,"info":{"user":"x"},"ip_address":null,"number":true,"type":"card"}`,
			`{"owner":"","user_name":5,"info":{"user":"x"},"ip_address":null,"number":true,"type":"card","endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"a repeated member keeps its last value", devEntrance, "custom_event",
			`{"owner":"First","lock":1,"owner":"Second"}`,
			`{"owner":"Second","lock":1,"userName":"Second","endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"escaped names", devEntrance, "custom_event",
			`{"\u006fwner":"Esc \"quoted\"","a\u2028b":1}`,
			`{"owner":"Esc \"quoted\"","a\u2028b":1,"userName":"Esc \"quoted\"","endpointId":"` + devEntrance + `","endpointName":"Main Entrance"}`},
		{"server login", "", "successful_login_api_call",
			`{"account_type":"admin"}`,
			`{"account_type":"admin"}`},
		{"empty model", devGarage, "tamper_event",
			`{}`,
			`{"endpointId":"` + devGarage + `","endpointName":"Garage gate"}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := t0.Add(time.Duration(i) * time.Minute)
			e.append(t, []doorlog.Event{e.event(tt.device, at, tt.key, tt.model)})
			_, p := e.filter(t, e.admin, fmt.Sprintf(`{"start": %d, "end": %d}`, at.UnixMilli(), at.UnixMilli()))
			if len(p.Data.Activities) != 1 {
				t.Fatalf("got %d activities, want 1", len(p.Data.Activities))
			}
			a := p.Data.Activities[0]
			if got := string(a.Details); got != tt.want {
				t.Errorf("details:\n got %s\nwant %s", got, tt.want)
			}
			if want := e.cat.Entry(tt.key).ActivityType; a.ActivityType != want {
				t.Errorf("activityType: got %s, want %s", a.ActivityType, want)
			}
		})
	}
}

// TestScope checks what each kind of token sees.
func TestScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	e.append(t, []doorlog.Event{
		e.event(devHarbour, t0.Add(time.Hour), "access_granted_by_valid_identifier", `{"number":555,"type":"ukey","owner":"Harbour Tenant"}`),
		e.event(devHarbour, t0.Add(2*time.Hour), "tamper_event", `{}`),
	})
	count := func(keep func(f fixtureEvent) bool) int {
		n := 0
		for _, f := range fixtureEvents {
			if keep(f) {
				n++
			}
		}
		return n
	}
	riverside := count(func(f fixtureEvent) bool { return f.device != "" })
	server := count(func(f fixtureEvent) bool { return f.device == "" })
	tests := []struct {
		name string
		as   caller
		want int
	}{
		{"admin sees every site and the server", admin, riverside + server + 2},
		{"site admin sees its site only", siteAdmin, riverside},
		{"manager sees its site only", manager, riverside},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, p := e.filter(t, e.token(tt.as), `{"limit": 1000}`)
			if got := len(p.Data.Activities); got != tt.want {
				t.Errorf("activities: got %d, want %d", got, tt.want)
			}
			if tt.as != admin {
				for _, bad := range []string{"Harbour", "LOGIN", devHarbour} {
					if bytes.Contains(r.body, []byte(bad)) {
						t.Errorf("got %q in the answer, want no event of another site or of the server", bad)
					}
				}
			}
		})
	}
	t.Run("a manager without sites sees nothing", func(t *testing.T) {
		secret, _, err := e.auth.IssueToken(context.Background(), doorlog.Token{Role: doorlog.RoleManager})
		if err != nil {
			t.Fatal(err)
		}
		if _, p := e.filter(t, secret, `{}`); len(p.Data.Activities) != 0 {
			t.Errorf("activities: got %d, want 0", len(p.Data.Activities))
		}
	})
}

// TestAuthorization checks the 401 and 403 answers, which come before any
// check of the body.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		header string
		body   string
		status int
		msg    string
	}{
		{"no header", "", `{}`, 401, oloid.MessageUnauthorized},
		{"basic", "Basic YWRtaW46YWRtaW4=", `{}`, 401, oloid.MessageUnauthorized},
		{"no scheme", e.admin, `{}`, 401, oloid.MessageUnauthorized},
		{"empty bearer", "Bearer ", `{}`, 401, oloid.MessageUnauthorized},
		{"unknown token", "Bearer dl_0123456789abcdef0123_secret", `{}`, 401, oloid.MessageUnauthorized},
		{"bad token before bad body", "Bearer nope", `{"limit": 0}`, 401, oloid.MessageUnauthorized},
		{"device token before bad body", "Bearer " + e.device, `{"limit": 0}`, 403, oloid.MessageForbidden},
		{"lower-case scheme", "bearer " + e.admin, `{}`, 200, oloid.MessageActivities},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/filterActivity", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct{ Message string }
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || got.Message != tt.msg {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, got.Message, tt.status, tt.msg)
			}
		})
	}
	t.Run("an expired login token", func(t *testing.T) {
		secret, _, err := e.auth.IssueToken(context.Background(), doorlog.Token{Role: doorlog.RoleAdmin, ExpiresAt: now})
		if err != nil {
			t.Fatal(err)
		}
		wantMessage(t, e.post(t, "/filterActivity", secret, `{}`), 401, oloid.MessageUnauthorized)
	})
}

// TestTampering checks that a nextToken cannot be altered or carried to
// another server.
func TestTampering(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	_, p := e.filter(t, e.admin, `{"limit": 5}`)
	tok := *p.Data.NextToken
	const msg = "nextToken is not valid: it is malformed, altered, or was not issued by this server"

	t.Run("one character flipped", func(t *testing.T) {
		// Every character but the last: in unpadded base64 the last one
		// may carry bits that are not part of the token, and changing those
		// changes nothing the server reads.
		for i := range len(tok) - 1 {
			b := []byte(tok)
			b[i] = flip(b[i])
			r := e.post(t, "/filterActivity", e.admin, fmt.Sprintf(`{"nextToken": %q}`, b))
			if r.status != http.StatusBadRequest {
				t.Fatalf("character %d flipped: got %d %s, want 400", i, r.status, r.body)
			}
			wantMessage(t, r, http.StatusBadRequest, msg)
		}
	})
	t.Run("from another server", func(t *testing.T) {
		other := newEnv(t)
		other.appendFixture(t)
		_, op := other.filter(t, other.admin, `{"limit": 5}`)
		if *op.Data.NextToken == tok {
			t.Fatalf("two servers made the same token %q", tok)
		}
		// The same position is valid on the other server.
		other.filter(t, other.admin, fmt.Sprintf(`{"nextToken": %q}`, *op.Data.NextToken))
		wantMessage(t, e.post(t, "/filterActivity", e.admin, fmt.Sprintf(`{"nextToken": %q}`, *op.Data.NextToken)), 400, msg)
	})
	t.Run("malformed", func(t *testing.T) {
		for _, bad := range []string{tok[:len(tok)-4], tok + "AAAA", "x" + tok, "!!!", strings.Repeat("A", 5000), " " + tok} {
			wantMessage(t, e.post(t, "/filterActivity", e.admin, fmt.Sprintf(`{"nextToken": %q}`, bad)), 400, msg)
		}
	})
	t.Run("the token still works", func(t *testing.T) {
		e.filter(t, e.admin, fmt.Sprintf(`{"nextToken": %q}`, tok))
	})
}

// flip returns another character of the base64url alphabet.
func flip(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return alphabet[(i+1)%len(alphabet)]
}

// TestMethods checks every other method gets a JSON 405 with Allow: POST.
func TestMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/filterActivity", "/login"} {
		for _, method := range []string{"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			t.Run(method+" "+path, func(t *testing.T) {
				r := e.do(t, method, path, e.admin, "")
				if r.status != http.StatusMethodNotAllowed {
					t.Fatalf("status: got %d, want 405", r.status)
				}
				if got := r.header.Get("Allow"); got != "POST" {
					t.Errorf("Allow: got %q, want POST", got)
				}
				if method != "HEAD" {
					wantJSON(t, r, http.StatusMethodNotAllowed)
					checkGolden(t, "error_method_not_allowed", r.body)
				}
			})
		}
	}
}

// TestBodyTooLarge checks a body over the limit is refused whole.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"pad": "` + strings.Repeat("x", 70<<10) + `"}`
	for _, path := range []string{"/filterActivity", "/login"} {
		t.Run(path, func(t *testing.T) {
			wantMessage(t, e.post(t, path, e.admin, body), http.StatusRequestEntityTooLarge, "Request body is larger than 64 KiB")
		})
	}
}

// TestInternalError checks that a broken store answers a bare 500 and logs
// the cause, never the password.
func TestInternalError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	_, p := e.filter(t, e.admin, `{"limit": 5}`)
	e.db.Close()
	for _, tt := range []struct{ path, body string }{
		{"/filterActivity", `{}`},
		{"/filterActivity", fmt.Sprintf(`{"nextToken": %q}`, *p.Data.NextToken)},
		{"/login", `{"UserName": "admin", "Password": "secret-in-body"}`},
	} {
		t.Run(tt.path, func(t *testing.T) {
			wantMessage(t, e.post(t, tt.path, e.admin, tt.body), http.StatusInternalServerError, oloid.MessageInternal)
		})
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "err=") {
		t.Errorf("log: got %q, want the causes", logs)
	}
	if strings.Contains(logs, "secret-in-body") {
		t.Errorf("log holds the password: %q", logs)
	}
}

// loginEvents lists the models of the stored login attempts, by activity
// type, as the unrestricted admin sees them.
func (e *env) loginEvents(tb testing.TB) map[string][]string {
	tb.Helper()
	_, p := e.filter(tb, e.admin, `{"limit": 1000}`)
	out := map[string][]string{}
	for _, a := range slices.Backward(p.Data.Activities) {
		if a.Timestamp != now.UnixMilli() {
			tb.Errorf("%s timestamp: got %d, want %d", a.ActivityType, a.Timestamp, now.UnixMilli())
		}
		out[a.ActivityType] = append(out[a.ActivityType], string(a.Details))
	}
	return out
}

// TestGoldenLogin compares the login answers with testdata/*.json; the
// token, random by nature, is checked to work and then replaced.
func TestGoldenLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.post(t, "/login", "", fmt.Sprintf(`{"UserName": "admin", "Password": %q, "TenantName": %q}`, adminPassword, siteRiverside))
	wantJSON(t, r, http.StatusOK)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}
	var got struct {
		Data struct {
			AccessToken string `json:"accessToken"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	e.filter(t, got.Data.AccessToken, `{}`)
	checkGolden(t, "login_success", replaceOnce(t, r.body, `"accessToken":`+strconv.Quote(got.Data.AccessToken), `"accessToken":"ACCESS_TOKEN"`))

	r = e.post(t, "/login", "", `{"UserName": "admin", "Password": "wrong"}`)
	wantJSON(t, r, http.StatusUnauthorized)
	checkGolden(t, "login_failure", r.body)
}

// TestLogin checks both password spellings, TenantName, the failures, and
// that every attempt with a UserName is stored as a server event without
// secrets.
func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sum := md5.Sum([]byte(adminPassword))
	md5Hex := hex.EncodeToString(sum[:])

	tests := []struct {
		name   string
		body   string
		status int
		role   string
		stored string // the stored model, "" for none
	}{
		{"plain password", fmt.Sprintf(`{"UserName": "admin", "Password": %q}`, adminPassword), 200, "admin", `{"account_type":"admin"}`},
		{"md5 of the password", fmt.Sprintf(`{"UserName": "admin", "Password": %q}`, md5Hex), 200, "admin", `{"account_type":"admin"}`},
		{"lower-case member names", fmt.Sprintf(`{"username": "manager", "password": %q}`, managerPassword), 200, "manager", `{"account_type":"manager"}`},
		{"manager in its site", fmt.Sprintf(`{"UserName": "manager", "Password": %q, "TenantName": %q}`, managerPassword, siteRiverside), 200, "manager", `{"account_type":"manager"}`},
		{"site admin in its site", fmt.Sprintf(`{"UserName": "riverside-admin", "Password": %q, "TenantName": %q}`, siteAdminPass, siteRiverside), 200, "admin", `{"account_type":"admin"}`},
		{"admin names any site", fmt.Sprintf(`{"UserName": "admin", "Password": %q, "TenantName": %q}`, adminPassword, siteHarbour), 200, "admin", `{"account_type":"admin"}`},
		{"empty TenantName", fmt.Sprintf(`{"UserName": "admin", "Password": %q, "TenantName": ""}`, adminPassword), 200, "admin", `{"account_type":"admin"}`},
		{"manager in another site", fmt.Sprintf(`{"UserName": "manager", "Password": %q, "TenantName": %q}`, managerPassword, siteHarbour), 401, "", `{"account_type":"manager"}`},
		{"site admin in another site", fmt.Sprintf(`{"UserName": "riverside-admin", "Password": %q, "TenantName": %q}`, siteAdminPass, siteHarbour), 401, "", `{"account_type":"admin"}`},
		{"admin in no site", fmt.Sprintf(`{"UserName": "admin", "Password": %q, "TenantName": "nowhere"}`, adminPassword), 401, "", `{"account_type":"admin"}`},
		{"wrong password", `{"UserName": "admin", "Password": "Door-Admin-2023!"}`, 401, "", `{"account_type":"admin"}`},
		{"unknown user", fmt.Sprintf(`{"UserName": "mallory", "Password": %q}`, adminPassword), 401, "", `{}`},
		{"no password", `{"UserName": "admin"}`, 401, "", `{"account_type":"admin"}`},
		{"no username", fmt.Sprintf(`{"Password": %q}`, adminPassword), 401, "", ""},
		{"empty body", ``, 401, "", ""},
	}
	var succeeded, failed []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.post(t, "/login", "", tt.body)
			switch {
			case tt.stored == "":
			case tt.status == 200:
				succeeded = append(succeeded, tt.stored)
			default:
				failed = append(failed, tt.stored)
			}
			if tt.status != 200 {
				wantMessage(t, r, tt.status, oloid.MessageInvalidCredentials)
				return
			}
			wantJSON(t, r, 200)
			var got struct {
				Data struct {
					AccessToken string `json:"accessToken"`
					TokenType   string `json:"tokenType"`
					ExpiresIn   int64  `json:"expiresIn"`
				} `json:"data"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("decode %s: %v", r.body, err)
			}
			if got.Data.TokenType != "Bearer" || got.Data.ExpiresIn != 86400 || got.Message != oloid.MessageLogin {
				t.Errorf("got %s, want tokenType Bearer, expiresIn 86400 and message %q", r.body, oloid.MessageLogin)
			}
			tok, err := e.auth.Authenticate(context.Background(), got.Data.AccessToken)
			if err != nil {
				t.Fatalf("token: got error %v, want it to authenticate", err)
			}
			if string(tok.Role) != tt.role {
				t.Errorf("token role: got %s, want %s", tok.Role, tt.role)
			}
			e.filter(t, got.Data.AccessToken, `{}`)
		})
	}

	t.Run("attempts are stored as server events", func(t *testing.T) {
		got := e.loginEvents(t)
		want := map[string][]string{"LOGIN": succeeded, "LOGIN_FAILED": failed}
		for typ, w := range want {
			if !slices.Equal(got[typ], w) {
				t.Errorf("%s details: got %v, want %v", typ, got[typ], w)
			}
		}
		_, p := e.filter(t, e.admin, `{"limit": 1000}`)
		body, _ := json.Marshal(p)
		for _, secret := range []string{adminPassword, md5Hex, managerPassword, siteAdminPass, "Door-Admin-2023!", "mallory", "riverside-admin", `"UserName"`, `"Password"`, "endpointId"} {
			if bytes.Contains(body, []byte(secret)) {
				t.Errorf("the log holds %q, want no secret, username or endpoint", secret)
			}
		}
		if _, p := e.filter(t, e.manager, `{}`); len(p.Data.Activities) != 0 {
			t.Errorf("a manager sees %d server events, want 0", len(p.Data.Activities))
		}
	})
}

// TestLoginWhenStoringFails checks that a login answers when its event
// cannot be stored, and that the failure is logged.
func TestLoginWhenStoringFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *oloid.Config, e *env) {
		w := ingest.NewWriter(e.db, cfg.Logger, ingest.WriterOptions{})
		w.Close() // every append now fails with EUNAVAILABLE
		withAuth(func(c *auth.Config) { c.Appender = w })(cfg, e)
	})
	wantJSON(t, e.post(t, "/login", "", fmt.Sprintf(`{"UserName": "admin", "Password": %q}`, adminPassword)), http.StatusOK)
	wantMessage(t, e.post(t, "/login", "", `{"UserName": "admin", "Password": "wrong"}`), 401, oloid.MessageInvalidCredentials)
	if logs := e.logs.String(); strings.Count(logs, "store login event") != 2 {
		t.Errorf("log: got %q, want two failures to store a login event", logs)
	}
}

// TestLoginThroughWriter stores login events through the group-commit
// writer, as the server does.
func TestLoginThroughWriter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(cfg *oloid.Config, e *env) {
		w := ingest.NewWriter(e.db, cfg.Logger, ingest.WriterOptions{})
		t.Cleanup(w.Close)
		withAuth(func(c *auth.Config) { c.Appender = w })(cfg, e)
	})
	wantJSON(t, e.post(t, "/login", "", fmt.Sprintf(`{"UserName": "admin", "Password": %q}`, adminPassword)), 200)
	if got, want := e.loginEvents(t)["LOGIN"], []string{`{"account_type":"admin"}`}; !slices.Equal(got, want) {
		t.Errorf("LOGIN details: got %v, want %v", got, want)
	}
}

// TestNoContentType checks a client that sends no JSON content type (curl
// -d) is served all the same.
func TestNoContentType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.appendFixture(t)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/filterActivity", strings.NewReader(exampleRequest))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p page
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(p.Data.Activities) != 37 {
		t.Errorf("got %d with %d activities, want 200 with 37", resp.StatusCode, len(p.Data.Activities))
	}
}
