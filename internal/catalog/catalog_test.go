package catalog

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// newCatalog returns the embedded catalog or stops the test.
func newCatalog(tb testing.TB) *Catalog {
	tb.Helper()
	c, err := New()
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

// specKeys is SPEC §3's table: the 40 BAS-IP keys in its order, with their
// categories and the English names a BAS-IP client sees.
var specKeys = []struct {
	key      string
	category doorlog.Category
	name     string
}{
	{"access_denied_by_not_valid_identifier", doorlog.CategoryAccess, "Not valid identifier"},
	{"access_denied_by_not_valid_face_identifier", doorlog.CategoryAccess, "Not valid face identifier"},
	{"access_denied_by_not_valid_input_code", doorlog.CategoryAccess, "Wrong input code"},
	{"access_denied_by_remote_server_api_call", doorlog.CategoryAccess, "Access denied by remote server"},
	{"access_denied_by_unknown_card", doorlog.CategoryAccess, "Unknown identifier"},
	{"access_denied_by_unknown_qr", doorlog.CategoryAccess, "Unknown QR code"},
	{"access_denied_unknown_identifier", doorlog.CategoryAccess, "Access denied by unknown identifier"},
	{"access_granted_by_api_call", doorlog.CategoryAccess, "Access granted"},
	{"access_granted_by_call_host", doorlog.CategoryAccess, "Lock opened by response device"},
	{"access_granted_by_master_code", doorlog.CategoryAccess, "General access code entered"},
	{"access_granted_by_remote_server_api_call", doorlog.CategoryAccess, "Access granted by remote server"},
	{"access_granted_by_valid_identifier", doorlog.CategoryAccess, "Lock opened by identifier"},
	{"access_granted_by_valid_face_identifier", doorlog.CategoryAccess, "Lock opened by face identifier"},
	{"access_granted_by_shared_identifier", doorlog.CategoryAccess, "Access granted by shared identifier"},
	{"access_denied_by_not_valid_shared_identifier", doorlog.CategoryAccess, "Access denied by shared identifier"},
	{"multi_access_granted", doorlog.CategoryAccess, "Multi factor access granted"},
	{"multi_access_denied", doorlog.CategoryAccess, "Multi factor access denied"},
	{"identifiers_without_linkage_to_user_access_denied", doorlog.CategoryAccess, "Identifiers without linkage to user are not allowed"},
	{"door_was_opened", doorlog.CategoryAccess, "Door was opened"},
	{"door_was_closed", doorlog.CategoryAccess, "Door was closed"},
	{"door_sensor_was_opened", doorlog.CategoryAccess, "Door sensor opened"},
	{"door_sensor_was_closed", doorlog.CategoryAccess, "Door sensor closed"},
	{"emergency_lock_is_opened", doorlog.CategoryAccess, "The lock is open on alarm"},
	{"lock_was_opened_by_exit_btn", doorlog.CategoryAccess, "Lock opened by exit button"},
	{"lock_was_opened_by_free_access_button", doorlog.CategoryAccess, "Lock opened by free access button"},
	{"lift_call_success", doorlog.CategoryAccess, "Successful lift call"},
	{"lift_call_error", doorlog.CategoryAccess, "Failed to call the lift"},
	{"lift_module_access_error", doorlog.CategoryAccess, "Cannot access lift module"},
	{"incoming_call", doorlog.CategoryInfo, "Incoming call"},
	{"outgoing_call", doorlog.CategoryInfo, "Outgoing call"},
	{"outgoing_call_missed", doorlog.CategoryInfo, "Missed outgoing call"},
	{"outgoing_call_web", doorlog.CategoryInfo, "Outgoing call from web"},
	{"device_booted", doorlog.CategoryInfo, "Device booted"},
	{"sip_registration_lost", doorlog.CategoryInfo, "SIP registration lost"},
	{"successful_login_api_call", doorlog.CategorySystem, "Login to the web interface"},
	{"incorrect_login_api_call", doorlog.CategorySystem, "Failed login attempt to the web interface"},
	{"successful_login_gui_settings", doorlog.CategorySystem, "Entered to GUI settings"},
	{"incorrect_login_gui_settings", doorlog.CategorySystem, "Failed login attempt to the GUI settings"},
	{"door_was_not_closed_too_long", doorlog.CategoryEmergency, "Door is not closed too long"},
	{"tamper_event", doorlog.CategoryEmergency, "Tamper triggered"},
}

func TestNew(t *testing.T) {
	newCatalog(t)
}

func TestLocales(t *testing.T) {
	want := []string{"en", "es", "ru", "uk", "pl", "nl", "tr", "fr", "da"}
	got := Locales()
	if !slices.Equal(got, want) {
		t.Fatalf("Locales() = %q, want %q", got, want)
	}
	got[0] = "xx"
	if l := Locales(); l[0] != DefaultLocale {
		t.Errorf("Locales()[0] after modifying an earlier result: got %q, want %q", l[0], DefaultLocale)
	}
	for _, tc := range []struct {
		in   string
		want bool
	}{{"en", true}, {"da", true}, {"uk", true}, {"EN", false}, {"en-US", false}, {"de", false}, {"", false}} {
		if got := IsLocale(tc.in); got != tc.want {
			t.Errorf("IsLocale(%q): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSpecKeys(t *testing.T) {
	c := newCatalog(t)
	want := make([]string, 0, len(specKeys)+2)
	for _, k := range specKeys {
		want = append(want, k.key)
	}
	// doorlog's own: the camera light (seed 000), the collector's gaps and
	// the acknowledgement of an alarm.
	want = append(want, "cam_light", "collector_gap", "alarm_acknowledged")
	if got := c.Keys(); !slices.Equal(got, want) {
		t.Fatalf("Keys():\ngot  %q\nwant %q", got, want)
	}
	for i, k := range specKeys {
		t.Run(k.key, func(t *testing.T) {
			e := c.Entry(k.key)
			if !e.Known {
				t.Errorf("Known: got false, want true")
			}
			if e.Category != k.category {
				t.Errorf("Category: got %q, want %q", e.Category, k.category)
			}
			if e.Code != i+1 {
				t.Errorf("Code: got %d, want %d", e.Code, i+1)
			}
			if got := c.Name("en", k.key); got != k.name {
				t.Errorf("en name: got %q, want %q", got, k.name)
			}
			if e.Category == doorlog.CategoryEmergency && e.Priority != doorlog.PriorityCritical {
				t.Errorf("Priority of an emergency key: got %q, want %q", e.Priority, doorlog.PriorityCritical)
			}
		})
	}
	cam := c.Entry("cam_light")
	want0 := Entry{Key: "cam_light", Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow, Code: 0, ActivityType: "DEVICE_STATE", Fields: []string{"state"}, Known: true}
	if !entryEqual(cam, want0) {
		t.Errorf("Entry(cam_light): got %+v, want %+v", cam, want0)
	}
	if got := c.Name("en", "cam_light"); got != "Camera light" {
		t.Errorf("cam_light en name: got %q, want %q", got, "Camera light")
	}
	// Keys returns a fresh slice.
	c.Keys()[0] = "changed"
	if got := c.Keys()[0]; got != specKeys[0].key {
		t.Errorf("Keys()[0] after modifying an earlier result: got %q, want %q", got, specKeys[0].key)
	}
}

func entryEqual(a, b Entry) bool {
	return a.Key == b.Key && a.Category == b.Category && a.Priority == b.Priority && a.Code == b.Code &&
		a.ActivityType == b.ActivityType && slices.Equal(a.Fields, b.Fields) && a.Known == b.Known
}

func TestEntryUnknown(t *testing.T) {
	c := newCatalog(t)
	got := c.Entry("relay_overheated")
	want := Entry{Key: "relay_overheated", Category: doorlog.CategoryInfo, Priority: doorlog.PriorityLow, Code: UnknownCode, ActivityType: "OTHER"}
	if !entryEqual(got, want) {
		t.Errorf("Entry(unknown): got %+v, want %+v", got, want)
	}
	if got := c.Name("ru", "relay_overheated"); got != "relay_overheated" {
		t.Errorf("Name(unknown key): got %q, want %q", got, "relay_overheated")
	}
	if got := c.Text("ru", "relay_overheated", json.RawMessage(`{"a":1}`)); got != "relay_overheated" {
		t.Errorf("Text(unknown key): got %q, want %q", got, "relay_overheated")
	}
}

func TestEntryTable(t *testing.T) {
	c := newCatalog(t)
	for _, key := range c.Keys() {
		t.Run(key, func(t *testing.T) {
			e := c.Entry(key)
			if !slices.Contains(doorlog.Priorities, e.Priority) {
				t.Errorf("Priority: got %q, want one of %q", e.Priority, doorlog.Priorities)
			}
			if e.ActivityType == "" || e.ActivityType == UnknownActivityType {
				t.Errorf("ActivityType: got %q, want a specific type", e.ActivityType)
			}
		})
	}
}

// readLocaleFile reads an embedded locale file directly, so the completeness
// checks do not depend on New's own checks.
func readLocaleFile(tb testing.TB, loc string) localeFile {
	tb.Helper()
	data, err := files.ReadFile("locales/" + loc + ".json")
	if err != nil {
		tb.Fatalf("locale %s: %v", loc, err)
	}
	var lf localeFile
	if err := json.Unmarshal(data, &lf); err != nil {
		tb.Fatalf("locale %s: %v", loc, err)
	}
	return lf
}

func TestLocaleFilesComplete(t *testing.T) {
	c := newCatalog(t)
	en := readLocaleFile(t, "en")
	for _, loc := range Locales() {
		t.Run(loc, func(t *testing.T) {
			lf := readLocaleFile(t, loc)
			for _, key := range c.Keys() {
				if strings.TrimSpace(lf.Names[key]) == "" {
					t.Errorf("name of %s: got none, want one", key)
				}
				if strings.TrimSpace(lf.Texts[key]) == "" {
					t.Errorf("text of %s: got none, want one", key)
				}
				if got := c.Name(loc, key); got == key || got != lf.Names[key] {
					t.Errorf("Name(%s, %s): got %q, want %q", loc, key, got, lf.Names[key])
				}
			}
			for key := range lf.Names {
				if !c.Entry(key).Known {
					t.Errorf("name of %s: got a name, want no key the catalog lacks", key)
				}
			}
			for key := range lf.Texts {
				if !c.Entry(key).Known {
					t.Errorf("text of %s: got a text, want no key the catalog lacks", key)
				}
			}
			for term := range en.Values {
				if strings.TrimSpace(lf.Values[term]) == "" {
					t.Errorf("value term %s: got none, want the one en has", term)
				}
			}
		})
	}
}

func TestUnknownLocaleFallsBackToEnglish(t *testing.T) {
	c := newCatalog(t)
	model := json.RawMessage(`{"account_type":"admin"}`)
	for _, loc := range []string{"", "xx", "EN", "de", "en-GB"} {
		t.Run(loc, func(t *testing.T) {
			if got, want := c.Name(loc, "tamper_event"), c.Name("en", "tamper_event"); got != want {
				t.Errorf("Name: got %q, want %q", got, want)
			}
			if got, want := c.Text(loc, "successful_login_api_call", model), c.Text("en", "successful_login_api_call", model); got != want {
				t.Errorf("Text: got %q, want %q", got, want)
			}
		})
	}
}

// TestTemplatesUseOnlyModelFields parses every template of every locale file
// directly and checks each field it references against its key's fields.
func TestTemplatesUseOnlyModelFields(t *testing.T) {
	c := newCatalog(t)
	for _, loc := range Locales() {
		lf := readLocaleFile(t, loc)
		for _, key := range c.Keys() {
			t.Run(loc+"/"+key, func(t *testing.T) {
				tmpl, err := parseTemplate(lf.Texts[key])
				if err != nil {
					t.Fatalf("parse: got %v, want no error", err)
				}
				if err := checkFields(tmpl, c.Entry(key).Fields); err != nil {
					t.Errorf("fields: got %v, want no error", err)
				}
			})
		}
	}
}

func TestCheckFieldsRejectsForeignField(t *testing.T) {
	fields := []string{"number", "type", "owner", "apartment_address", "lock"}
	for _, tc := range []struct {
		src string
		bad string // the field the error must name; "" when the template is fine
	}{
		{"Lock {lock} opened by {type:value} {number}[ ({owner}[, {apartment_address}])]", ""},
		{"Lock {lock} opened by {card}", "card"},
		{"Lock {lock}[ by {user.name}]", "user.name"},
		{"Lock {lock} opened by {account_type:value}", "account_type"},
		{"Open {lock_opened_time:plural:one=# second|other=# seconds}", "lock_opened_time"},
		{"Lock {lock}[ ({owner}[, {flat}])]", "flat"},
		{"Lock {lock.number}", "lock.number"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			tmpl, err := parseTemplate(tc.src)
			if err != nil {
				t.Fatalf("parse: got %v, want no error", err)
			}
			err = checkFields(tmpl, fields)
			switch {
			case tc.bad == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), `"`+tc.bad+`"`)):
				t.Errorf("got %v, want an error naming %q", err, tc.bad)
			}
		})
	}
}

