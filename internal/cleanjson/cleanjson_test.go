package cleanjson_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/doorlog/doorlog/internal/cleanjson"
)

// strict reports whether a strict parser reads b: jsontext (Go's JSON v2)
// follows RFC 8259 section 8.1 and RFC 7493 and refuses invalid UTF-8 and
// lone surrogates, as strict clients do. Duplicate names are another
// matter, which doorlog leaves to the sender.
func strict(b []byte) bool {
	return jsontext.Value(b).IsValid(jsontext.AllowDuplicateNames(true))
}

func TestRepair(t *testing.T) {
	tests := []struct {
		name, in, want string
		fault          int
	}{
		{"clean", `{"a":"é😀","b":[1,{"c":null}]}`, `{"a":"é😀","b":[1,{"c":null}]}`, -1},
		{"invalid byte in a value", "{\"a\":\"x\xffy\"}", "{\"a\":\"x\uFFFDy\"}", 7},
		{"invalid byte in a name", "{\"n\xfe\":1}", "{\"n\uFFFD\":1}", 3},
		{"cut sequence", "{\"a\":\"\xd0\"}", "{\"a\":\"\uFFFD\"}", 6},
		{"encoded surrogate, a byte each", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\uFFFD\uFFFD\uFFFD\"}", 6},
		{"overlong", "{\"a\":\"\xc1\xbf\"}", "{\"a\":\"\uFFFD\uFFFD\"}", 6},
		{"lone high escape", `{"a":"\ud800x"}`, `{"a":"\ufffdx"}`, 6},
		{"lone low escape", `{"a":"\uDC00"}`, `{"a":"\ufffd"}`, 6},
		{"high escape at the end", `{"a":"x\ud83d"}`, `{"a":"x\ufffd"}`, 7},
		{"pair", `{"a":"\ud83d\ude00"}`, `{"a":"\ud83d\ude00"}`, -1},
		{"high then pair", `{"a":"\ud800\ud83d\ude00"}`, `{"a":"\ufffd\ud83d\ude00"}`, 6},
		{"high then escaped non-surrogate", `{"a":"\ud800\u0041"}`, `{"a":"\ufffd\u0041"}`, 6},
		{"reversed pair", `{"a":"\ude00\ud83d"}`, `{"a":"\ufffd\ufffd"}`, 6},
		{"escaped backslash then u", `{"a":"\\ud800"}`, `{"a":"\\ud800"}`, -1},
		{"escaped quote then escape", `{"a":"\"\ud800"}`, `{"a":"\"\ufffd"}`, 8},
		{"both", "{\"\xff\":\"\\udfff\"}", "{\"\uFFFD\":\"\\ufffd\"}", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cleanjson.Repair([]byte(tt.in))
			if string(got) != tt.want {
				t.Errorf("Repair(%q): got %q, want %q", tt.in, got, tt.want)
			}
			if !strict(got) {
				t.Errorf("Repair(%q) = %q, which a strict parser refuses", tt.in, got)
			}
			if at, what := cleanjson.Fault([]byte(tt.in)); at != tt.fault || (at < 0) != (what == "") {
				t.Errorf("Fault(%q): got %d %q, want %d", tt.in, at, what, tt.fault)
			}
			if clean := cleanjson.IsClean([]byte(tt.in)); clean != (tt.fault < 0) {
				t.Errorf("IsClean(%q): got %v, want %v", tt.in, clean, tt.fault < 0)
			}
		})
	}
}

func TestDeeper(t *testing.T) {
	nest := func(open, close string, n int) string {
		return strings.Repeat(open, n) + strings.Repeat(close, n)
	}
	tests := []struct {
		in   string
		max  int
		want bool
	}{
		{`{}`, 1, false},
		{`{"a":{}}`, 1, true},
		{`{"a":"{[{["}`, 1, false},
		{`{"a":"\"{"}`, 1, false},
		{`{"a":"\\","b":[]}`, 1, true},
		{`[1,[2],{"a":3}]`, 2, false},
		{nest("[", "]", 32), 32, false},
		{nest("[", "]", 33), 32, true},
		{nest(`{"a":`, "}", 32), 32, false},
		{nest(`{"a":[`, "]}", 16), 32, false},
		{nest(`{"a":[`, "]}", 16) + "", 31, true},
		{nest(`{"a":`, "}", 8000), 32, true},
	}
	for _, tt := range tests {
		if got := cleanjson.Deeper([]byte(tt.in), tt.max); got != tt.want {
			t.Errorf("Deeper(%.40q, %d): got %v, want %v", tt.in, tt.max, got, tt.want)
		}
	}
}

// FuzzRepair checks the rules against a strict parser on any JSON that
// encoding/json accepts: IsClean and Fault agree with it, Repair's output
// always passes it, means to encoding/json what the input meant, is never
// shorter, and is left alone by a second Repair. Deeper agrees with the
// depth of the decoded value.
func FuzzRepair(f *testing.F) {
	for _, s := range []string{`{}`, "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `{"a":"\ud83d\ude00"}`, `["\\ud800",{"b":"\udc00\ud800"}]`,
		"\"\xed\xa0\x80\"", `[[[[]]]]`, `{"a":[{"b":"]]]"}]}`, `"\u00e9\ud800\udc00\udbff\udfff"`, "\"\xf4\x90\x80\x80\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var before any
		if json.Unmarshal(b, &before) != nil {
			return
		}
		at, _ := cleanjson.Fault(b)
		if clean := cleanjson.IsClean(b); clean != strict(b) || clean != (at < 0) {
			t.Fatalf("%q: IsClean %v, Fault at %d, strict parser %v", b, clean, at, strict(b))
		}
		out := cleanjson.Repair(b)
		if !strict(out) {
			t.Fatalf("Repair(%q) = %q, which a strict parser refuses", b, out)
		}
		var after any
		if err := json.Unmarshal(out, &after); err != nil || !reflect.DeepEqual(before, after) {
			t.Fatalf("Repair(%q) = %q reads as %#v (%v), want %#v", b, out, after, err, before)
		}
		if len(out) < len(b) || !bytes.Equal(cleanjson.Repair(out), out) || (at < 0) != bytes.Equal(out, b) {
			t.Fatalf("Repair(%q) = %q: shorter, not stable, or changed clean input", b, out)
		}
		d := depth(before)
		for _, limit := range []int{max(d-1, 0), d} {
			if got := cleanjson.Deeper(b, limit); got != (d > limit) {
				t.Fatalf("Deeper(%q, %d): got %v, want %v (depth %d)", b, limit, got, d > limit, d)
			}
		}
	})
}

// depth is how deep objects and arrays nest in a decoded value.
func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

func TestOverflow(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`{"a":1}`, -1},
		{`{"a":1e999999}`, 5},
		{`{"a":-2.5E400}`, 5},
		{`{"a":1.7976931348623157e308}`, -1},
		{`{"a":1.8e308}`, 5},
		{`{"a":1e-999999}`, -1},
		{`{"a":"1e999999","b":[0,1e+0400]}`, 23},
		{`{"a":` + strings.Repeat("9", 400) + `}`, 5},
		{`{"a":-0.5e99}`, -1},
	}
	for _, tt := range tests {
		if got := cleanjson.Overflow([]byte(tt.in)); got != tt.want {
			t.Errorf("Overflow(%.40q): got %d, want %d", tt.in, got, tt.want)
		}
	}
}
