package storetest

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// matchesModel is the reference meaning of the filter fields that look into
// the model: IdentifierNumbers, IdentifierTypes and Text with TextKeys.
func matchesModel(f doorlog.EventFilter, e doorlog.Event) bool {
	if len(f.IdentifierNumbers) > 0 || len(f.IdentifierTypes) > 0 {
		numbers, types := identifiers(e.Model)
		if len(f.IdentifierNumbers) > 0 && !overlaps(f.IdentifierNumbers, numbers) {
			return false
		}
		if len(f.IdentifierTypes) > 0 && !overlaps(f.IdentifierTypes, types) {
			return false
		}
	}
	if f.Text != "" {
		in := bytes.Contains(asciiLower(e.Model), asciiLower([]byte(f.Text)))
		if !in && !slices.Contains(f.TextKeys, e.Key) {
			return false
		}
	}
	return true
}

// identifiers returns the identifier numbers and types a model names, the
// way the filter reads them: the top-level "number", "identifier_number",
// "card" and "qr" fields (a string as its text, a number as its JSON
// literal), the "type" and "identifier_type" strings, and the types "card"
// and "qr" for a non-null field of that name.
func identifiers(model []byte) (numbers, types []string) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(model))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return nil, nil
	}
	for _, f := range []string{"number", "identifier_number", "card", "qr"} {
		switch v := m[f].(type) {
		case string:
			numbers = append(numbers, v)
		case json.Number:
			numbers = append(numbers, v.String())
		}
	}
	for _, f := range []string{"type", "identifier_type"} {
		// A number here is no type: v is a json.Number, not a string.
		if v, ok := m[f].(string); ok {
			types = append(types, v)
		}
	}
	for _, f := range []string{"card", "qr"} {
		if m[f] != nil {
			types = append(types, f)
		}
	}
	return numbers, types
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// asciiLower lowers ASCII letters only, as the filter's Text promises.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// modelFixture is a store whose events carry identifiers in every spelling
// the filter reads (and some it must not), and texts to search for. Sites
// s1 (device 1) and s2 (device 2), and server events.
func modelFixture(t testing.TB, open Opener) *fixture {
	t.Helper()
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateSite(t, s, "s2")
	MustCreateDevice(t, s, "s1", 1)
	MustCreateDevice(t, s, "s2", 2)
	siteOf := map[string]string{DeviceID(1): "s1", DeviceID(2): "s2"}
	in := []struct {
		n     int
		key   string
		model string
	}{
		/* 0 */ {1, keyGranted, `{"number":12345,"type":"card","owner":"Ann Lee","apartment_address":"Flat 12","lock":1}`},
		/* 1 */ {1, keyGranted, `{"number":"12345","type":"card","owner":"Bob Stone"}`},
		/* 2 */ {2, keyGranted, `{"number":12345,"type":"ukey","owner":"ann lee"}`},
		/* 3 */ {1, keyDenied, `{"card":"0012345"}`},
		/* 4 */ {2, keyDenied, `{"qr":"QR-77"}`},
		/* 5 */ {1, keyGranted, `{"identifier_number":"777","identifier_type":"face_id"}`},
		/* 6 */ {2, keyGranted, `{"identifier_number":777,"identifier_type":"face_id","owner":"Zoë Ärger"}`},
		/* 7 */ {1, keyCall, `{"number":"101","answered":true}`},
		/* 8 */ {1, keyOpened, `{"lock":2}`},
		/* 9 */ {0, keyLogin, `{"account_type":"admin"}`},
		/* 10 */ {1, keyUnknown, `{"card":null,"note":"50% off_all"}`},
		/* 11 */ {2, keyTamper, `{}`},
		/* 12 */ {1, keyGranted, `{"number":"555","type":"qr"}`},
		/* 13 */ {1, keyGranted, `{"identifier":{"number":"12345","type":"card"}}`},
		/* 14 */ {2, keyGranted, `{"number":101,"type":"input_code","owner":"TAMPERPROOF Ltd"}`},
		/* 15 */ {1, keyGranted, `{"number":98765432109876543210,"type":"card"}`},
		/* 16 */ {2, keyGranted, `{"number":true,"type":5,"identifier_number":"x\u0041"}`},
	}
	fx := &fixture{store: s}
	for i, x := range in {
		// Three events per millisecond, so that order needs the id.
		e := event(x.n, (i/3)*10, x.key, priorityCycle[i%4], "")
		e.Model = json.RawMessage(x.model)
		res := MustAppend(t, s, e)
		e.ID = res[0].ID
		e.SiteID = siteOf[e.DeviceID]
		e.Time = doorlog.TruncateMillis(e.Time)
		fx.all = append(fx.all, e)
	}
	return fx
}

