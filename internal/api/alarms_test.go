package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/openapi/openapitest"
	"github.com/doorlog/doorlog/internal/storetest"
)

// The alarm tests run on newEventsEnv, whose clock is stopped at
// 2024-06-02T03:04:05Z: the default window of GET /v1/alarms starts at
// 2024-06-01T03:04:05Z and since may go back to 2024-05-26T03:04:05Z.

// alarmsWorld is the alarms fixture: its env, the ids of its events by
// name, and tokens by name (managers of a and b with usernames, a device
// token of devA, and the env's admin, made without a username).
type alarmsWorld struct {
	e      *env
	ids    map[string]string
	tokens map[string]string
	// adminID is the id of the admin token.
	adminID string
	// client checks every exchange against openapi.json.
	client *http.Client
}

func newAlarmsWorld(t *testing.T) *alarmsWorld {
	t.Helper()
	e, cat, _ := newEventsEnv(t)
	e.seed(t)
	names := []string{"a0", "a1", "a2", "n1", "b1", "b2"}
	res := storetest.MustAppend(t, e.store,
		evAt(t, cat, devA, "2024-05-30T00:00:00Z", "tamper_event", "a0"),
		evAt(t, cat, devA, "2024-06-02T01:00:00Z", "tamper_event", "a1"),
		evAt(t, cat, devA, "2024-06-02T02:00:00Z", "door_was_not_closed_too_long", "a2"),
		evAt(t, cat, devA, "2024-06-02T02:30:00Z", "access_denied_by_unknown_card", "n1"),
		evAt(t, cat, devB, "2024-06-02T02:10:00Z", "emergency_lock_is_opened", "b1"),
		evAt(t, cat, devB, "2024-06-01T20:00:00Z", "collector_gap", "b2"),
	)
	w := &alarmsWorld{e: e, ids: map[string]string{}, tokens: map[string]string{"admin": e.admin}, client: openapitest.New(t).Client(t)}
	for i, n := range names {
		w.ids[n] = res[i].ID
	}
	w.tokens["manager-a"], _ = e.issue(t, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{"a"}, Username: "ann"})
	w.tokens["manager-b"], _ = e.issue(t, doorlog.Token{Role: doorlog.RoleManager, SiteIDs: []string{"b"}, Username: "bob"})
	w.tokens["device-a"], _ = e.issue(t, doorlog.Token{Role: doorlog.RoleDevice, DeviceID: devA})
	w.tokens["admin-nameless"], w.adminID = e.issue(t, doorlog.Token{Role: doorlog.RoleAdmin})
	return w
}

// alarmItem is one alarm of GET /v1/alarms, decoded strictly.
type alarmItem struct {
	listedEvent
	Ack *struct {
		Username string `json:"username"`
		At       string `json:"at"`
	} `json:"ack"`
}

type alarmsPage struct {
	Alarms []json.RawMessage `json:"alarms"`
	Open   int               `json:"open"`
	Since  string            `json:"since"`
}

// send makes a request through the checking client and returns the status
// and the body, which must be JSON.
func (w *alarmsWorld) send(t *testing.T, method, path, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, w.e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: got Content-Type %q, want JSON (body %s)", method, path, ct, raw)
	}
	return resp.StatusCode, raw
}

// alarms GETs /v1/alarms?query and decodes it strictly.
func (w *alarmsWorld) alarms(t *testing.T, token, query string) (alarmsPage, []alarmItem) {
	t.Helper()
	var p alarmsPage
	status, body := w.send(t, "GET", "/v1/alarms?"+query, token)
	if status != 200 {
		t.Fatalf("GET /v1/alarms?%s: got status %d (%s), want 200", query, status, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("GET /v1/alarms?%s: body %s: %v", query, body, err)
	}
	if p.Alarms == nil {
		t.Fatalf("GET /v1/alarms?%s: no alarms array", query)
	}
	items := make([]alarmItem, len(p.Alarms))
	for i, raw := range p.Alarms {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&items[i]); err != nil {
			t.Fatalf("GET /v1/alarms?%s: alarm %s: %v", query, raw, err)
		}
	}
	return p, items
}

// names returns the fixture names of items' events.
func (w *alarmsWorld) names(items []alarmItem) []string {
	out := []string{}
	for _, it := range items {
		name := "?" + it.ID
		for n, id := range w.ids {
			if id == it.ID {
				name = n
			}
		}
		out = append(out, name)
	}
	return out
}

