package doorlog_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

const (
	matchDev1 = "6f1c2a3e-0000-4000-8000-00000000000a"
	matchDev2 = "6f1c2a3e-0000-4000-8000-00000000000b"
)

var matchT0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// matchEvent returns a stored-looking event of site a, device 1, at T0+ms.
func matchEvent(ms int64, key string, model string) doorlog.Event {
	return doorlog.Event{
		ID:       doorlog.FormatEventID(ms + 1),
		DeviceID: matchDev1,
		SiteID:   "a",
		Time:     matchT0.Add(time.Duration(ms) * time.Millisecond),
		Key:      key,
		Category: doorlog.CategoryAccess,
		Priority: doorlog.PriorityMedium,
		Model:    json.RawMessage(model),
	}
}

func TestMatch(t *testing.T) {
	all := doorlog.Scope{All: true}
	ev := matchEvent(0, "access_granted_by_valid_identifier", `{"number":12345,"type":"card","owner":"Ann LEE"}`)
	server := doorlog.Event{ID: doorlog.FormatEventID(9), Time: matchT0, Key: "successful_login_api_call",
		Category: doorlog.CategorySystem, Priority: doorlog.PriorityLow, Model: json.RawMessage(`{"account_type":"admin"}`)}
	withModel := func(model string) doorlog.Event { e := ev; e.Model = json.RawMessage(model); return e }
	at := func(d time.Duration) time.Time { return matchT0.Add(d) }

	tests := []struct {
		name string
		f    doorlog.EventFilter
		e    doorlog.Event
		want bool
	}{
		{"zero scope sees nothing", doorlog.EventFilter{}, ev, false},
		{"all", doorlog.EventFilter{Scope: all}, ev, true},
		{"all sees server events", doorlog.EventFilter{Scope: all}, server, true},
		{"site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"a"}}}, ev, true},
		{"other site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"b"}}}, ev, false},
		{"site scope hides server events", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"a"}}}, server, false},
		{"site list", doorlog.EventFilter{Scope: all, SiteIDs: []string{"b", "a"}}, ev, true},
		{"site list hides server events", doorlog.EventFilter{Scope: all, SiteIDs: []string{"a"}}, server, false},
		{"empty site id names nothing", doorlog.EventFilter{Scope: all, SiteIDs: []string{""}}, server, false},
		{"site list outside scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"b"}}, SiteIDs: []string{"a"}}, ev, false},
		{"device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{matchDev2, matchDev1}}, ev, true},
		{"device upper case", doorlog.EventFilter{Scope: all, DeviceIDs: []string{"6F1C2A3E-0000-4000-8000-00000000000A"}}, ev, true},
		{"other device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{matchDev2}}, ev, false},
		{"device filter hides server events", doorlog.EventFilter{Scope: all, DeviceIDs: []string{matchDev1}}, server, false},
		{"empty device id names nothing", doorlog.EventFilter{Scope: all, DeviceIDs: []string{""}}, server, false},
		{"category", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryInfo, doorlog.CategoryAccess}}, ev, true},
		{"other category", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryInfo}}, ev, false},
		{"priority", doorlog.EventFilter{Scope: all, Priorities: []doorlog.Priority{doorlog.PriorityMedium}}, ev, true},
		{"other priority", doorlog.EventFilter{Scope: all, Priorities: []doorlog.Priority{"urgent"}}, ev, false},
		{"key", doorlog.EventFilter{Scope: all, Keys: []string{"access_granted_by_valid_identifier"}}, ev, true},
		{"key is exact", doorlog.EventFilter{Scope: all, Keys: []string{"ACCESS_granted_by_valid_identifier"}}, ev, false},
		{"from inclusive", doorlog.EventFilter{Scope: all, From: at(0)}, ev, true},
		{"from inside the millisecond", doorlog.EventFilter{Scope: all, From: at(time.Microsecond)}, ev, false},
		{"from after", doorlog.EventFilter{Scope: all, From: at(time.Millisecond)}, ev, false},
		{"to inclusive", doorlog.EventFilter{Scope: all, To: at(0)}, ev, true},
		{"to inside the millisecond", doorlog.EventFilter{Scope: all, To: at(999 * time.Microsecond)}, ev, true},
		{"to before", doorlog.EventFilter{Scope: all, To: at(-time.Microsecond)}, ev, false},
		{"window", doorlog.EventFilter{Scope: all, From: at(-time.Second), To: at(time.Second)}, ev, true},
		{"text in model, any case", doorlog.EventFilter{Scope: all, Text: "ann lee"}, ev, true},
		{"text in model JSON syntax", doorlog.EventFilter{Scope: all, Text: `"type":"CARD"`}, ev, true},
		{"text not there", doorlog.EventFilter{Scope: all, Text: "bob"}, ev, false},
		{"text by key", doorlog.EventFilter{Scope: all, Text: "bob", TextKeys: []string{"access_granted_by_valid_identifier"}}, ev, true},
		{"text keys alone do nothing", doorlog.EventFilter{Scope: all, TextKeys: []string{"tamper_event"}}, ev, true},
		{"text in an empty model", doorlog.EventFilter{Scope: all, Text: "{}"}, withModel(""), true},
		{"text is not folded beyond ASCII", doorlog.EventFilter{Scope: all, Text: "élan"}, withModel(`{"owner":"ÉLAN"}`), false},
		{"text, non-ASCII exact, ASCII folded", doorlog.EventFilter{Scope: all, Text: "Élan"}, withModel(`{"owner":"ÉLAN"}`), true},
		{"text, non-ASCII same bytes", doorlog.EventFilter{Scope: all, Text: "élan"}, withModel(`{"owner":"Jean élan"}`), true},
		{"number as number", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345"}}, ev, true},
		{"number as string", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345"}}, withModel(`{"number":"12345"}`), true},
		{"number is exact text", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"012345"}}, ev, false},
		{"one of numbers", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"1", "12345"}}, ev, true},
		{"identifier_number", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"A1"}}, withModel(`{"identifier_number":"A1","identifier_type":"ukey"}`), true},
		{"card number", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"777"}}, withModel(`{"card":"777","qr":"888"}`), true},
		{"qr number", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"888"}}, withModel(`{"card":"777","qr":"888"}`), true},
		{"nested number does not count", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"5"}}, withModel(`{"info":{"number":5},"list":[{"number":5}]}`), false},
		{"number after nested values", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"5"}}, withModel(`{"info":{"a":[1,{"b":"}"}]},"s":"x\"y","number":5}`), true},
		{"escaped name", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"5"}}, withModel(`{"n\u0075mber":5}`), true},
		{"escaped value", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"a\"b"}}, withModel(`{"number":"a\"b"}`), true},
		{"first of a repeated field", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"2"}}, withModel(`{"number":1,"number":2}`), false},
		{"null number", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"null"}}, withModel(`{"number":null}`), false},
		{"object number", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"{}"}}, withModel(`{"number":{}}`), false},
		{"no number", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345"}}, withModel(`{}`), false},
		{"empty model", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345"}}, withModel(``), false},
		{"type", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"card"}}, ev, true},
		{"type is exact", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"Card"}}, ev, false},
		{"other type", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"qr", "face_id"}}, ev, false},
		{"type is a string", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"5"}}, withModel(`{"type":5}`), false},
		{"identifier_type", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"ukey"}}, withModel(`{"identifier_number":"A1","identifier_type":"ukey"}`), true},
		{"card field is a card", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"card"}}, withModel(`{"card":"777"}`), true},
		{"qr field is a qr", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"qr"}}, withModel(`{"qr":"888"}`), true},
		{"null card field is nothing", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"card"}}, withModel(`{"card":null}`), false},
		{"card field is not a qr", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"qr"}}, withModel(`{"card":"777"}`), false},
		{"number and type", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345"}, IdentifierTypes: []string{"card"}}, ev, true},
		{"number but not type", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345"}, IdentifierTypes: []string{"qr"}}, ev, false},
		{"every condition", doorlog.EventFilter{
			Scope: doorlog.Scope{SiteIDs: []string{"a"}}, SiteIDs: []string{"a"}, DeviceIDs: []string{matchDev1},
			Categories: []doorlog.Category{doorlog.CategoryAccess}, Priorities: []doorlog.Priority{doorlog.PriorityMedium},
			Keys: []string{ev.Key}, From: at(0), To: at(0), IdentifierNumbers: []string{"12345"}, IdentifierTypes: []string{"card"},
			Text: "LEE",
		}, ev, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(tt.e); got != tt.want {
				t.Errorf("Match(%s) with %+v: got %v, want %v", tt.e.Model, tt.f, got, tt.want)
			}
		})
	}
}

