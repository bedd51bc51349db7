// Package storetest is the contract every doorlog.Store backend passes. It
// is written against the interface alone, so the SQLite and PostgreSQL
// backends run the same tests and cannot drift apart in what they promise.
//
// Beyond the comments on doorlog.Store, the suite pins down these choices,
// which every backend must share:
//
//   - Create* set a zero CreatedAt to now and leave every stored time at
//     millisecond precision in UTC, writing it back into the argument;
//     CreateDevice and CreateToken write back the canonical device id.
//   - Account and token SiteIDs are a set: they come back sorted and without
//     repeats; naming a site that does not exist is EINVALID. A device token
//     must name an existing device, and only a device token names one.
//   - ListSites and ListDevices are ordered by id.
//   - An event's empty SiteID is taken from its device; a SiteID that is not
//     its device's, or a SiteID on a server event, is EINVALID. Category and
//     Priority must be known values, Key non-empty and Model a JSON object
//     (empty means {}); anything else is EINVALID.
//   - In an EventFilter, a value that names nothing stored (an unknown key,
//     device or site) matches nothing rather than failing. From and To are
//     compared at millisecond precision, both inclusive.
//   - EventQuery.Limit 0 means no limit; a negative Limit or Offset, or an
//     After cursor whose ID does not parse, is EINVALID. After is a position
//     (time, id) and need not be a stored event.
//   - IdentifierNumbers and IdentifierTypes read top-level model fields
//     only ("number", "identifier_number", "card", "qr"; "type",
//     "identifier_type"); a nested {"identifier": {...}} is not an
//     identifier. A number matches a JSON string's text or a JSON number's
//     literal exactly (no trimming, no case folding; true is no number); a
//     type matches a JSON string exactly, and a non-null "card" or "qr"
//     field is of that type. Text
//     matches the stored model bytes, folding ASCII case only, with no
//     wildcards; TextKeys count only when Text is set. A model that is not
//     JSON never makes a query fail.
//   - EventsAfter's after is "" (from the first event) or an id this store
//     handed out; an id that does not parse, or is past the newest id ever
//     assigned, is EINVALID, and a negative limit is EINVALID. The event it
//     names need not match the filter.
//   - CountByHour, CountByDevice and LastEventTimes answer what a scan of
//     the events would, with the same scope, site, device, kind and
//     window rules as ListEvents; CountByHour's hours are UTC and run from
//     the hour holding From (rounded up to the millisecond) to the one
//     holding To. LastEventTimes goes by event time, not arrival.
//   - ListTokens keeps, for a restricted scope, the admin and manager
//     tokens with at least one site and none outside it, and the device
//     tokens of devices in its sites (Scope.Confines); an unknown site in
//     the scope confines nothing. ActiveAt and DeleteExpiredTokens follow
//     Token.Expired exactly, at nanosecond precision against expiries
//     stored to the millisecond. A deleted token's id may be used again.
//   - The number of distinct keys (and so of kinds) is not limited: counts,
//     pages and aggregations stay exact with tens of thousands of them.
//   - EventFilter.StoredAfter keeps the events whose id is greater than
//     it (ids follow arrival), whatever their times; it combines with
//     every other filter, order, offset and cursor, and is counted
//     exactly. An id that does not parse is EINVALID; the aggregations
//     refuse it with EINVALID.
//   - SetWatermark sets After to the newest id stored ("" in an empty
//     store), replaces the key's earlier watermark (keeping its ID or
//     not), and writes back the canonical device id; a key with both or
//     neither of Username and TokenID, or an unknown device, is EINVALID.
//     Watermark IDs are not reused while the watermark exists.
//   - CreateAck does not read the event it acknowledges (an unknown but
//     well-formed id is stored); ListAcks of up to doorlog.MaxAckIDs ids
//     (repeats allowed) returns each ack once, by event id, never nil.
//   - ServerKey returns 32 random bytes per name, the same on every call,
//     also to callers racing on first use.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// Opener returns a fresh, empty store for one test, and registers its
// cleanup (closing it, removing its files or schema) with t.
type Opener = func(t testing.TB) doorlog.Store

// Run runs the whole contract. Every test gets its own empty store from
// open, so tests are independent and may be run alone with -run.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"Sites", testSites},
		{"ListSites", testListSites},
		{"Devices", testDevices},
		{"UpdateDevice", testUpdateDevice},
		{"CollectorState", testCollectorState},
		{"ListDevices", testListDevices},
		{"Accounts", testAccounts},
		{"Tokens", testTokens},
		{"ListTokens", testListTokens},
		{"DeleteToken", testDeleteToken},
		{"DeleteExpiredTokens", testDeleteExpiredTokens},
		{"AppendIDs", testAppendIDs},
		{"AppendRoundTrip", testAppendRoundTrip},
		{"AppendInvalid", testAppendInvalid},
		{"AppendDuplicates", testAppendDuplicates},
		{"AppendAtomic", testAppendAtomic},
		{"ListEventsOrder", testListEventsOrder},
		{"ListEventsFilters", testListEventsFilters},
		{"ListEventsCursor", testListEventsCursor},
		{"ListEventsAcrossBuckets", testListEventsAcrossBuckets},
		{"ListEventsInvalid", testListEventsInvalid},
		{"ListEventsMaxBytes", testListEventsMaxBytes},
		{"ListEventsIdentifier", testListEventsIdentifier},
		{"ListEventsText", testListEventsText},
		{"ListEventsModelCombined", testListEventsModelCombined},
		{"ListEventsStoredAfter", testListEventsStoredAfter},
		{"Watermarks", testWatermarks},
		{"Acks", testAcks},
		{"EventsAfter", testEventsAfter},
		{"EventsAfterInvalid", testEventsAfterInvalid},
		{"EventsAfterLaterAppends", testEventsAfterLaterAppends},
		{"CountByHour", testCountByHour},
		{"CountByDevice", testCountByDevice},
		{"LastEventTimes", testLastEventTimes},
		{"AggregationsInvalid", testAggregationsInvalid},
		{"ServerKey", testServerKey},
		{"EventKeys", testEventKeys},
		{"ManyKinds", testManyKinds},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// T0 is the base time of the suite's events: a fixed instant, so failures