// ack POSTs an acknowledgement and returns the status and the body.
func (w *alarmsWorld) ack(t *testing.T, token, id string) (int, map[string]any) {
	t.Helper()
	status, raw := w.send(t, "POST", "/v1/alarms/"+id+"/ack", token)
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("POST ack %s: body %s: %v", id, raw, err)
	}
	return status, out
}

// ackEvents returns the stored acknowledgement events of the alarm id.
func (w *alarmsWorld) ackEvents(t *testing.T, id string) []doorlog.Event {
	t.Helper()
	all := storetest.MustList(t, w.e.store, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: doorlog.Scope{All: true}, Keys: []string{"alarm_acknowledged"}}})
	var out []doorlog.Event
	for _, ev := range all {
		if ev.SourceID == "ack:"+id {
			out = append(out, ev)
		}
	}
	return out
}

func TestAlarmsList(t *testing.T) {
	w := newAlarmsWorld(t)
	for _, tt := range []struct {
		name, token, query string
		want               []string
		since              string
	}{
		{"admin, last 24 hours", "admin", "", []string{"b1", "a2", "a1", "b2"}, "2024-06-01T03:04:05.000Z"},
		{"manager of a", "manager-a", "", []string{"a2", "a1"}, "2024-06-01T03:04:05.000Z"},
		{"manager of b", "manager-b", "", []string{"b1", "b2"}, "2024-06-01T03:04:05.000Z"},
		{"since three days", "admin", "since=2024-05-30T00:00:00Z", []string{"b1", "a2", "a1", "b2", "a0"}, "2024-05-30T00:00:00.000Z"},
		{"since exactly 7 days", "manager-a", "since=2024-05-26T03:04:05Z", []string{"a2", "a1", "a0"}, "2024-05-26T03:04:05.000Z"},
		{"since in milliseconds", "admin", "since=1717282800000", []string{"b1", "a2", "a1"}, "2024-06-01T23:00:00.000Z"},
		{"limit", "admin", "limit=2", []string{"b1", "a2"}, "2024-06-01T03:04:05.000Z"},
		{"limit 200", "manager-b", "limit=200", []string{"b1", "b2"}, "2024-06-01T03:04:05.000Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, items := w.alarms(t, w.tokens[tt.token], tt.query)
			if got := w.names(items); !slices.Equal(got, tt.want) {
				t.Errorf("alarms: got %v, want %v", got, tt.want)
			}
			if p.Open != len(tt.want) {
				t.Errorf("open: got %d, want %d", p.Open, len(tt.want))
			}
			if p.Since != tt.since {
				t.Errorf("since: got %s, want %s", p.Since, tt.since)
			}
			for _, it := range items {
				if it.Ack != nil {
					t.Errorf("alarm %s: got ack %+v, want null", it.ID, *it.Ack)
				}
			}
		})
	}

	t.Run("each alarm as GET /v1/events renders it", func(t *testing.T) {
		for _, loc := range []string{"", "ru", "uk"} {
			p, _ := w.alarms(t, w.e.admin, "locale="+loc)
			_, _, body := w.e.get(t, "/v1/events?key=tamper_event,door_was_not_closed_too_long,emergency_lock_is_opened,collector_gap&from=2024-06-01T03:04:05Z&locale="+loc, w.e.admin)
			var events struct{ Events []json.RawMessage }
			if err := json.Unmarshal(body, &events); err != nil {
				t.Fatal(err)
			}
			if len(events.Events) != len(p.Alarms) {
				t.Fatalf("locale %q: got %d alarms, want %d events", loc, len(p.Alarms), len(events.Events))
			}
			for i, raw := range p.Alarms {
				want := append(bytes.TrimSuffix(events.Events[i], []byte("}")), `,"ack":null}`...)
				if !bytes.Equal(raw, want) {
					t.Errorf("locale %q, alarm %d:\ngot  %s\nwant %s", loc, i, raw, want)
				}
			}
		}
		_, items := w.alarms(t, w.e.admin, "locale=ru&limit=1")
		if got, want := items[0].Name, "Замок открыт по тревоге"; got != want {
			t.Errorf("locale ru: got name %q, want %q", got, want)
		}
	})
}