func TestMatchMalformedModel(t *testing.T) {
	f := doorlog.EventFilter{Scope: doorlog.Scope{All: true}, IdentifierNumbers: []string{"1"}}
	for _, model := range []string{`[1]`, `{"number"`, `{"number":1`, `{"number" 1}`, `{"a":"`, `{"a":[}`, `"x"`, `{,}`} {
		if f.Match(matchEvent(0, "k", model)) {
			t.Errorf("Match with model %s: got true, want false", model)
		}
	}
}

// TestMatchAllocations holds Match to its budget: it runs for every
// committed event times every live subscriber.
func TestMatchAllocations(t *testing.T) {
	ev := matchEvent(0, "access_granted_by_valid_identifier", `{"number":12345,"type":"card","owner":"Ann Lee","list":[{"a":1}]}`)
	all := doorlog.Scope{All: true}
	tests := []struct {
		name string
		f    doorlog.EventFilter
	}{
		{"scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"b", "a"}}}},
		{"lists", doorlog.EventFilter{Scope: all, DeviceIDs: []string{matchDev1}, Categories: []doorlog.Category{doorlog.CategoryAccess}, Keys: []string{ev.Key}}},
		{"window", doorlog.EventFilter{Scope: all, From: matchT0, To: matchT0.Add(time.Hour)}},
		{"text", doorlog.EventFilter{Scope: all, Text: "LEE"}},
		{"identifier", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345"}, IdentifierTypes: []string{"card"}}},
	}
	for _, tt := range tests {
		if !tt.f.Match(ev) {
			t.Fatalf("%s: Match: got false, want true", tt.name)
		}
		if n := testing.AllocsPerRun(100, func() { tt.f.Match(ev) }); n != 0 {
			t.Errorf("%s: got %v allocations per Match, want 0", tt.name, n)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	ev := matchEvent(0, "access_granted_by_valid_identifier", `{"number":12345,"type":"card","owner":"Ann Lee","apartment_address":"Flat 12","lock":1}`)
	all := doorlog.Scope{All: true}
	for _, bb := range []struct {
		name string
		f    doorlog.EventFilter
	}{
		{"category", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryEmergency}}},
		{"text", doorlog.EventFilter{Scope: all, Text: "flat 12"}},
		{"identifier", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"12345"}}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				bb.f.Match(ev)
			}
		})
	}
}
