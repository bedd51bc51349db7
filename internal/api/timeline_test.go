package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/catalog"
	"github.com/doorlog/doorlog/internal/doorlog"
	"github.com/doorlog/doorlog/internal/storetest"
)

type timelineAnswer struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Interval string `json:"interval"`
	TZ       string `json:"tz"`
	Buckets  []struct {
		Start     string `json:"start"`
		Access    int64  `json:"access"`
		Emergency int64  `json:"emergency"`
		System    int64  `json:"system"`
		Info      int64  `json:"info"`
	} `json:"buckets"`
}

// nonZero returns the buckets of an answer that hold events, as
// "start a/e/s/i".
func (a timelineAnswer) nonZero() []string {
	var out []string
	for _, b := range a.Buckets {
		if b.Access+b.Emergency+b.System+b.Info != 0 {
			out = append(out, b.Start+" "+strings.Join([]string{itoa(b.Access), itoa(b.Emergency), itoa(b.System), itoa(b.Info)}, "/"))
		}
	}
	return out
}

// timelineFixture is statsFixture with events on the edges of days in
// Europe/Warsaw around the end of summer time (27 October 2024, a day of
// 25 hours: 2024-10-26T22:00Z to 2024-10-27T23:00Z) and in Asia/Kolkata
// (UTC+5:30, whose midnight cuts the UTC hour 18:00).
func timelineFixture(t *testing.T) (*env, string) {
	t.Helper()
	e, manager := statsFixture(t)
	cat, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustAppend(t, e.store,
		evAt(t, cat, devA, "2024-10-26T21:59:59.999Z", "incoming_call", "w1"),
		evAt(t, cat, devA, "2024-10-26T22:00:00Z", "incoming_call", "w2"),
		evAt(t, cat, devB, "2024-10-27T01:30:00Z", "tamper_event", "w3"),
		evAt(t, cat, devA, "2024-10-27T22:59:59.999Z", "incoming_call", "w4"),
		evAt(t, cat, devA, "2024-10-27T23:00:00Z", "incoming_call", "w5"),
		evAt(t, cat, devA, "2024-06-01T18:29:59.999Z", "incoming_call", "k1"),
		evAt(t, cat, devA, "2024-06-01T18:30:00Z", "incoming_call", "k2"),
	)
	return e, manager
}

