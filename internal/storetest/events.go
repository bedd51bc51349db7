package storetest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// Keys the suite uses, with their catalog category.
const (
	keyGranted = "access_granted_by_valid_identifier"
	keyDenied  = "access_denied_by_unknown_card"
	keyOpened  = "door_was_opened"
	keyTamper  = "tamper_event"
	keyCall    = "incoming_call"
	keyLogin   = "successful_login_api_call"
	keyUnknown = "firmware_2099_new_thing"
)

var keyCategory = map[string]doorlog.Category{
	keyGranted: doorlog.CategoryAccess,
	keyDenied:  doorlog.CategoryAccess,
	keyOpened:  doorlog.CategoryAccess,
	keyTamper:  doorlog.CategoryEmergency,
	keyCall:    doorlog.CategoryInfo,
	keyLogin:   doorlog.CategorySystem,
	keyUnknown: doorlog.CategoryInfo,
}

var priorityCycle = []doorlog.Priority{doorlog.PriorityCritical, doorlog.PriorityHigh, doorlog.PriorityMedium, doorlog.PriorityLow}

// event returns a valid event for device (DeviceID(n), or a server event
// for n 0) at T0+ms with key.
func event(n int, ms int, key string, p doorlog.Priority, sourceID string) doorlog.Event {
	e := doorlog.Event{
		Time:     T0.Add(time.Duration(ms) * time.Millisecond),
		Key:      key,
		Category: keyCategory[key],
		Priority: p,
		Model:    json.RawMessage(fmt.Sprintf(`{"identifier":{"number":"%06d","type":"card"},"lock":%d}`, ms, n)),
		SourceID: sourceID,
	}
	if n != 0 {
		e.DeviceID = DeviceID(n)
	}
	return e
}

// fixture is a store filled with a mix of events for listing tests: sites
// s1 (devices 1 and 2), s2 (device 3) and s3 (no devices), server events,
// many events in one millisecond, and an arrival order unlike time order.
type fixture struct {
	store doorlog.Store
	// all are the stored events as the store should return them.
	all []doorlog.Event
}

// tieMS is the millisecond (after T0) that holds 20 events.
const tieMS = 1500

func newFixture(t testing.TB, open Opener) *fixture {
	t.Helper()
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateSite(t, s, "s2")
	MustCreateSite(t, s, "s3")
	MustCreateDevice(t, s, "s1", 1)
	MustCreateDevice(t, s, "s1", 2)
	MustCreateDevice(t, s, "s2", 3)
	siteOf := map[string]string{DeviceID(1): "s1", DeviceID(2): "s1", DeviceID(3): "s2"}
	deviceKeys := []string{keyGranted, keyDenied, keyOpened, keyTamper, keyCall}

	// 60 events over 12 instants 250 ms apart, out of time order, and 15
	// more all at tieMS (which instant 6 shares).
	var spread, ties []doorlog.Event
	for i := range 60 {
		n := []int{1, 2, 3, 0}[i%4]
		key := keyLogin
		if n != 0 {
			key = deviceKeys[i%5]
		}
		src := ""
		if i%2 == 0 {
			src = fmt.Sprintf("src-%d", i)
		}
		e := event(n, (i*7)%12*250, key, priorityCycle[i%3], src)
		if n != 0 && i%3 == 0 {
			e.SiteID = siteOf[e.DeviceID] // both spellings: given and taken from the device
		}
		spread = append(spread, e)
	}
	for i := range 15 {
		n := []int{1, 2, 3}[i%3]
		ties = append(ties, event(n, tieMS, deviceKeys[(i+2)%5], priorityCycle[i%4], fmt.Sprintf("tie-%d", i)))
	}
	var in []doorlog.Event
	in = append(in, spread[:30]...)
	in = append(in, ties[:8]...)
	in = append(in, spread[30:]...)
	in = append(in, ties[8:]...)

	fx := &fixture{store: s}
	for start := 0; start < len(in); start += 8 {
		batch := in[start:min(start+8, len(in))]
		res := MustAppend(t, s, batch...)
		for i, r := range res {
			if r.Duplicate || r.ID == "" {
				t.Fatalf("fixture event %d: got %+v, want a stored event", start+i, r)
			}
			e := batch[i]
			e.ID = r.ID
			e.SiteID = siteOf[e.DeviceID]
			e.Time = doorlog.TruncateMillis(e.Time)
			fx.all = append(fx.all, e)
		}
	}
	return fx
}

