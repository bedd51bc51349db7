package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// RunMatch checks that doorlog.EventFilter.Match, which live streams run on
// every committed event, selects exactly what the store's queries select:
// for many filters over a varied set of events, Match over every stored
// event must pick the events ListEvents, EventsAfter and CountEvents return.
// The in-memory filter therefore cannot drift from the store. Every backend
// calls it next to Run.
func RunMatch(t *testing.T, open Opener) {
	s := open(t)
	stored := matchFixture(t, s)
	for _, tt := range matchFilters() {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, e := range stored {
				if tt.f.Match(e) {
					want = append(want, e.ID)
				}
			}
			slices.Sort(want)

			listed := MustList(t, s, doorlog.EventQuery{Filter: tt.f})
			got := sortedIDs(listed)
			if !slices.Equal(got, want) {
				t.Errorf("ListEvents: got %d events %q, Match selects %d %q\n%s", len(got), got, len(want), want, explain(stored, got, want))
			}
			after := MustEventsAfter(t, s, tt.f, "", 0)
			if got := eventIDs(after); !slices.Equal(got, want) {
				t.Errorf("EventsAfter: got %q, Match selects %q", got, want)
			}
			if n := MustCount(t, s, tt.f); n != int64(len(want)) {
				t.Errorf("CountEvents: got %d, Match selects %d", n, len(want))
			}
			if tt.some && len(want) == 0 {
				t.Errorf("the filter selects nothing, want some events (the case tests nothing)")
			}
		})
	}
}

// matchCase is a filter of RunMatch. some marks the filters written to
// select events, so that a fixture change cannot turn them into cases that
// pass by selecting nothing on either side.
type matchCase struct {
	name string
	f    doorlog.EventFilter
	some bool
}

// matchModels are the models of the RunMatch fixture: identifiers in every
// spelling the filter reads and some it must not, texts with characters
// that are special to SQL or JSON, and models that are no help at all.
var matchModels = []string{
	`{"number":12345,"type":"card","owner":"Ann Lee","apartment_address":"Flat 12","lock":1}`,
	`{"number":"12345","type":"qr","owner":"ANN LEE"}`,
	`{"identifier_number":"0012345","identifier_type":"ukey","user_name":"Bob"}`,
	`{"identifier_number":777,"identifier_type":"face_id","owner":"Zoë Ärger"}`,
	`{"card":"777","lock":2}`,
	`{"qr":"QR-888","owner":"100% sure_thing"}`,
	`{"card":"12345","type":"qr"}`,
	`{"card":null,"qr":"","note":"null card, empty qr"}`,
	`{"number":"101","answered":true}`,
	`{"used_identifiers_list":[{"identifier_number":"12345","identifier_type":"card"}],"reject_reasons":[]}`,
	`{"identifier":{"number":"12345","type":"card"}}`,
	`{"path":"C:\\doors\\main","quote":"say \"hi\"","tab":"a\tb"}`,
	`{"number":"a\"b","type":"license_plate","plate":"AB 123 C"}`,
	`{"owner":"\u00c9lodie","n\u0075mber":"42","type":"input_code"}`,
	`{"info":{"user":"Ann","destination":12,"lift":"A"},"error":{"message":"lift busy"}}`,
	`{}`,
	``,
	`{"account_type":"admin"}`,
	`{"type":"card","number":-5}`,
	`{"number":0,"identifier_type":"card","card":"0"}`,
}

// matchFixture stores a varied set of events and returns them as the store
// lists them: three sites (one without devices), four devices, server
// events, every category and priority, several events per millisecond.
func matchFixture(t testing.TB, s doorlog.Store) []doorlog.Event {
	t.Helper()
	MustCreateSite(t, s, "m1")
	MustCreateSite(t, s, "m2")
	MustCreateSite(t, s, "m3")
	MustCreateDevice(t, s, "m1", 11)
	MustCreateDevice(t, s, "m1", 12)
	MustCreateDevice(t, s, "m2", 13)
	MustCreateDevice(t, s, "m2", 14)
	devices := []int{11, 12, 13, 14, 0}
	keys := []string{keyGranted, keyDenied, keyOpened, keyTamper, keyCall, keyUnknown}
	var batch []doorlog.Event
	for i := range 3 * len(matchModels) {
		// Each round puts every model on another device.
		n := devices[(i+i/len(matchModels))%len(devices)]
		key := keyLogin
		if n != 0 {
			key = keys[i%len(keys)]
		}
		// Times go back and forth, three events share each millisecond.
		e := event(n, (i*7%len(matchModels))*10+i%3/2, key, []doorlog.Priority{doorlog.PriorityCritical, doorlog.PriorityHigh, doorlog.PriorityMedium, doorlog.PriorityLow}[i%4], fmt.Sprintf("m-%d", i))
		e.Model = json.RawMessage(matchModels[i%len(matchModels)])
		batch = append(batch, e)
		if len(batch) == 7 {
			MustAppend(t, s, batch...)
			batch = batch[:0]
		}
	}
	MustAppend(t, s, batch...)
	stored := MustList(t, s, doorlog.EventQuery{Filter: doorlog.EventFilter{Scope: all}})
	if len(stored) != 3*len(matchModels) {
		t.Fatalf("fixture: got %d stored events, want %d", len(stored), 3*len(matchModels))
	}
	return stored
}