// modelCase is a listing with a filter and the fixture events, by index,
// it must return, so that the reference model is checked by hand as well.
type modelCase struct {
	name   string
	filter doorlog.EventFilter
	want   []int
}

func runModelCases(t *testing.T, fx *fixture, tests []modelCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hand []string
			for _, i := range tt.want {
				hand = append(hand, fx.all[i].ID)
			}
			ref := eventIDs(fx.expect(tt.filter, doorlog.Asc))
			slices.Sort(hand)
			slices.Sort(ref)
			if !slices.Equal(ref, hand) {
				t.Fatalf("the suite's reference model: got %q, want %q", ref, hand)
			}
			for _, order := range []doorlog.Order{doorlog.Asc, doorlog.Desc} {
				checkListing(t, fx.store, tt.filter, order, fx.expect(tt.filter, order))
			}
		})
	}
}

func testListEventsIdentifier(t *testing.T, open Opener) {
	fx := modelFixture(t, open)
	f := func(numbers, types []string) doorlog.EventFilter {
		return doorlog.EventFilter{Scope: all, IdentifierNumbers: numbers, IdentifierTypes: types}
	}
	runModelCases(t, fx, []modelCase{
		{"number as int and as string", f([]string{"12345"}, nil), []int{0, 1, 2}},
		{"number with leading zeros is other text", f([]string{"0012345"}, nil), []int{3}},
		{"identifier_number as string and int", f([]string{"777"}, nil), []int{5, 6}},
		{"qr field", f([]string{"QR-77"}, nil), []int{4}},
		{"call number is a number too", f([]string{"101"}, nil), []int{7, 14}},
		{"numbers are OR-ed", f([]string{"12345", "777", "nope"}, nil), []int{0, 1, 2, 5, 6}},
		{"unknown number", f([]string{"99999"}, nil), nil},
		{"number is case sensitive", f([]string{"qr-77"}, nil), nil},
		{"type card, and card field", f(nil, []string{"card"}), []int{0, 1, 3, 15}},
		{"type qr, and qr field", f(nil, []string{"qr"}), []int{4, 12}},
		{"identifier_type", f(nil, []string{"face_id"}), []int{5, 6}},
		{"types are OR-ed", f(nil, []string{"face_id", "ukey"}), []int{2, 5, 6}},
		{"unknown type", f(nil, []string{"license_plate"}), nil},
		{"number and type are AND-ed", f([]string{"12345"}, []string{"card"}), []int{0, 1}},
		{"number and type of different events", f([]string{"777"}, []string{"card"}), nil},
		{"card field both", f([]string{"0012345"}, []string{"card", "ukey"}), []int{3}},
		{"number in site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, IdentifierNumbers: []string{"12345"}}, []int{0, 1}},
		{"number with a site filter outside scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1"}}, SiteIDs: []string{"s2"}, IdentifierNumbers: []string{"12345"}}, nil},
		{"number past int64 is its literal", f([]string{"98765432109876543210"}, nil), []int{15}},
		{"true is no number", f([]string{"1", "true"}, nil), nil},
		{"escapes in a string are decoded", f([]string{"xA"}, nil), []int{16}},
		{"a number is no type", f(nil, []string{"5"}), nil},
		{"number with a key", doorlog.EventFilter{Scope: all, IdentifierNumbers: []string{"101"}, Keys: []string{keyCall}}, []int{7}},
	})
}