// matches is the reference meaning of a filter.
func matches(f doorlog.EventFilter, e doorlog.Event) bool {
	if !f.Scope.Allows(e.SiteID) {
		return false
	}
	if len(f.SiteIDs) > 0 && !slices.Contains(f.SiteIDs, e.SiteID) {
		return false
	}
	if len(f.DeviceIDs) > 0 && !slices.Contains(f.DeviceIDs, e.DeviceID) {
		return false
	}
	if len(f.Categories) > 0 && !slices.Contains(f.Categories, e.Category) {
		return false
	}
	if len(f.Priorities) > 0 && !slices.Contains(f.Priorities, e.Priority) {
		return false
	}
	if len(f.Keys) > 0 && !slices.Contains(f.Keys, e.Key) {
		return false
	}
	if !f.From.IsZero() && e.Time.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && e.Time.After(f.To) {
		return false
	}
	if f.StoredAfter != "" && e.ID <= f.StoredAfter {
		return false
	}
	return matchesModel(f, e)
}

// before reports whether a comes before b in ascending (time, id) order.
// Ids are fixed-width and sort as strings the way they sort as numbers.
func before(a, b doorlog.Event) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.ID < b.ID
}

// expect returns the events of the fixture a listing with f and order must
// return, computed without the store.
func (fx *fixture) expect(f doorlog.EventFilter, order doorlog.Order) []doorlog.Event {
	var out []doorlog.Event
	for _, e := range fx.all {
		if matches(f, e) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return before(out[i], out[j]) })
	if order == doorlog.Desc {
		slices.Reverse(out)
	}
	return out
}

func orderName(o doorlog.Order) string {
	if o == doorlog.Desc {
		return "desc"
	}
	return "asc"
}

func testAppendIDs(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateDevice(t, s, "s1", 1)
	var ids []string
	for call := range 4 {
		var batch []doorlog.Event
		for i := range call + 1 {
			// Times go backwards: ids follow arrival, not time.
			batch = append(batch, event([]int{1, 0}[i%2], 10000-call*100-i, keyOpened, doorlog.PriorityLow, ""))
		}
		for _, r := range MustAppend(t, s, batch...) {
			ids = append(ids, r.ID)
		}
	}
	var last int64 = -1
	for i, id := range ids {
		if len(id) != doorlog.EventIDLen {
			t.Errorf("id %d: got %q (%d chars), want %d chars", i, id, len(id), doorlog.EventIDLen)
		}
		seq, err := doorlog.ParseEventID(id)
		if err != nil {
			t.Errorf("id %d: ParseEventID(%q): %v", i, id, err)
			continue
		}
		if seq <= last {
			t.Errorf("id %d: got %q (seq %d), want a seq greater than %d: ids must increase in append order", i, id, seq, last)
		}
		last = seq
		if i > 0 && id <= ids[i-1] {
			t.Errorf("id %d: got %q, want it to sort after %q", i, id, ids[i-1])
		}
	}
}