func TestAlarmsRefused(t *testing.T) {
	w := newAlarmsWorld(t)
	for _, tt := range []struct {
		name, query, token string
		status             int
		code, mention      string
	}{
		{"limit over 200", "limit=201", "admin", 400, doorlog.EINVALID, "limit"},
		{"limit 0", "limit=0", "admin", 400, doorlog.EINVALID, "limit"},
		{"limit not a number", "limit=ten", "admin", 400, doorlog.EINVALID, "limit"},
		{"since over 7 days back", "since=2024-05-26T03:04:04.999Z", "admin", 400, doorlog.EINVALID, "7 days"},
		{"since long ago", "since=2020-01-01T00:00:00Z", "manager-a", 400, doorlog.EINVALID, "7 days"},
		{"since not a time", "since=yesterday", "admin", 400, doorlog.EINVALID, "since"},
		{"since twice", "since=2024-06-01T00:00:00Z&since=2024-06-01T01:00:00Z", "admin", 400, doorlog.EINVALID, "since"},
		{"device token", "", "device-a", 403, doorlog.EFORBIDDEN, ""},
		{"no token", "", "", 401, doorlog.EUNAUTHORIZED, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := w.send(t, "GET", "/v1/alarms?"+tt.query, w.tokens[tt.token])
			var eb struct{ Error, Code string }
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&eb); err != nil || status != tt.status || eb.Code != tt.code || eb.Error == "" || !strings.Contains(eb.Error, tt.mention) {
				t.Errorf("got %d %s, want %d with code %q mentioning %q", status, body, tt.status, tt.code, tt.mention)
			}
		})
	}
	for _, tt := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/alarms", "GET"},
		{"GET", "/v1/alarms/" + w.ids["a1"] + "/ack", "POST"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp := w.e.request(t, tt.method, tt.path, w.e.admin)
			if resp.StatusCode != 405 || resp.Header.Get("Allow") != tt.allow {
				t.Errorf("got %d with Allow %q, want 405 with Allow %q", resp.StatusCode, resp.Header.Get("Allow"), tt.allow)
			}
		})
	}
}