func testListEventsText(t *testing.T, open Opener) {
	fx := modelFixture(t, open)
	text := func(q string, keys ...string) doorlog.EventFilter {
		return doorlog.EventFilter{Scope: all, Text: q, TextKeys: keys}
	}
	runModelCases(t, fx, []modelCase{
		{"ASCII case folded", text("ANN LEE"), []int{0, 2}},
		{"part of a word", text("stone"), []int{1}},
		{"field names are model text", text("apartment_address"), []int{0}},
		{"percent is no wildcard", text("50%"), []int{10}},
		{"underscore is no wildcard", text("f_a"), []int{10}},
		{"non-ASCII, same case", text("Zoë Ä"), []int{6}},
		{"digits", text("0012345"), []int{3}},
		{"no match", text("nobody"), nil},
		{"keys match without the model", text("nobody", keyTamper), []int{11}},
		{"model or key", text("tamper", keyTamper), []int{11, 14}},
		{"unknown keys are ignored", text("stone", "no_such_key"), []int{1}},
		{"keys without text are ignored", doorlog.EventFilter{Scope: all, TextKeys: []string{keyTamper}}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{"server event needs the all scope", text("admin"), []int{9}},
		{"server event outside a site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s1", "s2"}}, Text: "admin"}, nil},
		{"text in site scope", doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s2"}}, Text: "ann"}, []int{2}},
	})
}

func testListEventsModelCombined(t *testing.T, open Opener) {
	fx := modelFixture(t, open)
	at := func(ms int) time.Time { return T0.Add(time.Duration(ms) * time.Millisecond) }
	runModelCases(t, fx, []modelCase{
		{"text and type", doorlog.EventFilter{Scope: all, Text: "lee", IdentifierTypes: []string{"card"}}, []int{0}},
		{"text keys and number", doorlog.EventFilter{Scope: all, Text: "zzz", TextKeys: []string{keyGranted}, IdentifierNumbers: []string{"777", "555"}}, []int{5, 6, 12}},
		{"everything", doorlog.EventFilter{
			Scope:             doorlog.Scope{SiteIDs: []string{"s1", "s2"}},
			SiteIDs:           []string{"s1", "s2"},
			DeviceIDs:         []string{DeviceID(1), DeviceID(2)},
			Categories:        []doorlog.Category{doorlog.CategoryAccess},
			Keys:              []string{keyGranted, keyDenied},
			Priorities:        []doorlog.Priority{doorlog.PriorityCritical, doorlog.PriorityHigh, doorlog.PriorityLow},
			IdentifierNumbers: []string{"12345", "777", "0012345"},
			IdentifierTypes:   []string{"card", "face_id"},
			Text:              "D",
			From:              at(0),
			To:                at(10),
		}, []int{0, 1, 3, 5}},
		{"time window and type", doorlog.EventFilter{Scope: all, IdentifierTypes: []string{"face_id", "qr"}, From: at(10), To: at(10)}, []int{4, 5}},
	})
	// The same filters counted on their own agree with the listing, which
	// checkListing has shown; a count of a filter matching nothing is 0.
	if n := MustCount(t, fx.store, doorlog.EventFilter{Scope: all, Text: "nobody", IdentifierNumbers: []string{"12345"}}); n != 0 {
		t.Errorf("CountEvents of a filter matching nothing: got %d, want 0", n)
	}
}