func testAppendRoundTrip(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateDevice(t, s, "s1", 1)
	kyiv := time.FixedZone("UTC+3", 3*3600)
	tests := []struct {
		name string
		in   doorlog.Event
		want doorlog.Event // ID is filled in from the result
	}{
		{
			name: "every field",
			in: doorlog.Event{
				DeviceID: DeviceID(1), SiteID: "s1",
				Time: time.Date(2024, 2, 29, 23, 59, 59, 987654321, kyiv),
				Key:  keyGranted, Category: doorlog.CategoryAccess, Priority: doorlog.PriorityMedium,
				Model:    json.RawMessage(`{"identifier": {"number": "0012345", "type": "card"}, "owner": "Оля", "apartment_address": "flat 12", "lock": 1, "ok": true, "n": null}`),
				SourceID: "log-1",
			},
			want: doorlog.Event{
				DeviceID: DeviceID(1), SiteID: "s1",
				Time: time.Date(2024, 2, 29, 20, 59, 59, 987000000, time.UTC),
				Key:  keyGranted, Category: doorlog.CategoryAccess, Priority: doorlog.PriorityMedium,
				Model:    json.RawMessage(`{"apartment_address":"flat 12","identifier":{"number":"0012345","type":"card"},"lock":1,"n":null,"ok":true,"owner":"Оля"}`),
				SourceID: "log-1",
			},
		},
		{
			name: "site from device, upper-case device id, no source",
			in:   doorlog.Event{DeviceID: strings.ToUpper(DeviceID(1)), Time: T0, Key: keyTamper, Category: doorlog.CategoryEmergency, Priority: doorlog.PriorityCritical, Model: json.RawMessage(`{}`)},
			want: doorlog.Event{DeviceID: DeviceID(1), SiteID: "s1", Time: T0, Key: keyTamper, Category: doorlog.CategoryEmergency, Priority: doorlog.PriorityCritical, Model: json.RawMessage(`{}`)},
		},
		{
			name: "unknown key, empty model",
			in:   doorlog.Event{DeviceID: DeviceID(1), Time: T0, Key: keyUnknown, Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow},
			want: doorlog.Event{DeviceID: DeviceID(1), SiteID: "s1", Time: T0, Key: keyUnknown, Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow, Model: json.RawMessage(`{}`)},
		},
		{
			name: "server event",
			in:   doorlog.Event{Time: T0.Add(time.Millisecond), Key: keyLogin, Category: doorlog.CategorySystem, Priority: doorlog.PriorityLow, Model: json.RawMessage(`{"account_type":"admin"}`), SourceID: "login-1"},
			want: doorlog.Event{Time: T0.Add(time.Millisecond), Key: keyLogin, Category: doorlog.CategorySystem, Priority: doorlog.PriorityLow, Model: json.RawMessage(`{"account_type":"admin"}`), SourceID: "login-1"},
		},
		{
			name: "before 1970",
			in:   doorlog.Event{DeviceID: DeviceID(1), Time: time.Date(1969, 12, 31, 23, 59, 59, 500e6, time.UTC), Key: keyCall, Category: doorlog.CategoryInfo, Priority: doorlog.PriorityHigh, Model: json.RawMessage(`{"number":"101"}`)},
			want: doorlog.Event{DeviceID: DeviceID(1), SiteID: "s1", Time: time.Date(1969, 12, 31, 23, 59, 59, 500e6, time.UTC), Key: keyCall, Category: doorlog.CategoryInfo, Priority: doorlog.PriorityHigh, Model: json.RawMessage(`{"number":"101"}`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := MustAppend(t, s, tt.in)
			if res[0].Duplicate || res[0].ID == "" {
				t.Fatalf("AppendEvents: got %+v, want a stored event", res[0])
			}
			want := tt.want
			want.ID = res[0].ID
			got := MustList(t, s, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}})
			i := slices.IndexFunc(got, func(e doorlog.Event) bool { return e.ID == want.ID })
			if i < 0 {
				t.Fatalf("ListEvents: event %s missing from %q", want.ID, eventIDs(got))
			}
			compareEvent(t, "ListEvents", got[i], want)
		})
	}
}