// testFS is the embedded files as a writable map, for feeding load broken
// variants.
func testFS(tb testing.TB) fstest.MapFS {
	tb.Helper()
	m := fstest.MapFS{}
	names := []string{"catalog.json"}
	for _, loc := range Locales() {
		names = append(names, "locales/"+loc+".json")
	}
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			tb.Fatalf("read %s: %v", n, err)
		}
		m[n] = &fstest.MapFile{Data: data}
	}
	return m
}

// editLocale rewrites one locale file of fsys through fn.
func editLocale(tb testing.TB, fsys fstest.MapFS, loc string, fn func(*localeFile)) {
	tb.Helper()
	var lf localeFile
	if err := json.Unmarshal(fsys["locales/"+loc+".json"].Data, &lf); err != nil {
		tb.Fatal(err)
	}
	fn(&lf)
	data, err := json.Marshal(lf)
	if err != nil {
		tb.Fatal(err)
	}
	fsys["locales/"+loc+".json"] = &fstest.MapFile{Data: data}
}

func TestLoadRejectsInconsistencies(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(testing.TB, fstest.MapFS)
		want string // a substring of the error
	}{
		{"foreign field in a text", func(tb testing.TB, fs fstest.MapFS) {
			editLocale(tb, fs, "ru", func(lf *localeFile) {
				lf.Texts["access_granted_by_valid_identifier"] = "Замок {lock} открыт: {card}"
			})
		}, `locales/ru.json: text of "access_granted_by_valid_identifier": field "card" is not in the key's model fields`},
		{"missing name", func(tb testing.TB, fs fstest.MapFS) {
			editLocale(tb, fs, "pl", func(lf *localeFile) { delete(lf.Names, "tamper_event") })
		}, `locales/pl.json: no name for "tamper_event"`},
		{"missing text", func(tb testing.TB, fs fstest.MapFS) {
			editLocale(tb, fs, "uk", func(lf *localeFile) { delete(lf.Texts, "cam_light") })
		}, `locales/uk.json: no text for "cam_light"`},
		{"key the catalog lacks", func(tb testing.TB, fs fstest.MapFS) {
			editLocale(tb, fs, "en", func(lf *localeFile) { lf.Names["door_exploded"] = "Door exploded" })
		}, `locales/en.json: name for "door_exploded", which is not in the catalog`},
		{"missing value term", func(tb testing.TB, fs fstest.MapFS) {
			editLocale(tb, fs, "ru", func(lf *localeFile) { delete(lf.Values, "type.card") })
		}, `locales/ru.json: value term "type.card" of en is missing`},
		{"syntax error", func(tb testing.TB, fs fstest.MapFS) {
			editLocale(tb, fs, "en", func(lf *localeFile) { lf.Texts["door_was_opened"] = "Door[ {lock} opened" })
		}, `unclosed '['`},
		{"missing locale file", func(tb testing.TB, fs fstest.MapFS) {
			delete(fs, "locales/da.json")
		}, `locales/da.json`},
		{"stray locale file", func(tb testing.TB, fs fstest.MapFS) {
			fs["locales/de.json"] = fs["locales/en.json"]
		}, `locales/de.json: not one of the locales`},
		{"duplicate code", func(tb testing.TB, fs fstest.MapFS) {
			f := fs["catalog.json"]
			f.Data = []byte(strings.Replace(string(f.Data), `"code": 2,`, `"code": 1,`, 1))
		}, `code 1 is also "access_denied_by_not_valid_identifier"'s`},
		{"unknown category", func(tb testing.TB, fs fstest.MapFS) {
			f := fs["catalog.json"]
			f.Data = []byte(strings.Replace(string(f.Data), `"category": "emergency"`, `"category": "panic"`, 1))
		}, `unknown category "panic"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := testFS(t)
			if _, err := load(fsys); err != nil {
				t.Fatalf("load of the unedited files: got %v, want no error", err)
			}
			tc.edit(t, fsys)
			_, err := load(fsys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{"Lock {lock", "unclosed '{'"},
		{"Lock {}", "missing field path"},
		{"Lock {a..b}", "empty segment"},
		{"Lock {lock:name}", "unknown modifier"},
		{"Lock {lock:plural:one=# s}", "no 'other' form"},
		{"Lock {lock:plural:several=# s|other=# s}", "unknown plural category"},
		{"Lock {lock:plural:other=# s|other=# t}", "given twice"},
		{"Lock {lock:plural:one # s|other=# s}", "want '='"},
		{"Lock {lock:plural:other=# {s}}", "in a plural form"},
		{"Lock [ {lock}", "unclosed '['"},
		{"Lock ] {lock}", "unexpected ']'"},
		{"Lock } {lock}", "unexpected '}'"},
		{"Lock [opened]", "references no field"},
		{`Lock \q`, "unknown escape"},
		{`Lock \`, "at the end"},
		{"Lock {lo ck}", "in field path"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			_, err := parseTemplate(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestTemplateSyntax(t *testing.T) {
	for _, tc := range []struct {
		src, model, want string
	}{
		{`\{lock\} \[{lock}\] a\|b \# \\`, `{"lock":1}`, `{lock} [1] a|b # \`},
		{"{a}[ {b}[ {c}]]", `{"a":"A","b":"B","c":"C"}`, "A B C"},
		{"{a}[ {b}[ {c}]]", `{"a":"A","c":"C"}`, "A"},
		{"{a}[ {b}[ {c}]]", `{"a":"A","b":"B"}`, "A B"},
		{"[{a} and {b}]", `{"a":"A"}`, ""},
		{"{x.y.z}", `{"x":{"y":{"z":"deep"}}}`, "deep"},
		{"{x.y.z}", `{"x":{"y":"flat"}}`, "?"},
		{"{n}", `{"n":0}`, "0"},
		{"{n}", `{"n":-3}`, "-3"},
		{"{n}", `{"n":12345}`, "12345"},
		{"{n}", `{"n":12345.0}`, "12345"},
		{"{n}", `{"n":1.2345e+04}`, "12345"},
		{"{n}", `{"n":1e21}`, "1000000000000000000000"},
		{"{n}", `{"n":0.25}`, "0.25"},
		{"{n}", `{"n":12345678901234567890}`, "12345678901234567890"},
		{"{b}", `{"b":true}`, "true"},
		{"{b}", `{"b":false}`, "false"},
		{"{s}", `{"s":""}`, "?"},
		{"{s}", `{"s":null}`, "?"},
		{"{s}", `{"s":[]}`, "?"},
		{"{s}", `{"s":["a","","b",null,3]}`, "a, b, 3"},
		{"{s}", `{"s":[{"identifier_number":"001","user_name":"Ann"},{"user_name":"Bob"}]}`, "001, Bob"},
		{"{s}", `{"s":{"name":"Main","id":4}}`, "Main"},
		{"{s}", `{"s":{"id":4}}`, "?"},
		{"x[ {s}]", `{"s":[{"invalid_identifier":{"identifier_number":"1"}}]}`, "x"},
		{"{t:value}", `{"t":"card"}`, "card"},
		{"{t:plural:one=# s|other=# ss}", `{"t":"x"}`, "x ss"},
		{"{t:plural:one=# s|other=# ss}", `{"t":"1"}`, "1 s"},
		{"{t:plural:one=# s|other=# ss}", `{"t":[1]}`, "1"},
		{"{t:plural:one=#|other=#/#}", `{"t":7}`, "7/7"},
	} {
		t.Run(tc.src+" "+tc.model, func(t *testing.T) {
			tmpl, err := parseTemplate(tc.src)
			if err != nil {
				t.Fatalf("parse: got %v, want no error", err)
			}
			if got := tmpl.render(language.English, []byte(tc.model)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	c := newCatalog(t)
	const (
		grant = "access_granted_by_valid_identifier"
		full  = `{"number":12345,"type":"card","owner":"John Smith","apartment_address":"Flat 12","lock":1}`
	)
	for _, tc := range []struct {
		name, loc, key, model, want string
	}{
		{"seed 001 example", "en", "successful_login_api_call", `{"account_type":"admin"}`, "Successful (admin) login to the web interface"},
		{"login without account type", "en", "successful_login_api_call", `{}`, "Successful login to the web interface"},
		{"all optional fields", "en", grant, full, "Lock 1 opened by card 12345 (John Smith, Flat 12)"},
		{"no apartment", "en", grant, `{"number":12345,"type":"card","owner":"John Smith","lock":1}`, "Lock 1 opened by card 12345 (John Smith)"},
		{"apartment without owner", "en", grant, `{"number":12345,"type":"card","apartment_address":"Flat 12","lock":1}`, "Lock 1 opened by card 12345"},
		{"null and empty optional fields", "en", grant, `{"number":12345,"type":"ukey","owner":null,"apartment_address":"","lock":2}`, "Lock 2 opened by UKEY 12345"},
		{"missing required field", "en", grant, `{"number":12345,"type":"card"}`, "Lock ? opened by card 12345"},
		{"empty model", "en", grant, ``, "Lock ? opened by ? ?"},
		{"null model", "en", grant, `null`, "Lock ? opened by ? ?"},
		{"malformed model", "en", grant, `{"lock":1,`, "Lock ? opened by ? ?"},
		{"array model", "en", grant, `[1,2]`, "Lock ? opened by ? ?"},
		{"unknown value term", "en", grant, `{"number":7,"type":"nfc_tag","lock":1}`, "Lock 1 opened by nfc_tag 7"},
		{"big card number", "en", grant, `{"number":98765432109876543210,"type":"card","lock":1}`, "Lock 1 opened by card 98765432109876543210"},
		{"float-looking number", "en", grant, `{"number":12345.0,"type":"card","lock":1.0}`, "Lock 1 opened by card 12345"},
		{"seed 001 web interface", "en", "access_granted_by_api_call", `{"requestor":"web_ui","lock":1}`, "Lock 1 opened from the web interface"},
		{"opened via the API", "en", "access_granted_by_api_call", `{"requestor":"api","lock":2}`, "Lock 2 opened via the API"},
		{"failed login, role after", "en", "incorrect_login_api_call", `{"account_type":"admin"}`, "Failed login attempt to the web interface (admin)"},
		{"lift named with the word", "en", "lift_call_success", `{"info":{"lift":{"short_name":"Lift A"}}}`, "Lift call (Lift A)"},
		{"ru face ID, one identifier", "ru", "access_denied_by_not_valid_identifier", `{"number":77,"type":"face_id","lock":1}`, "Доступ запрещён: недействительный идентификатор — лицо 77, замок 1"},
		{"ru boot", "ru", "device_booted", `{}`, "Устройство запущено"},
		{"answered call", "en", "incoming_call", `{"number":"101","answered":true}`, "Incoming call from 101, answered"},
		{"unanswered call", "en", "outgoing_call", `{"number":"101","answered":false}`, "Outgoing call to 101, not answered"},
		{"multi-factor", "en", "multi_access_granted", `{"lock_number":1,"used_identifiers_list":[{"identifier_number":"0012345","auth_type":"card","user_name":"John"},{"identifier_number":"17","auth_type":"face_id","user_name":"John"}]}`, "Lock 1 opened by multi-factor authentication (identifiers: 0012345, 17)"},
		{"multi-factor without list", "en", "multi_access_denied", `{"used_identifiers_list":[],"reject_reasons":[]}`, "Multi-factor access denied"},
		{"shared identifier", "en", "access_granted_by_shared_identifier", `{"number":"AB123C","type":"license_plate","users_list":[{"user_name":"John"},{"user_name":"Jane"}],"lock_number":1}`, "Lock 1 opened by shared identifier AB123C (licence plate) of John, Jane"},
		{"lift", "en", "lift_call_success", `{"info":{"user":{"name":"John"},"destination":{"id":5,"short_name":"F5"},"lift":{"id":1,"short_name":"A"}}}`, "Lift call (A) by John, destination F5"},
		{"lift error", "en", "lift_call_error", `{"info":{"user":{"name":"John"}},"error":{"message":"timeout"}}`, "Failed to call the lift for John: timeout"},
		{"firmware", "en", "device_booted", `{"status":"backuping"}`, "Device booted (firmware update: backing up)"},
		{"boot", "en", "device_booted", `{}`, "Device booted"},
		{"cam light", "en", "cam_light", `{"action":"cam_light","state":"on"}`, "Camera light turned on"},
		{"master code is never shown", "en", "access_granted_by_master_code", `{"code":"9999","lock":1}`, "Lock 1 opened with the general access code"},
		{"ru login", "ru", "successful_login_api_call", `{"account_type":"admin"}`, "Успешный вход в веб-интерфейс (администратор)"},
		{"ru grant", "ru", grant, full, "Замок 1 открыт: карта 12345 (John Smith, Flat 12)"},
		{"uk grant", "uk", grant, full, "Замок 1 відімкнено: картка 12345 (John Smith, Flat 12)"},
		{"pl grant", "pl", grant, full, "Zamek 1 otwarty: karta 12345 (John Smith, Flat 12)"},
		{"ru cam light", "ru", "cam_light", `{"state":"off"}`, "Подсветка камеры выключена"},
		{"collector gap", "en", "collector_gap", `{"estimated_missing":1,"after":1714557600000,"before":1714557660000}`, "About 1 event lost from the panel's log before doorlog could read them"},
		{"uk collector gap", "uk", "collector_gap", `{"estimated_missing":22}`, "З журналу панелі втрачено близько 22 подій, перш ніж doorlog їх прочитав"},
		{"alarm acknowledged", "en", "alarm_acknowledged", `{"username":"ann","alarm_key":"tamper_event","alarm_event_id":"0000000000001"}`, "Alarm acknowledged by ann: Tamper triggered"},
		{"ru alarm acknowledged", "ru", "alarm_acknowledged", `{"username":"ann","alarm_key":"door_was_not_closed_too_long"}`, "Пользователь ann подтвердил тревогу: Дверь долго не закрыта"},
		{"alarm acknowledged of a key without a term", "en", "alarm_acknowledged", `{"username":"token 0123abcd","alarm_key":"something_else"}`, "Alarm acknowledged by token 0123abcd: something_else"},
		{"alarm acknowledged without its key", "fr", "alarm_acknowledged", `{"username":"ann"}`, "Alarme acquittée par ann"},
		{"pl call", "pl", "incoming_call", `{"number":"101","answered":false}`, "Połączenie przychodzące od 101, nieodebrane"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Text(tc.loc, tc.key, json.RawMessage(tc.model)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTextPlural(t *testing.T) {
	c := newCatalog(t)
	want := map[string]map[string]string{
		"en": {"1": "Door 1 has been open too long (1 second)", "2": "Door 1 has been open too long (2 seconds)", "21": "Door 1 has been open too long (21 seconds)", "1.5": "Door 1 has been open too long (1.5 seconds)"},
		"ru": {
			"1":   "Дверь 1 слишком долго не закрыта (открыта 1 секунду)",
			"2":   "Дверь 1 слишком долго не закрыта (открыта 2 секунды)",
			"5":   "Дверь 1 слишком долго не закрыта (открыта 5 секунд)",
			"11":  "Дверь 1 слишком долго не закрыта (открыта 11 секунд)",
			"21":  "Дверь 1 слишком долго не закрыта (открыта 21 секунду)",
			"22":  "Дверь 1 слишком долго не закрыта (открыта 22 секунды)",
			"25":  "Дверь 1 слишком долго не закрыта (открыта 25 секунд)",
			"1.5": "Дверь 1 слишком долго не закрыта (открыта 1.5 секунды)",
		},
		"uk": {
			"1":   "Двері 1 занадто довго не зачинені (відчинені 1 секунду)",
			"2":   "Двері 1 занадто довго не зачинені (відчинені 2 секунди)",
			"5":   "Двері 1 занадто довго не зачинені (відчинені 5 секунд)",
			"11":  "Двері 1 занадто довго не зачинені (відчинені 11 секунд)",
			"21":  "Двері 1 занадто довго не зачинені (відчинені 21 секунду)",
			"22":  "Двері 1 занадто довго не зачинені (відчинені 22 секунди)",
			"25":  "Двері 1 занадто довго не зачинені (відчинені 25 секунд)",
			"1.5": "Двері 1 занадто довго не зачинені (відчинені 1.5 секунди)",
		},
		"pl": {
			"1":   "Drzwi 1 są otwarte zbyt długo (1 sekunda)",
			"2":   "Drzwi 1 są otwarte zbyt długo (2 sekundy)",
			"5":   "Drzwi 1 są otwarte zbyt długo (5 sekund)",
			"11":  "Drzwi 1 są otwarte zbyt długo (11 sekund)",
			"21":  "Drzwi 1 są otwarte zbyt długo (21 sekund)",
			"22":  "Drzwi 1 są otwarte zbyt długo (22 sekundy)",
			"25":  "Drzwi 1 są otwarte zbyt długo (25 sekund)",
			"1.5": "Drzwi 1 są otwarte zbyt długo (1.5 sekundy)",
		},
	}
	for _, loc := range []string{"en", "ru", "uk", "pl"} {
		for _, n := range []string{"1", "2", "5", "11", "21", "22", "25", "1.5"} {
			w, ok := want[loc][n]
			if !ok {
				continue
			}
			t.Run(loc+"/"+n, func(t *testing.T) {
				model := json.RawMessage(`{"lock":1,"lock_opened_time":` + n + `}`)
				if got := c.Text(loc, "door_was_not_closed_too_long", model); got != w {
					t.Errorf("got %q, want %q", got, w)
				}
				// A number sent as a string pluralizes the same way.
				model = json.RawMessage(`{"lock":1,"lock_opened_time":"` + n + `"}`)
				if got := c.Text(loc, "door_was_not_closed_too_long", model); got != w {
					t.Errorf("as a string: got %q, want %q", got, w)
				}
			})
		}
	}
}

// languageForms returns the plural forms a language distinguishes, found by
// asking the CLDR rules about a range of integers and decimals.
func languageForms(tag language.Tag) map[plural.Form]bool {
	forms := map[plural.Form]bool{}
	for i := range 1200 {
		forms[plural.Cardinal.MatchPlural(tag, i, 0, 0, 0, 0)] = true
		forms[plural.Cardinal.MatchPlural(tag, i*1000, 0, 0, 0, 0)] = true
	}
	for i := range 30 {
		for f := range 100 {
			forms[plural.Cardinal.MatchPlural(tag, i, 1, 1, f%10, f%10)] = true
			forms[plural.Cardinal.MatchPlural(tag, i, 2, 2, f, f)] = true
		}
	}
	return forms
}

// TestPluralForms checks every plural in every locale: it must not give a
// form its language never uses, and in the locales whose rules we know to
// need them (ru, uk, pl: one, few, many, other) it must give them all.
func TestPluralForms(t *testing.T) {
	c := newCatalog(t)
	formName := map[plural.Form]string{}
	for n, f := range formNames {
		formName[f] = n
	}
	for _, loc := range Locales() {
		l := c.locales[loc]
		used := languageForms(l.tag)
		complete := loc == "ru" || loc == "uk" || loc == "pl"
		for _, key := range c.Keys() {
			walkFields(l.texts[key].nodes, func(f *field) {
				if f.mode != modePlural {
					return
				}
				for form := range plural.Form(numForms) {
					has := f.forms[form] != nil
					switch {
					case has && !used[form]:
						t.Errorf("%s/%s {%s}: got form %q, want none (the language does not use it)", loc, key, f.path, formName[form])
					case !has && used[form] && complete:
						t.Errorf("%s/%s {%s}: got no form %q, want one", loc, key, f.path, formName[form])
					}
				}
			})
		}
	}
}

func TestTextNeverEmpty(t *testing.T) {
	c := newCatalog(t)
	for _, loc := range Locales() {
		for _, key := range c.Keys() {
			if got := c.Text(loc, key, nil); strings.TrimSpace(got) == "" {
				t.Errorf("Text(%s, %s, nil): got %q, want some text", loc, key, got)
			}
		}
	}
}

func FuzzText(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"lock":`, `{"lock":1}`,
		`{"number":12345,"type":"card","owner":"John","apartment_address":"12","lock":1}`,
		`{"lock_opened_time":1e400,"lock":-0}`,
		`{"lock_opened_time":"21","info":{"user":[{"name":"x"}]}}`,
		`{"used_identifiers_list":[[[{"name":{"name":1}}]]],"lock_number":null}`,
		`{"state":{"on":true},"answered":"true","account_type":["admin"]}`,
	} {
		f.Add([]byte(s))
	}
	c := newCatalog(f)
	keys := c.Keys()
	f.Fuzz(func(t *testing.T, model []byte) {
		for _, loc := range Locales() {
			for _, key := range keys {
				_ = c.Text(loc, key, model)
			}
		}
	})
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"Lock {lock} opened by {type:value} {number}[ ({owner}[, {apartment_address}])]",
		"{t:plural:one=# s|few=# f|other=# o}", `\{[{a}\]]`, "[[{a}]{b}]",
	} {
		f.Add(s, []byte(`{"lock":1,"t":21,"a":"x"}`))
	}
	f.Fuzz(func(t *testing.T, src string, model []byte) {
		tmpl, err := parseTemplate(src)
		if err != nil {
			return
		}
		for _, tag := range []language.Tag{language.English, language.Russian, language.Polish} {
			_ = tmpl.render(tag, model)
		}
	})
}

func BenchmarkText(b *testing.B) {
	c := newCatalog(b)
	model := json.RawMessage(`{"number":12345,"type":"card","owner":"John Smith","apartment_address":"Flat 12","lock":1}`)
	for _, loc := range []string{"en", "ru"} {
		b.Run(loc, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.Text(loc, "access_granted_by_valid_identifier", model)
			}
		})
	}
}

// BenchmarkAppendText is BenchmarkText writing into a reused buffer, the
// way the list and the export render.
func BenchmarkAppendText(b *testing.B) {
	c := newCatalog(b)
	model := json.RawMessage(`{"number":12345,"type":"card","owner":"John Smith","apartment_address":"Flat 12","lock":1}`)
	for _, loc := range []string{"en", "ru"} {
		b.Run(loc, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = c.AppendText(buf[:0], loc, "access_granted_by_valid_identifier", model)
			}
		})
	}
}

// TestAppendText checks that AppendText appends exactly what Text returns,
// for every key and locale, an unknown key and an unknown locale included.
func TestAppendText(t *testing.T) {
	c := newCatalog(t)
	models := []string{``, `{}`, `null`, `{"lock":`, `{"number":12345,"type":"card","owner":"John Smith","apartment_address":"Flat 12","lock":1}`,
		`{"lock_opened_time":21,"used_identifiers_list":[{"identifier_number":"1"}],"info":{"user":{"name":"Ann"}}}`}
	for _, loc := range append(Locales(), "xx") {
		for _, key := range append(c.Keys(), "no_such_key") {
			for _, m := range models {
				want := "prefix " + c.Text(loc, key, json.RawMessage(m))
				if got := string(c.AppendText([]byte("prefix "), loc, key, json.RawMessage(m))); got != want {
					t.Errorf("AppendText(%s, %s, %s): got %q, want %q", loc, key, m, got, want)
				}
			}
		}
	}
}

// toAny converts a decoded value of m to what encoding/json with UseNumber
// gives.
func toAny(m *model, v *value) any {
	switch v.kind {
	case kindString:
		return v.text
	case kindNumber:
		return json.Number(v.text)
	case kindBool:
		return v.text == "true"
	case kindArray:
		items := m.children(v)
		a := make([]any, 0, len(items))
		for i := range items {
			a = append(a, toAny(m, &items[i]))
		}
		return a
	case kindObject:
		members := m.children(v)
		o := make(map[string]any, len(members))
		for i := range members {
			o[members[i].name] = toAny(m, &members[i])
		}
		return o
	}
	return nil
}

// FuzzDecodeModel checks the model decoder against encoding/json: for any
// input that is a JSON object both must agree, and for anything else the
// decoder must give an empty object. The same model is reused from input to
// input, as the catalog reuses it, so that nothing of one decode leaks into
// the next.
func FuzzDecodeModel(f *testing.F) {
	for _, s := range []string{
		`{}`, ` {"a" : [1, -2.5e3, "x\"y", true, false, null, {"b":{}}]} `, `{"a":1,"a":2}`,
		`{"s":"\u00e9\ud83d\ude00\n\/"}`, `[{"a":1}]`, `{"a":}`, `{"a":1} {}`, `"x"`,
		`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":"\x"}`, `{"a":"\u12g4"}`, "{\"a\":\"\x01\"}",
		`{"a":[1,]}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":tru}`, `{"a":nul}`, `{"a":[}`, `{"a":{"b":[{"c":[]}]}}`,
		strings.Repeat(`{"a":`, maxDepth) + `1` + strings.Repeat(`}`, maxDepth),
		strings.Repeat(`{"a":`, maxDepth+1) + `1` + strings.Repeat(`}`, maxDepth+1),
		`{"a":` + strings.Repeat(`[`, maxDepth-1) + strings.Repeat(`]`, maxDepth-1) + `}`,
		`{"a":` + strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth) + `}`,
	} {
		f.Add([]byte(s))
	}
	var m model
	f.Fuzz(func(t *testing.T, src []byte) {
		m.decode(src)
		got := &m.root
		empty := got.kind == kindObject && got.n == 0
		if !json.Valid(src) {
			if !empty {
				t.Fatalf("decode(%q) of invalid JSON: got %+v, want an empty object", src, got)
			}
			return
		}
		if !utf8.Valid(src) {
			return // encoding/json replaces invalid UTF-8 with U+FFFD; we keep the bytes
		}
		var want any
		dec := json.NewDecoder(strings.NewReader(string(src)))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("decode of valid JSON %q: %v", src, err)
		}
		w, ok := want.(map[string]any)
		if !ok {
			if !empty {
				t.Fatalf("decode(%q) of a non-object: got %+v, want an empty object", src, got)
			}
			return
		}
		if g := toAny(&m, got); !reflect.DeepEqual(g, w) {
			t.Fatalf("decode(%q):\ngot  %#v\nwant %#v", src, g, w)
		}
	})
}

// TestConcurrentUse renders from many goroutines at once; run with -race it
// proves a Catalog needs no locking.
func TestConcurrentUse(t *testing.T) {
	c := newCatalog(t)
	model := json.RawMessage(`{"number":12345,"type":"card","owner":"John Smith","lock":1,"lock_opened_time":22}`)
	var wg sync.WaitGroup
	for _, loc := range Locales() {
		wg.Go(func() {
			for _, key := range c.Keys() {
				_ = c.Name(loc, key)
				_ = c.Text(loc, key, model)
			}
		})
	}
	wg.Wait()
}

// FuzzValidJSON checks ValidJSON against json.Valid, which it replaces on
// the APIs' hot paths.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, `[]`, `{"a":1}`, ` {"a" : [1, -2.5e3, "x\"y", true, false, null, {"b":{}}]} `,
		`{"s":"\u00e9\ud83d\ude00\n\/"}`, `{"a":}`, `{"a":1} {}`, `"x"`, `01`, `1.`, `-`, `1e`, `1e+`, `-0.0e-0`,
		`"\x"`, `"\u12g4"`, "\"\x01\"", "\"\xff\"", `[1,]`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `tru`, `nul`, `[}`, `{]`,
		strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth),
		strings.Repeat(`[`, maxDepth+1) + strings.Repeat(`]`, maxDepth+1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := ValidJSON(b), json.Valid(b); got != want {
			t.Fatalf("ValidJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}