// arrival returns the fixture events matching f in arrival (id) order.
func (fx *fixture) arrival(f doorlog.EventFilter) []doorlog.Event {
	var out []doorlog.Event
	for _, e := range fx.all {
		if matches(f, e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b doorlog.Event) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// MustEventsAfter calls EventsAfter and fails the test on an error.
func MustEventsAfter(t testing.TB, s doorlog.Store, f doorlog.EventFilter, after string, limit int) []doorlog.Event {
	t.Helper()
	got, err := s.EventsAfter(t.Context(), f, after, limit)
	if err != nil {
		t.Fatalf("EventsAfter(%+v, %q, %d): %v", f, after, limit, err)
	}
	return got
}

func testEventsAfter(t *testing.T, open Opener) {
	fx := newFixture(t, open)
	s := fx.store
	f := doorlog.EventFilter{Scope: all}
	arr := fx.arrival(f)
	if !slices.IsSortedFunc(fx.all, func(a, b doorlog.Event) int { return strings.Compare(a.ID, b.ID) }) {
		t.Fatalf("the fixture's ids do not follow append order")
	}
	got := MustEventsAfter(t, s, f, "", 0)
	if len(got) != len(arr) {
		t.Fatalf("EventsAfter from the start: got %d events, want %d", len(got), len(arr))
	}
	for i := range got {
		compareEvent(t, "EventsAfter event "+arr[i].ID, got[i], arr[i])
	}

	s1 := doorlog.Scope{SiteIDs: []string{"s1"}}
	tests := []struct {
		name   string
		filter doorlog.EventFilter
		after  int // index in the arrival order of the whole fixture; -1 for ""
		limit  int
	}{
		{"from the start", f, -1, 0},
		{"from the start, limited", f, -1, 5},
		{"strictly after", f, 10, 0},
		{"after, limited", f, 10, 7},
		{"after the last", f, len(arr) - 1, 0},
		{"limit larger than the rest", f, len(arr) - 3, 100},
		{"site scope", doorlog.EventFilter{Scope: s1}, 5, 0},
		{"zero scope", doorlog.EventFilter{}, -1, 0},
		{"site filter outside scope", doorlog.EventFilter{Scope: s1, SiteIDs: []string{"s2"}}, -1, 0},
		{"device", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(3)}}, 20, 4},
		{"category and time", doorlog.EventFilter{Scope: all, Categories: []doorlog.Category{doorlog.CategoryAccess}, From: T0.Add(tieMS * time.Millisecond)}, 3, 0},
		{"key and text", doorlog.EventFilter{Scope: all, Keys: []string{keyGranted, keyTamper}, Text: "00025"}, -1, 0},
		{"after an event the filter leaves out", doorlog.EventFilter{Scope: all, DeviceIDs: []string{DeviceID(1)}}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := ""
			var want []doorlog.Event
			for _, e := range fx.arrival(tt.filter) {
				if tt.after < 0 || e.ID > arr[tt.after].ID {
					want = append(want, e)
				}
			}
			if tt.after >= 0 {
				after = arr[tt.after].ID
			}
			if tt.limit > 0 && len(want) > tt.limit {
				want = want[:tt.limit]
			}
			got := MustEventsAfter(t, s, tt.filter, after, tt.limit)
			if g, w := eventIDs(got), eventIDs(want); !slices.Equal(g, w) {
				t.Errorf("got %q, want %q", g, w)
			}
		})
	}

	// Walking by pages of 4 visits every event once, in order.
	var walked []string
	after := ""
	for range len(arr) + 1 {
		page := MustEventsAfter(t, s, f, after, 4)
		if len(page) == 0 {
			break
		}
		walked = append(walked, eventIDs(page)...)
		after = page[len(page)-1].ID
	}
	if w := eventIDs(arr); !slices.Equal(walked, w) {
		t.Errorf("walk by pages of 4: got %q, want %q", walked, w)
	}
}