func testAppendInvalid(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateSite(t, s, "s2")
	MustCreateDevice(t, s, "s1", 1)
	valid := event(1, 0, keyOpened, doorlog.PriorityLow, "")
	tests := []struct {
		name   string
		mutate func(*doorlog.Event)
	}{
		{"unknown device", func(e *doorlog.Event) { e.DeviceID = DeviceID(42) }},
		{"device id not a UUID", func(e *doorlog.Event) { e.DeviceID = "panel-1" }},
		{"site not the device's", func(e *doorlog.Event) { e.SiteID = "s2" }},
		{"unknown site", func(e *doorlog.Event) { e.SiteID = "nope" }},
		{"server event with a site", func(e *doorlog.Event) { e.DeviceID = ""; e.SiteID = "s1" }},
		{"empty key", func(e *doorlog.Event) { e.Key = "" }},
		{"empty category", func(e *doorlog.Event) { e.Category = "" }},
		{"unknown category", func(e *doorlog.Event) { e.Category = "alarm" }},
		{"empty priority", func(e *doorlog.Event) { e.Priority = "" }},
		{"unknown priority", func(e *doorlog.Event) { e.Priority = "urgent" }},
		{"model not JSON", func(e *doorlog.Event) { e.Model = json.RawMessage(`{"a":`) }},
		{"model not an object", func(e *doorlog.Event) { e.Model = json.RawMessage(`[1,2]`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid
			tt.mutate(&e)
			res, err := s.AppendEvents(ctx(t), []doorlog.Event{e})
			wantCode(t, "AppendEvents", err, doorlog.EINVALID)
			if res != nil {
				t.Errorf("AppendEvents: got results %+v with an error, want none", res)
			}
		})
	}
	if n := MustCount(t, s, doorlog.EventFilter{Scope: all}); n != 0 {
		t.Errorf("after invalid appends: got %d events, want 0", n)
	}
	res := MustAppend(t, s)
	if len(res) != 0 {
		t.Errorf("AppendEvents(none): got %+v, want no results", res)
	}
}

func testAppendDuplicates(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateDevice(t, s, "s1", 1)
	MustCreateDevice(t, s, "s1", 2)

	first := event(1, 0, keyGranted, doorlog.PriorityMedium, "a")
	res := MustAppend(t, s, first)
	if res[0].Duplicate || res[0].ID == "" {
		t.Fatalf("first append: got %+v, want a stored event", res[0])
	}
	firstID := res[0].ID

	// The retry differs in content: what counts is (device, source).
	retry := event(1, 999, keyDenied, doorlog.PriorityHigh, "a")
	upper := retry
	upper.DeviceID = strings.ToUpper(upper.DeviceID)
	batch := []doorlog.Event{
		retry, // 0: duplicate of a stored event
		event(2, 0, keyGranted, doorlog.PriorityMedium, "a"), // 1: same source, other device: new
		event(1, 0, keyGranted, doorlog.PriorityMedium, "b"), // 2: new
		event(1, 5, keyGranted, doorlog.PriorityMedium, "b"), // 3: duplicate of 2, same call
		event(1, 0, keyGranted, doorlog.PriorityMedium, ""),  // 4: no source: never a duplicate
		event(1, 0, keyGranted, doorlog.PriorityMedium, ""),  // 5: no source: never a duplicate
		upper, // 6: duplicate, device id spelled differently
		event(0, 0, keyLogin, doorlog.PriorityLow, "login-1"), // 7: server event: new
		event(0, 0, keyLogin, doorlog.PriorityLow, "login-1"), // 8: server event: duplicate of 7
		event(0, 0, keyLogin, doorlog.PriorityLow, ""),        // 9: server event, no source: new
		event(0, 0, keyLogin, doorlog.PriorityLow, ""),        // 10: server event, no source: new
	}
	wantDup := []bool{true, false, false, true, false, false, true, false, true, false, false}
	res = MustAppend(t, s, batch...)
	stored := 1
	for i, r := range res {
		if r.Duplicate != wantDup[i] {
			t.Errorf("event %d: got Duplicate %v, want %v", i, r.Duplicate, wantDup[i])
		}
		if r.Duplicate && r.ID != "" {
			t.Errorf("event %d: duplicate with ID %q, want empty", i, r.ID)
		}
		if !r.Duplicate {
			stored++
			if r.ID == "" {
				t.Errorf("event %d: stored without an ID", i)
			}
		}
	}

	// A whole retry of the call stores nothing more.
	for i, r := range MustAppend(t, s, batch...) {
		if want := batch[i].SourceID != ""; r.Duplicate != want {
			t.Errorf("retried event %d: got Duplicate %v, want %v", i, r.Duplicate, want)
		}
		if !r.Duplicate {
			stored++
		}
	}
	if n := MustCount(t, s, doorlog.EventFilter{Scope: all}); n != int64(stored) {
		t.Errorf("CountEvents: got %d, want %d", n, stored)
	}
	got := MustList(t, s, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}})
	if len(got) != stored {
		t.Errorf("ListEvents: got %d events, want %d", len(got), stored)
	}
	sources := map[string]int{}
	for _, e := range got {
		if e.SourceID != "" {
			sources[e.DeviceID+"/"+e.SourceID]++
		}
		if e.ID == firstID {
			want := first
			want.ID, want.SiteID = firstID, "s1"
			compareEvent(t, "the first of duplicates", e, want)
		}
	}
	for k, n := range sources {
		if n != 1 {
			t.Errorf("(device, source) %s: stored %d times, want 1", k, n)
		}
	}
}

