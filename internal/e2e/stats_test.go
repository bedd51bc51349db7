package e2e_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// The checks of the stats endpoints: what each reader gets is in its
// sites, and every figure equals what the store counts for it directly.

// readerScope is the scope of a reader identity.
func readerScope(id identity) doorlog.Scope {
	if sites := scopeSites(id); sites != nil {
		return doorlog.Scope{SiteIDs: sites}
	}
	return doorlog.Scope{All: true}
}

// activityKeys returns the catalog keys of an activity type.
func (f *fixture) activityKeys(activity string) []string {
	var keys []string
	for _, k := range f.app.Catalog.Keys() {
		if f.app.Catalog.Entry(k).ActivityType == activity {
			keys = append(keys, k)
		}
	}
	return keys
}

// hourlyStats checks GET /v1/stats/hourly of 07:30 to 09:59:59.999 on 1
// May 2024, narrowed to site and categories when given: three hours, each
// category's figure the store's count, and the fixture's events (all
// between 08:00 and 08:05) in them.
func hourlyStats(site string, cats ...doorlog.Category) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var r struct {
			From, To string
			Hours    []struct {
				Hour                            string
				Access, Emergency, System, Info int64
			}
		}
		decode(tb, body, &r)
		from, to := time.Date(2024, 5, 1, 7, 30, 0, 0, time.UTC), time.Date(2024, 5, 1, 9, 59, 59, 999e6, time.UTC)
		if r.From != "2024-05-01T07:30:00.000Z" || r.To != "2024-05-01T09:59:59.999Z" || len(r.Hours) != 3 {
			tb.Fatalf("got the window %s to %s in %d hours, want 07:30 to 09:59:59.999 in 3", r.From, r.To, len(r.Hours))
		}
		var total int64
		for i, h := range r.Hours {
			start := time.Date(2024, 5, 1, 7+i, 0, 0, 0, time.UTC)
			if h.Hour != start.Format(time.RFC3339) {
				tb.Errorf("hour %d: got %s, want %s", i, h.Hour, start.Format(time.RFC3339))
			}
			for _, c := range []struct {
				cat doorlog.Category
				got int64
			}{{doorlog.CategoryAccess, h.Access}, {doorlog.CategoryEmergency, h.Emergency}, {doorlog.CategorySystem, h.System}, {doorlog.CategoryInfo, h.Info}} {
				var want int64
				if len(cats) == 0 || slices.Contains(cats, c.cat) {
					filter := doorlog.EventFilter{Scope: readerScope(id), Categories: []doorlog.Category{c.cat},
						From: maxTime(start, from), To: minTime(start.Add(time.Hour-time.Millisecond), to)}
					if site != "" {
						filter.SiteIDs = []string{site}
					}
					want = f.count(tb, filter)
				}
				if c.got != want {
					tb.Errorf("%s, %s: got %d, want %d", h.Hour, c.cat, c.got, want)
				}
				total += c.got
			}
		}
		want := map[identity]int64{admin: 6, managerA: 3, managerB: 3}[id]
		if site == siteB {
			want = map[identity]int64{admin: 3, managerB: 3}[id]
		}
		if total != want {
			tb.Errorf("got %d events in the window, want the fixture's %d", total, want)
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// denialStats checks GET /v1/stats/denials: only devices of the reader's
// sites (and of site, when given), each with the store's count of its
// denials in the window, in order, and every such device with a denial
// listed.
func denialStats(site string) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var r struct {
			From, To string
			Devices  []struct {
				DeviceID   string `json:"device_id"`
				DeviceName string `json:"device_name"`
				SiteID     string `json:"site_id"`
				Denials    int64
			}
		}
		decode(tb, body, &r)
		from, err1 := time.Parse(time.RFC3339, r.From)
		to, err2 := time.Parse(time.RFC3339, r.To)
		if err1 != nil || err2 != nil || to.Sub(from) != 24*time.Hour {
			tb.Fatalf("got the window %s to %s, want the last 24 hours", r.From, r.To)
		}
		keys := f.activityKeys("ACCESS_DENIED")
		denials := func(dev string) int64 {
			return f.count(tb, doorlog.EventFilter{Scope: allEvents.Scope, DeviceIDs: []string{dev}, Keys: keys, From: from, To: to})
		}
		var listed []string
		for i, d := range r.Devices {
			listed = append(listed, d.DeviceID)
			if s := scopeSites(id); s != nil && !slices.Contains(s, d.SiteID) || site != "" && d.SiteID != site || f.siteOfDevice(d.DeviceID) != d.SiteID {
				tb.Errorf("%s sees the denials of device %s of site %s", id, d.DeviceID, d.SiteID)
			}
			if want := denials(d.DeviceID); d.Denials != want || want == 0 {
				tb.Errorf("device %s: got %d denials, want %d (and not 0)", d.DeviceID, d.Denials, want)
			}
			if i > 0 && (r.Devices[i-1].Denials < d.Denials || r.Devices[i-1].Denials == d.Denials && r.Devices[i-1].DeviceID > d.DeviceID) {
				tb.Errorf("device %s is listed after %s", d.DeviceID, r.Devices[i-1].DeviceID)
			}
		}
		devices, err := f.app.Store.ListDevices(context.Background(), doorlog.DeviceFilter{Scope: readerScope(id), SiteIDs: nonEmpty(site)})
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range devices {
			if !slices.Contains(listed, d.ID) && denials(d.ID) > 0 {
				tb.Errorf("device %s has denials but is not listed", d.ID)
			}
		}
		if id == admin && site == "" && (!slices.Contains(listed, devA) || !slices.Contains(listed, devB)) {
			tb.Errorf("got devices %v, want devices A and B, which have denials", listed)
		}
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// deviceStats checks GET /v1/stats/devices: exactly the reader's devices
// (of site, when given), each with the time of its newest event, the
// status that time gives, and the store's counts of its grants and denials
// since midnight in tz. Devices A and B have a denial of a few seconds ago.
func deviceStats(site, tz string) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var r struct {
			Devices []struct {
				ID, Name, Model string
				SiteID          string  `json:"site_id"`
				LastEventTime   *string `json:"last_event_time"`
				Status          string
				Today           struct{ Grants, Denials int64 }
			}
			SilentAfter string `json:"silent_after"`
		}
		decode(tb, body, &r)
		silentAfter, err := time.ParseDuration(r.SilentAfter)
		if err != nil {
			tb.Fatalf("silent_after %q: %v", r.SilentAfter, err)
		}
		ctx := context.Background()
		devices, err := f.app.Store.ListDevices(ctx, doorlog.DeviceFilter{Scope: readerScope(id), SiteIDs: nonEmpty(site)})
		if err != nil {
			tb.Fatal(err)
		}
		var got, want []string
		for _, d := range devices {
			want = append(want, d.ID)
		}
		loc, err := time.LoadLocation(tz)
		if err != nil {
			tb.Fatal(err)
		}
		y, m, day := time.Now().In(loc).Date()
		midnight := time.Date(y, m, day, 0, 0, 0, 0, loc)
		today := func(dev, activity string) int64 {
			return f.count(tb, doorlog.EventFilter{Scope: allEvents.Scope, DeviceIDs: []string{dev}, Keys: f.activityKeys(activity),
				From: midnight, To: time.Date(y, m, day+1, 0, 0, 0, 0, loc).Add(-time.Millisecond)})
		}
		for _, d := range r.Devices {
			got = append(got, d.ID)
			newest, err := f.app.Store.ListEvents(ctx, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: allEvents.Scope, DeviceIDs: []string{d.ID}}, Order: doorlog.Desc, Limit: 1})
			if err != nil {
				tb.Fatal(err)
			}
			wantLast, wantStatus := "<nil>", "silent"
			if len(newest) > 0 {
				wantLast = newest[0].Time.Format("2006-01-02T15:04:05.000Z07:00")
				if time.Since(newest[0].Time) < silentAfter {
					wantStatus = "online"
				}
			}
			last := "<nil>"
			if d.LastEventTime != nil {
				last = *d.LastEventTime
			}
			if last != wantLast || d.Status != wantStatus {
				tb.Errorf("device %s: got last event %s, %s, want %s, %s", d.ID, last, d.Status, wantLast, wantStatus)
			}
			if d.SiteID != f.siteOfDevice(d.ID) {
				tb.Errorf("device %s: got site %s, want %s", d.ID, d.SiteID, f.siteOfDevice(d.ID))
			}
			if g, dn := today(d.ID, "ACCESS_GRANTED"), today(d.ID, "ACCESS_DENIED"); d.Today.Grants != g || d.Today.Denials != dn {
				tb.Errorf("device %s: got today %d grants and %d denials, want %d and %d", d.ID, d.Today.Grants, d.Today.Denials, g, dn)
			}
			if (d.ID == devA || d.ID == devB) && (d.Status != "online" || d.Today.Denials == 0) {
				tb.Errorf("device %s: got %s with %d denials today, want online with its denial of a moment ago", d.ID, d.Status, d.Today.Denials)
			}
		}
		if !slices.Equal(got, want) {
			tb.Errorf("got devices %v, want %v", got, want)
		}
		if id != managerA || site != siteB {
			if len(got) == 0 {
				tb.Errorf("got no device")
			}
		}
	}
}