// matchFilters are the filters RunMatch compares. Each condition is tried
// alone, with values the fixture has and values it has not, and in
// combinations.
func matchFilters() []matchCase {
	all := doorlog.Scope{All: true}
	at := func(ms int, extra time.Duration) time.Time {
		return T0.Add(time.Duration(ms)*time.Millisecond + extra)
	}
	numbers := func(v ...string) doorlog.EventFilter { return doorlog.EventFilter{Scope: all, IdentifierNumbers: v} }
	types := func(v ...string) doorlog.EventFilter { return doorlog.EventFilter{Scope: all, IdentifierTypes: v} }
	text := func(q string, keys ...string) doorlog.EventFilter {
		return doorlog.EventFilter{Scope: all, Text: q, TextKeys: keys}
	}
	return []matchCase{
		{"zero scope", doorlog.EventFilter{}, false},
		{"zero scope with sites", doorlog.EventFilter{SiteIDs: []string{"m1"}}, false},
		{"all", doorlog.EventFilter{Scope: all}, true},
		{"site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"m1"}}}, true},
		{"two site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"m2", "m1"}}}, true},
		{"site scope without devices", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"m3"}}}, false},
		{"unknown site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"nowhere"}}}, false},
		{"site list", doorlog.EventFilter{Scope: all, SiteIDs: []string{"m2"}}, true},
		{"site list with unknown", doorlog.EventFilter{Scope: all, SiteIDs: []string{"nowhere", "m1"}}, true},
		{"empty site id", doorlog.EventFilter{Scope: all, SiteIDs: []string{""}}, false},
		{"site list inside scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"m1", "m2"}}, SiteIDs: []string{"m2"}}, true},
		{"site list outside scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"m1"}}, SiteIDs: []string{"m2"}}, false},
		{"stored after the fifth", doorlog.EventFilter{Scope: all, StoredAfter: doorlog.FormatEventID(5)}, true},
		{"stored after the tenth, in a site", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"m1"}}, StoredAfter: doorlog.FormatEventID(10)}, true},
		{"stored after the last", doorlog.EventFilter{Scope: all, StoredAfter: doorlog.FormatEventID(1 << 40)}, false},
		{"device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(12)}}, true},
		{"device upper case", doorlog.EventFilter{Scope: all, DeviceIDs: []string{strings.ToUpper(DeviceID(13))}}, true},
		{"devices with unknown and invalid", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(99), "not-a-uuid", "", DeviceID(11)}}, true},
		{"device outside scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"m1"}}, DeviceIDs: []string{DeviceID(13)}}, false},
		{"unknown device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(99)}}, false},
		{"category", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryEmergency}}, true},
		{"categories with unknown", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{"nope", doorlog.CategorySystem, doorlog.CategoryInfo}}, true},
		{"unknown category", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{"nope"}}, false},
		{"priority", doorlog.EventFilter{Scope: all, Priorities: []doorlog.Priority{doorlog.PriorityHigh, doorlog.PriorityLow}}, true},
		{"unknown priority", doorlog.EventFilter{Scope: all, Priorities: []doorlog.Priority{"urgent"}}, false},
		{"key", doorlog.EventFilter{Scope: all, Keys: []string{keyTamper}}, true},
		{"keys with unknown and stored unknown", doorlog.EventFilter{Scope: all, Keys: []string{"never_stored", keyUnknown, keyLogin}}, true},
		{"key in another case", doorlog.EventFilter{Scope: all, Keys: []string{strings.ToUpper(keyTamper)}}, false},
		{"from", doorlog.EventFilter{Scope: all, From: at(100, 0)}, true},
		{"from inside a millisecond", doorlog.EventFilter{Scope: all, From: at(100, 500*time.Microsecond)}, true},
		{"to", doorlog.EventFilter{Scope: all, To: at(100, 0)}, true},
		{"to inside a millisecond", doorlog.EventFilter{Scope: all, To: at(100, 999*time.Microsecond)}, true},
		{"one millisecond", doorlog.EventFilter{Scope: all, From: at(70, 0), To: at(70, 0)}, true},
		{"window", doorlog.EventFilter{Scope: all, From: at(31, 0), To: at(120, 0)}, true},
		{"empty window inside a millisecond", doorlog.EventFilter{Scope: all, From: at(70, time.Microsecond), To: at(70, 2*time.Microsecond)}, false},
		{"from after to", doorlog.EventFilter{Scope: all, From: at(120, 0), To: at(30, 0)}, false},
		{"number as int and string", numbers("12345"), true},
		{"number with leading zeros", numbers("0012345"), true},
		{"identifier_number int", numbers("777"), true},
		{"qr number", numbers("QR-888"), true},
		{"negative number", numbers("-5"), true},
		{"zero", numbers("0"), true},
		{"escaped number", numbers(`a"b`), true},
		{"number with an escaped name", numbers("42"), true},
		{"nested numbers do not count", numbers("000123"), false},
		{"numbers are text", numbers("12345.0", "qr-888"), false},
		{"several numbers", numbers("101", "777", "nope"), true},
		{"type card", types("card"), true},
		{"type qr", types("qr"), true},
		{"type ukey", types("ukey"), true},
		{"types", types("face_id", "license_plate", "input_code"), true},
		{"type case", types("Card"), false},
		{"unknown type", types("retina"), false},
		{"number and type", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345", "777"}, IdentifierTypes: []string{"card"}}, true},
		{"number and other type", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"101"}, IdentifierTypes: []string{"card"}}, false},
		{"text", text("ann lee"), true},
		{"text upper", text("FLAT 12"), true},
		{"text field name", text("apartment_address"), true},
		{"text JSON syntax", text(`"lock":1`), true},
		{"text percent", text("100%"), true},
		{"text percent alone", text("%"), true},
		{"text underscore", text("e_t"), true},
		{"text wildcard-looking", text("a%e"), false},
		{"text backslash", text(`\\doors`), true},
		{"text escaped quote", text(`\"hi\"`), true},
		{"text escape as stored", text(`\u00c9`), true},
		{"text non-ASCII", text("Zoë"), true},
		{"text non-ASCII other case", text("zOË"), false},
		{"text empty model", text("{}"), true},
		{"text none", text("nobody here"), false},
		{"text or key", text("nobody here", keyTamper), true},
		{"text and key both", text("lee", keyCall, "never_stored"), true},
		{"text keys alone", doorlog.EventFilter{Scope: all, TextKeys: []string{keyTamper}}, true},
		{"text in scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"m2"}}, Text: "lee"}, true},
		{"server events by text", text("account_type"), true},
		{"server events by text outside all", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"m1", "m2", "m3"}}, Text: "account_type"}, false},
		{"everything", doorlog.EventFilter{
			Scope:             doorlog.Scope{SiteIDs: []string{"m1", "m2"}},
			SiteIDs:           []string{"m1", "m2", "m3"},
			DeviceIDs:         []string{DeviceID(11), DeviceID(12), DeviceID(13)},
			Categories:        []doorlog.Category{doorlog.CategoryAccess, doorlog.CategoryEmergency, doorlog.CategoryInfo},
			Priorities:        []doorlog.Priority{doorlog.PriorityCritical, doorlog.PriorityHigh, doorlog.PriorityMedium},
			Keys:              []string{keyGranted, keyDenied, keyOpened, keyTamper, keyCall},
			IdentifierNumbers: []string{"12345", "777", "0012345", "QR-888"},
			IdentifierTypes:   []string{"card", "qr", "ukey", "face_id"},
			Text:              "o",
			TextKeys:          []string{keyTamper},
			From:              at(0, 0),
			To:                at(200, 0),
		}, true},
	}
}

// sortedIDs returns the ids of events sorted.
func sortedIDs(events []doorlog.Event) []string {
	ids := eventIDs(events)
	slices.Sort(ids)
	return ids
}

// explain lists the events on which the store and Match disagree.
func explain(stored []doorlog.Event, got, want []string) string {
	var b strings.Builder
	for _, e := range stored {
		inGot, inWant := slices.Contains(got, e.ID), slices.Contains(want, e.ID)
		if inGot != inWant {
			fmt.Fprintf(&b, "  store %v, Match %v: %s site=%q model=%s\n", inGot, inWant, e, e.SiteID, e.Model)
		}
	}
	return b.String()
}