func TestAlarmAck(t *testing.T) {
	w := newAlarmsWorld(t)
	a1, b1 := w.ids["a1"], w.ids["b1"]
	for _, tt := range []struct {
		name, token, id string
		status          int
		code, mention   string
	}{
		{"another site's alarm", "manager-b", a1, 404, doorlog.ENOTFOUND, a1},
		{"an event that does not exist", "admin", doorlog.FormatEventID(999), 404, doorlog.ENOTFOUND, ""},
		{"the id before the first", "admin", doorlog.FormatEventID(0), 404, doorlog.ENOTFOUND, ""},
		{"not an event id", "admin", "nope", 404, doorlog.ENOTFOUND, ""},
		{"not an alarm", "manager-a", w.ids["n1"], 400, doorlog.EINVALID, "not an alarm"},
		{"device token", "device-a", a1, 403, doorlog.EFORBIDDEN, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, body := w.ack(t, w.tokens[tt.token], tt.id)
			msg, _ := body["error"].(string)
			if status != tt.status || body["code"] != tt.code || msg == "" || !strings.Contains(msg, tt.mention) {
				t.Errorf("got %d %v, want %d with code %q mentioning %q", status, body, tt.status, tt.code, tt.mention)
			}
		})
	}
	if n := len(w.ackEvents(t, a1)); n != 0 {
		t.Fatalf("acknowledgement events after refusals: got %d, want 0", n)
	}

	t.Run("acknowledge, then listed with its ack", func(t *testing.T) {
		status, body := w.ack(t, w.tokens["manager-a"], a1)
		want := map[string]any{"event_id": a1, "username": "ann", "at": "2024-06-02T03:04:05.000Z"}
		if status != 201 || !jsonEqual(body, want) {
			t.Fatalf("got %d %v, want 201 %v", status, body, want)
		}
		for _, token := range []string{"admin", "manager-a"} {
			p, items := w.alarms(t, w.tokens[token], "")
			for _, it := range items {
				switch {
				case it.ID == a1 && (it.Ack == nil || it.Ack.Username != "ann" || it.Ack.At != "2024-06-02T03:04:05.000Z"):
					t.Errorf("%s: alarm a1: got ack %+v, want ann at 2024-06-02T03:04:05.000Z (three digits of milliseconds, as every time of the API)", token, it.Ack)
				case it.ID != a1 && it.Ack != nil:
					t.Errorf("%s: alarm %s: got ack %+v, want null", token, it.ID, *it.Ack)
				}
			}
			if p.Open != len(items)-1 {
				t.Errorf("%s: open: got %d, want %d", token, p.Open, len(items)-1)
			}
		}
		_, items := w.alarms(t, w.tokens["manager-b"], "")
		for _, it := range items {
			if it.Ack != nil {
				t.Errorf("manager-b: alarm %s: got ack %+v, want null", it.ID, *it.Ack)
			}
		}
	})

	t.Run("the acknowledgement is an event of the alarm's device", func(t *testing.T) {
		evs := w.ackEvents(t, a1)
		if len(evs) != 1 {
			t.Fatalf("acknowledgement events: got %d, want 1", len(evs))
		}
		got := evs[0]
		if got.DeviceID != devA || got.SiteID != "a" || got.Category != doorlog.CategorySystem || got.Priority != doorlog.PriorityLow ||
			!jsonEqualRaw(got.Model, `{"username":"ann","alarm_key":"tamper_event","alarm_event_id":"`+a1+`"}`) {
			t.Errorf("got %v %s/%s model %s, want devA in site a, system/low, model of ann's ack of a1", got, got.Category, got.Priority, got.Model)
		}
		page := w.e.list(t, w.tokens["manager-a"], "key=alarm_acknowledged")
		if len(page.Events) != 1 || page.Events[0].Text != "Alarm acknowledged by ann: Tamper triggered" {
			t.Errorf("GET /v1/events?key=alarm_acknowledged: got %+v, want one with text %q", page.Events, "Alarm acknowledged by ann: Tamper triggered")
		}
		if page := w.e.list(t, w.tokens["manager-b"], "key=alarm_acknowledged"); len(page.Events) != 0 {
			t.Errorf("manager-b: got %d acknowledgement events, want 0", len(page.Events))
		}
	})

	t.Run("a second acknowledge is a conflict naming the first", func(t *testing.T) {
		for _, token := range []string{"admin", "manager-a", "manager-a"} {
			status, body := w.ack(t, w.tokens[token], a1)
			msg, _ := body["error"].(string)
			if status != 409 || body["code"] != doorlog.ECONFLICT || !strings.Contains(msg, "ann") {
				t.Errorf("%s: got %d %v, want 409 conflict naming ann", token, status, body)
			}
		}
		if n := len(w.ackEvents(t, a1)); n != 1 {
			t.Errorf("acknowledgement events after retries: got %d, want 1", n)
		}
	})

	t.Run("guards acknowledging at once: the first wins", func(t *testing.T) {
		a2 := w.ids["a2"]
		tokens := []string{"admin", "manager-a", "admin-nameless", "manager-a", "admin", "manager-a"}
		statuses := make([]int, len(tokens))
		var wg sync.WaitGroup
		for i, name := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", w.e.url+"/v1/alarms/"+a2+"/ack", nil)
				req.Header.Set("Authorization", "Bearer "+w.tokens[name])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		slices.Sort(statuses)
		if want := []int{201, 409, 409, 409, 409, 409}; !slices.Equal(statuses, want) {
			t.Errorf("statuses: got %v, want %v", statuses, want)
		}
		if n := len(w.ackEvents(t, a2)); n != 1 {
			t.Errorf("acknowledgement events: got %d, want 1", n)
		}
	})

	t.Run("a token without a username", func(t *testing.T) {
		status, body := w.ack(t, w.tokens["admin-nameless"], b1)
		if want := "token " + w.adminID[:8]; status != 201 || body["username"] != want {
			t.Errorf("got %d %v, want 201 with username %q", status, body, want)
		}
	})

	t.Run("a retry after the ack was stored but not its event", func(t *testing.T) {
		b2 := w.ids["b2"]
		// As if the POST had failed between storing the ack and its event.
		if err := w.e.store.CreateAck(t.Context(), &doorlog.Ack{EventID: b2, SiteID: "b", DeviceID: devB, Username: "bob", TokenID: "x"}); err != nil {
			t.Fatal(err)
		}
		if n := len(w.ackEvents(t, b2)); n != 0 {
			t.Fatalf("acknowledgement events before the retry: got %d, want 0", n)
		}
		for i := range 2 {
			status, body := w.ack(t, w.tokens["manager-b"], b2)
			if msg, _ := body["error"].(string); status != 409 || !strings.Contains(msg, "bob") {
				t.Errorf("retry %d: got %d %v, want 409 naming bob", i+1, status, body)
			}
			if n := len(w.ackEvents(t, b2)); n != 1 {
				t.Errorf("acknowledgement events after retry %d: got %d, want 1", i+1, n)
			}
		}
	})
}

// jsonEqual compares a decoded JSON object with want.
func jsonEqual(got, want map[string]any) bool {
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	return bytes.Equal(a, b)
}

// jsonEqualRaw compares JSON texts by meaning.
func jsonEqualRaw(got []byte, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