func testAppendAtomic(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateDevice(t, s, "s1", 1)
	MustAppend(t, s, event(1, 0, keyOpened, doorlog.PriorityLow, "old"))

	bad := []doorlog.Event{
		event(1, 1, keyUnknown, doorlog.PriorityLow, "new-1"),
		event(0, 2, keyLogin, doorlog.PriorityLow, "new-2"),
		event(1, 3, keyOpened, doorlog.PriorityLow, "old"), // a duplicate is no error
		event(9, 4, keyOpened, doorlog.PriorityLow, "new-3"),
	}
	res, err := s.AppendEvents(ctx(t), bad)
	wantCode(t, "AppendEvents with an unknown device", err, doorlog.EINVALID)
	if res != nil {
		t.Errorf("AppendEvents with an unknown device: got results %+v, want none", res)
	}
	if n := MustCount(t, s, doorlog.EventFilter{Scope: all}); n != 1 {
		t.Errorf("after a failed append: got %d events, want 1", n)
	}
	keys, err := s.EventKeys(ctx(t))
	mustOK(t, "EventKeys", err)
	if !slices.Equal(keys, []string{keyOpened}) {
		t.Errorf("after a failed append: got keys %q, want %q", keys, []string{keyOpened})
	}

	// Nothing of the failed call was kept, so its events are new now.
	res = MustAppend(t, s, bad[:3]...)
	for i, want := range []bool{false, false, true} {
		if res[i].Duplicate != want {
			t.Errorf("retry without the bad event, event %d: got Duplicate %v, want %v", i, res[i].Duplicate, want)
		}
	}
	keys, err = s.EventKeys(ctx(t))
	mustOK(t, "EventKeys", err)
	if want := []string{keyOpened, keyLogin, keyUnknown}; !slices.Equal(keys, sortedSet(want)) {
		t.Errorf("EventKeys: got %q, want %q", keys, sortedSet(want))
	}
}

func testListEventsOrder(t *testing.T, open Opener) {
	fx := newFixture(t, open)
	s := fx.store
	asc := MustList(t, s, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}})
	want := fx.expect(doorlog.EventFilter{Scope: all}, doorlog.Asc)
	if len(asc) != len(want) {
		t.Fatalf("ListEvents: got %d events, want %d", len(asc), len(want))
	}
	for i := range asc {
		compareEvent(t, fmt.Sprintf("event %d", i), asc[i], want[i])
	}
	for i := 1; i < len(asc); i++ {
		if !before(asc[i-1], asc[i]) {
			t.Errorf("asc: event %d (%v) is not before event %d (%v)", i-1, asc[i-1], i, asc[i])
		}
	}

	desc := MustList(t, s, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}, Order: doorlog.Desc})
	rev := slices.Clone(eventIDs(asc))
	slices.Reverse(rev)
	if got := eventIDs(desc); !slices.Equal(got, rev) {
		t.Errorf("desc: got %q, want the reverse of asc %q", got, rev)
	}

	// 20 events share one millisecond: the id orders them.
	tie := T0.Add(tieMS * time.Millisecond)
	same := MustList(t, s, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all, From: tie, To: tie}})
	if len(same) != 20 {
		t.Fatalf("events at the tie millisecond: got %d, want 20", len(same))
	}
	for i := 1; i < len(same); i++ {
		if same[i-1].ID >= same[i].ID {
			t.Errorf("tie millisecond: id %q before %q, want ascending ids", same[i-1].ID, same[i].ID)
		}
	}
}