func TestStatsTimeline(t *testing.T) {
	e, manager := timelineFixture(t)
	const defFrom, defTo = "2024-06-01T03:04:05.000Z", "2024-06-02T03:04:05.000Z"
	// The default window (the last 24 hours) in hours, as /v1/stats/hourly
	// answers it.
	hourly := []string{
		"2024-06-01T03:00:00Z 0/0/0/1",
		"2024-06-01T10:00:00Z 1/0/0/0",
		"2024-06-01T18:00:00Z 0/0/0/2",
		"2024-06-01T23:00:00Z 1/0/0/0",
		"2024-06-02T00:00:00Z 2/0/0/0",
		"2024-06-02T01:00:00Z 1/0/0/0",
		"2024-06-02T02:00:00Z 2/0/1/0",
		"2024-06-02T03:00:00Z 0/1/0/0",
	}
	tests := []struct {
		name, query, token string
		from, to           string
		interval, tz       string
		first              string // the first bucket's start
		buckets            int
		nonZero            []string
		starts             []string // every start, when set (days)
	}{
		{"default: 15m for 24 hours", "", e.admin, defFrom, defTo, "15m", "UTC", "2024-06-01T03:00:00Z", 97, []string{
			"2024-06-01T03:00:00Z 0/0/0/1",
			"2024-06-01T10:00:00Z 1/0/0/0",
			"2024-06-01T18:15:00Z 0/0/0/1",
			"2024-06-01T18:30:00Z 0/0/0/1",
			"2024-06-01T23:30:00Z 1/0/0/0",
			"2024-06-02T00:00:00Z 1/0/0/0",
			"2024-06-02T00:30:00Z 1/0/0/0",
			"2024-06-02T01:00:00Z 1/0/0/0",
			"2024-06-02T02:00:00Z 1/0/1/0",
			"2024-06-02T02:45:00Z 1/0/0/0",
			"2024-06-02T03:00:00Z 0/1/0/0",
		}, nil},
		{"default: 1m for 2 hours", "from=2024-06-02T01:04:05Z", e.admin, "2024-06-02T01:04:05.000Z", defTo, "1m", "UTC", "2024-06-02T01:04:00Z", 121, []string{
			"2024-06-02T01:10:00Z 1/0/0/0",
			"2024-06-02T02:00:00Z 0/0/1/0",
			"2024-06-02T02:10:00Z 1/0/0/0",
			"2024-06-02T02:59:00Z 1/0/0/0",
			"2024-06-02T03:00:00Z 0/1/0/0",
		}, nil},
		{"default: 5m for 12 hours", "from=2024-06-01T15:04:05Z", e.admin, "2024-06-01T15:04:05.000Z", defTo, "5m", "UTC", "2024-06-01T15:00:00Z", 145, []string{
			"2024-06-01T18:25:00Z 0/0/0/1",
			"2024-06-01T18:30:00Z 0/0/0/1",
			"2024-06-01T23:30:00Z 1/0/0/0",
			"2024-06-02T00:00:00Z 1/0/0/0",
			"2024-06-02T00:30:00Z 1/0/0/0",
			"2024-06-02T01:10:00Z 1/0/0/0",
			"2024-06-02T02:00:00Z 0/0/1/0",
			"2024-06-02T02:10:00Z 1/0/0/0",
			"2024-06-02T02:55:00Z 1/0/0/0",
			"2024-06-02T03:00:00Z 0/1/0/0",
		}, nil},
		{"default: 1h for a week", "from=2024-05-26T03:04:05Z", e.admin, "2024-05-26T03:04:05.000Z", defTo, "1h", "UTC", "2024-05-26T03:00:00Z", 7*24 + 1,
			append([]string{"2024-06-01T03:00:00Z 0/0/0/2"}, hourly[1:]...), nil},
		{"default: 1d for a month", "from=2024-05-01T00:00:00Z", e.admin, "2024-05-01T00:00:00.000Z", defTo, "1d", "UTC", "2024-05-01T00:00:00Z", 33, []string{
			"2024-05-01T00:00:00Z 1/0/0/0",
			"2024-06-01T00:00:00Z 2/0/0/4",
			"2024-06-02T00:00:00Z 5/1/1/0",
		}, nil},
		{"1h is /v1/stats/hourly", "interval=1h", e.admin, defFrom, defTo, "1h", "UTC", "2024-06-01T03:00:00Z", 25, hourly, nil},
		{"1m, an event at the last millisecond of a bucket and one at to on a boundary", "interval=1m&from=2024-06-02T02:58:00Z&to=2024-06-02T03:00:00Z", e.admin,
			"2024-06-02T02:58:00.000Z", "2024-06-02T03:00:00.000Z", "1m", "UTC", "2024-06-02T02:58:00Z", 3, []string{
				"2024-06-02T02:59:00Z 1/0/0/0",
				"2024-06-02T03:00:00Z 0/1/0/0",
			}, nil},
		{"1m, partial buckets count only the window", "interval=1m&from=2024-06-02T01:10:00.001Z&to=2024-06-02T02:59:59.998Z", e.admin,
			"2024-06-02T01:10:00.001Z", "2024-06-02T02:59:59.998Z", "1m", "UTC", "2024-06-02T01:10:00Z", 110, []string{
				"2024-06-02T02:00:00Z 0/0/1/0",
				"2024-06-02T02:10:00Z 1/0/0/0",
			}, nil},
		{"5m, an event on a boundary", "interval=5m&from=2024-06-01T23:55:00Z&to=2024-06-02T00:09:59.999Z", e.admin,
			"2024-06-01T23:55:00.000Z", "2024-06-02T00:09:59.999Z", "5m", "UTC", "2024-06-01T23:55:00Z", 3, []string{
				"2024-06-02T00:00:00Z 1/0/0/0",
			}, nil},
		{"15m, an event at to inside a bucket", "interval=15m&from=2024-06-02T00:20:00Z&to=2024-06-02T01:10:00Z", e.admin,
			"2024-06-02T00:20:00.000Z", "2024-06-02T01:10:00.000Z", "15m", "UTC", "2024-06-02T00:15:00Z", 4, []string{
				"2024-06-02T00:30:00Z 1/0/0/0",
				"2024-06-02T01:00:00Z 1/0/0/0",
			}, nil},
		{"1d in Warsaw over the end of summer time", "interval=1d&tz=Europe/Warsaw&from=" + url.QueryEscape("2024-10-26T00:00:00+02:00") + "&to=" + url.QueryEscape("2024-10-28T23:59:59.999+01:00"), e.admin,
			"2024-10-25T22:00:00.000Z", "2024-10-28T22:59:59.999Z", "1d", "Europe/Warsaw", "2024-10-25T22:00:00Z", 3, []string{
				"2024-10-25T22:00:00Z 0/0/0/1",
				"2024-10-26T22:00:00Z 0/1/0/2",
				"2024-10-27T23:00:00Z 0/0/0/1",
			}, []string{"2024-10-25T22:00:00Z", "2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z"}},
		{"1d in Warsaw, the long day alone", "interval=1d&tz=Europe/Warsaw&from=2024-10-26T22:00:00Z&to=2024-10-27T22:59:59.999Z", e.admin,
			"2024-10-26T22:00:00.000Z", "2024-10-27T22:59:59.999Z", "1d", "Europe/Warsaw", "2024-10-26T22:00:00Z", 1, []string{
				"2024-10-26T22:00:00Z 0/1/0/2",
			}, nil},
		{"1d in Kolkata, midnight inside a UTC hour", "interval=1d&tz=Asia/Kolkata&from=" + url.QueryEscape("2024-06-01T00:00:00+05:30") + "&to=" + url.QueryEscape("2024-06-02T23:59:59.999+05:30"), e.admin,
			"2024-05-31T18:30:00.000Z", "2024-06-02T18:29:59.999Z", "1d", "Asia/Kolkata", "2024-05-31T18:30:00Z", 2, []string{
				"2024-05-31T18:30:00Z 1/0/0/3",
				"2024-06-01T18:30:00Z 6/1/1/1",
			}, []string{"2024-05-31T18:30:00Z", "2024-06-01T18:30:00Z"}},
		{"1m at the limit: 1,000 buckets", "interval=1m&from=2024-06-01T12:00:00Z&to=2024-06-02T04:39:59.999Z", e.admin,
			"2024-06-01T12:00:00.000Z", "2024-06-02T04:39:59.999Z", "1m", "UTC", "2024-06-01T12:00:00Z", 1000, []string{
				"2024-06-01T18:29:00Z 0/0/0/1",
				"2024-06-01T18:30:00Z 0/0/0/1",
				"2024-06-01T23:30:00Z 1/0/0/0",
				"2024-06-02T00:00:00Z 1/0/0/0",
				"2024-06-02T00:30:00Z 1/0/0/0",
				"2024-06-02T01:10:00Z 1/0/0/0",
				"2024-06-02T02:00:00Z 0/0/1/0",
				"2024-06-02T02:10:00Z 1/0/0/0",
				"2024-06-02T02:59:00Z 1/0/0/0",
				"2024-06-02T03:00:00Z 0/1/0/0",
			}, nil},
		{"1d at the limit: 400 days", "interval=1d&from=2023-05-01T00:00:00Z&to=2024-06-04T00:00:00Z", e.admin,
			"2023-05-01T00:00:00.000Z", "2024-06-04T00:00:00.000Z", "1d", "UTC", "2023-05-01T00:00:00Z", 401, []string{
				"2024-05-01T00:00:00Z 1/0/0/0",
				"2024-06-01T00:00:00Z 2/0/0/4",
				"2024-06-02T00:00:00Z 5/1/1/0",
			}, nil},
		{"manager of a", "interval=1h", manager, defFrom, defTo, "1h", "UTC", "2024-06-01T03:00:00Z", 25, []string{
			"2024-06-01T10:00:00Z 1/0/0/0",
			"2024-06-01T18:00:00Z 0/0/0/2",
			"2024-06-01T23:00:00Z 1/0/0/0",
			"2024-06-02T01:00:00Z 1/0/0/0",
			"2024-06-02T02:00:00Z 1/0/0/0",
		}, nil},
		{"manager of a, by minute", "from=2024-06-02T01:04:05Z", manager, "2024-06-02T01:04:05.000Z", defTo, "1m", "UTC", "2024-06-02T01:04:00Z", 121, []string{
			"2024-06-02T01:10:00Z 1/0/0/0",
			"2024-06-02T02:59:00Z 1/0/0/0",
		}, nil},
		{"manager of a asks for site b", "site_id=b&from=2024-06-02T01:04:05Z", manager, "2024-06-02T01:04:05.000Z", defTo, "1m", "UTC", "2024-06-02T01:04:00Z", 121, nil, nil},
		{"manager of a asks for device b", "device_id=" + devB + "&interval=1d", manager, defFrom, defTo, "1d", "UTC", "2024-06-01T00:00:00Z", 2, nil, nil},
		{"site and category", "site_id=b&category=access&interval=15m", e.admin, defFrom, defTo, "15m", "UTC", "2024-06-01T03:00:00Z", 97, []string{
			"2024-06-02T00:00:00Z 1/0/0/0",
			"2024-06-02T00:30:00Z 1/0/0/0",
			"2024-06-02T02:00:00Z 1/0/0/0",
		}, nil},
		{"one device, by minute", "device_id=" + strings.ToUpper(devA) + "&interval=1m&from=2024-06-02T01:00:00Z", e.admin, "2024-06-02T01:00:00.000Z", defTo, "1m", "UTC", "2024-06-02T01:00:00Z", 125, []string{
			"2024-06-02T01:10:00Z 1/0/0/0",
			"2024-06-02T02:59:00Z 1/0/0/0",
		}, nil},
		{"key and priority, by day in Kyiv", "key=tamper_event,multi_access_denied&priority=high,critical&interval=1d&tz=Europe/Kyiv", e.admin, defFrom, defTo, "1d", "Europe/Kyiv", "2024-05-31T21:00:00Z", 2, []string{
			"2024-06-01T21:00:00Z 1/1/0/0",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a timelineAnswer
			e.getStrict(t, "/v1/stats/timeline?"+tt.query, tt.token, &a)
			if a.From != tt.from || a.To != tt.to || a.Interval != tt.interval || a.TZ != tt.tz {
				t.Fatalf("got from %s to %s, interval %s in %s, want from %s to %s, interval %s in %s", a.From, a.To, a.Interval, a.TZ, tt.from, tt.to, tt.interval, tt.tz)
			}
			if got := a.nonZero(); len(a.Buckets) != tt.buckets || !slices.Equal(got, tt.nonZero) {
				t.Fatalf("got %d buckets with events in %q, want %d buckets with events in %q", len(a.Buckets), got, tt.buckets, tt.nonZero)
			}
			if a.Buckets[0].Start != tt.first {
				t.Fatalf("first bucket: got %s, want %s", a.Buckets[0].Start, tt.first)
			}
			var starts []string
			for _, b := range a.Buckets {
				starts = append(starts, b.Start)
			}
			if tt.starts != nil && !slices.Equal(starts, tt.starts) {
				t.Fatalf("got starts %q, want %q", starts, tt.starts)
			}
			if step, ok := map[string]time.Duration{"1m": time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute, "1h": time.Hour}[tt.interval]; ok {
				first, _ := time.Parse(time.RFC3339, tt.first)
				for i, s := range starts {
					if want := first.Add(time.Duration(i) * step).Format(time.RFC3339); s != want {
						t.Fatalf("bucket %d: got start %s, want %s", i, s, want)
					}
				}
			}
		})
	}
}

