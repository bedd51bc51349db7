package aipix

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWindow checks the pages of meta.links against Laravel's UrlWindow
// with onEachSide 3, worked out by hand from its source: every page below
// 14 pages; otherwise the first ten, the last ten, or the current ±3, with
// the first two and last two pages and "..." between runs.
func TestWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		current, last int64
		want          string
	}{
		{1, 1, "1"},
		{5, 1, "1"},
		{1, 3, "1 2 3"},
		{1, 13, "1 2 3 4 5 6 7 8 9 10 11 12 13"},
		{13, 13, "1 2 3 4 5 6 7 8 9 10 11 12 13"},
		{1, 14, "1 2 3 4 5 6 7 8 9 10 ... 13 14"},
		{7, 14, "1 2 3 4 5 6 7 8 9 10 ... 13 14"},
		{8, 14, "1 2 ... 5 6 7 8 9 10 11 12 13 14"},
		{8, 15, "1 2 ... 5 6 7 8 9 10 11 ... 14 15"},
		{9, 15, "1 2 ... 6 7 8 9 10 11 12 13 14 15"},
		{1, 60, "1 2 3 4 5 6 7 8 9 10 ... 59 60"},
		{7, 60, "1 2 3 4 5 6 7 8 9 10 ... 59 60"},
		{8, 60, "1 2 ... 5 6 7 8 9 10 11 ... 59 60"},
		{10, 60, "1 2 ... 7 8 9 10 11 12 13 ... 59 60"},
		{53, 60, "1 2 ... 50 51 52 53 54 55 56 ... 59 60"},
		{54, 60, "1 2 ... 51 52 53 54 55 56 57 58 59 60"},
		{60, 60, "1 2 ... 51 52 53 54 55 56 57 58 59 60"},
		{1000, 60, "1 2 ... 51 52 53 54 55 56 57 58 59 60"},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatInt(tt.current, 10)+"/"+strconv.FormatInt(tt.last, 10), func(t *testing.T) {
			var parts []string
			for _, p := range window(tt.current, tt.last) {
				if p == 0 {
					parts = append(parts, "...")
				} else {
					parts = append(parts, strconv.FormatInt(p, 10))
				}
			}
			if got := strings.Join(parts, " "); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestInteger checks how a parameter is read as an integer.
func TestInteger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		in             input
		n              int64
		present, isInt bool
	}{
		{"query digits", input{text: "10"}, 10, true, true},
		{"query blanks", input{text: " 7 "}, 7, true, true},
		{"query plus", input{text: "+3"}, 3, true, true},
		{"query minus", input{text: "-1"}, -1, true, true},
		{"query zero", input{text: "0"}, 0, true, true},
		{"query empty", input{text: ""}, 0, false, false},
		{"query blank", input{text: "  "}, 0, false, false},
		{"query fraction", input{text: "1.5"}, 0, true, false},
		{"query float", input{text: "10.0"}, 0, true, false},
		{"query word", input{text: "ten"}, 0, true, false},
		{"query hex", input{text: "0x10"}, 0, true, false},
		{"query underscore", input{text: "1_0"}, 0, true, false},
		{"query over int64", input{text: "9223372036854775808"}, 0, true, false},
		{"query max int64", input{text: "9223372036854775807"}, 9223372036854775807, true, true},
		{"json number", jsonInput("10"), 10, true, true},
		{"json negative", jsonInput("-4"), -4, true, true},
		{"json integral float", jsonInput("10.0"), 10, true, true},
		{"json exponent", jsonInput("1e1"), 10, true, true},
		{"json fraction", jsonInput("2.5"), 0, true, false},
		{"json huge exponent", jsonInput("1e300"), 0, true, false},
		{"json over int64", jsonInput("99999999999999999999"), 0, true, false},
		{"json string", jsonInput(`"12"`), 12, true, true},
		{"json escaped string", jsonInput(`"\u0031\u0032"`), 12, true, true},
		{"json empty string", jsonInput(`""`), 0, false, false},
		{"json null", jsonInput("null"), 0, false, false},
		{"json true", jsonInput("true"), 0, true, false},
		{"json false", jsonInput("false"), 0, true, false},
		{"json array", jsonInput("[1]"), 0, true, false},
		{"json object", jsonInput(`{"n":1}`), 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, present, isInt := tt.in.integer()
			if n != tt.n || present != tt.present || isInt != tt.isInt {
				t.Errorf("got %d, present %t, integer %t, want %d, %t, %t", n, present, isInt, tt.n, tt.present, tt.isInt)
			}
		})
	}
}

func jsonInput(raw string) input {
	return input{raw: json.RawMessage(raw), isJSON: true}
}

