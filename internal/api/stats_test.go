package api_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

// The stats tests run on newEventsEnv, whose clock is stopped at
// 2024-06-02T03:04:05Z, so the default window (the last 24 hours) is
// 2024-06-01T03:04:05.000Z to 2024-06-02T03:04:05.000Z.

// evAt is an event of device dev ("" for a server event) at an RFC 3339
// time, classified by the catalog.
func evAt(t testing.TB, cat *catalog.Catalog, dev, at, key, source string) doorlog.Event {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		t.Fatal(err)
	}
	e := cat.Entry(key)
	return doorlog.Event{DeviceID: dev, Time: tm, Key: key, Category: e.Category, Priority: e.Priority, SourceID: source}
}

// statsFixture stores sites a (devA "Gate A", devA2) and b (devB "Gate B")
// and events around the test clock, each at a place that tells whether an
// edge is counted right. It returns the env and a manager token of site a.
func statsFixture(t *testing.T) (*env, string) {
	t.Helper()
	e, cat, _ := newEventsEnv(t)
	e.seed(t)
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"`+devA2+`","site_id":"a","name":"Lift A"}`, 201)
	storetest.MustAppend(t, e.store,
		evAt(t, cat, devA, "2024-06-01T23:30:00Z", "access_granted_by_valid_identifier", "e1"),
		evAt(t, cat, devA, "2024-06-02T01:10:00Z", "access_granted_by_valid_identifier", "e2"),
		evAt(t, cat, devA, "2024-06-02T02:59:59.999Z", "access_denied_by_unknown_card", "e3"),
		evAt(t, cat, devA, "2024-06-01T10:00:00Z", "access_denied_by_not_valid_identifier", "e4"),
		evAt(t, cat, devB, "2024-06-02T00:00:00Z", "access_denied_by_unknown_card", "e5"),
		evAt(t, cat, devB, "2024-06-02T00:30:00Z", "access_denied_by_unknown_qr", "e6"),
		evAt(t, cat, devB, "2024-06-02T02:10:00Z", "multi_access_denied", "e7"),
		evAt(t, cat, devB, "2024-06-02T03:00:00Z", "tamper_event", "e8"),
		evAt(t, cat, devA2, "2024-05-01T12:00:00Z", "door_was_opened", "e9"),
		evAt(t, cat, "", "2024-06-02T02:00:00Z", "successful_login_api_call", ""),
		// Just before the default window, and at its first millisecond.
		evAt(t, cat, devA, "2024-06-01T03:04:04.999Z", "incoming_call", "e11"),
		evAt(t, cat, devB, "2024-06-01T03:04:05Z", "firmware_2099_new_thing", "e12"),
	)
	return e, e.token(t, `{"role":"manager","site_ids":["a"]}`)
}

// getStrict GETs path, requires a 200 JSON answer and decodes it into v,
// refusing unknown fields.
func (e *env) getStrict(t *testing.T, path, token string, v any) {
	t.Helper()
	status, hdr, body := e.get(t, path, token)
	if status != 200 {
		t.Fatalf("GET %s: got status %d (%s), want 200", path, status, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("GET %s: got Content-Type %q", path, ct)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("GET %s: body %s: %v", path, body, err)
	}
}

// wantError GETs path and requires the native error shape with status and
// code, and a message naming mention when it is set.
func (e *env) wantError(t *testing.T, path, token string, status int, code, mention string) {
	t.Helper()
	got, _, body := e.get(t, path, token)
	var eb struct{ Error, Code string }
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil || got != status || eb.Code != code || eb.Error == "" || !strings.Contains(eb.Error, mention) {
		t.Errorf("GET %s: got %d %s, want %d with code %q mentioning %q", path, got, body, status, code, mention)
	}
}

type hourlyAnswer struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Hours []struct {
		Hour      string `json:"hour"`
		Access    int64  `json:"access"`
		Emergency int64  `json:"emergency"`
		System    int64  `json:"system"`
		Info      int64  `json:"info"`
	} `json:"hours"`
}

// nonZero returns the hours of an answer that hold events, as
// "hour a/e/s/i", and the number of hours.
func (a hourlyAnswer) nonZero() ([]string, int) {
	var out []string
	for _, h := range a.Hours {
		if h.Access+h.Emergency+h.System+h.Info != 0 {
			out = append(out, h.Hour+" "+strings.Join([]string{itoa(h.Access), itoa(h.Emergency), itoa(h.System), itoa(h.Info)}, "/"))
		}
	}
	return out, len(a.Hours)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestStatsHourly(t *testing.T) {
	e, manager := statsFixture(t)
	tests := []struct {
		name, query, token string
		from, to           string
		first              string // the first hour
		hours              int
		nonZero            []string
	}{
		{"admin, default window", "", e.admin, "2024-06-01T03:04:05.000Z", "2024-06-02T03:04:05.000Z", "2024-06-01T03:00:00Z", 25, []string{
			"2024-06-01T03:00:00Z 0/0/0/1",
			"2024-06-01T10:00:00Z 1/0/0/0",
			"2024-06-01T23:00:00Z 1/0/0/0",
			"2024-06-02T00:00:00Z 2/0/0/0",
			"2024-06-02T01:00:00Z 1/0/0/0",
			"2024-06-02T02:00:00Z 2/0/1/0",
			"2024-06-02T03:00:00Z 0/1/0/0",
		}},
		{"manager of a", "", manager, "2024-06-01T03:04:05.000Z", "2024-06-02T03:04:05.000Z", "2024-06-01T03:00:00Z", 25, []string{
			"2024-06-01T10:00:00Z 1/0/0/0",
			"2024-06-01T23:00:00Z 1/0/0/0",
			"2024-06-02T01:00:00Z 1/0/0/0",
			"2024-06-02T02:00:00Z 1/0/0/0",
		}},
		{"manager of a asks for site b", "site_id=b", manager, "2024-06-01T03:04:05.000Z", "2024-06-02T03:04:05.000Z", "2024-06-01T03:00:00Z", 25, nil},
		{"manager of a asks for device b", "device_id=" + devB, manager, "2024-06-01T03:04:05.000Z", "2024-06-02T03:04:05.000Z", "2024-06-01T03:00:00Z", 25, nil},
		{"site and category", "site_id=b&category=access", e.admin, "2024-06-01T03:04:05.000Z", "2024-06-02T03:04:05.000Z", "2024-06-01T03:00:00Z", 25, []string{
			"2024-06-02T00:00:00Z 2/0/0/0",
			"2024-06-02T02:00:00Z 1/0/0/0",
		}},
		{"priority and key", "priority=high,critical&key=tamper_event,multi_access_denied", e.admin, "2024-06-01T03:04:05.000Z", "2024-06-02T03:04:05.000Z", "2024-06-01T03:00:00Z", 25, []string{
			"2024-06-02T02:00:00Z 1/0/0/0",
			"2024-06-02T03:00:00Z 0/1/0/0",
		}},
		{"partial hours at both edges", "from=2024-06-02T02:30:00Z&to=2024-06-02T03:00:00Z", e.admin, "2024-06-02T02:30:00.000Z", "2024-06-02T03:00:00.000Z", "2024-06-02T02:00:00Z", 2, []string{
			"2024-06-02T02:00:00Z 1/0/0/0",
			"2024-06-02T03:00:00Z 0/1/0/0",
		}},
		{"one device across midnight", "device_id=" + strings.ToUpper(devB) + "&from=2024-06-01T23:59:59.999Z&to=2024-06-02T00:30:00Z", e.admin, "2024-06-01T23:59:59.999Z", "2024-06-02T00:30:00.000Z", "2024-06-01T23:00:00Z", 2, []string{
			"2024-06-02T00:00:00Z 2/0/0/0",
		}},
		{"from only, in milliseconds", "from=" + itoa(time.Date(2024, 6, 2, 2, 0, 0, 0, time.UTC).UnixMilli()), e.admin, "2024-06-02T02:00:00.000Z", "2024-06-02T03:04:05.000Z", "2024-06-02T02:00:00Z", 2, []string{
			"2024-06-02T02:00:00Z 2/0/1/0",
			"2024-06-02T03:00:00Z 0/1/0/0",
		}},
		{"to only, with an offset", "to=" + url.QueryEscape("2024-06-02T03:30:00+03:00"), e.admin, "2024-06-01T00:30:00.000Z", "2024-06-02T00:30:00.000Z", "2024-06-01T00:00:00Z", 25, []string{
			"2024-06-01T03:00:00Z 0/0/0/2",
			"2024-06-01T10:00:00Z 1/0/0/0",
			"2024-06-01T23:00:00Z 1/0/0/0",
			"2024-06-02T00:00:00Z 2/0/0/0",
		}},
		{"to inside a millisecond", "to=2024-06-02T00:30:00.0005Z", e.admin, "2024-06-01T00:30:00.000Z", "2024-06-02T00:30:00.000Z", "2024-06-01T00:00:00Z", 25, []string{
			"2024-06-01T03:00:00Z 0/0/0/2",
			"2024-06-01T10:00:00Z 1/0/0/0",
			"2024-06-01T23:00:00Z 1/0/0/0",
			"2024-06-02T00:00:00Z 2/0/0/0",
		}},
		{"31 days exactly", "from=2024-05-01T00:00:00Z&to=2024-06-01T00:00:00Z", e.admin, "2024-05-01T00:00:00.000Z", "2024-06-01T00:00:00.000Z", "2024-05-01T00:00:00Z", 31*24 + 1, []string{
			"2024-05-01T12:00:00Z 1/0/0/0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a hourlyAnswer
			e.getStrict(t, "/v1/stats/hourly?"+tt.query, tt.token, &a)
			nonZero, n := a.nonZero()
			if a.From != tt.from || a.To != tt.to || n != tt.hours || !slices.Equal(nonZero, tt.nonZero) {
				t.Fatalf("got from %s to %s, %d hours with events in %q, want from %s to %s, %d hours with events in %q",
					a.From, a.To, n, nonZero, tt.from, tt.to, tt.hours, tt.nonZero)
			}
			for i, h := range a.Hours {
				first, _ := time.Parse(time.RFC3339, tt.first)
				if want := first.Add(time.Duration(i) * time.Hour).Format(time.RFC3339); h.Hour != want {
					t.Fatalf("hour %d: got %s, want %s", i, h.Hour, want)
				}
			}
		})
	}
}

type denialsAnswer struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Devices []struct {
		DeviceID   string `json:"device_id"`
		DeviceName string `json:"device_name"`
		SiteID     string `json:"site_id"`
		Denials    int64  `json:"denials"`
	} `json:"devices"`
}

func (a denialsAnswer) rows() []string {
	out := []string{}
	for _, d := range a.Devices {
		out = append(out, d.DeviceID+" "+d.DeviceName+" "+d.SiteID+" "+itoa(d.Denials))
	}
	return out
}

func TestStatsDenials(t *testing.T) {
	e, manager := statsFixture(t)
	a, b := devA+" Gate A a ", devB+" Gate B b "
	tests := []struct {
		name, query, token string
		want               []string
	}{
		{"admin, default window", "", e.admin, []string{b + "3", a + "2"}},
		{"top one", "limit=1", e.admin, []string{b + "3"}},
		{"manager of a", "", manager, []string{a + "2"}},
		{"manager of a asks for site b", "site_id=b", manager, []string{}},
		{"ties by device id", "key=access_denied_by_unknown_card", e.admin, []string{a + "1", b + "1"}},
		{"a key that is no denial", "key=access_granted_by_valid_identifier", e.admin, []string{}},
		{"a window from midnight", "from=2024-06-02T00:00:00Z", e.admin, []string{b + "3", a + "1"}},
		{"a window of whole days", "from=2024-06-01T00:00:00Z&to=2024-06-02T23:59:59.999Z", e.admin, []string{b + "3", a + "2"}},
		{"category", "category=emergency", e.admin, []string{}},
		{"one device", "device_id=" + devA, e.admin, []string{a + "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got denialsAnswer
			e.getStrict(t, "/v1/stats/denials?"+tt.query, tt.token, &got)
			if rows := got.rows(); !slices.Equal(rows, tt.want) {
				t.Errorf("got %q, want %q", rows, tt.want)
			}
		})
	}
	var got denialsAnswer
	e.getStrict(t, "/v1/stats/denials", e.admin, &got)
	if got.From != "2024-06-01T03:04:05.000Z" || got.To != "2024-06-02T03:04:05.000Z" {
		t.Errorf("got the window %s to %s, want the last 24 hours", got.From, got.To)
	}
}

type devicesAnswer struct {
	Devices []struct {
		ID            string  `json:"id"`
		Name          string  `json:"name"`
		SiteID        string  `json:"site_id"`
		Model         string  `json:"model"`
		LastEventTime *string `json:"last_event_time"`
		Status        string  `json:"status"`
		Today         struct {
			Grants  int64 `json:"grants"`
			Denials int64 `json:"denials"`
		} `json:"today"`
	} `json:"devices"`
	SilentAfter string `json:"silent_after"`
}

func (a devicesAnswer) rows() []string {
	out := []string{}
	for _, d := range a.Devices {
		last := "null"
		if d.LastEventTime != nil {
			last = *d.LastEventTime
		}
		out = append(out, strings.Join([]string{d.ID, d.Name, d.SiteID, d.Model, last, d.Status, itoa(d.Today.Grants), itoa(d.Today.Denials)}, " "))
	}
	return out
}

func TestStatsDevices(t *testing.T) {
	e, manager := statsFixture(t)
	// The devices in id order, with their last event and status at the
	// default 15 minutes: device A's last event came 4m5.001s before
	// now, device B's 4m5s before.
	a := devA + " Gate A a AV-07T 2024-06-02T02:59:59.999Z "
	b := devB + " Gate B b  2024-06-02T03:00:00.000Z "
	a2 := devA2 + " Lift A a  2024-05-01T12:00:00.000Z silent "
	tests := []struct {
		name, query, token string
		silentAfter        string
		want               []string
	}{
		{"admin, UTC", "", e.admin, "15m0s", []string{a + "online 1 1", b + "online 0 3", a2 + "0 0"}},
		{"manager of a", "", manager, "15m0s", []string{a + "online 1 1", a2 + "0 0"}},
		{"manager of a asks for site b", "site_id=b", manager, "15m0s", []string{}},
		{"manager of a asks for device b", "device_id=" + devB, manager, "15m0s", []string{}},
		{"one device", "device_id=" + strings.ToUpper(devB), e.admin, "15m0s", []string{b + "online 0 3"}},
		{"one site", "site_id=a", e.admin, "15m0s", []string{a + "online 1 1", a2 + "0 0"}},
		// Midnight in Kyiv (UTC+3) was 21:00 UTC: device A's grant at
		// 23:30 UTC is today there.
		{"Kyiv", "tz=Europe/Kyiv", e.admin, "15m0s", []string{a + "online 2 1", b + "online 0 3", a2 + "0 0"}},
		// In New York (UTC-4) it is still 1 June: today began at 04:00
		// UTC, after device A's denial at 10:00 UTC.
		{"New York", "tz=America/New_York", e.admin, "15m0s", []string{a + "online 2 2", b + "online 0 3", a2 + "0 0"}},
		{"silent at the millisecond", "silent_after=4m5.001s", e.admin, "4m5.001s", []string{a + "silent 1 1", b + "online 0 3", a2 + "0 0"}},
		{"a long silence", "silent_after=720h", e.admin, "720h0m0s", []string{a + "online 1 1", b + "online 0 3", a2 + "0 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got devicesAnswer
			e.getStrict(t, "/v1/stats/devices?"+tt.query, tt.token, &got)
			if rows := got.rows(); !slices.Equal(rows, tt.want) || got.SilentAfter != tt.silentAfter {
				t.Errorf("got %q, silent after %s\nwant %q, silent after %s", rows, got.SilentAfter, tt.want, tt.silentAfter)
			}
		})
	}

	// A device that never sent anything has no last event time.
	e.mustDo(t, "POST", "/v1/devices", e.admin, `{"id":"6f1c2a3e-0000-4000-8000-0000000000b2","site_id":"b","name":"Quiet"}`, 201)
	var got devicesAnswer
	e.getStrict(t, "/v1/stats/devices?site_id=b", e.admin, &got)
	if rows := got.rows(); !slices.Equal(rows, []string{b + "online 0 3", "6f1c2a3e-0000-4000-8000-0000000000b2 Quiet b  null silent 0 0"}) {
		t.Errorf("got %q, want device B and a silent device without a last event", rows)
	}
}

func TestStatsErrors(t *testing.T) {
	e, manager := statsFixture(t)
	device := e.token(t, `{"role":"device","device_id":"`+devA+`"}`)
	tests := []struct {
		name, path, token string
		status            int
		code, mention     string
	}{
		{"no token", "/v1/stats/hourly", "", 401, doorlog.EUNAUTHORIZED, ""},
		{"device token, hourly", "/v1/stats/hourly", device, 403, doorlog.EFORBIDDEN, ""},
		{"device token, denials", "/v1/stats/denials", device, 403, doorlog.EFORBIDDEN, ""},
		{"device token, devices", "/v1/stats/devices", device, 403, doorlog.EFORBIDDEN, ""},
		{"longer than 31 days", "/v1/stats/hourly?from=2024-05-01T00:00:00Z&to=2024-06-01T00:00:00.001Z", e.admin, 400, doorlog.EINVALID, "31 days"},
		{"from after to", "/v1/stats/hourly?from=2024-06-02T00:00:00Z&to=2024-06-01T00:00:00Z", e.admin, 400, doorlog.EINVALID, "before from"},
		{"from after the default to", "/v1/stats/hourly?from=2024-06-03T00:00:00Z", manager, 400, doorlog.EINVALID, "before from"},
		{"bad from", "/v1/stats/hourly?from=yesterday", e.admin, 400, doorlog.EINVALID, "from"},
		{"unknown category", "/v1/stats/hourly?category=access,bogus", e.admin, 400, doorlog.EINVALID, "category"},
		{"unknown priority", "/v1/stats/denials?priority=urgent", e.admin, 400, doorlog.EINVALID, "priority"},
		{"free text", "/v1/stats/hourly?q=card", e.admin, 400, doorlog.EINVALID, "q"},
		{"identifier", "/v1/stats/denials?identifier_number=12345", manager, 400, doorlog.EINVALID, "identifier_number"},
		{"identifier type", "/v1/stats/devices?identifier_type=card", manager, 400, doorlog.EINVALID, "identifier_type"},
		{"limit 0", "/v1/stats/denials?limit=0", e.admin, 400, doorlog.EINVALID, "limit"},
		{"limit 101", "/v1/stats/denials?limit=101", e.admin, 400, doorlog.EINVALID, "limit"},
		{"limit twice", "/v1/stats/denials?limit=1&limit=2", e.admin, 400, doorlog.EINVALID, "limit"},
		{"limit not a number", "/v1/stats/denials?limit=ten", e.admin, 400, doorlog.EINVALID, "limit"},
		{"silent after 59s", "/v1/stats/devices?silent_after=59s", e.admin, 400, doorlog.EINVALID, "silent_after"},
		{"silent after 30 days and a minute", "/v1/stats/devices?silent_after=720h1m", e.admin, 400, doorlog.EINVALID, "silent_after"},
		{"silent after no duration", "/v1/stats/devices?silent_after=15", e.admin, 400, doorlog.EINVALID, "silent_after"},
		{"unknown zone", "/v1/stats/devices?tz=Mars/Olympus", manager, 400, doorlog.EINVALID, "tz"},
		{"the server's zone", "/v1/stats/devices?tz=Local", e.admin, 400, doorlog.EINVALID, "tz"},
		{"a window on devices", "/v1/stats/devices?from=2024-06-01T00:00:00Z", e.admin, 400, doorlog.EINVALID, "from"},
		{"a category on devices", "/v1/stats/devices?category=access", e.admin, 400, doorlog.EINVALID, "category"},
		{"a key on devices", "/v1/stats/devices?key=tamper_event", e.admin, 400, doorlog.EINVALID, "key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantError(t, tt.path, tt.token, tt.status, tt.code, tt.mention)
		})
	}
	for _, path := range []string{"/v1/stats/hourly", "/v1/stats/denials", "/v1/stats/devices"} {
		status, out := e.do(t, "POST", path, e.admin, "application/json", "{}")
		if status != 405 || out["code"] != "method_not_allowed" {
			t.Errorf("POST %s: got %d %v, want 405 method_not_allowed", path, status, out)
		}
	}
}