// timelineStats checks GET /v1/stats/timeline by minute from 07:59:30 to
// 08:05:59.999 on 1 May 2024, narrowed to site when given: seven minutes,
// the first partial, each category's figure the store's count, and the
// fixture's events (all between 08:00 and 08:05) in them.
func timelineStats(site string) func(tb testing.TB, f *fixture, id identity, body []byte) {
	return func(tb testing.TB, f *fixture, id identity, body []byte) {
		var r struct {
			From, To, Interval, TZ string
			Buckets                []struct {
				Start                           string
				Access, Emergency, System, Info int64
			}
		}
		decode(tb, body, &r)
		from, to := time.Date(2024, 5, 1, 7, 59, 30, 0, time.UTC), time.Date(2024, 5, 1, 8, 5, 59, 999e6, time.UTC)
		if r.From != "2024-05-01T07:59:30.000Z" || r.To != "2024-05-01T08:05:59.999Z" || r.Interval != "1m" || r.TZ != "UTC" || len(r.Buckets) != 7 {
			tb.Fatalf("got the window %s to %s by %s in %s in %d buckets, want 07:59:30 to 08:05:59.999 by 1m in UTC in 7", r.From, r.To, r.Interval, r.TZ, len(r.Buckets))
		}
		var total int64
		for i, b := range r.Buckets {
			start := time.Date(2024, 5, 1, 7, 59+i, 0, 0, time.UTC)
			if b.Start != start.Format(time.RFC3339) {
				tb.Errorf("bucket %d: got %s, want %s", i, b.Start, start.Format(time.RFC3339))
			}
			for _, c := range []struct {
				cat doorlog.Category
				got int64
			}{{doorlog.CategoryAccess, b.Access}, {doorlog.CategoryEmergency, b.Emergency}, {doorlog.CategorySystem, b.System}, {doorlog.CategoryInfo, b.Info}} {
				filter := doorlog.EventFilter{Scope: readerScope(id), Categories: []doorlog.Category{c.cat},
					From: maxTime(start, from), To: minTime(start.Add(time.Minute-time.Millisecond), to)}
				if site != "" {
					filter.SiteIDs = []string{site}
				}
				if want := f.count(tb, filter); c.got != want {
					tb.Errorf("%s, %s: got %d, want %d", b.Start, c.cat, c.got, want)
				}
				total += c.got
			}
		}
		want := map[identity]int64{admin: 6, managerA: 3, managerB: 3}[id]
		if site == siteB {
			want = map[identity]int64{admin: 3, managerB: 3}[id]
		}
		if total != want {
			tb.Errorf("got %d events in the window, want the fixture's %d", total, want)
		}
	}
}