func testListEventsFilters(t *testing.T, open Opener) {
	fx := newFixture(t, open)
	s := fx.store
	site1 := doorlog.Scope{SiteIDs: []string{"s1"}}
	at := func(ms int) time.Time { return T0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name   string
		filter doorlog.EventFilter
		// want is the hand-counted number of events, to keep the
		// reference model honest; -1 to rely on it alone.
		want int
	}{
		{"zero scope", doorlog.EventFilter{}, 0},
		{"zero scope with sites", doorlog.EventFilter{SiteIDs: []string{"s1"}}, 0},
		{"all", doorlog.EventFilter{Scope: all}, 75},
		{"site scope", doorlog.EventFilter{Scope: site1}, 40},
		{"two-site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1", "s2"}}}, 60},
		{"empty site", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s3"}}}, 0},
		{"unknown site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"zz"}}}, 0},
		{"all, site filter", doorlog.EventFilter{Scope: all, SiteIDs: []string{"s2"}}, 20},
		{"site filter outside scope", doorlog.EventFilter{Scope: site1, SiteIDs: []string{"s2"}}, 0},
		{"site filter partly outside scope", doorlog.EventFilter{Scope: site1, SiteIDs: []string{"s2", "s1"}}, 40},
		{"device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1)}}, 20},
		{"devices", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1), DeviceID(3)}}, 40},
		{"device outside scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s2"}}, DeviceIDs: []string{DeviceID(1)}}, 0},
		{"unknown device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(77)}}, 0},
		{"category", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategorySystem}}, 15},
		{"categories", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryEmergency, doorlog.CategoryInfo}}, -1},
		{"category in site scope", doorlog.EventFilter{Scope: site1, Categories: []doorlog.Category{doorlog.CategorySystem}}, 0},
		{"priority", doorlog.EventFilter{Scope: all, Priorities: []doorlog.Priority{doorlog.PriorityHigh}}, -1},
		{"priorities", doorlog.EventFilter{Scope: all, Priorities: []doorlog.Priority{doorlog.PriorityLow, doorlog.PriorityCritical}}, -1},
		{"key", doorlog.EventFilter{Scope: all, Keys: []string{keyLogin}}, 15},
		{"keys", doorlog.EventFilter{Scope: all, Keys: []string{keyGranted, keyTamper}}, -1},
		{"unknown key", doorlog.EventFilter{Scope: all, Keys: []string{"no_such_key"}}, 0},
		{"unknown and known key", doorlog.EventFilter{Scope: all, Keys: []string{"no_such_key", keyCall}}, -1},
		{"from", doorlog.EventFilter{Scope: all, From: at(2500)}, 10},
		{"to", doorlog.EventFilter{Scope: all, To: at(250)}, 10},
		{"from and to inclusive", doorlog.EventFilter{Scope: all, From: at(tieMS), To: at(1750)}, 25},
		{"one millisecond", doorlog.EventFilter{Scope: all, From: at(tieMS), To: at(tieMS)}, 20},
		{"sub-millisecond bounds", doorlog.EventFilter{Scope: all, From: at(tieMS).Add(-time.Microsecond), To: at(tieMS).Add(999 * time.Microsecond)}, 20},
		{"from inside a millisecond", doorlog.EventFilter{Scope: all, From: at(tieMS).Add(time.Microsecond), To: at(1750)}, 5},
		{"to before from", doorlog.EventFilter{Scope: all, From: at(1000), To: at(999)}, 0},
		{"combined", doorlog.EventFilter{
			Scope:      doorlog.Scope{SiteIDs: []string{"s1", "s2"}},
			SiteIDs:    []string{"s1", "s2", "s3"},
			DeviceIDs:  []string{DeviceID(1), DeviceID(3)},
			Categories: []doorlog.Category{doorlog.CategoryAccess},
			Priorities: []doorlog.Priority{doorlog.PriorityCritical, doorlog.PriorityMedium},
			Keys:       []string{keyGranted, keyOpened, keyDenied},
			From:       at(500),
			To:         at(2500),
		}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range []doorlog.Order{doorlog.Asc, doorlog.Desc} {
				want := fx.expect(tt.filter, order)
				if tt.want >= 0 && len(want) != tt.want {
					t.Fatalf("the suite's reference model: got %d events, want %d", len(want), tt.want)
				}
				if tt.want < 0 && len(want) == 0 {
					t.Fatalf("the suite's reference model matches nothing; the case tests nothing")
				}
				checkListing(t, s, tt.filter, order, want)
			}
		})
	}
}