// are reproducible.
var T0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

// DeviceID returns a distinct, valid, canonical device UUID for n.
func DeviceID(n int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", n)
}

// MustCreateSite creates a site with id and fails the test on an error.
func MustCreateSite(t testing.TB, s doorlog.Store, id string) *doorlog.Site {
	t.Helper()
	site := &doorlog.Site{ID: id, Name: "Site " + id}
	if err := s.CreateSite(t.Context(), site); err != nil {
		t.Fatalf("CreateSite(%q): %v", id, err)
	}
	return site
}

// MustCreateDevice creates device number n (see DeviceID) in site siteID
// and fails the test on an error.
func MustCreateDevice(t testing.TB, s doorlog.Store, siteID string, n int) *doorlog.Device {
	t.Helper()
	d := &doorlog.Device{ID: DeviceID(n), SiteID: siteID, Name: fmt.Sprintf("Panel %d", n), Model: "AA-12"}
	if err := s.CreateDevice(t.Context(), d); err != nil {
		t.Fatalf("CreateDevice(%d): %v", n, err)
	}
	return d
}

// MustAppend appends events, fails the test on an error, and returns the
// results.
func MustAppend(t testing.TB, s doorlog.Store, events ...doorlog.Event) []doorlog.AppendResult {
	t.Helper()
	res, err := s.AppendEvents(t.Context(), events)
	if err != nil {
		t.Fatalf("AppendEvents(%d events): %v", len(events), err)
	}
	if len(res) != len(events) {
		t.Fatalf("AppendEvents(%d events): got %d results, want %d", len(events), len(res), len(events))
	}
	return res
}

// MustList lists events and fails the test on an error.
func MustList(t testing.TB, s doorlog.Store, q doorlog.EventQuery) []doorlog.Event {
	t.Helper()
	got, err := s.ListEvents(t.Context(), q)
	if err != nil {
		t.Fatalf("ListEvents(%+v): %v", q, err)
	}
	return got
}

// MustCount counts events and fails the test on an error.
func MustCount(t testing.TB, s doorlog.Store, f doorlog.EventFilter) int64 {
	t.Helper()
	n, err := s.CountEvents(t.Context(), f)
	if err != nil {
		t.Fatalf("CountEvents(%+v): %v", f, err)
	}
	return n
}

// wantCode fails the test unless err carries the domain code want.
func wantCode(t testing.TB, what string, err error, want string) {
	t.Helper()
	if got := doorlog.ErrorCode(err); got != want {
		t.Errorf("%s: got error code %q (%v), want %q", what, got, err, want)
	}
}

// mustOK fails the test now on an error.
func mustOK(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// all is the scope that sees everything.
var all = doorlog.Scope{All: true}

// eventIDs returns the ids of events, for compact comparisons.
func eventIDs(events []doorlog.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// sameJSON reports whether two JSON texts mean the same value; a backend
// may reformat what it stores (PostgreSQL's jsonb does).
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// sortedSet returns ids sorted without repeats, the way stores keep site
// lists.
func sortedSet(ids []string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return slices.Compact(out)
}

// compareEvent reports every field of got that differs from want.
func compareEvent(t testing.TB, what string, got, want doorlog.Event) {
	t.Helper()
	if got.ID != want.ID {
		t.Errorf("%s: ID: got %q, want %q", what, got.ID, want.ID)
	}
	if got.DeviceID != want.DeviceID {
		t.Errorf("%s: DeviceID: got %q, want %q", what, got.DeviceID, want.DeviceID)
	}
	if got.SiteID != want.SiteID {
		t.Errorf("%s: SiteID: got %q, want %q", what, got.SiteID, want.SiteID)
	}
	if wt := doorlog.TruncateMillis(want.Time); !got.Time.Equal(wt) || got.Time.Location() != time.UTC {
		t.Errorf("%s: Time: got %v, want %v in UTC", what, got.Time, wt)
	}
	if got.Key != want.Key {
		t.Errorf("%s: Key: got %q, want %q", what, got.Key, want.Key)
	}
	if got.Category != want.Category {
		t.Errorf("%s: Category: got %q, want %q", what, got.Category, want.Category)
	}
	if got.Priority != want.Priority {
		t.Errorf("%s: Priority: got %q, want %q", what, got.Priority, want.Priority)
	}
	wantModel := want.Model
	if len(wantModel) == 0 {
		wantModel = []byte("{}")
	}
	if !sameJSON(got.Model, wantModel) {
		t.Errorf("%s: Model: got %s, want %s", what, got.Model, wantModel)
	}
	if got.SourceID != want.SourceID {
		t.Errorf("%s: SourceID: got %q, want %q", what, got.SourceID, want.SourceID)
	}
}

// ctx is shorthand for the test's context.
func ctx(t testing.TB) context.Context { return t.Context() }