func TestStatsTimelineErrors(t *testing.T) {
	e, manager := statsFixture(t)
	device := e.token(t, `{"role":"device","device_id":"`+devA+`"}`)
	const p = "/v1/stats/timeline"
	tests := []struct {
		name, path, token string
		status            int
		code, mention     string
	}{
		{"no token", p, "", 401, doorlog.EUNAUTHORIZED, ""},
		{"device token", p, device, 403, doorlog.EFORBIDDEN, ""},
		{"1m over 1,001 minutes", p + "?interval=1m&from=2024-06-01T12:00:00Z&to=2024-06-02T04:40:00Z", e.admin, 400, doorlog.EINVALID,
			"interval 1m: the window from 2024-06-01T12:00:00.000Z to 2024-06-02T04:40:00.000Z has more than 1000 buckets; ask for a coarser interval, such as 5m"},
		{"1m over a week", p + "?interval=1m&from=2024-05-26T00:00:00Z", manager, 400, doorlog.EINVALID, "such as 15m"},
		{"1h over 1,001 hours", p + "?interval=1h&from=2024-04-20T00:00:00Z&to=2024-05-31T16:00:00Z", e.admin, 400, doorlog.EINVALID, "interval 1h: the window from 2024-04-20T00:00:00.000Z to 2024-05-31T16:00:00.000Z has more than 1000 buckets; ask for a coarser interval, such as 1d"},
		{"1d over 400 days and a millisecond", p + "?interval=1d&from=2023-05-01T00:00:00Z&to=2024-06-04T00:00:00.001Z", e.admin, 400, doorlog.EINVALID, "longer than 400 days"},
		{"no interval over more than 400 days", p + "?from=2020-01-01T00:00:00Z", manager, 400, doorlog.EINVALID, "longer than 400 days"},
		{"unknown interval", p + "?interval=2h", e.admin, 400, doorlog.EINVALID, `interval: want 1m, 5m, 15m, 1h or 1d, got "2h"`},
		{"interval in seconds", p + "?interval=60s", e.admin, 400, doorlog.EINVALID, "interval"},
		{"interval twice", p + "?interval=1m&interval=1h", e.admin, 400, doorlog.EINVALID, "interval"},
		{"unknown zone", p + "?tz=Mars/Olympus", manager, 400, doorlog.EINVALID, "tz"},
		{"the server's zone", p + "?tz=Local&interval=1d", e.admin, 400, doorlog.EINVALID, "tz"},
		{"from after to", p + "?from=2024-06-02T00:00:00Z&to=2024-06-01T00:00:00Z", e.admin, 400, doorlog.EINVALID, "before from"},
		{"bad to", p + "?to=tomorrow", e.admin, 400, doorlog.EINVALID, "to"},
		{"unknown category", p + "?category=bogus", e.admin, 400, doorlog.EINVALID, "category"},
		{"free text", p + "?q=card", e.admin, 400, doorlog.EINVALID, "q: not supported by /v1/stats/timeline"},
		{"identifier", p + "?identifier_number=12345", manager, 400, doorlog.EINVALID, "identifier_number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantError(t, tt.path, tt.token, tt.status, tt.code, tt.mention)
		})
	}
	req, err := http.NewRequest("POST", e.url+p, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
		t.Errorf("POST %s: got %d with Allow %q, want 405 with Allow GET", p, resp.StatusCode, resp.Header.Get("Allow"))
	}
}