// checkListing checks a whole listing, its count, and that paging through
// it by offset and by cursor yields the same events.
func checkListing(t *testing.T, s doorlog.Store, f doorlog.EventFilter, order doorlog.Order, want []doorlog.Event) {
	t.Helper()
	wantIDs := eventIDs(want)
	got := MustList(t, s, doorlog.EventQuery{Filter: f, Order: order})
	if ids := eventIDs(got); !slices.Equal(ids, wantIDs) {
		t.Errorf("%s: got %d events %q, want %d %q", orderName(order), len(ids), ids, len(wantIDs), wantIDs)
	}
	if n := MustCount(t, s, f); n != int64(len(want)) {
		t.Errorf("%s: CountEvents: got %d, want %d", orderName(order), n, len(want))
	}

	const limit = 7
	var byOffset, byCursor []string
	for offset := 0; ; offset += limit {
		page := MustList(t, s, doorlog.EventQuery{Filter: f, Order: order, Offset: offset, Limit: limit})
		if len(page) > limit {
			t.Fatalf("%s: page at offset %d: got %d events, want at most %d", orderName(order), offset, len(page), limit)
		}
		byOffset = append(byOffset, eventIDs(page)...)
		if len(page) < limit || len(byOffset) > len(want) {
			break
		}
	}
	if !slices.Equal(byOffset, wantIDs) {
		t.Errorf("%s: pages by offset: got %q, want %q", orderName(order), byOffset, wantIDs)
	}
	var after *doorlog.EventCursor
	for {
		page := MustList(t, s, doorlog.EventQuery{Filter: f, Order: order, After: after, Limit: limit})
		byCursor = append(byCursor, eventIDs(page)...)
		if len(page) < limit || len(byCursor) > len(want) {
			break
		}
		last := page[len(page)-1]
		after = &doorlog.EventCursor{Time: last.Time, ID: last.ID}
	}
	if !slices.Equal(byCursor, wantIDs) {
		t.Errorf("%s: pages by cursor: got %q, want %q", orderName(order), byCursor, wantIDs)
	}
}

func testListEventsCursor(t *testing.T, open Opener) {
	fx := newFixture(t, open)
	s := fx.store
	f := doorlog.EventFilter{Scope: all}
	asc := fx.expect(f, doorlog.Asc)
	desc := fx.expect(f, doorlog.Desc)
	tie := T0.Add(tieMS * time.Millisecond)
	// An event in the middle of the tie millisecond.
	mid := slices.IndexFunc(asc, func(e doorlog.Event) bool { return e.Time.Equal(tie) }) + 10
	midDesc := slices.IndexFunc(desc, func(e doorlog.Event) bool { return e.ID == asc[mid].ID })
	at := func(e doorlog.Event) *doorlog.EventCursor { return &doorlog.EventCursor{Time: e.Time, ID: e.ID} }
	idx := func(events []doorlog.Event, pred func(doorlog.Event) bool) int {
		return slices.IndexFunc(events, pred)
	}
	firstAtOrAfterTie := idx(asc, func(e doorlog.Event) bool { return !e.Time.Before(tie) })
	firstAtOrBeforeTie := idx(desc, func(e doorlog.Event) bool { return !e.Time.After(tie) })

	tests := []struct {
		name string
		q    doorlog.EventQuery
		want []doorlog.Event
	}{
		{"asc after a tied event", doorlog.EventQuery{Filter: f, After: at(asc[mid])}, asc[mid+1:]},
		{"desc after a tied event", doorlog.EventQuery{Filter: f, Order: doorlog.Desc, After: at(asc[mid])}, desc[midDesc+1:]},
		{"asc after, with offset and limit", doorlog.EventQuery{Filter: f, After: at(asc[mid]), Offset: 2, Limit: 3}, asc[mid+3 : mid+6]},
		{"desc after, with offset and limit", doorlog.EventQuery{Filter: f, Order: doorlog.Desc, After: at(asc[mid]), Offset: 2, Limit: 3}, desc[midDesc+3 : midDesc+6]},
		{"asc after the last", doorlog.EventQuery{Filter: f, After: at(asc[len(asc)-1])}, nil},
		{"desc after the last", doorlog.EventQuery{Filter: f, Order: doorlog.Desc, After: at(desc[len(desc)-1])}, nil},
		{"asc after a position before every id", doorlog.EventQuery{Filter: f, After: &doorlog.EventCursor{Time: tie, ID: doorlog.FormatEventID(0)}}, asc[firstAtOrAfterTie:]},
		{"desc after a position past every id", doorlog.EventQuery{Filter: f, Order: doorlog.Desc, After: &doorlog.EventCursor{Time: tie, ID: doorlog.FormatEventID(math.MaxInt64)}}, desc[firstAtOrBeforeTie:]},
		{"offset past the end", doorlog.EventQuery{Filter: f, Offset: len(asc), Limit: 10}, nil},
		{"cursor with a filter", doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(2)}}, After: at(asc[mid])},
			slices.DeleteFunc(slices.Clone(asc[mid+1:]), func(e doorlog.Event) bool { return e.DeviceID != DeviceID(2) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == 0 && !strings.Contains(tt.name, "last") && !strings.Contains(tt.name, "past the end") {
				t.Fatalf("the case expects nothing; it tests nothing")
			}
			got := MustList(t, s, tt.q)
			if g, w := eventIDs(got), eventIDs(tt.want); !slices.Equal(g, w) {
				t.Errorf("got %q, want %q", g, w)
			}
		})
	}
}