// TestValidate checks the defaults, the zeros and the messages.
func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		params  map[string]input
		want    pageParams
		message string // "" for no error
	}{
		{"none", nil, pageParams{perPage: 25, page: 1}, ""},
		{"zeros", map[string]input{"per_page": {text: "0"}, "page": {text: "0"}}, pageParams{perPage: 25, page: 1}, ""},
		{"default per_page is not appended", map[string]input{"per_page": {text: "25"}}, pageParams{perPage: 25, page: 1}, ""},
		{"other per_page is appended", map[string]input{"per_page": {text: "100"}, "page": {text: "4"}}, pageParams{perPage: 100, page: 4, appendPerPage: true}, ""},
		{"one", map[string]input{"per_page": {text: "1"}}, pageParams{perPage: 1, page: 1, appendPerPage: true}, ""},
		{"per_page 101", map[string]input{"per_page": {text: "101"}}, pageParams{}, msgPerPageBetween},
		{"per_page -1", map[string]input{"per_page": {text: "-1"}}, pageParams{}, msgPerPageBetween},
		{"per_page word", map[string]input{"per_page": {text: "x"}}, pageParams{}, msgPerPageInteger},
		{"page -1", map[string]input{"page": {text: "-1"}}, pageParams{}, msgPageMin},
		{"page word", map[string]input{"page": {text: "x"}}, pageParams{}, msgPageInteger},
		{"both", map[string]input{"per_page": {text: "0.5"}, "page": {text: "-2"}}, pageParams{}, msgPerPageInteger + " (and 1 more error)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := validate(tt.params)
			if tt.message == "" {
				if err != nil || got != tt.want {
					t.Errorf("got %+v, %v, want %+v, no error", got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.message {
				t.Errorf("error: got %v, want %q", err, tt.message)
			}
		})
	}
}

// TestSummary checks Laravel's summary of several validation messages.
func TestSummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		e    validationError
		want string
	}{
		{validationError{}, "The given data was invalid."},
		{validationError{page: []string{"a."}}, "a."},
		{validationError{perPage: []string{"a."}, page: []string{"b."}}, "a. (and 1 more error)"},
		{validationError{perPage: []string{"a.", "b."}, page: []string{"c."}}, "a. (and 2 more errors)"},
	}
	for _, tt := range tests {
		if got := tt.e.summary(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.e, got, tt.want)
		}
	}
}

// TestActionData checks the data object is spliced from the stored bytes.
func TestActionData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		model string
		want  string // "" for an error
	}{
		{"empty object", `{}`, `{"action":"k"}`},
		{"no model", ``, `{"action":"k"}`},
		{"blank model", ` `, `{"action":"k"}`},
		{"members in stored order", `{"z":1,"a":2,"m":3}`, `{"action":"k","z":1,"a":2,"m":3}`},
		{"action first dropped", `{"action":"other","state":"on"}`, `{"action":"k","state":"on"}`},
		{"action last dropped", `{"state":"on","action":{"x":1}}`, `{"action":"k","state":"on"}`},
		{"escaped action dropped", `{"\u0061ction":"x","state":"on"}`, `{"action":"k","state":"on"}`},
		{"Action is another member", `{"Action":"x"}`, `{"action":"k","Action":"x"}`},
		{"big numbers exact", `{"n":123456789012345678901234567890,"f":1.10,"e":1E+400}`, `{"action":"k","n":123456789012345678901234567890,"f":1.10,"e":1E+400}`},
		{"nested values as stored", `{"info":{"user":{"link_id":null},"list":[1, 2]}}`, `{"action":"k","info":{"user":{"link_id":null},"list":[1, 2]}}`},
		{"strings as stored", `{"note":"<b>\u00e9\/</b>","url":"https://x/y"}`, `{"action":"k","note":"<b>\u00e9\/</b>","url":"https://x/y"}`},
		{"member name re-encoded", `{"a\u0022b":1,"<tag>":2}`, `{"action":"k","a\"b":1,"<tag>":2}`},
		{"duplicate members kept", `{"s":1,"s":2}`, `{"action":"k","s":1,"s":2}`},
		{"an array", `[1]`, ""},
		{"a string", `"x"`, ""},
		{"truncated", `{"a":1`, ""},
		{"trailing data", `{"a":1}{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := actionData("k", []byte(tt.model))
			if tt.want == "" {
				if err == nil {
					t.Errorf("got %s, want an error", got)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s, %v, want %s", got, err, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("got invalid JSON %s", got)
			}
		})
	}
}

// TestFormatDateTime checks date_time keeps only the fractional digits it
// needs and always says +00:00.
func TestFormatDateTime(t *testing.T) {
	t.Parallel()
	kyiv := time.FixedZone("EEST", 3*3600)
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2022, 6, 23, 7, 53, 35, 290e6, time.UTC), "2022-06-23T07:53:35.29+00:00"},
		{time.Date(2022, 6, 23, 7, 52, 27, 0, time.UTC), "2022-06-23T07:52:27+00:00"},
		{time.Date(2022, 6, 23, 7, 52, 27, 123e6, time.UTC), "2022-06-23T07:52:27.123+00:00"},
		{time.Date(2022, 6, 23, 7, 52, 27, 7e6, time.UTC), "2022-06-23T07:52:27.007+00:00"},
		{time.Date(2022, 6, 23, 7, 52, 27, 100e6, time.UTC), "2022-06-23T07:52:27.1+00:00"},
		{time.Date(2022, 6, 23, 10, 52, 27, 0, kyiv), "2022-06-23T07:52:27+00:00"},
	}
	for _, tt := range tests {
		if got := formatDateTime(tt.t); got != tt.want {
			t.Errorf("%v: got %s, want %s", tt.t, got, tt.want)
		}
	}
}