func testEventsAfterInvalid(t *testing.T, open Opener) {
	s := open(t)
	MustCreateSite(t, s, "s1")
	MustCreateDevice(t, s, "s1", 1)
	f := doorlog.EventFilter{Scope: all}

	got := MustEventsAfter(t, s, f, "", 10)
	if len(got) != 0 {
		t.Errorf("EventsAfter on an empty store: got %d events, want 0", len(got))
	}
	res := MustAppend(t, s, event(1, 0, keyOpened, doorlog.PriorityLow, ""), event(1, 1, keyOpened, doorlog.PriorityLow, ""))
	last, err := doorlog.ParseEventID(res[1].ID)
	mustOK(t, "ParseEventID", err)

	tests := []struct {
		name  string
		after string
		limit int
	}{
		{"not an id", "nope", 0},
		{"lower case", strings.ToLower(doorlog.FormatEventID(31)), 0},
		{"an id never handed out", doorlog.FormatEventID(last + 1), 0},
		{"an id far in the future", doorlog.FormatEventID(last + 1_000_000), 0},
		{"negative limit", "", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.EventsAfter(ctx(t), f, tt.after, tt.limit)
			wantCode(t, "EventsAfter", err, doorlog.EINVALID)
		})
	}
	// The newest id is known, and nothing follows it yet.
	if got := MustEventsAfter(t, s, f, res[1].ID, 0); len(got) != 0 {
		t.Errorf("EventsAfter the newest: got %d events, want 0", len(got))
	}
}

func testEventsAfterLaterAppends(t *testing.T, open Opener) {
	fx := newFixture(t, open)
	s := fx.store
	f := doorlog.EventFilter{Scope: all}
	newest := fx.all[len(fx.all)-1].ID

	// Later appends come after, even when they happened earlier: arrival,
	// not time, orders EventsAfter.
	var later []string
	for i := range 3 {
		batch := []doorlog.Event{
			event(1, -1000*(i+1), keyGranted, doorlog.PriorityMedium, ""),
			event(0, 0, keyLogin, doorlog.PriorityLow, ""),
			event(3, tieMS, keyTamper, doorlog.PriorityCritical, ""),
		}
		for _, r := range MustAppend(t, s, batch...) {
			later = append(later, r.ID)
		}
	}
	got := MustEventsAfter(t, s, f, newest, 0)
	if g := eventIDs(got); !slices.Equal(g, later) {
		t.Errorf("EventsAfter the old newest: got %q, want the later appends %q", g, later)
	}
	s2 := MustEventsAfter(t, s, doorlog.EventFilter{Scope: doorlog.Scope{SiteIDs: []string{"s2"}}}, newest, 0)
	if g, w := eventIDs(s2), []string{later[2], later[5], later[8]}; !slices.Equal(g, w) {
		t.Errorf("EventsAfter the old newest in site s2: got %q, want %q", g, w)
	}
}

func testServerKey(t *testing.T, open Opener) {
	s := open(t)
	a, err := s.ServerKey(ctx(t), "native-cursor")
	mustOK(t, "ServerKey", err)
	if len(a) != 32 {
		t.Fatalf("ServerKey: got %d bytes, want 32", len(a))
	}
	if bytes.Equal(a, make([]byte, 32)) {
		t.Errorf("ServerKey: got all zero bytes, want a random key")
	}
	again, err := s.ServerKey(ctx(t), "native-cursor")
	mustOK(t, "ServerKey again", err)
	if !bytes.Equal(again, a) {
		t.Errorf("ServerKey again: got %x, want the first key %x", again, a)
	}
	other, err := s.ServerKey(ctx(t), "oloid-next-token")
	mustOK(t, "ServerKey of another name", err)
	if len(other) != 32 || bytes.Equal(other, a) {
		t.Errorf("ServerKey of another name: got %x, want 32 bytes unlike %x", other, a)
	}

	// Callers racing on first use all get the same key.
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = s.ServerKey(ctx(t), "raced") })
	}
	wg.Wait()
	for i := range n {
		mustOK(t, "ServerKey(raced)", errs[i])
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("ServerKey(raced) caller %d: got %x, want %x like caller 0", i, keys[i], keys[0])
		}
	}
}