func testListEventsInvalid(t *testing.T, open Opener) {
	s := open(t)
	f := doorlog.EventFilter{Scope: all}
	tests := []struct {
		name string
		q    doorlog.EventQuery
	}{
		{"negative limit", doorlog.EventQuery{Filter: f, Limit: -1}},
		{"negative offset", doorlog.EventQuery{Filter: f, Offset: -1}},
		{"cursor id not an id", doorlog.EventQuery{Filter: f, After: &doorlog.EventCursor{Time: T0, ID: "nope"}}},
		{"empty cursor id", doorlog.EventQuery{Filter: f, After: &doorlog.EventCursor{Time: T0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ListEvents(ctx(t), tt.q)
			wantCode(t, "ListEvents", err, doorlog.EINVALID)
		})
	}
	got := MustList(t, s, doorlog.EventQuery{Filter: f, Limit: 10})
	if len(got) != 0 {
		t.Errorf("ListEvents on an empty store: got %d events, want 0", len(got))
	}
}

func testEventKeys(t *testing.T, open Opener) {
	s := open(t)
	keys, err := s.EventKeys(ctx(t))
	mustOK(t, "EventKeys on an empty store", err)
	if len(keys) != 0 {
		t.Errorf("EventKeys on an empty store: got %q, want none", keys)
	}
	MustCreateSite(t, s, "s1")
	MustCreateDevice(t, s, "s1", 1)
	in := []string{keyTamper, keyGranted, keyUnknown, keyGranted, keyLogin, keyTamper}
	for i, k := range in {
		n := 1
		if k == keyLogin {
			n = 0
		}
		MustAppend(t, s, event(n, i, k, doorlog.PriorityLow, ""))
	}
	keys, err = s.EventKeys(ctx(t))
	mustOK(t, "EventKeys", err)
	if want := sortedSet(in); !slices.Equal(keys, want) {
		t.Errorf("EventKeys: got %q, want %q", keys, want)
	}
}

func testConcurrent(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	const writers, batches, perBatch, readers = 6, 8, 10, 3
	for w := range writers {
		MustCreateDevice(t, s, "s1", w+1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	ids := make([][]string, writers)
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var batch []doorlog.Event
				for i := range perBatch {
					n := w + 1
					if i == 0 && w == 0 {
						n = 0 // some server events too
					}
					batch = append(batch, event(n, b*perBatch+i, keyOpened, doorlog.PriorityLow, fmt.Sprintf("w%d-%d-%d", w, b, i)))
				}
				res, err := s.AppendEvents(t.Context(), batch)
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				for _, r := range res {
					if r.Duplicate {
						errs <- fmt.Errorf("writer %d: an event was reported duplicate", w)
						return
					}
					ids[w] = append(ids[w], r.ID)
				}
			}
		})
	}
	var rwg sync.WaitGroup
	for r := range readers {
		rwg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				q := doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}, Order: doorlog.Order(r % 2), Limit: 20}
				if _, err := s.ListEvents(t.Context(), q); err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				if _, err := s.CountEvents(t.Context(), q.Filter); err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	const total = writers * batches * perBatch
	if n := MustCount(t, s, doorlog.EventFilter{Scope: all}); n != total {
		t.Errorf("CountEvents: got %d, want %d", n, total)
	}
	listed := MustList(t, s, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}})
	seen := map[string]bool{}
	for _, e := range listed {
		if seen[e.ID] {
			t.Errorf("id %s listed twice", e.ID)
		}
		seen[e.ID] = true
	}
	if len(seen) != total {
		t.Errorf("distinct ids: got %d, want %d", len(seen), total)
	}
	for w, list := range ids {
		for i := 1; i < len(list); i++ {
			if list[i] <= list[i-1] {
				t.Errorf("writer %d: id %q after %q, want increasing", w, list[i], list[i-1])
			}
		}
	}
}
